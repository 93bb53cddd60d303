"""Benchmark: a fleet sweep of 8 tasks on 750-journey days, and its overhead per task.

    python benchmarks/sweep.py [--time-limit 60] [--workers 2] [--out DIR]

Generates one Derbyshire weekday (750 journeys, 87 shifts), makes four fleet variants of
it (as generated, 80 shifts, every car electric, and cars and 13 wheelchair vans
electric) and runs `pts sweep` over them with two seeds: 8 tasks on `--workers` local
worker processes. With two workers the floor is 4 x the time limit; what comes on top is
the overhead: starting the cluster, reading, writing and checking each plan, shipping
it back. Prints one JSON object with the figures and the load average before and after
(the machine may be shared: read the figures beside it). A second run of the same
command re-uses every answered task: its wall time is printed as `rerun_wall_s`.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PTS = [sys.executable, "-m", "pts_optimiser"]


def _variant(source: Path, target: Path, drop_every: int = 0, electric: tuple[str, ...] = (),
             electric_limit: int = 10_000) -> Path:
    """A fleet file from the generated one: some shifts left out, some vehicles electric."""
    with source.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = list(reader.fieldnames or [])
        rows = list(reader)
    if drop_every:
        rows = [r for i, r in enumerate(rows) if (i + 1) % drop_every]
    changed = 0
    for row in rows:
        if row["vehicle_type"] in electric and row["fuel"] != "electric" \
                and changed < electric_limit:
            row["fuel"], row["range_km"] = "electric", "250"
            changed += 1
    with target.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--journeys", type=int, default=750)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    work = args.out or Path(tempfile.mkdtemp(prefix="pts-sweep-bench-"))
    day = work / "day"
    if not (day / "bookings.csv").exists():
        subprocess.run([*PTS, "generate", "--seed", "11", "--journeys", str(args.journeys),
                        "--vehicles", "87", "--out", str(day)], check=True,
                       stdout=subprocess.DEVNULL)
    fleet = day / "fleet.csv"
    fleets = [_variant(fleet, work / "fleet87.csv"),
              _variant(fleet, work / "fleet80.csv", drop_every=12),
              _variant(fleet, work / "fleet87-cars-ev.csv", electric=("car",)),
              _variant(fleet, work / "fleet87-cars-wav-ev.csv", electric=("car", "wheelchair"),
                       electric_limit=28)]
    out = work / "sweep"
    command = [*PTS, "sweep", "--days", str(day), *[a for f in fleets for a in ("--fleets",
                                                                                str(f))],
               "--seeds", "1", "--seeds", "2", "--time-limit", f"{args.time_limit:g}",
               "--workers", str(args.workers), "--out", str(out)]
    load_before = os.getloadavg()
    started = time.monotonic()
    # Not check=True: exit 1 when a task gave no answer (e.g. no plan in its time on a busy
    # machine); the statuses below say which.
    exit_code = subprocess.run(command, stderr=subprocess.DEVNULL).returncode
    wall_s = time.monotonic() - started
    load_after = os.getloadavg()
    started = time.monotonic()
    rerun_exit_code = subprocess.run(command, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL).returncode
    rerun_wall_s = time.monotonic() - started
    with (out / "sweep.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    tasks = len(rows)
    rounds = -(-tasks // args.workers)
    floor_s = rounds * args.time_limit

    def mean(key: str) -> float:
        return round(statistics.fmean(float(r[key]) for r in rows), 2)

    print(json.dumps({
        "tasks": tasks, "workers": args.workers, "time_limit_s": args.time_limit,
        "journeys": args.journeys, "wall_s": round(wall_s, 1), "floor_s": floor_s,
        # On top of the floor: the cluster's start, then each round's in-task overhead.
        "overhead_s": round(wall_s - floor_s, 1),
        # Within a task, beyond its search: reading, writing and checking its plan.
        "overhead_per_task_s": round(mean("wall_s") - args.time_limit, 2),
        "task_read_s": mean("read_s"), "task_solve_s": mean("solve_s"),
        "task_write_check_s": mean("write_check_s"), "task_wall_s": mean("wall_s"),
        "exit_code": exit_code, "rerun_exit_code": rerun_exit_code,
        # A rerun re-uses the answered tasks and runs the others again.
        "rerun_wall_s": round(rerun_wall_s, 1),
        "statuses": [r["status"] for r in rows],
        "served": [int(r["served"]) for r in rows],
        "patients_fully_served": [int(r["patients_fully_served"]) for r in rows],
        "co2_kg_total": [float(r["co2_kg_total"]) for r in rows],
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "cpus": os.cpu_count(), "out": str(out),
    }, indent=1))


if __name__ == "__main__":
    main()
