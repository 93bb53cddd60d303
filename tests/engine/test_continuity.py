"""Continuity of care as costs: a regular's usual vehicle and usual pickup time.

The model and ruin and recreate price them alike; neither ever gives up a journey for them.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from pts_optimiser.domain.commitments import Commitments, Preference
from pts_optimiser.domain.problem import Problem
from pts_optimiser.engine import recreate as recreate_module
from pts_optimiser.engine.encode import encode
from pts_optimiser.engine.model import (
    RoutingInput,
    RoutingOutcome,
    SearchSettings,
    Visit,
    solve_routing,
)
from pts_optimiser.engine.recreate import RecreateSettings, _choose, _Day, _Search, recreate
from pts_optimiser.engine.strategies import SKETCH, carried_whole, kept_plan
from tests.helpers import assert_priced_as_the_model, booking, line_day, load, vehicle


def _vehicle_of(outcome_routes: tuple[tuple[Visit, ...], ...], node: int) -> int:
    return next(v for v, route in enumerate(outcome_routes) for visit in route
                if visit.node == node)


def _start_of(outcome_routes: tuple[tuple[Visit, ...], ...], node: int) -> int:
    return next(visit.start_min for route in outcome_routes for visit in route
                if visit.node == node)


def _two_cars() -> RoutingInput:
    """Two identical cars, one journey from 10 to 20; a minute on shift costs 1."""
    return replace(line_day([0, 0, 10, 20], [(2, 3, 100)], vehicles=2), span_cost_per_min=1)


def test_a_journey_goes_on_its_usual_vehicle() -> None:
    """Each car in turn as the usual one: the journey rides on it, at no extra cost."""
    for usual in (0, 1):
        data = replace(_two_cars(), usual_vehicle={0: (usual, 1000)})
        outcome = solve_routing(data, SearchSettings(1.0))
        plain = solve_routing(_two_cars(), SearchSettings(1.0))
        assert outcome is not None and plain is not None
        assert _vehicle_of(outcome.routes, 2) == usual
        assert outcome.objective == plain.objective


def test_a_usual_vehicle_is_never_worth_a_journey() -> None:
    """One seat each; two patients at the same time both usually on car 0: both are served."""
    data = line_day([0, 0, 10, 20, 10, 20], [(2, 3, 15), (4, 5, 15)], vehicles=2, seats=1,
                    windows={2: (100, 100), 4: (100, 100)})
    data = replace(data, usual_vehicle={0: (0, 1000), 1: (0, 1000)})
    outcome = solve_routing(data, SearchSettings(1.0))
    assert outcome is not None
    assert {_vehicle_of(outcome.routes, 2), _vehicle_of(outcome.routes, 4)} == {0, 1}
    found = recreate(data, [[v.node for v in r[1:-1]] for r in outcome.routes],
                     RecreateSettings(5.0, max_iterations=50))
    assert found is not None and found.cost == outcome.objective


def test_a_plan_from_the_sketch_is_kept_within_the_allowance() -> None:
    """The sketch's plan serving one journey fewer is kept with an allowance of one, not of 0.

    Without a sketch the plan serving more is kept, and of two serving alike the cheaper.
    With one, the sketch's plan is kept serving as many, even where it costs more: the
    plan built afresh is cheaper by km and standards far more often than it keeps a
    regular's crew (docs/week.md).
    """
    data = line_day([0, 0, 10, 20, 30, 40], [(2, 3, 100), (4, 5, 100)], vehicles=1)
    settings = SearchSettings(1.0)

    def outcome(nodes: list[int], objective: int, status: str) -> RoutingOutcome:
        return RoutingOutcome(((Visit(0, 0), *(Visit(n, 0) for n in nodes), Visit(1, 0)),),
                              objective, status, 1.0)

    afresh = (settings, outcome([2, 3, 4, 5], 900, "GUIDED_LOCAL_SEARCH"))
    sketched = (settings, outcome([2, 3], 500, f"{SKETCH}, then ruin and recreate"))
    assert kept_plan([afresh, sketched], data, 1) == sketched
    assert kept_plan([afresh, sketched], data, 0) == afresh
    assert kept_plan([afresh, sketched], data) == afresh
    cheaper = (settings, outcome([4, 5, 2, 3], 800, "TABU_SEARCH"))
    assert kept_plan([afresh, cheaper], data, 1) == cheaper
    dearer_sketch = (settings, outcome([2, 3, 4, 5], 950, f"{SKETCH}, then ruin and recreate"))
    assert kept_plan([afresh, dearer_sketch], data, 1) == dearer_sketch
    assert kept_plan([afresh, dearer_sketch], data, 0) == dearer_sketch
    assert kept_plan([afresh, dearer_sketch], data) == afresh
    cheaper_sketch = (settings, outcome([2, 3, 4, 5], 850, f"{SKETCH}, then ruin and recreate"))
    assert kept_plan([afresh, cheaper_sketch], data, 1) == cheaper_sketch


def test_a_usual_time_moves_a_pickup_inside_its_window() -> None:
    """Window 100-200; without a usual time the car collects at 100, with one at 150 +- 5."""
    data = line_day([0, 0, 10, 20], [(2, 3, 100)], windows={2: (100, 200)})
    plain = solve_routing(data, SearchSettings(1.0))
    assert plain is not None and _start_of(plain.routes, 2) == 100
    usual = replace(data, soft_earliest={2: (145, 20)}, soft_latest={2: (155, 20)})
    moved = solve_routing(usual, SearchSettings(1.0))
    assert moved is not None and 145 <= _start_of(moved.routes, 2) <= 155
    assert moved.objective == plain.objective


def test_ruin_and_recreate_prices_continuity_as_the_model_does() -> None:
    """Usual vehicles and a soft earliest first stop, time on shift costed: one price."""
    data = line_day([0, 0, 10, 20, 30, 40], [(2, 3, 100), (4, 5, 100)], vehicles=2,
                    windows={2: (100, 200), 4: (300, 300)})
    data = replace(data, span_cost_per_min=1, soft_earliest={2: (170, 7)},
                   soft_latest={4: (290, 3)}, usual_vehicle={0: (1, 500), 1: (0, 800)})
    assert_priced_as_the_model(data)


def test_ruin_and_recreate_waits_at_a_regulars_door_as_the_model_does() -> None:
    """A journey at 100 first, then a regular usually collected at 200 (window 100-300).

    The car is free by 120 and waits at the regular's door: nothing to pay, as in the model.
    Leaving base later cannot get it there at 200 (the first journey is due by 110), so a
    search that only delays the start would charge 7 a minute early.
    """
    data = line_day([0, 0, 10, 20, 30, 40], [(2, 3, 100), (4, 5, 100)],
                    windows={2: (100, 110), 4: (100, 300)})
    data = replace(data, soft_earliest={4: (200, 7)})
    outcome = solve_routing(data, SearchSettings(1.0))
    assert outcome is not None and _start_of(outcome.routes, 4) >= 200
    assert_priced_as_the_model(data)


def test_ruin_and_recreate_moves_a_journey_to_its_usual_vehicle() -> None:
    """Started with the journey on car 0, the search puts it on car 1, its usual one."""
    data = replace(_two_cars(), usual_vehicle={0: (1, 1000)})
    found = recreate(data, [[2, 3], []], RecreateSettings(5.0, max_iterations=200))
    assert found is not None
    assert found.routes == ((), (2, 3))
    assert found.cost < found.start_cost


def test_preferences_reach_the_model(tmp_path: Path) -> None:
    """A preference names a vehicle and a minute: usual vehicle and soft window, by policy."""
    problem = load(tmp_path, [booking("J1", earliest_pickup="08:00", latest_pickup="09:30",
                                      appointment_time="10:00")],
                   [vehicle("V1"), vehicle("V2")])
    policy = problem.config.continuity
    wish = Commitments(prefer={"J1": Preference(("V9", "V2"), 8 * 60 + 30)})
    data = encode(problem, wish).data
    pickup = data.requests[0].pickup_node
    assert data.usual_vehicle == {0: (1, policy.vehicle_change_cost)}
    assert data.soft_earliest[pickup] == (8 * 60 + 30 - policy.pickup_slack_min,
                                          policy.pickup_spread_cost_per_min)
    assert data.soft_latest[pickup][0] == 8 * 60 + 30 + policy.pickup_slack_min
    assert encode(problem, Commitments()).data.usual_vehicle == {}


def test_a_patients_day_asks_for_the_one_crew_that_can_carry_all_of_it(tmp_path: Path) -> None:
    """The crew that brings the patient home is asked to take them out too.

    Out at 12:15, home at 16:30: the morning crew's shift is over by then. A crew not asked
    for by both journeys is never chosen for both.
    """
    out = booking("OUT", patient_id="R1", appointment_time="12:15")
    home = booking("HOME", patient_id="R1", pickup_site="RDH", pickup_lat="", pickup_lon="",
                   dropoff_site="", dropoff_lat=52.93, dropoff_lon=-1.49, appointment_time="",
                   ready_time="16:30")
    problem = load(tmp_path, [out, home],
                   [vehicle("AM", shift_start="06:00", shift_end="15:00"),
                    vehicle("PM", shift_start="10:00", shift_end="19:30"),
                    vehicle("LATE", shift_start="11:00", shift_end="20:30")])
    cost = problem.config.continuity.vehicle_change_cost
    both = Preference(("AM", "PM"), None)
    data = encode(problem, Commitments(prefer={"OUT": both, "HOME": both})).data
    assert data.usual_vehicle == {0: (1, cost), 1: (1, cost)}
    # Each journey its own crew: the morning one takes them out, the evening one home.
    apart = Commitments(prefer={"OUT": Preference(("AM",)), "HOME": Preference(("LATE",))})
    assert encode(problem, apart).data.usual_vehicle == {0: (0, cost), 1: (2, cost)}


def test_a_day_standing_for_several_prices_its_split_as_often(tmp_path: Path) -> None:
    """A regular's day split between crews costs a crew change for each day it stands for.

    A week's anchor day is copied onto the patient's other days: split there, split on each.
    """
    out = booking("OUT", patient_id="R1", appointment_time="09:00")
    home = booking("HOME", patient_id="R1", pickup_site="RDH", pickup_lat="", pickup_lon="",
                   dropoff_site="", dropoff_lat=52.93, dropoff_lon=-1.49, appointment_time="",
                   ready_time="12:00")
    problem = load(tmp_path, [out, home], [vehicle("V1"), vehicle("V2")])
    cost = problem.config.continuity.crew_change_cost
    for copied, priced in ((1, cost), (3, 3 * cost)):
        wish = Preference(("V1",), None, copied_days=copied)
        asked = Commitments(prefer={"OUT": wish, "HOME": wish}, together=[("OUT", "HOME")])
        assert encode(problem, asked).data.together == [((0, 1), priced)]


def test_a_sketch_keeps_only_whole_journeys_a_vehicle_may_carry() -> None:
    """A drop-off before its pickup, or a journey on a vehicle it may not ride, is taken off."""
    data = line_day([0, 0, 10, 20, 30, 40, 50, 60], [(2, 3, 100), (4, 5, 100), (6, 7, 100)],
                    vehicles=2)
    data = replace(data, requests=[*data.requests[:2],
                                   replace(data.requests[2], allowed_vehicles=(1,))])
    assert carried_whole([[3, 2, 4, 6, 5, 7], [6, 7]], data) == [[4, 5], [6, 7]]


def test_a_day_planned_from_a_sketch_is_checked_whole(tmp_path: Path) -> None:
    """A sketch that names another day's journey, with a run the times refuse, still plans.

    Every journey is served, and the independent checker judges the plan.
    """
    from pts_optimiser.check.checker import check_plan
    from pts_optimiser.domain.plan import Event
    from pts_optimiser.domain.problem import Place
    from pts_optimiser.engine.solve import SolveOptions, solve
    from pts_optimiser.services.publish import write_plan

    problem = load(tmp_path, [booking("J1", appointment_time="09:00"),
                              booking("J2", appointment_time="12:00", pickup_lon=-1.45),
                              booking("J3", appointment_time="09:00", pickup_lon=-1.40)],
                   [vehicle("V1", seats=1), vehicle("V2", seats=1)])
    here = Place(52.93, -1.49)
    # J3 before J1 on one seat, both due at 09:00 from places apart: the times refuse it.
    sketch = {"V1": [(Event.PICKUP, "J3", here), (Event.PICKUP, "J1", here),
                     (Event.DROPOFF, "J3", here), (Event.DROPOFF, "J1", here)],
              "V2": [(Event.PICKUP, "GONE", here), (Event.DROPOFF, "GONE", here)]}
    plan = solve(problem, SolveOptions(time_limit_s=4), commitments=Commitments(sketch=sketch))
    assert len(plan.planned) == 3
    write_plan(plan, tmp_path / "plan")
    result = check_plan(problem, tmp_path / "plan")
    assert result.ok, result.violations[:5]


def test_ruin_and_recreate_exchanges_whole_runs_for_usual_vehicles() -> None:
    """Two regulars share a run on car 0 and both usually ride car 1: the runs change cars.

    Moving one alone would split a shared run (dearer in km than one preference); the
    exchange of whole runs gives both their usual car and costs no km.
    """
    data = line_day([0, 0, 10, 20, 11, 21, 30, 40], [(2, 3, 100), (4, 5, 100), (6, 7, 100)],
                    vehicles=2, windows={2: (100, 100), 4: (101, 101), 6: (100, 100)})
    data = replace(data, usual_vehicle={0: (1, 15), 1: (1, 15)})
    found = recreate(data, [[2, 4, 3, 5], [6, 7]], RecreateSettings(5.0, max_iterations=1))
    assert found is not None
    assert found.routes == ((6, 7), (2, 4, 3, 5))
    assert found.cost == found.start_cost - 30


def test_runs_are_not_exchanged_onto_a_vehicle_not_allowed_a_journey() -> None:
    """As above, but the journey on car 1 needs what only car 1 has: no exchange.

    Until the thirty-seventh stop the exchange checked times and loads only: it put an
    oxygen patient on a car without oxygen, and the model refused every plan of the search.
    """
    from pts_optimiser.engine.model import SearchSettings, solve_routing

    data = line_day([0, 0, 10, 20, 11, 21, 30, 40], [(2, 3, 100), (4, 5, 100), (6, 7, 100)],
                    vehicles=2, windows={2: (100, 100), 4: (101, 101), 6: (100, 100)})
    needs_car_1 = replace(data.requests[2], allowed_vehicles=(1,))
    data = replace(data, usual_vehicle={0: (1, 15), 1: (1, 15)},
                   requests=[*data.requests[:2], needs_car_1])
    found = recreate(data, [[2, 4, 3, 5], [6, 7]], RecreateSettings(5.0, max_iterations=1))
    assert found is not None
    assert 6 in found.routes[1]
    assert solve_routing(data, SearchSettings(2.0, solution_limit=1),
                         initial_routes=found.routes, warm_only=True) is not None


def _out_and_back() -> RoutingInput:
    """Out at 100, back at 900: two crews cost less time on shift than one waiting all day."""
    data = line_day([0, 0, 10, 20, 20, 10], [(2, 3, 100), (4, 5, 100)], vehicles=2,
                    windows={2: (100, 100), 4: (900, 900)})
    return replace(data, span_cost_per_min=1)


def test_a_regulars_day_rides_with_one_crew_where_it_is_asked_for() -> None:
    """Two crews are cheaper; each crew more at 2000 makes one crew cheaper, in both searches."""
    apart = _out_and_back()
    together = replace(apart, together=[((0, 1), 2000)])
    for data, crews in ((apart, 2), (together, 1)):
        outcome = solve_routing(data, SearchSettings(2.0))
        assert outcome is not None
        assert len({_vehicle_of(outcome.routes, 2), _vehicle_of(outcome.routes, 4)}) == crews
        # Ruin and recreate from the other plan gets there too.
        start = [[2, 3], [4, 5]] if crews == 1 else [[2, 3, 4, 5], []]
        found = recreate(data, start, RecreateSettings(5.0, max_iterations=200))
        assert found is not None and found.cost < found.start_cost
        assert sum(1 for route in found.routes if route) == crews


def _crew_busy_at_the_return() -> RoutingInput:
    """Out (0) at 100 on vehicle 0, back (1) at 900 on vehicle 1; one seat a vehicle.

    Vehicle 0 is busy at 900 with another patient's journey (2) that vehicle 1 could take
    as cheaply: moving the return alone cannot fit, moving journey 2 alone gains nothing.
    """
    data = line_day([0, 0, 10, 20, 20, 10, 20, 30],
                    [(2, 3, 100), (4, 5, 100), (6, 7, 100)], vehicles=2, seats=1,
                    windows={2: (100, 100), 4: (900, 900), 6: (900, 900)})
    return replace(data, together=[((0, 1), 2000)])


def test_a_ruin_makes_room_on_one_crew_for_a_regulars_day(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The day's journeys and the crew's journeys beside them come off; the day goes first."""
    data = _crew_busy_at_the_return()
    monkeypatch.setattr(recreate_module, "RANDOM_REMOVAL", 0.0)
    monkeypatch.setattr(recreate_module, "ONE_CREW_REMOVAL", 1.0)
    search = _Search(_Day(data), RecreateSettings(5.0, seed=1))
    runs = [search.run_of(0, [2, 3, 6, 7]), search.run_of(1, [4, 5])]
    assert runs[0] is not None and runs[1] is not None
    ruins = [_choose(search, [runs[0], runs[1]], []) for _ in range(40)]
    assert {ruin.onto for ruin in ruins} == {0, 1}
    for ruin in ruins:
        assert ruin.first == (0, 1)  # by pickup: the return still goes in before it
        # Onto the crew that took them out: its journey at the return's time comes off.
        assert ruin.removed == ({0, 1, 2} if ruin.onto == 0 else {0, 1})
    # Nobody asked to ride with one crew: no such ruin.
    plain = _Search(_Day(replace(data, together=[])), RecreateSettings(5.0, seed=1))
    assert all(_choose(plain, [runs[0], runs[1]], []).onto is None for _ in range(40))


