"""The nightly scheduled solve: tomorrow's plan, unattended, never lost, never half-written.

It takes the day's bookings and the fleet from an inbox, validates, plans within its
wall-clock budget and writes `outbox/<date>/` in one rename, keeping the plan it replaces
as `outbox/<date>.previous/`. A lock file makes a second run refuse at once. It logs JSON
lines (ids and counts, never names, labels, addresses or cell contents) to
`outbox/nightly.log`, and says every outcome in one line on stderr (cron mail, the systemd
journal), with the exit codes of `pts_optimiser.domain.exits`.
"""

from __future__ import annotations

import errno
import fcntl
import json
import math
import os
import re
import sys
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from pts_optimiser.domain.config import Config, load_config
from pts_optimiser.domain.diagnostics import InputError, Severity
from pts_optimiser.domain.exits import ExitCode, OutputError, PtsError, Terminated, raised_at
from pts_optimiser.io.osrm import redact
from pts_optimiser.io.parse import Inputs, read_problem
from pts_optimiser.io.planfolder import make_folders

PROGRESS_EVERY_S = 10.0
LOG_NAME = "nightly.log"
LOCK_NAME = ".nightly.lock"
KEPT = "the last good plan is kept"


def service_date(text: str) -> str:
    """`text` when it is an ISO date, YYYY-MM-DD; ValueError otherwise."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise ValueError(f"{text[:40]!r} is not a date as YYYY-MM-DD")
    try:
        date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a day of the calendar") from None
    return text


class Log:
    """JSON lines, one event each, appended and flushed as they happen.

    A log that cannot be written (disk full) does not stop the night: stderr still says
    how it ended.
    """

    def __init__(self, stream: TextIO | None) -> None:
        self.stream = stream
        self.wrote: Path | None = None  # the plan folder, once put in place

    def event(self, name: str, **fields: Any) -> None:
        """Write one event with its time; strings are redacted of any credentials."""
        if self.stream is None:
            return
        record = {"time": datetime.now().isoformat(timespec="seconds"), "event": name,
                  **{key: redact(value) if isinstance(value, str) else value
                     for key, value in fields.items()}}
        try:
            self.stream.write(json.dumps(record, sort_keys=False) + "\n")
            self.stream.flush()
        except OSError:
            self.stream = None


def _say(line: str) -> None:
    """One line on stderr, for cron mail and the systemd journal."""
    print(redact(line), file=sys.stderr, flush=True)


@contextmanager
def _lock(outbox: Path) -> Iterator[str | None]:
    """Hold the outbox lock for the run; yields None, or the holder's pid when refused.

    A POSIX record lock (fcntl.lockf), not flock: it belongs to this process alone and is
    not inherited by the search processes it forks, so it dies with this process even if
    they outlive it (kill -9). The holder's pid is written in the file for people.
    """
    # Never through a link: it could point at another file, which truncating would empty.
    path = outbox / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EACCES, errno.EAGAIN):
                raise
            yield os.pread(fd, 20, 0).decode("ascii", "replace").strip() or "unknown"
            return
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as exc:  # a full disk: said with the file's path
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        try:
            yield None
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing releases the lock; so does the end of the process


def tomorrow() -> str:
    """The default service day of a night run."""
    return (date.today() + timedelta(days=1)).isoformat()


def _inputs(inbox: Path) -> Inputs:
    # A link that leads nowhere is an input given and unreadable (bad input), not one left
    # out: the default policy or sites would stand in for it without a word.
    sites, config = inbox / "sites.csv", inbox / "config.toml"
    return Inputs(inbox / "bookings.csv", inbox / "fleet.csv",
                  sites if os.path.lexists(sites) else None,
                  config if os.path.lexists(config) else None)


def _why(exc: OSError) -> str:
    """What an OS error means, with its code name and path; no file contents."""
    name = errno.errorcode.get(exc.errno or 0, "")
    where = f" {exc.filename}" if exc.filename else ""
    return f"{where.strip() or 'a file'}: {exc.strerror or type(exc).__name__}" + (
        f" ({name})" if name else "")


def _policy(inbox: Path) -> Config | InputError | OSError:
    """The inbox's policy, read once: the outbox's modes and the plan follow one version.

    What keeps it from being read is returned, to be reported as bad input in the log,
    which the modes are needed to make.
    """
    try:
        return load_config(_inputs(inbox).config)
    except (InputError, OSError) as exc:
        return exc


def _modes(policy: Config | InputError | OSError) -> tuple[int, int]:
    """The modes of a new outbox and of the log: the plan's own.

    Owner only unless the inbox's policy says `[output] group_readable`; a policy that does
    not read gives private modes.
    """
    from pts_optimiser.views.writers import modes

    return modes(isinstance(policy, Config) and policy.group_readable)


def run_nightly(inbox: Path, outbox: Path, day: str, time_limit_s: float,
                started: float) -> int:
    """Plan `day` from the inbox into the outbox; returns the exit code (ExitCode)."""
    refused = _refused_options(day, time_limit_s)
    # A --date that is no date is shown quoted and cut short: one with a newline wrote a
    # second line of its own, which could read as a night's outcome (until the thirty-fifth stop).
    head = f"nightly {day[:40]!r}" if refused and refused.startswith("--date") \
        else f"nightly {day}"

    def refuse() -> int:
        _say(f"{head}: bad input: {refused}; nothing done [exit {ExitCode.BAD_INPUT}]")
        return ExitCode.BAD_INPUT

    if refused and not outbox.is_dir():  # no outbox made for a night that plans nothing
        return refuse()
    try:
        policy = _policy(inbox)
        folder_mode, file_mode = _modes(policy)
        make_folders(outbox, folder_mode)
        fd = os.open(outbox / LOG_NAME, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
                     | os.O_NOFOLLOW, file_mode)
        os.fchmod(fd, file_mode)  # the policy's, whatever the umask made of it
        stream = os.fdopen(fd, "a", encoding="utf-8")
    except OSError as exc:
        if refused:  # the options' fault first: the outbox may be right for the right date
            return refuse()
        _say(f"{head}: cannot write the outbox: {_why(exc)}; nothing done "
             f"[exit {ExitCode.CANNOT_WRITE}]")
        return ExitCode.CANNOT_WRITE
    try:
        if refused:
            # In the log too (until 2026-12-07 only on stderr, and a bad --time-limit
            # only as click's usage message): whoever reads the log sees the night
            # that planned nothing. A `refused` event, not a `result`: it holds no lock,
            # and a night running now must not seem to have ended with it.
            Log(stream).event("refused", reason=f"bad input: {refused}; nothing done",
                              exit_code=int(ExitCode.BAD_INPUT))
            return refuse()
        return _under_lock(inbox, outbox, day, time_limit_s, started, Log(stream), policy)
    finally:
        with suppress(OSError):  # a log the disk refused: how the night ended is on stderr
            stream.close()


TIME_LIMIT_RANGE_S = (5.0, 86400.0)


def _refused_options(day: str, time_limit_s: float) -> str | None:
    """Why the night's --date or --time-limit cannot be planned with, or None."""
    try:
        service_date(day)
    except ValueError as exc:
        return f"--date {exc}"
    least, most = TIME_LIMIT_RANGE_S
    if not least <= time_limit_s <= most:  # nan too: every comparison with it is false
        given = "is not a number" if math.isnan(time_limit_s) else f"{time_limit_s:g} s"
        return f"--time-limit {given}: give the seconds for the whole run, {least:g} to {most:g}"
    return None


