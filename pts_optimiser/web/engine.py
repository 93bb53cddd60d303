"""The planning board's engine: a day's runs as stop orders, timed and checked exactly.

A run is kept as the order of its stops only (pickups, drop-offs, the crew's break); its
times come from the engine's exact check (`recreate.RunCheck`) over a routing input built
for that one vehicle as `solve` builds the day's, so a run changed by hand keeps the same
rules a solved one does, and is written by the same roster code. No web framework here.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from pts_optimiser.model import DAY_MIN, LOADS, RoutingInput, RoutingRequest, RoutingVehicle, Visit
from pts_optimiser.parse import format_clock
from pts_optimiser.places import DayPlaces, day_places
from pts_optimiser.plan import Event, Plan, Reason, Roster, Unassigned
from pts_optimiser.problem import Journey, Place, Problem, VehicleShift, incompatibility
from pts_optimiser.recreate import RunCheck

# solve's own pieces, so a run here is modelled exactly as the solver models it.
from pts_optimiser.solve import ALONE, _break_sites, _load, _Model, _roster

Step = tuple[str, str]  # ("pickup" | "dropoff", journey id) or ("break", site index)
RELAXED = 10**6
# Rules a refusal names, in the order they are tried: the first whose relaxing alone lets
# the journey fit is the one named.
RULES = ("capacity", "ride_time", "break", "shift", "range", "window")
MOST_BREAK_TRIES = 40  # placements re-tried with the break moved, cheapest first


@dataclass(frozen=True)
class Placement:
    """Where a journey goes on a run: the run's new stop order, its timed roster, km added."""

    steps: tuple[Step, ...]
    roster: Roster
    added_m: int


@dataclass(frozen=True)
class Refusal:
    """Why a journey cannot go on a run: the rule, in a coordinator's words."""

    rule: str
    detail: str


def _window_text(journey: Journey) -> str:
    return (f"pickup {format_clock(journey.pickup_window.earliest_min)}-"
            f"{format_clock(journey.pickup_window.latest_min)}, drop-off "
            f"{format_clock(journey.dropoff_window.earliest_min)}-"
            f"{format_clock(journey.dropoff_window.latest_min)}")


