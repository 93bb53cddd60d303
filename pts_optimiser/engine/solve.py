"""Planning a day: diagnose what cannot be planned, build the routing input, read routes back.

Journeys that no vehicle could carry even alone are diagnosed here, before the search,
with a reason a coordinator can act on; the rest go to the routing model, and whatever it
leaves out is explained by which vehicles were busy when.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import random
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import ExitStack
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from pts_optimiser.domain.clock import format_clock
from pts_optimiser.domain.commitments import NOTHING_COMMITTED, Commitments, VehicleStart
from pts_optimiser.domain.config import Config
from pts_optimiser.domain.plan import Event, Plan, Reason, Roster, Stop, Unassigned
from pts_optimiser.domain.problem import (
    Fuel,
    Journey,
    Mobility,
    Need,
    Place,
    Problem,
    VehicleShift,
    incompatibility,
)
from pts_optimiser.engine.decompose import Part, split_by_latitude
from pts_optimiser.engine.fallback import one_at_a_time
from pts_optimiser.engine.misses import lone_trip, nearest_miss, return_fix
from pts_optimiser.engine.model import (
    DAY_MIN,
    LOADS,
    RETIME_BUILDS,
    RETIME_MIN_S,
    RoutingInput,
    RoutingOutcome,
    RoutingRequest,
    RoutingVehicle,
    SearchSettings,
    Visit,
    solve_routing,
    unlinked,
)
from pts_optimiser.engine.places import DayPlaces, day_places
from pts_optimiser.engine.recreate import RecreateSettings, recreate

BREAK_SITE_KINDS = ("acute", "community", "renal_unit")
BREAK_SITES_PER_VEHICLE = 3  # the base plus this many nearby hospitals (ortools-notes: breaks)
ALONE = 100  # patients-on-board capacity; a travel_alone patient fills it
SPLIT_FROM_JOURNEYS = 200  # below this one model is quick enough on one core
MIN_IMPROVE_S = 10.0  # below this, the halves would not repay starting two processes
MERGE_MARGIN_S = 1.0  # for the children to hand their routes back
STRATEGIES = ("split", "single", "portfolio")
# The portfolio's second search, beside the usual one: tabu search over pair moves only.
# Measured on the published dial-a-ride instances (docs/benchmarks.md): guided local search
# stalls within seconds on the tightly windowed days, and tabu search from the same
# construction lands elsewhere, often better, and fitted every request where it did not.
PORTFOLIO_SECOND_METAHEURISTIC = "TABU_SEARCH"
# Each portfolio search gives OR-Tools this share of its time, then hands its plan to ruin
# and recreate (recreate.py) for the rest: OR-Tools stalls within ~15 s of 60 on the
# published instances, and 5 or 10 s of it before ruin and recreate measured alike within
# run-to-run spread (docs/benchmarks.md).
ORTOOLS_SHARE = 1 / 6
# ...but OR-Tools may run on to finish its first plan, up to this share. On a 750-journey
# day its construction takes ~12 s; finished, then ruin and recreate, served 732-734 at 25
# and 40 s a search against 725-730 when cut at 1/6; with only 10 s, cutting it at 1/6
# served 720-722 and at 1/2 712-719, and waiting for it all 651 (benchmarks/README.md).
CONSTRUCTION_SHARE = 1 / 2
MIN_RECREATE_S = 0.5  # below this ruin and recreate would not repay re-timing the plan
# OR-Tools' construction of a 750-journey day took ~12 s on an idle core: expected to take
# longer than its share, the portfolio's second search starts from the one-at-a-time plan.
CONSTRUCT_S_PER_JOURNEY = 12 / 750
# A patient already out whose ride home is left out is left somewhere: dearer than leaving
# out a whole other patient's day (two priority-1 journeys), far below a lost break (10^9).
HOMEWARD_FACTOR = 10
FIXES_S = 1.0  # most time spent finding left-out journeys' nearest misses
OVERRUN_S = 2.0  # past the time limit a search's process is ended and its plan lost


@dataclass(frozen=True)
class SolveOptions:
    """Limits of one solve."""

    time_limit_s: float = 120.0
    first_solution: str = "LOCAL_CHEAPEST_INSERTION"
    metaheuristic: str = "GUIDED_LOCAL_SEARCH"
    # "portfolio": two different searches, one a core each, each OR-Tools then ruin and
    # recreate, the better plan kept; "split": the whole day, then its two halves on two
    # cores; "single": one OR-Tools search on one core. Portfolio is the default: on generated
    # Derbyshire weekdays it served more with fewer km than split (benchmarks/README.md).
    strategy: str = "portfolio"
    seed: int = 0  # 0 keeps the bookings' order; others shuffle the order journeys are offered

    def __post_init__(self) -> None:
        if self.time_limit_s <= 0:
            raise ValueError("time_limit_s must be positive")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}")


ProgressFn = Callable[[int, int, float], None]


@dataclass(frozen=True)
class _Diagnosis:
    allowed: tuple[int, ...]  # vehicle indices that could carry the journey alone
    unassigned: Unassigned | None


def _alone_fits(journey: Journey, vehicle: VehicleShift, places: DayPlaces,
                start: VehicleStart | None = None) -> tuple[bool, bool]:
    """Whether the vehicle could do this journey on its own: (in time, within range)."""
    if start is not None and start.off_road:
        return False, True
    trip = lone_trip(journey, places, start.free_min if start else vehicle.shift_start_min,
                     start.place if start else vehicle.base, vehicle.base)
    in_time = (trip.pickup_min <= journey.pickup_window.latest_min
               and trip.dropoff_min <= journey.dropoff_window.latest_min
               and trip.back_min <= vehicle.shift_end_min)
    if vehicle.range_km is None:
        return in_time, True
    metres = trip.metres + (start.metres if start else 0)
    return in_time, bool(metres <= vehicle.range_km * 1000)


def _kind(journey: Journey) -> str:
    words = [str(journey.mobility)]
    words += [str(n) for n in sorted(journey.needs) if n is not Need.TRAVEL_ALONE]
    return " ".join(words)


def diagnose(journey: Journey, vehicles: Sequence[VehicleShift], places: DayPlaces,
             starts: Sequence[VehicleStart | None] = ()) -> _Diagnosis:
    """Which vehicles could carry this journey alone, or why none can."""
    window = (f"pickup {format_clock(journey.pickup_window.earliest_min)}-"
              f"{format_clock(journey.pickup_window.latest_min)}, drop-off "
              f"{format_clock(journey.dropoff_window.earliest_min)}-"
              f"{format_clock(journey.dropoff_window.latest_min)}")
    reasons = [incompatibility(v, journey) for v in vehicles]
    compatible = [i for i, why in enumerate(reasons) if why is None]
    if not compatible:
        why_not = Counter(reasons)
        detail = "; ".join(f"{n} vehicle(s): {w}" for w, n in why_not.items() if w)
        return _Diagnosis((), Unassigned(journey, Reason.NO_COMPATIBLE_VEHICLE,
                                         f"no vehicle in the fleet can carry a {_kind(journey)} "
                                         f"patient ({detail})"))
    direct = int(places.minutes[places.of(journey.pickup), places.of(journey.dropoff)])
    earliest_arrival = journey.pickup_window.earliest_min + journey.pickup_service_min + direct
    if direct > journey.max_ride_min or earliest_arrival > journey.dropoff_window.latest_min:
        detail = (f"the direct trip takes {direct} min; maximum ride {journey.max_ride_min} min, "
                  f"{window}")
        return _Diagnosis((), Unassigned(journey, Reason.WINDOW_SHORTER_THAN_TRIP, detail))
    fits = {i: _alone_fits(journey, vehicles[i], places, starts[i] if starts else None)
            for i in compatible}
    allowed = tuple(i for i, (in_time, in_range) in fits.items() if in_time and in_range)
    if allowed:
        return _Diagnosis(allowed, None)
    if any(in_time for in_time, _ in fits.values()):
        return _Diagnosis((), Unassigned(
            journey, Reason.BEYOND_EV_RANGE,
            "only electric cars are free for it and the trip from their base and back is "
            "beyond their range"))
    return _Diagnosis((), Unassigned(
        journey, Reason.NO_SHIFT_COVERS_WINDOW,
        f"none of the {len(compatible)} shift(s) that can carry a {_kind(journey)} patient "
        f"can reach it in its window ({window}) and be back at base by the shift's end"))


@dataclass
class _Model:
    """Nodes of the routing input, and what each stands for."""

    place_of_node: list[int]
    service: list[int]
    windows: list[tuple[int, int]]
    loads: dict[str, list[int]]
    journey_of_node: dict[int, Journey]
    event_of_node: dict[int, Event]
    break_site: dict[int, Place]

    def add(self, place: int, service: int, window: tuple[int, int],
            load: tuple[int, int, int, int] = (0, 0, 0, 0)) -> int:
        self.place_of_node.append(place)
        self.service.append(service)
        self.windows.append(window)
        for name, amount in zip(LOADS, load, strict=True):
            self.loads[name].append(amount)
        return len(self.place_of_node) - 1


def _break_sites(problem: Problem, vehicle: VehicleShift) -> list[Place]:
    sites = [Place(s.lat, s.lon, s.name, s.code) for s in problem.sites.values()
             if s.kind in BREAK_SITE_KINDS]
    sites.sort(key=lambda s: (s.lat - vehicle.base.lat) ** 2 + (s.lon - vehicle.base.lon) ** 2)
    return [vehicle.base, *sites[:BREAK_SITES_PER_VEHICLE]]


def _total_load(journeys: Sequence[Journey]) -> tuple[int, int, int, int]:
    loads = [_load(j) for j in journeys]
    return (sum(x[0] for x in loads), sum(x[1] for x in loads), sum(x[2] for x in loads),
            sum(x[3] for x in loads))


def _load(journey: Journey) -> tuple[int, int, int, int]:
    space = journey.space
    patients = ALONE if Need.TRAVEL_ALONE in journey.needs else 1
    return space.seats, space.wheelchairs, space.stretchers, patients


def solve(problem: Problem, options: SolveOptions, progress: ProgressFn | None = None,
          commitments: Commitments = NOTHING_COMMITTED) -> Plan:
    """Plan the day within the time limit; every journey is planned or explained.

    `commitments`: what is already decided (re-planning part-way through the day, crews
    kept, the old plan to start from, rides back owed); see domain.commitments.
    """
    started = time.monotonic()
    starts, keep_on = commitments.starts, commitments.keep_on
    warm, bring_back = commitments.warm, commitments.bring_back
    config = problem.config
    vehicles = problem.vehicles
    begun = [(starts or {}).get(v.vehicle_id) for v in vehicles]
    needs_break = [v.shift_length_min > config.breaks.required_over_min
                   and not (b is not None and b.break_taken) for v, b in zip(vehicles, begun,
                                                                             strict=True)]
    break_places = {i: _break_sites(problem, v) for i, v in enumerate(vehicles) if needs_break[i]}
    extra = [p for sites in break_places.values() for p in sites]
    places = day_places(problem, extra + [p for b in begun if b is not None
                                          for p in (b.place, _last_stop(b))])
    carried = {s.journey.journey_id for b in begun if b is not None for s in b.done
               if s.journey is not None}

    to_plan = [j for j in problem.journeys if j.journey_id not in carried]
    diagnoses = {j.journey_id: diagnose(j, vehicles, places, begun) for j in to_plan}
    returns = return_links(problem, {j.journey_id for j in to_plan})
    # A patient taken somewhere is brought back: an outward journey whose return no vehicle
    # could carry even alone is not planned (nobody is collected to be left there).
    for outward, back in _latest_first(returns):
        missed = diagnoses[back].unassigned
        if missed is not None and diagnoses[outward].unassigned is None:
            diagnoses[outward] = _Diagnosis(diagnoses[outward].allowed, _return_missed(
                next(j for j in to_plan if j.journey_id == outward), missed))
    unassigned = [d.unassigned for d in diagnoses.values() if d.unassigned is not None]
    servable = [j for j in to_plan if diagnoses[j.journey_id].unassigned is None]
    if options.seed:
        # Insertion breaks ties by order: a seed gives another, equally deterministic, search.
        random.Random(options.seed).shuffle(servable)

    model = _Model([], [], [], {name: [] for name in LOADS}, {}, {}, {})
    start_nodes = [
        model.add(places.of(v.base), 0, (v.shift_start_min, v.shift_end_min)) if b is None else
        model.add(places.of(b.place), 0, (b.free_min, max(b.free_min, v.shift_end_min)),
                  _total_load([j for j, _ in b.on_board]))
        for v, b in zip(vehicles, begun, strict=True)]
    ends = [model.add(places.of(v.base), 0, (v.shift_start_min, v.shift_end_min))
            for v in vehicles]
    requests = []
    standards = _standards(config)
    soft_latest: dict[int, tuple[int, int]] = {}
    for journey in servable:
        load = _load(journey)
        pickup = model.add(places.of(journey.pickup), journey.pickup_service_min,
                           (journey.pickup_window.earliest_min, journey.pickup_window.latest_min),
                           load)
        dropoff = model.add(places.of(journey.dropoff), journey.dropoff_service_min,
                            (journey.dropoff_window.earliest_min,
                             journey.dropoff_window.latest_min),
                            (-load[0], -load[1], -load[2], -load[3]))
        model.journey_of_node[pickup] = journey
        model.journey_of_node[dropoff] = journey
        model.event_of_node[pickup] = Event.PICKUP
        model.event_of_node[dropoff] = Event.DROPOFF
        standard = standards.get(journey.purpose)
        if standard is not None and journey.ready_min is not None and standard[1] > 0 \
                and journey.ready_min + standard[0] < journey.pickup_window.latest_min:
            soft_latest[pickup] = (journey.ready_min + standard[0], standard[1])
        requests.append(RoutingRequest(
            pickup, dropoff, journey.max_ride_min,
            config.objective.unserved_cost_by_priority[journey.priority]
            if journey.journey_id not in bring_back
            else HOMEWARD_FACTOR * config.objective.unserved_cost_by_priority[1],
            _kept_on(journey, diagnoses[journey.journey_id].allowed, keep_on, vehicles)))
    fixed_visits: dict[int, int] = {}
    for vehicle_index, begin in enumerate(begun):
        for journey, left_pickup in begin.on_board if begin is not None else ():
            latest = min(journey.dropoff_window.latest_min, left_pickup + journey.max_ride_min)
            earliest = journey.dropoff_window.earliest_min
            load = _load(journey)
            node = model.add(places.of(journey.dropoff), journey.dropoff_service_min,
                             (earliest, max(earliest, latest)),
                             (-load[0], -load[1], -load[2], -load[3]))
            model.journey_of_node[node] = journey
            model.event_of_node[node] = Event.DROPOFF
            fixed_visits[node] = vehicle_index
    break_owner: dict[int, int] = {}
    break_nodes: dict[int, list[int]] = {}
    for vehicle_index, sites in break_places.items():
        vehicle = vehicles[vehicle_index]
        begin = begun[vehicle_index]
        window = (vehicle.shift_start_min + config.breaks.earliest_after_start_min,
                  vehicle.shift_start_min + config.breaks.latest_after_start_min)
        if begin is not None:
            window = (max(window[0], begin.free_min), max(window[1], begin.free_min))
        for site in sites:
            node = model.add(places.of(site), vehicle.break_min, window)
            break_owner[node] = vehicle_index
            model.break_site[node] = site
            model.event_of_node[node] = Event.BREAK
            break_nodes.setdefault(vehicle_index, []).append(node)

    node_places = np.asarray(model.place_of_node)
    driven_m = [b.metres if b is not None else 0 for b in begun]
    # Re-planning: a vehicle is free only once its kept stops are done.
    free_at = [b.free_min if b is not None else v.shift_start_min
               for v, b in zip(vehicles, begun, strict=True)]
    routing_vehicles = [
        RoutingVehicle(
            start_node=start_nodes[i], end_node=ends[i], shift_start_min=free_at[i],
            shift_end_min=v.shift_end_min,
            capacity={"seats": v.capacity.seats, "wheelchairs": v.capacity.wheelchairs,
                      "stretchers": v.capacity.stretchers, "patients": ALONE},
            range_m=(int(v.range_km * 1000) - driven_m[i] if v.range_km is not None else None),
            km_cost=config.objective.km_cost_by_fuel[str(v.fuel)],
            break_nodes=tuple(break_nodes.get(i, ())), max_duration_min=v.max_duration_min)
        for i, v in enumerate(vehicles)]
    data = RoutingInput(
        travel_min=places.minutes[np.ix_(node_places, node_places)],
        distance_m=places.metres[np.ix_(node_places, node_places)],
        service_min=model.service, windows=model.windows, loads=model.loads,
        vehicles=routing_vehicles, requests=requests, break_owner=break_owner,
        fixed_visits=fixed_visits,
        links=_request_links(returns, servable),
        soft_latest=soft_latest,
        vehicle_cost=config.objective.vehicle_cost,
        span_cost_per_min=config.objective.shift_minute_cost,
        horizon_min=max([DAY_MIN, *(w[1] for w in model.windows)]))
    fallback: tuple[list[Roster], list[Journey]] | None = None
    start: list[list[int]] | None = None
    if requests or fixed_visits:
        # Never an empty plan: one journey at a time needs no search and keeps every rule. It
        # is the plan to beat, and where ruin and recreate starts if OR-Tools has none.
        fallback = one_at_a_time(problem, places, {j.journey_id: diagnoses[j.journey_id].allowed
                                                   for j in servable}, begun, returns)
        start = _routes_of(fallback[0], vehicles, model, break_nodes)
    remaining = options.time_limit_s - (time.monotonic() - started)
    settings = SearchSettings(max(1.0, remaining), options.first_solution, options.metaheuristic)
    outcome: RoutingOutcome | None = None
    if remaining < _least_search_s(data):
        pass  # the search would still be building its model when the time is up
    elif warm and (requests or fixed_visits):
        routes = _warm_routes(warm, vehicles, model, break_nodes)
        outcome = solve_routing(data, settings, initial_routes=routes, on_solution=progress)
    elif requests and options.strategy == "split" and len(requests) >= SPLIT_FROM_JOURNEYS:
        middle = [(j.pickup.lat + j.dropoff.lat) / 2 for j in servable]
        outcome = _whole_then_halves(data, middle, [v.base.lat for v in vehicles], settings,
                                     progress)
    elif requests and options.strategy == "portfolio":
        outcome = _portfolio(data, settings, progress, options.seed, start)
    elif requests or fixed_visits:
        outcome = solve_routing(data, settings, on_solution=progress)
    rosters, left_out = _read_routes(problem, outcome, model, data, begun)
    searched = len({j.journey_id for r in rosters for j in r.journeys})
    status = outcome.status if outcome else ("nothing to plan" if fallback is None
                                             else "fallback: one at a time")
    # The model keeps the round-trip rule; a shift emptied for a lost break could still
    # leave a patient somewhere: such a plan is never used.
    left_somewhere = _left_somewhere(rosters, returns)
    if left_somewhere and fallback is not None:
        outcome = None
        status = (f"fallback: one at a time, the search's plan left {len(left_somewhere)} "
                  "patient(s) without their return")
    if fallback is not None and (outcome is None or _fallback_better(
            problem, fallback[0], rosters, strictly_more=bool(warm), bring_back=bring_back)):
        rosters, left_out = fallback
        if outcome is not None:
            status = f"fallback: one at a time, kept over the search's plan of {searched}"
        unassigned += [Unassigned(j, Reason.NO_PLAN_FOUND,
                                  "the search found no plan in the time given that serves more "
                                  "than the simple one-at-a-time plan, which could not fit it; "
                                  "run again with a longer --time-limit") for j in left_out]
    else:
        unassigned += [_no_capacity(j, vehicles, diagnoses[j.journey_id].allowed, rosters)
                       for j in left_out]
    unassigned = _returns_first(unassigned, returns)
    rosters = [_from_last_stop(r, b, places) for r, b in
               zip(rosters, [(starts or {}).get(r.vehicle.vehicle_id) for r in rosters],
                   strict=True)]
    unassigned = _with_fixes(unassigned, vehicles, places, rosters, diagnoses, returns)
    search = {"status": status,
              "objective": outcome.objective if outcome else None,
              "solutions": outcome.solutions if outcome else 0,
              "strategy": options.strategy,
              "servable": len(servable),
              "carried": len(carried),
              "travel": problem.config.travel.provider}
    if fallback is not None:
        search["fallback_served"] = len({j.journey_id for r in fallback[0] for j in r.journeys})
    if places.warning:
        search["travel_warning"] = places.warning
    return Plan(problem, tuple(rosters), tuple(unassigned), time.monotonic() - started, search)


def return_links(problem: Problem, ids: set[str] | None = None) -> dict[str, str]:
    """Outward journey id -> the id of its return, among `ids` (all journeys if None).

    Empty when the policy allows an outward journey without its return.
    """
    if problem.config.linked.allow_outward_without_return:
        return {}
    known = {j.journey_id for j in problem.journeys} if ids is None else ids
    return {j.return_of: j.journey_id for j in problem.journeys
            if j.return_of is not None and j.return_of in known and j.journey_id in known}


def _latest_first(returns: Mapping[str, str]) -> list[tuple[str, str]]:
    """The links, a later trip's before the one leading to it (a day of several trips)."""
    done: list[tuple[str, str]] = []
    seen: set[str] = set()

    def visit(outward: str) -> None:
        if outward in seen:
            return
        seen.add(outward)
        back = returns[outward]
        if back in returns:
            visit(back)
        done.append((outward, back))

    for outward in returns:
        visit(outward)
    return done


