"""The planning board's engine: a day's runs as stop orders, timed and checked exactly.

A run is kept as the order of its stops only (pickups, drop-offs, the crew's break); its
times come from the engine's exact check (`recreate.RunCheck`) over a routing input built
for that one vehicle as `solve` builds the day's, so a run changed by hand keeps the same
rules a solved one does, and is written by the same roster code. As there, the check
times a break at a break visit, and the roster written takes it where the crew already is
if it can (`breaks.where_crew_is`). No web framework here.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from pts_optimiser.domain.clock import format_clock
from pts_optimiser.domain.plan import Event, Plan, Reason, Roster, Unassigned
from pts_optimiser.domain.problem import (
    Journey,
    Place,
    Problem,
    VehicleShift,
    as_planned,
    incompatibility,
)

# solve's own pieces, so a run here is modelled exactly as the solver models it.
from pts_optimiser.engine.decode import restful_places, roster_of
from pts_optimiser.engine.encode import ALONE, Nodes, break_sites, journey_load
from pts_optimiser.engine.model import (
    DAY_MIN,
    LOADS,
    RoutingInput,
    RoutingRequest,
    RoutingVehicle,
    Visit,
    ride_limit_min,
    transit_min,
)
from pts_optimiser.engine.places import DayPlaces, day_places
from pts_optimiser.engine.recreate import RunCheck

Step = tuple[str, str]  # ("pickup" | "dropoff", journey id) or ("break", site index)
RELAXED = 10**6
# Rules a refusal names, in the order they are tried: the first whose relaxing alone lets
# the journey fit is the one named.
RULES = ("capacity", "ride_time", "break", "shift", "range", "window")
MOST_BREAK_TRIES = 40  # placements re-tried with the break moved, cheapest first


@dataclass(frozen=True)
class Placement:
    """Where a journey goes on a run: its new stop order, timed roster, metres added as driven."""

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
        problem = as_planned(problem)
        self.problem = problem
        config = problem.config
        self.vehicles: dict[str, VehicleShift] = {v.vehicle_id: v for v in problem.vehicles}
        self.journeys: dict[str, Journey] = {j.journey_id: j for j in problem.journeys}
        self.break_sites: dict[str, list[Place]] = {
            v.vehicle_id: (break_sites(problem, v)
                           if v.shift_length_min > config.breaks.required_over_min else [])
            for v in problem.vehicles}
        extra = [p for sites in self.break_sites.values() for p in sites]
        self.places: DayPlaces = day_places(problem, extra)
        self._timed: dict[tuple[str, tuple[Step, ...]], Roster | None] = {}

    # -- the routing input of one vehicle --------------------------------------------------

    def _input(self, vehicle: VehicleShift, journeys: Sequence[Journey], relax: str = "",
               loose: str = "") -> tuple[RoutingInput, Nodes, dict[Step, int]]:
        """One vehicle's routing input with these journeys; `relax` lifts one rule."""
        config = self.problem.config
        places = self.places
        model = Nodes([], [], [], {name: [] for name in LOADS}, {}, {}, {})
        shift = ((0, DAY_MIN) if relax == "shift"
                 else (vehicle.shift_start_min, vehicle.shift_end_min))
        start = model.add(places.of(vehicle.base), 0, shift)
        end = model.add(places.of(vehicle.base), 0, shift)
        node_of: dict[Step, int] = {}
        requests = []
        for journey in journeys:
            load = journey_load(journey)
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
            km_cost=1,
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
                restful = restful_places(self.problem, model, data, [vehicle])
                self._timed[key] = roster_of(vehicle, visits, model, data, restful=restful)
        return self._timed[key]

    @staticmethod
    def needs_break(steps: Sequence[Step]) -> bool:
        """A used run without its crew's break (only asked of shifts that need one)."""
        return any(k == "pickup" for k, _ in steps) and not any(k == "break" for k, _ in steps)

    def steps_of(self, roster: Roster) -> tuple[Step, ...] | None:
        """A written roster (a solver's, or the board's own) as a stop order.

        None if no order keeps every rule with its break at a break visit
        (`with_break_at_visit`).
        """
        return self.run_of(roster.vehicle.vehicle_id, [
            (str(s.event), s.journey.journey_id if s.journey else "", s.lat, s.lon)
            for s in roster.stops])

    def run_of(self, vehicle_id: str, stops: Sequence[tuple[str, str, float, float]]
               ) -> tuple[Step, ...] | None:
        """Stops as (event, journey id, lat, lon), start and end too, as a stop order.

        None if no order keeps every rule with its break at a break visit.
        """
        steps: list[Step] = []
        taken: tuple[int, float, float] | None = None
        for event, journey_id, lat, lon in stops:
            if event == str(Event.BREAK):
                taken = (len(steps), lat, lon)
            elif event in (str(Event.PICKUP), str(Event.DROPOFF)):
                steps.append((event, journey_id))
        return self.with_break_at_visit(vehicle_id, steps, taken)

    def with_break_at_visit(self, vehicle_id: str, steps: Sequence[Step],
                            taken: tuple[int, float, float] | None) -> tuple[Step, ...] | None:
        """A solver's run as the board's stop order, its break at one of its break visits.

        `steps` without the break, which the solver took before step `taken[0]` at
        (`taken[1]`, `taken[2]`); None: no break. A break at a break visit stays as it
        was; one taken where the crew was (`pts solve`'s plans, the one-at-a-time plan, the
        board's own rosters) goes to the cheapest place among the break visits that keeps
        every rule. None if the run keeps no rule with its break at any of them.
        """
        sites = self.break_sites[vehicle_id]
        steps = tuple(steps)
        if taken is None or not sites:
            return steps if self.roster(vehicle_id, steps) is not None else None
        at, lat, lon = taken
        same = [i for i, site in enumerate(sites) if (site.lat, site.lon) == (lat, lon)]
        if same:
            order = (*steps[:at], ("break", str(same[0])), *steps[at:])
            if self.roster(vehicle_id, order) is not None:
                return order
        data, _, node_of = self._input(self.vehicles[vehicle_id], self._journeys_of(steps))
        run = _Candidates(data, RunCheck(data), node_of)
        options = run.with_break(steps, [("break", str(i)) for i in range(len(sites))])
        return next((o for o in sorted(options, key=run.length)
                     if self.roster(vehicle_id, o) is not None), None)

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
                # As driven: a roster takes the break where the crew is, the check at a visit.
                used = any(kind == "pickup" for kind, _ in steps)
                before = self.roster(vehicle_id, steps) if used else None
                if not used or before is not None:
                    added = roster.distance_m - (before.distance_m if before else 0)
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
        run = _Candidates(data, RunCheck(data), node_of)
        wants_break = bool(self.break_sites[vehicle.vehicle_id]) and relax != "break"
        before = run.length(steps) if relax == "" else 0
        without = [s for s in steps if s[0] != "break"]
        if not wants_break or any(s[0] == "break" for s in steps):
            base = steps if wants_break else without
            first = next((o for o in sorted(run.with_journey(base, journey_id), key=run.length)
                          if run.feasible(o)), None)
            if first is not None or not wants_break:
                return (first, run.length(first) - before) if first is not None else None
        # The break moved, or taken for the first time: cheapest orders without it first.
        sites = [("break", str(i)) for i in range(len(self.break_sites[vehicle.vehicle_id]))]
        best: tuple[tuple[Step, ...], int] | None = None
        tried = 0
        for order in sorted(run.with_journey(without, journey_id), key=run.length):
            if tried >= MOST_BREAK_TRIES:
                break
            if not run.feasible(order):
                continue
            tried += 1
            for option in run.with_break(order, sites):
                if (best is None or run.length(option) < best[1]) and run.feasible(option):
                    best = option, run.length(option)
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


