"""Re-planning at 11:00: kept stops, patients aboard, late discharges, cancellations, checked."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner

from pts_optimiser.cli import main
from pts_optimiser.replan import CHANGE_KINDS
from tests.helpers import minutes, rows, solved_day

NOW = "11:00"





@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated 150-journey day, planned, then re-planned at 11:00."""
    work = tmp_path_factory.mktemp("replan")
    solved_day(work, seed=12)
    runner = CliRunner()
    # Five late discharges from Royal Derby, ready across the early afternoon.
    late = work / "late.csv"
    with late.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["journey_id", "patient_id", "purpose", "mobility", "pickup_site",
                         "dropoff_lat", "dropoff_lon", "ready_time", "service_date"])
        for k in range(5):
            writer.writerow([f"LATE{k}", f"PL{k}", "discharge", "seated", "RDH",
                             52.93 + k / 100, -1.48, f"{12 + k // 2}:{(k % 2) * 30:02d}",
                             "2026-12-01"])
    rosters = rows(work / "plan" / "rosters.csv")
    later = [r["journey_id"] for r in rosters
             if r["event"] == "pickup" and minutes(r["arrival"]) > minutes(NOW) + 30]
    cancelled = later[:3]
    (work / "cancelled.txt").write_text(",".join(cancelled))
    result = runner.invoke(main, ["replan", "--plan", str(work / "plan"), "--now", NOW,
                                  "--add", str(late), "--cancel", ",".join(cancelled),
                                  "--out", str(work / "new"), "--time-limit", "10"])
    assert result.exit_code == 0, result.output
    assert "crews' runs changed" in result.output
    return work


def test_kept_stops_are_unchanged(day: Path) -> None:
    """Every stop reached by 11:00 is in the new plan exactly as it was."""
    old = rows(day / "plan" / "rosters.csv")
    new = rows(day / "new" / "rosters.csv")
    fields = ("vehicle_id", "seq", "event", "journey_id", "arrival", "service_start", "lat",
              "lon")
    reached = [tuple(r[f] for f in fields) for r in old
               if minutes(r["arrival"]) <= minutes(NOW) and r["event"] != "end"]
    kept = {tuple(r[f] for f in fields) for r in new}
    assert reached and all(stop in kept for stop in reached)


def test_patients_aboard_stay_on_their_vehicle(day: Path) -> None:
    """A patient picked up before 11:00 and not yet dropped is dropped by the same vehicle."""
    old = rows(day / "plan" / "rosters.csv")
    new = rows(day / "new" / "rosters.csv")
    picked = {r["journey_id"]: r["vehicle_id"] for r in old
              if r["event"] == "pickup" and minutes(r["service_start"]) <= minutes(NOW)}
    dropped = {r["journey_id"] for r in old
               if r["event"] == "dropoff" and minutes(r["arrival"]) <= minutes(NOW)}
    aboard = {j: v for j, v in picked.items() if j not in dropped}
    assert aboard, "the fixture has someone aboard at 11:00"
    drops = {r["journey_id"]: r["vehicle_id"] for r in new if r["event"] == "dropoff"}
    assert all(drops[j] == v for j, v in aboard.items())


def test_late_discharges_planned_and_cancellations_listed(day: Path) -> None:
    """The late journeys are planned; the cancelled ones are unassigned as cancelled."""
    new = rows(day / "new" / "rosters.csv")
    planned = {r["journey_id"] for r in new if r["event"] == "pickup"}
    assert {f"LATE{k}" for k in range(5)} <= planned
    unassigned = {r["journey_id"]: r["reason"] for r in rows(day / "new" / "unassigned.csv")}
    for journey in (day / "cancelled.txt").read_text().split(","):
        assert unassigned[journey].startswith("cancelled")


def test_new_plan_passes_the_checker(day: Path) -> None:
    """The re-planned day, with its merged bookings, breaks no rule and loses no booking."""
    result = CliRunner().invoke(main, ["check", "--bookings", str(day / "new" / "bookings.csv"),
                                       "--fleet", str(day / "day" / "fleet.csv"),
                                       "--out", str(day / "new")])
    assert result.exit_code == 0, result.output


def test_change_list_names_the_crews(day: Path) -> None:
    """changes.csv says which crew gains which late journey and loses which cancelled one."""
    changes = rows(day / "new" / "changes.csv")
    assert {c["change"] for c in changes} <= set(CHANGE_KINDS)
    added = {c["journey_id"] for c in changes if c["change"] == "added"}
    assert {f"LATE{k}" for k in range(5)} <= added
    cancelled = {c["journey_id"] for c in changes if c["change"] == "cancelled" and c["vehicle_id"]}
    assert set((day / "cancelled.txt").read_text().split(",")) <= cancelled
    for moved in (c for c in changes if c["change"] == "moved"):
        assert moved["other_vehicle"] and moved["other_vehicle"] != moved["vehicle_id"]


def test_vehicle_off_the_road(day: Path) -> None:
    """A vehicle taken off on its way to a pickup turns back: the patient goes to another crew."""
    rosters = rows(day / "plan" / "rosters.csv")
    busy = max({r["vehicle_id"] for r in rosters},
               key=lambda v: sum(r["vehicle_id"] == v and r["event"] == "pickup"
                                 and minutes(r["arrival"]) > minutes(NOW) for r in rosters))
    run = [r for r in rosters if r["vehicle_id"] == busy]
    # The call comes a minute before the crew reaches its next pickup after 11:00.
    heading = next(r for r in run if r["event"] == "pickup"
                   and minutes(r["arrival"]) > minutes(NOW))
    now_min = minutes(heading["arrival"]) - 1
    now = f"{now_min // 60:02d}:{now_min % 60:02d}"
    result = CliRunner().invoke(main, ["replan", "--plan", str(day / "plan"), "--now", now,
                                       "--vehicle-off", busy, "--out", str(day / "off"),
                                       "--time-limit", "8"])
    assert result.exit_code == 0, result.output
    new = rows(day / "off" / "rosters.csv")
    late_pickups = [r for r in new if r["vehicle_id"] == busy and r["event"] == "pickup"
                    and minutes(r["arrival"]) > now_min]
    assert late_pickups == []
    reached = {(r["event"], r["journey_id"], r["arrival"]) for r in run
               if minutes(r["arrival"]) <= now_min}
    assert all(minutes(r["arrival"]) > now_min for r in new if r["vehicle_id"] == busy
               and (r["event"], r["journey_id"], r["arrival"]) not in reached)
    carried = {r["journey_id"] for r in new if r["event"] == "pickup"}
    unassigned = {r["journey_id"] for r in rows(day / "off" / "unassigned.csv")}
    assert heading["journey_id"] in carried | unassigned
    checked = CliRunner().invoke(main, ["check", "--bookings", str(day / "off" / "bookings.csv"),
                                        "--fleet", str(day / "day" / "fleet.csv"),
                                        "--out", str(day / "off")])
    assert checked.exit_code == 0, checked.output
