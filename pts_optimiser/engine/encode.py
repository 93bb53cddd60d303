"""The day as the routing model's input, and what each of its nodes stands for.

Nodes for vehicles' starts and ends, pickups, drop-offs, patients already aboard and break
visits, with windows, loads and costs. Journeys no vehicle could carry alone are explained
here, before the search, and never reach it.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from pts_optimiser.domain.commitments import Commitments, VehicleStart
from pts_optimiser.domain.config import Config
from pts_optimiser.domain.plan import Event, Roster, Unassigned
from pts_optimiser.domain.problem import (
    Journey,
    Need,
    Place,
    Problem,
    VehicleShift,
    patients_overlapping,
)
from pts_optimiser.engine.explain import (
    Diagnosis,
    diagnose,
    latest_first,
    on_another_journey,
    return_links,
    return_missed,
)
from pts_optimiser.engine.model import (
    DAY_MIN,
    LOADS,
    RoutingInput,
    RoutingRequest,
    RoutingVehicle,
)
from pts_optimiser.engine.places import DayPlaces, day_places

BREAK_SITE_KINDS = ("acute", "community", "renal_unit")
# Where the search may time a crew's break: its base and this many hospitals nearest it.
# Once timed the break moves to where the crew already is (engine.breaks), so a break
# visit only has to hold the break's time; each one more is a node more on every run, to
# OR-Tools and to ruin and recreate. One hospital drove fewer km than three or none on
# the 750-journey days (docs/benchmarks.md, 2026-12-06). The planning board checks its
# runs with the same places: a run it accepts is one a re-plan can put the break back
# into (`recreate.with_breaks`), or OR-Tools could pay for the break with a journey.
BREAK_HOSPITALS = 1


ALONE = 100  # patients-on-board capacity; a travel_alone patient fills it


# A patient already out whose ride home is left out is left somewhere: dearer than leaving
# out a whole other patient's day (two priority-1 journeys), far below a lost break (10^9).
HOMEWARD_FACTOR = 10
# A re-plan's journey that had a crew, left out, breaks a promise (a patient phoned to be
# told no crew is coming): three times as dear as a journey that never had one, so a
# promise gives way only where that serves three patients more (docs/benchmarks.md,
# 2026-12-07, thirty-fourth stop: at 150% re-plans with nothing to change still broke
# promises for one or two journeys more).
PROMISED_FACTOR_PCT = 300


@dataclass
class Nodes:
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
        """A new node at place index `place`; its id."""
        self.place_of_node.append(place)
        self.service.append(service)
        self.windows.append(window)
        for name, amount in zip(LOADS, load, strict=True):
            self.loads[name].append(amount)
        return len(self.place_of_node) - 1


def last_stop(begin: VehicleStart) -> Place:
    """Where a re-planned vehicle made its last kept stop."""
    return Place(begin.done[-1].lat, begin.done[-1].lon)


def break_sites(problem: Problem, vehicle: VehicleShift) -> list[Place]:
    """Where a crew's break is timed: its base and the hospital(s) nearest it."""
    sites = [Place(s.lat, s.lon, s.name, s.code) for s in problem.sites.values()
             if s.kind in BREAK_SITE_KINDS]
    sites.sort(key=lambda s: (s.lat - vehicle.base.lat) ** 2 + (s.lon - vehicle.base.lon) ** 2)
    return [vehicle.base, *sites[:BREAK_HOSPITALS]]


def total_load(journeys: Sequence[Journey]) -> tuple[int, int, int, int]:
    """What these journeys' patients take on board together (seats, chairs, stretchers, people)."""
    loads = [journey_load(j) for j in journeys]
    return (sum(x[0] for x in loads), sum(x[1] for x in loads), sum(x[2] for x in loads),
            sum(x[3] for x in loads))


def journey_load(journey: Journey) -> tuple[int, int, int, int]:
    """What one journey's patient takes on board; travelling alone fills the people count."""
    space = journey.space
    patients = ALONE if Need.TRAVEL_ALONE in journey.needs else 1
    return space.seats, space.wheelchairs, space.stretchers, patients


def request_links(returns: Mapping[str, str], servable: Sequence[Journey]
                   ) -> tuple[tuple[int, int], ...]:
    """The links as (outward, return) request indices of the routing input."""
    index = {j.journey_id: i for i, j in enumerate(servable)}
    return tuple(sorted((index[out], index[back]) for out, back in returns.items()
                        if out in index and back in index))


