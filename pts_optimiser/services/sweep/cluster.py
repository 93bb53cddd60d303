"""The Dask cluster behind the sweep and the week: a client of one, and a pool of its workers.

Only this package imports Dask (docs/architecture.md). A sweep submits its tasks through
the client itself; a week's days go through `ClusterPool`, which gives the week what a
process pool gives it (`submit`, a future's `result`) and says in one line what went wrong
when the cluster loses a day, instead of a traceback.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from pts_optimiser.domain.exits import PtsError, UsageError

T = TypeVar("T")
R = TypeVar("R")

CONNECT_S = 30  # to reach a scheduler, and for a scheduler's first worker to be there
# Dask's client logs a lost scheduler as a traceback on stderr before its futures fail; the
# command says it in one line instead (`Outcome.result`), so these stay quiet meanwhile.
QUIET = ("distributed", "distributed.client", "distributed.comm", "distributed.core",
         "distributed.batched")


SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")  # what a scheduler elsewhere listens on


def check_address(scheduler: str) -> None:
    """A scheduler address Dask can dial, or UsageError naming it, before any file is read.

    Dask refuses a malformed one only when dialling, as a ValueError: it was reported as
    an internal error ("report it") rather than the typing mistake it is.
    """
    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        scheme, location = parse_address(scheduler)
        if scheme not in SCHEMES:
            raise ValueError(f"{scheme}:// is not one of {', '.join(SCHEMES)}")
        if scheme != "ucx":
            parse_host_port(location)
    except ValueError as exc:
        raise UsageError(f"--scheduler {scheduler!r} is not a Dask scheduler's address "
                         f"({exc}): give it as tcp://HOST:PORT, e.g. tcp://10.0.0.5:8786 "
                         "(what `dask scheduler` prints)") from None


def client(scheduler: str | None, workers: int) -> Any:
    """A client of the cluster at `scheduler`, or of a new local one (closed with it)."""
    from distributed import Client, LocalCluster

    if scheduler:
        check_address(scheduler)
        try:
            made = Client(scheduler, timeout=f"{CONNECT_S}s")  # type: ignore[no-untyped-call]
        except OSError as exc:
            raise PtsError(f"cannot reach the Dask scheduler at {scheduler}: {exc}; start it "
                           "(`dask scheduler`) or check the address") from exc
        made._pts_levels = _quiet()  # type: ignore[attr-defined]  # put back by close
        return made
    # Processes of one thread each: OR-Tools searches on one thread and holds its memory,
    # and worker processes keep a crash (or a kill) to the task that caused it.
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address=None)  # type: ignore[no-untyped-call]
    made = Client(cluster)  # type: ignore[no-untyped-call]
    made._pts_cluster = cluster  # type: ignore[attr-defined]  # closed with the client
    return made


def close(made: Any) -> None:
    """Close a client of `client`, and the local cluster it started, if any."""
    cluster = getattr(made, "_pts_cluster", None)
    made.close()
    if cluster is not None:
        cluster.close()
    for name, level in getattr(made, "_pts_levels", {}).items():
        logging.getLogger(name).setLevel(level)


def _quiet() -> dict[str, int]:
    """Dask's client loggers raised to CRITICAL; their levels before, to put back."""
    levels = {}
    for name in QUIET:
        logger = logging.getLogger(name)
        levels[name] = logger.level
        logger.setLevel(logging.CRITICAL)
    return levels


class Outcome(Generic[R]):
    """A task's future on the cluster: `result()` as a process pool's future gives it."""

    def __init__(self, future: Any, what: str, scheduler: str) -> None:
        self._future, self._what, self._scheduler = future, what, scheduler

    def result(self) -> R:
        """The task's value, or its own error; a fault of the cluster as a one-line PtsError."""
        from concurrent.futures import CancelledError

        from distributed import KilledWorker

        try:
            return self._future.result()  # type: ignore[no-any-return]
        except KilledWorker as exc:
            raise PtsError(f"the Dask cluster at {self._scheduler} lost {self._what}: its "
                           "worker died each time it ran it; see the workers' logs (memory?) "
                           "and run again") from exc
        except CancelledError as exc:
            raise PtsError(f"the Dask cluster at {self._scheduler} dropped {self._what} (the "
                           "scheduler went away or cancelled it); nothing was written, run "
                           "again") from exc


class ClusterPool:
    """Work sent to the Dask scheduler at `scheduler`, one task a worker thread at a time.

    `workers` is how many tasks the cluster runs at once (its worker threads when the pool
    opened): the caller divides its time by it.
    """

    def __init__(self, scheduler: str) -> None:
        self.scheduler = scheduler
        self.workers = 0
        self._client: Any = None
        self._run = uuid.uuid4().hex[:12]  # this command's tasks, apart from any other's

    def __enter__(self) -> ClusterPool:
        self._client = client(self.scheduler, 0)
        try:
            self._client.wait_for_workers(1, timeout=CONNECT_S)
        except TimeoutError as exc:
            close(self._client)
            raise PtsError(f"the Dask scheduler at {self.scheduler} has no workers after "
                           f"{CONNECT_S} s; start some (`dask worker {self.scheduler}`) or "
                           "check the address") from exc
        self.workers = sum(self._client.nthreads().values())
        return self

    def __exit__(self, *_: object) -> None:
        close(self._client)

    def submit(self, function: Callable[[T], R], task: T, what: str) -> Outcome[R]:
        """Run `function(task)` on the cluster; `what` names the task in an error."""
        key = f"pts-{self._run}-{uuid.uuid4().hex[:8]}"
        future = self._client.submit(function, task, key=key, pure=False)
        return Outcome(future, what, self.scheduler)
