"""The solver: plans pass the independent checker, especially where a rule is tempting to break."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from pts_optimiser.check.checker import check_plan
from pts_optimiser.cli import main
from pts_optimiser.domain.config import load_config
from pts_optimiser.domain.exits import ExitCode
from pts_optimiser.engine import processes as processes_module
from pts_optimiser.engine import solve as solve_module
from pts_optimiser.engine import strategies as strategies_module
from pts_optimiser.engine.model import (
    LOADS,
    RoutingInput,
    RoutingOutcome,
    RoutingRequest,
    RoutingVehicle,
    SearchSettings,
    Visit,
    solve_routing,
)
from pts_optimiser.engine.recreate import RecreateOutcome
from pts_optimiser.engine.solve import SolveOptions, solve
from pts_optimiser.io import generate
from pts_optimiser.io.parse import read_problem
from pts_optimiser.services.publish import write_plan
from tests.helpers import (
    ROOT,
    SerialPool,
    booking,
    line_day,
    load,
    reason_of,
    solve_and_check,
    vehicle,
    vehicle_of,
    write_day,
)


def test_shared_ride_is_planned(tmp_path: Path) -> None:
    """Two neighbours to the same clinic ride together on one car, legally."""
    plan, check = solve_and_check(tmp_path, [booking("J1"), booking("J2", pickup_lat=52.931)],
                                  [vehicle("CAR1")])
    assert check.ok, check.violations
    assert vehicle_of(plan, "J1") == vehicle_of(plan, "J2") == "CAR1"


def test_stretcher_needs_two_crew(tmp_path: Path) -> None:
    """A stretcher patient next to a one-crew car is carried by the distant two-crew ambulance."""
    fleet = [vehicle("CAR1", seats=2, stretchers=1),
             vehicle("AMB1", base_site="ST-CHESTERFIELD", vehicle_type="stretcher", crew=2,
                     stretchers=1, shift_start="07:00")]
    plan, check = solve_and_check(tmp_path, [booking("J1", mobility="stretcher")], fleet)
    assert check.ok, check.violations
    assert vehicle_of(plan, "J1") == "AMB1"


def test_two_crew_need(tmp_path: Path) -> None:
    """A seated `two_crew` patient never goes on a one-crew vehicle."""
    fleet = [vehicle("CAR1"), vehicle("VAN2", crew=2, base_site="ST-BELPER")]
    plan, check = solve_and_check(tmp_path, [booking("J1", needs="two_crew")], fleet)
    assert check.ok, check.violations
    assert vehicle_of(plan, "J1") == "VAN2"


def test_oxygen_skill(tmp_path: Path) -> None:
    """An oxygen patient goes only on a vehicle equipped for oxygen."""
    fleet = [vehicle("CAR1"), vehicle("CAR2", skills="oxygen", base_site="ST-RIPLEY")]
    plan, check = solve_and_check(tmp_path, [booking("J1", needs="oxygen")], fleet)
    assert check.ok, check.violations
    assert vehicle_of(plan, "J1") == "CAR2"


def test_break_not_taken_with_patient_on_board(tmp_path: Path) -> None:
    """A long shift's break falls between journeys even when a ride spans the break window."""
    bookings = [booking("J1", pickup_site="CRH", pickup_lat="", pickup_lon="",
                        dropoff_site="RDH", appointment_time="", ready_time="10:00",
                        purpose="discharge"),
                booking("J2", appointment_time="13:00")]
    fleet = [vehicle("CAR1", shift_start="08:00", shift_end="16:30", base_site="ST-CHESTERFIELD")]
    plan, check = solve_and_check(tmp_path, bookings, fleet)
    assert check.ok, check.violations
    roster = plan.rosters[0]
    assert any(s.event == "break" for s in roster.stops)


def test_travel_alone_is_not_shared(tmp_path: Path) -> None:
    """A travel_alone patient rides alone even when a neighbour goes the same way."""
    bookings = [booking("J1", needs="travel_alone"), booking("J2", pickup_lat=52.931)]
    plan, check = solve_and_check(tmp_path, bookings, [vehicle("CAR1"), vehicle("CAR2")])
    assert check.ok, check.violations
    assert vehicle_of(plan, "J1") is not None and vehicle_of(plan, "J2") is not None


