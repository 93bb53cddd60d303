"""The OR-Tools routing model: the only module that imports ortools.

It knows nothing of bookings or files: it takes nodes with windows, service times and
loads, vehicles with shifts and capacities, and pickup-delivery requests, and returns
routes with service start times. See ../shared/notes/ortools-notes.md for why the
model is built the way it is (both ride-time encodings, break visits, pruned vehicles).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray
from ortools.constraint_solver import pywrapcp, routing_enums_pb2
from ortools.util import optional_boolean_pb2

from pts_optimiser.domain.exits import searching, stop_asked

DAY_MIN = 24 * 60
RETIME_MIN_S = 1.0  # least time given to timing routes found elsewhere
RETIME_BUILDS = 4  # ...or this many times what building the model took
LOADS = ("seats", "wheelchairs", "stretchers", "patients")
# OR-Tools ships no type hints: its assignments and search parameters are opaque here.
Assignment = Any
Parameters = Any


_SINGLE_VISIT_MOVES = (
    "use_two_opt", "use_lin_kernighan", "use_cross", "use_exchange", "use_or_opt",
    "use_relocate_expensive_chain", "use_make_chain_inactive", "use_swap_active",
    "use_shortest_path_swap_active", "use_swap_active_chain", "use_shortest_path_two_opt",
    "use_relocate_path_global_cheapest_insertion_insert_unperformed",
    "use_global_cheapest_insertion_path_lns", "use_local_cheapest_insertion_path_lns")


@dataclass(frozen=True)
class RoutingVehicle:
    """One vehicle shift as the model sees it."""

    start_node: int
    end_node: int
    shift_start_min: int
    shift_end_min: int
    capacity: Mapping[str, int]  # per name in LOADS
    range_m: int | None
    km_cost: int
    max_duration_min: int | None = None  # longest time from leaving base to coming back


@dataclass(frozen=True)
class RoutingRequest:
    """A journey: pickup and drop-off nodes that must share a vehicle."""

    pickup_node: int
    dropoff_node: int
    max_ride_min: int
    unserved_cost: int
    allowed_vehicles: tuple[int, ...]


@dataclass(frozen=True)
class RoutingInput:
    """Everything the model needs; node-indexed arrays, integer units."""

    travel_min: NDArray[np.int64]  # node x node
    distance_m: NDArray[np.int64]  # node x node
    service_min: Sequence[int]
    windows: Sequence[tuple[int, int]]
    loads: Mapping[str, Sequence[int]]  # per name in LOADS, + at pickup, - at drop-off
    vehicles: Sequence[RoutingVehicle]
    requests: Sequence[RoutingRequest]
    break_owner: Mapping[int, int]  # break node -> vehicle index
    # Drop-offs of patients already on board when re-planning: node -> the vehicle they are on.
    fixed_visits: Mapping[int, int] = field(default_factory=dict)
    vehicle_cost: int = 0
    span_cost_per_min: int = 0
    break_cost: int = 10**9  # skipping a required break: only when nothing else fits
    horizon_min: int = DAY_MIN  # latest time any cumul may take
    # Round trips: (outward request, return request) index pairs. The outward journey is
    # planned only if its return is (a patient taken somewhere is brought back); the return
    # may be planned alone. Shared by the model, ruin and recreate and the caller's checks.
    links: Sequence[tuple[int, int]] = ()
    # Standards as costs: node -> (minute, cost per minute its service starts after it).
    # Soft: within the node's hard window, a later start is allowed but paid for.
    soft_latest: Mapping[int, tuple[int, int]] = field(default_factory=dict)
    # Continuity of care: node -> (minute, cost per minute its service starts before it);
    # with soft_latest, a soft window around a regular's usual pickup time.
    soft_earliest: Mapping[int, tuple[int, int]] = field(default_factory=dict)
    # Continuity of care: request -> (vehicle index, cost when another vehicle carries it).
    usual_vehicle: Mapping[int, tuple[int, int]] = field(default_factory=dict)
    # Continuity of care: (requests, cost of each vehicle beyond the first that carries
    # those of them planned). A regular's day with one crew.
    together: Sequence[tuple[tuple[int, ...], int]] = ()


@dataclass(frozen=True)
class SearchSettings:
    """How long and how to search."""

    time_limit_s: float
    first_solution: str = "LOCAL_CHEAPEST_INSERTION"
    metaheuristic: str = "GUIDED_LOCAL_SEARCH"
    solution_limit: int | None = None  # 1: stop at the first solution (the construction)
    # Stop this many seconds after the call, but not before a first plan is found; the
    # time limit stays the hard end. For a search that hands its plan on: a construction
    # cut short leaves journeys out that the next search may not fit back in.
    stop_after_s: float | None = None
    # Only the moves that can succeed when every visit is half of a pickup-delivery pair:
    # the single-visit chain and segment moves OR-Tools also tries are almost always
    # rejected there, and dropping them gives guided local search ~2.5x the iterations
    # (measured on the published dial-a-ride instances, docs/benchmarks.md).
    pair_moves_only: bool = False

    def __post_init__(self) -> None:
        if self.time_limit_s <= 0:
            raise ValueError("time_limit_s must be positive")
        if self.stop_after_s is not None and self.stop_after_s < 0:
            raise ValueError("stop_after_s must not be negative")
        for name, enum in ((self.first_solution, routing_enums_pb2.FirstSolutionStrategy),
                           (self.metaheuristic, routing_enums_pb2.LocalSearchMetaheuristic)):
            if not hasattr(enum, name):
                raise ValueError(f"unknown strategy {name}")


@dataclass(frozen=True)
class Visit:
    """A node on a route, with the start of service chosen by the solver."""

    node: int
    start_min: int


@dataclass(frozen=True)
class RoutingOutcome:
    """Routes per vehicle (start and end included), and how the search went."""

    routes: tuple[tuple[Visit, ...], ...]
    objective: int
    status: str
    seconds: float
    solutions: int = 0
    model_s: float = 0.0  # of `seconds`, building the model before the search began


@dataclass
class _Progress:
    on_solution: Callable[[int, int, float], None] | None
    started: float = field(default_factory=time.monotonic)
    solutions: int = 0
    last_report: float = 0.0


def _constant(value: int) -> Callable[[int, int], int]:
    def limit(_pickup_alternative: int, _dropoff_alternative: int) -> int:
        return value
    return limit


def transit_min(data: RoutingInput) -> NDArray[np.int64]:
    """Node x node: the time from starting service at one to reaching the next."""
    return data.travel_min + np.asarray(data.service_min, dtype=np.int64)[:, None]


def ride_limit_min(data: RoutingInput, request: RoutingRequest) -> int:
    """Most time from the start of service at the pickup to that at the drop-off.

    Cumul to cumul: the pickup's boarding time counts before the ride starts.
    """
    return request.max_ride_min + data.service_min[request.pickup_node]


def unlinked(data: RoutingInput, served: set[int]) -> list[int]:
    """Outward requests served while their return is not: breaking the round-trip rule."""
    return sorted(outward for outward, back in data.links
                  if outward in served and back not in served)


def vehicle_change_costs(data: RoutingInput) -> list[list[int]]:
    """Per vehicle, per node: what the model charges for serving the node on that vehicle.

    A regular's pickup on another vehicle than their usual one costs the policy's price; on
    the usual one, and every other node anywhere, nothing.
    """
    n_nodes = len(data.service_min)
    base = [0] * n_nodes
    for request, (_, cost) in data.usual_vehicle.items():
        base[data.requests[request].pickup_node] = cost
    costs = [list(base) for _ in data.vehicles]
    for request, (vehicle, _) in data.usual_vehicle.items():
        costs[vehicle][data.requests[request].pickup_node] = 0
    return costs


def arc_costs(data: RoutingInput) -> dict[int, NDArray[np.int64]]:
    """Cost of each arc per km rate: km by fuel, plus the call-out charge on leaving base."""
    pickups = sorted({r.pickup_node for r in data.requests})
    start_rows = [v.start_node for v in data.vehicles]
    costs = {}
    for rate in sorted({v.km_cost for v in data.vehicles}):
        cost = np.rint(data.distance_m * rate / 1000.0).astype(np.int64)
        if data.vehicle_cost and pickups:
            cost[np.ix_(start_rows, pickups)] += data.vehicle_cost
        costs[rate] = cost
    return costs


def solve_routing(data: RoutingInput, settings: SearchSettings,
                  initial_routes: Sequence[Sequence[int]] | None = None,
                  on_solution: Callable[[int, int, float], None] | None = None,
                  warm_only: bool = False,
                  timings: dict[str, float] | None = None) -> RoutingOutcome | None:
    """Build the model and search; None when not even a first solution was found.

    Round trips (`data.links`): the rule as a constraint starves OR-Tools' construction (a
    750-journey day with 306 links found no first plan in 94 s, against 20 s without), so
    the search runs without it, every outward journey whose return it left out is then
    taken off, and the model with the rule times the routes. Routes given to be timed only
    (`warm_only`) are judged by the model with the rule.
    """
    if not data.links or warm_only:
        return _solve_routing(data, settings, initial_routes, on_solution, warm_only, timings)
    started = time.monotonic()
    free = _solve_routing(data, settings, initial_routes, on_solution, False, timings,
                          with_links=False)
    if free is None:
        return None
    request_of = {r.pickup_node: i for i, r in enumerate(data.requests)}
    served = {request_of[v.node] for route in free.routes for v in route if v.node in request_of}
    stranded: set[int] = set()
    while more := set(unlinked(data, served - stranded)):
        stranded |= more
    if not stranded:
        return free
    gone = {node for r in stranded for node in (data.requests[r].pickup_node,
                                                 data.requests[r].dropoff_node)}
    # Taking visits off keeps every other visit's time: the drive past a stop is never longer
    # than the drive to it, its service and the drive on.
    routes = tuple(tuple(v for v in route if v.node not in gone) for route in free.routes)
    penalty = sum(2 * data.requests[r].unserved_cost for r in stranded)
    stripped = replace(free, routes=routes, objective=free.objective + penalty)
    # Timing given routes is quick but not instant: ~2.4 s for a 750-journey day with its
    # links, of which 1.2 s building the model (measured under load: 2 x the build was short).
    retime_s = max(RETIME_MIN_S, RETIME_BUILDS * free.model_s)
    timed = _solve_routing(data, SearchSettings(retime_s, solution_limit=1),
                           [[v.node for v in route[1:-1]] for route in routes], warm_only=True)
    if timed is None:
        return stripped
    return replace(timed, status=free.status, seconds=time.monotonic() - started,
                   solutions=free.solutions, model_s=free.model_s)


def _solve_routing(data: RoutingInput, settings: SearchSettings,
                   initial_routes: Sequence[Sequence[int]] | None = None,
                   on_solution: Callable[[int, int, float], None] | None = None,
                   warm_only: bool = False,
                   timings: dict[str, float] | None = None,
                   with_links: bool = True) -> RoutingOutcome | None:
    """solve_routing's model and search, the round-trip rule in it if `with_links`.

    `initial_routes` (node ids per vehicle, without start and end) warm-starts the search;
    routes the model does not accept are replaced by a construction, or with `warm_only`
    give None.
    `on_solution(planned_requests, objective, elapsed_s)` is called at most once a second.
    `timings`, if given, gets "model_s": the seconds building the model took, also when
    no solution is found (a caller budgeting a later re-timing needs it then).
    """
    started = time.monotonic()
    model = _build(data, with_links)
    params = _parameters(settings, max(0.5, settings.time_limit_s - (time.monotonic() - started)))
    progress = _Progress(on_solution)
    _report_progress(model, data, progress)
    model_s = time.monotonic() - started
    if timings is not None:
        timings["model_s"] = model_s
    stop = _early_stop(model, progress, started, settings.stop_after_s)
    with searching():
        solution = _search(model, params, initial_routes, warm_only)
    del stop  # kept alive until the search returned
    if (asked := stop_asked()) is not None:  # Ctrl-C or SIGTERM, lost inside the search
        raise asked
    # A construction cut off by the time limit still returns an assignment, with every
    # node left out and status "partial_success": that is no plan (a 750-journey day's
    # search told 3 s gave one, and the day was written with nothing planned).
    if solution is None or progress.solutions == 0:
        return None
    return RoutingOutcome(_read_routes(model, solution, len(data.vehicles)),
                          solution.ObjectiveValue(), _status(model.routing.status()),
                          time.monotonic() - started, progress.solutions, model_s)


@dataclass
class _Built:
    """An OR-Tools routing model of one routing input, and what reading it back needs."""

    manager: pywrapcp.RoutingIndexManager
    routing: pywrapcp.RoutingModel
    index_of: dict[int, int]  # node -> routing index (visits only)
    node_of: list[int]  # routing index -> node
    time_dim: pywrapcp.RoutingDimension | None = None
    # Callbacks handed to the C++ side must outlive the search.
    keep_alive: list[object] = field(default_factory=list)

    @property
    def times(self) -> pywrapcp.RoutingDimension:
        assert self.time_dim is not None
        return self.time_dim


def _build(data: RoutingInput, with_links: bool) -> _Built:
    """The model: time, loads, range, costs, journeys, round trips, standards, breaks.

    Continuity of care (usual vehicles and times) is priced with the costs and times.
    """
    n_nodes = len(data.service_min)
    starts = [v.start_node for v in data.vehicles]
    ends = [v.end_node for v in data.vehicles]
    manager = pywrapcp.RoutingIndexManager(n_nodes, len(data.vehicles), starts, ends)
    routing = pywrapcp.RoutingModel(manager)
    model = _Built(manager, routing,
                   {node: manager.NodeToIndex(node) for node in range(n_nodes)
                    if node not in set(starts) | set(ends)},
                   [manager.IndexToNode(i) for i in range(routing.Size() + routing.vehicles())])
    _add_time(model, data)
    _add_loads(model, data)
    _add_range(model, data)
    _add_costs(model, data)
    _add_journeys(model, data, with_links)
    _add_breaks(model, data)
    return model


def _add_time(model: _Built, data: RoutingInput) -> None:
    """Time: transit from a node is its service time plus the drive to the next."""
    routing = model.routing
    time_cb = routing.RegisterTransitMatrix(transit_min(data).tolist())
    routing.AddDimension(time_cb, data.horizon_min, data.horizon_min, False, "time")
    time_dim = model.time_dim = routing.GetDimensionOrDie("time")
    for node, index in model.index_of.items():
        earliest, latest = data.windows[node]
        time_dim.CumulVar(index).SetRange(earliest, latest)
    for vehicle_index, vehicle in enumerate(data.vehicles):
        for index in (routing.Start(vehicle_index), routing.End(vehicle_index)):
            time_dim.CumulVar(index).SetRange(vehicle.shift_start_min, vehicle.shift_end_min)
        routing.AddVariableMinimizedByFinalizer(time_dim.CumulVar(routing.End(vehicle_index)))
        if vehicle.max_duration_min is not None:
            time_dim.SetSpanUpperBoundForVehicle(vehicle.max_duration_min, vehicle_index)
        routing.AddVariableMaximizedByFinalizer(time_dim.CumulVar(routing.Start(vehicle_index)))
    if data.span_cost_per_min:
        time_dim.SetSpanCostCoefficientForAllVehicles(data.span_cost_per_min)
    # Standards and usual times: minutes outside them cost, inside the hard window.
    for node, (bound, cost) in data.soft_latest.items():
        if cost > 0:
            time_dim.SetCumulVarSoftUpperBound(model.index_of[node], bound, cost)
    for node, (bound, cost) in data.soft_earliest.items():
        if cost > 0:
            time_dim.SetCumulVarSoftLowerBound(model.index_of[node], bound, cost)


def _add_loads(model: _Built, data: RoutingInput) -> None:
    """Space on board, and patients on board (breaks need 0; travel_alone fills it)."""
    routing = model.routing
    patients = None
    for name in LOADS:
        demand_cb = routing.RegisterUnaryTransitVector([int(x) for x in data.loads[name]])
        routing.AddDimensionWithVehicleCapacity(
            demand_cb, 0, [v.capacity[name] for v in data.vehicles], True, name)
        if name == "patients":
            patients = routing.GetDimensionOrDie(name)
    assert patients is not None
    for break_node in data.break_owner:
        patients.CumulVar(model.index_of[break_node]).SetRange(0, 0)


def _add_range(model: _Built, data: RoutingInput) -> None:
    """Electric range: the whole shift's driving."""
    if all(v.range_m is None for v in data.vehicles):
        return
    distance_cb = model.routing.RegisterTransitMatrix(data.distance_m.tolist())
    no_limit = int(data.distance_m.max()) * len(data.service_min) + 1
    model.routing.AddDimensionWithVehicleCapacity(
        distance_cb, 0, [v.range_m if v.range_m is not None else no_limit
                         for v in data.vehicles], True, "distance")


