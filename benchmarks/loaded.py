"""`pts solve` on a busy machine: does it end on time, and with a plan worth having?

    python benchmarks/loaded.py --day /tmp/d11 --limits 5 20 60 --busy 2

Runs `pts solve --time-limit L` on a generated day while `--busy` CPU-bound processes run
beside it (ended afterwards), then `pts check`; prints one row per limit: wall seconds,
served / servable, the share, violations, the exit code and the search's status. Make the
day first: `pts generate --seed 11 --journeys 750 --vehicles 87 --out /tmp/d11`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SPIN = "while True: pass"


def _pts() -> list[str]:
    return [sys.executable, "-m", "pts_optimiser"]


def run(day: Path, limit: float, busy: int, work: Path) -> dict[str, object]:
    """One solve and its check, with `busy` spinning processes beside it."""
    spinners = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(busy)]
    try:
        out = work / f"plan-{limit:g}"
        files = ["--bookings", str(day / "bookings.csv"), "--fleet", str(day / "fleet.csv")]
        began = time.monotonic()
        solved = subprocess.run([*_pts(), "solve", *files, "--out", str(out), "--maps",
                                 str(work / f"maps-{limit:g}"), "--time-limit", str(limit)],
                                capture_output=True, text=True, check=False)
        wall = time.monotonic() - began
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
    checked = subprocess.run([*_pts(), "check", *files, "--out", str(out)],
                             capture_output=True, text=True, check=False)
    figures = json.loads((out / "summary.json").read_text())
    violations = next((line for line in checked.stdout.splitlines() if "violation" in line),
                      checked.stdout.strip()[-80:])
    return {"limit_s": limit, "busy": busy, "wall_s": round(wall, 1),
            "served": figures["served"], "servable": figures["servable"],
            "share": round(figures["served"] / max(1, figures["servable"]), 3),
            "solve_s": figures["solve_seconds"], "exit": solved.returncode,
            "check": violations, "status": figures["search"]["status"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--day", type=Path, required=True)
    parser.add_argument("--limits", type=float, nargs="+", default=[5, 20, 60])
    parser.add_argument("--busy", type=int, default=2, help="CPU-bound processes beside it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        for limit in args.limits:
            print(json.dumps(run(args.day, limit, args.busy, Path(work))), flush=True)


if __name__ == "__main__":
    main()
