"""The nightly run: exit codes, the lock, the log, and a last good plan that survives a kill.

Also the CLI's guard, which the nightly command shares: disk full, read-only and refused
outputs, and inputs that are folders, are one line on stderr with their exit code.
"""

from __future__ import annotations

import errno
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from pts_optimiser.cli import main
from pts_optimiser.domain.config import Config, load_config
from pts_optimiser.domain.exits import PlanRejectedError
from pts_optimiser.engine import solve as solve_module
from pts_optimiser.io.generate import write_day
from pts_optimiser.services import nightly as nightly_module
from pts_optimiser.services import publish as publish_module
from pts_optimiser.services.nightly import LOCK_NAME, LOG_NAME
from pts_optimiser.views import writers as writers_module
from tests.helpers import FIXTURES, booking, vehicle
from tests.helpers import write_day as write_rows

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


def _run(inbox: Path, outbox: Path, *extra: str, date: str = DATE) -> Result:
    return CliRunner().invoke(main, ["nightly", "--inbox", str(inbox), "--outbox",
                                     str(outbox), "--date", date, "--time-limit", "5", *extra])


def _night(inbox: Path, outbox: Path, *extra: str) -> int:
    return _run(inbox, outbox, *extra).exit_code


def _last_line(result: Result) -> str:
    """The outcome line: the last line on stderr."""
    return result.stderr.strip().splitlines()[-1]


def _log(outbox: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (outbox / LOG_NAME).read_text().splitlines()]


def test_all_planned_exits_0(tmp_path: Path) -> None:
    """Every journey planned: exit 0, the plan in outbox/<date>, a JSON log, one stderr line."""
    outbox = tmp_path / "outbox"
    result = _run(_inbox(tmp_path, drop_j7=True), outbox)
    assert result.exit_code == 0, result.output
    assert (outbox / DATE / "rosters.csv").exists()
    assert (outbox / DATE / "maps" / "overview.html").exists()
    events = [e["event"] for e in _log(outbox)]
    assert events[0] == "start" and "validation" in events and events[-1] == "result"
    assert result.stderr.count("\n") == 1
    # The outbox and its log are the plan's: private, as every file of it
    assert _mode(outbox) == 0o700 and _mode(outbox / LOG_NAME) == 0o600
    assert _last_line(result) == (f"nightly {DATE}: planned 6 of 6 servable journeys (6 booked; "
                                  f"0 unassigned, each with its reason) -> {outbox / DATE} "
                                  "[exit 0]")


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_outbox_readable_by_the_group_when_the_policy_says_so(tmp_path: Path) -> None:
    """`[output] group_readable` in the inbox's policy: a new outbox 0750, its log 0640."""
    inbox, outbox = _inbox(tmp_path), tmp_path / "outbox"
    (inbox / "config.toml").write_text("[output]\ngroup_readable = true\n")
    assert _run(inbox, outbox, date="2026-12-09").exit_code == 2  # no bookings that day
    assert _mode(outbox) == 0o750 and _mode(outbox / LOG_NAME) == 0o640