def test_capacity_is_respected(tmp_path: Path) -> None:
    """Four seated patients at once do not fit a three-seat car: a second car is used."""
    bookings = [booking(f"J{i}", pickup_lat=52.93 + i / 1000) for i in range(4)]
    plan, check = solve_and_check(tmp_path, bookings, [vehicle("CAR1"), vehicle("CAR2")])
    assert check.ok, check.violations
    assert len(plan.planned) == 4


def test_maximum_ride_time_limits_sharing(tmp_path: Path) -> None:
    """A detour that would keep a dialysis patient on board too long is not taken."""
    bookings = [booking("J1", purpose="dialysis", dropoff_site="RDH-RENAL", max_ride_min=20),
                booking("J2", pickup_lat=52.98, pickup_lon=-1.60, dropoff_site="RDH")]
    plan, check = solve_and_check(tmp_path, bookings, [vehicle("CAR1"), vehicle("CAR2")])
    assert check.ok, check.violations
    assert len(plan.planned) == 2


def test_electric_range_is_respected(tmp_path: Path) -> None:
    """An electric car with little range does not take a long trip; a diesel car does."""
    bookings = [booking("J1", pickup_site="ST-GLOSSOP", pickup_lat="", pickup_lon="",
                        dropoff_site="RDH", appointment_time="12:00", max_ride_min=200)]
    fleet = [vehicle("EV1", fuel="electric", range_km=100, shift_start="06:00"),
             vehicle("CAR2", base_site="ST-BUXTON")]
    plan, check = solve_and_check(tmp_path, bookings, fleet)
    assert check.ok, check.violations
    assert vehicle_of(plan, "J1") == "CAR2"


def test_charging_during_the_shift_lifts_the_range(tmp_path: Path) -> None:
    """With [electric] charging_during_shift the EV takes the long trip; the checker agrees."""
    bookings = [booking("J1", pickup_site="ST-GLOSSOP", pickup_lat="", pickup_lon="",
                        dropoff_site="RDH", appointment_time="12:00", max_ride_min=200)]
    fleet = [vehicle("EV1", fuel="electric", range_km=100, shift_start="06:00")]
    policy = tmp_path / "policy.toml"
    policy.write_text("[electric]\ncharging_during_shift = true\n")
    problem, _ = read_problem(write_day(tmp_path / "day", bookings, fleet), load_config(policy))
    plan = solve(problem, SolveOptions(time_limit_s=3))
    assert vehicle_of(plan, "J1") == "EV1"
    write_plan(plan, tmp_path / "plan")
    assert check_plan(problem, tmp_path / "plan").ok
    assert max(r.distance_m for r in plan.rosters) > 100_000
    strict = replace(problem, config=load_config())
    assert "range" in {v.rule for v in check_plan(strict, tmp_path / "plan").violations}


@pytest.mark.parametrize(("name", "bookings", "fleet", "reason"), [
    ("no compatible vehicle", [booking("J1", mobility="stretcher")], [vehicle("CAR1")],
     "no_compatible_vehicle"),
    ("window shorter than the trip",
     [booking("J1", appointment_time="", earliest_pickup="09:00", latest_pickup="09:10",
              earliest_dropoff="09:00", latest_dropoff="09:05")],
     [vehicle("CAR1")], "window_shorter_than_trip"),
    ("no shift covers the window",
     [booking("J1", appointment_time="18:30")], [vehicle("CAR1")], "no_shift_covers_window"),
    ("beyond electric range",
     [booking("J1", pickup_site="ST-GLOSSOP", pickup_lat="", pickup_lon="",
              appointment_time="12:00", max_ride_min=200)],
     [vehicle("EV1", fuel="electric", range_km=100, shift_start="06:00")], "beyond_ev_range"),
])
def test_pre_solve_reasons(tmp_path: Path, name: str, bookings: list[dict[str, object]],
                           fleet: list[dict[str, object]], reason: str) -> None:
    """A journey impossible on its own is listed with the reason before any search."""
    plan, check = solve_and_check(tmp_path, bookings, fleet)
    assert check.ok, check.violations
    assert reason_of(plan, "J1") == reason, name


