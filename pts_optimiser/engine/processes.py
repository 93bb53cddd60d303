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
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import ExitStack

from pts_optimiser.engine.model import (
    RoutingOutcome,
)

OVERRUN_S = 2.0  # past the time limit a search's process is ended and its plan lost


def search_pools(stack: ExitStack, count: int) -> list[ProcessPoolExecutor]:
    """One single-process pool per search, closed with the stack.

    A child that dies breaks only its own pool: in a shared pool it would fail the other's
    future. See `start_method` for how the children are started.
    """
    context = multiprocessing.get_context(start_method())
    return [stack.enter_context(ProcessPoolExecutor(1, mp_context=context, initializer=end_with,
                                                    initargs=(os.getpid(),)))
            for _ in range(count)]


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

    A forked search inherits the command's SIGTERM handler (`cli._sigterm_stops`): it is
    put back to the default, so a SIGTERM sent to the whole group ends the search quietly
    and the command alone says why.
    """
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
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
                   futures: Sequence[Future[RoutingOutcome | None]], deadline: float) -> None:
    """Wait for the searches until `deadline`; end the processes of those still running.

    OR-Tools can run well past its time limit (106 s on a 60 s limit at 1,000+ nodes) and
    a loaded machine slows everything: the plan of a search still running then is lost,
    but the command ends on time with the other's, or the one-at-a-time plan.
    """
    wait(futures, timeout=max(0.0, deadline - time.monotonic()))
    for pool, future in zip(pools, futures, strict=True):
        if not future.done():
            for process in list(pool._processes.values()):  # no public way to end one
                process.kill()


def result_or_none(future: Future[RoutingOutcome | None]) -> RoutingOutcome | None:
    """None for a search whose process failed: the caller keeps the plan it has, and writes it.

    (A half keeps the whole-day routes; a portfolio search leaves the other's plan.)
    """
    try:
        return future.result()
    except (BrokenProcessPool, OSError, MemoryError):
        return None
