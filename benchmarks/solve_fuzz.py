"""A fuzz campaign: random small days planned and re-planned, every plan judged by `pts check`.

    python benchmarks/solve_fuzz.py --cases 60 --seed 1 --work /tmp/fuzz

Each case is a generated day (4-80 journeys, 1-10 shifts) with random changes a real day
brings: shifts cut short, electric cars with little range, breaks of 0-45 min, fewer
seats, narrower pickup windows, moved appointments, patients of another mobility, a policy
with its own prices. It is planned with `pts solve` (a random strategy and a short time
limit) and, for half of the cases, re-planned with `pts replan` at a random time with a
cancellation, a vehicle off the road or a late booking. About one case in seven is a
Monday-Wednesday planned by `pts week` (with or without `--compare`), each day's plan
checked alone. Every plan written is checked by `pts check` (the independent checker,
which shares no code with the solver). A case fails where a command exits 1 (a fault of
ours), a plan breaks a rule (`pts check` exit 3, or a command refusing its own plan), or a
booking is lost (planned and unassigned do not add up to the day's journeys). An input the
changes made invalid (exit 2) is counted, not failed: the readers' own fuzz tests are
`tests/test_fuzz.py`. Failing cases keep their folders under `--work`, with the commands
run on them (`commands.txt`).
"""

from __future__ import annotations

import argparse
import csv
import random
import shlex
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from pts_optimiser.domain.clock import format_clock, parse_clock

PTS = [sys.executable, "-m", "pts_optimiser"]
STRATEGIES = ("portfolio", "single", "one-core", "split")
WEEK_SHARE = 0.15  # a week takes about as long as six days


def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def _write(path: Path, columns: list[str], rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _hhmm(minute: int) -> str:
    return format_clock(max(0, min(minute, 23 * 60 + 59)))  # a time on the day


def _change_fleet(rng: random.Random, fleet: Path) -> list[str]:
    columns, rows = _rows(fleet)
    done = []
    for row in rows:
        roll = rng.random()
        if roll < 0.15:
            end, start = parse_clock(row["shift_end"]), parse_clock(row["shift_start"])
            if end is not None and start is not None:
                row["shift_end"] = _hhmm(max(start + 60, end - rng.randint(60, 300)))
                done.append("shift cut")
        elif roll < 0.25 and row["vehicle_type"] == "car":
            row["fuel"], row["range_km"] = "electric", str(rng.randint(40, 150))
            done.append("short range")
        elif roll < 0.35:
            row["break_min"] = str(rng.choice([0, 20, 45]))
            done.append("break")
        elif roll < 0.42 and int(row["seats"] or 0) > 1:
            row["seats"] = str(int(row["seats"]) - 1)
            done.append("fewer seats")
    _write(fleet, columns, rows)
    return done


def _change_bookings(rng: random.Random, bookings: Path) -> list[str]:
    columns, rows = _rows(bookings)
    done = []
    for row in rows:
        roll = rng.random()
        if roll < 0.1 and row.get("earliest_pickup") and row.get("latest_pickup"):
            early, late = parse_clock(row["earliest_pickup"]), parse_clock(row["latest_pickup"])
            if early is not None and late is not None and late - early > 20:
                row["latest_pickup"] = _hhmm(early + rng.randint(10, late - early))
                done.append("narrower window")
        elif roll < 0.14 and "mobility" in row:
            row["mobility"] = rng.choice(["stretcher", "wheelchair", "seated"])
            done.append("mobility")
        elif roll < 0.22 and row.get("appointment_time"):
            at = parse_clock(row["appointment_time"])
            if at is not None:
                row["appointment_time"] = _hhmm(at + rng.choice([-45, -20, 20, 45]))
                done.append("appointment moved")
    _write(bookings, columns, rows)
    return done


def _policy(rng: random.Random, folder: Path) -> Path | None:
    if rng.random() < 0.5:
        return None
    lines = ["[standards]", f"renal_collect_cost_per_min = {rng.choice([0, 10, 60, 200])}",
             "[objective]", f"km_cost_diesel = {rng.choice([1, 10, 40])}",
             f"vehicle_cost = {rng.choice([0, 2000, 20000])}",
             "[service]", f"stretcher_min = {rng.choice([5, 15, 30])}",
             "[replan]", f'off_road_drop = "{rng.choice(["destination", "nearest_site"])}"',
             "[linked]", f"allow_outward_without_return = {rng.choice(['true', 'false'])}"]
    path = folder / "policy.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _run(args: list[str], timeout_s: float, case: Path | None = None
         ) -> subprocess.CompletedProcess[str]:
    """`pts ARGS`; kept in `case`/commands.txt, to run again by hand where the case fails."""
    if case is not None:
        with (case / "commands.txt").open("a", encoding="utf-8") as log:
            log.write(shlex.join(["pts", *args]) + "\n")
    return subprocess.run([*PTS, *args], capture_output=True, text=True, timeout=timeout_s,
                          check=False)


