"""The `pts` command: validate, generate, solve, check, demo, views, replan and nightly."""

from __future__ import annotations

import time

IMPORTED = time.monotonic()  # a fresh `pts` process: --time-limit counts imports too

import errno  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import traceback  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import replace  # noqa: E402
from functools import wraps  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar  # noqa: E402

import click  # noqa: E402

from pts_optimiser.domain.config import Config, load_config  # noqa: E402
from pts_optimiser.domain.diagnostics import Finding, InputError, Severity  # noqa: E402
from pts_optimiser.domain.exits import (  # noqa: E402
    ExitCode,
    PtsError,
    Terminated,
    UsageError,
    ask_stop,
    clear_stop,
    in_search,
    raised_at,
)
from pts_optimiser.domain.plan import Plan  # noqa: E402
from pts_optimiser.domain.problem import Problem  # noqa: E402
from pts_optimiser.io.parse import Inputs, read_problem  # noqa: E402

if TYPE_CHECKING:
    from pts_optimiser.domain.deadline import Deadline
    from pts_optimiser.services.darp import InstanceResult

F = TypeVar("F", bound=Callable[..., Any])


class _Seconds(click.FloatRange):
    """A time limit in seconds: a number in the range, and not `nan`.

    click's range lets `nan` through (every comparison with it is false), and a week given
    `--time-limit nan` was planned without a search and ended 0.
    """

    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        seconds = super().convert(value, param, ctx)
        if math.isnan(seconds):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        return seconds


def _report(findings: list[Finding]) -> None:
    for finding in findings:
        click.echo(str(finding), err=True)
    errors = sum(f.severity is Severity.ERROR for f in findings)
    warnings = len(findings) - errors
    if findings:
        click.echo(f"{errors} error(s), {warnings} warning(s)", err=True)


# Errors only writing can meet: the disk or quota is full, the file system is read-only,
# the reader of a pipe has gone.
_WRITE_ONLY_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG, errno.EPIPE}
_OUTPUT_OPTIONS = ("out", "maps_dir", "outbox", "solutions_dir")


def _was_writing(exc: OSError, options: dict[str, Any]) -> bool:
    """Whether an OS error met an output (exit 6) rather than an input (exit 2)."""
    if exc.errno in _WRITE_ONLY_ERRORS:
        return True
    if exc.filename:
        path = Path(os.fsdecode(exc.filename)).absolute()
        for name in _OUTPUT_OPTIONS:
            root = options.get(name)
            if isinstance(root, Path) and path.is_relative_to(root.absolute()):
                return True
    frames = traceback.extract_tb(exc.__traceback__)
    return any(Path(f.filename).name == "writers.py" or f.name.startswith("write")
               for f in frames)


def _os_error_line(exc: OSError, writing: bool) -> str:
    """One line for an OS error: what could not be done, to which path, and why."""
    name = errno.errorcode.get(exc.errno or 0, "")
    path = os.fsdecode(exc.filename) if exc.filename else ("the output" if writing
                                                            else "an input")
    why = f"{exc.strerror or type(exc).__name__}" + (f" ({name})" if name else "")
    if writing:
        return (f"error: cannot write {path}: {why}. Nothing half-written is left; free space "
                "or choose a writable folder, then run again.")
    hint = "it is a folder: give the file" if exc.errno == errno.EISDIR else \
        "check the path and its permissions"
    return f"error: cannot read {path}: {why}; {hint}."


