"""Published dial-a-ride benchmark instances (Cordeau 2006; Cordeau & Laporte 2003).

An instance is read into the same `Problem` a Derbyshire day becomes, and planned by the
same `solve`: Euclidean distance, travel time = distance, times scaled to integers. The
solution is then checked here on its own, with unrounded distances, and its cost is the sum
of unrounded Euclidean arc lengths, as the published tables count it.

File formats (../shared/benchmarks/darp/README.md): a first line `K n T Q L` (2006 sets:
n requests, nodes 0..2n+1 with 2n+1 the end depot) or `K N T Q L` (2003 set: N = 2n nodes,
node 0 both depots); then `id x y service load earliest latest` per node.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from itertools import pairwise
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from pts_optimiser.domain.config import Config
from pts_optimiser.domain.plan import Event, Plan
from pts_optimiser.domain.problem import (
    Fuel,
    Journey,
    Mobility,
    Place,
    Problem,
    Purpose,
    Space,
    VehicleShift,
    Window,
)
from pts_optimiser.domain.travel import TravelMatrix

# Times and distances are kept in thousandths: a leg is rounded up by under 0.001 (so no
# schedule is tighter than the real one) and an arc's cost by at most 0.0005 of ~10.
SCALE = 1000
TOLERANCE = 1e-6


@dataclass(frozen=True)
class Node:
    """One line of an instance file."""

    node_id: int
    x: float
    y: float
    service: float
    load: int
    earliest: float
    latest: float


@dataclass(frozen=True)
class Instance:
    """A dial-a-ride instance as published."""

    name: str
    vehicles: int
    requests: int
    max_duration: float
    capacity: int
    max_ride: float
    nodes: tuple[Node, ...]  # by id
    end_depot: int  # 2n+1 in the 2006 files, 0 in the 2003 ones

    def distance(self, a: int, b: int) -> float:
        """Euclidean distance between two nodes."""
        return math.hypot(self.nodes[a].x - self.nodes[b].x, self.nodes[a].y - self.nodes[b].y)


def parse_instance(text: str, name: str) -> Instance:
    """An instance from the text of its file (either format)."""
    lines = [line.split() for line in text.splitlines() if line.strip()]
    k, count, duration, capacity, ride = lines[0][:5]
    nodes = tuple(Node(int(f[0]), float(f[1]), float(f[2]), float(f[3]), int(float(f[4])),
                       float(f[5]), float(f[6])) for f in lines[1:])
    if any(node.node_id != index for index, node in enumerate(nodes)):
        raise ValueError(f"{name}: node ids are not 0, 1, 2 ... in order")
    # 2006 files list 2n+2 nodes (two depots); 2003 files 2n+1 (one depot, N = 2n).
    requests = int(count) if len(nodes) == 2 * int(count) + 2 else int(count) // 2
    end_depot = 2 * requests + 1 if len(nodes) == 2 * requests + 2 else 0
    if len(nodes) != 2 * requests + 1 + (end_depot != 0):
        raise ValueError(f"{name}: {len(nodes)} nodes do not match the first line")
    return Instance(name, int(k), requests, float(duration), int(capacity), float(ride), nodes,
                    end_depot)


def read_instance(path: Path) -> Instance:
    """Read an instance file."""
    return parse_instance(path.read_text(encoding="utf-8"), path.stem)


@dataclass(frozen=True)
class EuclideanTravel:
    """Travel time = distance = the straight line, in thousandths (lat holds y, lon x)."""

    def matrix(self, lats: NDArray[np.float64], lons: NDArray[np.float64]) -> TravelMatrix:
        """Distances rounded, times rounded up, both in thousandths."""
        exact = np.hypot(lats[:, None] - lats[None, :], lons[:, None] - lons[None, :]) * SCALE
        return TravelMatrix(np.rint(exact).astype(np.int64),
                            np.ceil(exact - 1e-9).astype(np.int64))


def _units(value: float) -> int:
    return round(value * SCALE)


def to_problem(instance: Instance, config: Config) -> Problem:
    """The instance as a day for `solve`: no breaks, distance the only cost."""
    n = instance.requests
    nodes = instance.nodes
    journeys = []
    for i in range(1, n + 1):
        pickup, dropoff = nodes[i], nodes[n + i]
        journeys.append(Journey(
            journey_id=str(i), patient_id=str(i), purpose=Purpose.OUTPATIENT,
            mobility=Mobility.SEATED, escorts=max(0, pickup.load - 1),
            pickup=Place(pickup.y, pickup.x, f"node {i}"),
            dropoff=Place(dropoff.y, dropoff.x, f"node {n + i}"),
            pickup_window=Window(_units(pickup.earliest), _units(pickup.latest)),
            dropoff_window=Window(_units(dropoff.earliest), _units(dropoff.latest)),
            max_ride_min=_units(instance.max_ride), pickup_service_min=_units(pickup.service),
            dropoff_service_min=_units(dropoff.service), needs=frozenset(), priority=1))
    depot = nodes[0]
    vehicles = tuple(VehicleShift(
        vehicle_id=f"V{v + 1}", vehicle_type="vehicle", base=Place(depot.y, depot.x, "depot"),
        capacity=Space(seats=instance.capacity), crew=2,
        shift_start_min=_units(depot.earliest),
        shift_end_min=_units(nodes[instance.end_depot].latest), break_min=0,
        fuel=Fuel.DIESEL, range_km=None, skills=frozenset(),
        max_duration_min=_units(instance.max_duration)) for v in range(instance.vehicles))
    objective = replace(config.objective, unserved_cost_by_priority={1: 10**9, 2: 10**9,
                                                                     3: 10**9},
                        km_cost_by_fuel={**config.objective.km_cost_by_fuel, "diesel": 1000},
                        vehicle_cost=0, shift_minute_cost=0)
    # Distance only: the published instances know nothing of the NEPTS standards.
    benchmark = replace(config, objective=objective,
                        breaks=replace(config.breaks, required_over_min=10**9),
                        standards=replace(config.standards, renal_collect_cost_per_min=0,
                                          discharge_collect_cost_per_min=0))
    return Problem(tuple(journeys), vehicles, {}, benchmark, instance.name,
                   travel=EuclideanTravel())


Route = list[tuple[int, float]]  # (node id as in the file, start of service)


def routes_of(plan: Plan, instance: Instance) -> list[Route]:
    """The plan's runs as node ids of the instance file, with service start times."""
    n = instance.requests
    routes = []
    for roster in plan.rosters:
        if not roster.used:
            continue
        route: Route = []
        for stop in roster.stops:
            if stop.event is Event.START:
                route.append((0, stop.departure_min / SCALE))
            elif stop.event is Event.END:
                route.append((instance.end_depot, stop.arrival_min / SCALE))
            elif stop.journey is not None:
                i = int(stop.journey.journey_id)
                route.append((i if stop.event is Event.PICKUP else n + i,
                              stop.service_start_min / SCALE))
        routes.append(route)
    return routes


