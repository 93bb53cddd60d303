"""Ruin and recreate: a dial-a-ride search over the routing model's input, beside OR-Tools.

Why it exists: OR-Tools' local search moves one journey (a pickup-delivery pair) at a time
and stalls once every such move breaks a ride-time limit or a window (docs/benchmarks.md:
on the published instances it stops improving within ~15 s, 15-30% above the best known).
This search takes a group of related journeys off their runs and puts them back one at a
time, each where an exact check of its run's times, loads and range allows it most cheaply,
and keeps the result by simulated annealing: the move published dial-a-ride methods are
built on (Ropke & Pisinger 2006), with the quick one-pass reinsertion and "blinks" of
Christiaens & Vanden Berghe (2020), which buy many more tries in the same time. Speed comes
from pricing a journey on every run at once in one compiled pass (`kernels`), and checking
exactly, also compiled, only the few cheapest places left; the search's choices stay here.

It starts from an OR-Tools plan and gives back node orders only. The caller hands those to
OR-Tools again, which times them and checks them against the whole model; a plan OR-Tools
does not accept is never used. Breaks and the drop-offs of patients already on board stay
on their runs where OR-Tools put them: only journeys are taken off and put back.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from pts_optimiser.engine import kernels
from pts_optimiser.engine.model import (
    LOADS,
    RoutingInput,
    arc_costs,
    ride_limit_min,
    transit_min,
    vehicle_change_costs,
)

BLINK = 0.01  # share of places passed over at each insertion (Christiaens & Vanden Berghe)
BLINKS_AHEAD = 4096  # blinks drawn at a time
BOARD_ROOM = 64  # legs of room on a board for the journeys a try puts back, before it grows
SOFT_PLACES = 3  # places costed in full per journey when standards are priced
RANDOM_REMOVAL = 0.25  # share of ruins that take journeys off at random
# Shares of recreates that put journeys back in order of their pickup windows, and with
# the journeys the fewest vehicles could make first (where every vehicle could make every
# journey, as on the published instances, that order is the shuffled one); the rest shuffled.
WINDOW_ORDER = 0.35
FEWEST_OPTIONS_FIRST = 0.3
LEFT_OUT_REMOVAL = 0.2  # share that make room around a journey left out, where one is
# Share that bring a regular's day carried by two crews onto one of them, where one is:
# a crew's run is full at the time of the patient's other journey (docs/week.md).
ONE_CREW_REMOVAL = 0.2
# Around the journeys that move onto that crew, its journeys on board within this many
# minutes of them are taken off to make room (time to drive from one to the other).
ONE_CREW_MARGIN_MIN = 30
# Put back first, a journey goes to the crew asked of it if any place there is feasible:
# this much more on every other vehicle (far above any insertion; compared, never summed).
_ELSEWHERE = np.int64(10**12)


@dataclass(frozen=True)
class RecreateSettings:
    """How long to search and how much to take apart at a time.

    The search stops at `time_limit_s`, or after `max_iterations` if given (the cooling
    schedule then runs by iterations, so a seed gives the same plan on any machine).
    Without `max_iterations` it also stops after `max_tries_per_journey` tries for each
    journey of the day, its cooling run by whichever of time and tries is further along: a
    day of a few dozen journeys is done long before its time limit, where a whole day
    never gets there (docs/benchmarks.md, 2026-12-06).
    """

    time_limit_s: float
    seed: int = 0
    max_iterations: int | None = None
    max_tries_per_journey: int | None = 4000
    min_removed: int = 3
    max_removed: int = 12
    max_removed_share: float = 0.35  # of the journeys on the runs
    # A plan dearer than the current one by this share of the runs' cost is kept with
    # probability 1/2 at the start; the temperature falls geometrically to 1/1000 of that by
    # the time limit. Measured on pr05/pr10/pr15/pr20 at 60 s: 0.002 to 0.08 tried, 0.02 to
    # 0.04 best; from 12 to 40 journeys taken off at most, 12 to 20 best.
    start_worse_share: float = 0.04
    tries_per_journey: int = 40  # exact checks of a journey's cheapest places before giving up
    # Where using a vehicle carries a call-out charge: the share of the search run without
    # it, and the temperature the rest starts at (`recreate`; docs/benchmarks.md, "a crew
    # called out where its journeys are"). On the 750-journey days 0.5 to 0.85 alike.
    free_call_out_share: float = 0.7
    settle_worse_share: float = 0.002

    def __post_init__(self) -> None:
        if self.time_limit_s <= 0:
            raise ValueError("time_limit_s must be positive")
        if self.max_iterations is not None and self.max_iterations < 1:
            raise ValueError("max_iterations must be at least 1")
        if self.max_tries_per_journey is not None and self.max_tries_per_journey < 1:
            raise ValueError("max_tries_per_journey must be at least 1")
        if not 1 <= self.min_removed <= self.max_removed:
            raise ValueError("need 1 <= min_removed <= max_removed")
        if not 0 < self.max_removed_share <= 1:
            raise ValueError("max_removed_share must be in (0, 1]")
        if self.start_worse_share < 0:
            raise ValueError("start_worse_share must not be negative")
        if self.tries_per_journey < 1:
            raise ValueError("tries_per_journey must be at least 1")
        if not 0 <= self.free_call_out_share < 1:
            raise ValueError("free_call_out_share must be in [0, 1)")
        if self.settle_worse_share < 0:
            raise ValueError("settle_worse_share must not be negative")

    def phases(self) -> tuple[RecreateSettings, RecreateSettings] | None:
        """The search without the call-out charge, then with it; None: one phase only.

        A limited search splits its iterations the same way, and has one phase if the
        first would get none.
        """
        share = self.free_call_out_share
        if share == 0:
            return None
        tries = self.max_tries_per_journey

        def tries_for(part: float) -> int | None:
            return None if tries is None else max(1, round(tries * part))

        free = replace(self, time_limit_s=self.time_limit_s * share, free_call_out_share=0,
                       max_tries_per_journey=tries_for(share))
        settle = replace(self, time_limit_s=self.time_limit_s * (1 - share),
                         free_call_out_share=0, start_worse_share=self.settle_worse_share,
                         seed=self.seed + 1, max_tries_per_journey=tries_for(1 - share))
        if self.max_iterations is not None:
            first = int(self.max_iterations * share)
            if first == 0:
                return None
            free = replace(free, max_iterations=first)
            settle = replace(settle, max_iterations=self.max_iterations - first)
        return free, settle


@dataclass(frozen=True)
class _Ruin:
    """Journeys to take off; those to put back first, in order, and the vehicle they go to."""

    removed: set[int]
    first: tuple[int, ...] = ()
    onto: int | None = None  # `first` goes to this vehicle where it fits there


@dataclass(frozen=True)
class RecreateOutcome:
    """Node orders per vehicle (start and end left out) and what the search did."""

    routes: tuple[tuple[int, ...], ...]
    # Arcs, time on shift and left-out journeys, as the model's objective counts them (less
    # its penalties for breaks not placed, which this search leaves as they are).
    cost: int
    start_cost: int
    iterations: int
    improvements: int


class _Day:
    """The routing input, as arrays by node for the kernels and lists for lookups in Python."""

    def __init__(self, data: RoutingInput) -> None:
        self.data = data
        self.transit = transit_min(data)
        self.lo = [w[0] for w in data.windows]
        self.hi = [min(w[1], data.horizon_min) for w in data.windows]
        self.dims = [name for name in LOADS if any(data.loads[name])]
        self.demand = [tuple(int(data.loads[name][n]) for name in self.dims)
                       for n in range(len(data.service_min))]
        self.capacity_of = [np.asarray([v.capacity[name] for name in self.dims], dtype=np.int64)
                            for v in data.vehicles]
        # At a break nobody is on board: its node's room for patients is nil.
        self.patients = self.dims.index("patients") if "patients" in self.dims else None
        # As arrays indexed by node, for the kernels.
        self.hi_of = np.asarray(self.hi, dtype=np.int64)
        self.demand_of = np.asarray(self.demand, dtype=np.int64).reshape(len(self.demand),
                                                                           len(self.dims))
        self.at_break = np.zeros(len(self.demand), dtype=bool)
        if self.patients is not None:
            self.at_break[list(data.break_owner)] = True
        # Range is checked only where a vehicle has one (the kernels need a matrix anyway).
        self.metres = (np.ascontiguousarray(data.distance_m, dtype=np.int64)
                       if any(v.range_m is not None for v in data.vehicles)
                       else np.zeros((1, 1), dtype=np.int64))
        # Arc costs per km rate, one matrix each, stacked so that runs of different rates are
        # priced in one gather; a vehicle's matrix is a view of its rate's.
        costs = arc_costs(data)
        rates = sorted(costs)
        self.costs = np.stack([costs.pop(rate) for rate in rates])
        self.rate = [rates.index(v.km_cost) for v in data.vehicles]
        self.cost = [self.costs[rate] for rate in self.rate]
        self.request_of: dict[int, int] = {}
        for index, request in enumerate(data.requests):
            self.request_of[request.pickup_node] = index
            self.request_of[request.dropoff_node] = index
        self.pickups = {r.pickup_node for r in data.requests}
        self.request_at = np.full(len(data.service_min), -1, dtype=np.int64)  # by node
        for node, index in self.request_of.items():
            self.request_at[node] = index
        self.pickup_node = np.asarray([r.pickup_node for r in data.requests], dtype=np.int64)
        self.dropoff_node = np.asarray([r.dropoff_node for r in data.requests], dtype=np.int64)
        self.limit = [ride_limit_min(data, r) for r in data.requests]
        # Rides by drop-off node (the pickup, the ride limit; -1 for other nodes), and scratch
        # space for the kernels' positions of nodes on a run.
        self.lo_of = np.asarray(self.lo, dtype=np.int64)
        self.pickup_of = np.full(len(self.lo), -1, dtype=np.int64)
        self.limit_of = np.full(len(self.lo), -1, dtype=np.int64)
        for journey, limit in zip(data.requests, self.limit, strict=True):
            self.pickup_of[journey.dropoff_node] = journey.pickup_node
            self.limit_of[journey.dropoff_node] = limit
        self.where = np.full(len(self.lo), -1, dtype=np.int64)
        # Per vehicle, its shift and longest time out (-1: none), for the kernels.
        self.shift_start_of = np.asarray([v.shift_start_min for v in data.vehicles],
                                         dtype=np.int64)
        self.shift_end_of = np.asarray([v.shift_end_min for v in data.vehicles], dtype=np.int64)
        self.longest_of = np.asarray([-1 if v.max_duration_min is None else v.max_duration_min
                                      for v in data.vehicles], dtype=np.int64)
        self.range_of = [-1 if v.range_m is None else v.range_m for v in data.vehicles]
        # Per journey, the vehicles allowed to carry it as a mask; None where every one is.
        self.allowed: list[NDArray[np.bool_] | None] = []
        for request in data.requests:
            mask = np.zeros(len(data.vehicles), dtype=bool)
            mask[list(request.allowed_vehicles)] = True
            self.allowed.append(None if mask.all() else mask)
        # Each half of a left-out journey is a disjunction with this cost in the model.
        self.penalty = [2 * r.unserved_cost for r in data.requests]
        # Round trips: an outward journey stays on a run only while its return is on one.
        self.back_of = dict(data.links)
        self.out_of = {back: outward for outward, back in data.links}
        self.break_options: list[tuple[int, ...]] = [() for _ in data.vehicles]
        for node, vehicle in sorted(data.break_owner.items()):
            self.break_options[vehicle] += (node,)
        # Continuity: a regular's pickup off their usual vehicle costs as an arc would.
        self.change: dict[int, NDArray[np.int64]] = {}
        # The same by vehicle, a row of every node's (for the kernels); None: no regulars.
        self.change_by_vehicle: NDArray[np.int64] | None = None
        if data.usual_vehicle:
            by_vehicle = np.asarray(vehicle_change_costs(data), dtype=np.int64)
            self.change_by_vehicle = by_vehicle
            self.change = {data.requests[r].pickup_node: by_vehicle[:, data.requests[r].pickup_node]
                           for r in data.usual_vehicle}
        # Standards and time on shift only: a stop added can delay stops and lengthen the
        # shift, never the reverse, so a place's arcs are a floor on what it costs. A usual
        # time (a soft earliest) can be met by a delay.
        self.times_only_cost_more = not data.soft_earliest
        # Soft bounds on a stop's time: (latest, cost a minute after it, earliest, cost a
        # minute before it); and the same as a row per node, with whether it has any first.
        self.soft = {node: (*data.soft_latest.get(node, (0, 0)),
                            *data.soft_earliest.get(node, (0, 0)))
                     for node in {*data.soft_latest, *data.soft_earliest}}
        self.soft_of = np.zeros((len(self.lo), 5), dtype=np.int64)
        for node, bounds in self.soft.items():
            self.soft_of[node] = (1, *bounds)
        self._crews()
        self.options = self._options()

    def _crews(self) -> None:
        """Continuity: groups of journeys asked to ride with one crew; each crew more costs."""
        data = self.data
        self.together = list(data.together)
        self.groups_of: dict[int, list[int]] = {}
        for group, (members, _) in enumerate(self.together):
            for r in members:
                self.groups_of.setdefault(r, []).append(group)
        self.grouped = {data.requests[r].pickup_node: r for r in self.groups_of}
        # Per group, the vehicles allowed to carry every journey of it.
        self.one_crew_able = [sorted(set.intersection(*(set(data.requests[m].allowed_vehicles)
                                                        for m in members)))
                              for members, _ in self.together]

    def _options(self) -> list[int]:
        """How many vehicles could make each journey alone, by its windows and their shifts.

        Breaks and the shift's longest duration aside: an order of insertion, not a rule.
        """
        data, t = self.data, self.transit
        starts = np.asarray([v.start_node for v in data.vehicles])
        ends = np.asarray([v.end_node for v in data.vehicles])
        opens = np.asarray([v.shift_start_min for v in data.vehicles])
        closes = np.asarray([v.shift_end_min for v in data.vehicles])
        options = []
        for index, request in enumerate(data.requests):
            p, d = request.pickup_node, request.dropoff_node
            at_p = np.maximum(self.lo[p], opens + t[starts, p])
            at_d = np.maximum(self.lo[d], at_p + t[p, d])
            able = (at_p <= self.hi[p]) & (at_d <= self.hi[d]) & (at_d + t[d, ends] <= closes)
            if (allowed := self.allowed[index]) is not None:
                able &= allowed
            options.append(int(able.sum()))
        return options

    def nodes_of(self, requests: set[int]) -> NDArray[np.bool_]:
        """By node, whether it is a stop of one of these journeys."""
        mask = np.zeros(len(self.lo), dtype=bool)
        if requests:
            chosen = np.fromiter(requests, dtype=np.int64, count=len(requests))
            mask[self.pickup_node[chosen]] = True
            mask[self.dropoff_node[chosen]] = True
        return mask

    def crews(self, runs: Sequence[_Run]) -> dict[int, int]:
        """Request -> vehicle, for each journey of a `together` group on a run."""
        found: dict[int, int] = {}
        if self.grouped:
            for vehicle, run in enumerate(runs):
                for node in run.seq:
                    if (request := self.grouped.get(node)) is not None:
                        found[request] = vehicle
        return found

    def crews_cost(self, crews: Mapping[int, int]) -> int:
        """Each group's crews beyond the first, as the model counts them (planned only)."""
        return sum(cost * max(0, len({crews[m] for m in members if m in crews}) - 1)
                   for members, cost in self.together)

    def crew_extra(self, request: int, crews: Mapping[int, int]) -> NDArray[np.int64] | None:
        """Per vehicle, what carrying `request` there adds to its groups' crews; None: 0."""
        extra = None
        for group in self.groups_of.get(request, ()):
            members, cost = self.together[group]
            others = [crews[m] for m in members if m != request and m in crews]
            if others:
                more = np.full(len(self.data.vehicles), cost, dtype=np.int64)
                more[others] = 0
                extra = more if extra is None else extra + more
        return extra

    def break_missing(self, vehicle: int, seq: Sequence[int]) -> bool:
        """The vehicle's crew must take a break and none of its break visits is on the run."""
        options = self.break_options[vehicle]
        return bool(options) and not any(node in options for node in seq)

    def route_cost(self, vehicle: int, nodes: Sequence[int],
                   seq: NDArray[np.int64] | None = None) -> int:
        """The run's arcs, and its regulars' pickups off their usual vehicle.

        `nodes` without the run's start and end; `seq`, if the caller has it, with them.
        """
        if seq is None:
            v = self.data.vehicles[vehicle]
            seq = np.asarray([v.start_node, *nodes, v.end_node], dtype=np.int64)
        change = self.change_by_vehicle
        return int(kernels.arcs_of(seq, self.cost[vehicle],
                                   _NONE if change is None else change[vehicle]))

    def times(self, vehicle: int, seq: Sequence[int] | NDArray[np.int64]) -> list[int] | None:
        """Earliest start of service at each stop of a full run, or None if it cannot work."""
        at = self.earliest(vehicle, np.asarray(seq, dtype=np.int64))
        return at.tolist() if at.size else None

    def earliest(self, vehicle: int, stops: NDArray[np.int64]) -> NDArray[np.int64]:
        """`kernels.earliest` for the vehicle's run: empty if the run cannot work."""
        return kernels.earliest(stops, self.lo_of, self.hi_of, self.transit, self.pickup_of,
                                self.limit_of, self.where, int(self.shift_start_of[vehicle]),
                                int(self.shift_end_of[vehicle]), int(self.longest_of[vehicle]))

    def time_cost(self, vehicle: int, seq: NDArray[np.int64], at: NDArray[np.int64]) -> int:
        """What the model charges for the run's times (`kernels.time_cost`)."""
        return int(kernels.time_cost(seq, at, self.hi_of, self.transit,
                                     self.pickup_of, self.limit_of, self.where, self.soft_of,
                                     int(self.shift_end_of[vehicle]), self.data.span_cost_per_min,
                                     int(self.longest_of[vehicle])))

    def may_carry(self, vehicle: int, nodes: Sequence[int]) -> bool:
        """Whether the vehicle is allowed every journey at `nodes` (skills, crew, type)."""
        for node in nodes:
            request = self.request_of.get(node)
            if request is not None and (allowed := self.allowed[request]) is not None \
                    and not allowed[vehicle]:
                return False
        return True

    def loads_fit(self, vehicle: int, seq: Sequence[int] | NDArray[np.int64]) -> bool:
        """Loads within capacity, nobody aboard at a break, within range (`kernels.loads_fit`)."""
        range_m = self.data.vehicles[vehicle].range_m
        return bool(kernels.loads_fit(np.asarray(seq, dtype=np.int64), self.demand_of,
                                      self.capacity_of[vehicle], self.at_break,
                                      -1 if self.patients is None else self.patients,
                                      self.metres, -1 if range_m is None else range_m))