def _return_missed(outward: Journey, back: Unassigned) -> Unassigned:
    """The outward journey of a patient whose way back cannot be planned."""
    return Unassigned(outward, Reason.RETURN_NOT_PLANNABLE,
                      f"the patient's return, journey {back.journey.journey_id}, cannot be "
                      f"planned ({back.text}); nobody is taken there to be left there")


def _returns_first(unassigned: Sequence[Unassigned], returns: Mapping[str, str]
                   ) -> list[Unassigned]:
    """Outward journeys left out with their return: the return's reason is theirs."""
    by_id = {u.journey.journey_id: u for u in unassigned}
    for outward, back in _latest_first(returns):
        if outward in by_id and back in by_id \
                and by_id[outward].reason in (Reason.NO_CAPACITY, Reason.NO_PLAN_FOUND):
            by_id[outward] = _return_missed(by_id[outward].journey, by_id[back])
    return [by_id[u.journey.journey_id] for u in unassigned]


def _left_somewhere(rosters: Sequence[Roster], returns: Mapping[str, str]) -> list[str]:
    """Outward journeys planned whose return is not: patients the plan would leave there."""
    planned = {j.journey_id for r in rosters for j in r.journeys}
    return sorted(out for out, back in returns.items() if out in planned and back not in planned)