def test_no_capacity_reason(tmp_path: Path) -> None:
    """When vehicles run out, the left-over journey says which vehicles were busy when."""
    bookings = [booking(f"J{i}", purpose="discharge", pickup_site="RDH", pickup_lat="",
                        pickup_lon="", dropoff_site="", dropoff_lat=53.24 + i / 100,
                        dropoff_lon=-1.42, appointment_time="", ready_time="10:00")
                for i in range(3)]
    plan, check = solve_and_check(tmp_path, bookings, [vehicle("CAR1", seats=1)])
    assert check.ok, check.violations
    left = [u for u in plan.unassigned if str(u.reason) == "no_capacity"]
    assert left and "shift(s) that could carry" in left[0].detail


def _morning(count: int) -> list[dict[str, object]]:
    """Outpatients spread north of Derby, appointments through the morning."""
    return [booking(f"J{i}", pickup_lat=52.90 + i / 300, appointment_time=f"{9 + i % 4:02d}:30")
            for i in range(count)]


def test_portfolio_plan_is_legal(tmp_path: Path) -> None:
    """Two searches side by side: the plan kept passes the checker and loses no journey."""
    fleet = [vehicle("CAR1"), vehicle("CAR2", base_site="ST-RIPLEY")]
    plan, check = solve_and_check(tmp_path, _morning(10), fleet, seconds=3,
                                  strategy="portfolio")
    assert check.ok, check.violations
    assert len(plan.planned) + len(plan.unassigned) == 10
    assert len(plan.planned) >= 8


def _dies_if(metaheuristic: str, data: RoutingInput, settings: SearchSettings,
             _seed: int, *_start: object) -> RoutingOutcome | None:
    if settings.metaheuristic == metaheuristic:
        os._exit(1)  # as a killed or out-of-memory child would
    return solve_routing(data, settings)


def _construction_first(data: RoutingInput, settings: SearchSettings,
                        **warm: object) -> RoutingOutcome | None:
    """OR-Tools stops at its first plan, so ruin and recreate has all the work to do."""
    if "initial_routes" not in warm:
        settings = replace(settings, solution_limit=1)
    return solve_routing(data, settings, **warm)  # type: ignore[arg-type]


def _construction_without_breaks(data: RoutingInput, settings: SearchSettings,
                                 **warm: object) -> RoutingOutcome | None:
    """As if OR-Tools ran out of time before it placed the crews' breaks."""
    outcome = _construction_first(data, settings, **warm)
    if outcome is None or "initial_routes" in warm:
        return outcome
    routes = tuple(tuple(v for v in route if v.node not in data.break_owner)
                   for route in outcome.routes)
    dropped = sum(map(len, outcome.routes)) - sum(map(len, routes))
    assert dropped > 0, "the construction placed no break to take away"
    return replace(outcome, routes=routes, objective=outcome.objective + dropped * data.break_cost)


@pytest.mark.usefixtures("forked_searches")
@pytest.mark.parametrize("first_plan", [_construction_first, _construction_without_breaks])
def test_ruin_and_recreate_keeps_every_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            first_plan: object) -> None:
    """From a bare construction, ruin and recreate's plan passes the checker, breaks included."""
    monkeypatch.setattr(strategies_module, "solve_routing", first_plan)
    bookings = _morning(14) + [booking(f"W{i}", mobility="wheelchair", pickup_lat=52.95,
                                       appointment_time=f"{10 + i}:00") for i in range(3)]
    fleet = [vehicle("CAR1", shift_end="16:30"),
             vehicle("EV1", fuel="electric", range_km=60, base_site="ST-RIPLEY",
                     shift_end="16:30"),
             vehicle("VAN1", vehicle_type="wheelchair_van", seats=4, wheelchair_spaces=1,
                     shift_end="16:30")]
    plan, check = solve_and_check(tmp_path, bookings, fleet, seconds=8, strategy="portfolio")
    assert check.ok, check.violations
    assert "then ruin and recreate" in str(plan.search["status"])
    assert len(plan.planned) + len(plan.unassigned) == 17
    assert len(plan.planned) >= 14
    assert all(any(s.event == "break" for s in r.stops) for r in plan.rosters if r.stops)