def _add_costs(model: _Built, data: RoutingInput) -> None:
    """Cost: km by fuel, and a charge for calling a crew out (arcs leaving the base to work)."""
    routing = model.routing
    cost_by_rate = {rate: routing.RegisterTransitMatrix(cost.tolist())
                    for rate, cost in arc_costs(data).items()}
    for vehicle_index, vehicle in enumerate(data.vehicles):
        routing.SetArcCostEvaluatorOfVehicle(cost_by_rate[vehicle.km_cost], vehicle_index)
    _add_usual_vehicles(model, data)
    for members, cost in data.together:
        # Journeys not planned are not counted: a patient left out is not a crew more.
        model.routing.AddSoftSameVehicleConstraint(
            [model.index_of[data.requests[r].pickup_node] for r in members], cost)


def _add_usual_vehicles(model: _Built, data: RoutingInput) -> None:
    """Continuity: a regular's pickup off their usual vehicle costs, as a dimension's span.

    OR-Tools has no per-vehicle cost of a visit; a dimension whose transit at a node is
    that cost on the vehicle gives it, summed over the run. Vehicles nobody usually rides
    share one transit vector, so they stay one vehicle class.
    """
    if not data.usual_vehicle:
        return
    routing = model.routing
    callbacks: dict[tuple[int, ...], int] = {}
    per_vehicle = []
    for costs in vehicle_change_costs(data):
        key = tuple(costs)
        if key not in callbacks:
            callbacks[key] = routing.RegisterUnaryTransitVector(costs)
        per_vehicle.append(callbacks[key])
    most = sum(cost for _, cost in data.usual_vehicle.values())
    routing.AddDimensionWithVehicleTransits(per_vehicle, 0, most, True, "usual_vehicle")
    routing.GetDimensionOrDie("usual_vehicle").SetSpanCostCoefficientForAllVehicles(1)


