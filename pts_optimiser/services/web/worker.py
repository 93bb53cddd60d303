"""A day's solve in its own process, started with the "spawn" context.

The server is threaded; forking it would copy its locks mid-use. A spawned child starts
clean, reads the day from its stored files, and may then fork its own portfolio searches
(solve._pools). It reports on a queue: progress, then the runs it found or an error.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.context import SpawnProcess
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any

from pts_optimiser.domain.commitments import Commitments
from pts_optimiser.domain.config import load_config
from pts_optimiser.domain.plan import Event
from pts_optimiser.domain.problem import Place
from pts_optimiser.io.parse import Inputs, read_problem
from pts_optimiser.services.web.engine import without_vehicles

CONTEXT = multiprocessing.get_context("spawn")

# A run as it crosses the process boundary: (event, journey id, lat, lon) per stop.
WireRun = list[tuple[str, str, float, float]]


@dataclass(frozen=True)
class SolveJob:
    """What a child plans: the day's files, and what stays as it is."""

    bookings: str
    fleet: str
    sites: str | None
    config: str | None
    service_date: str | None
    time_limit_s: float
    locked_vehicles: tuple[str, ...] = ()
    locked_out_journeys: tuple[str, ...] = ()  # on the locked runs: not planned again
    keep_on: Mapping[str, str] = field(default_factory=dict)  # locked journey -> its vehicle
    warm: Mapping[str, WireRun] = field(default_factory=dict)


def solve_day(job: SolveJob, queue: Queue[tuple[Any, ...]]) -> None:
    """The child: plan the day and put ("done", runs, unassigned, search) on the queue."""
    from pts_optimiser.engine.solve import SolveOptions, solve

    os.setpgrp()  # its own process group: a cancel stops the searches it forks too
    server = os.getppid()
    try:
        config = load_config(Path(job.config) if job.config else None)
        inputs = Inputs(Path(job.bookings), Path(job.fleet),
                        Path(job.sites) if job.sites else None,
                        Path(job.config) if job.config else None)
        problem, _ = read_problem(inputs, config, job.service_date)
        problem = without_vehicles(problem, set(job.locked_vehicles),
                                   set(job.locked_out_journeys))

        def progress(planned: int, _objective: int, elapsed_s: float) -> None:
            # Told each second while it searches: a server killed outright (SIGKILL, out
            # of memory) ends its solve here, whose searches end with it. In its own
            # process group, the solve searched on to its time limit until the
            # thirty-fifth stop, on both cores.
            if os.getppid() != server:
                os._exit(1)
            queue.put(("progress", planned, elapsed_s))

        warm = {vid: [(Event(event), jid, Place(lat, lon)) for event, jid, lat, lon in run]
                for vid, run in job.warm.items()}
        # The board times a run's break at one of its break visits only.
        options = SolveOptions(time_limit_s=job.time_limit_s, breaks_where_crew_is=False)
        plan = solve(problem, options, progress,
                     Commitments(keep_on=dict(job.keep_on), warm=warm))
        runs = {r.vehicle.vehicle_id: [(str(s.event), s.journey.journey_id if s.journey else "",
                                        s.lat, s.lon) for s in r.stops]
                for r in plan.rosters}
        unassigned = [(u.journey.journey_id, str(u.reason), u.detail, u.fix)
                      for u in plan.unassigned]
        queue.put(("done", runs, unassigned, dict(plan.search), plan.solve_seconds))
    except Exception as exc:  # reported to the server, which shows it; never patient data
        queue.put(("error", type(exc).__name__))


@dataclass
class Running:
    """A solve under way, watched by a thread of the server."""

    process: SpawnProcess
    started: float
    time_limit_s: float
    planned: int = 0
    cancelled: bool = False
    # Journeys on locked runs, planned before the solve and not given to it: counted in the
    # progress shown (they were not, until the thirty-fifth stop: "13 planned so far" of 19).
    locked: int = 0

    @property
    def left_s(self) -> float:
        """Seconds of the time limit still to run."""
        return max(0.0, self.time_limit_s - (time.monotonic() - self.started))


def start(job: SolveJob, finished: Callable[[tuple[Any, ...] | None], None]) -> Running:
    """Start the child and a thread that calls `finished(message or None)` when it ends."""
    queue: Queue[tuple[Any, ...]] = CONTEXT.Queue()
    # Not a daemon: the portfolio forks its own searches, which a daemon may not.
    process = CONTEXT.Process(target=solve_day, args=(job, queue), daemon=False)
    process.start()
    running = Running(process, time.monotonic(), job.time_limit_s)

    def watch() -> None:
        result: tuple[Any, ...] | None = None
        while result is None:
            try:
                message = queue.get(timeout=0.5)
            except Exception:  # queue.Empty, or the queue closed under a killed child
                if not process.is_alive():
                    break
                continue
            if message[0] == "progress":
                running.planned = int(message[1])
            else:
                result = message
        process.join(timeout=10)
        finished(None if running.cancelled else result)

    threading.Thread(target=watch, daemon=True).start()
    return running


def cancel(running: Running) -> None:
    """Stop a child and the searches it forked (its process group)."""
    running.cancelled = True
    if running.process.is_alive() and running.process.pid is not None:
        try:
            os.killpg(running.process.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):  # not yet its own group, or gone
            running.process.terminate()


def wire_runs(runs: Mapping[str, Sequence[tuple[str, str, Place]]]) -> dict[str, WireRun]:
    """Warm runs for a job."""
    return {vid: [(event, jid, place.lat, place.lon) for event, jid, place in run]
            for vid, run in runs.items()}
