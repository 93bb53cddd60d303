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
from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import pairwise
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from pts_optimiser.domain.config import Config
from pts_optimiser.domain.diagnostics import Code, Finding, InputError, error
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


HEADER = ("vehicles", "requests", "max_duration", "capacity", "max_ride")
NODE = ("id", "x", "y", "service", "load", "earliest", "latest")
FORMAT_HINT = ("give the instance as published: a first line 'vehicles requests max_duration "
               "capacity max_ride', then one line per node 'id x y service load earliest "
               "latest' (docs/benchmarks.md)")


def parse_instance(text: str, name: str, file: str | None = None) -> Instance:
    """An instance from the text of its file (either format).

    A file that is not one is an InputError naming its line and field (until the
    thirty-fifth stop: an internal error, exit 1, naming nothing).
    """
    where = file or name
    findings: list[Finding] = []

    def bad(line: int, field: str | None, message: str) -> None:
        findings.append(error(Code.UNREADABLE_FILE, where, message, FORMAT_HINT, line, field))

    lines = [(number, line.split()) for number, line in enumerate(text.splitlines(), 1)
             if line.strip()]
    if not lines:
        raise InputError([error(Code.EMPTY_FILE, where, "the file is empty", FORMAT_HINT)])
    header = _numbers(lines[0], HEADER, bad, whole=("vehicles", "requests", "capacity"))
    nodes = [node for number, fields in lines[1:]
             if (node := _node(number, fields, bad)) is not None]
    if header is not None:
        for field, least in (("vehicles", 1), ("requests", 1), ("capacity", 1),
                             ("max_duration", 0), ("max_ride", 0)):
            if header[field] < least:
                bad(lines[0][0], field, f"{field} is {header[field]:g}, less than {least}")
    if findings:
        raise InputError(findings[:20])
    assert header is not None
    for index, (node, (number, _)) in enumerate(zip(nodes, lines[1:], strict=True)):
        if node.node_id != index:
            bad(number, "id", f"node {node.node_id} where node {index} was due (ids are 0, 1, "
                "2 ... in order)")
            raise InputError(findings)
    count = int(header["requests"])
    # 2006 files list 2n+2 nodes (two depots); 2003 files 2n+1 (one depot, N = 2n).
    requests = count if len(nodes) == 2 * count + 2 else count // 2
    end_depot = 2 * requests + 1 if len(nodes) == 2 * requests + 2 else 0
    if len(nodes) != 2 * requests + 1 + (end_depot != 0):
        bad(lines[0][0], "requests", f"{len(nodes)} nodes do not match the first line's "
            f"{count} requests (2n+2 nodes, or 2n+1 with N = 2n)")
        raise InputError(findings)
    return Instance(name, int(header["vehicles"]), requests, header["max_duration"],
                    int(header["capacity"]), header["max_ride"], tuple(nodes), end_depot)


def _numbers(line: tuple[int, list[str]], names: tuple[str, ...],
             bad: Callable[[int, str | None, str], None],
             whole: tuple[str, ...] = ()) -> dict[str, float] | None:
    """The line's first fields as finite numbers by name; None (and a finding) otherwise."""
    number, fields = line
    if len(fields) < len(names):
        bad(number, None, f"{len(fields)} field(s), {len(names)} needed ({' '.join(names)})")
        return None
    values: dict[str, float] = {}
    for field, text in zip(names, fields, strict=False):
        try:
            value = float(text)
        except ValueError:
            bad(number, field, f"{text[:20]!r} is not a number")
            return None
        if not math.isfinite(value) or (field in whole and value != int(value)):
            bad(number, field, f"{text[:20]!r} is not a {'whole ' * (field in whole)}number")
            return None
        values[field] = value
    return values


def _node(number: int, fields: list[str], bad: Callable[[int, str | None, str], None]
          ) -> Node | None:
    values = _numbers((number, fields), NODE, bad, whole=("id", "load"))
    if values is None:
        return None
    if values["earliest"] > values["latest"]:
        bad(number, "earliest", f"the window {values['earliest']:g}-{values['latest']:g} ends "
            "before it starts")
        return None
    if values["service"] < 0:
        bad(number, "service", f"service {values['service']:g} is negative")
        return None
    return Node(int(values["id"]), values["x"], values["y"], values["service"],
                int(values["load"]), values["earliest"], values["latest"])


def read_instance(path: Path) -> Instance:
    """Read an instance file; one that is not an instance is an InputError."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError([error(Code.UNREADABLE_FILE, str(path), "the file is not UTF-8 text",
                                FORMAT_HINT)]) from None
    return parse_instance(text, path.stem, str(path))


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
