"""Figures a manager reviews: standards met, time on board, vehicle use, km and carbon.

Everything is computed from the plan's stops, so the report, the workbook and a
recomputation from rosters.csv agree.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any

from pts_optimiser.domain.config import Config
from pts_optimiser.domain.plan import Event, Plan, Reason
from pts_optimiser.domain.problem import Fuel, Journey, Purpose, VehicleShift
from pts_optimiser.domain.resources import data_dir

NO_DISTRICT = "not given"
# Left out for what the journey is, found before planning: no plan could have carried it.
FOUND_BEFORE_PLANNING = frozenset({Reason.NO_COMPATIBLE_VEHICLE, Reason.WINDOW_SHORTER_THAN_TRIP,
                                   Reason.NO_SHIFT_COVERS_WINDOW, Reason.BEYOND_EV_RANGE,
                                   Reason.PATIENT_ON_ANOTHER_JOURNEY})


def district_of(journey: Journey) -> str:
    """The booking's own `district` column, where it has one."""
    return dict(journey.extra).get("district", "") or NO_DISTRICT


@cache
def known_districts() -> tuple[str, ...]:
    """The division's districts in the order of data/districts.csv (the report's rows)."""
    try:
        with (data_dir() / "districts.csv").open(newline="", encoding="utf-8-sig") as handle:
            return tuple(row["district"] for row in csv.DictReader(handle) if row.get("district"))
    except (OSError, KeyError):
        return ()


def district_order(found: set[str]) -> list[str]:
    """Districts found, the known ones first in their file's order, `not given` last."""
    known = [d for d in known_districts() if d in found]
    return known + sorted(found - set(known) - {NO_DISTRICT}) + [NO_DISTRICT] * (
        NO_DISTRICT in found)


@dataclass(frozen=True)
class Trip:
    """One planned journey as it will happen."""

    journey: Journey
    vehicle_id: str
    collected_min: int  # pickup service start
    left_min: int  # pickup departure
    arrived_min: int  # drop-off arrival

    @property
    def on_board_min(self) -> int:
        """Time on the vehicle, leaving the pickup to arriving at the drop-off."""
        return self.arrived_min - self.left_min

    @property
    def waited_after_ready_min(self) -> int | None:
        """Minutes from ready to being collected, for journeys from care."""
        ready = self.journey.ready_min
        return None if ready is None else self.collected_min - ready

    @property
    def early_min(self) -> int | None:
        """Minutes arrived before the appointment, for journeys to care."""
        appointment = self.journey.appointment_min
        return None if appointment is None else appointment - self.arrived_min

    @property
    def district(self) -> str:
        """The booking's own `district` column, where it has one."""
        return district_of(self.journey)


def trips(plan: Plan) -> list[Trip]:
    """Every planned journey with its times."""
    found = []
    for roster in plan.rosters:
        picked: dict[str, tuple[int, int]] = {}
        for stop in roster.stops:
            if stop.journey is None:
                continue
            if stop.event is Event.PICKUP:
                picked[stop.journey.journey_id] = (stop.service_start_min, stop.departure_min)
            elif stop.event is Event.DROPOFF:
                collected, left = picked[stop.journey.journey_id]
                found.append(Trip(stop.journey, roster.vehicle.vehicle_id, collected, left,
                                  stop.arrival_min))
    return found


@dataclass(frozen=True)
class Standard:
    """A clinical standard: which journeys it covers, what is measured, and the target."""

    key: str
    title: str
    limit_min: int
    target_pct: int
    applies: Callable[[Trip], bool]
    measure: Callable[[Trip], int | None]
    # Below this the standard is missed too: an arrival after the appointment is not one
    # "at most 45 min before" it (until 2026-12-07 a late arrival counted as met).
    lowest_min: int | None = None