@contextmanager
def _sigterm_stops() -> Iterator[None]:
    """While a command runs, SIGTERM stops it as Ctrl-C does (`Terminated`).

    While OR-Tools searches in this process, which would lose the exception, the stop is
    only noted (`exits.ask_stop`): the search ends at its next check and raises it. Only
    in the main thread, where Python runs signal handlers; a server that installs its own
    (uvicorn, for `pts serve`) replaces these while it runs. Once the
    command has ended, a `pts` process ignores both: its outcome is decided and said, and
    a signal in its last moments of teardown made a plan written and said exit 143 with no
    word (until the thirty-fifth stop). In a process that goes on (a test), the handlers
    before are put back.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, _frame: object) -> None:
        stopped = Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
        ask_stop(stopped)
        if not in_search():  # else the search ends at its next check, and raises it
            raise stopped

    before = {number: signal.signal(number, stop) for number in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for number, handler in before.items():
            signal.signal(number, signal.SIG_IGN if _AS_PROCESS[0] else handler)
        clear_stop()


def _guarded(command: F) -> F:
    """Errors become a line or a few on stderr and their ExitCode; never a traceback.

    Input errors: a located report, exit 2. PtsError: its message and code. An OS error
    on an output (disk full, read-only, refused): exit 6; on an input: exit 2. Anything
    else is ours: one line, exit 1 (PTS_DEBUG=1 shows the traceback).
    """
    @wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            with _sigterm_stops():
                return command(*args, **kwargs)
        except InputError as exc:
            _report(exc.findings)
            sys.exit(ExitCode.BAD_INPUT)
        except PtsError as exc:
            click.echo(f"error: {exc.message}", err=True)
            for line in exc.lines:
                click.echo(f"  {line}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt as exc:
            # Not a fault of ours (exit 1 told a script or cron it was, until 2026-12-07).
            by = "SIGTERM" if isinstance(exc, Terminated) else "Ctrl-C"
            click.echo(f"stopped ({by}) before it finished: no plan folder is left half "
                       "written, and what was there before is kept", err=True)
            sys.exit(ExitCode.TERMINATED if isinstance(exc, Terminated) else ExitCode.STOPPED)
        except (SystemExit, click.exceptions.Exit, click.ClickException):
            raise  # a usage error click words itself (exit 2), raised in the command too
        except OSError as exc:
            if exc.errno is None:  # not a file's error: ours
                if os.environ.get("PTS_DEBUG"):
                    raise
                _internal(exc)
            writing = _was_writing(exc, kwargs)
            click.echo(_os_error_line(exc, writing), err=True)
            sys.exit(ExitCode.CANNOT_WRITE if writing else ExitCode.BAD_INPUT)
        except Exception as exc:
            if os.environ.get("PTS_DEBUG"):
                raise
            _internal(exc)
    return run  # type: ignore[return-value]


def _internal(exc: Exception) -> NoReturn:
    """One line on stderr naming the failure's kind and where in the code, not its text.

    The text of an unexpected error can quote a cell of the day's files (a patient's name
    among them) and stderr goes to the nightly's log; until the thirty-seventh stop it was
    printed. PTS_DEBUG=1 shows it, with the traceback.
    """
    click.echo(f"internal error: {type(exc).__name__} at {raised_at(exc)}. No half-written "
               "plan is left. Run again with PTS_DEBUG=1 to see its message, and report it.",
               err=True)
    sys.exit(ExitCode.INTERNAL)


def _load(inputs: Inputs, service_date: str | None = None
          ) -> tuple[Problem, list[Finding], Config]:
    config = load_config(inputs.config)
    problem, warnings = read_problem(inputs, config, service_date)
    return problem, warnings, config


_path = click.Path(path_type=Path, dir_okay=False)
_out = click.Path(path_type=Path, file_okay=False)


def _iso_date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """--date as YYYY-MM-DD only: it names a folder and is matched against the bookings."""
    if value is None:
        return None
    from datetime import date

    try:
        if len(value) == 10 and date.fromisoformat(value).isoformat() == value:
            return value
    except ValueError:
        pass
    raise click.BadParameter(f"{value!r} is not a date as YYYY-MM-DD, e.g. 2026-12-01",
                             param_hint="--date")


def _day_options_of(required: bool, default: str = "") -> Callable[[F], F]:
    """The day's input options: --bookings, --fleet, --sites, --config and --date.

    Not `required`, the first two may be left out; `default` says what stands in for them.
    """
    def decorate(command: F) -> F:
        for option in reversed((
            click.option("--bookings", type=_path, required=required,
                         help="bookings.csv of the day" + default),
            click.option("--fleet", type=_path, required=required,
                         help="fleet.csv: one row per shift"),
            click.option("--sites", type=_path, default=None,
                         help="sites.csv (default: the shipped Derbyshire sites)"),
            click.option("--config", "config_path", type=_path, default=None,
                         help="policy TOML overriding configs/default.toml"),
            click.option("--date", "service_date", default=None, callback=_iso_date,
                         help="service day (YYYY-MM-DD) when the bookings hold several"),
        )):
            command = option(command)
        return command
    return decorate


_day_options = _day_options_of(required=True)


@click.group()
@click.version_option(package_name="pts-optimiser")
def main() -> None:
    """Plan Non-Emergency Patient Transport: journeys in, crew rosters out."""


@main.command()
@_day_options
@_guarded
def validate(bookings: Path, fleet: Path, sites: Path | None, config_path: Path | None,
             service_date: str | None) -> None:
    """Check a day's bookings, fleet, sites and config; list every problem found.

    Exit 0 when the files can be planned (warnings are listed), 2 when they cannot.
    """
    problem, warnings, _ = _load(Inputs(bookings, fleet, sites, config_path), service_date)
    _report(warnings)
    day = f" on {problem.service_date}" if problem.service_date else ""
    click.echo(f"ok: {len(problem.journeys)} journeys{day}, {len(problem.vehicles)} vehicle "
               f"shifts, {len(problem.sites)} sites")


@main.command()
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--journeys", type=click.IntRange(2, 5000), default=750, show_default=True)
@click.option("--vehicles", type=click.IntRange(1, 500), default=87, show_default=True)
@click.option("--date", "service_date", default=None, callback=_iso_date,
              help="YYYY-MM-DD (default 2026-12-01)")
@click.option("--days", type=click.IntRange(1, 28), default=1, show_default=True,
              help="days from --date in one bookings file, with a fixed dialysis cohort on "
                   "Mon/Wed/Fri or Tue/Thu/Sat (for pts week); the fleet runs every day")
@click.option("--out", type=_out, required=True, help="folder to write the day into")
@_guarded
def generate(seed: int, journeys: int, vehicles: int, service_date: str | None, days: int,
             out: Path) -> None:
    """Write a realistic synthetic Derbyshire weekday (or --days): bookings, fleet, sites."""
    from pts_optimiser.io.generate import check_out, mark_generated, write_day, write_week

    check_out(out)
    mark_generated(out)
    if days == 1:
        write_day(out, seed, journeys, vehicles, service_date)
        click.echo(f"wrote {journeys} journeys and {vehicles} vehicle shifts to {out}")
        return
    dates = write_week(out, seed, journeys, vehicles, service_date or "2026-11-30", days)
    click.echo(f"wrote {days} days ({dates[0]} to {dates[-1]}) of {journeys} journeys and "
               f"{vehicles} vehicle shifts to {out}")


class _CheckCommand(click.Command):
    """`pts check`: its help lists the checker's own rules, read only when help is asked for.

    Building it at import would load the checker in every command, planning included.
    """

    def format_help_text(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        from pts_optimiser.check.checker import rules_help

        self.help = ("Check a plan folder (rosters.csv, unassigned.csv) against every hard "
                     "rule.\n\nExit 0 only when no rule is broken. Rules:\n\n\b\n"
                     + rules_help())
        super().format_help_text(ctx, formatter)


@main.command(cls=_CheckCommand, short_help="Check a plan folder against every hard rule.")
@_day_options_of(required=False, default=" (default: the plan folder's own copy, with its "
                 "fleet, sites, policy and day)")
@click.option("--out", "plan_dir", type=_out, required=True, help="the plan folder to check")
@_guarded
def check(bookings: Path | None, fleet: Path | None, sites: Path | None,
          config_path: Path | None, service_date: str | None, plan_dir: Path) -> None:
    """Check a plan folder; the help text is built from the checker's own rule list."""
    from pts_optimiser.check.checker import check_plan

    if (bookings is None) != (fleet is None):
        raise click.UsageError("give --bookings and --fleet together, or neither to check "
                               "the plan against the files it was planned from")
    if bookings is None or fleet is None:
        # The folder's byte copies of what it was planned from, and its day: a week's day
        # folder holds the whole week's bookings.
        from pts_optimiser.io.planfolder import plan_service_date

        if sites is not None or config_path is not None:
            raise click.UsageError("--sites and --config go with --bookings and --fleet; "
                                   "without them the plan folder's own copies are used")
        inputs = _plan_inputs(plan_dir)
        service_date = service_date or plan_service_date(plan_dir)
    else:
        inputs = Inputs(bookings, fleet, sites, config_path)
        # A week's bookings against one of its days: that day (until 2026-12-07 an error
        # telling the user to "plan one at a time").
        service_date = service_date or _folder_day(plan_dir)
    problem, _, _ = _load(inputs, service_date)
    result = check_plan(problem, plan_dir)
    for violation in result.violations:
        click.echo(str(violation))
    click.echo(result.summary())
    sys.exit(ExitCode.OK if result.ok else ExitCode.VIOLATIONS)