class RunCheck:
    """The exact check of one vehicle's run, for callers outside the search (the planning board).

    The same rules the search keeps: windows, ride limits, shift and longest time out, loads
    (nobody aboard at a break) and range, over a routing input.
    """

    def __init__(self, data: RoutingInput) -> None:
        self._day = _Day(data)

    def times(self, vehicle: int, nodes: Sequence[int]) -> list[int] | None:
        """Earliest start of service at each stop, start and end included; None if a rule breaks."""
        ends = self._day.data.vehicles[vehicle]
        if not self._day.may_carry(vehicle, nodes):
            return None
        seq = [ends.start_node, *nodes, ends.end_node]
        at = self._day.times(vehicle, seq)
        if at is None or not self._day.loads_fit(vehicle, seq):
            return None
        return at


def with_breaks(data: RoutingInput, routes: Sequence[Sequence[int]]) -> list[list[int]]:
    """Routes (node ids per vehicle, no start or end) with each missing break put back.

    A run made outside the search (a re-plan's old runs) may have no node for its crew's
    break: `pts solve` takes a break where the crew is, at no break visit. Given such a
    run, OR-Tools must fit the break itself, and may leave a journey out for it (a
    wheelchair patient's ride home, in a re-plan). Here the break goes where it costs least
    among the crew's break visits, with the exact check; a run that breaks a rule, or has
    no room for its break, is given back as it was.
    """
    search = _Search(_Day(data), RecreateSettings(time_limit_s=1.0))
    placed: list[list[int]] = []
    for vehicle, nodes in enumerate(routes):
        run = search.run_of(vehicle, nodes) if nodes else None
        placed.append(list(search.with_break(vehicle, run).seq[1:-1]) if run is not None
                      else list(nodes))
    return placed


