"""Ruin and recreate: better plans from worse ones, and never one that breaks a rule."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pytest

from pts_optimiser.engine import recreate as recreate_module
from pts_optimiser.engine.model import RoutingInput, SearchSettings, solve_routing
from pts_optimiser.engine.recreate import (
    RecreateSettings,
    _choose,
    _Day,
    _insert,
    _Run,
    _Search,
    recreate,
    with_breaks,
)
from tests.helpers import assert_priced_as_the_model, line_day


def _model_accepts(data: RoutingInput, routes: Sequence[Sequence[int]]) -> bool:
    """The OR-Tools model, with every rule, takes these routes as they are."""
    return solve_routing(data, SearchSettings(2.0, solution_limit=1),
                         initial_routes=routes, warm_only=True) is not None


def _journey_beside_a_break() -> RoutingInput:
    """Journey 2->3 on vehicle 0, its break (node 4) one unit from both ends, far from base.

    Carrying the patient through the break would be the cheapest order.
    """
    distance = np.array([[0, 0, 10, 10, 20],
                         [0, 0, 10, 10, 20],
                         [10, 10, 0, 10, 1],
                         [10, 10, 10, 0, 1],
                         [20, 20, 1, 1, 0]])
    return line_day([0] * 5, [(2, 3, 100)], breaks={4: 0}, distance=distance)


def test_two_half_empty_runs_become_one() -> None:
    """Two journeys on two vehicles are put on one run, where together they cost least."""
    data = line_day([0, 0, 10, 20, 15, 25], [(2, 3, 100), (4, 5, 100)], vehicles=2)
    found = recreate(data, [[2, 3], [4, 5]], RecreateSettings(30.0, max_iterations=200))
    assert found is not None
    assert (found.start_cost, found.cost) == (40 + 50, 50)
    assert sorted(map(len, found.routes)) == [0, 4]
    assert _model_accepts(data, found.routes)


def test_a_left_out_journey_is_put_on() -> None:
    """A journey the plan left out costs its penalty until it is placed."""
    data = line_day([0, 0, 10, 20], [(2, 3, 100)])
    found = recreate(data, [[]], RecreateSettings(30.0, max_iterations=200))
    assert found is not None
    assert found.start_cost == 2 * 10**6
    assert (found.routes, found.cost) == (((2, 3),), 40)


def test_waiting_before_a_pickup_keeps_the_ride_limit() -> None:
    """A drop-off that opens late is met by collecting the patient late, not early."""
    data = line_day([0, 0, 10, 20], [(2, 3, 15)], windows={3: (50, 60)})
    found = recreate(data, [[2, 3]], RecreateSettings(30.0, max_iterations=200))
    assert found is not None and found.routes == ((2, 3),)
    assert _model_accepts(data, found.routes)


def test_a_plan_breaking_a_rule_is_refused() -> None:
    """A ride longer than its limit cannot be a starting plan: no result, not a wrong one."""
    data = line_day([0, 0, 10, 30], [(2, 3, 15)])
    assert recreate(data, [[2, 3]], RecreateSettings(30.0, max_iterations=200)) is None


def test_nobody_is_on_board_at_a_break() -> None:
    """The cheapest order would carry the patient through the crew's break: it is not used."""
    data = _journey_beside_a_break()
    found = recreate(data, [[4]], RecreateSettings(30.0, max_iterations=200))
    assert found is not None
    assert found.routes[0] in ((2, 3, 4), (4, 2, 3))
    assert found.cost == 41
    assert _model_accepts(data, found.routes)


def test_a_break_missing_from_a_plan_is_put_in() -> None:
    """A plan cut short before OR-Tools placed a break gets one, while nobody is on board."""
    data = _journey_beside_a_break()
    found = recreate(data, [[2, 3]], RecreateSettings(30.0, max_iterations=200))
    assert found is not None
    assert found.start_cost == 30 + data.break_cost
    assert found.routes[0] in ((2, 3, 4), (4, 2, 3))
    assert found.cost == 41
    assert _model_accepts(data, found.routes)


def test_seats_limit_what_shares_a_run() -> None:
    """With one seat, two journeys on one run go one after the other, never together."""
    data = line_day([0, 0, 10, 20, 15, 25], [(2, 3, 100), (4, 5, 100)], seats=1)
    found = recreate(data, [[2, 3, 4, 5]], RecreateSettings(30.0, max_iterations=200))
    assert found is not None
    route = found.routes[0]
    assert route.index(3) < route.index(4) or route.index(5) < route.index(2)
    assert _model_accepts(data, found.routes)


