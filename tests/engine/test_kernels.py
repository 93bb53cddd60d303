"""The compiled loops of ruin and recreate: against the exact check, and where they are kept."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from numba import njit
from numba.core import config
from ortools.linear_solver import pywraplp

from pts_optimiser.engine import kernels
from pts_optimiser.engine.recreate import RecreateSettings, _Day, _Search
from tests.helpers import line_day


class Nowhere:
    """A cache locator that finds no writable place, as on a read-only install and home."""

    @classmethod
    def from_function(cls, py_func: object, source_path: str) -> None:
        return None


def test_with_nowhere_to_cache_the_kernels_still_compile(monkeypatch: pytest.MonkeyPatch) -> None:
    """A hardened service (docs/pts-board.service) costs a compile, not a failure to start."""
    monkeypatch.setattr(config, "CACHE_LOCATOR_CLASSES", f"{__name__}.Nowhere")

    def stops_with(seq: np.ndarray, i: int, j: int, p: int, d: int) -> np.ndarray:
        return kernels.with_journey(seq, i, j, p, d)

    with pytest.raises(RuntimeError, match="no locator"):
        njit(cache=True)(stops_with)  # numba alone refuses
    fresh = kernels.compiled(stops_with)
    found = fresh(np.asarray([0, 5, 6, 1], dtype=np.int64), 0, 1, 8, 9)
    assert found.tolist() == [0, 8, 5, 9, 6, 1]


Day = tuple[list[int], list[tuple[int, int, int]], dict[int, tuple[int, int]]]


def _random_journeys(rng: np.random.Generator, nodes: int, stops: int | None = None,
                     ride: tuple[int, int] = (15, 80), width: tuple[int, int] = (20, 200),
                     opens: int = 150) -> Day:
    """A random day on a line: (positions, journeys, windows), drawn in one fixed order.

    Journeys join consecutive nodes from 2 up to `stops` (every node by default), each with
    a ride limit drawn from `ride`; every stop of them has a window opening before `opens`,
    as wide as drawn from `width`.
    """
    stops = nodes if stops is None else stops
    positions = [0, 0, *rng.integers(0, 60, nodes - 2).tolist()]
    requests = [(k, k + 1, int(rng.integers(*ride))) for k in range(2, stops, 2)]
    windows = {k: (int(lo), int(lo) + int(rng.integers(*width)))
               for k, lo in zip(range(2, stops), rng.integers(0, opens, stops - 2), strict=True)}
    return positions, requests, windows


def test_the_screen_keeps_every_place_the_exact_check_allows_and_prices_it() -> None:
    """`kernels.places` against the exact check, on random days of a few journeys.

    Every place where the run with the journey added keeps its windows, ride limits and
    seats is kept, at the arcs it adds; every place kept has room on board all the way (the
    screen's load test is exact), and the others break a window or a ride limit.
    """
    rng = np.random.default_rng(7)
    checked = 0
    for _ in range(60):
        nodes = 2 + 2 * int(rng.integers(3, 7))
        positions, requests, windows = _random_journeys(rng, nodes)
        data = line_day(positions, requests, vehicles=2, windows=windows,
                        seats=int(rng.integers(1, 3)))
        day = _Day(data)
        search = _Search(day, RecreateSettings(30.0))
        # Journeys put on one at a time where they fit; the last one is the one placed.
        empty = [search.run_of(vehicle, []) for vehicle in (0, 1)]
        runs = [run for run in empty if run is not None]
        assert len(runs) == 2
        for request in range(len(requests) - 1):
            found = search.best_insertion(request, search.board(runs))
            if found is not None:
                runs[found[1]] = search.run_of(found[1], found[2][1:-1].tolist()) or runs[found[1]]
        board = search.board(runs)
        p, d, _ = requests[-1]
        places = kernels.places(board.legs, board.size, board.begin, board.finish, board.run_last,
                                day.transit, day.costs, day.metres, False, p, d, day.lo[p],
                                day.hi[p], day.lo[d], day.hi[d], day.limit[-1],
                                day.demand_of[p], np.empty(0, dtype=np.int64),
                                np.empty(0, dtype=bool))
        kept = {(int(f), int(last)): int(added) for f, last, added in places.T}
        for first in range(board.size):
            for last in range(first, int(board.run_last[first]) + 1):
                vehicle = int(board.legs[kernels.VEHICLE, first])
                seq = runs[vehicle].seq
                i, j = int(board.local[first]), int(board.local[last])
                stops = [*seq[:i + 1], p, *seq[i + 1:j + 1], d, *seq[j + 1:]]
                fits = day.loads_fit(vehicle, stops)
                works = fits and day.times(vehicle, stops) is not None
                if works:
                    assert (first, last) in kept
                    assert kept[first, last] == (day.route_cost(vehicle, stops[1:-1])
                                                 - runs[vehicle].arcs)
                    checked += 1
                if (first, last) in kept:
                    assert fits
    assert checked > 100


def test_the_place_chosen_is_the_cheapest_the_exact_check_allows() -> None:
    """`kernels.best_place` against every place checked exactly, on random days.

    Two vehicles at different km rates (two groups on the board). With no place blinked and
    every place tried, the one chosen is the cheapest the exact check allows, the first in
    board order of equals, at the cost it adds; none if none works. With every place
    blinked, none is chosen.
    """
    rng = np.random.default_rng(11)
    chosen = 0
    for _ in range(60):
        nodes = 2 + 2 * int(rng.integers(3, 7))
        positions, requests, windows = _random_journeys(rng, nodes)
        data = line_day(positions, requests, vehicles=2, windows=windows,
                        seats=int(rng.integers(1, 3)))
        data = replace(data, vehicles=[data.vehicles[0],
                                       replace(data.vehicles[1], km_cost=1500)])
        day = _Day(data)
        search = _Search(day, RecreateSettings(30.0))
        empty = [search.run_of(vehicle, []) for vehicle in (0, 1)]
        runs = [run for run in empty if run is not None]
        for request in range(len(requests) - 1):
            found = search.best_insertion(request, search.board(runs))
            if found is not None:
                runs[found[1]] = search.run_of(found[1], found[2][1:-1].tolist()) or runs[found[1]]
        board = search.board(runs)
        p, d, _ = requests[-1]
        placed = kernels.places(board.legs, board.size, board.begin, board.finish, board.run_last,
                                day.transit, day.costs, day.metres, False, p, d, day.lo[p],
                                day.hi[p], day.lo[d], day.hi[d], day.limit[-1],
                                day.demand_of[p], np.empty(0, dtype=np.int64),
                                np.empty(0, dtype=bool))

        # Past the blinks: the extra cost per vehicle (none), the board, the day.
        rest = (np.empty(0, dtype=np.int64), board.legs, board.local, board.run_last, p, d,
                day.lo_of, day.hi_of, day.transit, day.pickup_of, day.limit_of, day.where,
                day.shift_start_of, day.shift_end_of, day.longest_of, day.soft_of, 0,
                board.timed, 1, 10**6, True)
        place, more = kernels.best_place(placed, np.ones(placed.shape[1]), 0.5, *rest)
        assert kernels.best_place(placed, np.zeros(placed.shape[1]), 0.5, *rest)[0] == -1

        works = []
        for column, (first, last, added) in enumerate(placed.T.tolist()):
            vehicle = int(board.legs[kernels.VEHICLE, first])
            seq = runs[vehicle].seq
            i, j = int(board.local[first]), int(board.local[last])
            stops = [*seq[:i + 1], p, *seq[i + 1:j + 1], d, *seq[j + 1:]]
            if day.times(vehicle, stops) is not None:
                works.append((added, column))
        if works:
            assert (more, place) == min(works)
            chosen += 1
        else:
            assert place == -1
    assert chosen > 20


def test_a_run_without_some_journeys_is_the_run_rebuilt_without_them() -> None:
    """`_Search.without` (one compiled call) against `run_of` on the stops kept.

    Random runs on random days with a break, usual vehicles, soft times and time on shift
    priced: the same stops, times, arcs (with changes of vehicle), cost and cost of times,
    and None exactly where the rebuilt run breaks a rule.
    """
    rng = np.random.default_rng(5)
    compared = 0
    for _ in range(80):
        nodes = 3 + 2 * int(rng.integers(3, 7))  # the last node is vehicle 0's break
        positions, requests, windows = _random_journeys(rng, nodes, nodes - 1)
        windows[nodes - 1] = (0, 1000)
        data = line_day(positions, requests, vehicles=2, windows=windows,
                        seats=int(rng.integers(1, 3)), breaks={nodes - 1: 0})
        data = replace(data, usual_vehicle={0: (1, 40), 1: (0, 25)},
                       soft_latest={3: (60, 7)}, soft_earliest={2: (30, 3)},
                       span_cost_per_min=int(rng.integers(0, 3)), break_cost=500)
        day = _Day(data)
        search = _Search(day, RecreateSettings(30.0))
        runs = [search.run_of(vehicle, [nodes - 1] if vehicle == 0 else [])
                for vehicle in (0, 1)]
        if any(run is None for run in runs):
            continue
        board_runs = [run for run in runs if run is not None]
        for request in range(len(requests)):
            found = search.best_insertion(request, search.board(board_runs))
            if found is not None:
                board_runs[found[1]] = (search.run_of(found[1], found[2][1:-1].tolist())
                                        or board_runs[found[1]])
        for vehicle, run in enumerate(board_runs):
            on = sorted({day.request_of[n] for n in run.seq if n in day.request_of})
            for _ in range(3):
                gone = {r for r in on if rng.random() < 0.5}
                kept = [n for n in run.seq[1:-1] if day.request_of.get(n) not in gone]
                expected = search.run_of(vehicle, kept)
                got = search.without(vehicle, run, day.nodes_of(gone))
                if expected is None:
                    assert got is None
                    continue
                assert got is not None
                assert (got.seq, got.at, got.arcs, got.cost, got.timed) == (
                    expected.seq, expected.at, expected.arcs, expected.cost, expected.timed)
                compared += 1
    assert compared > 100


def _least_time_cost(day: _Day, vehicle: int, seq: list[int]) -> int:
    """The least a run's times can cost under every rule on times: a linear program.

    Written apart from the kernels (which search one family of schedules) as the oracle
    they are judged by: waiting allowed at every stop, rides within their limits.
    """
    data, v = day.data, day.data.vehicles[vehicle]
    solver = pywraplp.Solver.CreateSolver("GLOP")
    m = len(seq)
    t = [solver.NumVar(0, 10**6, f"t{k}") for k in range(m)]
    solver.Add(t[0] >= v.shift_start_min)
    solver.Add(t[m - 1] <= v.shift_end_min)
    for k in range(1, m):
        solver.Add(t[k] >= t[k - 1] + int(day.transit[seq[k - 1], seq[k]]))
    for k in range(1, m - 1):
        solver.Add(t[k] >= day.lo[seq[k]])
        solver.Add(t[k] <= day.hi[seq[k]])
    position = {node: k for k, node in enumerate(seq)}
    for request, limit in zip(data.requests, day.limit, strict=True):
        if request.pickup_node in position:
            solver.Add(t[position[request.dropoff_node]] - t[position[request.pickup_node]]
                       <= limit)
    if v.max_duration_min is not None:
        solver.Add(t[m - 1] - t[0] <= v.max_duration_min)
    cost = data.span_cost_per_min * (t[m - 1] - t[0])
    for k, node in enumerate(seq):
        for bound, price, late in [(*data.soft_latest.get(node, (0, 0)), True),
                                   (*data.soft_earliest.get(node, (0, 0)), False)]:
            if price:
                miss = solver.NumVar(0, 10**6, f"miss{k}{late}")
                solver.Add(miss >= (t[k] - bound if late else bound - t[k]))
                cost += price * miss
    solver.Minimize(cost)
    assert solver.Solve() == pywraplp.Solver.OPTIMAL
    value: float = solver.Objective().Value()
    return round(value)


def test_a_runs_times_are_priced_at_their_least_cost_or_above_and_mostly_at_it() -> None:
    """Random runs with usual times (soft earliests), standards, rides limited, time on shift.

    The kernels' price of a run's times is what some schedule keeping every rule costs, so
    never below the least (the oracle); a crew early for a regular waits at the door, so
    most runs are priced at the least exactly.
    """
    rng = np.random.default_rng(3)
    exact = tried = 0
    for _ in range(300):
        nodes = 2 + 2 * int(rng.integers(2, 6))
        positions, requests, windows = _random_journeys(rng, nodes, ride=(60, 200),
                                                        width=(100, 400), opens=250)
        data = line_day(positions, requests, windows=windows, seats=int(rng.integers(1, 4)))
        usual = {p: (int(rng.integers(0, 350)), int(rng.integers(1, 9)))
                 for p, _, _ in requests if rng.random() < 0.7}
        data = replace(data, soft_earliest=usual,
                       soft_latest={p: (t + int(rng.integers(0, 20)), c)
                                    for p, (t, c) in usual.items()},
                       span_cost_per_min=int(rng.integers(0, 2)))
        day = _Day(data)
        search = _Search(day, RecreateSettings(30.0))
        order: list[int] = []
        for pickup, dropoff, _ in requests:  # each drop-off somewhere after its pickup
            at = int(rng.integers(0, len(order) + 1))
            order.insert(at, pickup)
            order.insert(int(rng.integers(at + 1, len(order) + 1)), dropoff)
        run = search.run_of(0, order)
        if run is None:
            continue
        least = _least_time_cost(day, 0, list(run.seq))
        assert run.timed >= least
        tried += 1
        exact += run.timed == least
    assert tried >= 60 and exact >= 0.8 * tried
