"""Benchmark: a generated week planned with continuity of care against each day alone.

    python benchmarks/week.py --seed 1 --days 6 --journeys 150 --vehicles 17 \\
        --time-limit 300 --solve-alone 40

Generates a held-back-style week (`pts generate --days`: a fixed dialysis cohort on
Mon/Wed/Fri or Tue/Thu/Sat at the same unit and session, every other journey drawn afresh
each day, one fleet every day), then:

- `pts week --compare --time-limit T`: the week, and each day alone in the same run and
  the same time per solve (OUT/alone/); with `--no-compare`, the week alone (fewer solves,
  more time each);
- with `--solve-alone S`: each day by `pts solve --time-limit S` on its own (the product
  as a coordinator runs it today, both cores), checked by `pts check`.

Prints one table: mean distinct vehicles per regular patient, the share meeting at most two
and one, the median pickup spread, journeys served, km, CO2, violations (the independent
checker), patients left somewhere, wall seconds. Definitions: docs/week.md. Then, against
the days alone (`--solve-alone`, else the week's own with `--compare`), which of issue 15's
targets the week meets.

The same code plans this week differently from one run to the next (a tenth of a vehicle a
regular, a point or two of km, docs/week.md): `--runs N` plans the same generated week N
times, each run with its own days alone, and counts the runs meeting every target.

Rolling weeks: `--weeks N` generates N consecutive weeks of the same cohort (the other
journeys drawn afresh each day), plans the first as above and each later one with
`pts week --previous` (last week's plans: the regulars' crews carried forward; anchor days
only for regulars last week did not plan), judges each week against its own days alone,
and prints the regulars' continuity over the whole horizon (WORK/week-K/: that week's
files).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

PTS = [sys.executable, "-m", "pts_optimiser"]


def _run(args: list[str]) -> tuple[int, float]:
    started = time.monotonic()
    done = subprocess.run([*PTS, *args], capture_output=True, text=True, check=False)
    if done.returncode not in (0, 5):
        sys.stderr.write(done.stdout + done.stderr)
    return done.returncode, time.monotonic() - started


# Issue 15's targets for a week: at most this mean of distinct vehicles a regular, at least
# this share meeting two or fewer, at most this median pickup spread; and against each day
# alone, at least this share of the journeys served and at most this share of the km.
MEAN_VEHICLES, SHARE_AT_MOST_TWO, SPREAD_MIN = 1.5, 0.8, 10
SERVED_SHARE, KM_SHARE = 0.995, 1.05


def _plans(work: Path, out: Path, dates: Iterable[str], config: Path | None = None
           ) -> dict[str, Any]:
    """Each day's plan folder OUT/<day>, read back against WORK's files."""
    from pts_optimiser.domain.config import load_config
    from pts_optimiser.io.parse import Inputs, read_problem
    from pts_optimiser.io.planfolder import read_plan

    inputs = Inputs(work / "bookings.csv", work / "fleet.csv", work / "sites.csv")
    policy = load_config(config)
    return {day: read_plan(read_problem(inputs, policy, day)[0], out / day) for day in dates}


def _solo(work: Path, dates: list[str], seconds: float, regulars: set[str],
          folder: str = "solo") -> dict[str, Any]:
    """Each day by pts solve alone, read back and measured as the week report measures."""
    from pts_optimiser.io.parse import Inputs
    from pts_optimiser.views.week import continuity_summary, day_figures, patient_figures

    inputs = Inputs(work / "bookings.csv", work / "fleet.csv", work / "sites.csv")
    violations, wall = 0, 0.0
    for day in dates:
        out = work / folder / day
        _, spent = _run(["solve", "--bookings", str(inputs.bookings), "--fleet",
                         str(inputs.fleet), "--sites", str(inputs.sites), "--date", day,
                         "--out", str(out), "--time-limit", str(seconds)])
        wall += spent
        code, _ = _run(["check", "--bookings", str(inputs.bookings), "--fleet",
                        str(inputs.fleet), "--sites", str(inputs.sites), "--date", day,
                        "--out", str(out)])
        violations += code != 0
    plans = _plans(work, work / folder, dates)
    days = [day_figures(p) for p in plans.values()]
    total = {k: sum(d[k] for d in days) for k in ("served", "journeys", "km", "co2_kg",
                                                  "left_somewhere")}
    return {"continuity": continuity_summary(patient_figures(plans, regulars)),
            "total": {**total, "violations": violations}, "wall_s": wall}


def _row(name: str, continuity: dict[str, Any], total: dict[str, Any], wall_s: float) -> str:
    def shown(value: object) -> str:
        return "-" if value is None else f"{value}"
    return (f"| {name} | {shown(continuity['mean_distinct_vehicles'])} | "
            f"{shown(continuity['share_at_most_two'])} | {shown(continuity['share_one_vehicle'])}"
            f" | {shown(continuity['median_pickup_spread_min'])} | {total['served']:.0f} of "
            f"{total['journeys']:.0f} | {total['km']:,.0f} | {total['co2_kg']:,.0f} | "
            f"{shown(total.get('violations'))} | {total['left_somewhere']:.0f} | {wall_s:.0f} |")


def _targets(week: dict[str, Any], total: dict[str, Any], alone: dict[str, Any]) -> bool:
    """Print which of issue 15's targets the week meets against `alone`; True if all."""
    continuity = week["continuity"]
    if any(continuity[k] is None for k in ("mean_distinct_vehicles", "share_at_most_two",
                                           "median_pickup_spread_min")):
        print("targets: no regular patient planned on two days, nothing to judge")
        return False
    served = total["served"] / max(1, alone["served"])
    km = total["km"] / max(1e-9, alone["km"])
    checks = [
        (f"mean distinct vehicles {continuity['mean_distinct_vehicles']} <= {MEAN_VEHICLES}",
         continuity["mean_distinct_vehicles"] <= MEAN_VEHICLES),
        (f"share <= 2 {continuity['share_at_most_two']} >= {SHARE_AT_MOST_TWO}",
         continuity["share_at_most_two"] >= SHARE_AT_MOST_TWO),
        (f"median spread {continuity['median_pickup_spread_min']} min <= {SPREAD_MIN}",
         continuity["median_pickup_spread_min"] <= SPREAD_MIN),
        (f"journeys {served:.2%} >= {SERVED_SHARE:.1%}", served >= SERVED_SHARE),
        (f"km {km:.2%} <= {KM_SHARE:.0%}", km <= KM_SHARE),
        (f"violations {total['violations']} and left somewhere {total['left_somewhere']:.0f}",
         not total["violations"] and not total["left_somewhere"]),
    ]
    print("targets: " + "; ".join(f"{what}: {'met' if ok else 'MISSED'}" for what, ok in checks))
    return all(ok for _, ok in checks)