def test_costs_are_counted_as_the_model_counts_them() -> None:
    """Arcs, the call-out charge and time on shift: the search's cost is the model's objective."""
    plain = line_day([0, 0, 10, 20, 15, 25], [(2, 3, 100), (4, 5, 100)], vehicles=2,
                      windows={3: (200, 260), 5: (90, 95)})
    data = replace(plain, vehicle_cost=500, span_cost_per_min=3)
    assert_priced_as_the_model(data)


def _crew_far_from_its_journeys() -> tuple[RoutingInput, list[list[int]]]:
    """Two journeys either side of base B (90->80, 110->120), both on A's crew, 80-120 away.

    A's run costs 260 (240 the other way round), B's with both would cost 80. Either
    journey alone is cheaper on B than where it is on A's run, but not by the 500 a crew
    called out costs.
    """
    plain = line_day([0, 0, 100, 100, 90, 80, 110, 120], [(4, 5, 100), (6, 7, 100)],
                     vehicles=2)
    at_b = replace(plain.vehicles[1], start_node=2, end_node=3)
    return (replace(plain, vehicles=[plain.vehicles[0], at_b], vehicle_cost=500),
            [[4, 5, 6, 7], []])


def test_a_crew_is_called_out_where_its_journeys_are() -> None:
    """The far crew keeps the journeys if the charge is there throughout.

    Searched first without it, they move to the crew beside them, and the far one is
    stood down.
    """
    data, start = _crew_far_from_its_journeys()
    charged = recreate(data, start, RecreateSettings(30.0, max_iterations=300,
                                                     free_call_out_share=0))
    phased = recreate(data, start, RecreateSettings(30.0, max_iterations=300))
    assert charged is not None and phased is not None
    assert [len(route) for route in charged.routes] == [4, 0]
    assert [len(route) for route in phased.routes] == [0, 4]
    assert phased.start_cost == charged.start_cost == 260 + 500
    assert charged.cost == 240 + 500  # the same crew, the other way round
    assert phased.cost == 80 + 500
    assert _model_accepts(data, phased.routes)


def test_phases_split_the_search() -> None:
    """The free phase has its share of the time or iterations; the settling one the rest."""
    phases = RecreateSettings(10.0, seed=3, max_iterations=100).phases()
    assert phases is not None
    free, settle = phases
    assert (free.max_iterations, settle.max_iterations) == (70, 30)
    assert (free.time_limit_s, settle.time_limit_s) == pytest.approx((7.0, 3.0))
    assert settle.start_worse_share == settle.settle_worse_share and settle.seed == 4
    assert RecreateSettings(10.0, max_iterations=1).phases() is None
    assert RecreateSettings(10.0, free_call_out_share=0).phases() is None


def test_a_small_day_is_done_after_its_tries_long_before_its_time() -> None:
    """Without an iteration limit, a search stops after its tries a journey of the day.

    Two journeys at 50 tries each: 100 tries, where the 30 s would allow hundreds of
    thousands; the two journeys still end on one run, where together they cost least.
    """
    data = line_day([0, 0, 10, 20, 15, 25], [(2, 3, 100), (4, 5, 100)], vehicles=2)
    found = recreate(data, [[2, 3], [4, 5]], RecreateSettings(30.0, max_tries_per_journey=50))
    assert found is not None
    assert found.iterations == 100
    assert found.cost == 50
    assert _model_accepts(data, found.routes)


def test_the_cooling_follows_whichever_of_time_and_tries_is_further_along() -> None:
    """Half the time gone and 80 of 100 tries made: the search is 80% done; 10 tries: half."""
    settings = RecreateSettings(10.0)
    started = time.monotonic() - 5.0
    assert recreate_module._done_share(settings, started, 80, 100) == pytest.approx(0.8)
    assert recreate_module._done_share(settings, started, 10, 100) == pytest.approx(0.5, abs=0.05)
    assert recreate_module._done_share(settings, started, 10**6, None) == pytest.approx(
        0.5, abs=0.05)
    limited = RecreateSettings(10.0, max_iterations=40)
    assert recreate_module._done_share(limited, started, 10, 100) == 0.25  # by iterations


def test_phases_split_the_tries_a_journey_like_the_time() -> None:
    """Each phase of a charged search stops after its share of the tries, as of the time."""
    phases = RecreateSettings(10.0, max_tries_per_journey=100).phases()
    assert phases is not None
    free, settle = phases
    assert (free.max_tries_per_journey, settle.max_tries_per_journey) == (70, 30)
    unlimited = RecreateSettings(10.0, max_tries_per_journey=None).phases()
    assert unlimited is not None
    assert {phase.max_tries_per_journey for phase in unlimited} == {None}


