"""Fleet and policy sweeps: every day x fleet x policy x seed, solved on a Dask cluster.

Each combination is one task (sweep/task.py), keyed by a hash of its inputs' contents,
the time limit and the seed. A finished task's row is written at once to the sweep's
`results/` folder, so a sweep stopped or crashed resumes where it was; a task whose
worker died is run again by the scheduler. `sweep.csv` and `sweep.html` are made from
the rows (sweep/page.py). How to run it on a laptop, a cluster, Kubernetes or an HPC
queue: docs/sweeps.md.
"""

from __future__ import annotations

import io
import itertools
import json
import math
import shutil
import sys
import tarfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from pts_optimiser.domain.exits import ExitCode, OutputError, PtsError, UsageError
from pts_optimiser.services.sweep import cluster
from pts_optimiser.services.sweep.task import Source, Task, row_json, run_task

MARKER = ".pts-sweep"  # a folder with it is a sweep's: ours to add results to
RESULTS = "results"
RUNS = "runs"
CSV = "sweep.csv"
HTML = "sweep.html"
# The row's cells in this order; figures a row has beyond these (none today) come after.
COLUMNS = (
    "task", "day", "fleet", "config", "seed", "time_limit_s", "strategy", "status", "error",
    "vehicles_available", "electric_vehicles", "electric_share_pct", "journeys", "servable",
    "served", "served_pct", "unassigned", "patients", "patients_fully_served",
    "patients_left_behind", "violations", "vehicles_used", "km_total", "km_diesel",
    "km_petrol", "km_hybrid", "km_electric", "co2_kg_total", "co2_kg_diesel", "co2_kg_petrol",
    "co2_kg_hybrid", "co2_kg_electric", "on_board_median_min", "on_board_p90_min",
    "std_renal_collect_pct", "std_renal_collect_target_pct", "std_renal_on_board_pct",
    "std_renal_on_board_target_pct", "std_renal_early_pct", "std_renal_early_target_pct",
    "std_planned_early_pct", "std_planned_early_target_pct", "std_discharge_collect_pct",
    "std_discharge_collect_target_pct", "read_s", "solve_s", "write_check_s", "wall_s",
    "worker", "finished_utc", "bookings_sha256", "sites_sha256", "fleet_sha256",
    "config_sha256",
)
# Rows with these are the question answered: re-used by a later run of the same sweep.
# Others are tried again: "error", "lost" (a worker died with the task too often) and
# "no_plan_in_time" (the search built no plan in its time: a busy machine).
FINAL = ("ok", "rejected")
# A cluster whose workers all sit idle while tasks wait has lost them: after a worker's
# death the scheduler can hold a task as running on a worker that does not run it (seen
# under load; dask/distributed#3256, dask/dask#7543). Such tasks are submitted again under
# a new key, at most AGAIN times, and then given up as lost, so a sweep never waits forever.
STALL_S = 60.0
AGAIN = 2
POLL_S = 2.0


class SweepInputError(PtsError):
    """A sweep asked twice for the same thing: two inputs with the same contents."""

    exit_code = ExitCode.BAD_INPUT


@dataclass(frozen=True)
class SweepSpec:
    """What to sweep: the days, fleets, policies and seeds, and each task's search time."""

    days: tuple[Path, ...]
    fleets: tuple[Path, ...]
    configs: tuple[Path, ...] = ()  # none: the default policy alone
    seeds: tuple[int, ...] = (0,)
    time_limit_s: float = 60.0


@dataclass
class SweepResult:
    """The rows of every task of the sweep, and how many were re-used or run now."""

    rows: list[dict[str, object]]
    reused: int
    run: int
    elapsed_s: float
    failed: list[str] = field(default_factory=list)  # task keys that did not finish


def _names(paths: Sequence[Path]) -> list[str]:
    """Each file's stem, or its path as given where two share a stem."""
    stems = [p.stem for p in paths]
    return [stem if stems.count(stem) == 1 else str(path) for stem, path in zip(stems, paths,
                                                                                 strict=True)]


def _read(path: Path) -> bytes:
    return path.read_bytes()


