"""The nightly scheduled solve: tomorrow's plan, unattended, never lost, never half-written.

It takes the day's bookings and the fleet from an inbox, validates, plans within its
wall-clock budget and writes `outbox/<date>/` in one rename, keeping the plan it replaces
as `outbox/<date>.previous/`. A lock file makes a second run refuse at once. It logs JSON
lines (ids and counts, never names, labels or addresses) to `outbox/nightly.log`.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from pts_optimiser.config import load_config
from pts_optimiser.diagnostics import InputError, Severity
from pts_optimiser.parse import Inputs, read_problem

EXIT_ALL_PLANNED = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2
EXIT_UNASSIGNED = 3
EXIT_LOCKED = 4
PROGRESS_EVERY_S = 10.0
LOG_NAME = "nightly.log"
LOCK_NAME = ".nightly.lock"


class Log:
    """JSON lines, one event each, appended and flushed as they happen."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def event(self, name: str, **fields: Any) -> None:
        """Write one event with its time."""
        record = {"time": datetime.now().isoformat(timespec="seconds"), "event": name, **fields}
        self.stream.write(json.dumps(record, sort_keys=False) + "\n")
        self.stream.flush()


@contextmanager
def _lock(outbox: Path) -> Iterator[bool]:
    """Hold the outbox lock for the run; yields False when another run holds it."""
    handle = (outbox / LOCK_NAME).open("a")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        handle.close()  # closing releases the lock, also when the process is killed


def tomorrow() -> str:
    """The default service day of a night run."""
    return (date.today() + timedelta(days=1)).isoformat()


def _inputs(inbox: Path) -> Inputs:
    sites, config = inbox / "sites.csv", inbox / "config.toml"
    return Inputs(inbox / "bookings.csv", inbox / "fleet.csv",
                  sites if sites.exists() else None, config if config.exists() else None)


def run_nightly(inbox: Path, outbox: Path, service_date: str, time_limit_s: float,
                started: float) -> int:
    """Plan `service_date` from the inbox into the outbox; returns the exit code."""
    outbox.mkdir(parents=True, exist_ok=True)
    with (outbox / LOG_NAME).open("a", encoding="utf-8") as stream:
        log = Log(stream)
        with _lock(outbox) as held:
            if not held:
                log.event("refused", reason="another nightly run holds the lock",
                          pid=os.getpid(), exit_code=EXIT_LOCKED)
                return EXIT_LOCKED
            log.event("start", date=service_date, inbox=str(inbox), outbox=str(outbox),
                      pid=os.getpid(), time_limit_s=time_limit_s)
            try:
                date.fromisoformat(service_date)
            except ValueError:
                log.event("result", outcome=f"--date {service_date!r} is not YYYY-MM-DD",
                          exit_code=EXIT_BAD_INPUT)
                return EXIT_BAD_INPUT
            try:
                return _plan_night(inbox, outbox, service_date, time_limit_s, started, log)
            except Exception as exc:  # the log must say why the night failed
                log.event("result", outcome="internal error", error=type(exc).__name__,
                          exit_code=EXIT_INTERNAL)
                return EXIT_INTERNAL


def _plan_night(inbox: Path, outbox: Path, service_date: str, time_limit_s: float,
                started: float, log: Log) -> int:
    from pts_optimiser.solve import SolveOptions, solve
    from pts_optimiser.writers import summary, write_plan, writing_time_s

    inputs = _inputs(inbox)
    try:
        config = load_config(inputs.config)
        problem, warnings = read_problem(inputs, config, service_date)
    except InputError as exc:
        errors = [f for f in exc.findings if f.severity is Severity.ERROR]
        log.event("validation", ok=False, errors=len(errors),
                  by_code=dict(Counter(str(f.code) for f in errors)),
                  first=[{"file": Path(f.file).name, "row": f.row, "column": f.column or f.key,
                          "code": str(f.code)} for f in errors[:20]])
        log.event("result", outcome="bad input; the last good plan is kept",
                  exit_code=EXIT_BAD_INPUT)
        return EXIT_BAD_INPUT
    log.event("validation", ok=True, journeys=len(problem.journeys),
              vehicles=len(problem.vehicles),
              warnings=dict(Counter(str(f.code) for f in warnings)))
    if not problem.journeys:
        log.event("warning", message=f"no bookings for {service_date} in the inbox")
    last_report = [time.monotonic()]

    def progress(planned: int, objective: int, elapsed_s: float) -> None:
        if time.monotonic() - last_report[0] >= PROGRESS_EVERY_S:
            last_report[0] = time.monotonic()
            log.event("progress", planned=planned, elapsed_s=round(elapsed_s, 1))

    remaining = time_limit_s - (time.monotonic() - started)
    spare = writing_time_s(len(problem.journeys))
    plan = solve(problem, SolveOptions(time_limit_s=max(1.0, remaining - spare)),
                 progress=progress)
    if "travel_warning" in plan.search:
        log.event("warning", message=plan.search["travel_warning"])
    if plan.search.get("status") == "fallback: one at a time":
        log.event("fallback", reason="the search found no plan in time",
                  planned=len(plan.planned))
    folder = outbox / service_date
    write_plan(plan, folder, inputs, with_maps=True,
               keep_previous=outbox / f"{service_date}.previous")
    figures = summary(plan)
    code = EXIT_ALL_PLANNED if not plan.unassigned else EXIT_UNASSIGNED
    log.event("result", outcome="planned", plan=str(folder), served=figures["served"],
              unassigned=figures["unassigned"], by_reason=figures["unassigned_by_reason"],
              seconds=round(time.monotonic() - started, 1), exit_code=code)
    return code