class DayBoard:
    """One day's problem, its places, and exact checks of its runs."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        config = problem.config
        self.vehicles: dict[str, VehicleShift] = {v.vehicle_id: v for v in problem.vehicles}
        self.journeys: dict[str, Journey] = {j.journey_id: j for j in problem.journeys}
        self.break_sites: dict[str, list[Place]] = {
            v.vehicle_id: (_break_sites(problem, v)
                           if v.shift_length_min > config.breaks.required_over_min else [])
            for v in problem.vehicles}
        extra = [p for sites in self.break_sites.values() for p in sites]
        self.places: DayPlaces = day_places(problem, extra)
        self._timed: dict[tuple[str, tuple[Step, ...]], Roster | None] = {}

    # -- the routing input of one vehicle --------------------------------------------------

    def _input(self, vehicle: VehicleShift, journeys: Sequence[Journey], relax: str = "",
               loose: str = "") -> tuple[RoutingInput, _Model, dict[Step, int]]:
        """One vehicle's routing input with these journeys; `relax` lifts one rule."""
        config = self.problem.config
        places = self.places
        model = _Model([], [], [], {name: [] for name in LOADS}, {}, {}, {})
        shift = ((0, DAY_MIN) if relax == "shift"
                 else (vehicle.shift_start_min, vehicle.shift_end_min))
        start = model.add(places.of(vehicle.base), 0, shift)
        end = model.add(places.of(vehicle.base), 0, shift)
        node_of: dict[Step, int] = {}
        requests = []
        for journey in journeys:
            load = _load(journey)
            windows = ((journey.pickup_window.earliest_min, journey.pickup_window.latest_min),
                       (journey.dropoff_window.earliest_min, journey.dropoff_window.latest_min))
            if relax == "window" and journey.journey_id == loose:
                windows = ((0, DAY_MIN), (0, DAY_MIN))
            pickup = model.add(places.of(journey.pickup), journey.pickup_service_min,
                               windows[0], load)
            dropoff = model.add(places.of(journey.dropoff), journey.dropoff_service_min,
                                windows[1], (-load[0], -load[1], -load[2], -load[3]))
            model.journey_of_node[pickup] = model.journey_of_node[dropoff] = journey
            model.event_of_node[pickup] = Event.PICKUP
            model.event_of_node[dropoff] = Event.DROPOFF
            node_of[("pickup", journey.journey_id)] = pickup
            node_of[("dropoff", journey.journey_id)] = dropoff
            ride = RELAXED if relax == "ride_time" else journey.max_ride_min
            requests.append(RoutingRequest(pickup, dropoff, ride, 0, (0,)))
        break_owner: dict[int, int] = {}
        window = (vehicle.shift_start_min + config.breaks.earliest_after_start_min,
                  vehicle.shift_start_min + config.breaks.latest_after_start_min)
        for index, site in enumerate(self.break_sites[vehicle.vehicle_id]):
            node = model.add(places.of(site), vehicle.break_min, window)
            break_owner[node] = 0
            model.break_site[node] = site
            model.event_of_node[node] = Event.BREAK
            node_of[("break", str(index))] = node
        capacity = {"seats": vehicle.capacity.seats, "wheelchairs": vehicle.capacity.wheelchairs,
                    "stretchers": vehicle.capacity.stretchers, "patients": ALONE}
        if relax == "capacity":
            capacity = dict.fromkeys(capacity, RELAXED)
        routing_vehicle = RoutingVehicle(
            start_node=start, end_node=end, shift_start_min=shift[0], shift_end_min=shift[1],
            capacity=capacity,
            range_m=(None if vehicle.range_km is None or relax == "range"
                     else int(vehicle.range_km * 1000)),
            km_cost=1, break_nodes=tuple(break_owner),
            max_duration_min=None if relax == "shift" else vehicle.max_duration_min)
        at = np.asarray(model.place_of_node)
        data = RoutingInput(
            travel_min=places.minutes[np.ix_(at, at)], distance_m=places.metres[np.ix_(at, at)],
            service_min=model.service, windows=model.windows, loads=model.loads,
            vehicles=[routing_vehicle], requests=requests, break_owner=break_owner,
            horizon_min=max([DAY_MIN, *(w[1] for w in model.windows)]))
        return data, model, node_of

    def _journeys_of(self, steps: Sequence[Step]) -> list[Journey]:
        return [self.journeys[key] for kind, key in steps if kind == "pickup"]

    # -- timing a run ----------------------------------------------------------------------

    def roster(self, vehicle_id: str, steps: Sequence[Step]) -> Roster | None:
        """The run timed and written as the solver writes it; None if it breaks a rule."""
        key = (vehicle_id, tuple(steps))
        if key not in self._timed:
            vehicle = self.vehicles[vehicle_id]
            data, model, node_of = self._input(vehicle, self._journeys_of(steps))
            nodes = [node_of[step] for step in steps]
            at = RunCheck(data).times(0, nodes)
            if at is None or (self.break_sites[vehicle_id] and self.needs_break(steps)):
                self._timed[key] = None
            else:
                ends = data.vehicles[0]
                visits = [Visit(node, t) for node, t in
                          zip([ends.start_node, *nodes, ends.end_node], at, strict=True)]
                self._timed[key] = _roster(vehicle, visits, model, data)
        return self._timed[key]

    @staticmethod
    def needs_break(steps: Sequence[Step]) -> bool:
        """A used run without its crew's break (only asked of shifts that need one)."""
        return any(k == "pickup" for k, _ in steps) and not any(k == "break" for k, _ in steps)

    def steps_of(self, roster: Roster) -> tuple[Step, ...]:
        """A solver's roster as a stop order."""
        steps: list[Step] = []
        sites = self.break_sites[roster.vehicle.vehicle_id]
        for stop in roster.stops:
            if stop.event is Event.BREAK:
                index = next(i for i, site in enumerate(sites)
                             if (site.lat, site.lon) == (stop.lat, stop.lon))
                steps.append(("break", str(index)))
            elif stop.journey is not None and stop.event in (Event.PICKUP, Event.DROPOFF):
                steps.append((str(stop.event), stop.journey.journey_id))
        return tuple(steps)

    # -- placing a journey -----------------------------------------------------------------

    def place(self, vehicle_id: str, steps: Sequence[Step], journey_id: str
              ) -> Placement | Refusal:
        """The journey at its cheapest place on the run, or the rule that forbids every place."""
        vehicle = self.vehicles[vehicle_id]
        journey = self.journeys[journey_id]
        why = incompatibility(vehicle, journey)
        if why is not None:
            rule = "capacity" if why.startswith(("no ", f"{vehicle.capacity.seats} seat")) \
                else "skill"
            return Refusal(rule, f"{vehicle_id} can never carry this journey: {why}")
        found = self._best(vehicle, steps, journey_id, "")
        if found is not None:
            new_steps, added = found
            roster = self.roster(vehicle_id, new_steps)
            if roster is not None:
                return Placement(new_steps, roster, added)
        for rule in RULES:
            if rule == "range" and vehicle.range_km is None:
                continue
            if self._best(vehicle, steps, journey_id, rule) is not None:
                return Refusal(rule, self._explain(rule, vehicle, journey))
        return Refusal("several_rules",
                       f"no place on {vehicle_id}'s run keeps every rule, and no single rule "
                       f"(window, ride time, capacity, break, shift, range) alone is the cause "
                       f"({_window_text(journey)})")

    def _best(self, vehicle: VehicleShift, steps: Sequence[Step], journey_id: str,
              relax: str) -> tuple[tuple[Step, ...], int] | None:
        """The cheapest stop order with the journey added that passes the exact check."""
        journey = self.journeys[journey_id]
        data, _, node_of = self._input(vehicle, [*self._journeys_of(steps), journey], relax,
                                       journey_id)
        check = RunCheck(data)
        metres = data.distance_m.tolist()
        ends = data.vehicles[0]
        wants_break = bool(self.break_sites[vehicle.vehicle_id]) and relax != "break"

        def length(order: Sequence[Step]) -> int:
            seq = [ends.start_node, *(node_of[s] for s in order), ends.end_node]
            return sum(metres[a][b] for a, b in itertools.pairwise(seq))

        def insertions(base: Sequence[Step]) -> list[tuple[Step, ...]]:
            out = []
            for i in range(len(base) + 1):
                for k in range(i, len(base) + 1):
                    out.append((*base[:i], ("pickup", journey_id), *base[i:k],
                                ("dropoff", journey_id), *base[k:]))
            return out

        def feasible(order: Sequence[Step]) -> bool:
            return check.times(0, [node_of[s] for s in order]) is not None

        before = length(steps) if relax == "" else 0
        without = [s for s in steps if s[0] != "break"]
        if not wants_break:
            ranked = sorted(insertions(without), key=length)
            first = next((o for o in ranked if feasible(o)), None)
            return (first, length(first) - before) if first is not None else None
        ranked = sorted(insertions(steps), key=length)
        if any(s[0] == "break" for s in steps):
            first = next((o for o in ranked if feasible(o)), None)
            if first is not None:
                return first, length(first) - before
        # The break moved, or taken for the first time: cheapest orders without it first.
        sites = [("break", str(i)) for i in range(len(self.break_sites[vehicle.vehicle_id]))]
        best: tuple[tuple[Step, ...], int] | None = None
        for order in sorted(insertions(without), key=length)[:MOST_BREAK_TRIES]:
            for k in range(len(order) + 1):
                for site in sites:
                    option = (*order[:k], site, *order[k:])
                    if (best is None or length(option) < best[1]) and feasible(option):
                        best = option, length(option)
        return (best[0], best[1] - before) if best is not None else None

    def _explain(self, rule: str, vehicle: VehicleShift, journey: Journey) -> str:
        vid = vehicle.vehicle_id
        if rule == "capacity":
            return (f"{vid} has no room on board for it anywhere its run could otherwise take "
                    f"it ({vehicle.capacity.seats} seat(s), {vehicle.capacity.wheelchairs} "
                    f"wheelchair space(s), {vehicle.capacity.stretchers} stretcher(s))")
        if rule == "ride_time":
            return (f"on {vid}'s run the patient would be on board longer than "
                    f"{journey.max_ride_min} min wherever it fits")
        if rule == "break":
            breaks = self.problem.config.breaks
            earliest = vehicle.shift_start_min + breaks.earliest_after_start_min
            latest = vehicle.shift_start_min + breaks.latest_after_start_min
            return (f"the crew's {vehicle.break_min}-minute break could no longer be taken "
                    f"with nobody aboard between {format_clock(earliest)} and "
                    f"{format_clock(latest)}")
        if rule == "shift":
            return (f"{vid}'s shift is {format_clock(vehicle.shift_start_min)}-"
                    f"{format_clock(vehicle.shift_end_min)}: the run would not be back at base "
                    "by its end")
        if rule == "range":
            return f"the run would be longer than {vid}'s range of {vehicle.range_km:g} km"
        return (f"{vid}'s run cannot reach it within its windows ({_window_text(journey)})")

    # -- the whole day ---------------------------------------------------------------------

    def plan(self, runs: Mapping[str, Sequence[Step]],
             unassigned: Mapping[str, tuple[str, str, str]], seconds: float = 0.0,
             search: Mapping[str, object] | None = None) -> Plan:
        """The day as a Plan the writers take: used runs timed, the rest unassigned."""
        rosters = []
        for vehicle in self.problem.vehicles:
            steps = runs.get(vehicle.vehicle_id, ())
            if not any(kind == "pickup" for kind, _ in steps):
                continue
            roster = self.roster(vehicle.vehicle_id, steps)
            if roster is None:
                raise ValueError(f"run {vehicle.vehicle_id} breaks a rule")
            rosters.append(roster)
        left = tuple(Unassigned(self.journeys[jid], Reason(reason), detail, fix)
                     for jid, (reason, detail, fix) in unassigned.items())
        return Plan(self.problem, tuple(rosters), left, seconds, dict(search or {}))


def unassigned_by_hand(journey: Journey) -> tuple[str, str, str]:
    """What unassigned.csv says of a journey a coordinator took off its run."""
    return (str(Reason.NO_PLAN_FOUND),
            "taken off its run by hand on the planning board and not planned since",
            "assign it to a run on the board, or re-plan the rest")


def with_journey_removed(steps: Sequence[Step], journey_id: str) -> tuple[Step, ...]:
    """The run without the journey's two stops."""
    return tuple(s for s in steps if not (s[0] != "break" and s[1] == journey_id))


def without_vehicles(problem: Problem, vehicle_ids: set[str], journey_ids: set[str]) -> Problem:
    """The day less some runs and their journeys: what a re-plan around locked runs plans."""
    return replace(problem,
                   vehicles=tuple(v for v in problem.vehicles if v.vehicle_id not in vehicle_ids),
                   journeys=tuple(j for j in problem.journeys if j.journey_id not in journey_ids))