def tasks_of(spec: SweepSpec) -> list[Task]:
    """Every combination of day, fleet, policy and seed, in that order."""
    day_names = [p.name or str(p) for p in spec.days]
    if len(set(day_names)) < len(day_names):
        day_names = [str(p) for p in spec.days]
    days = []
    for name, folder in zip(day_names, spec.days, strict=True):
        sites = folder / "sites.csv"
        days.append((name, Source(f"{name}/bookings.csv", _read(folder / "bookings.csv")),
                     Source(f"{name}/sites.csv", _read(sites)) if sites.exists() else None))
    fleets = [Source(n, _read(p)) for n, p in zip(_names(spec.fleets), spec.fleets,
                                                  strict=True)]
    configs: list[Source | None] = [Source(n, _read(p)) for n, p in
                                    zip(_names(spec.configs), spec.configs, strict=True)]
    tasks = [Task(day, bookings, sites, fleet, config, seed, spec.time_limit_s)
             for (day, bookings, sites), fleet, config, seed in itertools.product(
                 days, fleets, configs or [None], spec.seeds)]
    seen: dict[str, Task] = {}
    for task in tasks:
        if task.key in seen:
            first = seen[task.key]
            raise SweepInputError(
                "two tasks of this sweep would be the same question: day "
                f"{first.day} / {task.day}, fleet {first.fleet.name} / {task.fleet.name}, "
                f"policy {first.config_name} / {task.config_name}, seed {task.seed}; "
                "their files have the same contents. Give each day, fleet, policy and seed "
                "once")
        seen[task.key] = task
    return tasks


def validate(spec: SweepSpec, warn: Callable[[list[Any]], None] | None = None) -> None:
    """Read every day with every fleet and policy here, before any worker starts.

    Bad input is found in seconds, with its file, row and column, rather than as a failed
    task after minutes; an InputError carries the findings.
    """
    from pts_optimiser.domain.config import load_config
    from pts_optimiser.engine.strategies import least_start_s
    from pts_optimiser.io.parse import Inputs, read_problem

    least, busiest = 0.0, ""
    for config_path in spec.configs or (None,):
        config = load_config(config_path)
        for day in spec.days:
            sites = day / "sites.csv"
            for fleet in spec.fleets:
                problem, warnings = read_problem(Inputs(day / "bookings.csv", fleet,
                                                        sites if sites.exists() else None),
                                                 config)
                if warnings and warn is not None:
                    warn(warnings)
                needed = least_start_s(len(problem.journeys), len(problem.vehicles))
                if needed > least:
                    least, busiest = needed, (f"{day} with {fleet.name} "
                                              f"({len(problem.journeys)} journeys, "
                                              f"{len(problem.vehicles)} shifts)")
    if spec.time_limit_s < least:
        # Each such task would plan its day one journey at a time, and the sweep would
        # chart that as what the fleet can do.
        raise UsageError(f"--time-limit {spec.time_limit_s:g} s of search is too short for "
                         f"{busiest}: give at least {math.ceil(least)} s, the time its search "
                         "needs to start; nothing was run")