def _under_lock(inbox: Path, outbox: Path, day: str, time_limit_s: float, started: float,
                log: Log, policy: Config | InputError | OSError) -> int:
    """The night's work holding the outbox's lock, or refused for want of it."""
    head = f"nightly {day}"
    try:
        with _lock(outbox) as holder:
            if holder is not None:
                log.event("refused", reason="another nightly run holds the lock",
                          holder=holder, pid=os.getpid(), exit_code=int(ExitCode.LOCKED))
                _say(f"{head}: another nightly run (pid {holder}) holds "
                     f"{outbox / LOCK_NAME}; nothing done [exit {ExitCode.LOCKED}]")
                return ExitCode.LOCKED
            return _run_locked(inbox, outbox, day, time_limit_s, started, log, policy)
    except OSError as exc:  # the lock file itself cannot be made
        log.event("result", outcome="cannot write the outbox",
                  exit_code=int(ExitCode.CANNOT_WRITE))
        _say(f"{head}: cannot write the outbox: {_why(exc)}; nothing done "
             f"[exit {ExitCode.CANNOT_WRITE}]")
        return ExitCode.CANNOT_WRITE


def _run_locked(inbox: Path, outbox: Path, day: str, time_limit_s: float, started: float,
                log: Log, policy: Config | InputError | OSError) -> int:
    head = f"nightly {day}"
    log.event("start", date=day, inbox=str(inbox), outbox=str(outbox), pid=os.getpid(),
              time_limit_s=time_limit_s)
    try:
        return _plan_night(inbox, outbox, day, time_limit_s, started, log, policy)
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (a systemd stop or its timeout)
        code = ExitCode.TERMINATED if isinstance(exc, Terminated) else ExitCode.STOPPED
        by = "SIGTERM" if isinstance(exc, Terminated) else "Ctrl-C"
        kept = f"the plan was written to {log.wrote}" if log.wrote else f"nothing written, {KEPT}"
        log.event("result", outcome=f"stopped ({by}); {kept}", exit_code=int(code))
        _say(f"{head}: stopped ({by}) before it finished; {kept} [exit {code}]")
        return code
    except PtsError as exc:  # e.g. a plan that failed its check: not put in place
        code = exc.exit_code
        log.event("result", outcome=f"{type(exc).__name__}; {KEPT}", message=exc.message,
                  exit_code=int(code))
        for line in exc.lines:
            _say(f"  {line}")
        _say(f"{head}: {exc.message}; {KEPT} [exit {code}]")
        return code
    except Exception as exc:  # a fault of ours: the log must say what and where
        code = ExitCode.INTERNAL
        where = raised_at(exc)
        # The traceback only on stderr: its message may quote a cell, the log must not.
        traceback.print_exc(file=sys.stderr)
        kept = f"the plan was written to {log.wrote}" if log.wrote else f"nothing written, {KEPT}"
        log.event("result", outcome=f"internal error; {kept}", error=type(exc).__name__,
                  where=where, message=f"{type(exc).__name__} at {where}; the traceback is "
                  "on the run's stderr (cron mail or the systemd journal)",
                  exit_code=int(code))
        _say(f"{head}: internal error {type(exc).__name__} at {where}; {kept}; the traceback "
             f"is above [exit {code}]")
        return code