def _request_links(returns: Mapping[str, str], servable: Sequence[Journey]
                   ) -> tuple[tuple[int, int], ...]:
    """The links as (outward, return) request indices of the routing input."""
    index = {j.journey_id: i for i, j in enumerate(servable)}
    return tuple(sorted((index[out], index[back]) for out, back in returns.items()
                        if out in index and back in index))


def _standards(config: Config) -> dict[str, tuple[int, int]]:
    """Per purpose: (minutes after ready the standard allows, cost per minute beyond)."""
    return {"dialysis": (config.kpi.renal_collect_within_min,
                         config.standards.renal_collect_cost_per_min),
            "discharge": (config.kpi.discharge_collect_within_min,
                          config.standards.discharge_collect_cost_per_min)}


def _last_stop(begin: VehicleStart) -> Place:
    return Place(begin.done[-1].lat, begin.done[-1].lon)


def _from_last_stop(roster: Roster, begin: VehicleStart | None, places: DayPlaces) -> Roster:
    """A vehicle that turned back on the road: its first new leg, as a run sheet shows it.

    The search planned it from where it turned (`turned_at`, at the call); the run sheet
    has no such stop, so the leg reads from its last stop, with that leg's road distance.
    The drive there and on took longer than the leg alone, so no time is lost.
    """
    if begin is None or begin.turned_at is None or len(roster.stops) <= len(begin.done):
        return roster
    stops = list(roster.stops)
    first = stops[len(begin.done)]
    metres = int(places.metres[places.of(_last_stop(begin)),
                               places.of(Place(first.lat, first.lon))])
    stops[len(begin.done)] = replace(first, leg_m=metres)
    return replace(roster, stops=tuple(stops))