def prepare(out: Path) -> None:
    """Make `out` a sweep folder: new, empty, or one a sweep made; else refuse (exit 6)."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise OutputError(f"{out} is not a folder a sweep can write into; choose a new "
                          "folder for --out")
    if out.exists() and any(out.iterdir()) and not (out / MARKER).exists():
        raise OutputError(f"{out} holds files that are not a sweep's; choose a new or empty "
                          "folder for --out (a sweep adds to a folder only it made)")
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    (out / RESULTS).mkdir(mode=0o700, exist_ok=True)
    (out / MARKER).touch(mode=0o600)


def finished_rows(out: Path, tasks: Iterable[Task]) -> dict[str, dict[str, object]]:
    """Rows already in `out/results/` for these tasks (a resumed sweep re-uses them)."""
    found: dict[str, dict[str, object]] = {}
    for task in tasks:
        path = out / RESULTS / f"{task.key}.json"
        try:
            row = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(row, dict) and row.get("task") == task.key and row.get("status") in FINAL:
            found[task.key] = row
    return found


def run_name(row: dict[str, object]) -> str:
    """A kept plan folder's name: day, fleet, policy, seed and the task key's start."""
    def safe(text: str) -> str:
        return "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in text)

    # The seed and the key always end the name: cut from the names before them, two tasks
    # of one long fleet name shared one folder, and the second replaced the first's plan.
    tail = safe(f"_seed{row['seed']}_{str(row['task'])[:8]}")
    head = safe(f"{row['day']}_{row['fleet']}_{row['config']}").lstrip(".-_")
    return head[:120 - len(tail)] + tail


def _save(out: Path, task: Task, outcome: dict[str, Any]) -> dict[str, object]:
    from pts_optimiser.io.tables import write_text

    row: dict[str, object] = outcome["row"]
    plan_tar = outcome.get("plan_tar")
    if plan_tar:
        folder = out / RUNS / run_name(row)
        folder.parent.mkdir(mode=0o700, exist_ok=True)
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(mode=0o700)
        with tarfile.open(fileobj=io.BytesIO(plan_tar), mode="r:gz") as archive:
            archive.extractall(folder, filter="data")
        # The plan's own modes: the folders extraction makes took the umask's (0755 under
        # 022) until the thirty-fifth stop.
        for path in folder.rglob("*"):
            if not path.is_symlink():
                path.chmod(0o700 if path.is_dir() else 0o600)
    # Written last: a row in results/ means the task and its kept plan are complete.
    write_text(out / RESULTS / f"{task.key}.json", row_json(row))
    return row


def _failed_row(task: Task, status: str, error: str) -> dict[str, object]:
    return {**task.identity(), "status": status, "error": error}


def write_table_of(out: Path, rows: list[dict[str, object]]) -> None:
    """sweep.csv: one row per task, text cells made safe for spreadsheets."""
    from pts_optimiser.io.tables import write_table

    extra = [k for row in rows for k in row if k not in COLUMNS]
    columns = [*COLUMNS, *dict.fromkeys(extra)]
    write_table(out / CSV, columns, [{c: row.get(c, "") for c in columns} for row in rows])


class Progress:
    """A bar with time left on a terminal; otherwise one line a minute (a log)."""

    def __init__(self, total: int, stream: TextIO | None = None,
                 log_every_s: float = 60.0) -> None:
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self.log_every_s = log_every_s
        self.started = time.monotonic()
        self.last_log = self.started
        self.done = 0

    def _left(self) -> str:
        elapsed = time.monotonic() - self.started
        if self.done == 0:
            return "time left not yet known"
        left = elapsed / self.done * (self.total - self.done)
        return f"about {_clock(left)} left"

    def update(self, done: int) -> None:
        """`done` tasks of the total have finished in this run."""
        self.done = done
        elapsed = time.monotonic() - self.started
        if self.tty:
            width = 30
            filled = int(width * done / self.total) if self.total else width
            self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} "
                              f"tasks, {_clock(elapsed)} elapsed, {self._left()}   ")
            self.stream.flush()
        elif time.monotonic() - self.last_log >= self.log_every_s or done == self.total:
            self.last_log = time.monotonic()
            self.stream.write(f"sweep: {done} of {self.total} tasks done, {_clock(elapsed)} "
                              f"elapsed, {self._left()}\n")
            self.stream.flush()

    def note(self, line: str) -> None:
        """A line that must be seen, on its own line even under a bar."""
        self.stream.write(("\n" if self.tty else "") + line + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End the bar's line."""
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def run_sweep(spec: SweepSpec, out: Path, scheduler: str | None = None, workers: int = 2,
              keep_plans: bool = False, progress_stream: TextIO | None = None,
              on_started: Callable[[Any], None] | None = None,
              stall_s: float = STALL_S) -> SweepResult:
    """Run every task not already finished in `out`; write rows, sweep.csv and sweep.html.

    `on_started(client)` is called once the tasks are submitted (tests use it to kill a
    worker in the middle of a solve). Tasks left waiting while every worker sits idle for
    `stall_s` are submitted again, then given up as lost.
    """
    from pts_optimiser.services.sweep.page import write_page

    started = time.monotonic()
    tasks = tasks_of(spec)
    prepare(out)
    rows = finished_rows(out, tasks)
    if keep_plans:
        # Asked to keep plans now: a row finished without its plan folder runs again.
        rows = {key: row for key, row in rows.items()
                if row.get("status") != "ok" or (out / RUNS / run_name(row)).is_dir()}
    reused = len(rows)
    todo = [t for t in tasks if t.key not in rows]
    failed: list[str] = []
    if todo:
        progress = Progress(len(todo), progress_stream)
        client = cluster.client(scheduler, workers)
        try:
            failed = _run(client, todo, out, rows, keep_plans, progress, tasks, on_started,
                          stall_s)
        finally:
            progress.close()
            cluster.close(client)
    ordered = [rows[t.key] for t in tasks if t.key in rows]
    write_table_of(out, ordered)
    write_page(out / HTML, ordered)
    return SweepResult(ordered, reused, len(todo), time.monotonic() - started, failed)


def _executing(dask_worker: Any) -> list[str]:
    """The keys a worker is running now, by its own account rather than the scheduler's."""
    return [str(state.key) for state in dask_worker.state.executing]


def _busy(client: Any) -> bool:
    """Whether any worker runs a task now, or none is there yet (a queue still starting)."""
    running = client.run(_executing, on_error="ignore")
    return not running or any(running.values())