def standard_costs(config: Config, continuity: bool = False) -> dict[str, tuple[int, int]]:
    """Per purpose: (minutes after ready the standard allows, cost per minute beyond).

    On a day planned with continuity of care (`continuity`), each cost is
    `[continuity] standards_cost_factor` times the policy's: a regular's usual crew is
    priced at up to a few thousand (a change of vehicle, a day split between crews, on an
    anchor once for each day it stands for), which at the plain price buys a renal patient
    an hour's wait past the standard (docs/week.md, 2026-12-06, twenty-seventh stop).
    """
    factor = config.continuity.standards_cost_factor if continuity else 1.0
    return {"dialysis": (config.kpi.renal_collect_within_min,
                         round(config.standards.renal_collect_cost_per_min * factor)),
            "discharge": (config.kpi.discharge_collect_within_min,
                          round(config.standards.discharge_collect_cost_per_min * factor))}


def routes_of(rosters: Sequence[Roster], vehicles: Sequence[VehicleShift], model: Nodes,
               break_nodes: Mapping[int, Sequence[int]]) -> list[list[int]]:
    """Rosters made outside the search as node ids of the model, per vehicle.

    Stops the model has no node for (made before a re-plan; a break where no break visit
    is) are left out: ruin and recreate puts a missing break back.
    """
    runs = {r.vehicle.vehicle_id: [(s.event, s.journey.journey_id if s.journey else "",
                                    Place(s.lat, s.lon, s.label)) for s in r.stops
                                   if s.event in (Event.PICKUP, Event.DROPOFF, Event.BREAK)]
            for r in rosters}
    return warm_routes(runs, vehicles, model, break_nodes)


def warm_routes(warm: Mapping[str, Sequence[tuple[Event, str, Place]]],
                 vehicles: Sequence[VehicleShift], model: Nodes,
                 break_nodes: Mapping[int, Sequence[int]]) -> list[list[int]]:
    """The old runs as node ids of this model; stops it no longer has are left out.

    A break taken where no break visit is has no node: `recreate.with_breaks` puts it back.
    """
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


def kept_on(journey: Journey, allowed: tuple[int, ...], keep_on: Mapping[str, str] | None,
             vehicles: Sequence[VehicleShift]) -> tuple[int, ...]:
    """The vehicles a journey may go on: its crew's alone, when it stays with them."""
    vehicle_id = (keep_on or {}).get(journey.journey_id)
    same = tuple(i for i in allowed if vehicles[i].vehicle_id == vehicle_id)
    return same or allowed


@dataclass(frozen=True)
class Encoded:
    """A day ready to search, and what is needed to read the search's routes back."""

    problem: Problem
    begun: list[VehicleStart | None]  # per vehicle: where a re-plan found it, or None
    places: DayPlaces
    carried: frozenset[str]  # journeys made (or under way) before a re-plan
    diagnoses: dict[str, Diagnosis]
    returns: dict[str, str]  # outward journey id -> its return's, among those to plan
    unassigned: list[Unassigned]  # found before planning: no search could carry them
    servable: list[Journey]  # in the order they are offered to the search
    nodes: Nodes
    break_nodes: dict[int, list[int]]  # vehicle index -> its break visit nodes
    data: RoutingInput

    @property
    def anything_to_route(self) -> bool:
        """Journeys to plan, or patients aboard to drop off."""
        return bool(self.data.requests or self.data.fixed_visits)