def _add_journeys(model: _Built, data: RoutingInput, with_links: bool) -> None:
    """Journeys: pairs, allowed vehicles, windows, ride time both ways, droppable; round trips."""
    routing, index_of, time_dim = model.routing, model.index_of, model.times
    solver = routing.solver()
    for pair_index, request in enumerate(data.requests):
        pickup, dropoff = index_of[request.pickup_node], index_of[request.dropoff_node]
        routing.AddPickupAndDelivery(pickup, dropoff)
        solver.Add(routing.VehicleVar(pickup) == routing.VehicleVar(dropoff))
        solver.Add(time_dim.CumulVar(pickup) <= time_dim.CumulVar(dropoff))
        for index in (pickup, dropoff):
            routing.VehicleVar(index).SetValues([-1, *request.allowed_vehicles])
            routing.AddDisjunction([index], request.unserved_cost)
        limit = ride_limit_min(data, request)
        model.keep_alive.append(_constant(limit))
        time_dim.SetPickupToDeliveryLimitFunctionForPair(model.keep_alive[-1], pair_index)
        solver.Add(time_dim.CumulVar(dropoff) - time_dim.CumulVar(pickup) <= limit)
    # Round trips: an outward journey is active only if its return is.
    for outward, back in data.links if with_links else ():
        solver.Add(routing.ActiveVar(index_of[data.requests[outward].pickup_node])
                   <= routing.ActiveVar(index_of[data.requests[back].pickup_node]))