@dataclass
class _Run:
    """One vehicle's run: its stops (start and end included), their times, its cost."""

    seq: list[int]
    at: list[int]
    arcs: int  # cost of its arcs
    cost: int  # and of its time on shift (and a break not taken)
    timed: int  # what its times cost alone (time on shift, standards, usual times)
    # Its legs, as rows of an array (`START`...), worked out the first time a journey is
    # tried on the run and shared by every journey tried on it until the run changes.
    legs: NDArray[np.int64] | None = None
    nodes: NDArray[np.int64] | None = None  # `seq` as an array, likewise
    times: NDArray[np.int64] | None = None  # `at` as an array, likewise
    rides: NDArray[np.int64] | None = None  # `_rides_on`, likewise
    requests: frozenset[int] | None = None  # `_requests_on`, likewise


def _nodes(run: _Run) -> NDArray[np.int64]:
    if run.nodes is None:
        run.nodes = np.asarray(run.seq, dtype=np.int64)
    return run.nodes


_NONE = np.empty(0, dtype=np.int64)  # no cost per vehicle, for the kernels
_NOBODY = np.empty(0, dtype=bool)  # no vehicle excluded, for the kernels


class _Board:
    """The legs of every run side by side, the runs of one km rate together.

    One pass over it (`kernels.places`) then prices a journey on every run at once. When a
    run changes, only its legs are replaced, in place: the arrays have room after the
    board's `size` columns, and grow when it runs out.
    """

    def __init__(self, order: Sequence[int], parts: Sequence[NDArray[np.int64]],
                 ranged: bool, timed: NDArray[np.int64]) -> None:
        self.ranged = ranged  # a vehicle on the board has a range
        self.timed = timed  # by vehicle, what its run's times cost (`_Run.timed`)
        self.slot = {vehicle: k for k, vehicle in enumerate(order)}
        self.counts = np.asarray([part.shape[1] for part in parts], dtype=np.int64)
        self.size = int(self.counts.sum())
        room = np.empty((parts[0].shape[0], BOARD_ROOM), dtype=np.int64)
        self.legs = np.concatenate([*parts, room], axis=1)
        self.first_leg, self.begin, self.finish, self.local, self.run_last = kernels.framed(
            self.legs, self.counts)

    def replace(self, vehicle: int, part: NDArray[np.int64], timed: int) -> None:
        """The vehicle's run is now `part`, its times costing `timed`."""
        self.timed[vehicle] = timed
        k = self.slot[vehicle]
        if self.size + part.shape[1] - self.counts[k] > self.legs.shape[1]:
            self._grow(self.size + part.shape[1])
        self.size = kernels.replace_run(self.legs, self.begin, self.finish, self.local,
                                        self.run_last, self.size, self.first_leg, self.counts,
                                        k, part)

    def _grow(self, least: int) -> None:
        room = max(least, 2 * self.legs.shape[1])
        legs = np.empty((self.legs.shape[0], room), dtype=np.int64)
        legs[:, :self.size] = self.legs[:, :self.size]
        self.legs = legs
        grown = []
        for array in (self.begin, self.finish, self.local, self.run_last):
            bigger = np.empty(room, dtype=np.int64)
            bigger[:self.size] = array[:self.size]
            grown.append(bigger)
        self.begin, self.finish, self.local, self.run_last = grown