def _with_fixes(unassigned: Sequence[Unassigned], vehicles: Sequence[VehicleShift],
                places: DayPlaces, rosters: Sequence[Roster],
                diagnoses: Mapping[str, _Diagnosis],
                returns: Mapping[str, str] | None = None) -> list[Unassigned]:
    """Each left-out journey with its nearest miss, most urgent first, for FIXES_S at most.

    (About 10 ms a journey on a 750-journey day: a day the search failed on could have
    hundreds left out, and the plan must still be written on time.)
    """
    until = time.monotonic() + FIXES_S
    fixed = {}
    for left in sorted(unassigned, key=lambda u: u.journey.priority):
        if time.monotonic() > until:
            break
        if not left.fix:
            diagnosis = diagnoses.get(left.journey.journey_id)
            fixed[id(left)] = replace(left, fix=nearest_miss(
                left, vehicles, places, rosters, diagnosis.allowed if diagnosis else ()))
    done = [fixed.get(id(left), left) for left in unassigned]
    # An outward journey left out for its return: what would plan the return plans it.
    by_id = {u.journey.journey_id: u for u in done}
    for outward, back in _latest_first(returns or {}):
        if outward in by_id and back in by_id \
                and by_id[outward].reason is Reason.RETURN_NOT_PLANNABLE:
            by_id[outward] = replace(by_id[outward], fix=return_fix(by_id[back]))
    return [by_id[u.journey.journey_id] for u in done]


