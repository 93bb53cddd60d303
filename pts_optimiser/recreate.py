"""Ruin and recreate: a dial-a-ride search over the routing model's input, beside OR-Tools.

Why it exists: OR-Tools' local search moves one journey (a pickup-delivery pair) at a time
and stalls once every such move breaks a ride-time limit or a window (docs/benchmarks.md:
on the published instances it stops improving within ~15 s, 15-30% above the best known).
This search takes a group of related journeys off their runs and puts them back one at a
time, each where an exact check of its run's times, loads and range allows it most cheaply,
and keeps the result by simulated annealing: the move published dial-a-ride methods are
built on (Ropke & Pisinger 2006; Ropke, Cordeau & Laporte 2007).

It starts from an OR-Tools plan and gives back node orders only. The caller hands those to
OR-Tools again, which times them and checks them against the whole model; a plan OR-Tools
does not accept is never used. Breaks and the drop-offs of patients already on board stay
on their runs where OR-Tools put them: only journeys are taken off and put back.
"""

from __future__ import annotations

import functools
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from numpy.typing import NDArray

from pts_optimiser.model import LOADS, RoutingInput, arc_costs

_UNREACHABLE = np.int64(2**62)


@functools.cache
def _upper(n: int) -> NDArray[np.bool_]:
    """Pickup leg i, drop-off leg j: only j >= i can be."""
    return np.triu(np.ones((n, n), dtype=bool))


@dataclass(frozen=True)
class RecreateSettings:
    """How long to search and how much to take apart at a time."""

    time_limit_s: float
    seed: int = 0
    min_removed: int = 3
    max_removed: int = 20
    max_removed_share: float = 0.35  # of the journeys on the runs
    # A plan this much dearer than the current one is kept with probability 1/2 at the start;
    # the temperature falls geometrically to 1/1000 of that by the time limit.
    start_worse_share: float = 0.004
    tries_per_run: int = 40  # exact checks of one journey on one run before giving up on it

    def __post_init__(self) -> None:
        if self.time_limit_s <= 0:
            raise ValueError("time_limit_s must be positive")
        if not 1 <= self.min_removed <= self.max_removed:
            raise ValueError("need 1 <= min_removed <= max_removed")
        if not 0 < self.max_removed_share <= 1:
            raise ValueError("max_removed_share must be in (0, 1]")
        if self.start_worse_share < 0:
            raise ValueError("start_worse_share must not be negative")
        if self.tries_per_run < 1:
            raise ValueError("tries_per_run must be at least 1")


@dataclass(frozen=True)
class RecreateOutcome:
    """Node orders per vehicle (start and end left out) and what the search did."""

    routes: tuple[tuple[int, ...], ...]
    cost: int  # arc costs plus left-out journeys' penalties, as the model counts them
    start_cost: int
    iterations: int
    improvements: int