class _Search:
    def __init__(self, day: _Day, settings: RecreateSettings) -> None:
        self.day = day
        self.settings = settings
        self.rng = random.Random(settings.seed)
        self.blinks = np.random.default_rng(settings.seed)
        self.blink_draws = np.empty(0, dtype=np.float64)  # drawn ahead, used from
        self.blinks_used = 0
        # The board's order: the vehicles of one km rate together, rates as first met.
        by_rate: dict[int, list[int]] = {}
        for vehicle, rate in enumerate(day.rate):
            by_rate.setdefault(rate, []).append(vehicle)
        self.order = [vehicle for group in by_rate.values() for vehicle in group]
        self.ranged = any(v.range_m is not None for v in day.data.vehicles)

    def run_of(self, vehicle: int, nodes: Sequence[int]) -> _Run | None:
        """The run of `nodes` on the vehicle, timed and costed; None if it breaks a rule.

        A vehicle not allowed one of its journeys too: until the thirty-seventh stop only
        times and loads were checked, and exchanging two vehicles' runs whole (`_swapped`)
        put an oxygen patient on a car without oxygen, whereupon the model refused every
        plan of that search.
        """
        day = self.day
        if not day.may_carry(vehicle, nodes):
            return None
        v = day.data.vehicles[vehicle]
        seq = [v.start_node, *nodes, v.end_node]
        stops = np.asarray(seq, dtype=np.int64)
        at = day.earliest(vehicle, stops)
        if not at.size or not day.loads_fit(vehicle, stops):
            return None
        return self.run(vehicle, stops, at, day.route_cost(vehicle, nodes, stops))

    def without(self, vehicle: int, run: _Run, gone: NDArray[np.bool_]) -> _Run | None:
        """The run with the stops at `gone` nodes taken off, as `run_of` would give it."""
        day = self.day
        change = day.change_by_vehicle
        stops, at, arcs, timed = kernels.without(
            _nodes(run), gone, day.lo_of, day.hi_of, day.transit, day.pickup_of, day.limit_of,
            day.where, int(day.shift_start_of[vehicle]), int(day.shift_end_of[vehicle]),
            int(day.longest_of[vehicle]), day.demand_of, day.capacity_of[vehicle],
            day.at_break, -1 if day.patients is None else day.patients, day.metres,
            day.range_of[vehicle], day.cost[vehicle],
            _NONE if change is None else change[vehicle], day.soft_of,
            day.data.span_cost_per_min)
        if not at.size:
            return None
        return self.run(vehicle, stops, at, arcs, timed)

    def run(self, vehicle: int, stops: NDArray[np.int64], at: NDArray[np.int64],
            arcs: int, timed: int | None = None) -> _Run:
        """A run costed as the model counts it: arcs, time on shift, a break not taken.

        `timed`: what its times cost, if the caller has it (`_Day.time_cost`).
        """
        day = self.day
        seq = stops.tolist()
        missing = day.data.break_cost if day.break_missing(vehicle, seq) else 0
        if timed is None:
            timed = day.time_cost(vehicle, stops, at)
        return _Run(seq, at.tolist(), arcs, arcs + timed + missing, timed, nodes=stops,
                    times=at)

    def with_break(self, vehicle: int, run: _Run) -> _Run:
        """The run with its crew's break put where it costs least, if it lacks one and one fits.

        OR-Tools places breaks as it searches; a plan cut short may not have them yet, and a
        long shift without its break cannot be driven (the plan would leave its journeys out).
        """
        day = self.day
        if not day.break_missing(vehicle, run.seq):
            return run
        patients = day.patients
        on_board, empty_legs = 0, []
        for k, node in enumerate(run.seq[:-1]):
            if patients is not None:
                on_board += day.demand[node][patients]
            if on_board == 0:
                empty_legs.append(k)
        cost = day.cost[vehicle]
        places = sorted((int(cost[run.seq[k], node] + cost[node, run.seq[k + 1]]
                             - cost[run.seq[k], run.seq[k + 1]]), k, node)
                        for node in day.break_options[vehicle] for k in empty_legs)
        for added, k, node in places[:self.settings.tries_per_journey]:
            stops = [*run.seq[:k + 1], node, *run.seq[k + 1:]]
            seq = np.asarray(stops, dtype=np.int64)
            times = day.earliest(vehicle, seq)
            if times.size and day.loads_fit(vehicle, seq):
                return self.run(vehicle, seq, times, run.arcs + added)
        return run

    def with_room_for_break(self, vehicle: int, run: _Run) -> tuple[_Run, list[int]]:
        """The run with its break, and the journeys it gave up to make room for it.

        For plans made outside OR-Tools, whose breaks were taken where no break visit is:
        the journeys nearest the break's window are taken off until the break fits.
        """
        day = self.day
        run = self.with_break(vehicle, run)
        given_up: list[int] = []
        options = day.break_options[vehicle]
        if not options:
            return run, given_up
        middle = (day.lo[options[0]] + day.hi[options[0]]) / 2
        while day.break_missing(vehicle, run.seq):
            on = [(abs(at - middle), day.request_of[node])
                  for node, at in zip(run.seq, run.at, strict=True) if node in day.pickups]
            if not on:
                break
            request = min(on)[1]
            kept = [n for n in run.seq[1:-1] if day.request_of.get(n) != request]
            rebuilt = self.run_of(vehicle, kept)
            if rebuilt is None:
                break
            given_up.append(request)
            run = self.with_break(vehicle, rebuilt)
        return run, given_up

    def legs(self, vehicle: int, run: _Run) -> NDArray[np.int64]:
        if run.legs is not None:
            return run.legs
        day = self.day
        v = day.data.vehicles[vehicle]
        times = run.times if run.times is not None else np.asarray(run.at, dtype=np.int64)
        legs = kernels.legs_of(_nodes(run), times, day.transit,
                               day.cost[vehicle], day.metres, day.hi_of, day.demand_of,
                               day.capacity_of[vehicle], day.at_break, v.shift_end_min,
                               -1 if v.range_m is None else v.range_m, vehicle,
                               day.rate[vehicle], -1 if day.patients is None else day.patients)
        run.legs = legs
        return legs

    def board(self, runs: Sequence[_Run]) -> _Board:
        return _Board(self.order, [self.legs(vehicle, runs[vehicle]) for vehicle in self.order],
                      self.ranged, np.asarray([run.timed for run in runs], dtype=np.int64))

    def best_insertion(self, request: int, board: _Board,
                       extra: NDArray[np.int64] | None = None
                       ) -> tuple[int, int, NDArray[np.int64], NDArray[np.int64], int, int] | None:
        """The cheapest feasible place for a journey on a board's runs.

        (added cost, vehicle, stops, times, added arc cost, what the run's times then cost).
        Windows, ride limit, load and range rule most places out in one pass over the board
        (`kernels.places`); the cheapest left of each km rate are checked exactly, in order
        of cost (`kernels.best_place`), both in one call (`kernels.insertion`). `extra` (per
        vehicle) is priced but is not the run's: a cost of the plan as a whole
        (`_Day.crew_extra`). With standards priced, a place's arcs alone do not say what it
        costs: the few cheapest that work are costed in full (times, standards), the least
        kept. Blinks: now and then a place is passed over, so equal plans do not repeat;
        they are drawn ahead in blocks, the same draws in the same order as one by one.
        """
        day = self.day
        req = day.data.requests[request]
        p = req.pickup_node
        allowed = day.allowed[request]
        while True:
            drawn, vehicle, stops, times, more, added, timed = kernels.insertion(
                board.legs, board.size, board.begin, board.finish, board.run_last, board.local,
                day.transit, day.costs, day.metres, board.ranged, p, req.dropoff_node,
                day.limit[request], day.demand_of[p], day.change.get(p, _NONE),
                _NOBODY if allowed is None else allowed, self.blink_draws, self.blinks_used,
                BLINK, _NONE if extra is None else extra, day.lo_of, day.hi_of, day.pickup_of,
                day.limit_of, day.where, day.shift_start_of, day.shift_end_of, day.longest_of,
                day.soft_of, day.data.span_cost_per_min, board.timed,
                SOFT_PLACES if day.soft else 1, self.settings.tries_per_journey,
                day.times_only_cost_more)
            if drawn >= 0:
                break
            self.blink_draws = np.concatenate([self.blink_draws[self.blinks_used:],
                                               self.blinks.random(BLINKS_AHEAD)])
            self.blinks_used = 0
        self.blinks_used = drawn
        if vehicle < 0:
            return None
        return more, vehicle, stops, times, added, timed


