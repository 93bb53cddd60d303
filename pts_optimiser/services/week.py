"""A week of days planned together, for continuity of care: the same crew, the same time.

A regular patient (journeys on `[continuity] regular_min_days` days or more) should meet the
same vehicle and crew each time, collected at about the same time. The engine plans one
day, with each regular's usual service priced in its objective (`Commitments.prefer`):

1. Each regular's usual vehicle and pickup time, per leg of their day (the first journey,
   the second, ...), come from last week's plans (`--previous`) or else from an anchor
   day: the fewest days that hold every regular not yet known, busiest first, planned
   as they are.
2. The anchors are planned again, from their plan alone, with each regular's journeys
   preferring the vehicle that takes them out (out and back with one crew) and a pickup
   within `pickup_slack_min` of their usual time: costs in the search (`[continuity]`),
   far below any journey's, so every hard rule holds and a preference gives way wherever
   it would cost a journey. A regular's day split between crews there costs as many
   crew changes as the patient has days: the days of its rota ride its runs.
3. Every other day is planned once with the usual service of the anchors' plans, starting
   from the runs of the anchor sharing most of its patients (`Commitments.sketch`); the
   plan repaired from them is kept unless a plan built afresh serves more than the
   policy's allowance more (`Commitments.sketch_allowance`).
4. A day whose plan serves fewer journeys than its plan alone (with `--compare`, or an
   anchor), less the policy's allowance, is planned alone.

Anchor days (and, with `--compare`, the days planned alone) do not depend on each other,
nor the days of step 2, or of step 3, on each other: each group is solved one day at a
time on both cores, or in a process pool or on the sweep's Dask cluster, one day a core.
The time limit is divided here (`_Clock`), again before each round of solves.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import math
import multiprocessing
import re
import shutil
import signal
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Protocol

from pts_optimiser.domain.commitments import Commitments, Preference
from pts_optimiser.domain.config import Config, ContinuityPolicy
from pts_optimiser.domain.diagnostics import (
    Code,
    Finding,
    InputError,
    Severity,
    error,
)
from pts_optimiser.domain.exits import OutputError, PtsError, UsageError
from pts_optimiser.domain.plan import Event, Plan
from pts_optimiser.domain.problem import Place, Problem, legs_of_day
from pts_optimiser.io.parse import Inputs, parse_service_date, read_problem
from pts_optimiser.io.tables import Table

Leg = tuple[str, str]  # (patient id, the trip: `domain.problem.legs_of_day`)
SPAWN = multiprocessing.get_context("spawn")  # the CLI may hold threads; a fork copies locks
POOL_START_S = 3.0  # a spawned worker imports the engine before its first solve
# The least share of any solve: one takes about a second whatever its share, as it starts
# its searches (docs/week.md, "Time").
MIN_SOLVE_S = 1.0


@dataclass(frozen=True)
class Usual:
    """Where and when a regular's leg is usually served."""

    vehicle_id: str
    pickup_min: int
    # Asked for where `vehicle_id` cannot carry the leg that day: the leg's own usual
    # vehicle, where `one_crew` asked for the crew that took the patient out.
    otherwise: str | None = None

    @property
    def vehicle_ids(self) -> tuple[str, ...]:
        """The vehicles asked for, in order."""
        return (self.vehicle_id,) if self.otherwise is None else (self.vehicle_id, self.otherwise)


# -- reading a week ---------------------------------------------------------------------

def _dates(table: Table) -> list[str]:
    return sorted({d for cells in table.rows
                   if (d := parse_service_date(cells.get("service_date", ""))) is not None})


def _fleet_days(fleet: Table, days: Sequence[str]) -> list[Finding]:
    """A shift dated for a day with no bookings: a typing mistake, never a silent drop."""
    return [error(Code.BAD_DATE, fleet.name,
                  f"this shift runs on {day}, a day with no bookings (the bookings cover "
                  f"{', '.join(days)})", "correct service_date, or leave it empty for a shift "
                  "that runs every day", fleet.row_number(i), "service_date")
            for i, cells in enumerate(fleet.rows)
            if (day := parse_service_date(cells.get("service_date", ""))) is not None
            and day not in days]


def read_week(inputs: Inputs, config: Config) -> tuple[dict[str, Problem], list[Finding]]:
    """Each service day of the bookings as a problem (date -> problem), and the warnings.

    Every error of every day is collected before giving up; one listed by several days
    (an undated booking) is listed once.
    """
    bookings, fleet = inputs.table("bookings"), inputs.table("fleet")
    days = _dates(bookings)
    if not days:
        raise InputError([error(
            Code.MISSING_VALUE, bookings.name, "no booking has a service_date: pts week "
            "plans each service day into its own folder", "give the day of travel as "
            "YYYY-MM-DD on every row (pts solve plans a file of one undated day)",
            bookings.row_number(0) if bookings.rows else None, "service_date")])
    findings = _fleet_days(fleet, days)
    problems: dict[str, Problem] = {}
    for day in days:
        try:
            problem, warnings = read_problem(inputs, config, day)
        except InputError as exc:
            findings += exc.findings
            continue
        problems[day] = problem
        findings += warnings
    findings = _week_findings(findings)
    if any(f.severity is Severity.ERROR for f in findings):
        raise InputError(findings)
    return problems, findings