def test_the_inbox_policy_is_read_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The outbox's modes and the plan follow one reading of the inbox's policy."""
    inbox, outbox = _inbox(tmp_path), tmp_path / "outbox"
    (inbox / "config.toml").write_text("[output]\ngroup_readable = true\n")
    read: list[Path | None] = []
    real = load_config

    def counted(path: Path | None = None) -> Config:
        read.append(path)
        return real(path)

    monkeypatch.setattr(nightly_module, "load_config", counted)
    assert _night(inbox, outbox) == 0
    assert read == [inbox / "config.toml"]
    assert _mode(outbox) == 0o750 and _mode(outbox / DATE) == 0o750
    assert "group_readable = true" in (outbox / DATE / "inputs" / "config.toml").read_text()


def test_unassigned_with_reasons_exits_0(tmp_path: Path) -> None:
    """A journey no vehicle can carry is listed with its reason: still a plan, exit 0."""
    outbox = tmp_path / "outbox"
    result = _run(_inbox(tmp_path), outbox)
    assert result.exit_code == 0, result.output
    assert "J7" in (outbox / DATE / "unassigned.csv").read_text()
    assert _log(outbox)[-1]["unassigned"] == 1
    assert "planned 6 of 6 servable journeys (7 booked; 1 unassigned" in _last_line(result)


def _low_service_inbox(tmp_path: Path) -> Path:
    """One car, two 10:00 appointments 50 km apart: each servable alone, not both."""
    inbox = tmp_path / "inbox"
    write_rows(inbox, [booking("JB", pickup_lat=53.26, pickup_lon=-1.90, dropoff_site="CRH"),
                       booking("JD", pickup_lat=52.93, pickup_lon=-1.49, dropoff_site="RDH")],
               [vehicle("CAR1", shift_start="07:00", shift_end="14:00")])
    return inbox


def test_a_time_limit_too_short_to_search_still_plans_and_says_what_to_set(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unattended, a plan built one journey at a time beats none; stderr names the least.

    (A search needing 100 s stands in for a 750-journey day at 5 s, where the one at a time
    plan carries 647 of 750 journeys against a search's 747.)
    """
    from pts_optimiser.engine import strategies

    monkeypatch.setattr(strategies, "least_start_s", lambda journeys, shifts: 100.0)
    monkeypatch.setattr(solve_module, "least_search_s", lambda data: 100.0)
    outbox = tmp_path / "outbox"
    result = _run(_inbox(tmp_path, drop_j7=True), outbox)
    assert result.exit_code in (0, 5), result.output
    assert re.search(r"warning: --time-limit 5 s left the search no time to start on \d+ "
                     r"journeys; the simple one-journey-at-a-time plan is written; give at "
                     r"least 10\d s", result.stderr), result.stderr
    fallback = [e for e in _log(outbox) if e["event"] == "fallback"]
    assert fallback and fallback[0]["reason"] == "the time limit left the search no time to start"
    assert (outbox / DATE / "rosters.csv").exists()


def test_low_service_exits_5_with_an_alert(tmp_path: Path) -> None:
    """Half the servable journeys planned (under the 85% alert share): written, exit 5, alert."""
    outbox = tmp_path / "outbox"
    result = _run(_low_service_inbox(tmp_path), outbox)
    assert result.exit_code == 5, result.output
    assert (outbox / DATE / "rosters.csv").exists()
    assert "ALERT: low service: planned 1 of 2 servable journeys" in _last_line(result)
    assert "50% is below the alert share 85%" in _last_line(result)
    alert = next(e for e in _log(outbox) if e["event"] == "alert")
    assert alert["planned"] == 1 and alert["servable"] == 2
    assert _log(outbox)[-1]["exit_code"] == 5


def test_bad_input_exits_2_and_keeps_last_good_plan(tmp_path: Path) -> None:
    """Bad input: exit 2, findings located on stderr and in the log, the previous plan kept."""
    inbox, outbox = _inbox(tmp_path), tmp_path / "outbox"
    assert _night(inbox, outbox) == 0
    before = (outbox / DATE / "rosters.csv").read_bytes()
    shutil.copy(FIXTURES / "broken" / "bookings_unknown_purpose.csv", inbox / "bookings.csv")
    result = _run(inbox, outbox)
    assert result.exit_code == 2
    assert (outbox / DATE / "rosters.csv").read_bytes() == before
    validation = [e for e in _log(outbox) if e["event"] == "validation"][-1]
    assert validation["ok"] is False
    assert validation["first"] == [{"file": "bookings.csv", "row": 4, "column": "purpose",
                                    "code": "unknown_purpose"}]
    assert "bookings.csv row 4, column purpose" in result.stderr
    assert _last_line(result) == (f"nightly {DATE}: bad input in {inbox}: 1 error(s), listed "
                                  "above; the last good plan is kept [exit 2]")