@pytest.mark.parametrize(("field", "value"), [
    ("time_limit_s", 0), ("min_removed", 0), ("max_removed_share", 0),
    ("start_worse_share", -0.1), ("tries_per_journey", 0), ("free_call_out_share", 1),
    ("settle_worse_share", -0.1), ("max_tries_per_journey", 0)])
def test_settings_check_their_ranges(field: str, value: float) -> None:
    """A setting out of range is refused when made, not found out mid-search."""
    values: dict[str, float] = {"time_limit_s": 1.0, field: value}
    with pytest.raises(ValueError):
        RecreateSettings(**values)  # type: ignore[arg-type]


def test_an_iteration_limit_gives_the_same_plan_every_time() -> None:
    """Limited by iterations, a seed's search is the same however busy the machine."""
    data = line_day([0, 0, 10, 20, 15, 25, 5, 30], [(2, 3, 100), (4, 5, 100), (6, 7, 100)],
                    vehicles=2, seats=1)
    runs = [recreate(data, [[2, 3, 4, 5], [6, 7]], RecreateSettings(30.0, seed=5,
                                                                     max_iterations=120))
            for _ in range(3)]
    assert all(run is not None for run in runs)
    assert len({(run.routes, run.cost, run.iterations) for run in runs if run}) == 1
    assert runs[0] is not None and runs[0].iterations == 120


def test_room_is_made_around_a_journey_left_out() -> None:
    """Some ruins take off the journeys nearest one left out, and that one goes back first."""
    # Requests: 0 (10->20) and 1 (15->25) near the left-out 4 (12->22); 2 and 3 far away.
    data = line_day([0, 0, 10, 20, 15, 25, 300, 310, 305, 315, 12, 22],
                    [(2, 3, 100), (4, 5, 100), (6, 7, 100), (8, 9, 100), (10, 11, 100)])
    search = _Search(_Day(data), RecreateSettings(30.0, seed=3, min_removed=2, max_removed=2,
                                                  max_removed_share=1.0))
    run = search.run_of(0, [2, 3, 4, 5, 6, 7, 8, 9])
    assert run is not None
    ruins = [_choose(search, [run], [4]) for _ in range(300)]
    around = [ruin.removed for ruin in ruins if ruin.first]
    assert all(ruin.first in ((), (4,)) for ruin in ruins)
    assert 30 <= len(around) <= 100  # a fifth of the ruins
    # The nearest (request 0) is drawn first seven times in ten.
    taken = Counter(request for removed in around for request in removed)
    assert taken[0] >= 0.6 * len(around) > max(taken[2], taken[3])
    assert all(not ruin.first for ruin in (_choose(search, [run], []) for _ in range(50)))


