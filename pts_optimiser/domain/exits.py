"""Exit codes of every `pts` command, and the errors that carry them.

One table, documented once (README, "Exit codes"): a script or a systemd unit can tell
a plan from a plan that should wake somebody, from a plan that was not written at all.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import IntEnum
from pathlib import Path


class ExitCode(IntEnum):
    """What a `pts` command's exit status means."""

    OK = 0  # done: a plan written (every journey planned or listed with its reason)
    INTERNAL = 1  # a fault of ours: the traceback is on stderr with PTS_DEBUG=1
    BAD_INPUT = 2  # bad input or usage: the problems are listed, nothing is written
    VIOLATIONS = 3  # a plan breaks a rule: `pts check` found it, or a plan was not written
    LOCKED = 4  # another nightly run holds the outbox's lock
    # A plan written, but somebody must act: it plans less than the policy's alert share,
    # or (pts replan) a patient already taken somewhere has lost their ride home.
    LOW_SERVICE = 5
    CANNOT_WRITE = 6  # the output could not be written (disk full, read-only, refused)
    STOPPED = 130  # stopped by the user (Ctrl-C, SIGINT) before it finished: 128 + SIGINT
    # Stopped by SIGTERM (`kill`, a systemd stop or its timeout) before it finished.
    TERMINATED = 143  # 128 + SIGTERM


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the command is, as Ctrl-C is.

    A KeyboardInterrupt, so whatever cleans up after Ctrl-C (a staged folder removed, a
    sweep's finished runs kept) does the same for it. Until 2026-12-07 SIGTERM killed the
    command where it stood: no line said why, and staged folders were left behind.
    """


_ASKED: list[KeyboardInterrupt] = []  # a stop asked for, and not yet acted on


def ask_stop(stop: KeyboardInterrupt) -> None:
    """Note a stop the user asked for (Ctrl-C, SIGTERM), as its signal handler raises it.

    An exception a handler raises while OR-Tools searches in this process is lost in the
    callback it lands in, and the search ran on to its end, wrote its plan and exited 0
    (a re-plan, or `--strategy single`, until the thirty-fifth stop): the search's own
    limit looks here, and its caller raises what it finds.
    """
    _ASKED[:] = [stop]


_SEARCHING = [0]  # searches running in this process, which must not be raised into


@contextmanager
def searching() -> Iterator[None]:
    """While OR-Tools searches in this process: a stop is noted, not raised into it.

    Raised inside one of its callbacks, the exception was lost and the search ran to its
    time limit; noted, the search's limit ends it at its next check.
    """
    _SEARCHING[0] += 1
    try:
        yield
    finally:
        _SEARCHING[0] -= 1


def in_search() -> bool:
    """True while a search runs in this process (`searching`)."""
    return _SEARCHING[0] > 0


def stop_asked() -> KeyboardInterrupt | None:
    """The stop asked for, if any."""
    return _ASKED[0] if _ASKED else None


def clear_stop() -> None:
    """Forget a stop acted on: a command run again in the same process starts afresh."""
    _ASKED.clear()


class PtsError(Exception):
    """An error a command reports in a line or a few, then exits with its code.

    `lines` are further lines for stderr (findings, violations), never patient data.
    """

    exit_code = ExitCode.INTERNAL

    def __init__(self, message: str, lines: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.lines = tuple(lines)


class UsageError(PtsError):
    """A command's options ask for what cannot be done: said before anything is planned.

    A time limit too short for the work it is given, for one.
    """

    exit_code = ExitCode.BAD_INPUT


class PlanRejectedError(PtsError):
    """A plan that broke a rule of the independent checker: it was not put in place."""

    exit_code = ExitCode.VIOLATIONS


class OutputError(PtsError):
    """The output folder cannot be written, or writing there would harm what is there."""

    exit_code = ExitCode.CANNOT_WRITE


def raised_at(exc: BaseException) -> str:
    """Where an exception was raised: our innermost frame, file:line in function.

    What a fault's report names instead of its message, which may quote a cell of the
    day's files (a patient's name among them).
    """
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "pts_optimiser" in f.filename] or frames
    if not ours:
        return "unknown place"
    frame = ours[-1]
    return f"{Path(frame.filename).name}:{frame.lineno} in {frame.name}"