def recreate(data: RoutingInput, routes: Sequence[Sequence[int]],
             settings: RecreateSettings, foreign: bool = False,
             on_best: Callable[[int, int], None] | None = None) -> RecreateOutcome | None:
    """Improve a plan (node ids per vehicle, no start or end) by ruin and recreate.

    None when the plan given breaks a rule this search checks (`_recreate`).

    Where using a vehicle carries a call-out charge, the search first runs without it, then
    from that phase's best plan with it, cold. Why: the charge sits on the run's first leg,
    so a run a ruin empties saves it and one journey put back on an empty run pays it
    whole; with it from the start, crews are only ever stood down, never called out in a
    better place, and the search keeps the crews of its first plan less those it emptied
    (on a 750-journey day it ended with 83-84 crews in every run, phased with 79-84 and
    80 or fewer in five runs of eight; docs/benchmarks.md).

    `on_best(journeys served, cost)` is told of each better plan, as it is found.
    """
    phases = settings.phases() if data.vehicle_cost else None
    if phases is None:
        return _recreate(data, routes, settings, foreign, on_best=on_best)
    free_settings, settle_settings = phases
    # A plan as the charged search counts it, less the charge: each run's first leg to a
    # pickup pays it.
    pickups = {r.pickup_node for r in data.requests}

    def charge(plan: Sequence[Sequence[int]]) -> int:
        return sum(data.vehicle_cost for route in plan if route and route[0] in pickups)

    given = charge(routes)
    # As hot as the charged search would start: colder, it lost a patient on a 750-journey
    # day where the product's runs never did (docs/benchmarks.md).
    free = _recreate(replace(data, vehicle_cost=0), routes, free_settings, foreign,
                     heat_extra=given, on_best=on_best)
    if free is None:
        return None
    start_cost = free.start_cost + given
    settled = _recreate(data, free.routes, settle_settings, on_best=on_best)
    if settled is None:  # the same rules as the free phase's: not expected
        return replace(free, cost=free.cost + charge(free.routes), start_cost=start_cost)
    return RecreateOutcome(settled.routes, settled.cost, start_cost,
                           free.iterations + settled.iterations,
                           free.improvements + settled.improvements)