def encode(problem: Problem, commitments: Commitments, seed: int = 0) -> Encoded:
    """The day's routing input, after what no vehicle could carry alone is set aside."""
    vehicles = problem.vehicles
    begun = [commitments.starts.get(v.vehicle_id) for v in vehicles]
    break_places = _break_places(problem, begun, commitments.warm)
    places = day_places(problem, [p for sites in break_places.values() for p in sites]
                        + [p for b in begun if b is not None for p in (b.place, last_stop(b))])
    carried = frozenset(s.journey.journey_id for b in begun if b is not None for s in b.done
                        if s.journey is not None)
    to_plan, busy = _after_aboard([j for j in problem.journeys if j.journey_id not in carried],
                                  begun)
    diagnoses, returns = _diagnosed(problem, to_plan, places, begun)
    diagnoses.update(busy)
    servable = [j for j in to_plan if diagnoses[j.journey_id].unassigned is None]
    if seed:
        # Insertion breaks ties by order: a seed gives another, equally deterministic, search.
        random.Random(seed).shuffle(servable)
    nodes = Nodes([], [], [], {name: [] for name in LOADS}, {}, {}, {})
    starts = [nodes.add(places.of(v.base), 0, (v.shift_start_min, v.shift_end_min))
              if b is None else
              nodes.add(places.of(b.place), 0, (b.free_min, max(b.free_min, v.shift_end_min)),
                        total_load([j for j, _ in b.on_board]))
              for v, b in zip(vehicles, begun, strict=True)]
    ends = [nodes.add(places.of(v.base), 0, (v.shift_start_min, v.shift_end_min))
            for v in vehicles]
    requests, soft_latest = _requests(problem, servable, diagnoses, commitments, nodes, places)
    soft_latest, soft_earliest, usual_vehicle = _continuity(problem, servable, requests,
                                                            commitments, soft_latest)
    fixed_visits = _aboard(begun, nodes, places)
    break_owner, break_nodes = _breaks(problem, break_places, begun, nodes, places)
    node_places = np.asarray(nodes.place_of_node, dtype=np.intp)  # [] too: no shift left
    config = problem.config
    data = RoutingInput(
        travel_min=places.minutes[np.ix_(node_places, node_places)],
        distance_m=places.metres[np.ix_(node_places, node_places)],
        service_min=nodes.service, windows=nodes.windows, loads=nodes.loads,
        vehicles=_routing_vehicles(problem, begun, starts, ends),
        requests=requests, break_owner=break_owner, fixed_visits=fixed_visits,
        links=request_links(returns, servable), soft_latest=soft_latest,
        soft_earliest=soft_earliest, usual_vehicle=usual_vehicle,
        together=_together(problem, servable, commitments),
        vehicle_cost=config.objective.vehicle_cost,
        span_cost_per_min=config.objective.shift_minute_cost,
        horizon_min=max([DAY_MIN, *(w[1] for w in nodes.windows)]))
    unassigned = [d.unassigned for d in diagnoses.values() if d.unassigned is not None]
    return Encoded(problem, begun, places, carried, diagnoses, returns, unassigned, servable,
                   nodes, break_nodes, data)


def _after_aboard(to_plan: list[Journey], begun: Sequence[VehicleStart | None]
                  ) -> tuple[list[Journey], dict[str, Diagnosis]]:
    """A re-plan's journeys of patients still aboard, collected only once they are set down.

    The journey aboard is the crew's to finish, by its latest drop-off (its window, or its
    maximum ride from boarding), and a drop-off under way at the call is kept at its time:
    the patient's next journey starts after it, or is left out where it is due before
    (`patient_on_another_journey`). `as_planned` parts journeys still to plan; a journey
    aboard is no longer one (2026-12-07: a late journey of a patient aboard was collected
    by another crew before the first set them down).
    """
    until: dict[str, tuple[int, Journey]] = {}

    def busy_until(journey: Journey, set_down: int) -> None:
        if set_down > until.get(journey.patient_id, (-1, journey))[0]:
            until[journey.patient_id] = (set_down, journey)

    for begin in begun:
        for journey, boarded in begin.on_board if begin is not None else ():
            busy_until(journey, min(journey.dropoff_window.latest_min,
                                    boarded + journey.max_ride_min)
                       + journey.dropoff_service_min)
        for stop in begin.done if begin is not None else ():  # a drop-off under way, kept
            if stop.event is Event.DROPOFF and stop.journey is not None:
                busy_until(stop.journey, stop.service_start_min
                           + stop.journey.dropoff_service_min)
    kept: list[Journey] = []
    busy: dict[str, Diagnosis] = {}
    for journey in to_plan:
        free, aboard = until.get(journey.patient_id, (-1, journey))
        window = journey.pickup_window
        if free <= window.earliest_min:
            kept.append(journey)
        elif free <= window.latest_min:
            kept.append(replace(journey, pickup_window=replace(window, earliest_min=free)))
        else:
            kept.append(journey)
            busy[journey.journey_id] = Diagnosis((), on_another_journey(aboard, journey, free))
    return kept, busy