def test_a_regulars_day_goes_to_a_crew_that_may_carry_all_of_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither crew of the split day may carry the other journey: a third one that may."""
    data = line_day([0, 0, 10, 20, 20, 10, 20, 30],
                    [(2, 3, 100), (4, 5, 100), (6, 7, 100)], vehicles=3, seats=1,
                    windows={2: (100, 100), 4: (900, 900), 6: (900, 900)})
    requests = [replace(data.requests[0], allowed_vehicles=(0, 2)),
                replace(data.requests[1], allowed_vehicles=(1, 2)), data.requests[2]]
    data = replace(data, requests=requests, together=[((0, 1), 2000)])
    monkeypatch.setattr(recreate_module, "RANDOM_REMOVAL", 0.0)
    monkeypatch.setattr(recreate_module, "ONE_CREW_REMOVAL", 1.0)
    search = _Search(_Day(data), RecreateSettings(5.0, seed=1))
    runs = [run for vehicle, nodes in enumerate(([2, 3, 6, 7], [4, 5], []))
            if (run := search.run_of(vehicle, nodes)) is not None]
    assert len(runs) == 3
    assert {_choose(search, runs, []).onto for _ in range(20)} == {2}
    found = recreate(data, [[2, 3, 6, 7], [4, 5], []],
                     RecreateSettings(5.0, seed=1, max_iterations=1))
    assert found is not None and found.routes[2] == (2, 3, 4, 5)
    # No crew may carry the whole day: no such ruin.
    apart = replace(data, requests=[replace(requests[0], allowed_vehicles=(0,)), *requests[1:]])
    search = _Search(_Day(apart), RecreateSettings(5.0, seed=1))
    assert all(_choose(search, runs, []).onto is None for _ in range(20))


def test_one_ruin_puts_a_regulars_day_on_one_crew(monkeypatch: pytest.MonkeyPatch) -> None:
    """From two crews, one step of ruin and recreate: one crew, as cheap in km, legal."""
    data = _crew_busy_at_the_return()
    monkeypatch.setattr(recreate_module, "RANDOM_REMOVAL", 0.0)
    monkeypatch.setattr(recreate_module, "ONE_CREW_REMOVAL", 1.0)
    for seed in range(6):
        found = recreate(data, [[2, 3, 6, 7], [4, 5]],
                         RecreateSettings(5.0, seed=seed, max_iterations=1))
        assert found is not None
        assert (found.start_cost, found.cost) == (100 + 2000, 100)
        assert sorted(found.routes) == [(2, 3, 4, 5), (6, 7)]
        timed = solve_routing(data, SearchSettings(2.0, solution_limit=1),
                              initial_routes=found.routes, warm_only=True)
        assert timed is not None and timed.objective == found.cost


def test_ruin_and_recreate_prices_a_day_on_two_crews_as_the_model_does() -> None:
    """One seat each and the same minute: the two must ride apart, and both pay for it."""
    data = line_day([0, 0, 10, 20, 10, 20], [(2, 3, 15), (4, 5, 15)], vehicles=2, seats=1,
                    windows={2: (100, 100), 4: (100, 100)})
    data = replace(data, together=[((0, 1), 700)])
    outcome = solve_routing(data, SearchSettings(1.0))
    plain = solve_routing(replace(data, together=()), SearchSettings(1.0))
    assert outcome is not None and plain is not None
    assert outcome.objective == plain.objective + 700
    assert_priced_as_the_model(data)


def test_a_day_with_continuity_prices_the_collection_standards_higher(tmp_path: Path) -> None:
    """With preferences, a renal return's wait past 30 min costs the factor times the policy's.

    Without them (a day alone, a re-plan) it costs the policy's own price; a factor of 1
    switches the raise off.
    """
    home = booking("HOME", patient_id="R1", purpose="dialysis", pickup_site="RDH",
                   pickup_lat="", pickup_lon="", dropoff_site="", dropoff_lat=52.93,
                   dropoff_lon=-1.49, appointment_time="", ready_time="12:00")
    problem = load(tmp_path, [home], [vehicle("V1"), vehicle("V2")])
    config = problem.config
    wish = Commitments(prefer={"HOME": Preference(("V1",), 12 * 60)})

    def cost(day: Problem, commitments: Commitments) -> tuple[int, int]:
        data = encode(day, commitments).data
        bound, price = data.soft_latest[data.requests[0].pickup_node]
        return bound, price

    renal = config.standards.renal_collect_cost_per_min
    factor = config.continuity.standards_cost_factor
    assert factor > 1
    # Within the slack of the usual minute (12:05) is tighter than the standard (12:30).
    assert cost(problem, wish) == (12 * 60 + config.continuity.pickup_slack_min,
                                   max(round(renal * factor),
                                       config.continuity.pickup_spread_cost_per_min))
    wish_late = Commitments(prefer={"HOME": Preference(("V1",))})  # a vehicle, no minute
    assert cost(problem, wish_late) == (12 * 60 + 30, round(renal * factor))
    assert cost(problem, Commitments()) == (12 * 60 + 30, renal)
    plain = replace(problem, config=replace(
        config, continuity=replace(config.continuity, standards_cost_factor=1.0)))
    assert cost(plain, wish_late) == (12 * 60 + 30, renal)