def _add_breaks(model: _Built, data: RoutingInput) -> None:
    """Breaks: one visit among the vehicle's candidates, nobody on board; fixed drop-offs."""
    routing, index_of = model.routing, model.index_of
    by_vehicle: dict[int, list[int]] = {}
    for break_node, vehicle_index in data.break_owner.items():
        routing.VehicleVar(index_of[break_node]).SetValues([-1, vehicle_index])
        by_vehicle.setdefault(vehicle_index, []).append(index_of[break_node])
    for indices in by_vehicle.values():
        routing.AddDisjunction(indices, data.break_cost, 1)
    # A patient on board leaves that vehicle only at their drop-off.
    for node, vehicle_index in data.fixed_visits.items():
        routing.VehicleVar(index_of[node]).SetValues([-1, vehicle_index])
        routing.AddDisjunction([index_of[node]], data.break_cost)


def _parameters(settings: SearchSettings, time_limit_s: float) -> Parameters:
    """OR-Tools' search parameters for `settings`, with `time_limit_s` left to search."""
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = getattr(routing_enums_pb2.FirstSolutionStrategy,
                                             settings.first_solution)
    params.local_search_metaheuristic = getattr(routing_enums_pb2.LocalSearchMetaheuristic,
                                                settings.metaheuristic)
    # Relocating a pair whole: off serves slightly more (ortools-notes).
    params.local_search_operators.use_relocate_pair = optional_boolean_pb2.BOOL_FALSE
    if settings.pair_moves_only:
        for name in _SINGLE_VISIT_MOVES:
            setattr(params.local_search_operators, name, optional_boolean_pb2.BOOL_FALSE)
    if settings.solution_limit is not None:
        params.solution_limit = settings.solution_limit
    params.time_limit.FromMilliseconds(int(time_limit_s * 1000))
    return params


