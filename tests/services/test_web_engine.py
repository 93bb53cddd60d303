"""The board's engine: hand-made changes keep every rule, and a refusal names the right one."""

from __future__ import annotations

from pathlib import Path

from pts_optimiser.check.checker import check_plan
from pts_optimiser.domain.config import load_config
from pts_optimiser.domain.plan import Event
from pts_optimiser.engine.solve import SolveOptions, solve
from pts_optimiser.io.generate import write_day as generate_day
from pts_optimiser.io.parse import Inputs, read_problem
from pts_optimiser.services.publish import write_plan
from pts_optimiser.services.web.engine import (
    DayBoard,
    Placement,
    Refusal,
    Step,
    unassigned_by_hand,
    with_journey_removed,
)
from tests.helpers import booking, load, vehicle


def test_hand_moves_pass_the_checker(tmp_path: Path) -> None:
    """Journeys moved by hand onto other runs: the written plan passes the independent checker."""
    generate_day(tmp_path / "day", seed=3, journeys=40, vehicles=8)  # the search beats
    # one at a time here (with 5 shifts the one-at-a-time plan served one journey more)
    problem, _ = read_problem(Inputs(tmp_path / "day" / "bookings.csv",
                                     tmp_path / "day" / "fleet.csv",
                                     tmp_path / "day" / "sites.csv"), load_config())
    plan = solve(problem, SolveOptions(time_limit_s=3, strategy="single"))
    board = DayBoard(problem)
    runs: dict[str, tuple[Step, ...]] = {}
    for roster in plan.rosters:  # each of the search's runs is taken, its break at a visit
        steps = board.steps_of(roster)
        assert steps is not None and board.roster(roster.vehicle.vehicle_id, steps)
        runs[roster.vehicle.vehicle_id] = steps
    left = {u.journey.journey_id: (str(u.reason), u.detail, u.fix) for u in plan.unassigned}
    moved = refused = 0
    for journey in list(plan.planned)[:12]:
        here = next(v for v, steps in runs.items() if ("pickup", journey.journey_id) in steps)
        for other in board.vehicles:
            if other == here:
                continue
            found = board.place(other, runs.get(other, ()), journey.journey_id)
            if isinstance(found, Refusal):
                refused += 1
                assert found.rule and found.detail
                continue
            without = with_journey_removed(runs[here], journey.journey_id)
            if any(k == "pickup" for k, _ in without) and board.roster(here, without) is None:
                continue
            runs[here], runs[other] = without, found.steps
            moved += 1
            break
    one = next(j for j in plan.planned
               if any(("pickup", j.journey_id) in steps for steps in runs.values()))
    here = next(v for v, steps in runs.items() if ("pickup", one.journey_id) in steps)
    runs[here] = with_journey_removed(runs[here], one.journey_id)
    left[one.journey_id] = unassigned_by_hand(one)
    assert moved >= 3, (moved, refused)
    edited = board.plan(runs, left)
    assert len(edited.planned) + len(edited.unassigned) == len(problem.journeys)
    write_plan(edited, tmp_path / "plan", with_maps=False)  # refuses a plan that fails
    assert check_plan(problem, tmp_path / "plan").ok


def test_never_carries_names_capacity_or_skill(tmp_path: Path) -> None:
    """A wheelchair on a car is capacity; oxygen on a car without it is skill."""
    problem = load(tmp_path, [booking("WC", mobility="wheelchair"),
                              booking("OX", needs="oxygen")], [vehicle("CAR1")])
    board = DayBoard(problem)
    wheelchair = board.place("CAR1", (), "WC")
    oxygen = board.place("CAR1", (), "OX")
    assert isinstance(wheelchair, Refusal) and wheelchair.rule == "capacity"
    assert isinstance(oxygen, Refusal) and oxygen.rule == "skill"


def test_one_seat_carries_one_at_a_time(tmp_path: Path) -> None:
    """Two patients at one time on a one-seat car: the second goes after the first is dropped."""
    problem = load(tmp_path, [booking("A"), booking("B", pickup_lat=52.95, pickup_lon=-1.52)],
                   [vehicle("CAR1", seats=1)])
    board = DayBoard(problem)
    first = board.place("CAR1", (), "A")
    assert isinstance(first, Placement)
    second = board.place("CAR1", first.steps, "B")
    assert isinstance(second, Placement), second
    assert all(s.seats_used <= 1 for s in second.roster.stops)
    kinds = [k for k, _ in second.steps]
    assert kinds == ["pickup", "dropoff", "pickup", "dropoff"]


def test_break_taken_and_break_named(tmp_path: Path) -> None:
    """A long shift gets its break; a patient aboard all the break's window is refused: break."""
    problem = load(tmp_path, [
        booking("SHORT"),
        booking("LONG", purpose="transfer", appointment_time="", earliest_pickup="09:55",
                latest_pickup="10:00", earliest_dropoff="14:05", latest_dropoff="14:10",
                max_ride_min=300)],
        [vehicle("VAN", shift_start="08:00", shift_end="17:00")])
    board = DayBoard(problem)
    short = board.place("VAN", (), "SHORT")
    assert isinstance(short, Placement)
    breaks = [s for s in short.roster.stops if s.event is Event.BREAK]
    assert len(breaks) == 1 and breaks[0].seats_used == 0
    assert 10 * 60 <= breaks[0].service_start_min <= 14 * 60
    long = board.place("VAN", short.steps, "LONG")
    assert isinstance(long, Refusal) and long.rule == "break", long
    assert "10:00" in long.detail and "14:00" in long.detail


def test_a_solve_ends_when_its_server_is_killed_outright(tmp_path: Path) -> None:
    """SIGKILL to the server mid-plan: its solve, in a process group of its own, ends too.

    Until the thirty-fifth stop it searched on to its time limit, on both cores.
    """
    import os
    import signal
    import subprocess
    import sys
    import time

    generate_day(tmp_path, seed=3, journeys=60, vehicles=8)
    script = f"""
import sys, time
from pts_optimiser.services.web import worker
job = worker.SolveJob({str(tmp_path / 'bookings.csv')!r}, {str(tmp_path / 'fleet.csv')!r},
                      {str(tmp_path / 'sites.csv')!r}, None, None, 60.0)
running = worker.start(job, lambda message: None)
print(running.process.pid, flush=True)
time.sleep(120)
"""
    server = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert server.stdout is not None
        child = int(server.stdout.readline())
        time.sleep(6)  # the solve started, and searching
        os.kill(child, 0)  # alive
        os.kill(server.pid, signal.SIGKILL)
        server.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:  # gone, or a zombie nobody has reaped yet (a container's first process)
                if Path(f"/proc/{child}/stat").read_text().split(") ")[1][0] == "Z":
                    break
            except (FileNotFoundError, ProcessLookupError):
                break
            time.sleep(0.2)
        else:
            os.killpg(child, signal.SIGKILL)
            raise AssertionError("the solve outlived its server")
    finally:
        server.kill()
