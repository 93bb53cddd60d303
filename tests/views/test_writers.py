"""Writing a plan folder: all or nothing, checked first, columns carried, figures adding up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from pts_optimiser.domain.config import load_config
from pts_optimiser.domain.exits import ExitCode, OutputError, PlanRejectedError
from pts_optimiser.domain.plan import Plan
from pts_optimiser.engine.solve import SolveOptions, solve
from pts_optimiser.io.parse import Inputs, read_problem
from pts_optimiser.services.publish import write_plan
from pts_optimiser.views import writers
from tests.helpers import FIXTURES, ROOT, rows

DAY = FIXTURES / "tiny_day"


@pytest.fixture(scope="module")
def tiny_plan() -> Plan:
    """The tiny day, planned."""
    problem, _ = read_problem(Inputs(DAY / "bookings.csv", DAY / "fleet.csv"), load_config())
    return solve(problem, SolveOptions(time_limit_s=2))



def test_extra_columns_are_carried(tiny_plan: Plan, tmp_path: Path) -> None:
    """A booking's own column (ward_note) reaches the rosters and unassigned files."""
    write_plan(tiny_plan, tmp_path / "plan")
    rosters = rows(tmp_path / "plan" / "rosters.csv")
    assert any(r["ward_note"] == "bring letter" for r in rosters if r["journey_id"] == "J2")
    assert "ward_note" in rows(tmp_path / "plan" / "unassigned.csv")[0]


def test_unassigned_file_says_what_would_fix_it(tiny_plan: Plan, tmp_path: Path) -> None:
    """unassigned.csv carries each journey's nearest miss, and a plan read back keeps it."""
    from pts_optimiser.io.planfolder import read_plan

    assert tiny_plan.unassigned and all(u.fix for u in tiny_plan.unassigned)
    write_plan(tiny_plan, tmp_path / "plan")
    written = rows(tmp_path / "plan" / "unassigned.csv")
    assert [r["fix"] for r in written] == [u.fix for u in tiny_plan.unassigned]
    again = read_plan(tiny_plan.problem, tmp_path / "plan")
    assert [u.fix for u in again.unassigned] == [u.fix for u in tiny_plan.unassigned]


def test_summary_adds_up(tiny_plan: Plan, tmp_path: Path) -> None:
    """Served plus unassigned is every journey; km is the rosters' km."""
    write_plan(tiny_plan, tmp_path / "plan")
    figures = json.loads((tmp_path / "plan" / "summary.json").read_text())
    assert figures["served"] + figures["unassigned"] == figures["journeys"] == 7
    assert sum(figures["served_by_purpose"].values()) == figures["served"]
    km = sum(float(r["km"]) for r in rows(tmp_path / "plan" / "rosters.csv"))
    assert abs(km - figures["km_total"]) < 0.1
    assert figures["co2_kg_total"] > 0
    assert figures["unassigned_by_reason"] == {"no_compatible_vehicle": 1}