def test_no_bookings_for_the_date_exits_2(tmp_path: Path) -> None:
    """An inbox with no bookings for the date is bad input: exit 2, no empty plan swapped in."""
    inbox, outbox = _inbox(tmp_path), tmp_path / "outbox"
    assert _night(inbox, outbox) == 0
    before = (outbox / DATE / "rosters.csv").read_bytes()
    lines = (inbox / "bookings.csv").read_text().replace(DATE, "2026-11-30")
    (inbox / "bookings.csv").write_text(lines)
    result = _run(inbox, outbox)
    assert result.exit_code == 2, result.output
    assert f"no bookings for {DATE}" in _last_line(result)
    assert (outbox / DATE / "rosters.csv").read_bytes() == before
    assert not (outbox / f"{DATE}.previous").exists()
    assert _log(outbox)[-1]["exit_code"] == 2


def test_plan_failing_its_check_exits_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A plan the writer rejects (PlanRejectedError): exit 3, its lines on stderr, old plan kept."""
    inbox, outbox = _inbox(tmp_path), tmp_path / "outbox"
    assert _night(inbox, outbox) == 0
    before = (outbox / DATE / "rosters.csv").read_bytes()

    def rejecting(*args: object, **kwargs: object) -> None:
        raise PlanRejectedError("the plan broke 1 rule and was not put in place",
                                ["[ride_time] vehicle CAR1, journey J1: 95 min on board"])

    monkeypatch.setattr(publish_module, "write_plan", rejecting)
    result = _run(inbox, outbox)
    assert result.exit_code == 3, result.output
    assert "  [ride_time] vehicle CAR1, journey J1" in result.stderr
    assert _last_line(result) == (f"nightly {DATE}: the plan broke 1 rule and was not put in "
                                  "place; the last good plan is kept [exit 3]")
    assert (outbox / DATE / "rosters.csv").read_bytes() == before
    assert _log(outbox)[-1]["exit_code"] == 3


def test_second_night_keeps_the_previous_plan(tmp_path: Path) -> None:
    """A new plan replaces the old one, which is kept as <date>.previous."""
    inbox, outbox = _inbox(tmp_path), tmp_path / "outbox"
    assert _night(inbox, outbox) == 0
    first = (outbox / DATE / "summary.json").read_bytes()
    assert _night(inbox, outbox) == 0
    assert (outbox / f"{DATE}.previous" / "summary.json").read_bytes() == first


def test_an_inbox_replaced_while_planning_does_not_change_the_plan_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bookings replaced mid-run: the plan folder records those it was planned from.

    Before, the folder copied the new file at the end: a booking it never planned was in
    its inputs, and `pts check` on the folder failed (`not_planned`). The late booking
    waits in the inbox for the next run.
    """
    inbox, outbox = _inbox(tmp_path), tmp_path / "outbox"
    planned_from = (inbox / "bookings.csv").read_bytes()
    real = solve_module.solve

    def replaced_midway(*args: Any, **kwargs: Any) -> Any:
        plan = real(*args, **kwargs)
        late = planned_from.decode().splitlines()[1].replace("J1,P1,", "J99,P99,", 1)
        (inbox / "bookings.csv").write_bytes(planned_from + f"{late}\n".encode())
        return plan

    monkeypatch.setattr(solve_module, "solve", replaced_midway)
    assert _night(inbox, outbox) == 0
    folder = outbox / DATE
    assert (folder / "inputs" / "bookings.csv").read_bytes() == planned_from
    checked = CliRunner().invoke(main, [
        "check", "--bookings", str(folder / "inputs" / "bookings.csv"),
        "--fleet", str(folder / "inputs" / "fleet.csv"),
        "--sites", str(folder / "inputs" / "sites.csv"),
        "--config", str(folder / "inputs" / "config.toml"), "--out", str(folder)])
    assert checked.exit_code == 0, checked.output
    assert b"J99,P99," in (inbox / "bookings.csv").read_bytes()