def _folder_day(plan_dir: Path) -> str | None:
    """The day the plan folder's summary names, or None for a folder with no summary."""
    from pts_optimiser.io.planfolder import plan_service_date

    try:
        return plan_service_date(plan_dir)
    except InputError:
        return None


def _progress_printer() -> Any:
    """A one-line progress display on a terminal; nothing when output is piped or logged."""
    if not sys.stderr.isatty():
        return None

    def show(planned: int, objective: int, elapsed_s: float) -> None:
        click.echo(f"\r{elapsed_s:6.1f}s  {planned} journeys planned  cost {objective:,}",
                   err=True, nl=False)
    return show


_AS_PROCESS = [False]  # set by run(): this process is the `pts` command itself


def run() -> None:
    """The `pts` program: a process of its own, whose --time-limit counts its imports too."""
    _AS_PROCESS[0] = True
    main()


def _started() -> float:
    """When this command began.

    The import, in a process of its own; else now: a test or a server invoking the command
    in its own long-lived process.
    """
    return IMPORTED if _AS_PROCESS[0] else time.monotonic()


def _maps_dir(plan_dir: Path, maps_dir: Path | None) -> Path:
    """Where the maps are drawn: the plan folder's own maps/, unless --maps says."""
    from pts_optimiser.io.planfolder import MAPS

    return maps_dir or plan_dir / MAPS


def _solve_and_write(problem: Problem, inputs: Inputs, out: Path, time_limit: float,
                     started: float, strategy: str = "portfolio", seed: int = 0,
                     maps_dir: Path | None = None, privacy: bool = False) -> Any:
    """Plan and write the plan folder (maps inside it); its figures."""
    return _solve_write_checked(problem, inputs, out, time_limit, started, strategy, seed,
                                maps_dir, privacy)[0]


def _solve_write_checked(problem: Problem, inputs: Inputs, out: Path, time_limit: float,
                         started: float, strategy: str = "portfolio", seed: int = 0,
                         maps_dir: Path | None = None, privacy: bool = False
                         ) -> tuple[dict[str, Any], Any]:
    """Plan and write the plan folder (maps inside it); its figures and its check."""
    from pts_optimiser.engine.solve import SolveOptions, solve
    from pts_optimiser.io.planfolder import check_target, previous_of
    from pts_optimiser.services.publish import write_plan
    from pts_optimiser.views.writers import copy_maps, summary, writing_time_s

    if privacy and not problem.config.maps.privacy:
        # Recorded as the policy in effect (inputs/config.toml), so the plan's re-plans and
        # redrawn maps blur homes too (until 2026-12-07 they drew them exactly).
        config = problem.config
        problem = replace(problem, config=replace(config, maps=replace(config.maps,
                                                                       privacy=True)))
    # Refused before planning, not after a minute of it.
    check_target(out, keep_previous=previous_of(out))
    if maps_dir is not None:
        check_target(maps_dir, "maps")
    # Reading took some of the budget; writing (plan, views, maps) needs some of what is left.
    searching = _searching(time_limit, started, writing_time_s(len(problem.journeys)),
                           problem, "plan")
    options = SolveOptions(time_limit_s=searching.at_least(1.0), strategy=strategy, seed=seed)
    plan = solve(problem, options, progress=_progress_printer(), deadline=searching)
    if sys.stderr.isatty():
        click.echo("", err=True)
    checked = write_plan(plan, out, inputs, privacy=problem.config.maps.privacy)
    if maps_dir is not None:
        copy_maps(out, maps_dir, problem.config.group_readable)
    return summary(plan), checked


def _searching(time_limit: float, started: float, writing_s: float, problem: Problem,
               doing: str, journeys: int | None = None) -> Deadline:
    """When the search must end; UsageError if that leaves it no time to start.

    Without a search the day is built one journey at a time, far short of a searched plan
    (docs/nightly.md), and a re-plan so built takes crews off the journeys they had.
    """
    from pts_optimiser.domain.deadline import Deadline
    from pts_optimiser.engine.strategies import least_limit_s, least_start_s

    journeys = len(problem.journeys) if journeys is None else journeys
    searching = Deadline.within(time_limit, started).less(writing_s)
    needed = least_limit_s(searching.remaining_s(), started, writing_s, problem, journeys)
    if needed is not None:
        least = least_start_s(journeys, len(problem.vehicles))
        raise UsageError(
            f"--time-limit {time_limit:g} s is too short to {doing} {journeys} journeys: give "
            f"at least {needed} s (the search needs {least:.0f} s to start, and "
            f"writing the plan {writing_s:.0f} s); nothing was written")
    return searching


_map_options = (
    click.option("--maps", "maps_dir", type=_out, default=None,
                 help="also copy the route maps to DIR (they are always in the plan folder's "
                      "maps/); with pts map, draw them in DIR instead"),
    click.option("--privacy", is_flag=True, help="blur homes to about 1 km on the maps"),
)


def _with_map_options(command: F) -> F:
    for option in reversed(_map_options):
        command = option(command)
    return command


def _print_summary(figures: Any, out: Path) -> None:
    people = figures.get("patients")
    if people:
        click.echo(f"patients: {people['fully_served']} of {people['servable_alone']} fully "
                   f"served; {people['left_somewhere']} left somewhere")
        for item in people["needing_another_way_back"]:
            click.echo(f"  needs another way back: patient {item['patient_id']} (taken by "
                       f"{item['outward_id']}; {item['return_id']} not planned)")
    click.echo(f"planned {figures['served']} of {figures['journeys']} journeys "
               f"({figures['servable']} servable) on {figures['vehicles_used']} vehicle shifts; "
               f"{figures['km_total']} km, {figures['co2_kg_total']} kg CO2e; "
               f"{figures['unassigned']} unassigned -> {out}")
    for reason, count in figures["unassigned_by_reason"].items():
        click.echo(f"  unassigned, {reason}: {count}")
    click.echo(f"run sheets: {out / 'runsheets' / 'all.html'}; report: {out / 'report.html'}; "
               f"maps: {_maps_dir(out, None) / 'overview.html'}")
    warning = (figures.get("search") or {}).get("travel_warning")
    if warning:
        click.echo(f"warning: {warning}", err=True)