def _break_places(problem: Problem, begun: Sequence[VehicleStart | None],
                  warm: Mapping[str, Sequence[tuple[Event, str, Place]]]
                  ) -> dict[int, list[Place]]:
    """Per vehicle index that still owes a break: the places it may take it.

    Re-planning, also where the crew is once its kept stops are made: a break due before
    the crew could reach its base or a hospital is taken there (the contract's "where the
    vehicle is"), as the plan being re-planned may have had it. And where the run started
    from (`warm`: the plan being re-planned) has its break still to come: a crew with a
    patient aboard at the call, whose break is due before it could reach its base or a
    hospital after the drop-off, takes it where that plan had it (without it, the break
    could not be timed: the re-plan at 13:00 of a 150-journey day broke the rules).
    """
    rules = problem.config.breaks
    places: dict[int, list[Place]] = {}
    for i, (v, b) in enumerate(zip(problem.vehicles, begun, strict=True)):
        if v.shift_length_min <= rules.required_over_min or (b is not None and b.break_taken):
            continue
        sites = break_sites(problem, v)
        extra = [b.place] if b is not None and not b.idle and b.turned_at is None else []
        extra += [place for event, _, place in warm.get(v.vehicle_id, ())
                  if event is Event.BREAK]
        for place in extra:
            if all((p.lat, p.lon) != (place.lat, place.lon) for p in sites):
                sites.append(place)
        places[i] = sites
    return places


def _diagnosed(problem: Problem, to_plan: Sequence[Journey], places: DayPlaces,
               begun: Sequence[VehicleStart | None]
               ) -> tuple[dict[str, Diagnosis], dict[str, str]]:
    """Each journey's vehicles that could carry it alone (or why none), and the round trips.

    A patient taken somewhere is brought back: an outward journey whose return no vehicle
    could carry even alone is not planned (nobody is collected to be left there).
    """
    diagnoses = {j.journey_id: diagnose(j, problem.vehicles, places, begun) for j in to_plan}
    # Left out whether or not the earlier can be planned: the later was parted from
    # nothing before it, and could meet the patient's other journeys.
    for earlier, later in patients_overlapping(problem):
        if later.journey_id in diagnoses:
            diagnoses[later.journey_id] = Diagnosis((), on_another_journey(earlier, later))
    returns = return_links(problem, {j.journey_id for j in to_plan})
    by_id = {j.journey_id: j for j in to_plan}
    for outward, back in latest_first(returns):
        missed = diagnoses[back].unassigned
        if missed is not None and diagnoses[outward].unassigned is None:
            diagnoses[outward] = Diagnosis(diagnoses[outward].allowed,
                                           return_missed(by_id[outward], missed))
    return diagnoses, returns


def _requests(problem: Problem, servable: Sequence[Journey], diagnoses: Mapping[str, Diagnosis],
              commitments: Commitments, nodes: Nodes, places: DayPlaces
              ) -> tuple[list[RoutingRequest], dict[int, tuple[int, int]]]:
    """A pickup and a drop-off node per journey; the standards' soft latest pickups."""
    config = problem.config
    standards = standard_costs(config, continuity=bool(commitments.prefer))
    requests = []
    soft_latest: dict[int, tuple[int, int]] = {}
    journeys_of = Counter(j.patient_id for j in problem.journeys)
    for journey in servable:
        load = journey_load(journey)
        pickup = nodes.add(places.of(journey.pickup), journey.pickup_service_min,
                           (journey.pickup_window.earliest_min, journey.pickup_window.latest_min),
                           load)
        dropoff = nodes.add(places.of(journey.dropoff), journey.dropoff_service_min,
                            (journey.dropoff_window.earliest_min,
                             journey.dropoff_window.latest_min),
                            (-load[0], -load[1], -load[2], -load[3]))
        nodes.journey_of_node[pickup] = nodes.journey_of_node[dropoff] = journey
        nodes.event_of_node[pickup] = Event.PICKUP
        nodes.event_of_node[dropoff] = Event.DROPOFF
        standard = standards.get(journey.purpose)
        if standard is not None and journey.ready_min is not None and standard[1] > 0 \
                and journey.ready_min + standard[0] < journey.pickup_window.latest_min:
            soft_latest[pickup] = (journey.ready_min + standard[0], standard[1])
        unserved = config.objective.unserved_cost_by_priority
        penalty = patient_share(unserved[journey.priority], journeys_of[journey.patient_id])
        if journey.journey_id in commitments.promised:
            penalty = penalty * PROMISED_FACTOR_PCT // 100
        requests.append(RoutingRequest(
            pickup, dropoff, journey.max_ride_min,
            penalty if journey.journey_id not in commitments.bring_back
            else HOMEWARD_FACTOR * unserved[1],
            kept_on(journey, diagnoses[journey.journey_id].allowed, commitments.keep_on,
                    problem.vehicles)))
    return requests, soft_latest