def planned_share(plan: Plan | Mapping[str, Any]) -> float:
    """Share of the servable journeys a plan carries: of a Plan, or of its summary figures.

    Journeys made before a re-plan count on neither side; 1.0 when nothing was servable.
    """
    if isinstance(plan, Plan):
        served, search = len({j.journey_id for j in plan.planned}), plan.search
    else:
        served, search = int(plan["served"]), plan.get("search") or {}
    servable = search.get("servable", None if isinstance(plan, Plan) else plan.get("servable"))
    carried = search.get("carried", 0)
    if not isinstance(servable, int) or servable <= 0:
        return 1.0
    return min(1.0, max(0, served - (carried if isinstance(carried, int) else 0)) / servable)


def below_alert(plan: Plan | Mapping[str, Any], config: Config | None = None) -> bool:
    """Whether a plan serves less than the policy's alert share of the servable journeys.

    The judgement `pts solve` (ExitCode.LOW_SERVICE) and the nightly run share. Such a plan
    is written all the same, every journey left out listed with its reason, but somebody
    should look. `config` is the plan's own unless given (needed with summary figures).
    """
    if config is None:
        if not isinstance(plan, Plan):
            raise TypeError("below_alert needs the config with a plan's summary figures")
        config = plan.problem.config
    return planned_share(plan) < config.alerts.min_planned_share


def _least_search_s(data: RoutingInput) -> float:
    """Below this many seconds a search is not started: its model alone would take half.

    (A 150-journey day's model takes 0.2 s and OR-Tools builds its first plan in a second;
    a 750-journey day's model 1.2-2.4 s, and its first plan ~12 s.)
    """
    return 2 * _model_s_guess(data)


def _routes_of(rosters: Sequence[Roster], vehicles: Sequence[VehicleShift], model: _Model,
               break_nodes: Mapping[int, Sequence[int]]) -> list[list[int]]:
    """Rosters made outside the search as node ids of the model, per vehicle.

    Stops the model has no node for (made before a re-plan; a break where no break visit
    is) are left out: ruin and recreate puts a missing break back.
    """
    runs = {r.vehicle.vehicle_id: [(s.event, s.journey.journey_id if s.journey else "",
                                    Place(s.lat, s.lon, s.label)) for s in r.stops
                                   if s.event in (Event.PICKUP, Event.DROPOFF, Event.BREAK)]
            for r in rosters}
    return _warm_routes(runs, vehicles, model, break_nodes)


def _fallback_better(problem: Problem, fallback: Sequence[Roster], rosters: Sequence[Roster],
                     strictly_more: bool = False, bring_back: Collection[str] = ()) -> bool:
    """Whether the one-at-a-time plan beats the search's: serving more, then cheaper.

    Rides back for patients already taken out (`bring_back`) count first: a plan serving more
    journeys by leaving one of them somewhere is worse. `strictly_more` (re-planning from the
    old plan): only by serving more, since the search's plan keeps crews on the journeys
    they had.
    """
    ours = {j.journey_id for r in fallback for j in r.journeys}
    theirs = {j.journey_id for r in rosters for j in r.journeys}
    home, other_home = len(ours & set(bring_back)), len(theirs & set(bring_back))
    if home != other_home:
        return home > other_home
    served, other = len(ours), len(theirs)
    if served != other or strictly_more:
        return served > other
    return _cost(problem, fallback) < _cost(problem, rosters)


def _cost(problem: Problem, rosters: Sequence[Roster]) -> float:
    """What the objective counts of a plan's rosters: km by fuel, call-outs, time on shift."""
    weights = problem.config.objective
    total = 0.0
    for roster in rosters:
        if not roster.used:
            continue
        total += roster.distance_m / 1000 * weights.km_cost_by_fuel[str(roster.vehicle.fuel)]
        total += weights.vehicle_cost + weights.shift_minute_cost * (
            roster.stops[-1].arrival_min - roster.stops[0].departure_min)
    return total


def _warm_routes(warm: Mapping[str, Sequence[tuple[Event, str, Place]]],
                 vehicles: Sequence[VehicleShift], model: _Model,
                 break_nodes: Mapping[int, Sequence[int]]) -> list[list[int]]:
    """The old runs as node ids of this model; stops it no longer has are left out."""
    node_of = {(model.event_of_node[n], j.journey_id): n for n, j in model.journey_of_node.items()}
    routes: list[list[int]] = []
    for index, vehicle in enumerate(vehicles):
        route: list[int] = []
        for event, journey_id, place in warm.get(vehicle.vehicle_id, ()):
            if event is Event.BREAK:
                same = [n for n in break_nodes.get(index, ())
                        if (model.break_site[n].lat, model.break_site[n].lon)
                        == (place.lat, place.lon)]
                route += same[:1]
            elif (event, journey_id) in node_of:
                route.append(node_of[(event, journey_id)])
        routes.append(route)
    return routes