@dataclass(frozen=True)
class Verdict:
    """What the independent check found."""

    cost: float
    served: int
    problems: tuple[str, ...]

    @property
    def feasible(self) -> bool:
        """Every request served and no rule broken."""
        return not self.problems


def check(instance: Instance, routes: list[Route]) -> Verdict:
    """Check routes against the instance with unrounded distances; cost as published."""
    n = instance.requests
    problems: list[str] = []
    seen: dict[int, tuple[int, float]] = {}  # node -> route, start
    cost = 0.0
    if len(routes) > instance.vehicles:
        problems.append(f"{len(routes)} routes for {instance.vehicles} vehicles")
    for r, route in enumerate(routes):
        if route[0][0] != 0 or route[-1][0] != instance.end_depot:
            problems.append(f"route {r} does not run depot to depot")
        load = 0
        for (a, start_a), (b, start_b) in pairwise(route):
            leg = instance.distance(a, b)
            cost += leg
            if start_b + TOLERANCE < start_a + instance.nodes[a].service + leg:
                problems.append(f"route {r}: node {b} starts before it can be reached")
        for node, start in route:
            spec = instance.nodes[node]
            if not spec.earliest - TOLERANCE <= start <= spec.latest + TOLERANCE:
                problems.append(f"route {r}: node {node} starts at {start:.3f}, window "
                                f"{spec.earliest:g}-{spec.latest:g}")
            if 1 <= node <= 2 * n:
                if node in seen:
                    problems.append(f"node {node} visited twice")
                seen[node] = (r, start)
                load += spec.load
                if load > instance.capacity:
                    problems.append(f"route {r}: load {load} over {instance.capacity} at {node}")
        if route[-1][1] - route[0][1] > instance.max_duration + TOLERANCE:
            problems.append(f"route {r} lasts {route[-1][1] - route[0][1]:.3f}")
    served = 0
    for i in range(1, n + 1):
        if i not in seen or n + i not in seen:
            problems.append(f"request {i} not served")
            continue
        (route_p, start_p), (route_d, start_d) = seen[i], seen[n + i]
        if route_p != route_d or start_d < start_p:
            problems.append(f"request {i}: drop-off not after pickup on the same route")
            continue
        served += 1
        ride = start_d - (start_p + instance.nodes[i].service)
        if ride > instance.max_ride + TOLERANCE:
            problems.append(f"request {i}: ride {ride:.3f} over {instance.max_ride:g}")
    return Verdict(cost, served, tuple(problems))