def patient_share(unserved: int, journeys: int) -> int:
    """A journey's cost of being left out, when its patient travels `journeys` times that day.

    The patient is the unit of service: a patient left out counts, not only their journeys.
    A journey of a patient with k journeys costs (k + 1) / 2k of its priority's price: a
    one-way patient's whole price, each of a round trip's three quarters. Leaving out a
    round trip (1.5) then costs less than two one-way patients (2) but more than one (1),
    so the search keeps more patients whole without giving up journeys for them.
    """
    return unserved * (journeys + 1) // (2 * max(1, journeys))


def _together(problem: Problem, servable: Sequence[Journey], commitments: Commitments
              ) -> list[tuple[tuple[int, ...], int]]:
    """Each group of journeys to ride with one crew, as request indices, and its cost."""
    cost = problem.config.continuity.crew_change_cost
    if cost <= 0 or not commitments.together:
        return []
    request_of = {j.journey_id: r for r, j in enumerate(servable)}
    groups = ((tuple(sorted({request_of[j] for j in group if j in request_of})),
               max((commitments.prefer[j].copied_days for j in group
                    if j in commitments.prefer), default=1))
              for group in commitments.together)
    return [(members, cost * days) for members, days in groups if len(members) > 1]


def _one_crew(servable: Sequence[Journey], requests: Sequence[RoutingRequest],
              commitments: Commitments, index_of: Mapping[str, int]) -> dict[str, int]:
    """Patient -> one vehicle for all their journeys today, where one could carry them all.

    The first, in the earliest journey's order, of the vehicles every journey asks for. The
    crew that usually brings a patient back may be the one that can also take them out: a
    morning shift that took an afternoon patient out is over before their session ends.
    """
    asked: dict[str, list[tuple[int, tuple[str, ...], RoutingRequest]]] = defaultdict(list)
    for journey, request in zip(servable, requests, strict=True):
        wish = commitments.prefer.get(journey.journey_id)
        if wish is not None and wish.vehicle_ids:
            asked[journey.patient_id].append(
                (journey.pickup_window.earliest_min, wish.vehicle_ids, request))
    crew: dict[str, int] = {}
    for patient, wishes in asked.items():
        if len(wishes) < 2:
            continue
        wishes.sort(key=lambda w: w[0])
        shared = set.intersection(*(set(ids) for _, ids, _ in wishes))
        for vehicle_id in (v for v in wishes[0][1] if v in shared):
            vehicle = index_of.get(vehicle_id)
            if vehicle is not None and all(vehicle in r.allowed_vehicles for _, _, r in wishes):
                crew[patient] = vehicle
                break
    return crew


def _continuity(problem: Problem, servable: Sequence[Journey],
                requests: Sequence[RoutingRequest], commitments: Commitments,
                soft_latest: Mapping[int, tuple[int, int]]
                ) -> tuple[dict[int, tuple[int, int]], dict[int, tuple[int, int]],
                           dict[int, tuple[int, int]]]:
    """Regulars' usual vehicles and times as costs: (soft latests, soft earliests, vehicles).

    A patient's day goes to one crew where it can: the first vehicle all their journeys ask
    for (in the earliest journey's order) that could carry every one of them alone today.
    Otherwise each journey asks for its own first usual vehicle that could carry it alone;
    none asks nothing (every vehicle would pay alike). Where a standard already bounds a
    pickup, the tighter bound holds, at the dearer cost: one soft latest per pickup, as the
    model takes it.
    """
    policy = problem.config.continuity
    latest = dict(soft_latest)
    earliest: dict[int, tuple[int, int]] = {}
    usual_vehicle: dict[int, tuple[int, int]] = {}
    if not commitments.prefer:
        return latest, earliest, usual_vehicle
    index_of = {v.vehicle_id: i for i, v in enumerate(problem.vehicles)}
    crew = _one_crew(servable, requests, commitments, index_of)
    for r, (journey, request) in enumerate(zip(servable, requests, strict=True)):
        wish = commitments.prefer.get(journey.journey_id)
        if wish is None:
            continue
        vehicle = crew.get(journey.patient_id)
        if vehicle is None:
            vehicle = next((index_of[v] for v in wish.vehicle_ids
                            if index_of.get(v, -1) in request.allowed_vehicles), None)
        if policy.vehicle_change_cost > 0 and vehicle is not None \
                and len(request.allowed_vehicles) > 1:
            usual_vehicle[r] = (vehicle, policy.vehicle_change_cost)
        cost = policy.pickup_spread_cost_per_min
        if wish.pickup_min is None or cost <= 0:
            continue
        window, node = journey.pickup_window, request.pickup_node
        low = wish.pickup_min - policy.pickup_slack_min
        high = wish.pickup_min + policy.pickup_slack_min
        if low > window.earliest_min:
            earliest[node] = (min(low, window.latest_min), cost)
        if high < window.latest_min:
            bound, dearer = latest.get(node, (high, cost))
            latest[node] = (min(bound, max(high, window.earliest_min)), max(dearer, cost))
    return latest, earliest, usual_vehicle


