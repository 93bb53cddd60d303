"""Small named instances built in a test's own folder, solved and checked independently."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import TypeVar

import numpy as np

from pts_optimiser.check.checker import CheckResult, check_plan
from pts_optimiser.domain.config import load_config
from pts_optimiser.domain.plan import Plan
from pts_optimiser.domain.problem import Problem
from pts_optimiser.engine.model import (
    LOADS,
    RoutingInput,
    RoutingRequest,
    RoutingVehicle,
    SearchSettings,
    solve_routing,
)
from pts_optimiser.engine.recreate import RecreateSettings, recreate
from pts_optimiser.engine.solve import SolveOptions, solve
from pts_optimiser.io.parse import Inputs, read_problem
from pts_optimiser.services.publish import write_plan

T = TypeVar("T")
TESTS = Path(__file__).resolve().parent
FIXTURES = TESTS / "fixtures"  # recorded failures and hand-built days, named after their defect
ROOT = TESTS.parent  # the checkout: data/, configs/, benchmarks/

BOOKING_COLUMNS = ["journey_id", "patient_id", "purpose", "mobility", "escorts", "pickup_lat",
                   "pickup_lon", "pickup_site", "dropoff_lat", "dropoff_lon", "dropoff_site",
                   "appointment_time", "ready_time", "earliest_pickup", "latest_pickup",
                   "earliest_dropoff", "latest_dropoff", "max_ride_min", "needs"]
FLEET_COLUMNS = ["vehicle_id", "vehicle_type", "base_site", "base_lat", "base_lon", "seats",
                 "wheelchair_spaces", "stretchers", "crew", "shift_start", "shift_end",
                 "break_min", "fuel", "range_km", "skills"]


def booking(journey_id: str, **cells: object) -> dict[str, object]:
    """A seated outpatient booking from a Derby home to Royal Derby, unless told otherwise."""
    row: dict[str, object] = {"journey_id": journey_id, "patient_id": f"P-{journey_id}",
                              "purpose": "outpatient", "mobility": "seated", "escorts": 0,
                              "pickup_lat": 52.93, "pickup_lon": -1.49, "dropoff_site": "RDH",
                              "appointment_time": "10:00"}
    row.update(cells)
    return row


def vehicle(vehicle_id: str, **cells: object) -> dict[str, object]:
    """A diesel car of 3 seats from the Derby station, 08:00-14:00, unless told otherwise."""
    row: dict[str, object] = {"vehicle_id": vehicle_id, "vehicle_type": "car",
                              "base_site": "ST-DERBY", "seats": 3, "wheelchair_spaces": 0,
                              "stretchers": 0, "crew": 1, "shift_start": "08:00",
                              "shift_end": "14:00", "break_min": 30, "fuel": "diesel"}
    row.update(cells)
    return row


def far_from_base_day() -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """A Derby crew's day in Chesterfield: two patients out to Chesterfield Royal and back.

    Its break visits (its base and the hospitals nearest it) are all in Derby, while the
    crew waits at Chesterfield Royal between the clinic drop-offs and the rides home.
    """
    home = {"pickup_lat": 53.25, "pickup_lon": -1.42}
    back = {"pickup_site": "CRH", "pickup_lat": "", "pickup_lon": "", "dropoff_site": "",
            "dropoff_lat": 53.25, "dropoff_lon": -1.42, "appointment_time": ""}
    bookings = [booking("OUT1", dropoff_site="CRH", appointment_time="10:00", **home),
                booking("BACK1", ready_time="12:30", **back),
                booking("OUT2", dropoff_site="CRH", appointment_time="14:30", **home),
                booking("BACK2", ready_time="16:00", **back)]
    return bookings, [vehicle("CAR1", shift_start="08:00", shift_end="18:30")]


def write_day(folder: Path, bookings: Sequence[dict[str, object]],
              fleet: Sequence[dict[str, object]],
              booking_columns: Sequence[str] = BOOKING_COLUMNS) -> Inputs:
    """Write the two CSV files of a day and return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows, columns in (("bookings.csv", bookings, booking_columns),
                                ("fleet.csv", fleet, FLEET_COLUMNS)):
        with (folder / name).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
    return Inputs(folder / "bookings.csv", folder / "fleet.csv")


def solve_and_check(folder: Path, bookings: Sequence[dict[str, object]],
                    fleet: Sequence[dict[str, object]], seconds: float = 4.0,
                    strategy: str = "portfolio") -> tuple[Plan, CheckResult]:
    """Solve a small day, write the plan, and check it with the independent checker.

    By default as `pts solve` does: the portfolio, given time enough for ruin and recreate
    to run after OR-Tools in both of its searches.
    """
    problem = load(folder, bookings, fleet)
    plan = solve(problem, SolveOptions(time_limit_s=seconds, strategy=strategy))
    write_plan(plan, folder / "plan")
    return plan, check_plan(problem, folder / "plan")