@contextmanager
def _held_lock(outbox: Path) -> Iterator[int]:
    """The outbox lock held by another process (POSIX locks are per process); its pid."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR | "
         "os.O_CREAT); fcntl.lockf(fd, fcntl.LOCK_EX); os.write(fd, b'%d' % os.getpid()); "
         "print('held', flush=True); sys.stdin.read()", str(outbox / LOCK_NAME)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        yield holder.pid
    finally:
        holder.kill()
        holder.wait()


def test_locked_exits_4(tmp_path: Path) -> None:
    """While another run holds the lock, a run refuses at once with exit 4 and names it."""
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    with _held_lock(outbox) as pid:
        started = time.monotonic()
        result = _run(_inbox(tmp_path), outbox)
        assert result.exit_code == 4
        assert time.monotonic() - started < 5
    assert not (outbox / DATE).exists()
    assert _log(outbox)[-1]["event"] == "refused"
    assert _last_line(result) == (f"nightly {DATE}: another nightly run (pid {pid}) holds "
                                  f"{outbox / LOCK_NAME}; nothing done [exit 4]")


def test_internal_error_exits_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fault of ours: exit 1, traceback on stderr; the log names class and place, no cell."""
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("cell 'Flat 3, Acacia Avenue' is odd")

    monkeypatch.setattr(solve_module, "solve", broken)
    outbox = tmp_path / "outbox"
    result = _run(_inbox(tmp_path), outbox)
    assert result.exit_code == 1
    result_event = _log(outbox)[-1]
    assert result_event["error"] == "RuntimeError"
    assert str(result_event["where"]).startswith("nightly.py:")
    assert "Acacia" not in (outbox / LOG_NAME).read_text()
    assert "Traceback" in result.stderr and "Acacia" in result.stderr
    assert _last_line(result).startswith(f"nightly {DATE}: internal error RuntimeError at "
                                         "nightly.py:")
    assert not (outbox / DATE).exists()


@pytest.mark.parametrize("given", ["01/12/2026", "20261201", "2026-W49-2", "2026-02-30"])
def test_bad_date_exits_2(tmp_path: Path, given: str) -> None:
    """--date takes only an ISO calendar date, YYYY-MM-DD; anything else is bad usage."""
    outbox = tmp_path / "outbox"
    result = CliRunner().invoke(main, ["nightly", "--inbox", str(_inbox(tmp_path)), "--outbox",
                                       str(outbox), "--date", given])
    assert result.exit_code == 2
    assert _last_line(result).startswith(f"nightly {given!r}: bad input: --date ")
    assert _last_line(result).endswith("[exit 2]")  # the outcome line, not click's usage
    assert not outbox.exists()


def test_config_folder_in_inbox_exits_2(tmp_path: Path) -> None:
    """An inbox config.toml that is a folder: bad input in one line, exit 2, no traceback."""
    inbox = _inbox(tmp_path)
    (inbox / "config.toml").mkdir()
    result = _run(inbox, tmp_path / "outbox")
    assert result.exit_code == 2, result.output
    assert _last_line(result) == (
        f"nightly {DATE}: bad input: cannot read {inbox / 'config.toml'}: Is a directory "
        "(EISDIR); the last good plan is kept [exit 2]")
    assert "Traceback" not in result.stderr