def _accounted(plan: Path, journeys: set[str]) -> str | None:
    """None if every journey of the day is planned or unassigned, else what is missing."""
    _, rosters = _rows(plan / "rosters.csv")
    _, unassigned = _rows(plan / "unassigned.csv")
    seen = {r["journey_id"] for r in rosters if r["journey_id"]}
    seen |= {r["journey_id"] for r in unassigned}
    missing = journeys - seen
    return f"{len(missing)} booking(s) in neither file: {sorted(missing)[:5]}" if missing else None


def _check(bookings: Path, fleet: Path, sites: Path, plan: Path, policy: Path | None,
           case: Path) -> str | None:
    args = ["check", "--bookings", str(bookings), "--fleet", str(fleet), "--sites", str(sites),
            "--out", str(plan)]
    done = _run(args + (["--config", str(policy)] if policy else []), 120, case)
    if done.returncode != 0:
        return f"pts check exit {done.returncode}: {(done.stdout + done.stderr)[-600:]}"
    _, rows = _rows(bookings)
    return _accounted(plan, {r["journey_id"] for r in rows})


def one_case(rng: random.Random, case: Path) -> tuple[str, list[str]]:
    """('ok' | 'bad input: why' | 'FAIL: why', the changes made)."""
    if rng.random() < WEEK_SHARE:
        return _week(rng, case)
    journeys, shifts = rng.randint(4, 80), rng.randint(1, 10)
    seed = rng.randint(1, 10**6)
    _run(["generate", "--seed", str(seed), "--journeys", str(journeys), "--vehicles",
          str(shifts), "--out", str(case)], 120).check_returncode()
    bookings, fleet, sites = case / "bookings.csv", case / "fleet.csv", case / "sites.csv"
    changes = [f"seed {seed}", f"{journeys} journeys", f"{shifts} shifts"]
    changes += _change_fleet(rng, fleet) + _change_bookings(rng, bookings)
    policy = _policy(rng, case)
    strategy, limit = rng.choice(STRATEGIES), rng.choice([5, 8, 12])
    changes += [strategy, f"{limit} s"] + (["policy"] if policy else [])
    args = ["solve", "--bookings", str(bookings), "--fleet", str(fleet), "--sites", str(sites),
            "--out", str(case / "plan"), "--time-limit", str(limit), "--strategy", strategy]
    done = _run(args + (["--config", str(policy)] if policy else []), limit + 120, case)
    if done.returncode == 2:
        return f"bad input: {done.stderr.strip()[-200:]}", changes
    if done.returncode not in (0, 5):
        return f"FAIL: pts solve exit {done.returncode}: {done.stderr[-600:]}", changes
    why = _check(bookings, fleet, sites, case / "plan", policy, case)
    if why:
        return f"FAIL: the plan: {why}", changes
    if rng.random() < 0.5:
        return _replan(rng, case, bookings, fleet, sites, policy, changes)
    return "ok", changes


