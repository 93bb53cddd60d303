"""Benchmark: how many tries ruin and recreate makes a second, and where they get to.

    python benchmarks/recreate_speed.py --journeys 750 --seconds 20
    python benchmarks/recreate_speed.py --darp ../shared/benchmarks/darp/cordeau2006/a8-96.txt

Ruin and recreate alone, on one core, from the one-at-a-time plan (no OR-Tools, so nothing
but the search itself is timed): a generated Derbyshire weekday (`--journeys`, `--vehicles`,
`--day-seed`) and/or published dial-a-ride instances (`--darp`). Reports the tries
(iterations) made in `--seconds` (fewer on a small input, which stops after the engine's
tries a journey: `RecreateSettings.max_tries_per_journey`), tries a second, the journeys on
runs and the search's cost.
The same seed gives the same plan for a fixed number of tries (`--iterations`) on any
machine, so `--iterations N` with `--seconds` large compares two versions' plans exactly,
and their times. Compiling the search's kernels (first use on a machine) is done before the
clock starts.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

from pts_optimiser.domain.commitments import NOTHING_COMMITTED
from pts_optimiser.domain.config import load_config
from pts_optimiser.domain.problem import Problem, as_planned
from pts_optimiser.engine.encode import encode, routes_of
from pts_optimiser.engine.recreate import RecreateSettings, recreate
from pts_optimiser.engine.solve import fallback_plan
from pts_optimiser.io.darp import read_instance, to_problem
from pts_optimiser.io.generate import write_day
from pts_optimiser.io.parse import Inputs, read_problem


def _measure(name: str, problem: Problem, seconds: float, seed: int,
             iterations: int | None) -> None:
    problem = as_planned(problem)
    encoded = encode(problem, NOTHING_COMMITTED, seed)
    rosters, _ = fallback_plan(problem, encoded)
    start = routes_of(rosters, problem.vehicles, encoded.nodes, encoded.break_nodes)
    data = encoded.data
    recreate(data, start, RecreateSettings(1.0, seed=seed, max_iterations=1), foreign=True)
    began = time.monotonic()
    found = recreate(data, start, RecreateSettings(seconds, seed=seed,
                                                   max_iterations=iterations), foreign=True)
    took = time.monotonic() - began
    if found is None:
        print(f"| {name} | the start plan could not be repaired | | | | | |")
        return
    pickups = {r.pickup_node for r in data.requests}
    served = sum(node in pickups for route in found.routes for node in route)
    routes = hashlib.sha256(repr(found.routes).encode()).hexdigest()[:10]
    print(f"| {name} | {found.iterations:,} | {took:.1f} | {found.iterations / took:,.0f} | "
          f"{served} / {len(data.requests)} | {found.cost:,} | {routes} |", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--journeys", type=int, nargs="*", default=[],
                        help="generated weekdays of these many journeys")
    parser.add_argument("--vehicles", type=int, default=None,
                        help="shifts of a generated day (default: 87 per 750 journeys)")
    parser.add_argument("--day-seed", type=int, default=1)
    parser.add_argument("--darp", type=Path, nargs="*", default=[],
                        help="published instances (Cordeau's format)")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=0, help="the search's")
    parser.add_argument("--iterations", type=int, default=None,
                        help="stop after this many tries (the plan is then the same anywhere)")
    args = parser.parse_args()
    if not args.journeys and not args.darp:
        parser.error("give --journeys or --darp")
    config = load_config()
    print("| input | tries | seconds | tries a second | journeys on runs | cost | routes |")
    print("|---|---|---|---|---|---|---|")
    for journeys in args.journeys:
        vehicles = args.vehicles or max(1, round(journeys * 87 / 750))
        with tempfile.TemporaryDirectory() as folder:
            day = Path(folder)
            write_day(day, args.day_seed, journeys, vehicles)
            problem, _ = read_problem(Inputs(day / "bookings.csv", day / "fleet.csv",
                                             day / "sites.csv"), config)
        _measure(f"{journeys} journeys, {vehicles} shifts, day seed {args.day_seed}", problem,
                 args.seconds, args.seed, args.iterations)
    for path in args.darp:
        _measure(path.stem, to_problem(read_instance(path), config), args.seconds, args.seed,
                 args.iterations)
    return 0


if __name__ == "__main__":
    sys.exit(main())
