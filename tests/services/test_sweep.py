"""`pts sweep`: tasks on Dask clusters, checked, re-used on resume, retried when killed."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from distributed import Client, LocalCluster

from pts_optimiser.check.checker import check_plan
from pts_optimiser.cli import main
from pts_optimiser.domain.config import load_config
from pts_optimiser.io.generate import write_day
from pts_optimiser.io.parse import read_problem
from pts_optimiser.io.planfolder import plan_inputs
from pts_optimiser.services.sweep import RESULTS, RUNS, SweepSpec, run_sweep, tasks_of
from tests.helpers import ROOT


def _fleet_variant(source: Path, target: Path, keep: int, electric_cars: int = 0) -> Path:
    """The first `keep` shifts of a fleet file; the first `electric_cars` diesel cars electric."""
    with source.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = list(reader.fieldnames or [])
        rows = list(reader)[:keep]
    for row in [r for r in rows if r["vehicle_type"] == "car" and r["fuel"] != "electric"][
            :electric_cars]:
        row["fuel"], row["range_km"] = "electric", "250"
    with target.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return target


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 40-journey day on 6 shifts, and two fleet variants of it."""
    folder = tmp_path_factory.mktemp("tiny")
    write_day(folder / "day", seed=3, journeys=40, vehicles=6)
    _fleet_variant(folder / "day" / "fleet.csv", folder / "six.csv", 6)
    # A name a spreadsheet would run and a page would render: shown as text in both.
    _fleet_variant(folder / "day" / "fleet.csv", folder / "=cmd()<i>four.csv", 4)
    return folder