def test_credentials_never_reach_the_log_or_the_plan(tmp_path: Path) -> None:
    """An OSRM URL with user:password: the night falls back, and no file or line holds it."""
    inbox, outbox = _inbox(tmp_path), tmp_path / "outbox"
    secret = "n1ght-Pa55word"
    (inbox / "config.toml").write_text(
        f'[travel]\nprovider = "osrm"\nosrm_url = "http://pts:{secret}@127.0.0.1:9/'
        '?token=tok-98765"\nosrm_timeout_s = 1.0\n')
    result = _run(inbox, outbox)
    assert result.exit_code == 0, result.output
    assert "warning: OSRM at http://***@127.0.0.1:9/?token=*** failed" in result.stderr
    warning = next(e for e in _log(outbox) if e["event"] == "warning")
    assert "travel estimated from coordinates" in str(warning["message"])
    for text in (result.output, result.stderr):
        assert secret not in text and "tok-98765" not in text
    for path in outbox.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert secret.encode() not in content and b"tok-98765" not in content, path


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


def _children(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def test_orphaned_searches_do_not_hold_the_lock(tmp_path: Path) -> None:
    """A night run killed (-9) mid-search, its searches left alive: the next night runs."""
    inbox = tmp_path / "inbox"
    write_day(inbox, seed=3, journeys=120, vehicles=14, service_date=DATE)
    outbox = tmp_path / "outbox"
    process = subprocess.Popen(
        [sys.executable, "-m", "pts_optimiser", "nightly", "--inbox", str(inbox), "--outbox",
         str(outbox), "--date", DATE, "--time-limit", "120"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _children(process.pid):
            time.sleep(0.2)  # until it searches, in processes of its own
        assert _children(process.pid), "the night run never started its searches"
        process.kill()  # the run alone: its searches are left as they are
        process.wait()
        result = _run(inbox, outbox)
        assert result.exit_code in (0, 5), result.output
        assert _log(outbox)[-1]["event"] == "result"
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # the orphans, if they outlived it


@contextmanager
def _mounted(target: Path, *commands: list[str]) -> Iterator[Path]:
    """`target` with the given mount commands applied (root only), unmounted afterwards."""
    target.mkdir(parents=True, exist_ok=True)
    mounted = 0
    try:
        for command in commands:
            done = subprocess.run([*command, str(target)], capture_output=True, text=True)
            if done.returncode != 0:
                pytest.skip(f"cannot mount here: {done.stderr.strip()}")
            mounted += command[1] != "-o"
        yield target
    finally:
        for _ in range(mounted):
            subprocess.run(["umount", str(target)], capture_output=True)


def _read_only(source: Path, target: Path) -> AbstractContextManager[Path]:
    source.mkdir(parents=True, exist_ok=True)
    return _mounted(target, ["mount", "--bind", str(source)],
                    ["mount", "-o", "remount,bind,ro"])


def _fill(folder: Path, leave_bytes: int) -> None:
    """Fill a file system until only about `leave_bytes` are free."""
    free = shutil.disk_usage(folder).free - leave_bytes
    with (folder / "filler").open("wb") as handle:
        try:
            while free > 0:
                handle.write(b"\0" * min(free, 1 << 16))
                free -= 1 << 16
        except OSError:
            pass


def test_read_only_outbox_exits_6(tmp_path: Path) -> None:
    """An outbox on a read-only file system: one line on stderr, exit 6, no traceback."""
    with _read_only(tmp_path / "source", tmp_path / "outbox") as outbox:
        result = _run(_inbox(tmp_path), outbox)
    assert result.exit_code == 6, result.output
    assert result.stderr.strip() == (
        f"nightly {DATE}: cannot write the outbox: {outbox / LOG_NAME}: Read-only file system "
        "(EROFS); nothing done [exit 6]")


def test_full_outbox_exits_6_and_keeps_last_good_plan(tmp_path: Path) -> None:
    """A full disk while the plan is written: exit 6 in one line, the last good plan intact."""
    outbox = tmp_path / "outbox"
    with _mounted(outbox, ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs"]):
        (outbox / DATE).mkdir()
        (outbox / DATE / "rosters.csv").write_text("the last good plan\n")
        (outbox / DATE / "summary.json").write_text("{}\n")  # a plan folder of ours
        _fill(outbox, 64 * 1024)
        result = _run(_inbox(tmp_path), outbox)
        assert result.exit_code == 6, result.output
        line = _last_line(result)
        assert "cannot write" in line and "No space left on device" in line
        assert line.endswith("the last good plan is kept [exit 6]")
        assert "Traceback" not in result.stderr
        assert (outbox / DATE / "rosters.csv").read_text() == "the last good plan\n"
        assert sorted(p.name for p in outbox.iterdir()) == [
            ".nightly.lock", DATE, "filler", LOG_NAME]


# The CLI's guard ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def plan_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny day planned by `pts solve`, as a folder the view commands can rebuild."""
    work = tmp_path_factory.mktemp("guard")
    result = CliRunner().invoke(main, [
        "solve", "--bookings", str(FIXTURES / "tiny_day" / "bookings.csv"),
        "--fleet", str(FIXTURES / "tiny_day" / "fleet.csv"), "--out", str(work / "plan"),
        "--maps", str(work / "maps"), "--time-limit", "5"])
    assert result.exit_code == 0, result.output
    return work / "plan"


def _one_error_line(result: Result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


def test_guard_disk_full_exits_6(plan_folder: Path, tmp_path: Path) -> None:
    """`pts report` onto a full disk (ENOSPC): one line naming the file, exit 6."""
    with _mounted(tmp_path / "full", ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs"]) as disk:
        shutil.copytree(plan_folder, disk / "plan")
        (disk / "plan" / "report.html").unlink()
        _fill(disk, 0)
        result = CliRunner().invoke(main, ["report", "--plan", str(disk / "plan")])
        assert result.exit_code == 6, result.output
        line = _one_error_line(result)
    assert line.startswith("error: cannot write ") and "(ENOSPC)" in line


def test_guard_read_only_exits_6(plan_folder: Path, tmp_path: Path) -> None:
    """`pts runsheets` into a folder on a read-only file system (EROFS): one line, exit 6."""
    shutil.copytree(plan_folder, tmp_path / "source" / "plan")
    with _read_only(tmp_path / "source", tmp_path / "ro") as read_only:
        result = CliRunner().invoke(main, ["runsheets", "--plan", str(read_only / "plan")])
    assert result.exit_code == 6, result.output
    assert "Read-only file system (EROFS)" in _one_error_line(result)


def test_guard_permission_denied_exits_6(plan_folder: Path, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A refused output (EACCES; root ignores modes, so the write is made to refuse): exit 6."""
    def refused(path: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(writers_module, "write_text", refused)
    shutil.copytree(plan_folder, tmp_path / "plan")
    result = CliRunner().invoke(main, ["report", "--plan", str(tmp_path / "plan")])
    assert result.exit_code == 6, result.output
    assert _one_error_line(result) == (
        f"error: cannot write {tmp_path / 'plan' / 'report.html'}: Permission denied (EACCES). "
        "Nothing half-written is left; free space or choose a writable folder, then run again.")


def test_guard_config_that_is_a_folder_exits_2(plan_folder: Path, tmp_path: Path) -> None:
    """A recorded config.toml that is a folder is a bad input in one line (was exit 1)."""
    shutil.copytree(plan_folder, tmp_path / "plan")
    (tmp_path / "config.toml").mkdir()
    summary_path = tmp_path / "plan" / "summary.json"
    summary = json.loads(summary_path.read_text())
    summary["inputs"]["config"] = str(tmp_path / "config.toml")
    summary_path.write_text(json.dumps(summary))
    result = CliRunner().invoke(main, ["report", "--plan", str(tmp_path / "plan")])
    assert result.exit_code == 2, result.output
    assert _one_error_line(result) == (
        f"error: cannot read {tmp_path / 'config.toml'}: Is a directory (EISDIR); it is a "
        "folder: give the file.")


def test_a_fleet_that_can_carry_nobody_is_an_alert(tmp_path: Path) -> None:
    """Shifts over before any journey: every journey listed with its reason, exit 5, alert.

    Before, nothing servable read as a full plan (share 1.0): exit 0, no alert, and the
    empty plan took the last good one's place without a word.
    """
    inbox, outbox = _inbox(tmp_path, drop_j7=True), tmp_path / "outbox"
    fleet = (inbox / "fleet.csv").read_text().replace("07:00", "01:00").replace(
        "12:00", "02:00").replace("16:00", "02:00").replace("18:00", "02:00")
    (inbox / "fleet.csv").write_text(fleet)
    result = _run(inbox, outbox)
    assert result.exit_code == 5, result.output
    assert "ALERT: low service: planned 0 of 0 servable journeys" in _last_line(result)
    assert any(e["event"] == "alert" for e in _log(outbox))


def test_the_outbox_follows_the_policy_whatever_the_umask(tmp_path: Path) -> None:
    """Under the service's UMask=0077 a group-readable policy still gives 0750 and 0640."""
    inbox, outbox = _inbox(tmp_path), tmp_path / "deep" / "outbox"
    (inbox / "config.toml").write_text("[output]\ngroup_readable = true\n")
    old = os.umask(0o077)
    try:
        assert _run(inbox, outbox).exit_code == 0
    finally:
        os.umask(old)
    assert _mode(outbox) == _mode(outbox.parent) == 0o750
    assert _mode(outbox / LOG_NAME) == 0o640 and _mode(outbox / DATE) == 0o750


def test_links_in_the_outbox_are_not_followed(tmp_path: Path) -> None:
    """A lock or log that is a link is refused (exit 6): the file it points at is untouched.

    Before, the lock file's target was emptied and the log appended to the link's target.
    """
    inbox = _inbox(tmp_path)
    for name in (LOCK_NAME, LOG_NAME):
        outbox = tmp_path / f"outbox-{name.strip('.')}"
        outbox.mkdir()
        victim = tmp_path / f"victim-{name.strip('.')}"
        victim.write_text("IMPORTANT\n")
        (outbox / name).symlink_to(victim)
        result = _run(inbox, outbox)
        assert result.exit_code == 6, result.output
        assert "cannot write the outbox" in _last_line(result)
        assert victim.read_text() == "IMPORTANT\n"
        assert not (outbox / DATE).exists()


def test_an_inbox_file_that_is_a_broken_link_is_bad_input(tmp_path: Path) -> None:
    """A policy given as a link that leads nowhere: exit 2, not the default policy unsaid."""
    inbox, outbox = _inbox(tmp_path), tmp_path / "outbox"
    (inbox / "config.toml").symlink_to(tmp_path / "nowhere" / "config.toml")
    result = _run(inbox, outbox)
    assert result.exit_code == 2, result.output
    assert not (outbox / DATE).exists()


def test_a_log_the_disk_refuses_does_not_change_how_the_night_ended(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The plan written, the log full: exit 0 and one outcome line, as the log promises.

    Before, closing the log flushed it again: exit 6 ("nothing half-written") after the
    new plan had been put in place, and a second, contradicting line on stderr.
    """
    real = os.fdopen

    class Full(io.TextIOWrapper):
        def flush(self) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

    def full(fd: int, *args: Any, **kwargs: Any) -> Any:
        if args and args[0] == "a":
            return Full(real(fd, "ab"), encoding="utf-8")
        return real(fd, *args, **kwargs)

    monkeypatch.setattr(os, "fdopen", full)
    inbox, outbox = _inbox(tmp_path, drop_j7=True), tmp_path / "outbox"
    result = _run(inbox, outbox)
    assert result.exit_code == 0, result.output
    assert (outbox / DATE / "rosters.csv").exists()
    assert [line for line in result.stderr.splitlines() if line.startswith("nightly ")
            or line.startswith("error")] == [_last_line(result)]


@pytest.mark.parametrize(("given", "said"), [
    ("2", "--time-limit 2 s: give the seconds for the whole run, 5 to 86400"),
    ("nan", "--time-limit is not a number: give"),
    ("ten", "--time-limit is not a number: give"),
    ("1e9", "--time-limit 1e+09 s: give")])
def test_bad_time_limit_is_the_nights_outcome_and_logged(tmp_path: Path, given: str,
                                                          said: str) -> None:
    """An out-of-range --time-limit: the night's own line and a logged result, not usage."""
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    result = CliRunner().invoke(main, ["nightly", "--inbox", str(_inbox(tmp_path)), "--outbox",
                                       str(outbox), "--date", DATE, "--time-limit", given])
    assert result.exit_code == 2, result.output
    assert _last_line(result).startswith(f"nightly {DATE}: bad input: {said}")
    assert _last_line(result).endswith("nothing done [exit 2]")
    event = _log(outbox)[-1]
    # `refused`, not `result`: it holds no lock, and a night running now has not ended.
    assert event["event"] == "refused" and event["exit_code"] == 2
    assert said in str(event["reason"])
    assert [p.name for p in outbox.iterdir()] == [LOG_NAME]


def test_bad_date_is_logged_where_the_outbox_is(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    result = CliRunner().invoke(main, ["nightly", "--inbox", str(_inbox(tmp_path)), "--outbox",
                                       str(outbox), "--date", "2026-02-30"])
    assert result.exit_code == 2
    assert str(_log(outbox)[-1]["reason"]).startswith("bad input: --date ")


@pytest.mark.parametrize("given", ["", "2026-12-01\nnightly 2026-12-01: planned [exit 0]",
                                   "9" * 3000])
def test_a_date_that_is_no_date_is_one_short_line(tmp_path: Path, given: str) -> None:
    """Empty is not tomorrow; a newline cannot write a line of its own; a long one is cut.

    Until the thirty-fifth stop "" planned tomorrow without a word, a newline forged a
    second outcome line, and 3,000 characters made a 3,122-character line.
    """
    result = CliRunner().invoke(main, ["nightly", "--inbox", str(_inbox(tmp_path)), "--outbox",
                                       str(tmp_path / "outbox"), "--date", given])
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and len(lines[0]) < 200, lines
    assert lines[0].endswith("nothing done [exit 2]")


def test_an_inbox_policy_that_is_a_pipe_is_bad_input_at_once(tmp_path: Path) -> None:
    """A config.toml that is a FIFO: reading it would wait for a writer, past the limit."""
    inbox = _inbox(tmp_path)
    os.mkfifo(inbox / "config.toml")
    started = time.monotonic()
    result = _run(inbox, tmp_path / "outbox")
    assert result.exit_code == 2, result.output
    assert time.monotonic() - started < 5
    assert "not a regular file" in result.stderr


def test_sigterm_stops_the_night_with_its_line_and_result(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGTERM (a systemd stop, or its timeout) mid-plan: exit 143, said and logged.

    Until 2026-12-07 it killed the run where it stood: no line on stderr, no result.
    """
    def terminated(*_args: object, **_kwargs: object) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises before this ends
        raise AssertionError("SIGTERM did not stop the run")

    monkeypatch.setattr(solve_module, "solve", terminated)
    outbox = tmp_path / "outbox"
    before = signal.getsignal(signal.SIGTERM)
    result = _run(_inbox(tmp_path), outbox)
    assert result.exit_code == 143, result.output
    assert _last_line(result) == (f"nightly {DATE}: stopped (SIGTERM) before it finished; "
                                  "nothing written, the last good plan is kept [exit 143]")
    assert _log(outbox)[-1]["outcome"] == ("stopped (SIGTERM); nothing written, the last "
                                           "good plan is kept")
    assert not (outbox / DATE).exists()
    assert signal.getsignal(signal.SIGTERM) is before  # the command's handler is undone
