"""Benchmark: generated Derbyshire weekdays planned by pts and by two references.

    python benchmarks/weekday.py --seeds 1 2 3 --sizes 150 750 --time-limit 120

For each day: served / servable, violations found by `pts check`, km, wall time and
peak memory of each planner, run one at a time so each has the machine to itself; and, per
patient (the unit of service: everyone taken somewhere is brought back), patients fully
served, patients left somewhere (outward planned, return not), patients whose every
journey is servable alone and fully served, and the renal standard (dialysis patients
collected within [kpi] renal_collect_within_min of ready, where the hard window allows more).
For pts, which search's plan was kept (and why, where it serves fewer journeys than the
other's) goes to stderr and `--json`. A generated day without `return_of` gets one written
here: each patient's journeys in time order, the next one a return when it starts within
300 m of where the previous one ended.
`--links inferred` gives the planners (and `pts check`) the day with `return_of` emptied, so
both infer the links themselves; the patient figures still count by the generator's links.
VROOM needs `pip install pyvroom`; without it that column is skipped.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import math
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
PTS = [sys.executable, "-m", "pts_optimiser"]


@dataclass
class Row:
    planner: str
    seed: int
    journeys: int
    vehicles: int
    served: int
    servable: int
    violations: int
    violations_by_rule: dict[str, int]
    km: float
    wall_s: float
    peak_mb: float
    patients: int = 0
    fully_served: int = 0
    left_somewhere: int = 0
    servable_patients: int = 0
    servable_patients_served: int = 0
    renal_on_time: int = 0
    renal_collected: int = 0
    search: str = ""  # pts: which search's plan was kept, and why (summary.json)


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (Linux /proc)."""
    total_kb, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total_kb += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
            for task in Path(f"/proc/{current}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, AttributeError):
            continue
    return total_kb / 1024


def _run(command: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak resident MB (all its processes together) and output of a command."""
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    peak = [0.0]

    def sample() -> None:
        while process.poll() is None:
            peak[0] = max(peak[0], _tree_rss_mb(process.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = process.communicate()
    sampler.join()
    return time.monotonic() - started, peak[0], output


def _check(day: Path, plan: Path) -> tuple[int, dict[str, int]]:
    """Violations found by `pts check`, in all and by rule."""
    _, _, output = _run([*PTS, "check", "--bookings", str(day / "bookings.csv"),
                         "--fleet", str(day / "fleet.csv"), "--out", str(plan)])
    match = re.search(r"(\d+) violation\(s\)", output)
    if match is None:
        raise RuntimeError(f"pts check said:\n{output}")
    by_rule = {rule: int(count) for rule, count in re.findall(r"^  (\w+): (\d+)$", output, re.M)}
    return int(match.group(1)), by_rule


def _served(plan: Path) -> tuple[int, float]:
    figures = json.loads((plan / "summary.json").read_text())
    return int(figures["served"]), float(figures["km_total"])


LINK_RADIUS_M = 300  # the contract's inferred return: within 300 m of where the last ended
UNSERVABLE_ALONE = ("no_compatible_vehicle", "window_shorter_than_trip", "no_shift_covers_window",
                    "beyond_ev_range")
RENAL_WITHIN_MIN = 30  # configs/default.toml [kpi] renal_collect_within_min


def _clock(text: str) -> int | None:
    if not text:
        return None
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat = math.radians((a[0] + b[0]) / 2)
    dy = (a[0] - b[0]) * 111_320
    dx = (a[1] - b[1]) * 111_320 * math.cos(lat)
    return math.hypot(dx, dy)


def add_return_of(bookings: Path) -> int:
    """Write `return_of` into a generated day that lacks it; the number of links written."""
    with bookings.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = list(reader.fieldnames or [])
        rows = list(reader)
    if "return_of" in columns:
        return sum(bool(r["return_of"]) for r in rows)
    by_patient: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_patient.setdefault(row["patient_id"], []).append(row)
    links = 0
    for trips in by_patient.values():
        trips.sort(key=lambda r: _clock(r["appointment_time"] or r["ready_time"]) or 0)
        for before, after in itertools.pairwise(trips):
            ended = (float(before["dropoff_lat"]), float(before["dropoff_lon"]))
            starts = (float(after["pickup_lat"]), float(after["pickup_lon"]))
            if _metres(ended, starts) <= LINK_RADIUS_M:
                after["return_of"] = before["journey_id"]
                links += 1
    with bookings.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, [*columns, "return_of"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return links


def patient_figures(day: Path, plan: Path) -> dict[str, int]:
    """Per patient: fully served, left somewhere, servable alone and served; renal standard."""
    with (day / "bookings.csv").open(newline="", encoding="utf-8") as handle:
        bookings = list(csv.DictReader(handle))
    with (plan / "rosters.csv").open(newline="", encoding="utf-8") as handle:
        pickups = {r["journey_id"]: _clock(r["service_start"]) for r in csv.DictReader(handle)
                   if r["event"] == "pickup"}
    with (plan / "unassigned.csv").open(newline="", encoding="utf-8") as handle:
        reasons = {r["journey_id"]: r["reason"].split(":")[0] for r in csv.DictReader(handle)}
    patients: dict[str, list[dict[str, str]]] = {}
    for row in bookings:
        patients.setdefault(row["patient_id"], []).append(row)
    figures = dict.fromkeys(("patients", "fully_served", "left_somewhere", "servable_patients",
                             "servable_patients_served", "renal_on_time", "renal_collected"), 0)
    for trips in patients.values():
        figures["patients"] += 1
        served = all(t["journey_id"] in pickups for t in trips)
        figures["fully_served"] += served
        figures["left_somewhere"] += any(
            t.get("return_of") and t["return_of"] in pickups and t["journey_id"] not in pickups
            for t in trips)
        if not any(reasons.get(t["journey_id"]) in UNSERVABLE_ALONE for t in trips):
            figures["servable_patients"] += 1
            figures["servable_patients_served"] += served
    for row in bookings:
        ready, at = _clock(row["ready_time"]), pickups.get(row["journey_id"])
        if row["purpose"] == "dialysis" and ready is not None and at is not None:
            figures["renal_collected"] += 1
            figures["renal_on_time"] += at - ready <= RENAL_WITHIN_MIN
    return figures


def without_return_of(day: Path, into: Path) -> None:
    """A copy of the day whose `return_of` cells are empty: links left to be inferred."""
    into.mkdir(parents=True, exist_ok=True)
    for name in ("fleet.csv", "sites.csv"):
        if (day / name).exists():
            (into / name).write_bytes((day / name).read_bytes())
    with (day / "bookings.csv").open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns, rows = list(reader.fieldnames or []), list(reader)
    with (into / "bookings.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows({**row, "return_of": ""} for row in rows)


def bench(seed: int, journeys: int, vehicles: int, time_limit: float, planners: list[str],
          work: Path, links: str = "given") -> list[Row]:
    truth = work / f"day-{journeys}-{seed}"
    subprocess.run([*PTS, "generate", "--seed", str(seed), "--journeys", str(journeys),
                    "--vehicles", str(vehicles), "--out", str(truth)], check=True,
                   capture_output=True)
    add_return_of(truth / "bookings.csv")
    day = truth
    if links == "inferred":
        day = work / f"day-{journeys}-{seed}-inferred"
        without_return_of(truth, day)
    rows = []
    servable = journeys
    for planner in planners:
        plan = work / f"plan-{planner}-{journeys}-{seed}"
        if planner in ("pts", "pts-split", "pts-single", "pts-portfolio"):
            command = [*PTS, "solve", "--bookings", str(day / "bookings.csv"), "--fleet",
                       str(day / "fleet.csv"), "--out", str(plan), "--time-limit",
                       str(time_limit)]
            if planner != "pts":
                command += ["--strategy", planner.removeprefix("pts-")]
        else:
            command = [sys.executable, str(HERE / "references.py"), planner, str(day),
                       str(plan), str(time_limit)]
        wall, peak, output = _run(command)
        if not (plan / "rosters.csv").exists():
            print(f"{planner} wrote no plan:\n{output}", file=sys.stderr)
            continue
        search = ""
        if planner.startswith("pts"):
            summary = json.loads((plan / "summary.json").read_text())
            servable, search = summary["servable"], summary["search"]["status"]
        served, km = _served(plan)
        violations, by_rule = _check(day, plan)
        rows.append(Row(planner, seed, journeys, vehicles, served, servable, violations,
                        by_rule, round(km, 1), round(wall, 1), round(peak),
                        **patient_figures(truth, plan), search=search))
        print(_line(rows[-1]), flush=True)
        if search:  # beside the table, not in it
            print(f"{planner}, seed {seed}, {journeys} journeys: {search}", file=sys.stderr)
    return rows


def _line(row: Row) -> str:
    share = 100 * row.served / row.servable if row.servable else 0.0
    alone = (100 * row.servable_patients_served / row.servable_patients
             if row.servable_patients else 0.0)
    renal = 100 * row.renal_on_time / row.renal_collected if row.renal_collected else 0.0
    return (f"| {row.planner} | {row.seed} | {row.journeys} | {row.vehicles} | {row.served} | "
            f"{row.servable} | {share:.1f}% | {row.fully_served}/{row.patients} | "
            f"{row.left_somewhere} | {alone:.1f}% | {renal:.0f}% | "
            f"{row.violations} {_rules(row)}| {row.km:,.0f} | {row.wall_s} | "
            f"{row.peak_mb:.0f} |")


def _rules(row: Row) -> str:
    if not row.violations_by_rule:
        return ""
    return "(" + ", ".join(f"{r} {n}" for r, n in row.violations_by_rule.items()) + ") "


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--sizes", type=int, nargs="+", default=[150, 750])
    parser.add_argument("--time-limit", type=float, default=120.0)
    parser.add_argument("--planners", nargs="+", default=["pts", "textbook", "vroom"],
                        help="pts (the default strategy: portfolio), pts-split (whole day, "
                             "then halves), pts-single (one model, one core), pts-portfolio, "
                             "textbook, vroom")
    parser.add_argument("--links", choices=["given", "inferred"], default="given",
                        help="inferred: the planners get return_of emptied and infer the links")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    parser.add_argument("--keep", type=Path, default=None,
                        help="write days and plans here (kept) instead of a temporary folder")
    args = parser.parse_args()
    planners = list(args.planners)
    if "vroom" in planners:
        try:
            import vroom  # noqa: F401
        except ImportError:
            print("pyvroom is not installed: skipping VROOM", file=sys.stderr)
            planners.remove("vroom")
    print("| planner | seed | journeys | vehicles | served | servable | served/servable | "
          "patients fully served | left somewhere | servable patients served | "
          f"renal <= {RENAL_WITHIN_MIN} min | violations | km | wall s | peak MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="pts-bench-") as temporary:
        work = str(args.keep) if args.keep else temporary
        Path(work).mkdir(parents=True, exist_ok=True)
        for size in args.sizes:
            vehicles = max(5, round(87 * size / 750))
            for seed in args.seeds:
                rows += bench(seed, size, vehicles, args.time_limit, planners, Path(work),
                              args.links)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n")


if __name__ == "__main__":
    main()
