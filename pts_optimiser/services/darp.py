"""The published dial-a-ride instances, solved by the product's own solver over several seeds.

Papers report a heuristic's mean and best over several runs; so does `pts bench darp
--seeds N`. Each run is judged by the instance's own check (io.darp), which shares nothing
with the solver; the mean and the best count feasible runs serving every request only.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from pts_optimiser.domain.config import Config
from pts_optimiser.engine.solve import SolveOptions, solve
from pts_optimiser.io.darp import Instance, Route, Verdict, check, routes_of, to_problem
from pts_optimiser.io.tables import read_table


@dataclass(frozen=True)
class Run:
    """One seed's solution and its verdict."""

    seed: int
    verdict: Verdict
    routes: list[Route]
    seconds: float

    @property
    def complete(self) -> bool:
        """Feasible and serving every request: the only runs a table may count."""
        return self.verdict.feasible


@dataclass(frozen=True)
class InstanceResult:
    """Every seed's run of one instance, against its best known cost."""

    instance: Instance
    runs: tuple[Run, ...]
    best_known: float | None

    @property
    def complete(self) -> bool:
        """Every seed's run feasible and complete."""
        return all(run.complete for run in self.runs)

    @property
    def mean_cost(self) -> float:
        """Mean cost over the seeds, as papers report it."""
        return statistics.fmean(run.verdict.cost for run in self.runs)

    @property
    def best(self) -> Run:
        """The cheapest complete run (the cheapest run of all if none is complete)."""
        good = [run for run in self.runs if run.complete] or list(self.runs)
        return min(good, key=lambda run: run.verdict.cost)

    def gap_pct(self, cost: float) -> float | None:
        """A cost's gap to the best known, in percent; None where none is known."""
        if not self.best_known:
            return None
        return 100 * (cost - self.best_known) / self.best_known

    @property
    def beats_best_known(self) -> bool:
        """A complete run cheaper than the published table's best (beyond rounding)."""
        best = self.best
        return (self.best_known is not None and best.complete
                and best.verdict.cost < self.best_known - 0.005)


def solve_instance(instance: Instance, config: Config, time_limit_s: float, seeds: int,
                   best_known: float | None) -> InstanceResult:
    """Solve the instance once per seed (0, 1, ...) and check each solution."""
    runs = []
    for seed in range(seeds):
        started = time.monotonic()
        plan = solve(to_problem(instance, config),
                     SolveOptions(time_limit_s=time_limit_s, strategy="portfolio", seed=seed))
        seconds = time.monotonic() - started
        routes = routes_of(plan, instance)
        runs.append(Run(seed, check(instance, routes), routes, seconds))
    return InstanceResult(instance, tuple(runs), best_known)


def best_known_costs(files: tuple[Path, ...], bks: Path | None) -> dict[str, float]:
    """Best known costs from `bks`, else from bks.csv beside the files or one folder up."""
    found: dict[str, float] = {}
    tables = {bks} if bks else {folder / "bks.csv" for f in files
                                for folder in (f.parent, f.parent.parent)}
    for path in sorted(tables):
        if path.exists():
            found.update({row["instance"]: float(row["bks"]) for row in read_table(path).rows})
    return found
