"""The search's routes back as crews' rosters: stops, times, loads and where waits are taken."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from pts_optimiser.domain.commitments import VehicleStart
from pts_optimiser.domain.plan import Event, Roster, Stop
from pts_optimiser.domain.problem import (
    Journey,
    Place,
    Problem,
    VehicleShift,
)
from pts_optimiser.engine.breaks import where_crew_is
from pts_optimiser.engine.encode import BREAK_SITE_KINDS, Nodes, last_stop
from pts_optimiser.engine.model import (
    RoutingInput,
    RoutingOutcome,
    Visit,
)
from pts_optimiser.engine.places import DayPlaces


def from_last_stop(roster: Roster, begin: VehicleStart | None, places: DayPlaces) -> Roster:
    """A vehicle that turned back on the road: its first new leg, as a run sheet shows it.

    The search planned it from where it turned (`turned_at`, at the call); the run sheet
    has no such stop, so the leg reads from its last stop, with that leg's road distance.
    The drive there and on took longer than the leg alone, so no time is lost.
    """
    if begin is None or begin.turned_at is None or len(roster.stops) <= len(begin.done):
        return roster
    stops = list(roster.stops)
    first = stops[len(begin.done)]
    metres = int(places.metres[places.of(last_stop(begin)),
                               places.of(Place(first.lat, first.lon))])
    stops[len(begin.done)] = replace(first, leg_m=metres)
    return replace(roster, stops=tuple(stops))


def read_routes(problem: Problem, outcome: RoutingOutcome | None, model: Nodes,
                 data: RoutingInput, begun: Sequence[VehicleStart | None],
                 breaks_where_crew_is: bool = True) -> tuple[list[Roster], list[Journey]]:
    """Rosters from the solver's routes; journeys it left out.

    A used shift that lost its required break (the solver pays a huge penalty first)
    is emptied rather than written: its journeys go back to unassigned. Each break is
    taken where the crew already is where it can be, unless `breaks_where_crew_is` is off.
    """
    config = problem.config
    planned: set[str] = set()
    rosters: list[Roster] = []
    restful = restful_places(problem, model, data) if breaks_where_crew_is else None
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
        rosters.append(roster_of(vehicle, route, model, data, begin, restful))
        planned.update(j.journey_id for j in rosters[-1].journeys)
    left_out = [j for j in model.journey_of_node.values() if j.journey_id not in planned]
    unique = list({j.journey_id: j for j in left_out}.values())
    return rosters, unique


def restful_places(problem: Problem, model: Nodes, data: RoutingInput,
                   vehicles: Sequence[VehicleShift] | None = None
                   ) -> Callable[[int], Place | None]:
    """A node's place if a crew may take its break there, else None.

    A base, or a stop at a hospital, community hospital or renal unit (the kinds of place
    a break visit is at). `vehicles`: the shifts of `data`'s vehicles, in order (the
    problem's by default).
    """
    sites = {code for code, site in problem.sites.items() if site.kind in BREAK_SITE_KINDS}
    shifts = problem.vehicles if vehicles is None else vehicles
    # A re-plan's start node stands for where the vehicle is, but is never a stop written.
    bases = {node: vehicle.base for vehicle, ends in zip(shifts, data.vehicles, strict=True)
             for node in (ends.start_node, ends.end_node)}

    def restful(node: int) -> Place | None:
        if node in bases:
            return bases[node]
        journey, event = model.journey_of_node.get(node), model.event_of_node.get(node)
        if journey is None or event not in (Event.PICKUP, Event.DROPOFF):
            return None
        place = journey.pickup if event is Event.PICKUP else journey.dropoff
        return place if place.site in sites else None

    return restful


def roster_of(vehicle: VehicleShift, route: Sequence[Visit], model: Nodes,
              data: RoutingInput, begin: VehicleStart | None = None,
              restful: Callable[[int], Place | None] | None = None) -> Roster:
    """One vehicle's route as its roster: each stop's times, leg and load on board.

    With `restful` (a node's place if a crew may take its break there), the break is taken
    where the crew already is if it can be (`breaks.where_crew_is`).
    """
    stops: list[Stop] = list(begin.done) if begin is not None else []
    nodes = [-1] * len(stops)
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
        nodes.append(node)
        previous_node = node
    kept = len(begin.done) if begin is not None and not begin.idle else 0
    if restful is not None:  # every stop kept, idle or not, has no node here
        stops = where_crew_is(stops, nodes, data, restful, len(begin.done) if begin else 0)
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


def _place_of(vehicle: VehicleShift, event: Event, journey: Journey | None, model: Nodes,
              node: int) -> Place:
    if event is Event.PICKUP and journey:
        return journey.pickup
    if event is Event.DROPOFF and journey:
        return journey.dropoff
    if event is Event.BREAK:
        return model.break_site[node]
    return Place(vehicle.base.lat, vehicle.base.lon, vehicle.base.label or "base",
                 vehicle.base.site)