def _rows(out: Path) -> list[dict[str, str]]:
    with (out / "sweep.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _patients_from_rosters(plan_dir: Path) -> tuple[int, int]:
    """Patients fully served and left behind, recounted from the plan folder's own files."""
    with (plan_dir / "rosters.csv").open(encoding="utf-8", newline="") as handle:
        planned = {r["journey_id"] for r in csv.DictReader(handle) if r["journey_id"]}
    with (plan_dir / "inputs" / "bookings.csv").open(encoding="utf-8-sig", newline="") as handle:
        bookings = list(csv.DictReader(handle))
    by_patient: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for row in bookings:
        # Generated journeys have an appointment (outward) or a ready time (home), HH:MM.
        by_patient[row["patient_id"]].append((row["appointment_time"] or row["ready_time"],
                                              row["journey_id"]))
    full = behind = 0
    for journeys in by_patient.values():
        served = [jid in planned for _, jid in sorted(journeys)]
        full += all(served)
        behind += any(served[i] and not all(served[i + 1:]) for i in range(len(served)))
    return full, behind


def _check_kept(out: Path, row: dict[str, str]) -> None:
    """The kept plan folder of a row passes the checker, and its figures match the row."""
    folders = [p for p in (out / RUNS).iterdir() if p.name.endswith(row["task"][:8])]
    assert len(folders) == 1
    inputs = plan_inputs(folders[0])
    problem, _ = read_problem(inputs, load_config(inputs.config))
    result = check_plan(problem, folders[0])
    assert result.ok, result.summary()
    assert result.journeys_planned == int(row["served"])
    full, behind = _patients_from_rosters(folders[0])
    assert (full, behind) == (int(row["patients_fully_served"]),
                              int(row["patients_left_behind"]))


def test_a_negative_seed_is_bad_usage_before_anything_runs(tiny: Path) -> None:
    """Until the thirty-fifth stop every task failed at run time (exit 1, "ours")."""
    result = CliRunner().invoke(main, ["sweep", "--days", str(tiny / "day"), "--fleets",
                                       str(tiny / "six.csv"), "--seeds", "-5", "--out",
                                       str(tiny / "neg")])
    assert result.exit_code == 2, result.output
    assert not (tiny / "neg").exists()


def test_local_sweep_rows_checked_plans_safe_page_and_resume(tiny: Path) -> None:
    """A local cluster runs 2 fleets x 2 seeds; kept plans pass the checker; a rerun re-uses."""
    out = tiny / "out"
    args = ["sweep", "--days", str(tiny / "day"), "--fleets", str(tiny / "six.csv"),
            "--fleets", str(tiny / "=cmd()<i>four.csv"), "--seeds", "0", "--seeds", "1",
            "--time-limit", "1", "--workers", "2", "--keep-plans", "--out", str(out)]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    rows = _rows(out)
    assert len(rows) == 4 and {r["status"] for r in rows} == {"ok"}
    assert {r["vehicles_available"] for r in rows} == {"6", "4"}
    for row in rows:
        assert row["violations"] == "0" and len(row["task"]) == 24
        assert len(row["fleet_sha256"]) == 64 and row["worker"].startswith("tcp://127.0.0.1")
        _check_kept(out, row)
    # Kept plans are private, inner folders too (0755 by the umask before this stop).
    kept = [p for p in (out / "runs").rglob("*") if not p.is_symlink()]
    assert kept and all(p.stat().st_mode & 0o077 == 0 for p in kept)
    # The formula-like fleet name is text in the table, and escaped on the page.
    assert {r["fleet"] for r in rows} == {"six", "'=cmd()<i>four"}
    page = (out / "sweep.html").read_text(encoding="utf-8")
    assert "<i>four" not in page and "&lt;i&gt;four" in page
    assert page.count("<svg") == 4 and "<script" not in page
    assert "https://" not in page and "src=" not in page

    started = time.monotonic()
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0, again.output
    assert "4 re-used, 0 run now" in again.output
    assert time.monotonic() - started < 10
    assert _rows(out) == rows

    # A kept plan folder gone: with --keep-plans its task runs again, the others are re-used.
    gone = next(p for p in (out / RUNS).iterdir() if p.name.endswith(rows[0]["task"][:8]))
    shutil.rmtree(gone)
    third = CliRunner().invoke(main, args)
    assert third.exit_code == 0, third.output
    assert "3 re-used, 1 run now" in third.output
    _check_kept(out, _rows(out)[0])


def test_resume_runs_only_what_is_missing(tiny: Path, tmp_path: Path) -> None:
    """A sweep stopped after one task resumes: only the task without a result runs again."""
    spec = SweepSpec((tiny / "day",), (tiny / "six.csv",), seeds=(0, 1), time_limit_s=1)
    out = tmp_path / "out"
    first = run_sweep(spec, out, workers=2)
    assert (first.reused, first.run, first.failed) == (0, 2, [])
    lost = tasks_of(spec)[1]
    (out / RESULTS / f"{lost.key}.json").unlink()  # as if the sweep stopped before it
    kept = json.loads((out / RESULTS / f"{tasks_of(spec)[0].key}.json").read_text())
    second = run_sweep(spec, out, workers=1)
    assert (second.reused, second.run, second.failed) == (1, 1, [])
    assert second.rows[0] == kept
    assert second.rows[1]["status"] == "ok"
    # A longer search is another question: its key differs, so it is not re-used.
    longer = SweepSpec(spec.days, spec.fleets, seeds=(0,), time_limit_s=2)
    assert tasks_of(longer)[0].key != tasks_of(spec)[0].key


def _kill_a_solving_worker(address: str, delay_s: float, killed: dict[str, Any]) -> None:
    """Wait until a worker runs a sweep task, let it search `delay_s`, then kill -9 it."""
    with Client(address, timeout="20s") as client:  # type: ignore[no-untyped-call]
        _kill_a_busy_worker(client, delay_s, killed)


def _kill_a_busy_worker(client: Any, delay_s: float, killed: dict[str, Any]) -> None:
    """`_kill_a_solving_worker` through a client already open.

    Within the sweep's own process, through the sweep's own client: a second client opened
    in a thread there made the sweep's wait for its futures fail now and then ("bound to a
    different event loop", in distributed's client).
    """
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        busy = {w: [str(k) for k in keys] for w, keys in client.processing().items()
                if any(str(k).startswith("pts-sweep-") for k in keys)}
        if busy:
            break
        time.sleep(0.2)
    time.sleep(delay_s)
    busy = {w: [str(k) for k in keys] for w, keys in client.processing().items() if keys}
    worker = sorted(busy)[0]
    pid = client.run(os.getpid, workers=[worker])[worker]
    os.kill(pid, signal.SIGKILL)
    killed.update(worker=worker, keys=busy[worker], pid=pid)


def test_task_of_a_killed_worker_is_retried(tiny: Path, tmp_path: Path) -> None:
    """A worker killed mid-solve: its task runs again elsewhere and every row is a checked plan.

    The killed task's scratch (a day's bookings) is not left behind: it was in the worker's
    own directory, which Dask removes when the worker's replacement starts.
    """
    spec = SweepSpec((tiny / "day",), (tiny / "six.csv", tiny / "=cmd()<i>four.csv"),
                     seeds=(0,), time_limit_s=4)
    out, workers = tmp_path / "out", tmp_path / "workers"
    killed: dict[str, Any] = {}
    killers: list[threading.Thread] = []
    scratch_before = set(Path(tempfile.gettempdir()).glob("pts-sweep-*"))

    def kill_one(client: Any) -> None:
        killers.append(threading.Thread(target=_kill_a_busy_worker, args=(client, 1.5, killed)))
        killers[0].start()

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, local_directory=workers
                      ) as cluster:  # type: ignore[no-untyped-call]
        result = run_sweep(spec, out, scheduler=cluster.scheduler_address, keep_plans=True,
                           on_started=kill_one)
        killers[0].join()
    assert killed, "no worker was killed"
    assert set(Path(tempfile.gettempdir()).glob("pts-sweep-*")) == scratch_before
    assert list(workers.rglob("pts-sweep-*")) == []
    assert result.failed == [] and len(result.rows) == 2
    retried = [r for r in result.rows if f"pts-sweep-{r['task']}-kept" in killed["keys"]]
    assert retried, (killed, [r["task"] for r in result.rows])
    for row in result.rows:
        assert row["status"] == "ok"
        _check_kept(out, {k: str(v) for k, v in row.items()})
    assert all(r["worker"] != killed["worker"] for r in retried)