def _kept_on(journey: Journey, allowed: tuple[int, ...], keep_on: Mapping[str, str] | None,
             vehicles: Sequence[VehicleShift]) -> tuple[int, ...]:
    """The vehicles a journey may go on: its crew's alone, when it stays with them."""
    vehicle_id = (keep_on or {}).get(journey.journey_id)
    same = tuple(i for i in allowed if vehicles[i].vehicle_id == vehicle_id)
    return same or allowed


def _pools(stack: ExitStack, count: int) -> list[ProcessPoolExecutor]:
    """One single-process pool per search, closed with the stack.

    Forked, so the children share the parent's memory and start their own solvers. A child
    that dies breaks only its own pool: in a shared pool it would fail the other's future.
    """
    fork = multiprocessing.get_context("fork")
    return [stack.enter_context(ProcessPoolExecutor(1, mp_context=fork, initializer=_end_with,
                                                    initargs=(os.getpid(),)))
            for _ in range(count)]


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
WATCH_PARENT_S = 1.0


def _end_with(parent: int) -> None:
    """In a search process: end when `parent` does, even if it is killed with SIGKILL.

    A search process holds 130-145 MB and would otherwise search on, orphaned, for as long
    as its time limit. On Linux the kernel kills it when its parent dies; a thread watching
    the parent's id is the backstop elsewhere (and while OR-Tools holds the interpreter it
    waits, but the kernel's signal does not).
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before the signal was asked for
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True,
                     name="pts-watch-parent").start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(WATCH_PARENT_S)
    os._exit(1)


def _improve_part(part: Part, settings: SearchSettings) -> RoutingOutcome | None:
    return solve_routing(part.data, settings, initial_routes=part.initial_routes)


def _whole_then_halves(data: RoutingInput, request_lat: Sequence[float],
                       vehicle_lat: Sequence[float], settings: SearchSettings,
                       progress: ProgressFn | None) -> RoutingOutcome | None:
    """Construct the whole day on one core, then improve its two halves on two cores."""
    started = time.monotonic()
    first = solve_routing(data, replace(settings, solution_limit=1), on_solution=progress)
    if first is None:
        return None
    if progress is not None:
        progress(_served(first, data), first.objective, time.monotonic() - started)
    parts = split_by_latitude(data, request_lat, vehicle_lat, start=first)
    remaining = settings.time_limit_s - (time.monotonic() - started)
    if remaining < MIN_IMPROVE_S or len(parts) < 2:
        return first
    halves = replace(settings, time_limit_s=remaining - MERGE_MARGIN_S)
    with ExitStack() as stack:
        pools = _pools(stack, len(parts))
        futures = [pool.submit(_improve_part, part, halves)
                   for pool, part in zip(pools, parts, strict=True)]
        deadline = started + settings.time_limit_s + OVERRUN_S
        while wait(futures, timeout=1.0).not_done and time.monotonic() < deadline:
            if progress is not None:  # the halves report nothing until they finish
                progress(_served(first, data), first.objective, time.monotonic() - started)
        _await(pools, futures, deadline)
        outcomes = [_result_or_none(future) for future in futures]
    merged = _merged_outcome(data, parts, outcomes, first)
    if progress is not None:
        progress(_served(merged, data), merged.objective, time.monotonic() - started)
    return merged


def _search(data: RoutingInput, settings: SearchSettings, seed: int,
            start: Sequence[Sequence[int]] | None = None,
            construct: bool = True) -> RoutingOutcome | None:
    """One portfolio search: OR-Tools for a share of the time, then ruin and recreate.

    OR-Tools' share ends no sooner than its first plan, unless building that plan takes more
    than half the time. Then ruin and recreate starts from `start` (the one-at-a-time plan,
    as node ids per vehicle) and has the rest; without one OR-Tools takes the rest. With
    `construct` false ruin and recreate starts from `start` at once, with all the time.
    A start plan that serves more than OR-Tools' first plan is the one improved.
    """
    started = time.monotonic()
    timings: dict[str, float] = {}
    first = None
    if construct or start is None:
        first = solve_routing(data, replace(
            settings, time_limit_s=max(1.0, settings.time_limit_s * CONSTRUCTION_SHARE),
            stop_after_s=max(1.0, settings.time_limit_s * ORTOOLS_SHARE)), timings=timings)
    remaining = settings.time_limit_s - (time.monotonic() - started)
    if start is not None and (first is None or _served_in(_framed(start, data), data)
                              > _served(first, data)):
        return _recreated(data, first, remaining, seed, start=start,
                          model_s=timings.get("model_s"))
    if first is None:  # no plan at all by then: OR-Tools takes the rest
        if remaining < 1.0:
            return None
        return solve_routing(data, replace(settings, time_limit_s=remaining))
    return _recreated(data, first, remaining, seed)


def _framed(routes: Sequence[Sequence[int]], data: RoutingInput) -> list[list[Visit]]:
    """Node routes as visits (times unknown), for counting what they serve."""
    return [[Visit(node, 0) for node in route] for route in routes]


def _model_s_guess(data: RoutingInput) -> float:
    """Seconds to build the OR-Tools model, where it was not built to measure.

    Measured 1.2 s on an idle core and 2.1-2.4 s on a busy machine for a 750-journey day
    (about 2,000 nodes): a second per thousand nodes.
    """
    return len(data.service_min) / 1000


def _recreated(data: RoutingInput, first: RoutingOutcome | None, seconds: float,
               seed: int, start: Sequence[Sequence[int]] | None = None,
               model_s: float | None = None) -> RoutingOutcome | None:
    """The plan after ruin and recreate, timed and accepted by the OR-Tools model; else `first`.

    Ruin and recreate starts from `start` if given, else from `first`'s routes. The time
    kept back for the model to time the new routes is RETIME_BUILDS times what building it
    took, at least RETIME_MIN_S.
    """
    built_s = first.model_s if first is not None else (model_s or _model_s_guess(data))
    # A plan ruin and recreate found is lost if timing it runs out of time: be generous
    # (it stops as soon as the routes are timed). With round trips timing a 750-journey day
    # took 2.4 s where building the model took 1.2 s, and 2 x the build lost every plan.
    retime_s = max(RETIME_MIN_S, RETIME_BUILDS * built_s)
    search_s = seconds - retime_s
    if search_s < MIN_RECREATE_S or not data.requests:
        return first
    if start is not None:
        routes = [list(route) for route in start]
    elif first is not None:
        routes = [[visit.node for visit in route[1:-1]] for route in first.routes]
    else:
        return None
    found = recreate(data, routes, RecreateSettings(search_s, seed=seed),
                     foreign=start is not None)
    if found is None or (first is not None and found.cost >= found.start_cost):
        return first
    timed = solve_routing(data, SearchSettings(retime_s, solution_limit=1),
                          initial_routes=found.routes, warm_only=True)
    if timed is None:
        return first
    if first is None:
        return replace(timed, status="one at a time, then ruin and recreate",
                       seconds=search_s + timed.seconds, solutions=found.improvements)
    # The model is the judge: the new plan is kept only if it takes the routes with every
    # rule, counts them cheaper and they serve no fewer journeys.
    if _served(timed, data) < _served(first, data) or timed.objective >= first.objective:
        return first
    status = ("one at a time" if start is not None else first.status) + ", then ruin and recreate"
    return replace(timed, status=status, seconds=first.seconds + search_s + timed.seconds,
                   solutions=first.solutions + found.improvements, model_s=first.model_s)


def _portfolio(data: RoutingInput, settings: SearchSettings, progress: ProgressFn | None,
               seed: int = 0, start: Sequence[Sequence[int]] | None = None
               ) -> RoutingOutcome | None:
    """The usual search and a second one (tabu search, pair moves only), one a core each.

    Each hands its plan to ruin and recreate (seeds 2*seed and 2*seed+1) for most of the
    time; where OR-Tools has no plan by its share's end, ruin and recreate starts from
    `start` (the one-at-a-time plan). When OR-Tools could not be expected to build its plan
    in time, the second search starts from `start` at once, so one core at least uses all
    the time. The better plan is kept: serving more, then cheaper. A search whose process
    fails, or runs past the time limit, leaves the other's plan.
    """
    started = time.monotonic()
    each = replace(settings, time_limit_s=max(1.0, settings.time_limit_s - MERGE_MARGIN_S))
    variants = [each, replace(each, metaheuristic=PORTFOLIO_SECOND_METAHEURISTIC,
                              pair_moves_only=True)]
    quick = (start is None or len(data.requests) * CONSTRUCT_S_PER_JOURNEY
             <= each.time_limit_s * CONSTRUCTION_SHARE)
    with ExitStack() as stack:
        pools = _pools(stack, len(variants))
        futures = [pool.submit(_search, data, variant, 2 * seed + arm, start, arm == 0 or quick)
                   for arm, (pool, variant) in enumerate(zip(pools, variants, strict=True))]
        _await(pools, futures, started + settings.time_limit_s + OVERRUN_S)
        finished = [(variant, outcome) for variant, future in zip(variants, futures, strict=True)
                    if (outcome := _result_or_none(future)) is not None]
    if not finished:
        return None
    # The objective counts a left-out journey's penalty, so the lower one also serves more
    # unless the penalties are zero: count served first to keep the promise either way.
    kept, best = max(finished, key=lambda pair: (_served(pair[1], data), -pair[1].objective))
    if progress is not None:
        progress(_served(best, data), best.objective, time.monotonic() - started)
    search = kept.metaheuristic.lower().replace("_", " ")
    if best.status.startswith("one at a time"):
        search = "ruin and recreate"
    return replace(best, status=f"portfolio: {search} kept ({best.status})",
                   solutions=sum(outcome.solutions for _, outcome in finished))


def _await(pools: Sequence[ProcessPoolExecutor], futures: Sequence[Future[RoutingOutcome | None]],
           deadline: float) -> None:
    """Wait for the searches until `deadline`; end the processes of those still running.

    OR-Tools can run well past its time limit (106 s on a 60 s limit at 1,000+ nodes) and
    a loaded machine slows everything: the plan of a search still running then is lost,
    but the command ends on time with the other's, or the one-at-a-time plan.
    """
    wait(futures, timeout=max(0.0, deadline - time.monotonic()))
    for pool, future in zip(pools, futures, strict=True):
        if not future.done():
            for process in list(pool._processes.values()):  # no public way to end one
                process.kill()


def _result_or_none(future: Future[RoutingOutcome | None]) -> RoutingOutcome | None:
    """None for a search whose process failed: the caller keeps the plan it has, and writes it.

    (A half keeps the whole-day routes; a portfolio search leaves the other's plan.)
    """
    try:
        return future.result()
    except (BrokenProcessPool, OSError, MemoryError):
        return None


def _served(outcome: RoutingOutcome, data: RoutingInput) -> int:
    return _served_in(outcome.routes, data)


def _merged_outcome(data: RoutingInput, parts: Sequence[Part],
                    outcomes: Sequence[RoutingOutcome | None],
                    first: RoutingOutcome) -> RoutingOutcome:
    """The whole day from the improved halves; a half that failed keeps its first routes."""
    routes = list(first.routes)
    for part, outcome in zip(parts, outcomes, strict=True):
        if outcome is None:
            continue
        for local, route in enumerate(outcome.routes):
            routes[part.vehicle_in_whole[local]] = tuple(
                Visit(part.node_in_whole[visit.node], visit.start_min) for visit in route)
    if _served_in(routes, data) < _served(first, data):
        return first  # cannot happen with warm starts; kept as a guard for the promise
    if unlinked(data, _served_requests(routes, data)):
        return first  # a half knows only its own links: never leave a patient there
    objective = (sum(o.objective for o in outcomes if o) if all(outcomes)
                 else first.objective)
    return RoutingOutcome(tuple(routes), objective, "whole day, then halves", first.seconds,
                          first.solutions + sum(o.solutions for o in outcomes if o))


def _served_requests(routes: Sequence[Sequence[Visit]], data: RoutingInput) -> set[int]:
    request_of = {r.pickup_node: i for i, r in enumerate(data.requests)}
    return {request_of[v.node] for route in routes for v in route if v.node in request_of}


def _served_in(routes: Sequence[Sequence[Visit]], data: RoutingInput) -> int:
    pickups = {r.pickup_node for r in data.requests}
    return sum(visit.node in pickups for route in routes for visit in route)


def _read_routes(problem: Problem, outcome: RoutingOutcome | None, model: _Model,
                 data: RoutingInput, begun: Sequence[VehicleStart | None]
                 ) -> tuple[list[Roster], list[Journey]]:
    """Rosters from the solver's routes; journeys it left out.

    A used shift that lost its required break (the solver pays a huge penalty first)
    is emptied rather than written: its journeys go back to unassigned.
    """
    config = problem.config
    planned: set[str] = set()
    rosters: list[Roster] = []
    for vehicle_index, vehicle in enumerate(problem.vehicles):
        route = outcome.routes[vehicle_index] if outcome else ()
        begin = begun[vehicle_index]
        fresh = begin is None or begin.idle  # nothing kept from before a re-plan
        if not route and begin is not None and not begin.idle:  # no search ran: back to base
            ends = data.vehicles[vehicle_index]
            route = (Visit(ends.start_node, begin.free_min),
                     Visit(ends.end_node, begin.free_min
                           + int(data.travel_min[ends.start_node, ends.end_node])))
        if not any(v.node in model.journey_of_node for v in route) and fresh:
            continue
        has_break = any(v.node in data.break_owner for v in route) or (
            begin is not None and begin.break_taken)
        if vehicle.shift_length_min > config.breaks.required_over_min and not has_break \
                and fresh:
            continue
        rosters.append(_roster(vehicle, route, model, data, begin))
        planned.update(j.journey_id for j in rosters[-1].journeys)
    left_out = [j for j in model.journey_of_node.values() if j.journey_id not in planned]
    unique = list({j.journey_id: j for j in left_out}.values())
    return rosters, unique


def _roster(vehicle: VehicleShift, route: Sequence[Visit], model: _Model,
            data: RoutingInput, begin: VehicleStart | None = None) -> Roster:
    stops: list[Stop] = list(begin.done) if begin is not None else []
    aboard = [j.space for j, _ in begin.on_board] if begin is not None else []
    on_board = [sum(s.seats for s in aboard), sum(s.wheelchairs for s in aboard),
                sum(s.stretchers for s in aboard)]
    previous_node = -1
    departure = 0
    for position, visit in enumerate(route):
        if position == 0 and begin is not None:
            # The start node stands for where the vehicle is: its stops so far are kept.
            previous_node, departure = visit.node, begin.free_min
            continue
        node, start = visit.node, visit.start_min
        journey = model.journey_of_node.get(node)
        if position == 0:
            event = Event.START
        elif position == len(route) - 1:
            event = Event.END
        else:
            event = model.event_of_node[node]
        if position == 0:
            leg_m, arrival = 0, start
        else:
            leg_m = int(data.distance_m[previous_node, node])
            arrival = departure + int(data.travel_min[previous_node, node])
        service_start = start if event is not Event.END else arrival
        departure = service_start + (data.service_min[node] if event is not Event.END else 0)
        if journey is not None:
            sign = 1 if event is Event.PICKUP else -1
            space = journey.space
            on_board = [on_board[0] + sign * space.seats, on_board[1] + sign * space.wheelchairs,
                        on_board[2] + sign * space.stretchers]
        place = _place_of(vehicle, event, journey, model, node)
        stops.append(Stop(event, place.lat, place.lon, place.label, arrival, service_start,
                          departure, leg_m, on_board[0], on_board[1], on_board[2], journey))
        previous_node = node
    kept = len(begin.done) if begin is not None and not begin.idle else 0
    return Roster(vehicle, tuple(_wait_before_leaving(stops, kept)))


def _wait_before_leaving(stops: list[Stop], kept: int = 0) -> list[Stop]:
    """Place each wait where a crew would take it.

    The solver only says when service starts; a vehicle early for a drop-off, a break or
    its first stop waits before setting off instead (a patient is handed over on arrival,
    not kept on board outside the clinic). Early for a pickup, it waits at the door.
    Every leg still takes its full travel time and every service start is unchanged. The
    first `kept` stops (already made when re-planning) are not moved.
    """
    for k in range(max(1, kept + 1), len(stops)):
        stop = stops[k]
        wait = stop.service_start_min - stop.arrival_min
        if wait > 0 and ((k == 1 and kept == 0) or stop.event in (Event.DROPOFF, Event.BREAK)):
            before = stops[k - 1]
            if k == 1:  # leave the base later rather than as the shift opens
                before = replace(before, arrival_min=before.arrival_min + wait,
                                 service_start_min=before.service_start_min + wait)
            stops[k - 1] = replace(before, departure_min=before.departure_min + wait)
            stops[k] = replace(stop, arrival_min=stop.service_start_min)
    return stops


def _place_of(vehicle: VehicleShift, event: Event, journey: Journey | None, model: _Model,
              node: int) -> Place:
    if event is Event.PICKUP and journey:
        return journey.pickup
    if event is Event.DROPOFF and journey:
        return journey.dropoff
    if event is Event.BREAK:
        return model.break_site[node]
    return Place(vehicle.base.lat, vehicle.base.lon, vehicle.base.label or "base",
                 vehicle.base.site)


def _no_capacity(journey: Journey, vehicles: Sequence[VehicleShift], allowed: Sequence[int],
                 rosters: Sequence[Roster]) -> Unassigned:
    """Which resource ran out, and when: the vehicles that could carry it were all busy."""
    window_start = journey.pickup_window.earliest_min
    window_end = journey.dropoff_window.latest_min
    by_id = {r.vehicle.vehicle_id: r for r in rosters}
    busy = 0
    for index in allowed:
        roster = by_id.get(vehicles[index].vehicle_id)
        if roster and roster.stops[0].departure_min <= window_end \
                and roster.stops[-1].arrival_min >= window_start:
            busy += 1
    kind = "stretcher" if journey.mobility is Mobility.STRETCHER else (
        "wheelchair" if journey.mobility is Mobility.WHEELCHAIR else "seated")
    electric = sum(vehicles[i].fuel is Fuel.ELECTRIC for i in allowed)
    detail = (f"no room on the {len(allowed)} shift(s) that could carry this {kind} journey "
              f"{format_clock(window_start)}-{format_clock(window_end)} ({electric} of them "
              f"electric): {busy} were carrying other patients then, the rest could not fit it "
              "between their other work, break and shift end")
    return Unassigned(journey, Reason.NO_CAPACITY, detail)