@main.command()
@_day_options
@click.option("--out", type=_out, required=True, help="plan folder to write")
@click.option("--time-limit", type=_Seconds(5, 86400), default=120.0, show_default=True,
              help="seconds for the whole command, reading and writing included")
@click.option("--strategy", type=click.Choice(["portfolio", "split", "single", "one-core"]),
              default="portfolio", show_default=True,
              help="portfolio: two different searches of the whole day, one a core, each "
                   "OR-Tools then ruin and recreate, the better plan kept; split: the whole "
                   "day, then its two geographic halves on two cores (served more on a "
                   "750-journey day below about 45 s); single: one OR-Tools search on one "
                   "core; one-core: the portfolio's usual search alone on one core, OR-Tools "
                   "then ruin and recreate")
@click.option("--seed", type=int, default=0, show_default=True,
              help="another search: the order journeys are offered to OR-Tools, and ruin and "
                   "recreate's random choices")
@_with_map_options
@_guarded
def solve(bookings: Path, fleet: Path, sites: Path | None, config_path: Path | None,
          service_date: str | None, out: Path, time_limit: float, strategy: str,
          seed: int, maps_dir: Path | None, privacy: bool) -> None:
    """Plan the day: rosters.csv, unassigned.csv and summary.json in --out.

    Exit 5 (and a line on stderr) when the plan, written all the same, plans less than the
    policy's [alerts] min_planned_share of the servable journeys.
    """
    started = _started()
    # Read once: the plan folder records the files as they were planned, not as they are
    # when it is written.
    inputs = Inputs(bookings, fleet, sites, config_path).hold()
    problem, warnings, config = _load(inputs, service_date)
    _report(warnings)
    figures = _solve_and_write(problem, inputs, out, time_limit, started, strategy, seed,
                               maps_dir, privacy)
    _print_summary(figures, out)
    sys.exit(_alert_if_low(figures, config))


@main.command()
@click.option("--bookings", type=_path, required=True,
              help="bookings.csv of several days (service_date on every row)")
@click.option("--fleet", type=_path, required=True,
              help="fleet.csv: undated shifts run every day, dated ones that day only")
@click.option("--sites", type=_path, default=None,
              help="sites.csv (default: the shipped Derbyshire sites)")
@click.option("--config", "config_path", type=_path, default=None,
              help="policy TOML overriding configs/default.toml ([continuity])")
@click.option("--out", type=_out, required=True,
              help="folder for OUT/<YYYY-MM-DD>/ plan folders, week.html and week.json")
@click.option("--time-limit", type=_Seconds(10, 604800), default=600.0,
              show_default=True, help="seconds for the whole command, every day included")
@click.option("--previous", "previous_dir", type=click.Path(path_type=Path, file_okay=False,
                                                            exists=True), default=None,
              help="last week's --out: regulars keep their crews and times")
@click.option("--compare", is_flag=True,
              help="also plan each day alone (OUT/alone/) and report what continuity cost")
@click.option("--workers", type=click.IntRange(1, 512), default=None,
              help="days planned at once, one core and one search each (default: 1, each "
                   "day on two cores with the portfolio; docs/week.md)")
@click.option("--scheduler", default=None,
              help="plan the days on a Dask cluster (the sweep's), e.g. tcp://10.0.0.5:8786: "
                   "as many at once as it has worker threads, one search each")
@_guarded
def week(bookings: Path, fleet: Path, sites: Path | None, config_path: Path | None, out: Path,
         time_limit: float, previous_dir: Path | None, compare: bool,
         workers: int | None, scheduler: str | None) -> None:
    """Plan several days with continuity of care: regulars keep their crew and their time.

    Each day is written as pts solve writes it (checked by the independent checker) to
    OUT/<YYYY-MM-DD>/; the week report to OUT/week.html and OUT/week.json (docs/week.md).
    Exit 5 when a day plans less than [alerts] min_planned_share of its servable journeys.
    """
    from pts_optimiser.engine.solve import below_alert
    from pts_optimiser.services.week import WEEK_HTML, run_week

    started = _started()
    if scheduler is not None and workers is not None:
        raise click.UsageError("--workers plans days in local processes; with --scheduler the "
                               "cluster's own workers plan them")
    if scheduler is not None:
        from pts_optimiser.services.sweep.cluster import check_address

        check_address(scheduler)
    config = load_config(config_path)
    outcome = run_week(Inputs(bookings, fleet, sites, config_path).hold(), config, out, time_limit,
                       started, previous_dir, compare, workers, scheduler)
    _report(outcome.warnings)
    figures: dict[str, Any] = outcome.figures
    for day, facts in figures["days"].items():
        click.echo(f"{day}: patients {facts['patients_fully_served']} of "
                   f"{facts['patients_servable']} fully served, {facts['left_somewhere']} left "
                   f"somewhere; planned {facts['served']} of {facts['journeys']} journeys on "
                   f"{facts['vehicles_used']} vehicle shifts; {facts['km']} km; "
                   f"{facts['violations']} violation(s) -> {out / day}")
    total = figures["total"]
    kept = figures["continuity"]
    click.echo(f"week: patients' days {total['patients_fully_served']:.0f} of "
               f"{total['patients_servable']:.0f} fully served; regulars with every journey "
               f"planned {kept['served_whole']} of {kept['regulars']}")
    for standard in total["standards"].values():
        if standard["pct"] is not None:
            click.echo(f"  {standard['title']}: {standard['pct']}% of {standard['journeys']} "
                       f"(target {standard['target_pct']}%)")
    if not kept["regulars"]:
        click.echo(f"regulars: none (no patient travels on "
                   f"{config.continuity.regular_min_days} days or more of these)")
    elif kept["mean_distinct_vehicles"] is None:
        click.echo(f"regulars: {kept['regulars']}, none of them planned")
    else:
        spread = kept["median_pickup_spread_min"]
        click.echo(f"regulars: {kept['regulars']}; mean distinct vehicles "
                   f"{kept['mean_distinct_vehicles']}; at most two {kept['share_at_most_two']}; "
                   "median pickup spread "
                   + ("- (no leg planned on two days)" if spread is None else f"{spread} min"))
    against = figures.get("against_alone")
    if against:
        alone = figures["alone"]["continuity"]
        met = ("" if alone["mean_distinct_vehicles"] is None else
               f"mean distinct vehicles {alone['mean_distinct_vehicles']}; ")
        met += ("" if alone["median_pickup_spread_min"] is None else
                f"median pickup spread {alone['median_pickup_spread_min']} min; ")
        served, km = against["served_share"], against["km_share"]
        click.echo(f"each day alone: {met}the week serves "
                   + ("-" if served is None else f"{served:.2%}") + " of its journeys and drives "
                   + ("-" if km is None else f"{km:.2%}") + " of its km")
    click.echo(f"week report: {out / WEEK_HTML}")
    low = [d for d, plan in outcome.plans.items() if below_alert(plan, config)]
    if low:
        click.echo(f"alert: {', '.join(low)} plan(s) less than the policy's "
                   f"{config.alerts.min_planned_share:.0%} of the servable journeys", err=True)
        sys.exit(ExitCode.LOW_SERVICE)