def _week_findings(findings: Iterable[Finding]) -> list[Finding]:
    """The days' findings as the week's: each once, none that only a single day would say.

    Each day is read alone, so each counts the others' bookings as left out: the week
    plans them all. A row whose date is wrong or missing is read into every day (its day is
    unknown), so its return_of names an outward "on another service day" on all days but
    one: the date is the one error there.
    """
    findings = list(dict.fromkeys(findings))
    undated = {(f.file, f.row) for f in findings
               if f.severity is Severity.ERROR and f.column == "service_date"}
    return [f for f in findings if f.code is not Code.OTHER_DAYS_LEFT_OUT
            and not (f.code is Code.RETURN_OF_OTHER_DAY and (f.file, f.row) in undated)]


def read_previous(folder: Path, first_day: str | None = None) -> list[Plan]:
    """Last week's plans: every `folder/<YYYY-MM-DD>/` a plan folder, read with its inputs.

    With `first_day` (this week's first date), a plan of that day or later is refused:
    until the thirty-seventh stop `--previous` could be the week's own `--out`, and its
    "usual service" came from the plans of the days being planned.
    """
    from pts_optimiser.domain.config import load_config
    from pts_optimiser.io.planfolder import plan_inputs, plan_service_date

    days = sorted(p for p in folder.iterdir() if p.is_dir() and parse_service_date(p.name)
                  == p.name and (p / "summary.json").is_file()) if folder.is_dir() else []
    if not days:
        raise InputError([error(Code.FILE_NOT_FOUND, str(folder), "no plan folders named "
                                "YYYY-MM-DD in it", "give the --out folder of last week's "
                                "pts week")])
    from pts_optimiser.services.publish import read_checked_plan

    plans = []
    for day in days:
        inputs = plan_inputs(day)
        problem, _ = read_problem(inputs, load_config(inputs.config), plan_service_date(day))
        # Files that are not a plan's runs (edited by hand) are refused, as a re-plan
        # refuses them: read as they were until the thirty-fifth stop.
        plans.append(read_checked_plan(problem, day, "carried into this week (--previous)")[0])
    later = [p.problem.service_date for p in plans
             if first_day is not None and p.problem.service_date >= first_day]
    if later:
        raise InputError([error(
            Code.BAD_DATE, str(folder), f"holds plans of {', '.join(later)}, on or after "
            f"this week's first day {first_day}: --previous is for an earlier week's plans",
            "give the --out folder of last week's pts week (not this week's own)")])
    return plans


# -- regulars and their usual service ------------------------------------------------------

def days_of(days: Iterable[Problem], patients: set[str] | None = None) -> dict[str, int]:
    """Patient -> the days of the horizon they travel on (of `patients`, if given)."""
    count: Counter[str] = Counter()
    for problem in days:
        seen = {j.patient_id for j in problem.journeys}
        count.update(seen if patients is None else seen & patients)
    return dict(count)


def regulars(days: Iterable[Problem], min_days: int) -> set[str]:
    """Patients with two or more journeys on at least `min_days` days of the horizon."""
    days = list(days)
    journeys = Counter(j.patient_id for problem in days for j in problem.journeys)
    return {p for p, n in days_of(days).items() if n >= min_days and journeys[p] >= 2}


def pickups(plan: Plan) -> dict[str, tuple[str, int]]:
    """Journey id -> (vehicle id, minute its pickup starts) for every planned journey."""
    return {s.journey.journey_id: (r.vehicle.vehicle_id, s.service_start_min)
            for r in plan.rosters for s in r.stops
            if s.event is Event.PICKUP and s.journey is not None}


def usual_of(plans: Iterable[Plan], patients: set[str] | None = None) -> dict[Leg, Usual]:
    """Each leg's most frequent vehicle (ties: the earliest day's) and median pickup minute."""
    vehicles: dict[Leg, list[str]] = defaultdict(list)
    minutes: dict[Leg, list[int]] = defaultdict(list)
    for plan in sorted(plans, key=lambda p: p.problem.service_date):
        leg_of = legs_of_day(plan.problem.journeys)
        for journey_id, (vehicle_id, minute) in pickups(plan).items():
            leg = leg_of[journey_id]
            if patients is None or leg[0] in patients:
                vehicles[leg].append(vehicle_id)
                minutes[leg].append(minute)
    usual = {}
    for leg, seen in vehicles.items():
        counts = Counter(seen)
        top = max(counts.values())
        usual[leg] = Usual(next(v for v in seen if counts[v] == top),
                           int(statistics.median_low(minutes[leg])))
    return usual