def _recreate(data: RoutingInput, routes: Sequence[Sequence[int]],
              settings: RecreateSettings, foreign: bool = False,
              heat_extra: int = 0, on_best: Callable[[int, int], None] | None = None
              ) -> RecreateOutcome | None:
    """One phase of ruin and recreate, under `data`'s costs as given.

    The start temperature is a share of the runs' arcs and `heat_extra`.

    None when the plan given breaks a rule this search checks (it then has nothing to start
    from); otherwise the best plan found, which is the one given if nothing was better.
    A `foreign` plan (made outside OR-Tools: the one-at-a-time plan) is repaired first: a
    run that breaks a rule starts without its journeys, and a run with no room for its
    crew's break at a break visit gives up the journeys nearest the break's window; the
    journeys left out are then put back where they fit.
    """
    started = time.monotonic()
    day = _Day(data)
    search = _Search(day, settings)
    runs: list[_Run] = []
    for vehicle, nodes in enumerate(routes):
        run = search.run_of(vehicle, nodes)
        if run is None and foreign:
            run = search.run_of(vehicle, [n for n in nodes if n not in day.request_of])
        if run is None:
            return None
        runs.append(run)
    served = {day.request_of[n] for run in runs for n in run.seq if n in day.pickups}
    left_out = [r for r in range(len(data.requests)) if r not in served]

    def total(candidate: Sequence[_Run], out: Sequence[int]) -> int:
        return (sum(run.cost for run in candidate) + sum(day.penalty[r] for r in out)
                + day.crews_cost(day.crews(candidate)))

    start_cost = total(runs, left_out)
    if foreign:
        given_up: list[int] = []
        for vehicle, run in enumerate(runs):
            runs[vehicle], lost = search.with_room_for_break(vehicle, run)
            given_up += lost
        left_out = _insert(search, runs, sorted(left_out + given_up))
        kept = _keep_links(search, runs, left_out)
        if kept is None:
            return None
        left_out = kept
    else:
        runs = [search.with_break(vehicle, run) for vehicle, run in enumerate(runs)]
    runs = _swapped(search, runs)
    current, current_out = runs, left_out
    current_cost = total(runs, left_out)
    best, best_cost, best_out = runs, current_cost, left_out
    improvements = int(current_cost < start_cost)
    # From the runs' cost alone: left-out journeys' penalties would make it hot enough to
    # give journeys up.
    start_temperature = (settings.start_worse_share
                         * max(1, sum(run.arcs for run in runs) + heat_extra)
                         / math.log(2))
    iterations = 0
    rng = search.rng
    most = (None if settings.max_tries_per_journey is None
            else settings.max_tries_per_journey * max(1, len(data.requests)))
    while (done := _done_share(settings, started, iterations, most)) < 1:
        iterations += 1
        ruin = _choose(search, current, current_out)
        candidate = list(current)
        gone = day.nodes_of(ruin.removed)
        for vehicle, run in enumerate(current):
            if not ruin.removed.isdisjoint(_requests_on(day, run)):
                rebuilt = search.without(vehicle, run, gone)
                if rebuilt is None:  # taking stops off broke a rule: triangle inequality
                    break
                candidate[vehicle] = search.with_break(vehicle, rebuilt)
        else:
            out = _insert(search, candidate, sorted(ruin.removed) + list(current_out),
                          ruin.first, ruin.onto)
            cost = total(candidate, out)
            temperature = start_temperature * 0.001 ** done
            worse = cost - current_cost
            if worse <= 0 or rng.random() < math.exp(-worse / max(temperature, 1e-9)):
                current, current_out, current_cost = candidate, out, cost
                if cost < best_cost:
                    best, best_cost, best_out = candidate, cost, out
                    improvements += 1
                    if on_best is not None:
                        on_best(len(data.requests) - len(out), cost)
    # Exchanging runs serves the same journeys: only the runs' costs change.
    best = _swapped(search, best)
    best_cost = total(best, best_out)
    return RecreateOutcome(tuple(tuple(run.seq[1:-1]) for run in best), best_cost, start_cost,
                           iterations, improvements)


