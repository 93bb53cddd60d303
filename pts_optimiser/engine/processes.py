"""Searches in their own processes.

Started safely, ended with their parent, and stopped at the deadline however busy the
machine is.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import ExitStack, suppress
from typing import Any

from pts_optimiser.engine.model import (
    RoutingOutcome,
)

OVERRUN_S = 2.0  # past the time limit a search's process is ended and its plan lost


def search_pools(stack: ExitStack, count: int, relay: Relay | None = None
                 ) -> list[ProcessPoolExecutor]:
    """One single-process pool per search, closed with the stack.

    A child that dies breaks only its own pool: in a shared pool it would fail the other's
    future. See `start_method` for how the children are started. With a `relay`, what the
    searches find (`report`) reaches its progress while `await_searches` waits for them.
    Each search may hand a plan over before it is done (`hand_over`, `handed_over`).
    """
    context = multiprocessing.get_context(start_method())
    reports = None if relay is None else relay.queue
    pools = []
    for _ in range(count):
        handovers = context.Queue()
        pool = stack.enter_context(ProcessPoolExecutor(1, mp_context=context,
                                                       initializer=_start_search,
                                                       initargs=(os.getpid(), reports,
                                                                 handovers)))
        _HANDOVERS[id(pool)] = handovers
        stack.callback(_close_handovers, id(pool))
        pools.append(pool)

    def end_on_error(failed: type[BaseException] | None, *_details: object) -> None:
        # Closing a pool waits for its search: stopped by the user, or failing, the
        # command would wait out the search's time limit first.
        if failed is not None:
            for pool in pools:
                _end(pool)

    stack.push(end_on_error)
    return pools


def _end(pool: ProcessPoolExecutor) -> None:
    """Kill the pool's search process, if it has one still."""
    for process in list((pool._processes or {}).values()):  # no public way to end one
        process.kill()


class Relay:
    """The searches' reports, passed on to a progress function as they come.

    Until the thirty-fifth stop the portfolio reported only when both of its searches had
    ended: the night's log had no `progress` event, and the board no count, while a day
    was planned. Read by the waiting command itself, so no thread runs when the searches
    are forked (`start_method`).
    """

    def __init__(self, stack: ExitStack, progress: Callable[[int, int, float], None]) -> None:
        self.queue: Any = multiprocessing.get_context(start_method()).Queue()
        self.progress = progress
        self.started = time.monotonic()
        self.most, self.objective, self.told = -1, 0, 0.0
        stack.callback(self._close)

    def drain(self) -> None:
        """Pass on what has come: a count no lower than the most any search has planned.

        Told again each second while the searches find nothing better, so a log that
        keeps one event in ten seconds has one every ten (it had gaps of 24 s).
        """
        while True:
            try:
                planned, objective = self.queue.get_nowait()
            except Exception:  # queue.Empty; or broken under a killed child
                break
            if planned >= self.most:
                self.most, self.objective = planned, objective
                self._tell()
        if self.most >= 0 and time.monotonic() - self.told >= REPORT_EVERY_S:
            self._tell()

    def _tell(self) -> None:
        self.told = time.monotonic()
        self.progress(self.most, self.objective, self.told - self.started)

    def _close(self) -> None:
        self.queue.close()
        self.queue.cancel_join_thread()


REPORT_EVERY_S = 1.0
RELAY_EVERY_S = 0.25
_REPORTS: list[Any] = []  # in a search process: the queue its finds go to, and when last
_HANDOVER: list[Any] = []  # in a search process: the queue a plan is handed over by
_HANDOVERS: dict[int, Any] = {}  # in the command: each pool's (by id) hand-over queue


def _start_search(parent: int, reports: Any, handovers: Any = None) -> None:
    end_with(parent)
    if reports is not None:
        _REPORTS[:] = [reports, 0.0]
    if handovers is not None:
        # Leaving never waits on a plan nobody reads: the search's result came back by
        # its future, and a plan bigger than the pipe would hold the process at its end.
        handovers.cancel_join_thread()
        _HANDOVER[:] = [handovers]