def _alert_if_low(figures: Any, config: Config) -> ExitCode:
    """LOW_SERVICE, with a line on stderr, when a written plan plans below the alert share."""
    from pts_optimiser.engine.solve import below_alert, planned_share

    if not below_alert(figures, config):
        return ExitCode.OK
    click.echo(f"alert: the plan carries {planned_share(figures):.1%} of the "
               f"{figures['servable']} servable journeys, below the policy's "
               f"{config.alerts.min_planned_share:.0%} ([alerts] min_planned_share); it "
               f"is written, and unassigned.csv says why each journey is left out", err=True)
    return ExitCode.LOW_SERVICE


@main.command()
@click.option("--out", type=_out, default=Path("out/demo"), show_default=True)
@click.option("--time-limit", type=_Seconds(5, 86400), default=60.0, show_default=True)
@_with_map_options
@_guarded
def demo(out: Path, time_limit: float, maps_dir: Path | None, privacy: bool) -> None:
    """Plan the shipped Derbyshire demo weekday, check the plan, and print its figures."""
    from pts_optimiser.domain.resources import data_dir

    started = _started()
    day = data_dir() / "demo"
    inputs = Inputs(day / "bookings.csv", day / "fleet.csv")
    problem, _, config = _load(inputs)
    click.echo(f"demo day {problem.service_date}: {len(problem.journeys)} journeys, "
               f"{len(problem.vehicles)} vehicle shifts; planning for up to {time_limit:.0f} s")
    figures, result = _solve_write_checked(problem, inputs, out, time_limit, started,
                                           maps_dir=maps_dir, privacy=privacy)
    _print_summary(figures, out)
    # write_plan checked the plan before putting it in place: its result, not a second check.
    click.echo("pts check: " + result.summary().replace("\n", "\n  "))
    sys.exit(_alert_if_low(figures, config) if result.ok else ExitCode.VIOLATIONS)


def _plan_inputs(plan_dir: Path) -> Inputs:
    """The files a plan folder was made from: its copies in inputs/, or older paths."""
    from pts_optimiser.io.planfolder import plan_inputs

    return plan_inputs(plan_dir)


def _read_plan_folder(plan_dir: Path) -> Plan:
    from pts_optimiser.io.planfolder import plan_service_date

    inputs = _plan_inputs(plan_dir)
    problem, _, _ = _load(inputs, plan_service_date(plan_dir))
    from pts_optimiser.services.publish import read_checked_plan

    return read_checked_plan(problem, plan_dir, "rebuilt")[0]


def _rebuild(plan_dir: Path, views: tuple[str, ...]) -> None:
    from pts_optimiser.views.writers import rebuild_views

    rebuild_views(_read_plan_folder(plan_dir), plan_dir, views)


_plan_dir = click.option("--plan", "plan_dir", type=click.Path(path_type=Path, file_okay=False,
                                                                exists=True),
                         required=True, help="a plan folder written by pts solve")


@main.command()
@_plan_dir
@_guarded
def runsheets(plan_dir: Path) -> None:
    """Rebuild the crew run sheets (runsheets/*.html) and the workbook (plan.xlsx)."""
    _rebuild(plan_dir, ("runsheets",))
    click.echo(f"run sheets and workbook written to {plan_dir}")


@main.command()
@_plan_dir
@_guarded
def report(plan_dir: Path) -> None:
    """Rebuild the KPI report (report.html) of a plan folder."""
    _rebuild(plan_dir, ("report",))
    click.echo(f"report written to {plan_dir / 'report.html'}")


@main.command(name="map")
@_plan_dir
@_with_map_options
@_guarded
def map_command(plan_dir: Path, maps_dir: Path | None, privacy: bool) -> None:
    """Draw the route maps of a plan folder again: an overview and one map per vehicle shift.

    They go to the plan folder's maps/ (replacing those there), or to --maps DIR.
    """
    from pts_optimiser.views.writers import write_maps

    plan = _read_plan_folder(plan_dir)
    folder = _maps_dir(plan_dir, maps_dir)
    policy = plan.problem.config.maps
    write_maps(plan, folder, privacy or policy.privacy, policy.tiles, policy.tiles_credit)
    click.echo(f"maps written to {folder}; open {folder / 'overview.html'}")


_NIGHTLY_HELP = (
    "The unattended night run: plan one day from an inbox into an outbox.\n\n"
    "Every outcome is one line on stderr and a `result` event in OUTBOX/nightly.log.\n\n"
    "\b\nExit codes:\n"
    "  0 planned: every journey planned or listed in unassigned.csv with its reason\n"
    "  5 planned, but below the alert share of the servable journeys: an alert\n"
    "  2 bad input, or no bookings for the date: the last good plan is kept\n"
    "  3 the plan failed its check and was not put in place\n"
    "  4 another nightly run holds the lock: nothing done\n"
    "  6 the outbox cannot be written (full, read-only): the last good plan is kept\n"
    "  1 internal error: the traceback is on stderr\n"
    "  130 stopped by Ctrl-C, 143 by SIGTERM (a systemd stop or its timeout): the last "
    "good plan is kept, or the plan was put in place if it already was")