class _Day:
    """The routing input as flat Python lists: scalar lookups in lists are what is fast."""

    def __init__(self, data: RoutingInput) -> None:
        self.data = data
        self.transit = (data.travel_min
                        + np.asarray(data.service_min, dtype=np.int64)[:, None])
        self.transit_rows: list[list[int]] = self.transit.tolist()
        self.lo = [w[0] for w in data.windows]
        self.hi = [min(w[1], data.horizon_min) for w in data.windows]
        self.dims = [name for name in LOADS if any(data.loads[name])]
        self.demand = [tuple(int(data.loads[name][n]) for name in self.dims)
                       for n in range(len(data.service_min))]
        self.capacity = [tuple(v.capacity[name] for name in self.dims) for v in data.vehicles]
        # At a break nobody is on board: its node's room for patients is nil.
        patients = self.dims.index("patients") if "patients" in self.dims else None
        self.room_at: dict[int, int] = {node: patients for node in data.break_owner
                                        if patients is not None}
        costs = arc_costs(data)
        self.cost = [costs[v.km_cost] for v in data.vehicles]
        self.cost_rows = {rate: matrix.tolist() for rate, matrix in costs.items()}
        self.rate = [v.km_cost for v in data.vehicles]
        self.metres: list[list[int]] | None = (
            data.distance_m.tolist() if any(v.range_m is not None for v in data.vehicles)
            else None)
        self.request_of: dict[int, int] = {}
        for index, request in enumerate(data.requests):
            self.request_of[request.pickup_node] = index
            self.request_of[request.dropoff_node] = index
        self.pickups = {r.pickup_node for r in data.requests}
        self.limit = [r.max_ride_min + data.service_min[r.pickup_node] for r in data.requests]
        self.allowed = [frozenset(r.allowed_vehicles) for r in data.requests]
        # Each half of a left-out journey is a disjunction with this cost in the model.
        self.penalty = [2 * r.unserved_cost for r in data.requests]

    def route_cost(self, vehicle: int, nodes: Sequence[int]) -> int:
        rows = self.cost_rows[self.rate[vehicle]]
        v = self.data.vehicles[vehicle]
        seq = [v.start_node, *nodes, v.end_node]
        return sum(rows[a][b] for a, b in pairwise(seq))

    def bounds(self, vehicle: int, seq: Sequence[int]) -> tuple[list[int], list[int]]:
        v = self.data.vehicles[vehicle]
        lo = [self.lo[n] for n in seq]
        hi = [self.hi[n] for n in seq]
        lo[0] = lo[-1] = v.shift_start_min
        hi[0] = hi[-1] = v.shift_end_min
        return lo, hi

    def times(self, vehicle: int, seq: Sequence[int]) -> list[int] | None:
        """Earliest start of service at each stop of a full run, or None if it cannot work.

        Every rule on times is a difference between two stops (drive then serve, the ride
        limit, the shift's longest duration) or a window, so the earliest times are the least
        fixpoint of raising lower bounds; a fixpoint still moving after one pass per ride
        limit is a cycle that can never be met (Bellman-Ford).
        """
        lb, hi = self.bounds(vehicle, seq)
        rows = self.transit_rows
        rides = []
        picked: dict[int, int] = {}
        for k, node in enumerate(seq):
            request = self.request_of.get(node)
            if request is None:
                continue
            if node in self.pickups:
                picked[request] = k
            elif request in picked:
                rides.append((picked[request], k, self.limit[request]))
        longest = self.data.vehicles[vehicle].max_duration_min
        m = len(seq)
        for _ in range(len(rides) + 3):
            t = lb[0]
            if t > hi[0]:
                return None
            at = [t]
            for k in range(1, m):
                t += rows[seq[k - 1]][seq[k]]
                if t < lb[k]:
                    t = lb[k]
                if t > hi[k]:
                    return None
                at.append(t)
            moved = False
            for i, j, limit in rides:
                if at[j] - at[i] > limit:
                    lb[i] = at[j] - limit
                    moved = True
            if longest is not None and at[-1] - at[0] > longest:
                lb[0] = at[-1] - longest
                moved = True
            if not moved:
                return at
        return None

    def loads_fit(self, vehicle: int, seq: Sequence[int]) -> bool:
        capacity = self.capacity[vehicle]
        on_board = [0] * len(capacity)
        for node in seq:
            room = self.room_at.get(node)
            if room is not None and on_board[room] > 0:
                return False
            for d, amount in enumerate(self.demand[node]):
                on_board[d] += amount
                if not 0 <= on_board[d] <= capacity[d]:
                    return False
        if self.metres is not None:
            limit = self.data.vehicles[vehicle].range_m
            if limit is not None:
                rows = self.metres
                if sum(rows[a][b] for a, b in pairwise(seq)) > limit:
                    return False
        return True


@dataclass
class _Run:
    """One vehicle's run: its stops (start and end included), their times, its cost."""

    seq: list[int]
    at: list[int]
    cost: int
    legs: _Legs | None = None  # worked out the first time a journey is tried on the run


