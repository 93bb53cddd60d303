"""The week report's figures: when regulars are due, and the crews that could carry them."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from pts_optimiser.domain.config import load_config
from pts_optimiser.domain.problem import Problem
from pts_optimiser.engine.solve import SolveOptions, solve
from pts_optimiser.services.week import read_week
from pts_optimiser.views.week import (
    by_due_hour,
    continuity_summary,
    on_duty_all_day,
    patient_figures,
    week_html,
)
from tests.helpers import BOOKING_COLUMNS, booking, vehicle, write_day

DAYS = ("2026-11-30", "2026-12-02")


def _days(tmp_path: Path) -> dict[str, Problem]:
    """Two regulars out for 09:00 and home at 12:00 on two days: one seated, one in a chair.

    V1 (a car) and V4 (a wheelchair vehicle with a seat) are on duty all their day; V2's
    shift ends before the return, V3's starts after the outward.
    """
    bookings = []
    for day in DAYS:
        for patient, mobility in (("R1", "seated"), ("R2", "wheelchair")):
            bookings += [
                booking(f"{day}-{patient}-OUT", patient_id=patient, mobility=mobility,
                        service_date=day, appointment_time="09:00"),
                booking(f"{day}-{patient}-HOME", patient_id=patient, mobility=mobility,
                        service_date=day, pickup_site="RDH", pickup_lat="", pickup_lon="",
                        dropoff_site="", dropoff_lat=52.93, dropoff_lon=-1.49,
                        appointment_time="", ready_time="12:00")]
    fleet = [vehicle("V1", shift_start="06:00", shift_end="16:00"),
             vehicle("V2", shift_start="06:00", shift_end="11:00"),
             vehicle("V3", shift_start="11:00", shift_end="18:00"),
             vehicle("V4", vehicle_type="wheelchair", seats=1, wheelchair_spaces=1,
                     shift_start="06:00", shift_end="16:00")]
    inputs = write_day(tmp_path, bookings, fleet, [*BOOKING_COLUMNS, "service_date"])
    days, _ = read_week(inputs, load_config())
    return days


def test_crews_on_duty_all_day_can_carry_the_patient_out_and_home(tmp_path: Path) -> None:
    """Counted against the journeys' windows and what each vehicle can carry."""
    days = _days(tmp_path)
    monday = days[DAYS[0]]
    theirs = defaultdict(list)
    for journey in monday.journeys:
        theirs[journey.patient_id].append(journey)
    # V1 and V4 for the seated patient.
    assert on_duty_all_day(monday.vehicles, theirs["R1"]) == 2
    # V4 alone for the one in a wheelchair: the cars have no wheelchair space.
    assert on_duty_all_day(monday.vehicles, theirs["R2"]) == 1
    # The outward alone: V2 is on duty for it as well.
    outward = [j for j in theirs["R1"] if j.journey_id.endswith("OUT")]
    assert on_duty_all_day(monday.vehicles, outward) == 3


def test_regulars_by_the_hour_they_are_due(tmp_path: Path) -> None:
    """The hour, the crews on duty and the days with two crews, against the rosters."""
    days = _days(tmp_path)
    plans = {day: solve(problem, SolveOptions(time_limit_s=2)) for day, problem in days.items()}
    patients = {p["patient_id"]: p for p in patient_figures(plans, {"R1", "R2"})}
    assert patients["R1"]["due_hour"] == 9  # due at 09:00
    assert patients["R1"]["crews_on_duty_all_day"] == 2
    assert patients["R2"]["crews_on_duty_all_day"] == 1
    for patient in ("R1", "R2"):
        split = 0
        for plan in plans.values():
            crews = {r.vehicle.vehicle_id for r in plan.rosters for s in r.stops
                     if s.journey is not None and s.journey.patient_id == patient}
            split += len(crews) > 1
        assert patients[patient]["days_with_two_crews"] == split
    # Booked alike, both are due in the same hour: one group, 2 and 1 crews on duty.
    assert patients["R2"]["due_hour"] == 9
    group = by_due_hour(list(patients.values()))
    assert list(group) == ["09:00"]
    hour = group["09:00"]
    assert hour["regulars"] == 2 and hour["median_crews_on_duty_all_day"] == 1.5
    every_day = sum(p["days_with_two_crews"] == p["days"] for p in patients.values())
    assert hour["two_crews_every_day"] == every_day


def test_the_hour_table_is_on_the_week_page() -> None:
    """The figures per hour, shown on the page with what the files say escaped."""
    hostile = "<b>R9</b>"
    patient = {"patient_id": hostile, "district": hostile, "days": 2, "journeys": 4,
               "planned": 4, "vehicles": ["V1", "V2"], "distinct_vehicles": 2,
               "pickup_spread_min": 3, "due_hour": 16, "days_with_two_crews": 2,
               "crews_on_duty_all_day": 2}
    groups = by_due_hour([patient])
    assert groups == {"16:00": {"regulars": 1, "mean_distinct_vehicles": 2.0,
                                "share_at_most_two": 1.0, "two_crews_every_day": 1,
                                "median_crews_on_duty_all_day": 2}}
    day = {"patients": 1, "patients_servable": 1, "patients_fully_served": 1,
           "left_somewhere": 0, "standards": {}, "journeys": 4, "served": 4,
           "vehicles_used": 2, "km": 1.0, "co2_kg": 0.2, "violations": 0}
    page = week_html({"days": {"2026-11-30": day}, "total": day,
                      "continuity": {"regulars": 1, "served_whole": 1,
                                     "mean_distinct_vehicles": 2.0,
                                     "share_at_most_two": 1.0, "share_one_vehicle": 0.0,
                                     "median_pickup_spread_min": 3,
                                     "distinct_vehicles_distribution": {"2": 1},
                                     "pickup_spread_distribution": {"0-4": 1}},
                      "by_district": {}, "by_due_hour": groups, "method": {},
                      "patients": [patient]})
    assert "By the hour regulars are due" in page and "16:00" in page
    assert "<b>R9" not in page and "&lt;b&gt;R9" in page


def test_a_day_missing_a_clinical_standard_says_which() -> None:
    """The days table names each standard a day misses, with its share; else none."""
    def day(met: int) -> dict[str, object]:
        renal = {"title": "Renal: collected within 30 min of ready", "target_pct": 85,
                 "journeys": 10, "met": met, "pct": 10.0 * met}
        return {"patients": 5, "patients_servable": 5, "patients_fully_served": 5,
                "left_somewhere": 0, "standards": {"renal_collect": renal}, "journeys": 10,
                "served": 10, "vehicles_used": 2, "km": 1.0, "co2_kg": 0.2, "violations": 0}
    page = week_html({"days": {"2026-11-30": day(8), "2026-12-01": day(9)}, "total": day(8),
                      "continuity": continuity_summary([]), "by_district": {},
                      "by_due_hour": {}, "method": {}, "patients": []})
    rows = {cells[0]: cells for cells in (
        re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", page))
        if cells}
    assert "Renal: collected within 30 min of ready 80.0% (target 85%)" in rows["2026-11-30"][3]
    assert ">none<" in rows["2026-12-01"][3]