def _pause(dask_worker: Any) -> None:
    from distributed.core import Status

    dask_worker.status = Status.paused


def _resume(dask_worker: Any) -> None:
    from distributed.core import Status

    dask_worker.status = Status.running


class _Notes(io.StringIO):
    """The sweep's progress lines; on the first resubmission, `then` runs once."""

    def __init__(self, then: Any = None) -> None:
        super().__init__()
        self.then = then

    def write(self, text: str) -> int:
        if "submitted again" in text and self.then is not None:
            self.then, then = None, self.then
            then()
        return super().write(text)


def test_tasks_an_idle_cluster_holds_are_submitted_again(tiny: Path, tmp_path: Path) -> None:
    """Workers that sit idle with tasks waiting (here paused) get the tasks again, new keys."""
    spec = SweepSpec((tiny / "day",), (tiny / "six.csv", tiny / "=cmd()<i>four.csv"),
                     seeds=(0,), time_limit_s=2)
    # memory_limit=0: no memory monitor to resume the paused workers by itself.
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None,  # type: ignore[no-untyped-call]
                      memory_limit=0) as cluster, \
            Client(cluster) as client:  # type: ignore[no-untyped-call]
        client.run(_pause)
        notes = _Notes(lambda: client.run(_resume))
        result = run_sweep(spec, tmp_path / "out", scheduler=cluster.scheduler_address,
                           progress_stream=notes, stall_s=3)
    assert result.failed == [] and [r["status"] for r in result.rows] == ["ok", "ok"]
    said = notes.getvalue()
    assert "no worker ran any of the 2 waiting task(s) for" in said
    assert "2 submitted again, 0 given up as lost" in said


def test_tasks_no_worker_runs_are_lost_not_waited_for(tiny: Path, tmp_path: Path) -> None:
    """Workers that never run the tasks: after two more submissions the rows say lost, and why."""
    spec = SweepSpec((tiny / "day",), (tiny / "six.csv",), seeds=(0,), time_limit_s=2)
    out = tmp_path / "out"
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None,  # type: ignore[no-untyped-call]
                      memory_limit=0) as cluster, \
            Client(cluster) as client:  # type: ignore[no-untyped-call]
        client.run(_pause)
        notes = _Notes()
        result = run_sweep(spec, out, scheduler=cluster.scheduler_address,
                           progress_stream=notes, stall_s=2)
    assert len(result.failed) == 1 and result.rows[0]["status"] == "lost"
    assert "sat idle" in str(result.rows[0]["error"])
    assert notes.getvalue().count("submitted again") == 3
    assert "0 submitted again, 1 given up as lost" in notes.getvalue()
    assert _rows(out)[0]["status"] == "lost"