@dataclass(frozen=True)
class _Legs:
    """A run's legs as arrays, shared by every journey tried on it until the run changes."""

    start: NDArray[np.int64]  # stop a leg leaves from
    end: NDArray[np.int64]  # stop it arrives at
    cost: NDArray[np.int64]
    leave_at: NDArray[np.int64]  # earliest start of service where each leg begins
    latest: NDArray[np.int64]  # latest service start at each leg's end the windows allow
    chain: NDArray[np.int64]  # transit from the first stop to each stop, no waiting
    on_board: NDArray[np.int64]  # dimension x leg: load carried on the leg
    # dimension x i x j: least room left on legs i..j-1 at their end stops (breaks have none).
    room: NDArray[np.int64]
    metres_left: int | None  # range not yet used, for vehicles with a range


class _Search:
    def __init__(self, day: _Day, settings: RecreateSettings) -> None:
        self.day = day
        self.settings = settings
        self.rng = random.Random(settings.seed)

    def run_of(self, vehicle: int, nodes: Sequence[int]) -> _Run | None:
        v = self.day.data.vehicles[vehicle]
        seq = [v.start_node, *nodes, v.end_node]
        at = self.day.times(vehicle, seq)
        if at is None or not self.day.loads_fit(vehicle, seq):
            return None
        return _Run(seq, at, self.day.route_cost(vehicle, nodes))

    def legs(self, vehicle: int, run: _Run) -> _Legs:
        day = self.day
        seq = np.asarray(run.seq)
        start, end = seq[:-1], seq[1:]
        t = day.transit
        _, hi = day.bounds(vehicle, run.seq)
        latest = np.asarray(hi)
        for k in range(len(latest) - 2, -1, -1):
            latest[k] = min(latest[k], latest[k + 1] - t[seq[k], seq[k + 1]])
        capacity = np.asarray(day.capacity[vehicle], dtype=np.int64)
        demand = np.asarray([day.demand[n] for n in run.seq], dtype=np.int64).reshape(
            len(seq), len(capacity))
        on_board = np.cumsum(demand, axis=0)[:-1].T  # dimension x leg
        cap_at_end = np.repeat(capacity[:, None], len(end), axis=1)
        for k, node in enumerate(run.seq[1:]):
            if (dimension := day.room_at.get(node)) is not None:
                cap_at_end[dimension, k] = 0
        spare = cap_at_end - on_board
        n = len(end)
        least = np.minimum.accumulate(np.where(_upper(n)[None], spare[:, None, :], _UNREACHABLE),
                                      axis=2)
        # room[:, i, j]: legs i..j-1, so shift right by one; room over no leg is unbounded.
        room = np.full((len(capacity), n, n), _UNREACHABLE, dtype=np.int64)
        room[:, :, 1:] = least[:, :, :-1]
        metres_left = None
        limit = day.data.vehicles[vehicle].range_m
        if limit is not None:
            metres_left = limit - int(day.data.distance_m[start, end].sum())
        legs = _Legs(start, end, day.cost[vehicle][start, end], np.asarray(run.at[:-1]),
                     latest[1:], np.concatenate(([0], np.cumsum(t[start, end]))), on_board,
                     room, metres_left)
        run.legs = legs
        return legs

    def best_insertion(self, request: int, vehicle: int, run: _Run
                       ) -> tuple[int, list[int], list[int]] | None:
        """The cheapest feasible place for a journey on a run: (added cost, stops, times).

        Windows, ride limit and load rule most places out with arrays; the few cheapest left
        are checked exactly, in order of cost.
        """
        day = self.day
        if vehicle not in day.allowed[request]:
            return None
        legs = run.legs or self.legs(vehicle, run)
        req = day.data.requests[request]
        p, d = req.pickup_node, req.dropoff_node
        a, b = legs.start, legs.end
        cost, t = day.cost[vehicle], day.transit
        add_p = cost[a, p] + cost[p, b] - legs.cost
        add_d = cost[a, d] + cost[d, b] - legs.cost
        # Necessary conditions, each from times that can only grow when a stop is added.
        reach_p = np.maximum(day.lo[p], legs.leave_at + t[a, p])
        reach_d = np.maximum(day.lo[d], legs.leave_at + t[a, d])
        ok_p = (reach_p <= day.hi[p]) & (reach_p + t[p, b] <= legs.latest)
        ok_d = (reach_d <= day.hi[d]) & (reach_d + t[d, b] <= legs.latest)
        if not ok_p.any():
            return None
        ride = (t[p, b][:, None] + (legs.chain[None, :-1] - legs.chain[1:, None])
                + t[a, d][None, :])
        n = len(a)
        added = add_p[:, None] + add_d[None, :]
        feasible = ok_p[:, None] & ok_d[None, :] & (ride <= day.limit[request])
        # Both on the same leg: pickup then drop-off straight after.
        reach_pd = np.maximum(day.lo[d], reach_p + t[p, d])
        diagonal = np.arange(n)
        added[diagonal, diagonal] = cost[a, p] + cost[p, d] + cost[d, b] - legs.cost
        feasible[diagonal, diagonal] = (
            (reach_p <= day.hi[p]) & (reach_pd <= day.hi[d])
            & (reach_pd + t[d, b] <= legs.latest) & (t[p, d] <= day.limit[request]))
        feasible &= _upper(n)
        for dimension, amount in enumerate(day.demand[p]):
            if amount > 0:
                carried = day.capacity[vehicle][dimension] - legs.on_board[dimension]
                feasible &= (legs.room[dimension] >= amount) & (carried[None, :] >= amount)
        if legs.metres_left is not None:
            metres = day.data.distance_m
            more_p = metres[a, p] + metres[p, b] - metres[a, b]
            more_d = metres[a, d] + metres[d, b] - metres[a, b]
            more = more_p[:, None] + more_d[None, :]
            more[diagonal, diagonal] = metres[a, p] + metres[p, d] + metres[d, b] - metres[a, b]
            feasible &= more <= legs.metres_left
        candidates = np.flatnonzero(feasible)
        if candidates.size == 0:
            return None
        order = candidates[np.argsort(added.flat[candidates], kind="stable")]
        for flat in order[:self.settings.tries_per_run].tolist():
            i, j = divmod(flat, n)
            stops = [*run.seq[:i + 1], p, *run.seq[i + 1:j + 1], d, *run.seq[j + 1:]]
            times = day.times(vehicle, stops)
            if times is not None:
                return int(added.flat[flat]), stops, times
        return None