def hand_over(outcome: RoutingOutcome) -> None:
    """In a search process: give the command a plan to keep if the search is ended.

    A search ended at its deadline lost every plan it had: on a fresh install under load
    both of the demo's searches were still compiling ruin and recreate at 60 s, and the
    day got the one-at-a-time plan (629 of 750 journeys, not 742; thirty-seventh stop).
    Sent by the queue's own thread, so the search goes on at once. Nothing where the
    search runs in the command's own process.
    """
    if _HANDOVER:
        with suppress(Exception):
            _HANDOVER[0].put(outcome)


def handed_over(pool: ProcessPoolExecutor) -> RoutingOutcome | None:
    """The last plan the pool's search handed over (`hand_over`), if one came whole."""
    queue, last = _HANDOVERS.get(id(pool)), None
    while queue is not None:
        try:
            last = queue.get(timeout=HANDOVER_WAIT_S)
        except Exception:  # queue.Empty; or a message cut short by the killed child
            break
    return last if isinstance(last, RoutingOutcome) else None


HANDOVER_WAIT_S = 0.2  # a handed-over plan already sent is in the pipe well before this


def _close_handovers(key: int) -> None:
    queue = _HANDOVERS.pop(key, None)
    if queue is not None:
        queue.close()
        queue.cancel_join_thread()


def report(planned: int, objective: int) -> None:
    """In a search process: tell the command what it has found, at most once a second.

    Nothing where nobody asked (no `Relay`, or the search runs in the command's own
    process). A report that cannot be sent is dropped: the plan matters, not its progress.
    """
    if not _REPORTS or time.monotonic() - _REPORTS[1] < REPORT_EVERY_S:
        return
    _REPORTS[1] = time.monotonic()
    with suppress(Exception):
        _REPORTS[0].put_nowait((planned, objective))


def start_method() -> str:
    """`fork` where this process runs one thread, else `spawn`.

    Forked children share the parent's memory and start searching at once (a command, the
    nightly run, the board's own spawned solve process). Forking a process that runs other
    threads (a threaded server calling the engine directly) copies locks those threads may
    hold, and the child can hang on them: there a fresh interpreter is started instead,
    which costs a second or two of imports and a copy of the routing input.
    """
    return "fork" if threading.active_count() == 1 else "spawn"


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


WATCH_PARENT_S = 1.0


def end_with(parent: int) -> None:
    """In a search process: end when `parent` does, even if it is killed with SIGKILL.

    A search process holds 130-145 MB and would otherwise search on, orphaned, for as long
    as its time limit. On Linux the kernel kills it when its parent dies; a thread watching
    the parent's id is the backstop elsewhere (and while OR-Tools holds the interpreter it
    waits, but the kernel's signal does not).

    A forked search inherits the command's SIGTERM and Ctrl-C handlers
    (`cli._sigterm_stops`): both are put back to the default, ending the process, so a
    signal sent to the whole group ends the search at once, quietly (inside OR-Tools a
    Ctrl-C was lost and the search ran on), and the command alone says why.
    """
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before the signal was asked for
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True,
                     name="pts-watch-parent").start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(WATCH_PARENT_S)
    os._exit(1)


def await_searches(pools: Sequence[ProcessPoolExecutor],
                   futures: Sequence[Future[RoutingOutcome | None]], deadline: float,
                   relay: Relay | None = None) -> None:
    """Wait for the searches until `deadline`; end the processes of those still running.

    OR-Tools can run well past its time limit (106 s on a 60 s limit at 1,000+ nodes) and
    a loaded machine slows everything: the plan of a search still running then is lost,
    but the command ends on time with the other's, or the one-at-a-time plan.
    """
    while relay is not None and time.monotonic() < deadline:
        relay.drain()
        if not wait(futures, timeout=min(RELAY_EVERY_S, deadline - time.monotonic())
                    ).not_done:
            break
    wait(futures, timeout=max(0.0, deadline - time.monotonic()))
    if relay is not None:
        relay.drain()
    for pool, future in zip(pools, futures, strict=True):
        if not future.done():
            _end(pool)


def result_or_none(future: Future[RoutingOutcome | None]) -> RoutingOutcome | None:
    """None for a search whose process failed: the caller keeps the plan it has, and writes it.

    (A half keeps the whole-day routes; a portfolio search leaves the other's plan.)
    """
    try:
        return future.result()
    except (BrokenProcessPool, OSError, MemoryError):
        return None
