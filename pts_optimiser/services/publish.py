"""Publishing a plan: its folder written whole, and only if the independent checker passes it.

The checker is imported when a plan is judged, never when one is planned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pts_optimiser.domain.exits import PlanRejectedError
from pts_optimiser.domain.plan import Plan
from pts_optimiser.domain.problem import Problem
from pts_optimiser.io.osrm import OsrmTravel
from pts_optimiser.io.parse import Inputs
from pts_optimiser.views.writers import Together, write_plan_files

if TYPE_CHECKING:
    from pts_optimiser.check.checker import CheckResult


def write_plan(plan: Plan, out: Path, inputs: Inputs | None = None, with_maps: bool = True,
               keep_previous: Path | None = None,
               tables: Mapping[str, tuple[Sequence[str], Sequence[Mapping[str, object]]]]
               | None = None, privacy: bool | None = None,
               together: Together | None = None) -> CheckResult:
    """Write the plan folder (views.writers.write_plan_files), judged by the checker.

    A plan that breaks a rule is not put in place: PlanRejectedError names the rules (never
    a finding's own text, which may hold a home's coordinates) and the old plan stays.
    With `together` (`views.writers.Together`), it is put in place with the others there.
    """

    def verify(staging: Path) -> CheckResult:
        from pts_optimiser.check.checker import RULES, check_plan

        # The road server's wait the plan was given, not the policy's whole timeout again:
        # the command's time limit holds the check too.
        travel = plan.problem.travel
        result = check_plan(plan.problem, staging,
                            travel.timeout_s if isinstance(travel, OsrmTravel) else None)
        if result.violations:
            lines = [f"[{v.rule}] " + ", ".join(
                [f"vehicle {v.vehicle_id}"] * bool(v.vehicle_id)
                + [f"journey {v.journey_id}"] * bool(v.journey_id)
                + [f"rosters.csv row {v.row}"] * (v.row is not None))
                + f": {RULES.get(v.rule, v.rule)}" for v in result.violations[:20]]
            more = len(result.violations) - len(lines)
            raise PlanRejectedError(
                f"the plan for {out} broke {len(result.violations)} rule(s) of the independent "
                "checker; it was not written and the plan there is kept "
                "(this is a fault of ours: please report it)",
                lines + ([f"... and {more} more"] if more > 0 else []))
        return result

    return write_plan_files(plan, out, verify, inputs, with_maps, keep_previous, tables, privacy,
                            together)


def read_checked_plan(problem: Problem, plan_dir: Path, doing: str
                      ) -> tuple[Plan, frozenset[str]]:
    """The plan in a folder whose files the independent checker finds whole; else exit 3.

    Views drawn from a plan folder edited by hand showed a crew a drop-off before its
    pickup, a journey on two runs, or none (until the thirty-fifth stop: exit 0, or an
    internal error); a re-plan or a week would have started from it. A plan whose runs
    are whole but break a service rule (`checker.STRUCTURE_RULES`) is read; the vehicles
    whose runs break one come back beside it (a re-plan keeps no such run as it was).
    `doing` says what is not done from a refused folder ("rebuilt", "re-planned").
    """
    from collections import Counter

    from pts_optimiser.check.checker import check_plan
    from pts_optimiser.io.planfolder import read_plan

    checked = check_plan(problem, plan_dir)
    damaged = checked.damaged
    if damaged:
        broken = Counter(v.rule for v in damaged)
        raise PlanRejectedError(
            f"{plan_dir}'s files are not a plan's runs: {len(damaged)} violation(s) of the "
            f"independent checker's rules, so nothing is {doing} from it",
            [*(f"{rule}: {count}" for rule, count in sorted(broken.items())),
             f"pts check --out {plan_dir} lists them; plan the day again (pts solve, or pts "
             "replan from its last good plan): plan files are not for editing by hand"])
    return read_plan(problem, plan_dir), frozenset(v.vehicle_id for v in checked.violations
                                                   if v.vehicle_id)