def one_crew(usual: Mapping[Leg, Usual]) -> dict[Leg, Usual]:
    """Every leg of a regular's day asked of the vehicle that usually takes them out.

    The crew that takes a renal patient to the unit brings them back: fewer faces, and a
    crew that knows where the patient lives. Each leg also names the return's own usual
    vehicle (`otherwise`): where the crew that took them out cannot bring them back (its
    shift is over: for most afternoon sessions of a generated fleet, docs/week.md), the
    engine asks the crew that brought them back to take them out too, if it can carry
    both, and each leg its own usual vehicle if not (`engine.encode`).
    """
    by_patient: dict[str, list[tuple[Leg, Usual]]] = defaultdict(list)
    for leg, seen in usual.items():
        by_patient[leg[0]].append((leg, seen))
    asked = {}
    for theirs in by_patient.values():
        # The way out is the leg usually collected first; the ride home the second.
        theirs.sort(key=lambda item: (item[1].pickup_min, item[0][1]))
        out = theirs[0][1]
        for rank, (leg, seen) in enumerate(theirs):
            # The return's crew for the way out and back; a later journey's own crew for it.
            also = theirs[1][1] if rank < 2 and len(theirs) > 1 else seen
            crews = [c.vehicle_id for c in (out, also, seen)]
            first, *rest = list(dict.fromkeys(crews))
            asked[leg] = replace(seen, vehicle_id=first, otherwise=rest[0] if rest else None)
    return asked


def anchors(days: Mapping[str, Problem], regular: set[str], known: set[str]) -> list[str]:
    """The fewest days (greedy, busiest first) that hold every regular not `known`."""
    left = regular - known
    chosen: list[str] = []
    patients = {d: {j.patient_id for j in p.journeys} & left for d, p in days.items()}
    while left:
        best = max(sorted(days), key=lambda d: (len(patients[d] & left), len(days[d].journeys)))
        if not patients[best] & left:
            break
        chosen.append(best)
        left -= patients[best]
    return sorted(chosen)


# -- one day, with preferences ----------------------------------------------------------

def preferences(problem: Problem, usual: Mapping[Leg, Usual],
                copied: Mapping[str, int] | None = None) -> dict[str, Preference]:
    """Each regular's journey of the day: its leg's usual vehicle and pickup minute.

    Asked of the engine as costs (`[continuity]`), never as rules: a usual vehicle not on
    the road today, or one that cannot carry the journey, asks nothing of it, and no
    journey is ever left out for a preference (it costs far less than any journey).
    `copied` (patient -> days) are the days this day's crews stand for, on an anchor.
    """
    leg_of = legs_of_day(problem.journeys)
    copied = copied or {}
    return {j.journey_id: Preference(seen.vehicle_ids, seen.pickup_min,
                                     copied.get(j.patient_id, 1))
            for j in problem.journeys if (seen := usual.get(leg_of[j.journey_id])) is not None}


def together(problem: Problem, wishes: Mapping[str, Preference]) -> list[tuple[str, ...]]:
    """Each regular's journeys of the day (those asked for), to ride with one crew."""
    days: dict[str, list[str]] = defaultdict(list)
    for journey in problem.journeys:
        if journey.journey_id in wishes:
            days[journey.patient_id].append(journey.journey_id)
    return [tuple(ids) for ids in days.values() if len(ids) > 1]


def sketch(day: Problem, source: Plan) -> dict[str, list[tuple[Event, str, Place]]]:
    """Another day's runs as this day's: each patient's leg where it went that day.

    A regular booked the same session rides the same run again; ruin and recreate repairs
    what no longer fits and fills in the day's other journeys (`Commitments.sketch`).
    """
    here = {leg: journey_id for journey_id, leg in legs_of_day(day.journeys).items()}
    there = legs_of_day(source.problem.journeys)
    runs: dict[str, list[tuple[Event, str, Place]]] = {}
    for roster in source.rosters:
        run = runs[roster.vehicle.vehicle_id] = []
        for stop in roster.stops:
            if stop.event is Event.BREAK:
                run.append((stop.event, "", Place(stop.lat, stop.lon)))
            elif stop.event in (Event.PICKUP, Event.DROPOFF) and stop.journey is not None \
                    and there.get(stop.journey.journey_id) in here:
                run.append((stop.event, here[there[stop.journey.journey_id]],
                            Place(stop.lat, stop.lon)))
    return runs


@dataclass(frozen=True)
class DayTask:
    """One solve of the week: a day, alone (no usual service) or with its regulars' usual."""

    day: Problem
    time_limit_s: float
    usual: Mapping[Leg, Usual] = field(default_factory=dict)
    strategy: str = "one-core"
    # The plan whose runs this day starts from (`sketch`): an anchor's plan alone for the
    # anchor, the anchor's for the days of its rota.
    start: Plan | None = None
    # Patient -> the days this day's crews stand for (an anchor again: its rota's days).
    copied: Mapping[str, int] = field(default_factory=dict)


def solve_day(task: DayTask) -> Plan:
    """Plan one day; with usual service, its regulars' preferences priced in the search."""
    from pts_optimiser.engine.solve import SolveOptions, solve

    options = SolveOptions(time_limit_s=task.time_limit_s, strategy=task.strategy)
    if not _asks(task.day, task.usual):
        return solve(task.day, options)
    journeys = len(task.day.journeys)
    wishes = preferences(task.day, task.usual, task.copied)
    asked = Commitments(prefer=wishes, together=together(task.day, wishes),
                        sketch=sketch(task.day, task.start) if task.start is not None else {},
                        sketch_allowance=journeys - enough(journeys, task.day.config.continuity))
    return solve(task.day, options, commitments=asked)