@main.command(help=_NIGHTLY_HELP)
@click.option("--inbox", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="folder with bookings.csv and fleet.csv (sites.csv, config.toml optional)")
@click.option("--outbox", type=_out, required=True,
              help="plans are written to OUTBOX/<date>/; the log is OUTBOX/nightly.log")
# A bad --date is the night's own outcome line, [exit 2] (run_nightly), not click's usage.
@click.option("--date", "service_date", default=None, help="YYYY-MM-DD (default: tomorrow)")
# So is a --time-limit out of its range, or not a number.
@click.option("--time-limit", default="600", show_default=True,
              help="seconds for the whole run, reading and writing included (5 to 86400)")
@_guarded
def nightly(inbox: Path, outbox: Path, service_date: str | None, time_limit: str) -> None:
    """The unattended night run; the help text, with the exit codes, is _NIGHTLY_HELP."""
    from pts_optimiser.services.nightly import run_nightly, tomorrow

    started = _started()
    try:
        seconds = float(time_limit)
    except ValueError:
        seconds = math.nan
    # An empty --date is a mistake, not tomorrow (until the thirty-fifth stop it planned
    # tomorrow without a word).
    day = tomorrow() if service_date is None else service_date
    sys.exit(run_nightly(inbox, outbox, day, seconds, started))


def _clock_option(_ctx: click.Context, param: click.Parameter, value: str) -> str:
    """A clock option as HH:MM (24-hour), refused as a usage error before anything runs."""
    from pts_optimiser.domain.clock import parse_clock

    if parse_clock(value) is None:
        raise click.BadParameter(f"{value!r} is not a time as HH:MM (24-hour), e.g. 11:00",
                                 param=param)
    return value


def _ids(text: str | None) -> list[str]:
    return list(dict.fromkeys(part.strip() for part in (text or "").split(",") if part.strip()))


@main.command()
@_plan_dir
@click.option("--now", "now", required=True, callback=_clock_option,
              help="HH:MM: what happened before stays")
@click.option("--add", type=_path, default=None, help="late bookings, same columns as bookings")
@click.option("--cancel", default=None, help="journey ids to cancel, comma-separated")
@click.option("--vehicle-off", default=None, help="vehicle shift ids taken off the road")
@click.option("--out", type=_out, required=True, help="folder for the new plan")
@click.option("--time-limit", type=_Seconds(5, 86400), default=60.0, show_default=True)
@_guarded
def replan(plan_dir: Path, now: str, add: Path | None, cancel: str | None,
           vehicle_off: str | None, out: Path, time_limit: float) -> None:
    """Re-plan the rest of the day: stops made or under way stay, patients aboard stay on.

    Writes the new plan, the merged bookings.csv and changes.csv (which crews' runs
    changed, and how) to --out; names the crews to phone and every journey that lost its
    transport. A vehicle taken off the road takes the patients aboard where
    [replan] off_road_drop says; if no plan within the rules can, nothing is written (exit 3).
    """
    from pts_optimiser.domain.clock import parse_clock
    from pts_optimiser.engine.solve import SolveOptions
    from pts_optimiser.io.planfolder import plan_service_date
    from pts_optimiser.io.tables import read_table
    from pts_optimiser.services.publish import read_checked_plan, write_plan
    from pts_optimiser.services.replan import CHANGE_COLUMNS, merged_bookings, onward_unplanned
    from pts_optimiser.services.replan import replan as replan_day
    from pts_optimiser.views.writers import writing_time_s

    started = _started()
    now_min = parse_clock(now)
    assert now_min is not None  # _clock_option refused anything else as a usage error
    inputs = _plan_inputs(plan_dir)
    config = load_config(inputs.config)
    day = plan_service_date(plan_dir)  # the bookings may hold several days
    old_problem, _ = read_problem(inputs, config, day)
    old, broken_runs = read_checked_plan(old_problem, plan_dir, "re-planned")
    # The late bookings read once: what is checked is what is merged.
    late = Inputs(add, inputs.fleet, inputs.sites).hold() if add is not None else None
    if late is not None:  # located errors name the late-bookings file itself; a late
        # return may name a journey the day already has
        _, late_warnings = read_problem(late, config, day, booked=old_problem.journeys)
        _report(late_warnings)
    merged = merged_bookings(read_table(inputs.bookings),
                             late.table("bookings") if late is not None else None)
    # The day's journeys, not the file's rows: a week's day holds the whole week's bookings.
    journeys = len(old_problem.journeys) + (len(late.table("bookings").rows) if late else 0)
    # One second more than a solve: the merged bookings are written with the plan.
    searching = _searching(time_limit, started, writing_time_s(journeys) + 1, old_problem,
                           "re-plan", journeys)
    result = replan_day(old, merged, now_min, _ids(cancel), _ids(vehicle_off),
                        SolveOptions(time_limit_s=searching.at_least(1.0)), searching,
                        broken_runs)
    changes = [vars(c) for c in result.changes]
    write_plan(result.plan, out, Inputs(out / "bookings.csv", inputs.fleet, inputs.sites,
                                        inputs.config), with_maps=True,
               tables={"bookings.csv": (result.bookings.columns, result.bookings.rows),
                       "changes.csv": (CHANGE_COLUMNS, changes)})
    crews = result.crews_to_phone
    planned = {j.journey_id for j in result.plan.planned}
    added = [j.journey_id for j in result.plan.problem.journeys
             if j.journey_id not in {o.journey_id for o in old.problem.journeys}]
    # Those cancelled now, returns going with their outward journeys included: not the ids
    # asked for (one already collected is kept, and the notes say so).
    cancelled = len({c.journey_id for c in result.changes if c.change == "cancelled"})
    click.echo(f"re-planned from {now}: {sum(j in planned for j in added)} of {len(added)} "
               f"new journeys (late, or onward from a site) planned, {cancelled} "
               "journey(s) cancelled; "
               f"{len(crews)} crews' runs changed: {', '.join(crews) or 'none'} -> {out}")
    click.echo(f"crews to phone: {', '.join(crews) or 'none'} (changes.csv, stop by stop)")
    if result.lost:
        homeward = sum(x.ride_home for x in result.lost)
        click.echo(f"LOST TRANSPORT: {len(result.lost)} journey(s) planned before now have no "
                   f"crew ({homeward} of them rides home); tell these patients and their "
                   "crews:")
        for x in result.lost:
            click.echo(f"  {x.journey_id} patient {x.patient_id}: was on {x.vehicle_id}"
                       f"{', ride home' if x.ride_home else ''}; {x.reason}")
        click.echo(f"warning: {len(result.lost)} patient journey(s) lost their transport in "
                   f"the re-plan: {', '.join(x.journey_id for x in result.lost)}", err=True)
    for note in result.notes:
        click.echo(f"  note: {note}")
    from pts_optimiser.domain.plan import Reason

    planned_ids = {j.journey_id for j in result.plan.planned}
    # A return the coordinator cancelled is their decision: the patient goes another way.
    cancelled_ids = {u.journey.journey_id for u in result.plan.unassigned
                     if u.reason is Reason.CANCELLED}
    # And patients a vehicle taken off the road left at a site, whose way on is unplanned.
    left_there = sorted({j.journey_id for j in result.plan.problem.journeys
                         if j.return_of in planned_ids
                         and j.journey_id not in planned_ids | cancelled_ids}
                        | set(result.left_at_sites)
                        | onward_unplanned(result.plan, cancelled_ids))
    if left_there:
        # Written, but somebody must act today: a patient taken there has no way back.
        click.echo(f"alert: {len(left_there)} patient(s) taken somewhere have no ride back "
                   f"({', '.join(left_there)}); the plan is written, and changes.csv names "
                   "them", err=True)
        sys.exit(ExitCode.LOW_SERVICE)


