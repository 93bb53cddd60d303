"""Benchmark: generated Derbyshire weekdays planned by pts and by two references.

    python benchmarks/weekday.py --seeds 1 2 3 --sizes 150 750 --time-limit 120

For each day: served / servable, violations found by `pts check`, km, wall time and
peak memory of each planner, run one at a time so each has the machine to itself.
VROOM needs `pip install pyvroom`; without it that column is skipped.
"""

from __future__ import annotations

import argparse
import json
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


def bench(seed: int, journeys: int, vehicles: int, time_limit: float, planners: list[str],
          work: Path) -> list[Row]:
    day = work / f"day-{journeys}-{seed}"
    subprocess.run([*PTS, "generate", "--seed", str(seed), "--journeys", str(journeys),
                    "--vehicles", str(vehicles), "--out", str(day)], check=True,
                   capture_output=True)
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
        if planner.startswith("pts"):
            servable = json.loads((plan / "summary.json").read_text())["servable"]
        served, km = _served(plan)
        violations, by_rule = _check(day, plan)
        rows.append(Row(planner, seed, journeys, vehicles, served, servable, violations,
                        by_rule, round(km, 1), round(wall, 1), round(peak)))
        print(_line(rows[-1]), flush=True)
    return rows


def _line(row: Row) -> str:
    share = 100 * row.served / row.servable if row.servable else 0.0
    return (f"| {row.planner} | {row.seed} | {row.journeys} | {row.vehicles} | {row.served} | "
            f"{row.servable} | {share:.1f}% | {row.violations} {_rules(row)}| {row.km:,.0f} | "
            f"{row.wall_s} | {row.peak_mb:.0f} |")


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
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args()
    planners = list(args.planners)
    if "vroom" in planners:
        try:
            import vroom  # noqa: F401
        except ImportError:
            print("pyvroom is not installed: skipping VROOM", file=sys.stderr)
            planners.remove("vroom")
    print("| planner | seed | journeys | vehicles | served | servable | served/servable | "
          "violations | km | wall s | peak MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="pts-bench-") as work:
        for size in args.sizes:
            vehicles = max(5, round(87 * size / 750))
            for seed in args.seeds:
                rows += bench(seed, size, vehicles, args.time_limit, planners, Path(work))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n")


if __name__ == "__main__":
    main()
