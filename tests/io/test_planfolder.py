"""Plan folders: only ours replaced, put in place at once (killed at every step), standing alone."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from pts_optimiser.cli import main
from pts_optimiser.domain.config import MapPolicy, TravelPolicy, load_config
from pts_optimiser.domain.exits import ExitCode, OutputError
from pts_optimiser.domain.plan import Plan
from pts_optimiser.domain.resources import default_config_path
from pts_optimiser.engine.solve import SolveOptions, solve
from pts_optimiser.io import planfolder
from pts_optimiser.io.parse import Inputs, read_problem
from pts_optimiser.services.publish import write_plan
from tests.helpers import FIXTURES, ROOT, report_figures

DAY = FIXTURES / "tiny_day"


@pytest.fixture(scope="module")
def tiny_plan() -> Plan:
    """The tiny day, planned."""
    problem, _ = read_problem(Inputs(DAY / "bookings.csv", DAY / "fleet.csv"), load_config())
    return solve(problem, SolveOptions(time_limit_s=2))


def _day(folder: Path) -> Path:
    """A copy of the tiny day's files in `folder`, with a coordinator's notes."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("bookings.csv", "fleet.csv"):
        shutil.copyfile(DAY / name, folder / name)
    (folder / "notes.txt").write_text("handover: J3 may cancel\n")
    return folder


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def _solve(out: str | Path, day: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["solve", "--bookings", str(day / "bookings.csv"),
                                       "--fleet", str(day / "fleet.csv"), "--out", str(out),
                                       "--time-limit", "5", *extra])
    return result.exit_code, result.output