def main() -> None:
    """Generate, plan, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--days", type=int, default=6)
    parser.add_argument("--first-date", default="2026-11-30", help="a Monday")
    parser.add_argument("--journeys", type=int, default=300, help="a day")
    parser.add_argument("--vehicles", type=int, default=35, help="shifts a day")
    parser.add_argument("--time-limit", type=float, default=240.0, help="pts week's, in all")
    parser.add_argument("--solve-alone", type=float, default=0.0,
                        help="also plan each day with pts solve for this many seconds")
    parser.add_argument("--config", type=Path, default=None,
                        help="a policy TOML for pts week, e.g. [continuity] settings")
    parser.add_argument("--work", type=Path, default=None, help="keep the files here")
    parser.add_argument("--workers", type=int, default=None,
                        help="pts week's --workers: days planned at once, a core each")
    parser.add_argument("--no-compare", dest="compare", action="store_false",
                        help="pts week without --compare: more time a solve, against "
                        "--solve-alone only")
    parser.add_argument("--runs", type=int, default=1,
                        help="plan the same week this many times, each run with its own "
                        "days alone; counts the runs meeting every target")
    parser.add_argument("--weeks", type=int, default=1,
                        help="rolling weeks: plan this many consecutive weeks of the same "
                        "cohort, each after the first with pts week --previous")
    args = parser.parse_args()
    if args.runs < 1 or args.weeks < 1:
        parser.error("--runs and --weeks must be at least 1")
    if args.weeks > 1 and args.days > 7:
        parser.error("--weeks: a week is at most 7 --days")
    work = args.work or Path(tempfile.mkdtemp(prefix="pts-week-"))
    span = 7 * (args.weeks - 1) + args.days
    _run(["generate", "--seed", str(args.seed), "--journeys", str(args.journeys),
          "--vehicles", str(args.vehicles), "--days", str(span), "--date",
          args.first_date, "--out", str(work)])
    weeks = [work] if args.weeks == 1 else _split_weeks(work, args.first_date, args.days,
                                                       args.weeks)
    met = 0
    for run in range(1, args.runs + 1):
        suffix = "" if args.runs == 1 else f"-{run}"
        previous: Path | None = None
        for number, folder in enumerate(weeks, start=1):
            if args.weeks > 1:
                print(f"week {number} of {args.weeks}"
                      + (f", --previous {previous}" if previous else ", cold"))
            met += _one_run(args, folder, suffix, previous)
            previous = folder / f"week{suffix}"
        if args.weeks > 1:
            _horizon(args, weeks, suffix)
    if args.runs * args.weeks > 1:
        print(f"every target met in {met} of {args.runs * args.weeks} weeks planned")


def _split_weeks(work: Path, first_date: str, days: int, weeks: int) -> list[Path]:
    """The generated days as one folder a week (WORK/week-K/): its days' bookings, the fleet."""
    from pts_optimiser.io.tables import read_table, write_table

    bookings = read_table(work / "bookings.csv")
    monday = date.fromisoformat(first_date)
    folders = []
    for week in range(weeks):
        dates = {(monday + timedelta(days=7 * week + k)).isoformat() for k in range(days)}
        folder = work / f"week-{week + 1}"
        folder.mkdir(exist_ok=True)
        write_table(folder / "bookings.csv", bookings.columns,
                    [row for row in bookings.rows if row["service_date"] in dates])
        for name in ("fleet.csv", "sites.csv"):
            shutil.copyfile(work / name, folder / name)
        folders.append(folder)
    return folders