def standards(plan: Plan) -> list[Standard]:
    """The standards set in the configuration's [kpi] table."""
    kpi = plan.problem.config.kpi
    renal = Purpose.DIALYSIS
    planned = (Purpose.OUTPATIENT, Purpose.ADMISSION)
    return [
        # The Renal Association's 30 min, judged against NWAS's 85% (set for 60 min): the
        # title says so, or the target reads as the 30 min standard's own.
        Standard("renal_collect", f"Renal: collected within {kpi.renal_collect_within_min} min "
                 f"of ready (Renal Association 2009; the {kpi.renal_collect_target_pct}% "
                 "target is NWAS's, set for 60 min)", kpi.renal_collect_within_min,
                 kpi.renal_collect_target_pct,
                 lambda t: t.journey.purpose is renal and t.journey.ready_min is not None,
                 lambda t: t.waited_after_ready_min),
        Standard("renal_on_board", f"Renal: on board at most {kpi.renal_on_board_max_min} min",
                 kpi.renal_on_board_max_min, kpi.renal_on_board_target_pct,
                 lambda t: t.journey.purpose is renal, lambda t: t.on_board_min),
        Standard("renal_early", f"Renal: arrive by the appointment and at most "
                 f"{kpi.renal_arrive_early_max_min} min before it",
                 kpi.renal_arrive_early_max_min, kpi.renal_arrive_early_target_pct,
                 lambda t: t.journey.purpose is renal and t.journey.appointment_min is not None,
                 lambda t: t.early_min, lowest_min=0),
        Standard("planned_early", f"Outpatients and admissions: arrive by the appointment "
                 f"and at most {kpi.planned_arrive_early_max_min} min early",
                 kpi.planned_arrive_early_max_min, kpi.planned_arrive_early_target_pct,
                 lambda t: t.journey.purpose in planned and t.journey.appointment_min is not None,
                 lambda t: t.early_min, lowest_min=0),
        Standard("discharge_collect", f"Discharges: collected within "
                 f"{kpi.discharge_collect_within_min} min of ready",
                 kpi.discharge_collect_within_min, kpi.discharge_collect_target_pct,
                 lambda t: (t.journey.purpose is Purpose.DISCHARGE
                            and t.journey.ready_min is not None),
                 lambda t: t.waited_after_ready_min),
    ]


def _met(standard: Standard, group: Sequence[Trip]) -> dict[str, Any]:
    values = [v for t in group if standard.applies(t) and (v := standard.measure(t)) is not None]
    lowest = standard.lowest_min
    met = sum(v <= standard.limit_min and (lowest is None or v >= lowest) for v in values)
    return {"journeys": len(values), "met": met,
            "pct": round(100 * met / len(values), 1) if values else None,
            "values_min": sorted(values)}


def km_by_fuel(plan: Plan) -> dict[str, float]:
    """Road km driven, by the fuel of the vehicle that drove them."""
    km: dict[str, float] = defaultdict(float)
    for roster in plan.rosters:
        km[str(roster.vehicle.fuel)] += roster.distance_m / 1000
    return dict(km)


def co2_factor(config: Config, vehicle: VehicleShift) -> float:
    """The vehicle's kg CO2e a km: its fuel's, a diesel car's apart from a diesel van's."""
    factors = config.co2_kg_per_km
    if vehicle.fuel is Fuel.DIESEL and vehicle.vehicle_type.strip().lower() == "car":
        return factors["diesel_car"]
    return factors[str(vehicle.fuel)]


def _co2_kg(plan: Plan) -> dict[str, float]:
    """The kg CO2e by fuel, unrounded: each shift's km at its vehicle's factor."""
    co2: dict[str, float] = defaultdict(float)
    for roster in plan.rosters:
        co2[str(roster.vehicle.fuel)] += (roster.distance_m / 1000
                                          * co2_factor(plan.problem.config, roster.vehicle))
    return dict(co2)


def co2_kg_by_fuel(plan: Plan) -> dict[str, float]:
    """The kg CO2e by fuel, each rounded to 0.1 kg; their sum is the plan's total everywhere.

    The one rounding for summary.json, week.json and sweep.csv: until 2026-12-07 the week
    and the sweep rounded the unrounded sum, 0.1 kg off the day's summary now and then.
    """
    return {fuel: round(kg, 1) for fuel, kg in _co2_kg(plan).items()}


def co2_kg_total(plan: Plan) -> float:
    """The plan's kg CO2e: the sum of its rounded figures by fuel."""
    return round(sum(co2_kg_by_fuel(plan).values()), 1)


@dataclass(frozen=True)
class PatientCounts:
    """Patients of a day (or a district), counted by how the plan serves their day."""

    total: int = 0  # patients with a journey to plan (cancelled journeys aside)
    servable_alone: int = 0  # every journey of theirs could be planned on its own
    fully_served: int = 0  # every journey of theirs planned
    left_somewhere: int = 0  # taken somewhere and not brought back


