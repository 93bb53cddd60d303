"""Reference planners a user might pick instead, written to our plan format so `pts check`
judges them like our own plans.

- textbook: the OR-Tools pickup-and-delivery sample grown to this problem (windows, three
  kinds of space, crews and skills, ride time as a constraint), parallel cheapest insertion
  and guided local search, no breaks.
- vroom: VROOM through pyvroom at exploration level 5 on both cores, with shipments, skills,
  breaks with nothing on board and EV range; it has no maximum ride time.

Benchmark code, not product code: it imports ortools and vroom directly.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import numpy as np

from pts_optimiser.domain.config import load_config
from pts_optimiser.domain.plan import Event, Plan, Reason, Roster, Stop, Unassigned
from pts_optimiser.domain.problem import Journey, Need, Place, Problem, Skill, incompatibility
from pts_optimiser.domain.travel import EstimatedTravel
from pts_optimiser.io.parse import Inputs, read_problem
from pts_optimiser.views.writers import write_plan_files

Step = tuple[Event, Journey | None, int]  # event, journey, service start


class _Grid:
    """Places of the day (bases, then pickups and drop-offs) and travel between them."""

    def __init__(self, problem: Problem) -> None:
        self.points: dict[tuple[float, float], int] = {}
        for place in [v.base for v in problem.vehicles] + [
                p for j in problem.journeys for p in (j.pickup, j.dropoff)]:
            self.points.setdefault((place.lat, place.lon), len(self.points))
        lats = np.array([p[0] for p in self.points])
        lons = np.array([p[1] for p in self.points])
        matrix = EstimatedTravel(problem.config.travel.road_factor,
                                 problem.config.travel.speed_kmh).matrix(lats, lons)
        self.minutes, self.metres = matrix.duration_min, matrix.distance_m

    def of(self, place: Place) -> int:
        return self.points[(place.lat, place.lon)]


def _roster(problem: Problem, grid: _Grid, vehicle_index: int, steps: Sequence[Step]) -> Roster:
    """Stops from a route, driving straight on and waiting at the next stop."""
    vehicle = problem.vehicles[vehicle_index]
    stops: list[Stop] = []
    here = vehicle.base
    departure = steps[0][2]
    load = [0, 0, 0]
    stops.append(Stop(Event.START, here.lat, here.lon, here.label, departure, departure,
                      departure, 0))
    for event, journey, start in [*steps[1:], (Event.END, None, 0)]:
        if event is Event.PICKUP and journey:
            place, service = journey.pickup, journey.pickup_service_min
        elif event is Event.DROPOFF and journey:
            place, service = journey.dropoff, journey.dropoff_service_min
        elif event is Event.BREAK:
            place, service = here, vehicle.break_min
        else:
            place, service = vehicle.base, 0
        arrival = departure + int(grid.minutes[grid.of(here), grid.of(place)])
        service_start = max(arrival, start)
        if journey is not None:
            sign = 1 if event is Event.PICKUP else -1
            space = journey.space
            load = [load[0] + sign * space.seats, load[1] + sign * space.wheelchairs,
                    load[2] + sign * space.stretchers]
        leg = int(grid.metres[grid.of(here), grid.of(place)])
        departure = service_start + service
        stops.append(Stop(event, place.lat, place.lon, place.label, arrival, service_start,
                          departure, leg, load[0], load[1], load[2], journey))
        here = place
    return Roster(vehicle, tuple(stops))


def _plan(problem: Problem, grid: _Grid, routes: dict[int, list[Step]], seconds: float,
          name: str) -> Plan:
    rosters = tuple(_roster(problem, grid, v, steps) for v, steps in routes.items()
                    if any(e is Event.PICKUP for e, _, _ in steps))
    planned = {j.journey_id for r in rosters for j in r.journeys}
    unassigned = tuple(Unassigned(j, Reason.NO_CAPACITY, f"left out by {name}")
                       for j in problem.journeys if j.journey_id not in planned)
    servable = len(problem.journeys)
    return Plan(problem, rosters, unassigned, seconds, {"reference": name, "servable": servable})


def textbook(problem: Problem, time_limit_s: float) -> Plan:
    """The OR-Tools sample model: PARALLEL_CHEAPEST_INSERTION + GLS, no breaks."""
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    started = time.monotonic()
    grid = _Grid(problem)
    journeys, vehicles = problem.journeys, problem.vehicles
    n_vehicles = len(vehicles)
    # Nodes: vehicle bases (start and end), then pickup/drop-off of each journey.
    places = [grid.of(v.base) for v in vehicles] * 2
    service = [0] * (2 * n_vehicles)
    for journey in journeys:
        places += [grid.of(journey.pickup), grid.of(journey.dropoff)]
        service += [journey.pickup_service_min, journey.dropoff_service_min]
    idx = np.asarray(places)
    minutes = grid.minutes[np.ix_(idx, idx)] + np.asarray(service)[:, None]
    metres = grid.metres[np.ix_(idx, idx)]
    manager = pywrapcp.RoutingIndexManager(len(places), n_vehicles, list(range(n_vehicles)),
                                           list(range(n_vehicles, 2 * n_vehicles)))
    routing = pywrapcp.RoutingModel(manager)
    routing.SetArcCostEvaluatorOfAllVehicles(routing.RegisterTransitMatrix(metres.tolist()))
    routing.AddDimension(routing.RegisterTransitMatrix(minutes.tolist()), 1440, 1440, False,
                         "time")
    time_dim = routing.GetDimensionOrDie("time")
    for name in ("seats", "wheelchairs", "stretchers"):
        demand = [0] * (2 * n_vehicles)
        for journey in journeys:
            amount = getattr(journey.space, name)
            demand += [amount, -amount]
        routing.AddDimensionWithVehicleCapacity(
            routing.RegisterUnaryTransitVector(demand), 0,
            [getattr(v.capacity, name) for v in vehicles], True, name)
    for v, vehicle in enumerate(vehicles):
        for index in (routing.Start(v), routing.End(v)):
            time_dim.CumulVar(index).SetRange(vehicle.shift_start_min, vehicle.shift_end_min)
    solver = routing.solver()
    for k, journey in enumerate(journeys):
        p = manager.NodeToIndex(2 * n_vehicles + 2 * k)
        d = manager.NodeToIndex(2 * n_vehicles + 2 * k + 1)
        routing.AddPickupAndDelivery(p, d)
        solver.Add(routing.VehicleVar(p) == routing.VehicleVar(d))
        solver.Add(time_dim.CumulVar(p) <= time_dim.CumulVar(d))
        solver.Add(time_dim.CumulVar(d) - time_dim.CumulVar(p)
                   <= journey.max_ride_min + journey.pickup_service_min)
        time_dim.CumulVar(p).SetRange(journey.pickup_window.earliest_min,
                                      journey.pickup_window.latest_min)
        time_dim.CumulVar(d).SetRange(journey.dropoff_window.earliest_min,
                                      journey.dropoff_window.latest_min)
        allowed = [v for v, vehicle in enumerate(vehicles)
                   if incompatibility(vehicle, journey) is None]
        for index in (p, d):
            routing.VehicleVar(index).SetValues([-1, *allowed])
            routing.AddDisjunction([index], 100_000)
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = (
        routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION)
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH)
    remaining = time_limit_s - (time.monotonic() - started) - 2
    params.time_limit.FromMilliseconds(int(max(1.0, remaining) * 1000))
    solution = routing.SolveWithParameters(params)
    routes: dict[int, list[Step]] = {}
    if solution is not None:
        for v in range(n_vehicles):
            index = routing.Start(v)
            steps: list[Step] = [(Event.START, None, solution.Value(time_dim.CumulVar(index)))]
            index = solution.Value(routing.NextVar(index))
            while not routing.IsEnd(index):
                node = manager.IndexToNode(index) - 2 * n_vehicles
                event = Event.PICKUP if node % 2 == 0 else Event.DROPOFF
                steps.append((event, journeys[node // 2],
                              solution.Value(time_dim.CumulVar(index))))
                index = solution.Value(routing.NextVar(index))
            routes[v] = steps
    return _plan(problem, grid, routes, time.monotonic() - started, "textbook OR-Tools")


def vroom_plan(problem: Problem, time_limit_s: float) -> Plan:
    """VROOM at exploration level 5 on two threads; it ignores maximum ride time."""
    import vroom

    started = time.monotonic()
    grid = _Grid(problem)
    solver_input = vroom.Input()
    solver_input.set_durations_matrix(profile="car", matrix_input=grid.minutes)
    solver_input.set_distances_matrix(profile="car", matrix_input=grid.metres)
    skill_of = {"crew2": 1, Skill.OXYGEN: 2, Skill.BARIATRIC: 3}
    alone = 100
    for v, vehicle in enumerate(problem.vehicles):
        skills = {skill_of[s] for s in vehicle.skills} | ({1} if vehicle.crew >= 2 else set())
        breaks = []
        if vehicle.shift_length_min > problem.config.breaks.required_over_min:
            breaks.append(vroom.Break(
                v + 1, time_windows=[vroom.TimeWindow(
                    vehicle.shift_start_min + problem.config.breaks.earliest_after_start_min,
                    vehicle.shift_start_min + problem.config.breaks.latest_after_start_min)],
                service=vehicle.break_min, max_load=[0, 0, 0, 0]))
        solver_input.add_vehicle(vroom.Vehicle(
            v + 1, start=grid.of(vehicle.base), end=grid.of(vehicle.base),
            capacity=[vehicle.capacity.seats, vehicle.capacity.wheelchairs,
                      vehicle.capacity.stretchers, alone],
            time_window=vroom.TimeWindow(vehicle.shift_start_min, vehicle.shift_end_min),
            skills=skills, breaks=breaks,
            **({"max_distance": int(vehicle.range_km * 1000)} if vehicle.range_km else {})))
    for k, journey in enumerate(problem.journeys):
        space = journey.space
        amount = vroom.Amount([space.seats, space.wheelchairs, space.stretchers,
                               alone if Need.TRAVEL_ALONE in journey.needs else 1])
        skills = {skill_of[Skill(n)] for n in journey.needs if n in (Need.OXYGEN,
                                                                       Need.BARIATRIC)}
        if journey.needs_two_crew:
            skills.add(1)
        solver_input.add_shipment(
            pickup=vroom.ShipmentStep(2 * k + 1, location=grid.of(journey.pickup),
                                      default_service=journey.pickup_service_min,
                                      time_windows=[vroom.TimeWindow(
                                          journey.pickup_window.earliest_min,
                                          journey.pickup_window.latest_min)]),
            delivery=vroom.ShipmentStep(2 * k + 2, location=grid.of(journey.dropoff),
                                        default_service=journey.dropoff_service_min,
                                        time_windows=[vroom.TimeWindow(
                                            journey.dropoff_window.earliest_min,
                                            journey.dropoff_window.latest_min)]),
            amount=amount, skills=skills, priority={1: 100, 2: 50, 3: 10}[journey.priority])
    remaining = max(1.0, time_limit_s - (time.monotonic() - started) - 2)
    solution = solver_input.solve(exploration_level=5, nb_threads=2,
                                  timeout=timedelta(seconds=remaining))
    routes: dict[int, list[Step]] = {}
    for row in solution.routes.itertuples():
        v = int(row.vehicle_id) - 1
        start = int(row.arrival) + int(row.waiting_time)
        kind = str(row.type)
        if kind == "start":
            routes[v] = [(Event.START, None, int(row.arrival))]
        elif kind in ("pickup", "delivery"):
            job = int(row.id) - 1
            routes[v].append((Event.PICKUP if kind == "pickup" else Event.DROPOFF,
                              problem.journeys[job // 2], start))
        elif kind == "break":
            routes[v].append((Event.BREAK, None, start))
    return _plan(problem, grid, routes, time.monotonic() - started, "VROOM")


def main(argv: Sequence[str]) -> None:
    """`references.py NAME DAY_DIR OUT_DIR SECONDS`: plan a day with a reference planner."""
    name, day, out, seconds = argv
    problem, _ = read_problem(Inputs(Path(day) / "bookings.csv", Path(day) / "fleet.csv"),
                              load_config())
    plan = (textbook if name == "textbook" else vroom_plan)(problem, float(seconds))
    # Written unjudged: a reference may break our rules (it knows no linked returns, for
    # one), and weekday.py counts what it breaks with `pts check` rather than losing the plan.
    write_plan_files(plan, Path(out), verify=lambda staging: None)


if __name__ == "__main__":
    main(sys.argv[1:])