def _horizon(args: argparse.Namespace, weeks: list[Path], suffix: str) -> None:
    """The regulars' continuity over every week planned in this run, as the week report's."""
    from pts_optimiser.views.week import continuity_summary, patient_figures

    plans: dict[str, Any] = {}
    regulars: set[str] = set()
    for folder in weeks:
        figures = json.loads((folder / f"week{suffix}" / "week.json").read_text())
        regulars |= {p["patient_id"] for p in figures["patients"]}
        plans |= _plans(folder, folder / f"week{suffix}", figures["days"], args.config)
    summary = continuity_summary(patient_figures(plans, regulars))
    print(f"over all {len(weeks)} weeks ({len(plans)} days): {summary['regulars']} regulars, "
          f"mean distinct vehicles {summary['mean_distinct_vehicles']}, share <= 2 "
          f"{summary['share_at_most_two']}, share 1 {summary['share_one_vehicle']}, median "
          f"pickup spread {summary['median_pickup_spread_min']} min")


def _one_run(args: argparse.Namespace, work: Path, suffix: str,
             previous: Path | None = None) -> bool:
    """Plan the week once (OUT: week{suffix}/, solo{suffix}/), print it; True: every target met."""
    folder = work / f"week{suffix}"
    (folder / "week.json").unlink(missing_ok=True)  # a --work folder used before: not read back
    code, wall = _run(["week", "--bookings", str(work / "bookings.csv"), "--fleet",
                       str(work / "fleet.csv"), "--sites", str(work / "sites.csv"), "--out",
                       str(folder), "--time-limit", str(args.time_limit),
                       *(["--previous", str(previous)] if previous else []),
                       *(["--compare"] if args.compare else []),
                       *(["--config", str(args.config)] if args.config else []),
                       *(["--workers", str(args.workers)] if args.workers else [])])
    if not (folder / "week.json").exists():
        print(f"pts week wrote no week (exit {code}); files in {folder}")
        return False
    figures = json.loads((folder / "week.json").read_text())
    violations = sum(d["violations"] or 0 for d in figures["days"].values())
    print(f"{args.days} days x {args.journeys} journeys x {args.vehicles} shifts, seed "
          f"{args.seed}; pts week --time-limit {args.time_limit:g}"
          f"{' --compare' if args.compare else ''} (exit {code}); "
          f"{figures['continuity']['regulars']} regulars; {figures['method']['workers']} "
          f"workers, {figures['method']['seconds_a_solve']} s a solve; anchors "
          f"{', '.join(figures['method']['anchors'])}; days kept alone: "
          f"{', '.join(figures['method']['kept_alone']) or 'none'}; continuity plans served "
          f"{figures['method']['continuity_plan_served']}; files in {folder}")
    print("| plan | mean distinct vehicles | share <= 2 | share 1 | median pickup spread min "
          "| journeys served | km | kg CO2e | violations | left somewhere | wall s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    against = None
    if args.solve_alone > 0:
        regulars = {p["patient_id"] for p in figures["patients"]}
        solo = _solo(work, list(figures["days"]), args.solve_alone, regulars, f"solo{suffix}")
        print(_row(f"each day alone, pts solve {args.solve_alone:g} s", solo["continuity"],
                   solo["total"], solo["wall_s"]))
        against = solo["total"]
    if args.compare:
        alone_violations = sum(d["violations"] or 0 for d in figures["alone"]["days"].values())
        print(_row("each day alone, in the week's run", figures["alone"]["continuity"],
                   {**figures["alone"]["total"], "violations": alone_violations}, wall))
        against = against or figures["alone"]["total"]
    total = {**figures["total"], "violations": violations}
    print(_row("week (continuity)", figures["continuity"], total, wall))
    if against is None:
        print("targets: give --solve-alone or --compare to judge journeys and km")
        return False
    return _targets(figures, total, against)


if __name__ == "__main__":
    main()