def _swapped(search: _Search, runs: list[_Run]) -> list[_Run]:
    """The runs with whole runs exchanged between vehicles where regulars gain their usual one.

    One journey at a time, a run of regulars moves to their usual vehicle only through
    plans that split it (each a cost): the search seldom gets there, where exchanging two
    vehicles' runs whole, if each vehicle can drive the other's, does it in one step. The
    runs themselves if no exchange is cheaper.
    """
    day = search.day
    if not day.change:
        return runs
    fixed = set(day.data.fixed_visits)
    swapped = list(runs)
    for _ in range(3):
        better = False
        for a, run in enumerate(swapped):
            wanted = {int(b) for n in run.seq if n in day.change
                      for b in np.flatnonzero(day.change[n] == 0) if b != a}
            for b in sorted(wanted):
                pair = _exchanged(search, swapped, a, b, fixed)
                if pair is not None:
                    swapped[a], swapped[b] = pair
                    better = True
        if not better:
            break
    return swapped if any(x is not y for x, y in zip(swapped, runs, strict=True)) else runs


def _exchanged(search: _Search, runs: Sequence[_Run], a: int, b: int, fixed: set[int]
               ) -> tuple[_Run, _Run] | None:
    """Vehicle a's and b's runs exchanged (breaks their own), if that costs less."""
    day = search.day
    own = [[n for n in runs[v].seq[1:-1] if n not in day.data.break_owner] for v in (a, b)]
    if any(n in fixed for stops in own for n in stops):
        return None
    new_a, new_b = search.run_of(a, own[1]), search.run_of(b, own[0])
    if new_a is None or new_b is None:
        return None
    new_a, new_b = search.with_break(a, new_a), search.with_break(b, new_b)
    if new_a.cost + new_b.cost < runs[a].cost + runs[b].cost:
        return new_a, new_b
    return None


def _done_share(settings: RecreateSettings, started: float, iterations: int,
                most: int | None = None) -> float:
    """How much of the search is done: of its iterations if limited, else of its time.

    The time limit ends it either way; within it, a limited search's schedule never reads
    the clock. Without a limit, `most` tries (the day's share of `max_tries_per_journey`)
    end it too: then whichever of time and tries is further along.
    """
    elapsed = (time.monotonic() - started) / settings.time_limit_s
    if settings.max_iterations is None or elapsed >= 1:
        return elapsed if most is None else max(elapsed, iterations / most)
    return iterations / settings.max_iterations


def _choose(search: _Search, runs: Sequence[_Run], out: Sequence[int]) -> _Ruin:
    """Journeys to take off, and those to put back first if any.

    Related (place and time) to a journey on a run, or to one left out (which then goes
    back first, into the room they leave), or at random; or, with regulars asked to ride
    with one crew, a regular's day carried by two crews with room made on one of them
    (`_onto_one_crew`). How many is drawn here, from the journeys on the runs, found in the
    same pass.
    """
    day, rng = search.day, search.rng
    # Rows of request, pickup time, drop-off time; drawn from by row.
    on = (np.concatenate([_rides_on(day, run) for run in runs]) if runs
          else np.empty((0, 3), dtype=np.int64))
    rows = range(on.shape[0])
    if not rows:
        return _Ruin(set())
    settings = search.settings
    most = min(settings.max_removed, max(1, int(len(rows) * settings.max_removed_share)))
    count = rng.randint(min(settings.min_removed, most), most)
    draw = rng.random()
    if draw < RANDOM_REMOVAL:
        picked = on[rng.sample(rows, min(count, len(rows))), 0].tolist()
        return _Ruin(_with_outward(day, set(picked), on))
    requests = day.data.requests
    first = None
    if out and draw < RANDOM_REMOVAL + LEFT_OUT_REMOVAL:
        # A journey left out is wanted where journeys like it are: make room there (its
        # return, if left out too, still goes in before it).
        seed = first = rng.choice(out)
        seed_p = day.lo[requests[seed].pickup_node]
        seed_d = day.lo[requests[seed].dropoff_node]
    elif day.together and draw >= 1 - ONE_CREW_REMOVAL \
            and (ruin := _onto_one_crew(day, rng, runs, on)) is not None:
        return ruin
    else:
        seed, seed_p, seed_d = on[rng.choice(rows)].tolist()
    t = day.transit
    sp, sd = requests[seed].pickup_node, requests[seed].dropoff_node
    distance = (t[sp, day.pickup_node[on[:, 0]]] + t[sd, day.dropoff_node[on[:, 0]]]
                + np.abs(on[:, 1] - seed_p) + np.abs(on[:, 2] - seed_d))
    ranked = on[np.argsort(distance, kind="stable"), 0].tolist()
    chosen: set[int] = set()
    while len(chosen) < min(count, len(ranked)):
        # Mostly the nearest, sometimes further: y^4 leans towards the front of the list.
        index = int(rng.random() ** 4 * len(ranked))
        chosen.add(ranked[index])
    return _Ruin(_with_outward(day, chosen, on), (first,) if first is not None else ())