def _aboard(begun: Sequence[VehicleStart | None], nodes: Nodes, places: DayPlaces
            ) -> dict[int, int]:
    """Drop-off nodes of patients aboard at a re-plan, each fixed to its vehicle."""
    fixed_visits: dict[int, int] = {}
    for vehicle_index, begin in enumerate(begun):
        for journey, left_pickup in begin.on_board if begin is not None else ():
            latest = min(journey.dropoff_window.latest_min, left_pickup + journey.max_ride_min)
            earliest = journey.dropoff_window.earliest_min
            load = journey_load(journey)
            node = nodes.add(places.of(journey.dropoff), journey.dropoff_service_min,
                             (earliest, max(earliest, latest)),
                             (-load[0], -load[1], -load[2], -load[3]))
            nodes.journey_of_node[node] = journey
            nodes.event_of_node[node] = Event.DROPOFF
            fixed_visits[node] = vehicle_index
    return fixed_visits


def _breaks(problem: Problem, break_places: Mapping[int, Sequence[Place]],
            begun: Sequence[VehicleStart | None], nodes: Nodes, places: DayPlaces
            ) -> tuple[dict[int, int], dict[int, list[int]]]:
    """Break visit nodes: node -> its vehicle, and vehicle -> its nodes."""
    rules = problem.config.breaks
    break_owner: dict[int, int] = {}
    break_nodes: dict[int, list[int]] = {}
    for vehicle_index, sites in break_places.items():
        vehicle = problem.vehicles[vehicle_index]
        begin = begun[vehicle_index]
        window = (vehicle.shift_start_min + rules.earliest_after_start_min,
                  vehicle.shift_start_min + rules.latest_after_start_min)
        if begin is not None:
            window = (max(window[0], begin.free_min), max(window[1], begin.free_min))
        for site in sites:
            node = nodes.add(places.of(site), vehicle.break_min, window)
            break_owner[node] = vehicle_index
            nodes.break_site[node] = site
            nodes.event_of_node[node] = Event.BREAK
            break_nodes.setdefault(vehicle_index, []).append(node)
    return break_owner, break_nodes


def _routing_vehicles(problem: Problem, begun: Sequence[VehicleStart | None],
                      starts: Sequence[int], ends: Sequence[int]) -> list[RoutingVehicle]:
    """Each shift as the model sees it: from where and when it is free, its costs and range."""
    objective = problem.config.objective
    vehicles = []
    for i, (v, b) in enumerate(zip(problem.vehicles, begun, strict=True)):
        driven_m = b.metres if b is not None else 0
        vehicles.append(RoutingVehicle(
            start_node=starts[i], end_node=ends[i],
            # Re-planning: a vehicle is free only once its kept stops are done.
            shift_start_min=b.free_min if b is not None else v.shift_start_min,
            shift_end_min=v.shift_end_min,
            capacity={"seats": v.capacity.seats, "wheelchairs": v.capacity.wheelchairs,
                      "stretchers": v.capacity.stretchers, "patients": ALONE},
            range_m=int(v.range_km * 1000) - driven_m if v.range_km is not None else None,
            km_cost=objective.km_cost_by_fuel[str(v.fuel)],
            max_duration_min=v.max_duration_min))
    return vehicles