@dataclass(frozen=True)
class LeftSomewhere:
    """A patient an outward journey takes somewhere while the journey back is not planned."""

    patient_id: str
    outward_id: str
    return_id: str
    district: str


@dataclass(frozen=True)
class PatientFigures:
    """The plan's patient figures: the one source for summary, report, workbook and CLI."""

    overall: PatientCounts
    by_district: Mapping[str, PatientCounts]
    left: tuple[LeftSomewhere, ...]  # each needs another way back
    outward_without_return_allowed: bool

    def as_json(self) -> dict[str, Any]:
        """The figures as summary.json holds them."""
        return {**asdict(self.overall),
                "needing_another_way_back": [asdict(item) for item in self.left],
                "outward_without_return_allowed": self.outward_without_return_allowed,
                "by_district": {d: asdict(c) for d, c in self.by_district.items()}}


def patients(plan: Plan) -> PatientFigures:
    """Patients whose day the plan serves whole, and those it takes somewhere and leaves.

    A patient's day is their journeys (a cancelled one is no longer part of it). Servable
    alone: none was left out for a reason found before planning, from the journey alone.
    Fully served: every journey planned. Left somewhere: a journey that has a return
    (`return_of`, given or inferred) is planned while that return is not; only a policy
    that allows an outward without its return lets that happen, and then each such
    patient needs another way back. A patient's district is their first journey's.
    """
    planned = {j.journey_id for j in plan.planned}
    reasons = {u.journey.journey_id: u.reason for u in plan.unassigned}
    day: dict[str, list[Journey]] = defaultdict(list)
    for journey in plan.problem.journeys:
        if reasons.get(journey.journey_id) is not Reason.CANCELLED:
            day[journey.patient_id].append(journey)
    left = tuple(
        LeftSomewhere(back.patient_id, back.return_of or "", back.journey_id,
                      district_of(back))
        for back in plan.problem.journeys
        if back.return_of in planned and back.journey_id not in planned
        and reasons.get(back.journey_id) is not Reason.CANCELLED)
    left_patients = {item.patient_id for item in left}
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for patient, journeys in day.items():
        for key in ("", district_of(journeys[0])):
            counts[key]["total"] += 1
            counts[key]["servable_alone"] += all(reasons.get(j.journey_id)
                                                 not in FOUND_BEFORE_PLANNING for j in journeys)
            counts[key]["fully_served"] += all(j.journey_id in planned for j in journeys)
            counts[key]["left_somewhere"] += patient in left_patients

    def made(counter: Counter[str]) -> PatientCounts:
        return PatientCounts(**{name: counter[name] for name in (
            "total", "servable_alone", "fully_served", "left_somewhere")})

    districts = district_order(set(counts) - {""})
    return PatientFigures(made(counts[""]), {d: made(counts[d]) for d in districts}, left,
                          plan.problem.config.linked.allow_outward_without_return)


def servable_journeys(plan: Plan) -> int | None:
    """Journeys that could be planned, those a re-plan found made or under way included.

    The search counts only what it had left to plan (`search.servable`, beside `carried`):
    until the thirty-seventh stop a re-plan's summary and workbook showed 12 journeys that
    could be planned above 25 planned.
    """
    servable, carried = plan.search.get("servable"), plan.search.get("carried", 0)
    if not isinstance(servable, int):
        return None
    return servable + (carried if isinstance(carried, int) else 0)


def standards_met(plan: Plan) -> dict[str, dict[str, Any]]:
    """Each clinical standard's share of journeys meeting it, against its target."""
    planned = trips(plan)
    found = {}
    for standard in standards(plan):
        met = _met(standard, planned)
        found[standard.key] = {
            "title": standard.title, "limit_min": standard.limit_min,
            "target_pct": standard.target_pct, "journeys": met["journeys"], "met": met["met"],
            "pct": met["pct"],
            "target_met": None if met["pct"] is None else met["pct"] >= standard.target_pct}
    return found