def test_out_dot_in_the_day_folder_is_refused(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """`--out .` in the folder holding the day's files exits 6 and touches nothing."""
    day = _day(tmp_path / "day")
    before = _snapshot(day)
    monkeypatch.chdir(day)
    code, output = _solve(".", day)
    assert code == ExitCode.CANNOT_WRITE, output
    assert f"{day} (--out) holds files pts did not write" in output
    assert "bookings.csv" in output and "give a new or empty folder" in output
    assert _snapshot(day) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["day"]


def test_a_folder_of_notes_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--out notes` where notes/ holds a handover file exits 6; the file stays."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "handover.txt").write_text("ring ward 3\n")
    code, output = _solve("notes", DAY)
    assert code == ExitCode.CANNOT_WRITE, output
    assert (tmp_path / "notes" / "handover.txt").read_text() == "ring ward 3\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes"]


def test_a_plan_folder_with_somebodys_notes_is_refused(tmp_path: Path) -> None:
    """Our plan folder with a file added by a person is not ours to replace any more."""
    assert _solve(tmp_path / "plan", DAY)[0] == 0
    (tmp_path / "plan" / "handover.txt").write_text("CAR1 late\n")
    before = _snapshot(tmp_path / "plan")
    code, output = _solve(tmp_path / "plan", DAY)
    assert code == ExitCode.CANNOT_WRITE and "handover.txt" in output
    assert _snapshot(tmp_path / "plan") == before


def test_a_link_is_never_followed(tmp_path: Path, tiny_plan: Plan) -> None:
    """A link as --out, or as a nightly date folder, is refused; what it points to is untouched."""
    real = tmp_path / "real"
    write_plan(tiny_plan, real)
    before = _snapshot(real)
    (tmp_path / "planlink").symlink_to(real)
    code, output = _solve(tmp_path / "planlink", DAY)
    assert code == ExitCode.CANNOT_WRITE and "symbolic link" in output
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    (outbox / "2026-12-01").symlink_to(real)
    with pytest.raises(OutputError, match="symbolic link"):
        write_plan(tiny_plan, outbox / "2026-12-01",
                   keep_previous=outbox / "2026-12-01.previous")
    assert _snapshot(real) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outbox", "planlink", "real"]


def test_replacing_a_plan_keeps_the_previous(tmp_path: Path) -> None:
    """Solving over our own plan replaces it and keeps the old one as <out>.previous."""
    assert _solve(tmp_path / "plan", DAY)[0] == 0
    first = (tmp_path / "plan" / "summary.json").read_bytes()
    assert _solve(tmp_path / "plan", DAY, "--seed", "1")[0] == 0
    assert (tmp_path / "plan.previous" / "summary.json").read_bytes() == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan", "plan.previous"]


def test_an_older_plan_folder_and_an_empty_folder_are_ours(tmp_path: Path,
                                                           tiny_plan: Plan) -> None:
    """A pre-marker plan folder (summary.json, rosters.csv) and an empty folder are replaced."""
    old = tmp_path / "old"
    write_plan(tiny_plan, old, with_maps=False)
    (old / planfolder.MARKER).unlink()
    write_plan(tiny_plan, old)
    assert (old / planfolder.MARKER).exists() and (tmp_path / "old.previous").is_dir()
    (tmp_path / "empty").mkdir()
    write_plan(tiny_plan, tmp_path / "empty")
    assert (tmp_path / "empty" / "rosters.csv").exists()
    assert not (tmp_path / "empty.previous").exists()


def test_a_file_added_while_building_stops_the_swap(tmp_path: Path, tiny_plan: Plan,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A note saved into the plan folder while the new plan is built is not swapped away."""
    out = tmp_path / "plan"
    write_plan(tiny_plan, out)

    def save_note(step: str) -> None:
        if step == "checked":
            (out / "handover.txt").write_text("CAR1 late\n")

    monkeypatch.setattr(planfolder, "reached", save_note)
    with pytest.raises(OutputError, match=r"handover\.txt"):
        write_plan(tiny_plan, out)
    assert (out / "handover.txt").read_text() == "CAR1 late\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan"]


def test_a_foreign_previous_is_refused(tmp_path: Path, tiny_plan: Plan) -> None:
    """Where <out>.previous is somebody's folder, nothing is written (it would be emptied)."""
    write_plan(tiny_plan, tmp_path / "plan")
    _day(tmp_path / "plan.previous")
    before = _snapshot(tmp_path)
    with pytest.raises(OutputError, match="previous plan's place"):
        write_plan(tiny_plan, tmp_path / "plan")
    assert _snapshot(tmp_path) == before


_CHILD = """
import os, pickle, sys
from pts_optimiser.io import planfolder
from pts_optimiser.services import publish
plan, inputs, out, step, exchange = pickle.loads(open(sys.argv[1], "rb").read())
def reached(name):
    if name == step:
        os._exit(9)
planfolder.reached = reached
if not exchange:
    planfolder.exchange = lambda first, second: False
publish.write_plan(plan, out, inputs)
"""
STEPS = ["tables", "built", "checked", "exchanged", "kept", "removed"]
COMPARED = (".csv", ".json", ".toml", ".pts-plan")


def _content(folder: Path) -> tuple[frozenset[str], dict[str, bytes]]:
    """Every file's name, and the bytes of those that do not differ run to run."""
    files = _snapshot(folder)
    return frozenset(files), {k: v for k, v in files.items() if k.endswith(COMPARED)}


@pytest.mark.parametrize(("step", "exchange"),
                         [(s, True) for s in STEPS] + [("aside", False), ("kept", False)])
def test_killed_at_every_step_leaves_old_or_new(tmp_path: Path, tiny_plan: Plan, step: str,
                                                exchange: bool) -> None:
    """Killed at any step: the old plan or the new, whole with maps; next write cleans up."""
    inputs = Inputs(DAY / "bookings.csv", DAY / "fleet.csv")
    new_plan = replace(tiny_plan, solve_seconds=tiny_plan.solve_seconds + 7)
    write_plan(tiny_plan, tmp_path / "ref_old", inputs)
    write_plan(new_plan, tmp_path / "ref_new", inputs)
    old, new = _content(tmp_path / "ref_old"), _content(tmp_path / "ref_new")
    assert old != new
    work = tmp_path / "outbox"
    out = work / "2026-12-01"
    write_plan(tiny_plan, out, inputs)
    write_plan(tiny_plan, out, inputs)  # a previous plan exists, as on a second night
    job = tmp_path / "job.pickle"
    job.write_bytes(pickle.dumps((new_plan, inputs, out, step, exchange)))
    child = subprocess.run([sys.executable, "-c", _CHILD, str(job)], cwd=tmp_path,
                           env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                           text=True, timeout=120)
    assert child.returncode == 9, child.stderr  # killed where asked
    if step == "aside":  # the fallback's one gap: the old plan is aside, put back first
        assert not out.exists()
        planfolder.clean_leftovers(out)
    found = _content(out)
    expected = old if STEPS.index(step if step != "aside" else "checked") < 3 else new
    assert found == expected
    assert (out / "maps" / "overview.html").exists()
    write_plan(new_plan, out, inputs)
    assert _content(out) == new
    assert sorted(p.name for p in work.iterdir()) == ["2026-12-01", "2026-12-01.previous"]


@pytest.mark.parametrize("step", ["checked", "renamed"])
def test_killed_on_the_first_write(tmp_path: Path, tiny_plan: Plan, step: str) -> None:
    """Killed writing a first plan: no folder or the whole plan; the next write cleans up."""
    out = tmp_path / "plan"
    job = tmp_path / "job.pickle"
    job.write_bytes(pickle.dumps((tiny_plan, None, out, step, True)))
    child = subprocess.run([sys.executable, "-c", _CHILD, str(job)], cwd=tmp_path,
                           env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                           text=True, timeout=120)
    assert child.returncode == 9, child.stderr
    assert out.exists() == (step == "renamed")
    if out.exists():
        assert (out / "maps" / "overview.html").exists() and (out / planfolder.MARKER).exists()
    job.unlink()
    write_plan(tiny_plan, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == (
        ["plan", "plan.previous"] if step == "renamed" else ["plan"])


def test_leftovers_of_dead_runs_only_are_removed(tmp_path: Path, tiny_plan: Plan) -> None:
    """A staging folder of a dead process goes; a live one's, and a fresh old-style one, stay."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(done.stdout)
    dead = tmp_path / f".plan.partial-{dead_pid}-0badc0de"
    live = tmp_path / f".plan.partial-{os.getppid()}-0badc0de"
    stale, fresh = tmp_path / ".plan.partial-abcd1234", tmp_path / ".plan.old-zz_x9876"
    other = tmp_path / f".other.partial-{dead_pid}-0badc0de"
    for folder in (dead, live, stale, fresh, other):
        folder.mkdir()
        (folder / "rosters.csv").write_text("patient data\n")
    day_ago = time.time() - 2 * planfolder.LEGACY_AGE_S
    os.utime(stale, (day_ago, day_ago))
    write_plan(tiny_plan, tmp_path / "plan")
    left = {p.name for p in tmp_path.iterdir()}
    assert left == {"plan", live.name, fresh.name, other.name}


def test_summary_names_no_absolute_path(tmp_path: Path) -> None:
    """summary.json names the folder's own byte copies of its inputs, relative to it."""
    day = _day(tmp_path / "day")
    assert _solve(tmp_path / "plan", day)[0] == 0
    text = (tmp_path / "plan" / "summary.json").read_text()
    assert str(tmp_path) not in text and str(ROOT) not in text
    assert json.loads(text)["inputs"] == {
        "bookings": "inputs/bookings.csv", "fleet": "inputs/fleet.csv",
        "sites": "inputs/sites.csv", "config": "inputs/config.toml"}
    inputs = tmp_path / "plan" / "inputs"
    assert (inputs / "bookings.csv").read_bytes() == (day / "bookings.csv").read_bytes()
    assert (inputs / "sites.csv").read_bytes() == (ROOT / "data" / "sites.csv").read_bytes()
    copies = planfolder.plan_inputs(tmp_path / "plan")
    from_copies, _ = read_problem(copies, load_config(copies.config))
    original, _ = read_problem(Inputs(day / "bookings.csv", day / "fleet.csv"), load_config())
    assert from_copies == original  # the checker reading the copies sees the same day




def test_a_plan_folder_copied_in_part_is_named_for_what_it_lacks(tmp_path: Path,
                                                                 tiny_plan: Plan) -> None:
    """A folder without its inputs/, or with a summary cut short, says so and what to do.

    Before, the first was told to "give the path of an existing TOML file" it never gave,
    and the second that there was no summary.json where there was one.
    """
    day = _day(tmp_path / "day")
    plan_dir = tmp_path / "plan"
    assert _solve(plan_dir, day)[0] == 0
    shutil.rmtree(plan_dir / "inputs")
    result = CliRunner().invoke(main, ["report", "--plan", str(plan_dir)])
    assert result.exit_code == ExitCode.BAD_INPUT
    assert "inputs/bookings.csv: the plan folder's copy of the file it was planned from is " \
           "missing" in result.output
    assert "copy the whole folder pts solve wrote, inputs/ with it" in result.output
    assert "TOML" not in result.output
    (plan_dir / "summary.json").write_text('{"inputs": {"bookings"', encoding="utf-8")
    result = CliRunner().invoke(main, ["report", "--plan", str(plan_dir)])
    assert result.exit_code == ExitCode.BAD_INPUT
    assert "[unreadable_file]" in result.output
    assert "summary.json: it is not the summary pts solve writes" in result.output
    assert "no summary.json" not in result.output
    (plan_dir / "summary.json").unlink()
    result = CliRunner().invoke(main, ["report", "--plan", str(plan_dir)])
    assert result.exit_code == ExitCode.BAD_INPUT
    assert "no summary.json with the plan's inputs" in result.output


def test_views_rebuild_after_the_inputs_change(tmp_path: Path) -> None:
    """With the inputs changed or deleted, report/runsheets/map/replan use the plan's own copies."""
    day = _day(tmp_path / "day")
    policy = tmp_path / "mine.toml"
    policy.write_text("[kpi]\nrenal_collect_target_pct = 42\n")
    plan_dir = tmp_path / "plan"
    assert _solve(plan_dir, day, "--config", str(policy))[0] == 0
    figures = report_figures(plan_dir)
    sheets = (plan_dir / "runsheets" / "all.html").read_bytes()
    assert figures["standards"]["renal_collect"]["target_pct"] == 42  # type: ignore[index]
    lines = (day / "bookings.csv").read_text().splitlines(keepends=True)
    (day / "bookings.csv").write_text(lines[0] + "".join(lines[1:3]))  # another day
    (day / "fleet.csv").unlink()
    policy.unlink()
    runner = CliRunner()
    for command in ("report", "runsheets", "map"):
        result = runner.invoke(main, [command, "--plan", str(plan_dir)])
        assert result.exit_code == 0, result.output
    assert report_figures(plan_dir) == figures
    assert (plan_dir / "runsheets" / "all.html").read_bytes() == sheets
    replanned = runner.invoke(main, ["replan", "--plan", str(plan_dir), "--now", "09:00",
                                     "--out", str(plan_dir), "--time-limit", "5"])
    assert replanned.exit_code == 0, replanned.output
    assert len((plan_dir / "bookings.csv").read_text().splitlines()) == len(lines)
    # In place: the new plan's inputs are its merged bookings and the old plan's copies.
    kept = tmp_path / "plan.previous" / "inputs"
    assert (plan_dir / "inputs" / "bookings.csv").read_bytes() == (
        plan_dir / "bookings.csv").read_bytes()
    assert (plan_dir / "inputs" / "fleet.csv").read_bytes() == (kept / "fleet.csv").read_bytes()
    assert load_config(plan_dir / "inputs" / "config.toml") == load_config(kept / "config.toml")


def test_an_older_folder_with_absolute_paths_still_reads(tmp_path: Path,
                                                         tiny_plan: Plan) -> None:
    """A plan folder whose summary.json names its inputs by absolute path rebuilds its report."""
    plan_dir = tmp_path / "plan"
    write_plan(tiny_plan, plan_dir)  # no inputs copied, as before
    summary = json.loads((plan_dir / "summary.json").read_text())
    summary["inputs"] = {"bookings": str(DAY / "bookings.csv"), "fleet": str(DAY / "fleet.csv"),
                         "sites": None, "config": None}
    (plan_dir / "summary.json").write_text(json.dumps(summary))
    (plan_dir / "report.html").unlink()
    result = CliRunner().invoke(main, ["report", "--plan", str(plan_dir)])
    assert result.exit_code == 0, result.output
    assert (plan_dir / "report.html").exists()


def _keys(tree: dict[str, object], prefix: str = "") -> set[str]:
    found: set[str] = set()
    for key, value in tree.items():
        found |= _keys(value, f"{prefix}{key}.") if isinstance(value, dict) else {prefix + key}
    return found


def test_policy_written_reads_back_equal(tmp_path: Path) -> None:
    """The written config.toml has every default key and reads back to an equal Config."""
    default = load_config()
    changed = replace(default, group_readable=True,
                      maps=MapPolicy('https://tiles.nhs.example/{z}/{x}/{y}.png?k="a\\b"',
                                     "© NHS – Derbyshire\ttiles", True),
                      travel=TravelPolicy("osrm", 1.25, 37.5, "http://127.0.0.1:5000", 2.5, 50))
    with default_config_path().open("rb") as handle:
        every_key = _keys(tomllib.load(handle))
    for config in (default, changed):
        text = planfolder.config_toml(config)
        assert _keys(tomllib.loads(text)) == every_key
        path = tmp_path / "config.toml"
        path.write_text(text, encoding="utf-8")
        assert load_config(path) == config


def test_maps_are_written_inside_the_plan_folder(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Solve and map draw maps in <plan>/maps, never ./maps; --maps adds a copy where asked."""
    monkeypatch.chdir(tmp_path)
    code, output = _solve("plan", DAY, "--maps", "copy")
    assert code == 0, output
    assert (tmp_path / "plan" / "maps" / "overview.html").exists()
    assert {p.name for p in (tmp_path / "copy").iterdir()} == {
        p.name for p in (tmp_path / "plan" / "maps").iterdir()}
    (tmp_path / "plan" / "maps" / "overview.html").unlink()
    result = CliRunner().invoke(main, ["map", "--plan", "plan"])
    assert result.exit_code == 0, result.output
    assert "plan/maps/overview.html" in result.output
    assert (tmp_path / "plan" / "maps" / "overview.html").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy", "plan"]
