"""The fallback construction: when the search finds nothing, a legal plan is still written."""

from __future__ import annotations

from pathlib import Path

import pytest

from pts_optimiser.check.checker import check_plan
from pts_optimiser.domain.config import load_config
from pts_optimiser.engine import strategies as strategies_module
from pts_optimiser.engine.solve import SolveOptions, solve
from pts_optimiser.io.generate import write_day
from pts_optimiser.io.parse import Inputs, read_problem
from pts_optimiser.services.publish import write_plan


def _no_solution(*args: object, **kwargs: object) -> None:
    return None


@pytest.mark.parametrize("seed", [2, 9])
def test_fallback_plan_is_legal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                seed: int) -> None:
    """With the search finding nothing, one-at-a-time rosters pass the checker."""
    write_day(tmp_path / "day", seed=seed, journeys=150, vehicles=17)
    problem, _ = read_problem(Inputs(tmp_path / "day" / "bookings.csv",
                                     tmp_path / "day" / "fleet.csv"), load_config())
    monkeypatch.setattr(strategies_module, "solve_routing", _no_solution)
    # In this process: a spawned search (the portfolio's, beside pytest-xdist's threads)
    # would not see the patch.
    plan = solve(problem, SolveOptions(time_limit_s=5, strategy="one-core"))
    assert plan.search["status"] == "fallback: one at a time"
    assert len(plan.planned) > 50
    assert len(plan.planned) + len(plan.unassigned) == 150
    write_plan(plan, tmp_path / "plan")
    result = check_plan(problem, tmp_path / "plan")
    assert result.ok, result.violations[:5]
    assert {str(u.reason) for u in plan.unassigned} <= {
        "no_plan_found", "no_shift_covers_window", "no_compatible_vehicle",
        "window_shorter_than_trip", "beyond_ev_range", "return_not_plannable"}


def test_fallback_lets_a_patient_wait_aboard_for_the_drop_off_window(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pickup by 10:05, set down from 10:20, a 5 min trip: planned one at a time too.

    Until the thirty-seventh stop the fallback waited only before the pickup, so this
    journey, which the search plans and diagnosis calls plannable, was left out.
    """
    from tests.helpers import booking, solve_and_check, vehicle

    monkeypatch.setattr(strategies_module, "solve_routing", _no_solution)
    windows = {"appointment_time": "", "earliest_pickup": "09:55", "latest_pickup": "10:05",
               "earliest_dropoff": "10:20", "latest_dropoff": "10:40"}
    plan, check = solve_and_check(tmp_path, [booking("J1", **windows)],
                                  [vehicle("CAR1", shift_start="07:00")], seconds=2,
                                  strategy="one-core")
    assert plan.search["status"] == "fallback: one at a time"
    assert check.ok, check.violations
    assert [j.journey_id for j in plan.planned] == ["J1"]
    pickup, dropoff = [s for s in plan.rosters[0].stops if s.journey is not None]
    assert pickup.service_start_min == 10 * 60 + 5  # as late as the pickup window allows
    assert dropoff.arrival_min < dropoff.service_start_min == 10 * 60 + 20  # waits aboard