def recreate(data: RoutingInput, routes: Sequence[Sequence[int]],
             settings: RecreateSettings) -> RecreateOutcome | None:
    """Improve a plan (node ids per vehicle, no start or end) by ruin and recreate.

    None when the plan given breaks a rule this search checks (it then has nothing to start
    from); otherwise the best plan found, which is the one given if nothing was better.
    """
    started = time.monotonic()
    day = _Day(data)
    search = _Search(day, settings)
    runs: list[_Run] = []
    for vehicle, nodes in enumerate(routes):
        run = search.run_of(vehicle, nodes)
        if run is None:
            return None
        runs.append(run)
    served = {day.request_of[n] for nodes in routes for n in nodes if n in day.pickups}
    left_out = [r for r in range(len(data.requests)) if r not in served]

    def total(candidate: Sequence[_Run], out: Sequence[int]) -> int:
        return sum(run.cost for run in candidate) + sum(day.penalty[r] for r in out)

    current, current_out = runs, left_out
    current_cost = start_cost = total(runs, left_out)
    best, best_cost = runs, current_cost
    start_temperature = settings.start_worse_share * max(1, current_cost) / math.log(2)
    iterations = improvements = 0
    rng = search.rng
    while (elapsed := time.monotonic() - started) < settings.time_limit_s:
        iterations += 1
        on_runs = sum(1 for run in current for n in run.seq if n in day.pickups)
        most = min(settings.max_removed, max(1, int(on_runs * settings.max_removed_share)))
        count = rng.randint(min(settings.min_removed, most), most) if on_runs else 0
        removed = _choose(search, current, count)
        candidate = list(current)
        for vehicle, run in enumerate(current):
            gone = [n for n in run.seq[1:-1] if day.request_of.get(n) in removed]
            if gone:
                kept = [n for n in run.seq[1:-1] if day.request_of.get(n) not in removed]
                rebuilt = search.run_of(vehicle, kept)
                if rebuilt is None:  # taking stops off broke a rule: triangle inequality
                    break
                candidate[vehicle] = rebuilt
        else:
            out = _insert(search, candidate, sorted(removed) + list(current_out),
                          regret=rng.random() < 0.5)
            cost = total(candidate, out)
            temperature = start_temperature * 0.001 ** (elapsed / settings.time_limit_s)
            worse = cost - current_cost
            if worse <= 0 or rng.random() < math.exp(-worse / max(temperature, 1e-9)):
                current, current_out, current_cost = candidate, out, cost
                if cost < best_cost:
                    best, best_cost = candidate, cost
                    improvements += 1
    return RecreateOutcome(tuple(tuple(run.seq[1:-1]) for run in best), best_cost, start_cost,
                           iterations, improvements)