# -- the week -----------------------------------------------------------------------------

def _end_with_parent() -> None:
    """In a pool worker: die with the command, even if it is killed (Linux)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


@dataclass(frozen=True)
class WeekPlans:
    """The week's plans per day, the days planned alone (with --compare), and how."""

    plans: dict[str, Plan]
    alone: dict[str, Plan]
    anchors: tuple[str, ...]
    kept_alone: tuple[str, ...]  # days whose plan alone (or anchor's) served more: kept
    solve_s: tuple[float, ...]  # each solve's share of the time, in the order given
    workers: int
    regulars: frozenset[str]
    usual: Mapping[Leg, Usual]
    known_before: int  # regulars whose usual service came from --previous
    continuity_served: dict[str, int]  # journeys each day's continuity plan served

    @property
    def per_solve_s(self) -> float:
        """The solves' mean share of the time."""
        return statistics.fmean(self.solve_s) if self.solve_s else 0.0


class _Clock:
    """The one division of the week's time, made again before each round of solves.

    The stages (the anchors and the days alone, the anchors again, the other days) run one
    after another, each in as many rounds as its solves need: a pool wider than a stage
    leaves cores idle, and does not make a stage's solves longer. Before each round, what
    is left until `end` is shared equally by the rounds still to run. A solve ends before
    its share (its searches keep time back to hand their plans over and have the model time
    them), so what one round leaves goes to the rounds after it.
    """

    def __init__(self, end: float, stages: Sequence[int], workers: int,
                 now: Callable[[], float] = time.monotonic) -> None:
        self.end, self.workers, self.now = end, max(1, workers), now
        self.rounds = sum(self._rounds(solves) for solves in stages)
        self.given: list[float] = []  # each solve's seconds, in the order given

    def _rounds(self, solves: int) -> int:
        return -(-solves // self.workers)

    def share(self, solves: int = 1) -> float:
        """Seconds for each of `solves` solves started now, together (one stage's)."""
        seconds = max(MIN_SOLVE_S, (self.end - self.now()) / max(1, self.rounds))
        self.rounds -= self._rounds(solves)
        self.given += [seconds] * solves
        return seconds


class _Pool(Protocol):
    workers: int  # solves run at once
    strategy: str  # the engine's strategy for each solve: both cores, or one each
    in_turn: bool  # each solve runs as it is submitted, the next when it is done
    start_s: float  # seconds before its first solve can start

    def __enter__(self) -> _Pool: ...

    def __exit__(self, *_: object) -> None: ...

    def submit(self, function: Callable[[DayTask], Plan], task: DayTask, what: str
               ) -> _Result: ...


class _Result(Protocol):
    def result(self) -> Plan: ...


class _Inline:
    """Days planned one after another in this process (the portfolio forks its own searches)."""

    workers = 1
    strategy = "portfolio"
    in_turn = True
    start_s = 0.0

    def __enter__(self) -> _Inline:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def submit(self, function: Callable[[DayTask], Plan], task: DayTask, what: str
               ) -> Future[Plan]:
        done: Future[Plan] = Future()
        done.set_result(function(task))
        return done


class _Processes:
    """Days planned `workers` at once in spawned processes, one search on one core each."""

    strategy = "one-core"
    in_turn = False
    start_s = POOL_START_S

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool = ProcessPoolExecutor(workers, mp_context=SPAWN,
                                         initializer=_end_with_parent)

    def __enter__(self) -> _Processes:
        return self

    def __exit__(self, *_: object) -> None:
        self._pool.shutdown()

    def submit(self, function: Callable[[DayTask], Plan], task: DayTask, what: str
               ) -> _InProcess:
        return _InProcess(self._pool.submit(function, task), what)


class _InProcess:
    """A day's future in the process pool: a process that died is named in one line."""

    def __init__(self, future: Future[Plan], what: str) -> None:
        self._future, self._what = future, what

    def result(self) -> Plan:
        try:
            return self._future.result()
        except BrokenProcessPool as exc:
            raise PtsError(f"the process planning {self._what} died (out of memory, or "
                           "killed); nothing was written, run again") from exc


class _OnCluster:
    """Days planned on the sweep's Dask cluster, as many at once as it has worker threads.

    One search each: a Dask worker's process may not start processes of its own.
    """

    strategy = "one-core"
    in_turn = False
    start_s = POOL_START_S

    def __init__(self, scheduler: str) -> None:
        from pts_optimiser.services.sweep.cluster import ClusterPool

        self._cluster = ClusterPool(scheduler)
        self.workers = 0

    def __enter__(self) -> _OnCluster:
        self.workers = self._cluster.__enter__().workers
        return self

    def __exit__(self, *_: object) -> None:
        self._cluster.__exit__()

    def submit(self, function: Callable[[DayTask], Plan], task: DayTask, what: str
               ) -> _Result:
        return self._cluster.submit(function, task, what)


def _pool(workers: int, scheduler: str | None) -> _Pool:
    if scheduler is not None:
        return _OnCluster(scheduler)
    return _Inline() if workers == 1 else _Processes(workers)


def plan_week(days: Mapping[str, Problem], budget_s: float, previous: Sequence[Plan] = (),
              compare: bool = False, workers: int | None = None,
              scheduler: str | None = None) -> WeekPlans:
    """Plan every day within `budget_s` of solving (the caller keeps back its writing time).

    Anchor days first (with the days alone, --compare), then the anchors again with their
    regulars' usual service (so they also ride out and back with one crew), then every other
    day with the usual service of the anchors' plans, starting from their runs. Days go to
    `workers` processes, or to the Dask cluster at `scheduler` (as many at once as it has
    worker threads), or else one at a time on both cores.
    """
    started = time.monotonic()
    policy = next(iter(days.values())).config.continuity
    solves = _Solves.of(days, previous, compare)
    regular, known, first = solves.regular, solves.known, solves.anchors
    alone_anchor, baseline, stages = solves.alone_anchors, solves.baseline, solves.stages
    # One day at a time on both cores: the portfolio's two searches from each sketch. With
    # --workers or a cluster, N days at once, each the portfolio's usual search alone on
    # its core, from its sketch as well (docs/week.md).
    with _pool(_at_once(stages, workers), scheduler) as pool:
        # Reaching a cluster counts in the budget; only then is its size known.
        clock = _Clock(started + budget_s - pool.start_s, stages, pool.workers)
        strategy = pool.strategy

        def stage(tasks: Sequence[tuple[str, Callable[[float], DayTask], str]]
                  ) -> list[_Result]:
            """Each task's solve, given its share of the time as it starts."""
            # In turn, each solve has what those before it left; else the stage starts at once.
            together = None if pool.in_turn else clock.share(len(tasks))
            return [pool.submit(solve_day,
                                make(clock.share() if together is None else together),
                                f"{what} of {day}")
                    for day, make, what in tasks]

        # An anchor with regulars known from last week repairs the runs they rode then.
        first_stage = stage(
            [(d, partial(DayTask, days[d], usual=one_crew(known), strategy=strategy,
                         start=closest(days[d], previous)), "the anchor plan") for d in first]
            + [(d, partial(DayTask, days[d], strategy=strategy), "the plan alone")
               for d in baseline])
        ahead, apart = first_stage[:len(first)], first_stage[len(first):]
        earlier = {d: f.result() for d, f in zip(first, ahead, strict=True)}
        # The anchors again, from their plan alone: their regulars' returns move to the crew
        # that took them out. The other days then ride the anchors' runs (or last week's),
        # so a regular's day split between crews here is split on each of their days: it
        # costs that many crew changes (docs/week.md).
        usual = one_crew({**usual_of(earlier.values(), regular), **known})
        copied = days_of(days.values(), regular)
        again = stage([(d, partial(DayTask, days[d], usual=usual, strategy=strategy,
                                   start=earlier[d], copied=copied), "the anchor plan again")
                       for d in first])
        repaired = {d: f.result() for d, f in zip(first, again, strict=True)}
        anchored = {d: earlier[d] if fewer(plan, earlier[d], policy) else plan
                    for d, plan in repaired.items()}
        # Each leg as it rode on the anchor's kept plan: with one crew wherever the anchor
        # found room for it. Asked for the crew that took them out again, a return whose
        # anchor could not bring it back with that crew would be priced alike on every
        # other vehicle, its own usual one too, and go wherever the day puts it. Where this
        # week's anchor could not keep last week's crew, its rota's days follow the anchor:
        # asked for last week's crew, a regular met both in one week (docs/week.md).
        usual = {**known, **usual_of(anchored.values(), regular)}
        others = [d for d in days if d not in first]
        rest = stage([(d, partial(DayTask, days[d], usual=usual, strategy=strategy,
                                  start=closest(days[d], [*anchored.values(), *previous])),
                       "the plan") for d in others])
        alone = {**{d: f.result() for d, f in zip(baseline, apart, strict=True)},
                 **{d: earlier[d] for d in alone_anchor}}
        plans = {**repaired, **{d: f.result() for d, f in zip(others, rest, strict=True)}}
    served = {d: len(p.planned) for d, p in plans.items()}
    kept = []
    for day, plan in [*earlier.items(), *alone.items()]:
        # Never fewer journeys than the day planned alone (less the policy's allowance):
        # continuity is not bought with them.
        if fewer(plans[day], plan, policy):
            plans[day] = plan
            kept.append(day)
    return WeekPlans(dict(sorted(plans.items())),
                     dict(sorted(alone.items())) if compare else {}, tuple(first),
                     tuple(sorted(set(kept))), tuple(clock.given), pool.workers,
                     frozenset(regular), usual,
                     len({leg[0] for leg in known}), served)


@dataclass(frozen=True)
class _Solves:
    """What the week plans, stage by stage: the anchors first, the days that ride them last."""

    regular: set[str]
    known: dict[Leg, Usual]  # from last week's plans
    anchors: list[str]
    alone_anchors: list[str]  # anchors no earlier week tells anything about: planned alone
    baseline: list[str]  # with --compare, the days planned alone beside the anchors
    days: int

    @classmethod
    def of(cls, days: Mapping[str, Problem], previous: Sequence[Plan], compare: bool
           ) -> _Solves:
        policy = next(iter(days.values())).config.continuity
        regular = regulars(days.values(), policy.regular_min_days)
        known = usual_of(previous, regular)
        # A regular whose crew of last week is in this week's fleet is known; one whose crew
        # is gone gets an anchor, as a new regular does (until 2026-12-07 a renamed fleet
        # left every regular known, no anchor was planned, and their legs asked for
        # vehicles the week did not have).
        fleet = {v.vehicle_id for problem in days.values() for v in problem.vehicles}
        first = anchors(days, regular, {leg[0] for leg, usual in known.items()
                                        if usual.vehicle_id in fleet})
        # An anchor no earlier week tells anything about is planned alone: its own baseline.
        alone = [d for d in first if not _asks(days[d], known)]
        return cls(regular, known, first, alone,
                   [d for d in days if d not in alone] if compare else [], len(days))

    @property
    def stages(self) -> tuple[int, int, int]:
        """Solves in each stage: the anchors (and days alone), the anchors again, the rest."""
        first = len(self.anchors)
        return first + len(self.baseline), first, self.days - first


def _at_once(stages: Sequence[int], workers: int | None) -> int:
    """Days planned at once: --workers, never more than the largest stage has solves."""
    return max(1, min(workers or 1, max(stages)))


def least_solve_s(days: Iterable[Problem]) -> float:
    """The least share of a solve of any of `days`: enough for its search to start.

    Below the engine's least, a day is planned one journey at a time; never below
    `MIN_SOLVE_S`; in half seconds.
    """
    from pts_optimiser.engine.strategies import ENCODE_S, least_start_s

    least = max((least_start_s(len(p.journeys), len(p.vehicles)) for p in days),
                default=ENCODE_S)
    return max(MIN_SOLVE_S, math.ceil(least * 2) / 2)


def least_budget_s(days: Mapping[str, Problem], previous: Sequence[Plan] = (),
                   compare: bool = False, workers: int | None = None,
                   on_cluster: bool = False) -> float:
    """The least solving time the week can keep to: `least_solve_s` for each round of solves.

    On a cluster, whose size is known only once it is reached, each stage's solves all at
    once: a time limit below this is too short for any cluster.
    """
    _, rounds, start_s, solve_s = least_parts(days, previous, compare, workers, on_cluster)
    return start_s + solve_s * rounds


def least_parts(days: Mapping[str, Problem], previous: Sequence[Plan] = (),
                compare: bool = False, workers: int | None = None,
                on_cluster: bool = False) -> tuple[int, int, float, float]:
    """What `least_budget_s` adds up: solves, rounds of them, the workers' start, a solve's."""
    stages = _Solves.of(days, previous, compare).stages
    at_once = max(1, max(stages)) if on_cluster else _at_once(stages, workers)
    start = POOL_START_S if on_cluster or at_once > 1 else 0.0
    return (sum(stages), sum(-(-n // at_once) for n in stages), start,
            least_solve_s(days.values()))


def closest(day: Problem, plans: Iterable[Plan]) -> Plan | None:
    """Of `plans`, the one sharing most patients with `day` (the earliest on a tie)."""
    patients = {j.patient_id for j in day.journeys}
    shared, best = max(((len(patients & {j.patient_id for j in p.problem.journeys}), p)
                        for p in plans), key=lambda pair: pair[0], default=(0, None))
    return best if shared else None


def fewer(plan: Plan, alone: Plan, policy: ContinuityPolicy) -> bool:
    """`plan` serves fewer journeys than the same day's plan `alone`, beyond the allowance."""
    return enough(len(alone.planned), policy) > len(plan.planned)


def enough(alone: int, policy: ContinuityPolicy) -> int:
    """The fewest journeys a continuity plan must serve, against `alone` served alone."""
    return math.ceil(alone * (1 - policy.journeys_lost_max_pct / 100) - 1e-9)


def _asks(problem: Problem, usual: Mapping[Leg, Usual]) -> bool:
    return any(leg in usual for leg in legs_of_day(problem.journeys).values())


# -- writing --------------------------------------------------------------------------------

ALONE = "alone"  # with --compare, the days planned alone: OUT/alone/<date>/
WEEK_JSON, WEEK_HTML = "week.json", "week.html"
_DAY_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}(\.previous)?$")
# Ours while being written: a day's staging or old folder, a report's temporary file.
_OURS_HIDDEN = re.compile(
    r"^\.(\d{4}-\d{2}-\d{2}(\.previous)?\.(partial|old)-|week\.(json|html)\.)")


def _of_days(inputs: Inputs, days: Iterable[str]) -> dict[str, Inputs]:
    """The week's inputs with only each day's bookings: what its plan folder keeps.

    Each day's folder held the whole week's bookings file until the thirty-seventh stop:
    every patient's details six times over (twelve with --compare), where the day's
    re-plans and checks read only its own.
    """
    from pts_optimiser.io.tables import file_bytes, rows_only

    bookings = inputs.table("bookings")
    rows: dict[str | None, set[int]] = defaultdict(set)
    for i, cells in enumerate(bookings.rows):
        rows[parse_service_date(cells.get("service_date", ""))].add(bookings.row_number(i))
    data = inputs.held.get("bookings") or file_bytes(inputs.bookings)
    return {day: replace(inputs, held={**inputs.held, "bookings": rows_only(data, rows[day])})
            for day in days}


def check_week_out(out: Path, days: Iterable[str], compare: bool) -> None:
    """Refuse, before planning and with nothing touched, an --out that is not ours.

    New, empty, or a week's folder pts wrote: its days' plan folders, `alone/`, week.json
    and week.html. Until 2026-12-07 only the days' folders were looked at: a week.json of
    someone else's was replaced, and a bookings folder given as --out was written into.
    """
    from pts_optimiser.io.planfolder import DESKTOP_LITTER, check_target, previous_of

    days = list(days)

    def refuse(why: str) -> OutputError:
        return OutputError(f"{out} (--out) {why}; it is not written into, nothing was written",
                           ["give another --out (a new or empty folder, or a week's folder "
                            "pts wrote), or move those files out first"])

    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise refuse("is a link or a file, not a folder")
    if out.is_dir():
        foreign = [n for n in sorted(p.name for p in out.iterdir())
                   if n not in (WEEK_JSON, WEEK_HTML, ALONE, *DESKTOP_LITTER)
                   and not _DAY_FOLDER.match(n) and not _OURS_HIDDEN.match(n)]
        for name in (WEEK_JSON, WEEK_HTML):
            path = out / name
            if path.is_symlink() or (path.exists() and not path.is_file()):
                foreign.append(name)
        if (out / WEEK_JSON).is_file() and not _ours(out / WEEK_JSON):
            foreign.append(WEEK_JSON)
        # Replaced only beside a week.json of ours (written first): a week.html alone was
        # someone's own page, replaced until the thirty-fifth stop.
        if (out / WEEK_HTML).is_file() and not ((out / WEEK_JSON).is_file()
                                                 and _ours(out / WEEK_JSON)):
            foreign.append(WEEK_HTML)
        alone = out / ALONE
        if alone.is_symlink() or (alone.exists() and not alone.is_dir()) or (
                alone.is_dir() and any(not _DAY_FOLDER.match(n) and not _OURS_HIDDEN.match(n)
                                       for n in (p.name for p in alone.iterdir()))):
            foreign.append(ALONE)
        if foreign:
            raise refuse(f"holds files pts did not write ({', '.join(foreign[:5])})")
        # Another week's days (or a day with no bookings now) would stay beside a report
        # that does not list them, and a later --previous would read them as this week's:
        # kept until the thirty-seventh stop.
        week = set(days)
        other = sorted(p.name for p in out.iterdir() if _DAY_FOLDER.match(p.name)
                       and p.name.split(".")[0] not in week)
        if other:
            raise OutputError(
                f"{out} (--out) holds plans of days not in this week ({', '.join(other[:7])}"
                f"{', ...' if len(other) > 7 else ''}); it is not written into, nothing was "
                "written", ["give each week its own --out (last week's is --previous), or "
                            "move those days' folders out first"])
    # Every day alone/ holds: a run without --compare removes them all (until the
    # thirty-fifth stop, with someone's notes in one of them).
    alone_days = (sorted(p.name for p in (out / ALONE).iterdir() if _DAY_FOLDER.match(p.name))
                  if (out / ALONE).is_dir() and not (out / ALONE).is_symlink() else [])
    for day in days:
        for folder in (out / day, *((out / ALONE / day,) if compare else ())):
            try:
                check_target(folder, keep_previous=previous_of(folder))
            except OutputError as exc:  # the day's folder name is the week's, not a choice
                raise refuse(f"has a day's folder {folder.relative_to(out)} that pts cannot "
                             f"replace: {exc.message}") from None
    for day in alone_days:
        try:
            check_target(out / ALONE / day, keep_previous=previous_of(out / ALONE / day))
        except OutputError as exc:
            raise refuse(f"has a day's folder {ALONE}/{day} that pts cannot replace: "
                         f"{exc.message}") from None


def _remove_alone(alone: Path) -> None:
    """Last run's days alone, each looked at again: only plan folders of ours go.

    Anything put there while the week was planned stays, and so does `alone/` around it.
    """
    from pts_optimiser.io.planfolder import check_target, previous_of

    for folder in sorted(alone.iterdir()):
        if not _OURS_HIDDEN.match(folder.name):  # a dead run's staging: ours by its name
            if not _DAY_FOLDER.match(folder.name):
                continue
            try:
                check_target(folder, keep_previous=previous_of(folder))
            except OutputError:
                continue
        shutil.rmtree(folder, ignore_errors=True)
    with contextlib.suppress(OSError):
        alone.rmdir()


def _ours(path: Path) -> bool:
    """Whether a week.json is one pts wrote."""
    try:
        figures = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(figures, dict) and {"days", "method"} <= set(figures)


@dataclass(frozen=True)
class WeekOutcome:
    """What `pts week` wrote, and its figures."""

    figures: dict[str, object]
    warnings: list[Finding]
    plans: dict[str, Plan]


def writing_s(journeys: Iterable[int], compare: bool) -> float:
    """Seconds kept back for writing days of `journeys`, and for the last solve's overrun.

    The clock shares the time again before each solve, so an earlier solve running past
    its share takes from the solves after it, not from the writing.
    """
    from pts_optimiser.views.writers import SEARCH_OVERRUN_S, writing_only_s

    each = [writing_only_s(n) for n in journeys]
    # The days alone are written without maps; the week's report takes a second.
    return sum(each) * (1.6 if compare else 1.0) + SEARCH_OVERRUN_S + 1.0


def run_week(inputs: Inputs, config: Config, out: Path, time_limit_s: float, started: float,
             previous: Path | None = None, compare: bool = False,
             workers: int | None = None, scheduler: str | None = None) -> WeekOutcome:
    """Read, plan and write the week: OUT/<date>/ each a checked plan folder, week.json/.html.

    `started` (time.monotonic) is when the command began: the time limit covers it all.
    """
    from pts_optimiser.io.tables import staged_text
    from pts_optimiser.services.publish import write_plan
    from pts_optimiser.views.week import week_figures, week_html
    from pts_optimiser.views.writers import Together

    days, warnings = read_week(inputs, config)
    before = read_previous(previous, min(days)) if previous is not None else []
    check_week_out(out, days, compare)  # refused before planning, not after it
    writing = writing_s((len(p.journeys) for p in days.values()), compare)
    budget = time_limit_s - (time.monotonic() - started) - writing
    least = least_budget_s(days, before, compare, workers, scheduler is not None)
    if budget < least:
        # Each solve would run past its share, and the command past its limit. Every
        # part named, so that they add up (the workers' start and the reading were left
        # out until the thirty-fifth stop: "6 solves of 1 s and 4 s" for 13 s).
        solves, rounds, start, solve_s = least_parts(days, before, compare, workers,
                                                     scheduler is not None)
        read = time_limit_s - budget - writing
        parts = [f"{solves} solves in {rounds} round(s) of at least {solve_s:g} s"]
        parts += [f"{start:g} s to start the workers"] * (start > 0)
        parts += [f"{writing:.0f} s to write and check the plans",
                  f"{read:.0f} s spent reading"]
        raise UsageError(
            f"--time-limit {time_limit_s:g} s is too short for these {len(days)} days: give "
            f"at least {math.ceil(time_limit_s - budget + least)} s ({', '.join(parts)}), or "
            "plan fewer days at once; nothing was written")
    week = plan_week(days, budget, before, compare, workers, scheduler)
    violations: dict[str, int] = {}
    alone_violations: dict[str, int] = {}
    policy = config.continuity
    # Every day new, or every day as it was: a week half replaced would mix two plans of
    # it, under a report of either. The report is made before any day is put in place.
    of_day = _of_days(inputs, days)
    with Together() as together:
        for day, plan in week.plans.items():
            violations[day] = len(write_plan(plan, out / day, of_day[day],
                                             together=together).violations)
        for day, plan in week.alone.items():
            alone_violations[day] = len(write_plan(plan, out / ALONE / day, of_day[day],
                                                   with_maps=False,
                                                   together=together).violations)
        figures = week_figures(week.plans, set(week.regulars), violations, week.alone,
                               alone_violations, {
            "regular_min_days": policy.regular_min_days, "anchors": list(week.anchors),
            "kept_alone": list(week.kept_alone),
            "seconds_a_solve": round(week.per_solve_s, 1), "workers": week.workers,
            "on_cluster": scheduler is not None,
            "previous": str(previous) if previous else None,
            "regulars_known_before": week.known_before,
            "continuity_plan_served": week.continuity_served,
            "seconds": round(time.monotonic() - started, 1)})
        # Written before any day is put in place, renamed in right after: a report that
        # cannot be written leaves every day as it was (until 2026-12-07 the days were new
        # under the old report).
        staged: dict[str, Path] = {}
        try:
            for name, text in ((WEEK_JSON, json.dumps(figures, indent=1) + "\n"),
                               (WEEK_HTML, week_html(figures))):
                staged[name] = staged_text(out / name, text)
        except BaseException:
            for temporary in staged.values():
                temporary.unlink(missing_ok=True)
            raise
    try:
        for name, temporary in staged.items():
            temporary.replace(out / name)
    finally:
        for temporary in staged.values():
            temporary.unlink(missing_ok=True)
    if not compare and (out / ALONE).is_dir():
        # Last run's days alone are not this week's: its report no longer speaks of them.
        _remove_alone(out / ALONE)
    return WeekOutcome(figures, warnings, week.plans)

