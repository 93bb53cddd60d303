"""Writing a plan folder: all or nothing, extra columns carried, figures that add up."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from pts_optimiser import writers
from pts_optimiser.config import load_config
from pts_optimiser.exits import OutputError
from pts_optimiser.parse import Inputs, read_problem
from pts_optimiser.plan import Plan
from pts_optimiser.solve import SolveOptions, solve
from pts_optimiser.writers import write_plan
from tests.helpers import rows

DAY = Path(__file__).parent / "fixtures" / "tiny_day"


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


def test_files_are_readable_by_their_owner_only(tiny_plan: Plan, tmp_path: Path) -> None:
    """Plan files hold patients' ids and homes: 0600 files in 0700 folders by default."""
    write_plan(tiny_plan, tmp_path / "plan")
    modes = {p.stat().st_mode & 0o777 for p in (tmp_path / "plan").rglob("*") if p.is_file()}
    folders = {p.stat().st_mode & 0o777 for p in (tmp_path / "plan").rglob("*") if p.is_dir()}
    assert modes == {0o600}
    assert folders | {(tmp_path / "plan").stat().st_mode & 0o777} == {0o700}


def test_group_readable_switch(tiny_plan: Plan, tmp_path: Path) -> None:
    """The [output] group_readable switch opens the plan to the owner's group, not others."""
    shared = replace(tiny_plan, problem=replace(
        tiny_plan.problem, config=replace(tiny_plan.problem.config, group_readable=True)))
    write_plan(shared, tmp_path / "plan")
    modes = {p.stat().st_mode & 0o777 for p in (tmp_path / "plan").rglob("*") if p.is_file()}
    assert modes == {0o640}