def test_failed_write_keeps_last_plan(tiny_plan: Plan, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash while writing leaves the previous plan whole and no partial folder."""
    out = tmp_path / "plan"
    write_plan(tiny_plan, out)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def crash(path: Path, text: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(writers, "write_text", crash)
    with pytest.raises(OutputError, match="disk full"):
        write_plan(tiny_plan, out)
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["plan"]


def _contents(folder: Path) -> dict[Path, bytes]:
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_folders_written_together_all_or_none(tiny_plan: Plan, tmp_path: Path) -> None:
    """A week's days: one refused by the checker, none is replaced; all checked, all are."""
    days = [tmp_path / "week" / d for d in ("2026-11-30", "2026-12-01", "2026-12-02")]
    for day in days[:2]:
        write_plan(tiny_plan, day)
    before = {day: _contents(day) for day in days[:2]}
    used = next(i for i, r in enumerate(tiny_plan.rosters) if r.journeys)
    broken = replace(tiny_plan, rosters=tiny_plan.rosters[:used] + tiny_plan.rosters[used + 1:])
    moved = replace(tiny_plan, search={**tiny_plan.search, "status": "planned again"})
    with pytest.raises(PlanRejectedError), writers.Together() as together:
        write_plan(moved, days[0], together=together)
        write_plan(broken, days[1], together=together)
        write_plan(moved, days[2], together=together)
    assert {day: _contents(day) for day in days[:2]} == before
    assert sorted(p.name for p in (tmp_path / "week").iterdir()) == [d.name for d in days[:2]]
    with writers.Together() as together:
        for day in days:
            write_plan(moved, day, together=together)
            assert _contents(day) == before.get(day, {})  # staged, not yet in place
    for day in days:
        assert json.loads((day / "summary.json").read_text())["search"]["status"] == \
            "planned again"
    assert _contents(tmp_path / "week" / "2026-11-30.previous") == before[days[0]]
    assert sorted(p.name for p in (tmp_path / "week").iterdir()) == [
        "2026-11-30", "2026-11-30.previous", "2026-12-01", "2026-12-01.previous", "2026-12-02"]


def test_files_are_readable_by_their_owner_only(tiny_plan: Plan, tmp_path: Path) -> None:
    """Plan files hold patients' ids and homes: 0600 files in 0700 folders by default."""
    write_plan(tiny_plan, tmp_path / "plan")
    modes = {p.stat().st_mode & 0o777 for p in (tmp_path / "plan").rglob("*") if p.is_file()}
    folders = {p.stat().st_mode & 0o777 for p in (tmp_path / "plan").rglob("*") if p.is_dir()}
    assert modes == {0o600}
    assert folders | {(tmp_path / "plan").stat().st_mode & 0o777} == {0o700}


def test_folders_made_above_a_plan_are_private(tiny_plan: Plan, tmp_path: Path) -> None:
    """`--out plans/dec/day` makes dec/ as private as the plan; plans/, already there, stays."""
    (tmp_path / "plans").mkdir()
    (tmp_path / "plans").chmod(0o755)
    write_plan(tiny_plan, tmp_path / "plans" / "dec" / "day")
    assert (tmp_path / "plans").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "plans" / "dec").stat().st_mode & 0o777 == 0o700
    shared = replace(tiny_plan, problem=replace(
        tiny_plan.problem, config=replace(tiny_plan.problem.config, group_readable=True)))
    write_plan(shared, tmp_path / "team" / "day")
    assert (tmp_path / "team").stat().st_mode & 0o777 == 0o750


def test_group_readable_switch(tiny_plan: Plan, tmp_path: Path) -> None:
    """The [output] group_readable switch opens the plan to the owner's group, not others."""
    shared = replace(tiny_plan, problem=replace(
        tiny_plan.problem, config=replace(tiny_plan.problem.config, group_readable=True)))
    write_plan(shared, tmp_path / "plan")
    modes = {p.stat().st_mode & 0o777 for p in (tmp_path / "plan").rglob("*") if p.is_file()}
    assert modes == {0o640}


def test_a_plan_breaking_a_rule_is_not_put_in_place(tiny_plan: Plan, tmp_path: Path) -> None:
    """A plan losing a booking is refused (exit 3), the old plan stays, no home in the message."""
    out = tmp_path / "plan"
    write_plan(tiny_plan, out)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*.csv")}
    used = next(i for i, r in enumerate(tiny_plan.rosters) if r.journeys)
    broken = replace(tiny_plan, rosters=tiny_plan.rosters[:used] + tiny_plan.rosters[used + 1:])
    with pytest.raises(PlanRejectedError) as caught:
        write_plan(broken, out)
    assert caught.value.exit_code == ExitCode.VIOLATIONS
    assert any(line.startswith("[not_planned] journey ") for line in caught.value.lines)
    said = caught.value.message + "\n".join(caught.value.lines)
    assert "Home" not in said and "52.9" not in said
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*.csv")} == before
    assert [p.name for p in tmp_path.iterdir()] == ["plan"]


def test_write_plan_returns_the_check(tiny_plan: Plan, tmp_path: Path) -> None:
    """The check write_plan made is returned (the demo prints it rather than checking twice)."""
    result = write_plan(tiny_plan, tmp_path / "plan")
    assert result.ok
    assert result.journeys_planned == len(tiny_plan.planned)
    assert result.journeys_unassigned == len(tiny_plan.unassigned)


def test_planning_does_not_load_the_checker() -> None:
    """The planning path (CLI, solve, writers, plan folders, nightly) never imports the checker."""
    code = ("import sys; import pts_optimiser.engine.solve, pts_optimiser.views.writers, "
            "pts_optimiser.io.planfolder, pts_optimiser.services.nightly, "
            "pts_optimiser.services.replan, "
            "pts_optimiser.cli; "
            "sys.exit('pts_optimiser.check.checker' in sys.modules)")
    root = ROOT
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ,
                                                             "PYTHONPATH": str(root)})
    assert done.returncode == 0