def _plan_night(inbox: Path, outbox: Path, day: str, time_limit_s: float,
                started: float, log: Log, policy: Config | InputError | OSError) -> int:
    from pts_optimiser.domain.deadline import Deadline
    from pts_optimiser.domain.plan import Origin
    from pts_optimiser.engine.solve import SolveOptions, below_alert, planned_share, solve
    from pts_optimiser.engine.strategies import least_limit_s
    from pts_optimiser.services.publish import write_plan
    from pts_optimiser.views.writers import summary, writing_time_s

    head = f"nightly {day}"
    # Read once: the inbox may be replaced while the day is planned (Inputs.hold).
    inputs = _inputs(inbox).hold()
    try:
        if not isinstance(policy, Config):
            raise policy
        problem, warnings = read_problem(inputs, policy, day)
    except InputError as exc:
        errors = [f for f in exc.findings if f.severity is Severity.ERROR]
        log.event("validation", ok=False, errors=len(errors),
                  by_code=dict(Counter(str(f.code) for f in errors)),
                  first=[{"file": Path(f.file).name, "row": f.row, "column": f.column or f.key,
                          "code": str(f.code)} for f in errors[:20]])
        log.event("result", outcome=f"bad input; {KEPT}", exit_code=int(ExitCode.BAD_INPUT))
        for finding in exc.findings:
            _say(str(finding))
        _say(f"{head}: bad input in {inbox}: {len(errors)} error(s), listed above; {KEPT} "
             f"[exit {ExitCode.BAD_INPUT}]")
        return ExitCode.BAD_INPUT
    except OSError as exc:  # an input that is a folder, unreadable, or vanished
        log.event("validation", ok=False, errors=1, error=type(exc).__name__,
                  file=Path(exc.filename).name if exc.filename else None)
        log.event("result", outcome=f"bad input; {KEPT}", exit_code=int(ExitCode.BAD_INPUT))
        _say(f"{head}: bad input: cannot read {_why(exc)}; {KEPT} [exit {ExitCode.BAD_INPUT}]")
        return ExitCode.BAD_INPUT
    log.event("validation", ok=True, journeys=len(problem.journeys),
              vehicles=len(problem.vehicles),
              warnings=dict(Counter(str(f.code) for f in warnings)))
    if not problem.journeys:
        log.event("result", outcome=f"no bookings for {day}; {KEPT}",
                  exit_code=int(ExitCode.BAD_INPUT))
        _say(f"{head}: bad input: no bookings for {day} in {inputs.bookings} (its "
             f"service_date column names other days, or it has no rows); {KEPT} "
             f"[exit {ExitCode.BAD_INPUT}]")
        return ExitCode.BAD_INPUT
    last_report = [time.monotonic()]

    def progress(planned: int, objective: int, elapsed_s: float) -> None:
        if time.monotonic() - last_report[0] >= PROGRESS_EVERY_S:
            last_report[0] = time.monotonic()
            log.event("progress", planned=planned, elapsed_s=round(elapsed_s, 1))

    writing = writing_time_s(len(problem.journeys))
    searching = Deadline.within(time_limit_s, started).less(writing)
    # Unattended, too short a limit still plans (one journey at a time): the log says why.
    needed = least_limit_s(searching.remaining_s(), started, writing, problem)
    plan = solve(problem, SolveOptions(time_limit_s=searching.at_least(1.0)), progress=progress,
                 deadline=searching)
    if "travel_warning" in plan.search:
        log.event("warning", message=str(plan.search["travel_warning"]))
        _say(f"{head}: warning: {plan.search['travel_warning']}")
    if plan.origin is Origin.FALLBACK and needed is not None:
        log.event("fallback", reason="the time limit left the search no time to start",
                  planned=len(plan.planned), time_limit_s=time_limit_s, least_s=needed)
        _say(f"{head}: warning: --time-limit {time_limit_s:g} s left the search no time to "
             f"start on {len(problem.journeys)} journeys; the simple one-journey-at-a-time "
             f"plan is written; give at least {needed} s")
    elif plan.origin is Origin.FALLBACK:  # the search found nothing
        log.event("fallback", reason="the search found no plan in time",
                  planned=len(plan.planned))
        _say(f"{head}: warning: the search found no plan in time; the simple "
             "one-journey-at-a-time plan is written")
    folder = outbox / day
    try:
        write_plan(plan, folder, inputs, with_maps=True,
                   keep_previous=outbox / f"{day}.previous")
    except OSError as exc:  # disk full, read-only, refused: the old plan is still in place
        raise OutputError(f"cannot write the plan: {_why(exc)}") from exc
    log.wrote = folder
    figures = summary(plan)
    servable = plan.search.get("servable")
    planned = len(plan.planned)
    share = planned_share(plan)
    alert_share = problem.config.alerts.min_planned_share
    low = below_alert(plan)
    code = ExitCode.LOW_SERVICE if low else ExitCode.OK
    if low:
        log.event("alert", reason="low service", planned=planned, servable=servable,
                  share=round(share, 4), min_planned_share=alert_share)
    log.event("result", outcome="planned", plan=str(folder), served=figures["served"],
              servable=servable, unassigned=figures["unassigned"],
              by_reason=figures["unassigned_by_reason"],
              seconds=round(time.monotonic() - started, 1), exit_code=int(code))
    what = (f"planned {planned} of {servable} servable journeys ({len(problem.journeys)} "
            f"booked; {len(plan.unassigned)} unassigned, each with its reason)")
    if low:
        _say(f"{head}: ALERT: low service: {what}: {share:.0%} is below the alert share "
             f"{alert_share:.0%}; the plan is written -> {folder} [exit {code}]")
    else:
        _say(f"{head}: {what} -> {folder} [exit {code}]")
    return code