def _run(client: Any, todo: list[Task], out: Path, rows: dict[str, dict[str, object]],
         keep_plans: bool, progress: Progress, tasks: list[Task],
         on_started: Callable[[Any], None] | None, stall_s: float = STALL_S) -> list[str]:
    kind = "kept" if keep_plans else "row"
    by_key: dict[str, Task] = {}
    attempts: dict[str, int] = {}

    def submit(task: Task) -> Any:
        # The key names the question (inputs' contents, time limit, seed), so a scheduler
        # that still holds a finished task from a dropped client gives its result back.
        attempt = attempts[task.key] = attempts.get(task.key, -1) + 1
        key = f"pts-sweep-{task.key}-{kind}" + (f"-again{attempt}" if attempt else "")
        by_key[key] = task
        return client.submit(run_task, task, keep_plans, key=key, pure=False)

    pending = {submit(task) for task in todo}
    if on_started is not None:
        on_started(client)
    failed: list[str] = []
    done = 0

    def finish(task: Task, row: dict[str, object]) -> None:
        nonlocal done
        if row.get("status") not in FINAL:
            failed.append(task.key)
        rows[task.key] = row
        done += 1
        progress.update(done)
        # The table as it stands, so a stopped sweep leaves what it has.
        write_table_of(out, [rows[t.key] for t in tasks if t.key in rows])

    quiet_since = time.monotonic()
    while pending:
        finished, pending = _next(pending)
        for future in finished:
            task = by_key[future.key]
            finish(task, _row_of(out, task, future))
            future.release()
        now = time.monotonic()
        if finished or _busy(client):
            quiet_since = now
        elif now - quiet_since >= stall_s:
            pending = _again(client, pending, by_key, attempts, submit, finish, progress,
                             now - quiet_since)
            quiet_since = time.monotonic()
    return failed


def _next(pending: set[Any]) -> tuple[set[Any], set[Any]]:
    """The futures finished within POLL_S (none if none did), and those still pending.

    A future cancelled by the cluster (not by us) counts as finished: its row says why.
    """
    from concurrent.futures import CancelledError

    from distributed import wait

    cancelled = {future for future in pending if future.cancelled()}
    waiting = pending - cancelled
    if not waiting:
        return cancelled, waiting
    try:
        finished, waiting = wait(  # type: ignore[no-untyped-call]
            list(waiting), timeout=POLL_S, return_when="FIRST_COMPLETED")
    except TimeoutError:
        finished = set()
    except (CancelledError, UnboundLocalError):
        # One was cancelled while we waited (taken the next time round); distributed's
        # wait() may then fail with UnboundLocalError instead (dask/distributed#8514).
        finished = set()
    return cancelled | set(finished), set(waiting)


def _row_of(out: Path, task: Task, future: Any) -> dict[str, object]:
    """The task's row from its finished future: its result saved, or why it has none."""
    from distributed import KilledWorker

    try:
        return _save(out, task, future.result())
    except KilledWorker:
        # The scheduler ran it again after each worker death, and gave up after
        # distributed.scheduler.allowed-failures: likely the task itself (memory).
        return _failed_row(task, "lost", "its worker died each time it ran it; see the "
                           "workers' logs (memory?) and run the sweep again")
    except PtsError as exc:
        return _failed_row(task, "error", exc.message)
    except Exception as exc:  # a fault in one task; the others go on
        return _failed_row(task, "error", f"{type(exc).__name__}: {exc}")


def _again(client: Any, pending: set[Any], by_key: dict[str, Task],
           attempts: dict[str, int], submit: Callable[[Task], Any],
           finish: Callable[[Task, dict[str, object]], None], progress: Progress,
           quiet_s: float) -> set[Any]:
    """Tasks the idle cluster holds but does not run: each submitted again, or given up."""
    client.cancel(list(pending))
    tasks = [by_key[future.key] for future in pending]
    given_up = [task for task in tasks if attempts[task.key] >= AGAIN]
    again = {submit(task) for task in tasks if attempts[task.key] < AGAIN}
    for task in given_up:
        finish(task, _failed_row(
            task, "lost", f"the cluster's workers sat idle for {quiet_s:.0f} s with the task "
            f"waiting, after it was submitted {AGAIN} more times; check the workers (paused "
            "for memory?) and run the sweep again"))
    progress.note(f"sweep: no worker ran any of the {len(tasks)} waiting task(s) for "
                  f"{quiet_s:.0f} s; {len(again)} submitted again, "
                  f"{len(tasks) - len(again)} given up as lost")
    return again