def figures(plan: Plan) -> dict[str, Any]:
    """Every figure of the KPI report."""
    problem = plan.problem
    config = problem.config
    planned = trips(plan)
    km = km_by_fuel(plan)
    co2 = _co2_kg(plan)
    electric_km = km.get(str(Fuel.ELECTRIC), 0.0)
    # Saved against the same km in a petrol car, the car an electric car replaces.
    saved = electric_km * (config.co2_kg_per_km["petrol"] - config.co2_kg_per_km["electric"])
    the_standards = standards(plan)
    people = patients(plan)
    districts = district_order({t.district for t in planned} | set(people.by_district))
    by_district = {d: {s.key: _met(s, [t for t in planned if t.district == d])["pct"]
                       for s in the_standards} | {
                       "served": sum(t.district == d for t in planned)} | {
                       "patients": asdict(people.by_district.get(d, PatientCounts()))}
                   for d in districts}
    return {
        "service_date": problem.service_date,
        # A re-plan's clock: a ride home it lost is the morning's, not a rule the plan broke.
        "replanned_at": plan.search.get("replanned_at"),
        "journeys": len(problem.journeys),
        "served": len(planned),
        "served_by_purpose": dict(sorted(Counter(str(t.journey.purpose)
                                                 for t in planned).items())),
        "unassigned_by_reason": dict(sorted(Counter(str(u.reason)
                                                    for u in plan.unassigned).items())),
        "standards": {s.key: {"title": s.title, "limit_min": s.limit_min,
                              "target_pct": s.target_pct, **_met(s, planned)}
                      for s in the_standards},
        "patients": people.as_json(),
        "by_district": by_district,
        "district_gaps": district_gaps(by_district, [s.key for s in the_standards]),
        "on_board_min": sorted(t.on_board_min for t in planned),
        "km_by_fuel": {fuel: round(driven, 1) for fuel, driven in sorted(km.items())},
        "co2_kg_by_fuel": {fuel: round(kg, 1) for fuel, kg in sorted(co2.items())},
        "co2_saved_by_electric_kg": round(saved, 1),
        "vehicles_used": sum(r.used for r in plan.rosters),
        "vehicles_available": len(problem.vehicles),
        "shifts": [{"vehicle_id": r.vehicle.vehicle_id, "fuel": str(r.vehicle.fuel),
                    "shift": [r.vehicle.shift_start_min, r.vehicle.shift_end_min],
                    "out": [r.stops[0].departure_min, r.stops[-1].arrival_min],
                    "breaks": [[s.service_start_min, s.departure_min] for s in r.stops
                               if s.event is Event.BREAK],
                    "busy": _busy(r.stops)} for r in plan.rosters if r.used],
    }


def district_gaps(by_district: Mapping[str, Mapping[str, Any]],
                  standard_keys: Sequence[str]) -> dict[str, dict[str, Any] | None]:
    """The best-served and worst-served district, and the gap between them, per figure.

    For the share of patients fully served (of those whose every journey could be planned)
    and each clinical standard's share, over the districts the figure has a denominator in
    (a booking with no district is no district). None where fewer than two districts have.
    The trust's strategy asks for fewer inequalities between districts: this is the one
    number a manager can watch fall.
    """
    shares: dict[str, dict[str, float]] = {"patients_fully_served": {}}
    for key in standard_keys:
        shares[key] = {}
    for district, values in by_district.items():
        if district == NO_DISTRICT:
            continue
        people = values["patients"]
        if people["servable_alone"]:
            shares["patients_fully_served"][district] = round(
                100.0 * people["fully_served"] / people["servable_alone"], 1)
        for key in standard_keys:
            if values.get(key) is not None:
                shares[key][district] = values[key]
    gaps: dict[str, dict[str, Any] | None] = {}
    for key, found in shares.items():
        if len(found) < 2:
            gaps[key] = None
            continue
        # Ties go to the district listed first (data/districts.csv's order).
        high = max(found, key=lambda d: found[d])
        low = min(found, key=lambda d: found[d])
        gaps[key] = {"highest": {"district": high, "pct": found[high]},
                     "lowest": {"district": low, "pct": found[low]},
                     "gap_pts": round(found[high] - found[low], 1)}
    return gaps


def _busy(stops: Sequence[Any]) -> list[list[int]]:
    """Spans with someone on board."""
    spans, since, aboard = [], 0, 0
    for stop in stops:
        before = aboard
        if stop.event is Event.PICKUP:
            aboard += 1
        elif stop.event is Event.DROPOFF:
            aboard -= 1
        if before == 0 and aboard > 0:
            since = stop.service_start_min
        elif before > 0 and aboard == 0:
            spans.append([since, stop.departure_min])
    return spans