def test_one_core_is_one_search_then_ruin_and_recreate(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """`one-core`: the usual search alone, in this process (a Dask worker may not fork).

    From OR-Tools' first plan, ruin and recreate does the work; the checker judges it.
    """
    monkeypatch.setattr(strategies_module, "solve_routing", _construction_first)
    monkeypatch.setattr(strategies_module, "search_pools", None)  # no child may be started
    bookings = _morning(14)
    fleet = [vehicle("CAR1", shift_end="16:30"),
             vehicle("CAR2", base_site="ST-RIPLEY", shift_end="16:30")]
    plan, check = solve_and_check(tmp_path, bookings, fleet, seconds=6, strategy="one-core")
    assert check.ok, check.violations
    assert str(plan.search["status"]).startswith("one search: guided local search (")
    assert "then ruin and recreate" in str(plan.search["status"])
    assert len(plan.planned) + len(plan.unassigned) == 14
    assert len(plan.planned) >= 12


@pytest.mark.usefixtures("forked_searches")
def test_a_failed_portfolio_search_leaves_the_other(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """If one search's process dies, the other's plan is written, legal and whole."""
    monkeypatch.setattr(strategies_module, "_search",
                        partial(_dies_if, strategies_module.PORTFOLIO_SECOND_METAHEURISTIC))
    fleet = [vehicle("CAR1"), vehicle("CAR2", base_site="ST-RIPLEY")]
    plan, check = solve_and_check(tmp_path, _morning(10), fleet, seconds=3,
                                  strategy="portfolio")
    assert check.ok, check.violations
    assert len(plan.planned) >= 8
    assert str(plan.search["status"]).startswith("portfolio: guided local search kept")
    assert str(plan.search["status"]).endswith("; the tabu search's process failed")


@pytest.mark.usefixtures("forked_searches")
def test_second_search_alone_keeps_every_rule(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Tabu search over pair moves only plans long shifts legally, breaks included."""
    monkeypatch.setattr(strategies_module, "_search", partial(_dies_if, "GUIDED_LOCAL_SEARCH"))
    fleet = [vehicle("CAR1", shift_end="16:30"),
             vehicle("CAR2", base_site="ST-RIPLEY", shift_end="16:30")]
    plan, check = solve_and_check(tmp_path, _morning(10), fleet, seconds=3,
                                  strategy="portfolio")
    assert check.ok, check.violations
    assert str(plan.search["status"]).startswith("portfolio: tabu search kept")
    assert len(plan.planned) >= 8
    assert all(any(s.event == "break" for s in r.stops) for r in plan.rosters)


def test_portfolio_keeps_the_plan_serving_more() -> None:
    """Serving more beats a lower cost: a cheap plan that leaves a journey out loses."""
    data = RoutingInput(np.zeros((4, 4), dtype=np.int64), np.zeros((4, 4), dtype=np.int64),
                        [0] * 4, [(0, 1440)] * 4, {name: [0, 0, 1, -1] for name in LOADS},
                        [RoutingVehicle(0, 1, 0, 1440, dict.fromkeys(LOADS, 1), None, 1)],
                        [RoutingRequest(2, 3, 60, 0, (0,))], {})
    empty = RoutingOutcome(((Visit(0, 0), Visit(1, 0)),), 0, "success", 1.0, 5)
    full = RoutingOutcome(((Visit(0, 0), Visit(2, 0), Visit(3, 9), Visit(1, 9)),), 90,
                          "success", 1.0, 7)
    outcomes = iter([empty, full])
    with pytest.MonkeyPatch.context() as patch:
        # Serial stand-ins for the two processes: the choice, not the forking, is tested.
        patch.setattr(processes_module, "ProcessPoolExecutor", SerialPool)
        patch.setattr(strategies_module, "_search", lambda *_: next(outcomes))
        kept = strategies_module.portfolio(data, SearchSettings(5.0), None)
    assert kept is not None
    assert [v.node for v in kept.routes[0]] == [0, 2, 3, 1]
    assert kept.status == "portfolio: tabu search kept (success)"
    assert kept.solutions == 12


def _two_journeys() -> RoutingInput:
    """One vehicle, two journeys on a line: 0/1 the base, 2->3 and 4->5."""
    return line_day([0, 0, 10, 20, 15, 25], [(2, 3, 100), (4, 5, 100)])


def test_both_searches_start_from_a_sketch(monkeypatch: pytest.MonkeyPatch) -> None:
    """A sketch (a week's day) is improved by both searches, each with its own seed.

    A day without one is built by OR-Tools in both (two journeys: quick to construct).
    """
    asked: list[tuple[int, bool, str]] = []

    def recorded(data: RoutingInput, settings: SearchSettings, seed: int,
                 start: object = None, construct: bool = True,
                 start_name: str = "") -> RoutingOutcome:
        asked.append((seed, construct, start_name))
        return RoutingOutcome(((Visit(0, 0), Visit(1, 0)),), 0,
                              f"{start_name}, then ruin and recreate", 1.0)

    monkeypatch.setattr(processes_module, "ProcessPoolExecutor", SerialPool)
    monkeypatch.setattr(strategies_module, "_search", recorded)
    data, start = _two_journeys(), [[2, 3, 4, 5]]
    strategies_module.portfolio(data, SearchSettings(5.0), None, seed=3, start=start,
                                from_start=True)
    assert asked == [(6, False, strategies_module.SKETCH), (7, False, strategies_module.SKETCH)]
    asked.clear()
    strategies_module.portfolio(data, SearchSettings(5.0), None, seed=3, start=start)
    assert [construct for _, construct, _ in asked] == [True, True]


def test_the_plan_not_kept_tells_of_its_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    """The status of a day names a refusal or a second timing in the search not kept too."""
    statuses = {6: f"{strategies_module.SKETCH}, then ruin and recreate",
                7: (f"{strategies_module.SKETCH}, then ruin and recreate; "
                    "timed at the second try")}
    routes = {6: ((Visit(0, 0), Visit(2, 10), Visit(3, 20), Visit(4, 30), Visit(5, 40),
                   Visit(1, 50)),),
              7: ((Visit(0, 0), Visit(2, 10), Visit(3, 20), Visit(1, 30)),)}

    def searched(data: RoutingInput, settings: SearchSettings, seed: int,
                 *_: object) -> RoutingOutcome:
        return RoutingOutcome(routes[seed], 100, statuses[seed], 1.0)

    monkeypatch.setattr(processes_module, "ProcessPoolExecutor", SerialPool)
    monkeypatch.setattr(strategies_module, "_search", searched)
    kept = strategies_module.portfolio(_two_journeys(), SearchSettings(5.0), None, seed=3,
                                       start=[[2, 3, 4, 5]], from_start=True)
    assert kept is not None and kept.routes == routes[6]
    assert kept.status.endswith("; the tabu search's plan: timed at the second try")
    refused = f"{strategies_module.SKETCH}: {strategies_module.REFUSED} (3 timings)"
    statuses[7] = f"guided local search; {refused}"
    kept = strategies_module.portfolio(_two_journeys(), SearchSettings(5.0), None, seed=3,
                                       start=[[2, 3, 4, 5]], from_start=True)
    assert kept is not None and kept.status.endswith(f"; the tabu search's plan: {refused}")


def test_a_start_that_cannot_be_repaired_leaves_the_usual_search_the_time(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A sketch ruin and recreate cannot repair: the day is built as a day alone is.

    OR-Tools builds it and ruin and recreate improves that plan with the time left; the
    status says so.
    """
    asked: list[str] = []

    def recreated(data: RoutingInput, first: RoutingOutcome | None, seconds: float, seed: int,
                  start: object = None, **_: object) -> RoutingOutcome | None:
        asked.append("sketch" if start is not None else "OR-Tools' plan")
        return None if start is not None else first

    monkeypatch.setattr(strategies_module, "_recreated", recreated)
    outcome = strategies_module._search(_two_journeys(), SearchSettings(5.0), seed=0,
                                        start=[[2, 3, 4, 5]], construct=False,
                                        start_name=strategies_module.SKETCH)
    assert outcome is not None and outcome.objective == 50
    assert asked == ["sketch", "OR-Tools' plan"]
    assert outcome.status.endswith(f"; {strategies_module.SKETCH} could not be repaired")


def test_a_sketch_whose_plan_the_model_refuses_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """A repaired sketch the model refused is not called one that could not be repaired."""
    def recreated(data: RoutingInput, first: RoutingOutcome | None, seconds: float, seed: int,
                  start: object = None, why: list[str] | None = None, **_: object
                  ) -> RoutingOutcome | None:
        if start is None:
            return first
        assert why is not None
        why.append("ruin and recreate's plan refused by the model (2 timings)")
        return None

    monkeypatch.setattr(strategies_module, "_recreated", recreated)
    outcome = strategies_module._search(_two_journeys(), SearchSettings(5.0), seed=0,
                                        start=[[2, 3, 4, 5]], construct=False,
                                        start_name=strategies_module.SKETCH)
    assert outcome is not None and outcome.status.endswith(
        f"; {strategies_module.SKETCH}: ruin and recreate's plan refused by the model (2 timings)")


def test_a_recreated_plan_the_model_refuses_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ruin and recreate's routes must pass the OR-Tools model; a drop-off first does not."""
    data = _two_journeys()
    first = solve_routing(data, SearchSettings(1.0))
    assert first is not None
    broken = RecreateOutcome(((3, 2, 5, 4),), 1, first.objective, 1, 1)
    monkeypatch.setattr(strategies_module, "recreate", lambda *_, **__: broken)
    why: list[str] = []
    kept = strategies_module._recreated(data, first, 5.0, seed=0, why=why)
    assert kept is not None and kept.routes == first.routes
    refused = "ruin and recreate's plan refused by the model (3 timings)"
    assert kept.status == f"{first.status}; {refused}" and why == [refused]


def test_a_refusal_the_next_timing_overturns_keeps_the_plan(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A timing refused with time left is tried again; the plan is kept, the status says so.

    A week's day once lost both searches' plans to refusals that the same routes never met
    again in a fresh process (docs/week.md).
    """
    repaired = RecreateOutcome(((2, 3, 4, 5),), 1, 2, 1, 1)
    timings: list[bool] = []

    def once_refused(data: RoutingInput, settings: SearchSettings,
                     initial_routes: Sequence[Sequence[int]] | None = None, warm_only: bool = False
                     ) -> RoutingOutcome | None:
        timings.append(warm_only)
        if len(timings) == 1:
            return None
        return solve_routing(data, settings, initial_routes=initial_routes, warm_only=warm_only)

    monkeypatch.setattr(strategies_module, "recreate", lambda *_, **__: repaired)
    monkeypatch.setattr(strategies_module, "solve_routing", once_refused)
    kept = strategies_module._recreated(_two_journeys(), None, 5.0, seed=0, start=[[4, 5]],
                                        start_name=strategies_module.SKETCH)
    assert timings == [True, True]
    assert kept is not None and [[v.node for v in r[1:-1]] for r in kept.routes] == [[2, 3, 4, 5]]
    assert kept.status == (f"{strategies_module.SKETCH}, then ruin and recreate; "
                           "timed at the second try")


def test_the_share_ends_no_sooner_than_the_first_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    """OR-Tools may use half of a search's time for its first plan, and stops at its share.

    Its share: a thirtieth of the time (2 s of 60) once it has a plan.
    """
    seen: list[SearchSettings] = []

    def recorded(data: RoutingInput, settings: SearchSettings,
                 **_: object) -> RoutingOutcome | None:
        seen.append(settings)
        return solve_routing(data, settings)

    monkeypatch.setattr(strategies_module, "solve_routing", recorded)
    monkeypatch.setattr(strategies_module, "_recreated", lambda data, first, *_, **__: first)
    outcome = strategies_module._search(_two_journeys(), SearchSettings(60.0), seed=0)
    assert outcome is not None and outcome.objective == 50
    assert seen[0].time_limit_s == 30.0 and seen[0].stop_after_s == pytest.approx(2.0)


def test_a_day_too_big_to_construct_gets_all_the_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """If OR-Tools has no plan at all by half the time, it searches again with the rest."""
    limits: list[float] = []

    def slow(data: RoutingInput, settings: SearchSettings, **_: object) -> RoutingOutcome | None:
        limits.append(settings.time_limit_s)
        return None if len(limits) == 1 else solve_routing(data, settings)

    monkeypatch.setattr(strategies_module, "solve_routing", slow)
    outcome = strategies_module._search(_two_journeys(), SearchSettings(3.0), seed=0)
    assert outcome is not None and outcome.objective == 50
    assert limits[0] == pytest.approx(1.5) and limits[1] > 1.0


def test_a_search_told_to_stop_keeps_its_first_plan() -> None:
    """Told to stop at once, the search still returns its first plan, well before its limit."""
    outcome = solve_routing(_two_journeys(), SearchSettings(20.0, stop_after_s=0.0))
    assert outcome is not None and outcome.objective == 50
    assert outcome.seconds < 10.0


def _long_shifts() -> list[dict[str, object]]:
    """Two long shifts (each owes its crew a break) and a wheelchair van."""
    return [vehicle("CAR1", shift_end="16:30"),
            vehicle("CAR2", base_site="ST-RIPLEY", shift_end="16:30"),
            vehicle("VAN1", vehicle_type="wheelchair_van", seats=4, wheelchair_spaces=1,
                    shift_end="16:30")]


def _nothing_planned(data: RoutingInput, *_: object, **__: object) -> RoutingOutcome:
    """What a construction cut off by its time limit gave: every route empty."""
    routes = tuple((Visit(v.start_node, v.shift_start_min), Visit(v.end_node, v.shift_start_min))
                   for v in data.vehicles)
    return RoutingOutcome(routes, 10**9, "partial_success", 1.0)


def test_a_search_with_an_empty_plan_leaves_the_fallback(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A search that ends with every route empty is not the plan: one at a time is, legally."""
    monkeypatch.setattr(solve_module, "portfolio", _nothing_planned)
    plan, check = solve_and_check(tmp_path, _morning(10), _long_shifts(), seconds=3)
    assert check.ok, check.violations
    assert plan.search["status"] == "fallback: one at a time, kept over the search's plan of 0"
    assert len(plan.planned) == plan.search["fallback_served"]
    assert len(plan.planned) >= 6
    assert all(str(u.reason) == "no_plan_found" for u in plan.unassigned)


def _no_construction(data: RoutingInput, settings: SearchSettings,
                     **given: object) -> RoutingOutcome | None:
    """OR-Tools builds nothing in time; it still times routes handed to it."""
    if "initial_routes" not in given:
        return None
    return solve_routing(data, settings, **given)  # type: ignore[arg-type]


@pytest.mark.usefixtures("forked_searches")
def test_ruin_and_recreate_starts_from_the_fallback(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """No OR-Tools plan in time: ruin and recreate improves one at a time's, legally."""
    monkeypatch.setattr(strategies_module, "solve_routing", _no_construction)
    bookings = _morning(14) + [booking(f"W{i}", mobility="wheelchair", pickup_lat=52.95,
                                       appointment_time=f"{10 + i}:00") for i in range(3)]
    plan, check = solve_and_check(tmp_path, bookings, _long_shifts(), seconds=6)
    assert check.ok, check.violations
    assert "one at a time, then ruin and recreate" in str(plan.search["status"])
    assert len(plan.planned) >= int(str(plan.search["fallback_served"]))
    assert len(plan.planned) + len(plan.unassigned) == 17
    assert all(any(s.event == "break" for s in r.stops) for r in plan.rosters if r.used)


def _searches_forever(*_: object) -> RoutingOutcome | None:
    time.sleep(600)
    return None


@pytest.mark.usefixtures("forked_searches")
def test_a_search_past_its_limit_is_ended(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A search that overruns is ended soon after the limit; the fallback plan is written."""
    monkeypatch.setattr(strategies_module, "_search", _searches_forever)
    began = time.monotonic()
    plan, check = solve_and_check(tmp_path, _morning(10), _long_shifts(), seconds=2)
    assert time.monotonic() - began < 2 + processes_module.OVERRUN_S + 3
    assert check.ok, check.violations
    assert str(plan.search["status"]).startswith("fallback: one at a time")
    assert len(plan.planned) >= 6
    assert not multiprocessing.active_children()


def test_planned_share_and_alert(tmp_path: Path) -> None:
    """The share counts servable journeys only, from a plan or its summary, against policy."""
    problem = load(tmp_path, _morning(4), [vehicle("CAR1")])
    plan, _ = solve_and_check(tmp_path, _morning(4), [vehicle("CAR1")], seconds=2)
    assert solve_module.planned_share(plan) == 1.0 and not solve_module.below_alert(plan)
    half = replace(plan, rosters=(), search={**plan.search, "servable": 8})
    assert solve_module.below_alert(half)
    figures = {"served": 7, "servable": 8, "search": {"servable": 8, "carried": 0}}
    assert solve_module.planned_share(figures) == pytest.approx(7 / 8)
    assert not solve_module.below_alert(figures, problem.config)  # 87.5% >= 85%
    figures["served"] = 6
    assert solve_module.below_alert(figures, problem.config)
    assert solve_module.planned_share({"served": 0, "servable": 0}) == 1.0


def test_solve_exits_5_below_the_alert_share(tmp_path: Path) -> None:
    """`pts solve` writes a plan serving too few and exits LOW_SERVICE with a line on stderr."""
    # One 3-seat car, twelve patients wanted at the same clinic at the same time.
    bookings = [booking(f"J{i}", pickup_lat=52.90 + i / 100, pickup_lon=-1.49 - i / 100)
                for i in range(12)]
    inputs = write_day(tmp_path / "day", bookings, [vehicle("CAR1")])
    result = CliRunner().invoke(main, [
        "solve", "--bookings", str(inputs.bookings), "--fleet", str(inputs.fleet),
        "--out", str(tmp_path / "plan"), "--maps", str(tmp_path / "maps"),
        "--time-limit", "6"])
    assert result.exit_code == ExitCode.LOW_SERVICE, result.output
    assert "alert: the plan carries" in result.stderr
    assert "below the policy's 85%" in result.stderr
    assert (tmp_path / "plan" / "rosters.csv").is_file()
    problem = load(tmp_path / "again", bookings, [vehicle("CAR1")])
    assert check_plan(problem, tmp_path / "plan").ok


def _descendants(pid: int) -> set[int]:
    """Live processes descended from `pid`, read from /proc (zombies count as ended)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            state, ppid = stat.rsplit(")", 1)[1].split()[:2]
            if state != "Z":
                parents[int(entry.name)] = int(ppid)
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_search_processes_end_with_a_killed_solve(tmp_path: Path) -> None:
    """A kill -9 of `pts solve` while it searches leaves none of its search processes behind."""
    generate.write_day(tmp_path / "day", seed=3, journeys=60, vehicles=8)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    solving = subprocess.Popen(
        [sys.executable, "-m", "pts_optimiser", "solve",
         "--bookings", str(tmp_path / "day" / "bookings.csv"),
         "--fleet", str(tmp_path / "day" / "fleet.csv"), "--out", str(tmp_path / "plan"),
         "--maps", str(tmp_path / "maps"), "--time-limit", "120"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        waited = time.monotonic()
        while len(children := _descendants(solving.pid)) < 2:
            assert solving.poll() is None and time.monotonic() - waited < 30, "no searches"
            time.sleep(0.1)
    finally:
        solving.kill()
        solving.wait()
    killed = time.monotonic()
    while (left := {pid for pid in children if _alive(pid)}) and time.monotonic() - killed < 5:
        time.sleep(0.1)
    assert not left, f"search processes outlived their parent: {left}"


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_search_process_whose_parent_died_first_ends() -> None:
    """The race: a search process that finds its parent gone as it starts exits at once."""
    fork = multiprocessing.get_context("fork")
    orphan = fork.Process(target=processes_module.end_with, args=(1,))  # not its parent
    orphan.start()
    orphan.join(10)
    assert orphan.exitcode == 1
    child = fork.Process(target=processes_module.end_with, args=(os.getpid(),))
    child.start()
    child.join(10)
    assert child.exitcode == 0


def test_beside_other_threads_searches_are_spawned_not_forked(tmp_path: Path) -> None:
    """In a process running other threads (a server), the searches start afresh and plan."""
    stop = threading.Event()
    server = threading.Thread(target=stop.wait, daemon=True)
    server.start()
    try:
        assert processes_module.start_method() == "spawn"
        fleet = [vehicle("CAR1"), vehicle("CAR2", base_site="ST-RIPLEY")]
        plan, check = solve_and_check(tmp_path, _morning(6), fleet, seconds=6,
                                      strategy="portfolio")
    finally:
        stop.set()
        server.join()
    assert check.ok, check.violations
    assert str(plan.search["status"]).startswith("portfolio:")
    assert len(plan.planned) == 6
