"""Splitting the day into two geographic halves, each improved on its own core.

OR-Tools routing is single-threaded; the machine has two cores. A half (vehicles by their
base, with the journeys they carry and the left-out journeys nearby) is a model of about
half the nodes, whose local search makes several times as many moves a second. Measured:
constructing the halves separately serves fewer journeys than one whole-day construction,
so the whole day is constructed first and the halves start from its routes; a journey
served there stays served (leaving it out would cost far more than any route saving).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from pts_optimiser.engine.model import RoutingInput, RoutingOutcome, RoutingRequest, RoutingVehicle


@dataclass(frozen=True)
class Part:
    """A sub-problem, and how its nodes and vehicles map back to the whole day's."""

    data: RoutingInput
    node_in_whole: tuple[int, ...]
    vehicle_in_whole: tuple[int, ...]
    initial_routes: tuple[tuple[int, ...], ...] | None = None  # the part's own node ids


def split_by_latitude(data: RoutingInput, request_lat: Sequence[float],
                      vehicle_lat: Sequence[float],
                      start: RoutingOutcome | None = None) -> list[Part]:
    """Two parts: north and south of the median journey, vehicles by their base.

    With a whole-day solution `start`, a journey goes with the vehicle carrying it and the
    part starts from those routes; left-out journeys go by where they are.
    """
    threshold = float(np.median(request_lat))
    carried_by: dict[int, int] = {}
    if start is not None:
        request_of = {r.pickup_node: k for k, r in enumerate(data.requests)}
        for vehicle, route in enumerate(start.routes):
            for visit in route:
                if visit.node in request_of:
                    carried_by[request_of[visit.node]] = vehicle
    parts = []
    for north in (True, False):
        vehicles = [v for v, lat in enumerate(vehicle_lat) if (lat >= threshold) == north]
        chosen = set(vehicles)
        requests = [r for r, lat in enumerate(request_lat)
                    if (carried_by[r] in chosen if r in carried_by
                        else (lat >= threshold) == north)]
        if vehicles and requests:
            part = _part(data, vehicles, requests)
            if start is not None:
                local = {whole: own for own, whole in enumerate(part.node_in_whole)}
                routes = tuple(tuple(local[visit.node] for visit in start.routes[v][1:-1])
                               for v in vehicles)
                part = replace(part, initial_routes=routes)
            parts.append(part)
    return parts


def _part(data: RoutingInput, vehicles: Sequence[int], requests: Sequence[int]) -> Part:
    keep_vehicles = set(vehicles)
    new_vehicle = {old: new for new, old in enumerate(vehicles)}
    nodes: list[int] = []
    for v in vehicles:
        nodes += [data.vehicles[v].start_node, data.vehicles[v].end_node]
    chosen: list[tuple[RoutingRequest, tuple[int, ...]]] = []
    usual: dict[int, tuple[int, int]] = {}
    new_request: dict[int, int] = {}
    for r in requests:
        request = data.requests[r]
        allowed = tuple(new_vehicle[v] for v in request.allowed_vehicles if v in keep_vehicles)
        if allowed:
            if r in data.usual_vehicle and data.usual_vehicle[r][0] in keep_vehicles:
                vehicle, cost = data.usual_vehicle[r]
                usual[len(chosen)] = (new_vehicle[vehicle], cost)
            new_request[r] = len(chosen)
            chosen.append((request, allowed))
            nodes += [request.pickup_node, request.dropoff_node]
    breaks = [node for node, owner in data.break_owner.items() if owner in keep_vehicles]
    fixed = [node for node, owner in data.fixed_visits.items() if owner in keep_vehicles]
    nodes += breaks + fixed
    new_node = {old: new for new, old in enumerate(nodes)}
    index = np.asarray(nodes)
    part = RoutingInput(
        travel_min=data.travel_min[np.ix_(index, index)],
        distance_m=data.distance_m[np.ix_(index, index)],
        service_min=[data.service_min[n] for n in nodes],
        windows=[data.windows[n] for n in nodes],
        loads={name: [amounts[n] for n in nodes] for name, amounts in data.loads.items()},
        vehicles=[_vehicle(data.vehicles[v], new_node) for v in vehicles],
        requests=[replace(request, pickup_node=new_node[request.pickup_node],
                          dropoff_node=new_node[request.dropoff_node], allowed_vehicles=allowed)
                  for request, allowed in chosen],
        break_owner={new_node[n]: new_vehicle[data.break_owner[n]] for n in breaks},
        fixed_visits={new_node[n]: new_vehicle[data.fixed_visits[n]] for n in fixed},
        vehicle_cost=data.vehicle_cost, span_cost_per_min=data.span_cost_per_min,
        break_cost=data.break_cost, horizon_min=data.horizon_min,
        soft_latest={new_node[n]: v for n, v in data.soft_latest.items() if n in new_node},
        soft_earliest={new_node[n]: v for n, v in data.soft_earliest.items() if n in new_node},
        usual_vehicle=usual,
        # A round trip held whole keeps its rule in the part; one cut by the split is
        # guarded by the merge, which refuses a plan that leaves a patient somewhere.
        links=[(new_request[o], new_request[b]) for o, b in data.links
               if o in new_request and b in new_request],
        together=[(kept, cost) for members, cost in data.together
                  if len(kept := tuple(new_request[r] for r in members if r in new_request)) > 1])
    return Part(part, tuple(nodes), tuple(vehicles))


def _vehicle(vehicle: RoutingVehicle, new_node: dict[int, int]) -> RoutingVehicle:
    return replace(vehicle, start_node=new_node[vehicle.start_node],
                   end_node=new_node[vehicle.end_node])