def load(folder: Path, bookings: Sequence[dict[str, object]],
         fleet: Sequence[dict[str, object]]) -> Problem:
    """Write and read a day."""
    problem, _ = read_problem(write_day(folder, bookings, fleet), load_config())
    return problem


def vehicle_of(plan: Plan, journey_id: str) -> str | None:
    """The vehicle shift carrying a journey, if any."""
    for roster in plan.rosters:
        if any(j.journey_id == journey_id for j in roster.journeys):
            return roster.vehicle.vehicle_id
    return None


def reason_of(plan: Plan, journey_id: str) -> str | None:
    """The unassigned reason code of a journey, if it is unassigned."""
    return next((str(u.reason) for u in plan.unassigned if u.journey.journey_id == journey_id),
                None)


def rows(path: Path) -> list[dict[str, str]]:
    """The records of a CSV file, read with the standard library (not the project's reader)."""
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def minutes(clock: str) -> int:
    """Minutes after midnight of an HH:MM time."""
    hours, mins = clock.split(":")
    return int(hours) * 60 + int(mins)


def solved_day(work: Path, seed: int, journeys: int = 150, vehicles: int = 17,
               seconds: float = 8) -> Path:
    """Generate a day into work/day and plan it with `pts solve` into work/plan."""
    from click.testing import CliRunner

    from pts_optimiser.cli import main

    runner = CliRunner()
    made = runner.invoke(main, ["generate", "--seed", str(seed), "--journeys", str(journeys),
                                "--vehicles", str(vehicles), "--out", str(work / "day")])
    assert made.exit_code == 0, made.output
    solved = runner.invoke(main, ["solve", "--bookings", str(work / "day" / "bookings.csv"),
                                  "--fleet", str(work / "day" / "fleet.csv"),
                                  "--out", str(work / "plan"), "--time-limit", str(seconds),
                                  "--maps", str(work / "maps")])
    assert solved.exit_code == 0, solved.output
    return work / "plan"


class SerialPool:
    """Stands in for a process pool: runs each submitted call at once, in this process."""

    def __init__(self, *_args: object, **_kwargs: object) -> None:
        pass

    def __enter__(self) -> SerialPool:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def submit(self, fn: Callable[..., T], *args: object) -> Future[T]:
        future: Future[T] = Future()
        future.set_result(fn(*args))
        return future


DEPOT, END = 0, 1  # line_day's start and end nodes


def line_day(positions: Sequence[int], requests: Sequence[tuple[int, int, int]],
             vehicles: int = 1, windows: dict[int, tuple[int, int]] | None = None,
             seats: int = 3, breaks: dict[int, int] | None = None,
             distance: np.ndarray | None = None) -> RoutingInput:
    """Nodes on a line (node 0 start, node 1 end, both at 0); a minute a unit, a cost a unit.

    `requests` are (pickup, drop-off, ride limit); `breaks` maps a break node to its vehicle.
    """
    where = np.asarray(positions, dtype=np.int64)
    metres = (np.abs(where[:, None] - where[None, :]) if distance is None
              else np.asarray(distance, dtype=np.int64))
    loads = {name: [0] * len(positions) for name in LOADS}
    for pickup, dropoff, _ in requests:
        for name in ("seats", "patients"):
            loads[name][pickup], loads[name][dropoff] = 1, -1
    fleet = [RoutingVehicle(DEPOT, END, 0, 1000, {"seats": seats, "wheelchairs": 0,
                                                  "stretchers": 0, "patients": 100},
                            None, 1000) for _ in range(vehicles)]
    spans = [(0, 1000)] * len(positions)
    for node, window in (windows or {}).items():
        spans[node] = window
    return RoutingInput(metres, metres, [0] * len(positions), spans, loads, fleet,
                        [RoutingRequest(p, d, limit, 10**6, tuple(range(vehicles)))
                         for p, d, limit in requests], breaks or {})


def report_figures(plan_dir: Path) -> dict[str, object]:
    """The figures report.html carries in its JSON block."""
    html = (plan_dir / "report.html").read_text()
    found = re.search(r'<script type="application/json" id="figures">(.*?)</script>', html, re.S)
    assert found is not None
    return dict(json.loads(found.group(1)))  # as JSON.parse reads it


def assert_priced_as_the_model(data: RoutingInput) -> None:
    """Ruin and recreate counts a plan's cost exactly as the OR-Tools model's objective does."""
    outcome = solve_routing(data, SearchSettings(1.0))
    assert outcome is not None
    routes = [[visit.node for visit in route[1:-1]] for route in outcome.routes]
    found = recreate(data, routes, RecreateSettings(30.0, max_iterations=100))
    assert found is not None
    assert found.start_cost == outcome.objective