def test_the_journey_fewest_vehicles_can_make_goes_back_first(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Journey 0 only vehicle 0 may carry, 1 either; both at 100 with one seat a vehicle.

    Journey 1 alone is cheapest on vehicle 0 (vehicle 1 costs twice a km), so put back
    first it would take the seat journey 0 needs; fewest options first, both are carried.
    """
    data = line_day([0, 0, 10, 20, 10, 20], [(2, 3, 100), (4, 5, 100)], vehicles=2, seats=1,
                    windows={2: (100, 100), 4: (100, 100)})
    data = replace(data, vehicles=[data.vehicles[0], replace(data.vehicles[1], km_cost=2000)],
                   requests=[replace(data.requests[0], allowed_vehicles=(0,)),
                             data.requests[1]])
    day = _Day(data)
    assert day.options == [1, 2]
    # Vehicle 1's shift over before the journeys' windows: it can make neither.
    late = _Day(replace(data, vehicles=[data.vehicles[0],
                                        replace(data.vehicles[1], shift_end_min=90)]))
    assert late.options == [1, 1]
    monkeypatch.setattr(recreate_module, "WINDOW_ORDER", 0.0)
    monkeypatch.setattr(recreate_module, "FEWEST_OPTIONS_FIRST", 1.0)
    for seed in range(5):
        search = _Search(day, RecreateSettings(30.0, seed=seed))
        runs = [search.run_of(0, []), search.run_of(1, [])]
        assert runs[0] is not None and runs[1] is not None
        assert _insert(search, [runs[0], runs[1]], [0, 1]) == []
    monkeypatch.setattr(recreate_module, "FEWEST_OPTIONS_FIRST", 0.0)
    left = set()
    for seed in range(20):
        search = _Search(day, RecreateSettings(30.0, seed=seed))
        runs = [search.run_of(0, []), search.run_of(1, [])]
        assert runs[0] is not None and runs[1] is not None
        left.update(_insert(search, [runs[0], runs[1]], [0, 1]))
    assert left == {0}  # in some orders journey 1 took the seat first


@pytest.mark.parametrize("room", [0, 1, recreate_module.BOARD_ROOM])
def test_a_board_with_runs_replaced_is_the_board_built_afresh(
        room: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Replacing a run's legs in place gives the board that building it again would give.

    Three vehicles, the middle one at another km rate (so it goes last on the board); runs
    made longer, shorter and emptied in turn, on boards with no room, a leg's, and the
    search's (the board grows where it has too little).
    """
    monkeypatch.setattr(recreate_module, "BOARD_ROOM", room)
    data = line_day([0, 0, 10, 20, 15, 25, 300, 310, 305, 315],
                    [(2, 3, 100), (4, 5, 100), (6, 7, 100), (8, 9, 100)], vehicles=3)
    data = replace(data, vehicles=[data.vehicles[0], replace(data.vehicles[1], km_cost=2000),
                                   data.vehicles[2]])
    search = _Search(_Day(data), RecreateSettings(30.0))
    assert search.order == [0, 2, 1]

    def runs_of(*routes: list[int]) -> list[_Run]:
        runs = [search.run_of(vehicle, nodes) for vehicle, nodes in enumerate(routes)]
        assert all(run is not None for run in runs)
        return [run for run in runs if run is not None]

    runs = runs_of([2, 3], [4, 5], [6, 7])
    board = search.board(runs)
    for vehicle, nodes in ((1, [4, 2, 5, 3]), (0, []), (2, [6, 7, 2, 3]), (1, [4, 5])):
        run = search.run_of(vehicle, nodes)
        assert run is not None
        runs[vehicle] = run
        board.replace(vehicle, search.legs(vehicle, run), run.timed)
        fresh = search.board(runs)
        assert board.size == fresh.size
        # Over the board's legs: the columns after them are room.
        assert np.array_equal(board.legs[:, :board.size], fresh.legs[:, :fresh.size])
        for name in ("begin", "finish", "local", "run_last"):
            assert np.array_equal(getattr(board, name)[:board.size],
                                  getattr(fresh, name)[:fresh.size]), name
        for name in ("first_leg", "counts", "timed"):
            assert np.array_equal(getattr(board, name), getattr(fresh, name)), name



@pytest.mark.parametrize(("name", "value"), [("BLINKS_AHEAD", 1), ("BOARD_ROOM", 0)])
def test_the_plan_does_not_depend_on_how_much_is_kept_ahead(
        name: str, value: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Blinks drawn one at a time, and boards with no room, give the same plan.

    Drawn one at a time, every insertion runs out of blinks and draws again; with no room,
    every board grows as journeys go back on it.
    """
    positions = [0, 0, *[(11 * k) % 47 for k in range(2, 30)]]
    requests = [(k, k + 1, 70) for k in range(2, 30, 2)]
    windows = {k: (4 * k, 4 * k + 120) for k in range(2, 30)}
    data = line_day(positions, requests, vehicles=4, windows=windows, seats=2)
    settings = RecreateSettings(30.0, seed=5, max_iterations=300)
    usual = recreate(data, [[] for _ in data.vehicles], settings, foreign=True)
    monkeypatch.setattr(recreate_module, name, value)
    changed = recreate(data, [[] for _ in data.vehicles], settings, foreign=True)
    assert usual is not None and changed is not None
    assert usual.routes == changed.routes and usual.cost == changed.cost
    assert sum(len(route) for route in usual.routes) == 2 * len(requests)


def test_a_run_without_its_break_gets_it_where_it_costs_least() -> None:
    """Out to a hospital and back later: the break goes at the hospital, between the two.

    A run with no room for its break (a patient aboard all through its window) is given
    back as it was, and so is an empty run.
    """
    # Nodes: 0 start, 1 end, 2 home, 3 the hospital (drop-off), 4 the hospital (pickup of
    # the return), 5 home, 6 the crew's break visit at the hospital.
    positions = [0, 0, 10, 20, 20, 10, 20]
    requests = [(2, 3, 100), (4, 5, 100)]
    roomy = replace(line_day(positions, requests, windows={4: (150, 200), 6: (60, 200)},
                             breaks={6: 0}), service_min=[0, 0, 0, 0, 0, 0, 30])
    assert with_breaks(roomy, [[2, 3, 4, 5]]) == [[2, 3, 6, 4, 5]]
    tight = replace(roomy, windows=[*roomy.windows[:2], (50, 55), *roomy.windows[3:6],
                                    (55, 58)])
    assert with_breaks(tight, [[2, 3, 4, 5]]) == [[2, 3, 4, 5]]
    assert with_breaks(roomy, [[]]) == [[]]
