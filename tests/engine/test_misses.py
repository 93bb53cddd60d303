"""The nearest miss: each left-out journey's fix names a vehicle and a change that works."""

from __future__ import annotations

import re
from pathlib import Path

from tests.helpers import booking, solve_and_check, vehicle

SECONDS = 2.0


def _fix(folder: Path, bookings: list[dict[str, object]], fleet: list[dict[str, object]],
         journey_id: str) -> tuple[str, str]:
    """The reason and fix of a journey left out of a checked plan."""
    plan, check = solve_and_check(folder, bookings, fleet, seconds=SECONDS)
    assert check.ok, check.violations
    left = {u.journey.journey_id: u for u in plan.unassigned}
    assert journey_id in left, "the journey was planned"
    return str(left[journey_id].reason), left[journey_id].fix


def _planned(folder: Path, bookings: list[dict[str, object]],
             fleet: list[dict[str, object]]) -> set[str]:
    plan, check = solve_and_check(folder, bookings, fleet, seconds=SECONDS)
    assert check.ok, check.violations
    return {j.journey_id for j in plan.planned}


def _minus_one(clock: str) -> str:
    hours, minutes = map(int, clock.split(":"))
    total = hours * 60 + minutes - 1
    return f"{total // 60:02d}:{total % 60:02d}"


def test_no_compatible_vehicle_names_what_is_missing(tmp_path: Path) -> None:
    """A stretcher journey: the nearest vehicle and the capability it lacks."""
    fleet = [vehicle("CAR1"), vehicle("WAV1", vehicle_type="wheelchair", wheelchair_spaces=1,
                                      crew=2)]
    reason, fix = _fix(tmp_path, [booking("S1", mobility="stretcher")], fleet, "S1")
    assert reason == "no_compatible_vehicle"
    assert fix.startswith("WAV1 comes closest: with a stretcher position it could carry it")


def test_no_shift_covers_window_gives_the_shift_end_that_works(tmp_path: Path) -> None:
    """The closest shift and the end time it needs; that end plans it, a minute less does not."""
    bookings = [booking("J1", appointment_time="10:00")]
    fleet = [vehicle("CAR1", shift_start="06:00", shift_end="09:00"),
             vehicle("CAR2", shift_start="06:00", shift_end="08:00")]
    reason, fix = _fix(tmp_path / "a", bookings, fleet, "J1")
    assert reason == "no_shift_covers_window"
    found = re.match(r"CAR1 could take it if its shift ran to (\d\d:\d\d) \(\d+ min longer\)$",
                     fix)
    assert found, fix
    end = found.group(1)
    assert _planned(tmp_path / "b", bookings, [vehicle("CAR1", shift_start="06:00",
                                                       shift_end=end)]) == {"J1"}
    assert _planned(tmp_path / "c", bookings, [vehicle("CAR1", shift_start="06:00",
                                                       shift_end=_minus_one(end))]) == set()


def test_a_shift_starting_too_late_gives_the_start_that_works(tmp_path: Path) -> None:
    """A shift that starts after the window: the start time it needs, or a wider window."""
    bookings = [booking("J1", appointment_time="10:00")]
    reason, fix = _fix(tmp_path / "a", bookings, [vehicle("CAR1", shift_start="11:00",
                                                          shift_end="15:00")], "J1")
    assert reason == "no_shift_covers_window"
    found = re.match(r"CAR1 could take it if its shift started at (\d\d:\d\d), or with a "
                     r"pickup window (\d+) min wider \(to \d\d:\d\d\) and a drop-off window "
                     r"(\d+) min wider \(to \d\d:\d\d\)$", fix)
    assert found, fix
    assert _planned(tmp_path / "b", bookings, [vehicle("CAR1", shift_start=found.group(1),
                                                       shift_end="15:00")]) == {"J1"}
    # Starting 76 min later than it could, the car is 76 min late at both ends.
    late = 11 * 60 - (int(found.group(1)[:2]) * 60 + int(found.group(1)[3:]))
    assert int(found.group(2)) == int(found.group(3)) == late