@main.group()
def bench() -> None:
    """Measure the routing engine on published instances."""


@bench.command(name="darp")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--time-limit", type=_Seconds(1, 86400), default=30.0, show_default=True,
              help="seconds per instance and seed")
@click.option("--seeds", type=click.IntRange(1, 100), default=1, show_default=True,
              help="solve each instance with seeds 0..N-1; report the mean and the best")
@click.option("--solutions", "solutions_dir", type=_out, default=None,
              help="write each instance's best solution to DIR/<instance>.json")
@click.option("--bks", type=_path, default=None,
              help="best known costs (instance,bks,...); default: bks.csv beside the files")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line, not a table")
@_guarded
def bench_darp(files: tuple[Path, ...], time_limit: float, seeds: int,
               solutions_dir: Path | None, bks: Path | None, as_json: bool) -> None:
    """Solve dial-a-ride instances with the product's own solver and check each solution.

    Cost is the sum of unrounded Euclidean distances; feasibility is judged by an
    independent check; the gap is to the best known cost. With several seeds, cost and gap
    are the mean over the seeds, beside the best. A feasible solution cheaper than the best
    known is always written (to --solutions, else ./darp-new-best/) and named on stderr.
    """
    from pts_optimiser.io.darp import read_instance
    from pts_optimiser.services.darp import best_known_costs, solve_instance

    config = load_config()
    best = best_known_costs(files, bks)
    # Every file read before any is solved: a bad third file said so after two had run.
    instances, findings = [], []
    for path in files:
        try:
            instances.append(read_instance(path))
        except InputError as exc:
            findings += exc.findings
    if findings:
        raise InputError(findings)
    if not as_json:
        click.echo("| instance | served | feasible | cost | best known | gap | seconds |"
                   if seeds == 1 else "| instance | served | feasible | mean cost | best cost "
                   "| best known | mean gap | best gap | seconds a run |")
        click.echo("|" + "---|" * (7 if seeds == 1 else 9))
    results = []
    for instance in instances:
        result = solve_instance(instance, config, time_limit, seeds, best.get(instance.name))
        results.append(result)
        folder = solutions_dir
        if folder is None and result.beats_best_known:
            folder = Path("darp-new-best")
        if folder is not None:
            written = _write_darp_solution(folder, result)
            if result.beats_best_known:
                click.echo(f"{instance.name}: {result.best.verdict.cost:.4f} is below the best "
                           f"known {result.best_known}; solution in {written}", err=True)
        _echo_darp_row(result, as_json)
    if not as_json and len(results) > 1:
        _echo_darp_summary(results)


def _write_darp_solution(folder: Path, result: InstanceResult) -> Path:
    import json

    from pts_optimiser.io.tables import write_text

    best = result.best
    path = folder / f"{result.instance.name}.json"
    write_text(path, json.dumps({
        "instance": result.instance.name, "seed": best.seed, "cost": round(best.verdict.cost, 4),
        "routes": [[{"node": node, "start": round(start, 3)} for node, start in route]
                   for route in best.routes]}, indent=1) + "\n")
    return path


def _echo_darp_row(result: InstanceResult, as_json: bool) -> None:
    import json

    instance, runs = result.instance, result.runs
    served = min(run.verdict.served for run in runs)
    mean_gap, best_gap = result.gap_pct(result.mean_cost), result.gap_pct(result.best.verdict.cost)
    seconds = sum(run.seconds for run in runs) / len(runs)
    if as_json:
        click.echo(json.dumps({
            "instance": instance.name, "requests": instance.requests, "served": served,
            "feasible": result.complete, "cost": round(result.mean_cost, 2),
            "best_cost": round(result.best.verdict.cost, 2), "bks": result.best_known,
            "gap_pct": _rounded(mean_gap), "best_gap_pct": _rounded(best_gap),
            "seconds": round(seconds, 1),
            "runs": [{"seed": run.seed, "cost": round(run.verdict.cost, 2),
                      "served": run.verdict.served, "feasible": run.complete,
                      "seconds": round(run.seconds, 1), "problems": list(run.verdict.problems[:5])}
                     for run in runs],
            "problems": [p for run in runs for p in run.verdict.problems][:5]}))
        return
    known = result.best_known if result.best_known is not None else "-"
    feasible = "yes" if result.complete else "NO"
    if len(runs) == 1:
        click.echo(f"| {instance.name} | {served}/{instance.requests} | {feasible} | "
                   f"{result.mean_cost:.2f} | {known} | {_pct(mean_gap)} | {seconds:.1f} |")
    else:
        click.echo(f"| {instance.name} | {served}/{instance.requests} | {feasible} | "
                   f"{result.mean_cost:.2f} | {result.best.verdict.cost:.2f} | {known} | "
                   f"{_pct(mean_gap)} | {_pct(best_gap)} | {seconds:.1f} |")


