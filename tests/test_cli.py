"""The `pts` command end to end: solve, exit codes, nothing written on bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from pts_optimiser.cli import main
from pts_optimiser.engine import solve as solve_module
from tests.helpers import rows

FIXTURES = Path(__file__).parent / "fixtures"
DAY = FIXTURES / "tiny_day"


def _args(out: Path) -> list[str]:
    return ["--bookings", str(DAY / "bookings.csv"), "--fleet", str(DAY / "fleet.csv"),
            "--out", str(out)]


def test_solve_writes_a_checked_plan(tmp_path: Path) -> None:
    """`pts solve` writes the three files, and `pts check` passes them."""
    runner = CliRunner()
    solved = runner.invoke(main, ["solve", *_args(tmp_path / "plan"), "--time-limit", "5",
                                  "--maps", str(tmp_path / "maps")])
    assert solved.exit_code == 0, solved.output
    assert "planned 6 of 7 journeys" in solved.output
    assert {p.name for p in (tmp_path / "plan").iterdir()} == {
        "rosters.csv", "unassigned.csv", "summary.json", "report.html", "plan.xlsx",
        "runsheets", "maps", "inputs", ".pts-plan"}
    assert {p.name for p in (tmp_path / "plan" / "inputs").iterdir()} == {
        "bookings.csv", "fleet.csv", "sites.csv", "config.toml"}
    # A run sheet for each shift the plan uses (which ones is the search's choice), and all.
    used = {r["vehicle_id"] for r in rows(tmp_path / "plan" / "rosters.csv")
            if r["event"] == "pickup"}
    assert used and used <= {"CAR1", "STR1", "WAV1"}
    assert {p.name for p in (tmp_path / "plan" / "runsheets").iterdir()} == {
        "all.html", *(f"{v}.html" for v in used)}
    checked = runner.invoke(main, ["check", *_args(tmp_path / "plan")])
    assert checked.exit_code == 0, checked.output


def test_bad_input_writes_nothing(tmp_path: Path) -> None:
    """Bad input exits 2 and leaves no plan folder behind."""
    result = CliRunner().invoke(main, [
        "solve", "--bookings", str(FIXTURES / "broken" / "bookings_unknown_mobility.csv"),
        "--fleet", str(DAY / "fleet.csv"), "--out", str(tmp_path / "plan")])
    assert result.exit_code == 2
    assert not (tmp_path / "plan").exists()


def test_a_policy_nested_too_deeply_is_bad_input(tmp_path: Path) -> None:
    """`pts solve --config` with valid TOML nested 1000 deep: exit 2 naming the file.

    Until the thirty-sixth stop the parser's RecursionError was an internal error (exit 1).
    """
    config = tmp_path / "deep.toml"
    config.write_text("a = " + "[" * 1000 + "]" * 1000)
    result = CliRunner().invoke(main, ["solve", *_args(tmp_path / "plan"), "--config",
                                       str(config)])
    assert result.exit_code == 2, result.output
    assert f"[bad_config] {config}: nested too deeply" in result.output
    assert "internal error" not in result.output
    assert not (tmp_path / "plan").exists()


def test_a_time_limit_too_short_to_search_writes_nothing(tmp_path: Path) -> None:
    """750 journeys at 5 s: the plan's writing leaves the search no time. Exit 2, named.

    Before, the day was built one journey at a time: 647 of 750 planned where a search
    plans 747, 18,500 km, exit 0.
    """
    from pts_optimiser.io.generate import write_day

    write_day(tmp_path / "day", seed=2, journeys=750, vehicles=87)
    day = tmp_path / "day"
    result = CliRunner().invoke(main, ["solve", "--bookings", str(day / "bookings.csv"),
                                       "--fleet", str(day / "fleet.csv"), "--out",
                                       str(tmp_path / "plan"), "--time-limit", "5"])
    assert result.exit_code == 2, result.output
    assert "--time-limit 5 s is too short to plan 750 journeys: give at least" in result.output
    assert not (tmp_path / "plan").exists()


@pytest.mark.parametrize(("args", "says"), [
    (["week", "--bookings", str(DAY / "bookings.csv"), "--fleet", str(DAY / "fleet.csv"),
      "--out", "OUT", "--workers", "2", "--scheduler", "tcp://10.0.0.5:8786"],
     "--workers plans days in local processes"),
    (["sweep", "--days", str(FIXTURES), "--fleets", str(DAY / "fleet.csv"), "--out", "OUT"],
     "has no bookings.csv"),
    (["check", "--fleet", str(DAY / "fleet.csv"), "--out", str(DAY)],
     "give --bookings and --fleet together"),
])
def test_usage_errors_found_in_a_command_are_usage_errors(args: list[str], says: str) -> None:
    """Exit 2 and click's own wording; before, each was an "internal error ... report it"."""
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert says in result.output and "internal error" not in result.output


