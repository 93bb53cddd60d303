"""How much a re-plan changes that nobody asked it to change.

    python benchmarks/replan_changes.py                   # seed 12, 150 journeys, 17 shifts
    python benchmarks/replan_changes.py --seed 3 --journeys 750 --vehicles 87 --time-limit 60
    python benchmarks/replan_changes.py --plan DIR          # a plan folder already made

Generates a day and plans it with `pts solve` (or takes `--plan`), then re-plans it with
`pts replan` at each `--at` time with no late booking, no cancellation and no vehicle off
the road: every change in its changes.csv is one a crew would be phoned about for nothing
(or for a better plan the first search did not find). Prints one line per
time: the changes by kind, the crews to phone, how far each retimed pickup moved
(minutes), km and journeys served against the plan's; then the totals. Each re-plan is
checked by `pts check` (exit 1 if one breaks a rule).
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path


def _pts(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pts_optimiser", *args], text=True,
                          capture_output=True, check=False)


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def main() -> int:
    """Plan a day, re-plan it unchanged at each time, and count what moved."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--journeys", type=int, default=150)
    parser.add_argument("--vehicles", type=int, default=17)
    parser.add_argument("--time-limit", type=float, default=15.0)
    parser.add_argument("--at", nargs="+", default=["09:00", "11:00", "13:00"])
    parser.add_argument("--plan", type=Path, default=None,
                        help="re-plan this plan folder (the same plan for two versions)")
    asked = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="replan-changes-"))
    plan = asked.plan or work / "plan"
    if asked.plan is None:
        made = _pts("generate", "--seed", str(asked.seed), "--journeys", str(asked.journeys),
                    "--vehicles", str(asked.vehicles), "--out", str(work / "day"))
        solved = _pts("solve", "--bookings", str(work / "day" / "bookings.csv"), "--fleet",
                      str(work / "day" / "fleet.csv"), "--out", str(plan),
                      "--time-limit", str(asked.time_limit))
        if made.returncode or solved.returncode:
            print(made.stderr + solved.stderr, file=sys.stderr)
            return 1
    before = json.loads((plan / "summary.json").read_text())
    totals: Counter[str] = Counter()
    moved_all: list[int] = []
    for now in asked.at:
        out = work / f"replan-{now.replace(':', '')}"
        result = _pts("replan", "--plan", str(plan), "--now", now, "--out", str(out),
                      "--time-limit", str(asked.time_limit))
        checked = _pts("check", "--out", str(out))
        if result.returncode not in (0, 5) or checked.returncode:
            print(result.stderr + checked.stdout + checked.stderr, file=sys.stderr)
            return 1
        with (out / "changes.csv").open(newline="", encoding="utf-8") as handle:
            changes = list(csv.DictReader(handle))
        kinds = Counter(c["change"] for c in changes)
        moved = sorted(abs(_minutes(c["new_time"]) - _minutes(c["old_time"])) for c in changes
                       if c["change"] == "retimed" and c["event"] == "pickup")
        crews = {c["vehicle_id"] for c in changes if c["vehicle_id"]}
        after = json.loads((out / "summary.json").read_text())
        print(f"{now}: {dict(kinds)}; crews to phone {len(crews)}; pickups retimed by {moved} "
              f"min; km {after['km_total']} (plan {before['km_total']}); served "
              f"{after['served']} (plan {before['served']})")
        totals.update(kinds)
        totals["crews"] += len(crews)
        moved_all += moved
    print(f"total: {dict(totals)}; pickups retimed {len(moved_all)}, by {sorted(moved_all)} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