def _echo_darp_summary(results: list[InstanceResult]) -> None:
    """The set's mean gaps and how many reached the best known, as papers' tables close."""
    means = [gap for r in results if (gap := r.gap_pct(r.mean_cost)) is not None]
    bests = [gap for r in results if (gap := r.gap_pct(r.best.verdict.cost)) is not None]
    if not means:
        return
    at_best = sum(gap <= 0.005 for gap in bests)
    complete = sum(r.complete for r in results)
    click.echo(f"\nmean gap {sum(means) / len(means):+.2f}% (of the seeds' means), best "
               f"{sum(bests) / len(bests):+.2f}%; {at_best} of {len(bests)} at the best known; "
               f"{complete} of {len(results)} feasible and complete in every run")


def _rounded(gap: float | None) -> float | None:
    return round(gap, 2) if gap is not None else None


def _pct(gap: float | None) -> str:
    return f"{gap:+.2f}%" if gap is not None else "-"


class _BadAccountError(PtsError):
    """A name or password the board cannot take (exit 2: bad input)."""

    exit_code = ExitCode.BAD_INPUT


@main.group()
def users() -> None:
    """Accounts of the planning board (`pts serve`)."""


@users.command(name="add")
@click.argument("name")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path),
              required=True, help="the board's data folder")
@click.option("--role", type=click.Choice(["coordinator", "viewer"]), default="coordinator",
              show_default=True, help="coordinators change plans; viewers only read")
@_guarded
def users_add(name: str, data_dir: Path, role: str) -> None:
    """Create or update an account; the password is read from standard input."""
    from pts_optimiser.services.web.store import Accounts

    if sys.stdin.isatty():
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < 8:
        raise _BadAccountError("the password must have at least 8 characters")
    if not name or len(name) > 64 or not name.isprintable():
        raise _BadAccountError("the name must be 1 to 64 printable characters")
    Accounts(data_dir).add(name, password, role)
    click.echo(f"account {name} ({role}) saved")


@main.command()
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path),
              required=True, help="the board's data folder: accounts, days, plans, audit log")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="address to listen on; the loopback address unless a proxy needs another")
@click.option("--port", type=click.IntRange(1, 65535), default=8765, show_default=True)
@click.option("--outbox", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="the nightly outbox (pts nightly --outbox), whose plans can be opened")
@_guarded
def serve(data_dir: Path, host: str, port: int, outbox: Path | None) -> None:
    """Serve the coordinators' planning board (see docs/board.md)."""
    from pts_optimiser.services.web.app import serve_board

    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"warning: listening on {host}, not only this machine: put it behind a "
                   "reverse proxy with TLS (docs/board.md)", err=True)
    serve_board(data_dir, outbox, host, port)


_day_dir = click.Path(path_type=Path, file_okay=False, exists=True)
_input_file = click.Path(path_type=Path, dir_okay=False, exists=True)


@main.command()
@click.option("--days", "days", type=_day_dir, multiple=True, required=True,
              help="a day's folder (bookings.csv, optional sites.csv); give it once a day")
@click.option("--fleets", "fleets", type=_input_file, multiple=True, required=True,
              help="a fleet file (fleet.csv's columns); give it once a fleet variant")
@click.option("--configs", "configs", type=_input_file, multiple=True,
              help="a policy TOML; give it once a policy (default: the default policy only)")
@click.option("--seeds", "seeds", type=click.IntRange(0, 2**32 - 1), multiple=True,
              help="a search seed; give it once a seed (default: 0 only)")
@click.option("--out", type=_out, required=True,
              help="the sweep's folder: results/, sweep.csv, sweep.html (and runs/)")
@click.option("--time-limit", type=_Seconds(1, 86400), default=60.0, show_default=True,
              help="seconds of search a task (reading, writing and checking come on top)")
@click.option("--scheduler", default=None,
              help="an existing Dask scheduler, e.g. tcp://10.0.0.5:8786 (default: a local "
                   "cluster of --workers processes)")
@click.option("--workers", type=click.IntRange(1, 512), default=None,
              help="worker processes of the local cluster, one task each (default: the "
                   "machine's cores)")
@click.option("--keep-plans", is_flag=True,
              help="keep each task's checked plan folder under OUT/runs/")
@_guarded
def sweep(days: tuple[Path, ...], fleets: tuple[Path, ...], configs: tuple[Path, ...],
          seeds: tuple[int, ...], out: Path, time_limit: float, scheduler: str | None,
          workers: int | None, keep_plans: bool) -> None:
    """Solve every day x fleet x policy x seed on a Dask cluster; tabulate and chart them.

    Each task is one search on one core, its plan checked by the independent checker.
    Finished tasks are kept in OUT/results/: run the same command again to resume a sweep
    that was stopped, or to redraw it. See docs/sweeps.md.
    """
    from pts_optimiser.domain.exits import PlanRejectedError
    from pts_optimiser.services.sweep import CSV, HTML, SweepSpec, run_sweep, validate

    if scheduler is not None and workers is not None:
        raise click.UsageError("--workers starts a local cluster; with --scheduler the "
                               "cluster's own workers run the tasks")
    if scheduler is not None:
        from pts_optimiser.services.sweep.cluster import check_address

        check_address(scheduler)
    for day in days:
        if not (day / "bookings.csv").is_file():
            raise click.BadParameter(f"{day} has no bookings.csv", param_hint="--days")
    spec = SweepSpec(days, fleets, configs, seeds or (0,), time_limit)
    validate(spec, _report)
    result = run_sweep(spec, out, scheduler, workers or os.cpu_count() or 1, keep_plans)
    click.echo(f"{len(result.rows)} tasks: {result.reused} re-used, {result.run} run now, "
               f"{len(result.failed)} failed, in {result.elapsed_s:.0f} s -> {out / CSV}, "
               f"{out / HTML}")
    rejected = [r for r in result.rows if r.get("status") == "rejected"]
    if rejected:
        raise PlanRejectedError(f"{len(rejected)} task(s) made a plan that broke a rule of the "
                                "independent checker (this is a fault of ours: please report "
                                f"it); see the status column of {out / CSV}")
    if result.failed:
        raise PtsError(f"{len(result.failed)} task(s) gave no answer; see the status and "
                       f"error columns of {out / CSV}; run the same command again to retry "
                       "only those")