def _choose(search: _Search, runs: Sequence[_Run], count: int) -> set[int]:
    """Journeys to take off: related to a random one (place and time), or at random."""
    day, rng = search.day, search.rng
    on: list[tuple[int, int, int]] = []  # request, pickup time, drop-off time
    when: dict[int, int] = {}
    for run in runs:
        for node, at in zip(run.seq, run.at, strict=True):
            request = day.request_of.get(node)
            if request is None:
                continue
            if node in day.pickups:
                when[request] = at
            else:
                on.append((request, when.get(request, at), at))
    if not on or count <= 0:
        return set()
    if rng.random() < 0.25:
        return {r for r, _, _ in rng.sample(on, min(count, len(on)))}
    seed, seed_p, seed_d = rng.choice(on)
    requests = day.data.requests
    t = day.transit_rows
    sp, sd = requests[seed].pickup_node, requests[seed].dropoff_node

    def distance(item: tuple[int, int, int]) -> int:
        r, at_p, at_d = item
        rp, rd = requests[r].pickup_node, requests[r].dropoff_node
        return t[sp][rp] + t[sd][rd] + abs(at_p - seed_p) + abs(at_d - seed_d)

    ranked = sorted(on, key=distance)
    chosen: set[int] = set()
    while len(chosen) < min(count, len(ranked)):
        # Mostly the nearest, sometimes further: y^4 leans towards the front of the list.
        index = int(rng.random() ** 4 * len(ranked))
        chosen.add(ranked[index][0])
    return chosen


def _insert(search: _Search, runs: list[_Run], pending: list[int], regret: bool) -> list[int]:
    """Put journeys back, one at a time; return those that fit nowhere.

    Greedy takes the journey whose cheapest place is cheapest; regret takes the one that
    loses most if its best run is taken by another (best two runs' difference), so journeys
    with few places go first.
    """
    vehicles = range(len(runs))
    options: dict[int, dict[int, tuple[int, list[int], list[int]]]] = {}
    for request in pending:
        options[request] = {}
        for vehicle in vehicles:
            found = search.best_insertion(request, vehicle, runs[vehicle])
            if found is not None:
                options[request][vehicle] = found
    waiting = set(pending)
    while waiting:
        pick: tuple[float, int] | None = None
        for request in sorted(waiting):
            costs = sorted(found[0] for found in options[request].values())
            if not costs:
                continue
            if regret:
                second = costs[1] if len(costs) > 1 else float(_UNREACHABLE)
                score = -(second - costs[0]) + search.rng.random() * 1e-3
            else:
                score = costs[0] + search.rng.random() * 1e-3
            if pick is None or score < pick[0]:
                pick = (score, request)
        if pick is None:
            break
        request = pick[1]
        vehicle = min(options[request], key=lambda v: options[request][v][0])
        added, stops, times = options[request][vehicle]
        runs[vehicle] = _Run(stops, times, runs[vehicle].cost + added)
        waiting.discard(request)
        del options[request]
        for other in waiting:
            found = search.best_insertion(other, vehicle, runs[vehicle])
            if found is None:
                options[other].pop(vehicle, None)
            else:
                options[other][vehicle] = found
    return sorted(waiting)