def test_a_task_the_cluster_cancels_is_an_error_row(tiny: Path, tmp_path: Path) -> None:
    """A task cancelled by another hand (not the sweep's): its row says so, the rest go on."""
    from distributed import Future

    spec = SweepSpec((tiny / "day",), (tiny / "six.csv", tiny / "=cmd()<i>four.csv"),
                     seeds=(0,), time_limit_s=2)
    cancelled: list[str] = []

    def cancel_one(client: Any) -> None:
        key = sorted(str(k) for k in client.futures)[0]
        client.cancel([Future(key, client)], force=True)
        cancelled.append(key)

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:  # type: ignore[no-untyped-call]
        result = run_sweep(spec, tmp_path / "out", scheduler=cluster.scheduler_address,
                           on_started=cancel_one, progress_stream=io.StringIO())
    statuses = {r["task"]: r["status"] for r in result.rows}
    gone = next(task for task in statuses if f"pts-sweep-{task}-row" == cancelled[0])
    assert statuses.pop(gone) == "error" and list(statuses.values()) == ["ok"]
    assert result.failed == [gone]


def test_a_search_without_a_plan_is_no_answer() -> None:
    """A plan the search did not make (empty, or the fallback's) is flagged, not an answer."""
    from types import SimpleNamespace

    from pts_optimiser.services.sweep import FINAL
    from pts_optimiser.services.sweep.task import no_search_plan

    cut_off = SimpleNamespace(planned=(), search={"servable": 748, "solutions": 0})
    assert no_search_plan(cut_off)
    assert not no_search_plan(SimpleNamespace(planned=(), search={"servable": 0,
                                                                   "solutions": 0}))
    assert not no_search_plan(SimpleNamespace(planned=("J1",), search={"servable": 1,
                                                                       "solutions": 0}))
    assert not no_search_plan(SimpleNamespace(planned=(), search={"servable": 3,
                                                                  "solutions": 2}))
    fallback = SimpleNamespace(planned=("J1",), search={
        "servable": 748, "solutions": 0, "status": "fallback: one at a time"})
    assert no_search_plan(fallback)
    searched = SimpleNamespace(planned=("J1",), search={
        "servable": 748, "solutions": 3, "status": "fallback: one at a time, kept over the "
                                                   "search's plan of 1"})
    assert not no_search_plan(searched)
    assert "no_plan_in_time" not in FINAL


def test_bad_fleet_is_refused_before_any_worker(tiny: Path, tmp_path: Path) -> None:
    """A fleet file with an error: located findings, exit 2, and no sweep folder made."""
    bad = tmp_path / "bad.csv"
    text = (tiny / "six.csv").read_text(encoding="utf-8").splitlines()
    cells = text[1].split(",")
    cells[3] = "many"  # seats
    bad.write_text("\n".join([text[0], ",".join(cells), *text[2:]]) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["sweep", "--days", str(tiny / "day"), "--fleets",
                                       str(bad), "--out", str(out), "--time-limit", "2"])
    assert result.exit_code == 2, result.output
    assert "bad.csv row 2, column seats" in result.output
    assert not out.exists()


def test_a_time_limit_too_short_for_a_search_is_refused_before_any_worker(
        tmp_path: Path) -> None:
    """1 s of search on a 750-journey day: its model alone takes longer. Named, exit 2.

    Before, each task planned its day one journey at a time, and the sweep charted that as
    what the fleet could do.
    """
    write_day(tmp_path / "day", seed=5, journeys=750, vehicles=87)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["sweep", "--days", str(tmp_path / "day"), "--fleets",
                                       str(tmp_path / "day" / "fleet.csv"), "--out", str(out),
                                       "--time-limit", "1"])
    assert result.exit_code == 2, result.output
    assert (f"--time-limit 1 s of search is too short for {tmp_path / 'day'} with fleet.csv "
            "(750 journeys, 87 shifts): give at least 5 s") in result.output
    assert not out.exists()


def test_same_fleet_twice_is_refused(tiny: Path, tmp_path: Path) -> None:
    """Two fleet files with the same contents would be one question twice: exit 2, named."""
    copy = tmp_path / "copy.csv"
    copy.write_bytes((tiny / "six.csv").read_bytes())
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["sweep", "--days", str(tiny / "day"), "--fleets",
                                       str(tiny / "six.csv"), "--fleets", str(copy),
                                       "--out", str(out), "--time-limit", "2"])
    assert result.exit_code == 2, result.output
    assert "fleet six / copy" in result.output
    assert not out.exists()


