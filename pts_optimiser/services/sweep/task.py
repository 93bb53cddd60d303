"""One sweep task: a day, a fleet, a policy and a seed, solved, written, checked and judged.

Runs inside a Dask worker, which may be another machine: a task carries its input files'
contents, not their paths, and gives back its row (and, when asked, its plan folder as a
tar archive), so nothing depends on a file system the client and the workers share.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import socket
import statistics
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pts_optimiser.domain.config import FUELS

# Part of every task's key: a row made by an older sweep that means something else is
# solved again rather than re-used. Bump it when a row's meaning changes.
# 2: tasks plan with "one-core" (OR-Tools then ruin and recreate), no longer "single".
SWEEP_VERSION = 2
# One search on one core a task, OR-Tools then ruin and recreate, in the worker's own
# process: the cluster gives the parallelism. The default "portfolio" starts two search
# processes, which a Dask worker (a daemonic process) may not do (docs/sweeps.md, "Why one
# core a task").
STRATEGY = "one-core"


@dataclass(frozen=True)
class Source:
    """One input file as read on the client: the name shown and its bytes."""

    name: str
    data: bytes

    @property
    def digest(self) -> str:
        """SHA-256 of the contents, hex."""
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class Task:
    """One solve of a sweep."""

    day: str  # the day folder's name
    bookings: Source
    sites: Source | None  # None: the shipped Derbyshire sites
    fleet: Source
    config: Source | None  # None: the default policy
    seed: int
    time_limit_s: float

    @property
    def config_name(self) -> str:
        """The policy's name in the sweep's tables."""
        return self.config.name if self.config is not None else "default"

    @property
    def key(self) -> str:
        """A hash of everything that decides the task's result: same key, same question."""
        parts = [f"pts-sweep-v{SWEEP_VERSION}", STRATEGY, self.bookings.digest,
                 self.sites.digest if self.sites else "shipped-sites", self.fleet.digest,
                 self.config.digest if self.config else "default-policy",
                 f"seed={self.seed}", f"time_limit_s={self.time_limit_s:g}"]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]

    def identity(self) -> dict[str, object]:
        """The row's first cells: which inputs, by name and by content hash."""
        return {"task": self.key, "day": self.day, "fleet": self.fleet.name,
                "config": self.config_name, "seed": self.seed,
                "time_limit_s": self.time_limit_s, "strategy": STRATEGY,
                "bookings_sha256": self.bookings.digest,
                "sites_sha256": self.sites.digest if self.sites else "",
                "fleet_sha256": self.fleet.digest,
                "config_sha256": self.config.digest if self.config else ""}


def _dask_worker() -> Any | None:
    """The Dask worker running this task; None for a task run outside a cluster."""
    try:
        from distributed import get_worker

        return get_worker()
    except ValueError:
        return None


def _worker_name() -> str:
    """The Dask worker's address, else host and process (a task run outside a cluster)."""
    worker = _dask_worker()
    return str(worker.address) if worker else f"{socket.gethostname()} pid {os.getpid()}"


def _scratch_parent() -> str | None:
    """Where a task writes its day and plan: its Dask worker's own directory, else the temp.

    A worker killed mid-task (out of memory, kill -9) cannot remove its scratch, which
    holds a day's bookings; Dask removes a dead worker's directory when the next worker
    starts beside it (the nanny restarts it), so the bookings do not outlive the sweep.
    """
    worker = _dask_worker()
    return str(worker.local_directory) if worker else None


def percentile(values: list[int], share: float) -> float:
    """Nearest-rank percentile: the smallest value with at least `share` of them at or below."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return float(ordered[max(0, math.ceil(share * len(ordered)) - 1)])


def patients(plan: Any) -> dict[str, int]:
    """Patients fully served, and left behind: taken out but not brought back that day.

    As the plan's own summary counts them (`kpi.patients`: a planned journey whose return,
    given or inferred, is not). Until 2026-12-07 any later journey of the patient's left out
    counted, and a patient brought home was charted as left behind for a one-way journey
    of theirs that no shift could cover.
    """
    from pts_optimiser.views import kpi

    counts = kpi.patients(plan).overall
    return {"patients": counts.total, "patients_fully_served": counts.fully_served,
            "patients_left_behind": counts.left_somewhere}


def judge(plan: Any, violations: int) -> dict[str, object]:
    """The row's figures for a plan: service, patients, rule breaks, km, CO2, time on board."""
    from pts_optimiser.domain.problem import Fuel
    from pts_optimiser.views import kpi

    problem = plan.problem
    planned_ids = {j.journey_id for j in plan.planned}
    km = kpi.km_by_fuel(plan)
    co2 = kpi.co2_kg_by_fuel(plan)
    trips = kpi.trips(plan)
    on_board = [t.on_board_min for t in trips]
    servable = int(plan.search.get("servable") or 0)
    electric = sum(v.fuel is Fuel.ELECTRIC for v in problem.vehicles)
    row: dict[str, object] = {
        "vehicles_available": len(problem.vehicles), "electric_vehicles": electric,
        "electric_share_pct": round(100 * electric / len(problem.vehicles), 1)
        if problem.vehicles else 0.0,
        "journeys": len(problem.journeys), "servable": servable,
        "served": len(planned_ids), "unassigned": len(plan.unassigned),
        "served_pct": round(100 * len(planned_ids) / len(problem.journeys), 1)
        if problem.journeys else 0.0,
        **patients(plan),
        "violations": violations,
        "vehicles_used": sum(r.used for r in plan.rosters),
        "km_total": round(sum(km.values()), 1),
        **{f"km_{fuel}": round(km.get(fuel, 0.0), 1) for fuel in FUELS},
        "co2_kg_total": kpi.co2_kg_total(plan),
        **{f"co2_kg_{fuel}": co2.get(fuel, 0.0) for fuel in FUELS},
        "on_board_median_min": float(statistics.median(on_board)) if on_board else 0.0,
        "on_board_p90_min": percentile(on_board, 0.9),
    }
    for standard in kpi.standards(plan):
        values = [v for t in trips if standard.applies(t) and (v := standard.measure(t))
                  is not None]
        met = sum(v <= standard.limit_min for v in values)
        row[f"std_{standard.key}_pct"] = round(100 * met / len(values), 1) if values else ""
        row[f"std_{standard.key}_target_pct"] = standard.target_pct
    return row