class _Candidates:
    """Stop orders to try on one vehicle's routing input, with the exact check to judge them.

    Places are ruled out first by conditions every feasible order must meet (each from
    times that can only grow when a stop is added: windows, the next stop's latest start,
    the ride limit over the stops between, room on board, nobody aboard at a break), so the
    exact check runs on few of them; it alone decides.
    """

    def __init__(self, data: RoutingInput, check: RunCheck, node_of: Mapping[Step, int]
                 ) -> None:
        self.data, self.check, self.node_of = data, check, node_of
        self.metres = data.distance_m.tolist()
        self.transit = transit_min(data).tolist()
        self.ends = data.vehicles[0]
        self.lo = [w[0] for w in data.windows]
        self.hi = [min(w[1], data.horizon_min) for w in data.windows]
        self.dims = [name for name in LOADS if any(data.loads[name])]
        self.capacity = [self.ends.capacity[name] for name in self.dims]

    def seq(self, order: Sequence[Step]) -> list[int]:
        return [self.ends.start_node, *(self.node_of[s] for s in order), self.ends.end_node]

    def length(self, order: Sequence[Step]) -> int:
        return sum(self.metres[a][b] for a, b in itertools.pairwise(self.seq(order)))

    def feasible(self, order: Sequence[Step]) -> bool:
        return self.check.times(0, [self.node_of[s] for s in order]) is not None

    def _frame(self, order: Sequence[Step]
               ) -> tuple[list[int], list[int], list[int], list[list[int]]] | None:
        """The order's stops, earliest and latest starts, and what is on board after each."""
        seq = self.seq(order)
        at = self.check.times(0, seq[1:-1])
        if at is None:
            return None
        latest = [self.hi[n] for n in seq]
        latest[0], latest[-1] = self.ends.shift_end_min, self.ends.shift_end_min
        for k in range(len(seq) - 2, -1, -1):
            latest[k] = min(latest[k], latest[k + 1] - self.transit[seq[k]][seq[k + 1]])
        aboard = [[0] * len(self.dims)]
        for node in seq[1:]:
            aboard.append([a + int(self.data.loads[name][node])
                           for a, name in zip(aboard[-1], self.dims, strict=True)])
        return seq, at, latest, aboard

    def with_journey(self, base: Sequence[Step], journey_id: str) -> list[tuple[Step, ...]]:
        """Orders with the journey's pickup and drop-off added where they may fit."""
        pickup, dropoff = ("pickup", journey_id), ("dropoff", journey_id)
        every = [(*base[:i], pickup, *base[i:k], dropoff, *base[k:])
                 for i in range(len(base) + 1) for k in range(i, len(base) + 1)]
        frame = self._frame(base)
        if frame is None:
            return every
        seq, at, latest, aboard = frame
        t, lo, hi = self.transit, self.lo, self.hi
        p, d = self.node_of[pickup], self.node_of[dropoff]
        request = next(r for r in self.data.requests if r.pickup_node == p)
        limit = ride_limit_min(self.data, request)
        demand = [int(self.data.loads[name][p]) for name in self.dims]
        breaks = self.data.break_owner
        out: list[tuple[Step, ...]] = []
        n = len(base)
        for i in range(n + 1):  # the pickup straight after seq[i]
            reach_p = max(lo[p], at[i] + t[seq[i]][p])
            if reach_p > hi[p]:
                continue  # (not break: rounded road times need not keep the triangle rule)
            if any(a + x > c for a, x, c in zip(aboard[i], demand, self.capacity,
                                                strict=True)):
                continue
            reach_pd = max(lo[d], reach_p + t[p][d])
            if (reach_pd <= hi[d] and reach_pd + t[d][seq[i + 1]] <= latest[i + 1]
                    and t[p][d] <= limit):
                out.append((*base[:i], pickup, dropoff, *base[i:]))
            if reach_p + t[p][seq[i + 1]] > latest[i + 1]:
                continue
            between = t[p][seq[i + 1]]
            for k in range(i + 1, n + 1):  # the drop-off straight after seq[k]
                if seq[k] in breaks or any(a + x > c for a, x, c in zip(
                        aboard[k], demand, self.capacity, strict=True)):
                    break  # the patient would be aboard there
                reach_d = max(lo[d], at[k] + t[seq[k]][d])
                if (reach_d <= hi[d] and between + t[seq[k]][d] <= limit
                        and reach_d + t[d][seq[k + 1]] <= latest[k + 1]):
                    out.append((*base[:i], pickup, *base[i:k], dropoff, *base[k:]))
                between += t[seq[k]][seq[k + 1]]
        return out

    def with_break(self, order: Sequence[Step], sites: Sequence[Step]
                   ) -> list[tuple[Step, ...]]:
        """Orders with the crew's break added where nobody is aboard and it may fit."""
        frame = self._frame(order)
        if frame is None:
            return []
        seq, at, latest, aboard = frame
        t = self.transit
        patients = self.dims.index("patients") if "patients" in self.dims else None
        out: list[tuple[Step, ...]] = []
        for k in range(len(order) + 1):
            if patients is not None and aboard[k][patients] > 0:
                continue
            for site in sites:
                b = self.node_of[site]
                reach = max(self.lo[b], at[k] + t[seq[k]][b])
                if reach <= self.hi[b] and reach + t[b][seq[k + 1]] <= latest[k + 1]:
                    out.append((*order[:k], site, *order[k:]))
        return out


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