def test_folder_not_a_sweeps_is_refused(tiny: Path, tmp_path: Path) -> None:
    """--out holding someone's files is refused with exit 6 and left as it was."""
    (tmp_path / "notes.txt").write_text("mine\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["sweep", "--days", str(tiny / "day"), "--fleets",
                                       str(tiny / "six.csv"), "--out", str(tmp_path),
                                       "--time-limit", "2"])
    assert result.exit_code == 6, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def loopback_cluster(tmp_path: Path) -> Iterator[str]:
    """A real `dask scheduler` and two `dask worker` processes (one thread each) on loopback."""
    dask = Path(sys.executable).parent / "dask"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    address = f"tcp://127.0.0.1:{_free_port()}"
    logs = tmp_path / "logs"
    logs.mkdir()
    processes = [subprocess.Popen(
        [str(dask), "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
         "--no-dashboard"], env=env, stdout=subprocess.DEVNULL,
        stderr=(logs / "scheduler.log").open("w"))]
    try:
        with Client(address, timeout="30s") as client:  # type: ignore[no-untyped-call]
            for index in range(2):
                processes.append(subprocess.Popen(
                    [str(dask), "worker", address, "--nthreads", "1", "--nworkers", "1",
                     "--host", "127.0.0.1", "--no-dashboard", "--name", f"w{index}"],
                    env=env, stdout=subprocess.DEVNULL,
                    stderr=(logs / f"worker{index}.log").open("w")))
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def test_real_scheduler_survives_a_killed_worker(loopback_cluster: str, tmp_path: Path) -> None:
    """`dask scheduler` and 2 workers: 3 fleets x 2 seeds of 150 journeys despite a kill -9."""
    write_day(tmp_path / "day", seed=5, journeys=150, vehicles=20)
    fleet = tmp_path / "day" / "fleet.csv"
    fleets = [_fleet_variant(fleet, tmp_path / "f20.csv", 20),
              _fleet_variant(fleet, tmp_path / "f16.csv", 16),
              _fleet_variant(fleet, tmp_path / "f20e.csv", 20, electric_cars=4)]
    out = tmp_path / "out"
    command = [sys.executable, "-m", "pts_optimiser", "sweep", "--days", str(tmp_path / "day"),
               *[a for f in fleets for a in ("--fleets", str(f))], "--seeds", "1", "--seeds",
               "2", "--time-limit", "4", "--scheduler", loopback_cluster, "--keep-plans",
               "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    killed: dict[str, Any] = {}
    sweep = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    _kill_a_solving_worker(loopback_cluster, 2.0, killed)
    stdout, stderr = sweep.communicate(timeout=240)
    assert sweep.returncode == 0, stdout + stderr
    rows = _rows(out)
    assert len(rows) == 6 and {r["status"] for r in rows} == {"ok"}
    for row in rows:
        _check_kept(out, row)
    retried = [r for r in rows if f"pts-sweep-{r['task']}-kept" in killed["keys"]]
    assert retried and all(r["worker"] != killed["worker"] for r in retried)

    started = time.monotonic()
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "6 re-used, 0 run now" in again.stdout
    assert time.monotonic() - started < 15


def test_a_patient_brought_home_is_not_left_behind(tmp_path: Path) -> None:
    """`patients_left_behind` counts as the plan's summary does: taken out, not brought back.

    Before 2026-12-07 any later journey of the patient's left out counted: a patient
    brought home was charted as left behind for a one-way journey no shift could cover.
    """
    from pts_optimiser.engine.solve import SolveOptions, solve
    from pts_optimiser.services.sweep.task import patients
    from tests.helpers import booking, load, vehicle

    problem = load(tmp_path, [
        booking("OUT1", patient_id="P1", appointment_time="09:00"),
        booking("HOME1", patient_id="P1", pickup_site="RDH", pickup_lat="", pickup_lon="",
                dropoff_site="", dropoff_lat=52.93, dropoff_lon=-1.49, appointment_time="",
                ready_time="10:30"),
        booking("LATE1", patient_id="P1", appointment_time="23:50")],
        [vehicle("V1")])
    plan = solve(problem, SolveOptions(time_limit_s=2.0))
    assert {j.journey_id for j in plan.planned} == {"OUT1", "HOME1"}
    assert patients(plan) == {"patients": 1, "patients_fully_served": 0,
                              "patients_left_behind": 0}


def test_kept_plans_of_one_long_fleet_name_get_a_folder_each() -> None:
    """The seed and the task's key end every name: cut, two tasks shared one folder."""
    from pts_optimiser.services.sweep import run_name

    long = "derbyshire-fleet-2027-scenario-40-electric-cars-and-13-wheelchair-vans-" * 2
    names = {run_name({"day": "d1", "fleet": long, "config": "default", "seed": seed,
                       "task": f"{seed}abcdef0123"}) for seed in (1, 2)}
    assert len(names) == 2 and all(len(n) <= 120 and "_seed" in n for n in names)