def no_search_plan(plan: Any) -> bool:
    """True when the search gave no plan of its own in its time though journeys were servable.

    The plan is then the one-at-a-time plan solve() falls back on (or, from an older
    engine, an empty one): valid, but its figures measure the CPU the worker had, not the
    scenario, and would read as a fleet that can do much less.
    """
    servable = int(plan.search.get("servable") or 0) > 0
    return servable and (plan.search.get("status") == "fallback: one at a time"
                         or (not plan.planned and not plan.search.get("solutions")))


def _write_sources(task: Task, folder: Path) -> tuple[Path, Path, Path | None, Path | None]:
    folder.mkdir(mode=0o700)
    paths: list[Path | None] = []
    for name, source in (("bookings.csv", task.bookings), ("fleet.csv", task.fleet),
                         ("sites.csv", task.sites), ("config.toml", task.config)):
        if source is None:
            paths.append(None)
            continue
        path = folder / name
        path.write_bytes(source.data)
        paths.append(path)
    bookings, fleet, sites, config = paths
    assert bookings is not None and fleet is not None
    return bookings, fleet, sites, config


def _tar(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(folder, arcname=".")
    return buffer.getvalue()


_REJECTED_COUNT = "broke "


def _violations_of(message: str) -> int:
    """The count in write_plan's refusal ("... broke N rule(s) ...")."""
    tail = message.split(_REJECTED_COUNT, 1)[-1].split(" ", 1)[0]
    return int(tail) if tail.isdigit() else 1


def run_task(task: Task, keep_plan: bool = False) -> dict[str, Any]:
    """Solve, write, check and judge one task; its row, and its plan folder if kept.

    Returns {"row": {...}, "plan_tar": bytes | None}. A plan that breaks a rule is not
    kept: its row says "rejected" with the number of violations.
    """
    from pts_optimiser.domain.config import load_config
    from pts_optimiser.domain.exits import PlanRejectedError
    from pts_optimiser.engine.solve import SolveOptions, solve
    from pts_optimiser.io.parse import Inputs, read_problem
    from pts_optimiser.services.publish import write_plan

    started = time.monotonic()
    row: dict[str, object] = dict(task.identity())
    plan_tar: bytes | None = None
    with tempfile.TemporaryDirectory(prefix="pts-sweep-", dir=_scratch_parent()) as scratch:
        bookings, fleet, sites, config_path = _write_sources(task, Path(scratch) / "in")
        inputs = Inputs(bookings, fleet, sites, config_path)
        problem, _ = read_problem(inputs, load_config(config_path))
        read_s = time.monotonic() - started
        plan = solve(problem, SolveOptions(time_limit_s=task.time_limit_s, strategy=STRATEGY,
                                           seed=task.seed))
        solved = time.monotonic()
        out = Path(scratch) / "plan"
        try:
            # The maps are left out: 12-14 s for a 750-journey day, and `pts map --plan`
            # draws them for a kept folder a manager wants to look at.
            checked = write_plan(plan, out, inputs, with_maps=False)
            status, violations = ("ok" if checked.ok else "rejected"), len(checked.violations)
        except PlanRejectedError as exc:
            status, violations = "rejected", _violations_of(exc.message)
        row.update(judge(plan, violations))
        if status == "ok" and no_search_plan(plan):
            status = "no_plan_in_time"
            row["error"] = (f"the search found no plan in {task.time_limit_s:g} s, so its "
                            "figures answer nothing (every journey left out): the workers "
                            "had too little CPU, or the time limit is too short for the day; "
                            "run again with fewer workers or a longer --time-limit")
        row["status"] = status
        if keep_plan and status == "ok":
            plan_tar = _tar(out)
        finished = time.monotonic()
    row.update({"read_s": round(read_s, 2), "solve_s": round(solved - started - read_s, 2),
                "write_check_s": round(finished - solved, 2),
                "wall_s": round(finished - started, 2), "worker": _worker_name(),
                "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    return {"row": row, "plan_tar": plan_tar}


def row_json(row: dict[str, object]) -> str:
    """A row as stored in the sweep's results/ folder."""
    return json.dumps(row, indent=1, sort_keys=False, allow_nan=False) + "\n"