def _rides_on(day: _Day, run: _Run) -> NDArray[np.int64]:
    """Rows of (request, pickup time, drop-off time), one per journey on a run, by drop-off.

    A journey whose patient is on board when the run starts counts its drop-off's time twice.
    """
    if run.rides is None:
        times = run.times if run.times is not None else np.asarray(run.at, dtype=np.int64)
        run.rides = kernels.rides_of(_nodes(run), times, day.request_at, day.pickup_of,
                                     day.where)
    return run.rides


def _requests_on(day: _Day, run: _Run) -> frozenset[int]:
    """The journeys with a stop on a run (every journey on it has its drop-off there)."""
    if run.requests is None:
        run.requests = frozenset(_rides_on(day, run)[:, 0].tolist())
    return run.requests


def _onto_one_crew(day: _Day, rng: random.Random, runs: Sequence[_Run],
                   on: NDArray[np.int64]) -> _Ruin | None:
    """A regular's day split between crews, taken off to go back on one crew that can carry it.

    One journey at a time, a return moves to the crew that took the patient out only if
    that crew is free when the patient is ready, and the journeys that keep it busy then
    move only if they are cheaper elsewhere: the search seldom gets there in two steps.
    Here the crew's journeys on board near the patient's others are taken off with the
    patient's day, which goes back first onto that crew where it fits. The crew is one of
    the day's own that may carry all of it, else any that may (the shift that took an
    afternoon patient out is often over before their session). None if every regular's day
    rides with one crew, or none could.
    """
    crews = day.crews(runs)
    split = [group for group, (members, _) in enumerate(day.together)
             if day.one_crew_able[group] and len({crews[m] for m in members if m in crews}) > 1]
    if not split:
        return None
    group = rng.choice(split)
    members = sorted((m for m in day.together[group][0] if m in crews),
                     key=lambda m: day.lo[day.data.requests[m].pickup_node])
    able = day.one_crew_able[group]
    own = sorted({crews[m] for m in members} & set(able))
    target = rng.choice(own or able)
    at = {r: (at_p, at_d) for r, at_p, at_d in on.tolist()}
    spans = [(at[m][0] - ONE_CREW_MARGIN_MIN, at[m][1] + ONE_CREW_MARGIN_MIN)
             for m in members if crews[m] != target]
    on_target = {day.request_of[n] for n in runs[target].seq if n in day.request_of}
    room = {r for r in on_target - set(members)
            if any(at[r][0] <= high and at[r][1] >= low for low, high in spans)}
    return _Ruin(_with_outward(day, {*members, *room}, on), tuple(members), target)


def _with_outward(day: _Day, chosen: set[int], on: NDArray[np.int64]) -> set[int]:
    """A return taken off takes its outward journey with it: the pair goes back together.

    `on`: the journeys on the runs, as `_rides_on`'s rows.
    """
    more = set(chosen)
    if not day.out_of:
        return more
    served = set(on[:, 0].tolist())
    while True:
        outward = {day.out_of[r] for r in more if r in day.out_of} & served - more
        if not outward:
            return more
        more |= outward


def _insert(search: _Search, runs: list[_Run], pending: list[int], first: Sequence[int] = (),
            onto: int | None = None) -> list[int]:
    """Put journeys back one at a time, each at its cheapest place; return those that fit nowhere.

    The order is at random or by the pickup's window, so the same journeys meet each other
    in different orders from one try to the next; `first`, if given, go first, in order,
    each to vehicle `onto` if given and any place there is feasible.
    """
    day, rng = search.day, search.rng
    order = list(pending)
    rng.shuffle(order)
    draw = rng.random()
    if draw < WINDOW_ORDER:
        order.sort(key=lambda r: day.lo[day.data.requests[r].pickup_node])
    elif draw < WINDOW_ORDER + FEWEST_OPTIONS_FIRST:
        order.sort(key=lambda r: day.options[r])
    ahead = [r for r in first if r in order]
    order = ahead + [r for r in order if r not in ahead]
    # A return goes in before its outward journey, which goes in only if the return did.
    waiting = set(pending)
    placed: set[int] = set()
    ordered: list[int] = []
    for request in order:
        back = day.back_of.get(request)
        if back in waiting and back not in ordered:
            ordered.append(back)
        if request not in ordered:
            ordered.append(request)
    board: _Board | None = None
    left: list[int] = []
    crews = day.crews(runs)
    for request in ordered:
        back = day.back_of.get(request)
        if back is not None and back in waiting and back not in placed:
            left.append(request)  # its return found no place: the patient is not taken
            continue
        extra = day.crew_extra(request, crews)
        if onto is not None and request in ahead:
            elsewhere = np.full(len(runs), _ELSEWHERE, dtype=np.int64)
            elsewhere[onto] = 0
            extra = elsewhere if extra is None else extra + elsewhere
        if board is None:
            board = search.board(runs)
        best = search.best_insertion(request, board, extra)
        if best is None:
            left.append(request)
            continue
        _, vehicle, stops, times, added, timed = best
        placed.add(request)
        if request in day.groups_of:
            crews[request] = vehicle
        runs[vehicle] = search.with_break(
            vehicle, search.run(vehicle, stops, times, runs[vehicle].arcs + added, timed))
        board.replace(vehicle, search.legs(vehicle, runs[vehicle]), runs[vehicle].timed)
    return sorted(left)


def _keep_links(search: _Search, runs: list[_Run], out: list[int]) -> list[int] | None:
    """Take off every outward journey whose return is not on a run; None if a run then fails.

    (A plan repaired for breaks may have given a return up.)
    """
    day = search.day
    gone = set(out)
    stranded = {o for o, back in day.back_of.items() if o not in gone and back in gone}
    while stranded:
        for vehicle, run in enumerate(runs):
            if any(day.request_of.get(n) in stranded for n in run.seq[1:-1]):
                kept = [n for n in run.seq[1:-1] if day.request_of.get(n) not in stranded]
                rebuilt = search.run_of(vehicle, kept)
                if rebuilt is None:
                    return None
                runs[vehicle] = search.with_break(vehicle, rebuilt)
        gone |= stranded
        stranded = {o for o, back in day.back_of.items() if o not in gone and back in gone}
    return sorted(gone)
