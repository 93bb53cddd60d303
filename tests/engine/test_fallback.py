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