def _report_progress(model: _Built, data: RoutingInput, progress: _Progress) -> None:
    """Count solutions, and tell `progress.on_solution` at most once a second."""
    routing = model.routing
    pickups = [model.index_of[r.pickup_node] for r in data.requests]

    def at_solution() -> None:
        progress.solutions += 1
        now = time.monotonic()
        if progress.on_solution is None or now - progress.last_report < 1.0:
            return
        progress.last_report = now
        planned = sum(routing.NextVar(i).Value() != i for i in pickups)
        progress.on_solution(planned, routing.CostVar().Max(), now - progress.started)

    routing.AddAtSolutionCallback(at_solution)
    model.keep_alive.append(at_solution)


def _early_stop(model: _Built, progress: _Progress, started: float,
                stop_after_s: float | None) -> object:
    """A limit stopping the search `stop_after_s` after `started`, once it has a plan.

    It also stops the search at once when the user asked for a stop (`stop_asked`).
    """
    stop_at = math.inf if stop_after_s is None else started + stop_after_s

    def stop() -> bool:  # checked by the search between moves
        return stop_asked() is not None or (progress.solutions > 0
                                            and time.monotonic() >= stop_at)

    limit = model.routing.solver().CustomLimit(stop)
    model.routing.AddSearchMonitor(limit)
    model.keep_alive.append(stop)
    return limit


