"""The nightly run: exit codes, the lock, the log, and a last good plan that survives a kill."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from pts_optimiser import solve as solve_module
from pts_optimiser.cli import main
from pts_optimiser.generate import write_day
from pts_optimiser.nightly import LOCK_NAME, LOG_NAME

FIXTURES = Path(__file__).parent / "fixtures"
DATE = "2026-12-01"


def _inbox(tmp_path: Path, drop_j7: bool = False) -> Path:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(FIXTURES / "tiny_day" / "fleet.csv", inbox / "fleet.csv")
    lines = (FIXTURES / "tiny_day" / "bookings.csv").read_text().splitlines(keepends=True)
    if drop_j7:  # J7 needs a bariatric stretcher no vehicle has
        lines = [line for line in lines if not line.startswith("J7,")]
    (inbox / "bookings.csv").write_text("".join(lines))
    return inbox


def _night(inbox: Path, outbox: Path, *extra: str) -> int:
    result = CliRunner().invoke(main, ["nightly", "--inbox", str(inbox), "--outbox",
                                       str(outbox), "--date", DATE, "--time-limit", "5",
                                       *extra])
    return result.exit_code


def _log(outbox: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (outbox / LOG_NAME).read_text().splitlines()]


def test_all_planned_exits_0(tmp_path: Path) -> None:
    """Every journey planned: exit 0, the plan in outbox/<date>, a JSON log of the night."""
    outbox = tmp_path / "outbox"
    assert _night(_inbox(tmp_path, drop_j7=True), outbox) == 0
    assert (outbox / DATE / "rosters.csv").exists()
    assert (outbox / DATE / "maps" / "overview.html").exists()
    events = [e["event"] for e in _log(outbox)]
    assert events[0] == "start" and "validation" in events and events[-1] == "result"


def test_unassigned_exits_3(tmp_path: Path) -> None:
    """A journey left unassigned: exit 3, still a plan."""
    outbox = tmp_path / "outbox"
    assert _night(_inbox(tmp_path), outbox) == 3
    assert "J7" in (outbox / DATE / "unassigned.csv").read_text()
    assert _log(outbox)[-1]["unassigned"] == 1


def test_bad_input_exits_2_and_keeps_last_good_plan(tmp_path: Path) -> None:
    """Bad input: exit 2, errors located in the log, the previous plan untouched."""
    inbox, outbox = _inbox(tmp_path), tmp_path / "outbox"
    assert _night(inbox, outbox) == 3
    before = (outbox / DATE / "rosters.csv").read_bytes()
    shutil.copy(FIXTURES / "broken" / "bookings_unknown_purpose.csv", inbox / "bookings.csv")
    assert _night(inbox, outbox) == 2
    assert (outbox / DATE / "rosters.csv").read_bytes() == before
    validation = [e for e in _log(outbox) if e["event"] == "validation"][-1]
    assert validation["ok"] is False
    assert validation["first"] == [{"file": "bookings.csv", "row": 4, "column": "purpose",
                                    "code": "unknown_purpose"}]


def test_second_night_keeps_the_previous_plan(tmp_path: Path) -> None:
    """A new plan replaces the old one, which is kept as <date>.previous."""
    inbox, outbox = _inbox(tmp_path), tmp_path / "outbox"
    assert _night(inbox, outbox) == 3
    first = (outbox / DATE / "summary.json").read_bytes()
    assert _night(inbox, outbox) == 3
    assert (outbox / f"{DATE}.previous" / "summary.json").read_bytes() == first


def test_locked_exits_4(tmp_path: Path) -> None:
    """While another run holds the lock, a run refuses at once with exit 4."""
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    with (outbox / LOCK_NAME).open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        started = time.monotonic()
        assert _night(_inbox(tmp_path), outbox) == 4
        assert time.monotonic() - started < 5
    assert not (outbox / DATE).exists()
    assert _log(outbox)[-1]["event"] == "refused"


def test_internal_error_exits_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unexpected failure: exit 1, the log says so, nothing half-written."""
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(solve_module, "solve", broken)
    outbox = tmp_path / "outbox"
    assert _night(_inbox(tmp_path), outbox) == 1
    assert _log(outbox)[-1]["error"] == "RuntimeError"
    assert not (outbox / DATE).exists()


def test_bad_date_exits_2(tmp_path: Path) -> None:
    """A --date that is not a date is bad input."""
    outbox = tmp_path / "outbox"
    result = CliRunner().invoke(main, ["nightly", "--inbox", str(_inbox(tmp_path)), "--outbox",
                                       str(outbox), "--date", "01/12/2026"])
    assert result.exit_code == 2


def test_log_has_no_labels_or_addresses(tmp_path: Path) -> None:
    """The log carries ids and counts: no place labels, no coordinates."""
    outbox = tmp_path / "outbox"
    _night(_inbox(tmp_path), outbox)
    text = (outbox / LOG_NAME).read_text()
    assert "Home" not in text and "52.9" not in text and "Royal Derby" not in text


def test_kill_mid_solve_keeps_last_good_plan(tmp_path: Path) -> None:
    """SIGKILL during the search leaves yesterday's plan intact and no half plan in its place."""
    inbox = tmp_path / "inbox"
    write_day(inbox, seed=5, journeys=300, vehicles=35, service_date=DATE)
    outbox = tmp_path / "outbox"
    good = outbox / DATE
    good.mkdir(parents=True)
    (good / "rosters.csv").write_text("the last good plan\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "pts_optimiser", "nightly", "--inbox", str(inbox), "--outbox",
         str(outbox), "--date", DATE, "--time-limit", "120"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until it is planning
        log = outbox / LOG_NAME
        if log.exists() and '"validation"' in log.read_text():
            break
        time.sleep(0.2)
    time.sleep(2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert (good / "rosters.csv").read_text() == "the last good plan\n"
    assert sorted(p.name for p in outbox.iterdir() if not p.name.startswith(".")) == [
        DATE, LOG_NAME]