def _week(rng: random.Random, case: Path) -> tuple[str, list[str]]:
    """A generated Monday-Wednesday planned by `pts week`, each day's plan checked."""
    journeys, shifts, seed = rng.randint(6, 40), rng.randint(2, 6), rng.randint(1, 10**6)
    _run(["generate", "--seed", str(seed), "--journeys", str(journeys), "--vehicles",
          str(shifts), "--days", "3", "--date", "2026-11-30", "--out", str(case)],
         120).check_returncode()
    bookings, fleet, sites = case / "bookings.csv", case / "fleet.csv", case / "sites.csv"
    changes = [f"week, seed {seed}", f"{journeys} journeys a day", f"{shifts} shifts"]
    changes += _change_fleet(rng, fleet) + _change_bookings(rng, bookings)
    policy = _policy(rng, case)
    compare = rng.random() < 0.5
    changes += (["policy"] if policy else []) + (["--compare"] if compare else [])
    args = ["week", "--bookings", str(bookings), "--fleet", str(fleet), "--sites", str(sites),
            "--out", str(case / "week"), "--time-limit", "30"]
    done = _run(args + (["--config", str(policy)] if policy else [])
                + (["--compare"] if compare else []), 180, case)
    if done.returncode == 2:
        return f"bad input: {done.stderr.strip()[-200:]}", changes
    if done.returncode not in (0, 5):
        return f"FAIL: pts week exit {done.returncode}: {done.stderr[-600:]}", changes
    days = sorted(p for p in (case / "week").iterdir() if p.is_dir() and p.name[0].isdigit())
    if len(days) != 3:
        return f"FAIL: pts week wrote {len(days)} day folders of 3", changes
    columns, rows = _rows(bookings)
    for day in days:
        dated = case / f"bookings-{day.name}.csv"
        _write(dated, columns, [r for r in rows if r["service_date"] == day.name])
        why = _check(dated, fleet, sites, day, policy, case)
        if why:
            return f"FAIL: {day.name}: {why}", changes
    return "ok", changes


def _replan(rng: random.Random, case: Path, bookings: Path, fleet: Path, sites: Path,
            policy: Path | None, changes: list[str]) -> tuple[str, list[str]]:
    _, rows = _rows(bookings)
    _, vehicles = _rows(fleet)
    now = rng.randint(7 * 60, 16 * 60)
    args = ["replan", "--plan", str(case / "plan"), "--now", _hhmm(now), "--out",
            str(case / "new"), "--time-limit", "6"]
    kind = rng.choice(["cancel", "vehicle-off", "add"])
    if kind == "cancel":
        args += ["--cancel", ",".join(r["journey_id"] for r in rng.sample(rows, min(2, len(rows))))]
    elif kind == "vehicle-off":
        args += ["--vehicle-off", rng.choice(vehicles)["vehicle_id"]]
    else:
        columns, _ = _rows(bookings)
        late = dict(rng.choice(rows))
        late["journey_id"], late["patient_id"] = "LATE1", "PLATE1"
        if "return_of" in late:
            late["return_of"] = ""  # a booking on its own, as a late discharge is
        start = now + rng.randint(20, 120)
        for key in ("earliest_pickup", "latest_pickup", "ready_time"):
            if late.get(key):
                late[key] = _hhmm(start + (30 if key == "latest_pickup" else 0))
        if late.get("appointment_time"):
            late["appointment_time"] = _hhmm(start + 90)
        _write(case / "late.csv", columns, [late])
        args += ["--add", str(case / "late.csv")]
    changes.append(f"replan {kind} at {_hhmm(now)}")
    done = _run(args, 180, case)
    if done.returncode == 2 or (done.returncode == 3 and kind == "vehicle-off"
                                and not (case / "new").exists()):
        return (f"bad input: {done.stderr.strip()[-200:]}" if done.returncode == 2
                else "ok"), changes
    if done.returncode not in (0, 5):
        return f"FAIL: pts replan exit {done.returncode}: {done.stderr[-600:]}", changes
    why = _check(case / "new" / "bookings.csv", fleet, sites, case / "new", policy, case)
    return (f"FAIL: the re-plan: {why}" if why else "ok"), changes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--work", type=Path, default=Path("solve-fuzz"))
    args = parser.parse_args()
    rng = random.Random(args.seed)
    args.work.mkdir(parents=True, exist_ok=True)
    outcomes: Counter[str] = Counter()
    started = time.monotonic()
    for number in range(args.cases):
        case = args.work / f"case-{args.seed}-{number:03d}"
        shutil.rmtree(case, ignore_errors=True)
        try:
            verdict, changes = one_case(rng, case)
        except subprocess.TimeoutExpired as exc:
            verdict, changes = f"FAIL: timed out: {exc.cmd[3:5]}", []
        outcomes["fail" if verdict.startswith("FAIL") else verdict.split(":")[0]] += 1
        print(f"{case.name}: {verdict} ({', '.join(changes)})", flush=True)
        if not verdict.startswith("FAIL"):
            shutil.rmtree(case, ignore_errors=True)
    print(f"{args.cases} cases in {time.monotonic() - started:.0f} s: {dict(outcomes)}")
    return 1 if outcomes["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