def test_beyond_ev_range_gives_the_km_short(tmp_path: Path) -> None:
    """The electric car nearest in range, by how many km, and whether a non-electric one exists."""
    bookings = [booking("J1", pickup_lat=53.0, pickup_lon=-1.45)]
    fleet = [vehicle("EV1", fuel="electric", range_km=10),
             vehicle("EV2", fuel="electric", range_km=5)]
    reason, fix = _fix(tmp_path / "a", bookings, fleet, "J1")
    assert reason == "beyond_ev_range"
    found = re.match(r"EV1 is (\d+) km short of range for it \(10 km\); no non-electric "
                     r"vehicle in the fleet can carry it$", fix)
    assert found, fix
    short = int(found.group(1))
    assert _planned(tmp_path / "b", bookings, [vehicle("EV1", fuel="electric",
                                                       range_km=10 + short)]) == {"J1"}
    late_diesel = [fleet[0], vehicle("CAR2", shift_start="11:00")]
    _, fix = _fix(tmp_path / "c", bookings, late_diesel, "J1")
    assert "; a non-electric vehicle: CAR2 could take it if its shift started at" in fix


def test_no_capacity_names_the_nearest_gap(tmp_path: Path) -> None:
    """A full car: its empty stretch nearest the journey, with the times from its roster."""
    bookings = [booking(f"J{i}", pickup_lat=52.90 + i / 100, pickup_lon=-1.49 - i / 100)
                for i in range(8)]
    plan, check = solve_and_check(tmp_path, bookings, [vehicle("CAR1")], seconds=SECONDS)
    assert check.ok, check.violations
    assert plan.unassigned
    roster = plan.rosters[0]
    for left in plan.unassigned:
        assert str(left.reason) == "no_capacity"
        found = re.match(r"nearest gap: CAR1 is empty (\d\d:\d\d)-(\d\d:\d\d); it would need ",
                         left.fix)
        assert found, left.fix
        starts = {f"{s.departure_min // 60:02d}:{s.departure_min % 60:02d}"
                  for s in roster.stops[1:]} | {"08:00"}
        assert found.group(1) in starts


def test_window_shorter_than_trip_gives_the_ride_needed(tmp_path: Path) -> None:
    """A maximum ride shorter than the direct trip: the ride that would do."""
    bookings = [booking("J1", pickup_lat=53.0, pickup_lon=-1.45, max_ride_min=5)]
    reason, fix = _fix(tmp_path / "a", bookings, [vehicle("CAR1")], "J1")
    assert reason == "window_shorter_than_trip"
    found = re.match(r"the direct trip needs a maximum ride of at least (\d+) min$", fix)
    assert found, fix
    ride = int(found.group(1))
    assert _planned(tmp_path / "b", [{**bookings[0], "max_ride_min": ride}],
                    [vehicle("CAR1")]) == {"J1"}


def test_windows_that_keep_the_patient_aboard_a_while_are_planned(tmp_path: Path) -> None:
    """Pickup by 10:05, set down from 10:20, a 5 min trip: planned, the patient waiting aboard.

    Before, such a journey was `no_shift_covers_window` with a fix to start a 07:00 shift
    at 06:53, which would not have planned it.
    """
    windows = {"appointment_time": "", "earliest_pickup": "09:55", "latest_pickup": "10:05",
               "earliest_dropoff": "10:20", "latest_dropoff": "10:40"}
    assert _planned(tmp_path / "a", [booking("J1", **windows)],
                    [vehicle("CAR1", shift_start="07:00")]) == {"J1"}
    # Kept aboard longer than the maximum ride, by the windows alone: the windows' fault.
    reason, _ = _fix(tmp_path / "b", [booking("J1", **windows, max_ride_min=10)],
                     [vehicle("CAR1", shift_start="07:00")], "J1")
    assert reason == "window_shorter_than_trip"