def test_check_reads_the_plan_folders_own_inputs(tmp_path: Path) -> None:
    """`pts check --out DIR` alone checks the plan against the files it was planned from."""
    runner = CliRunner()
    assert runner.invoke(main, ["solve", *_args(tmp_path / "plan"), "--time-limit",
                                "5"]).exit_code == 0
    checked = runner.invoke(main, ["check", "--out", str(tmp_path / "plan")])
    assert checked.exit_code == 0, checked.output
    assert "0 violation(s)" in checked.output


def test_check_against_a_weeks_bookings_takes_the_plan_folders_day(tmp_path: Path) -> None:
    """A week's bookings file against one day's plan: that day, not "plan one at a time"."""
    week = FIXTURES / "tiny_week"
    files = ["--bookings", str(week / "bookings.csv"), "--fleet", str(week / "fleet.csv")]
    runner = CliRunner()
    solved = runner.invoke(main, ["solve", *files, "--date", "2026-12-01", "--out",
                                  str(tmp_path / "plan"), "--time-limit", "5"])
    assert solved.exit_code in (0, 5), solved.output
    checked = runner.invoke(main, ["check", *files, "--out", str(tmp_path / "plan")])
    assert checked.exit_code == 0, checked.output
    assert "0 violation(s)" in checked.output
    other = runner.invoke(main, ["check", *files, "--date", "2026-12-02", "--out",
                                 str(tmp_path / "plan")])
    assert other.exit_code == 3, other.output  # --date still says which day is meant


def test_internal_error_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unexpected failure exits 1 with a short message and writes nothing."""
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom: 'Mabel Secretname'")  # as a cell's text may be quoted

    monkeypatch.setattr(solve_module, "solve", broken)
    result = CliRunner().invoke(main, ["solve", *_args(tmp_path / "plan"), "--maps",
                                       str(tmp_path / "maps")])
    assert result.exit_code == 1
    # Its kind and where, not its text: stderr goes to the nightly's log (until the
    # thirty-seventh stop the text was printed).
    assert "internal error: RuntimeError at cli.py:" in result.output
    assert "Secretname" not in result.output and "boom" not in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "plan").exists()


def test_generated_day_conserves_every_booking(tmp_path: Path) -> None:
    """On a generated 150-journey day every booking is planned once or unassigned, legally."""
    runner = CliRunner()
    day = tmp_path / "day"
    assert runner.invoke(main, ["generate", "--seed", "4", "--journeys", "150", "--vehicles",
                                "17", "--out", str(day)]).exit_code == 0
    args = ["--bookings", str(day / "bookings.csv"), "--fleet", str(day / "fleet.csv"),
            "--out", str(tmp_path / "plan")]
    solved = runner.invoke(main, ["solve", *args, "--time-limit", "10", "--maps",
                                  str(tmp_path / "maps")])
    # 0, or 5 when a busy machine left the plan below the alert share: written either way.
    assert solved.exit_code in (0, 5), solved.output
    checked = runner.invoke(main, ["check", *args])
    assert checked.exit_code == 0, checked.output
    assert "0 violation(s)" in checked.output


def test_ctrl_c_is_a_stop_not_a_fault(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C: exit 130 and one line, not exit 1, which tells a script it was a fault of ours."""
    from pts_optimiser import cli

    def stopped(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "read_problem", stopped)
    result = CliRunner().invoke(main, ["validate", "--bookings", "b.csv", "--fleet", "f.csv"])
    assert result.exit_code == 130, result.output
    assert "stopped (Ctrl-C) before it finished" in result.output


def test_sigterm_is_a_stop_not_a_kill(monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGTERM: exit 143 and one line, as Ctrl-C; the handler is undone after the command."""
    import os
    import signal

    from pts_optimiser import cli

    def terminated(*_args: object, **_kwargs: object) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("SIGTERM did not stop the command")

    monkeypatch.setattr(cli, "read_problem", terminated)
    before = signal.getsignal(signal.SIGTERM)
    result = CliRunner().invoke(main, ["validate", "--bookings", "b.csv", "--fleet", "f.csv"])
    assert result.exit_code == 143, result.output
    assert "stopped (SIGTERM) before it finished" in result.output
    assert signal.getsignal(signal.SIGTERM) is before