def _search(model: _Built, params: Parameters, initial_routes: Sequence[Sequence[int]] | None,
            warm_only: bool) -> Assignment | None:
    """Search from `initial_routes` if the model takes them, else from a construction."""
    routing = model.routing
    solution = None
    if initial_routes is not None:
        routing.CloseModelWithParameters(params)
        start = routing.ReadAssignmentFromRoutes([list(map(model.index_of.__getitem__, r))
                                                  for r in initial_routes], True)
        solution = routing.SolveFromAssignmentWithParameters(start, params) if start else None
        if solution is None and warm_only:
            return None
    if solution is None:  # no warm start, or routes the model could not take: construct
        solution = routing.SolveWithParameters(params)
    return solution


def _read_routes(model: _Built, solution: Assignment, vehicles: int
                 ) -> tuple[tuple[Visit, ...], ...]:
    """Each vehicle's visits, start and end included, with their service start."""
    routing, time_dim = model.routing, model.times
    routes = []
    for vehicle_index in range(vehicles):
        visits = []
        index = routing.Start(vehicle_index)
        while True:
            visits.append(Visit(model.node_of[index],
                                solution.Value(time_dim.CumulVar(index))))
            if routing.IsEnd(index):
                break
            index = solution.Value(routing.NextVar(index))
        routes.append(tuple(visits))
    return tuple(routes)


def _status(code: int) -> str:
    """OR-Tools' search status by its name: `success`, `partial_success`, `fail_timeout`..."""
    try:
        name = str(routing_enums_pb2.RoutingSearchStatus.Value.Name(code))
    except ValueError:
        return str(code)
    return name.removeprefix("ROUTING_").removesuffix("_LOCAL_OPTIMUM_NOT_REACHED").lower()
