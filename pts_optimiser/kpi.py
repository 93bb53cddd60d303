"""Figures a manager reviews: standards met, time on board, vehicle use, km and carbon.

Everything is computed from the plan's stops, so the report, the workbook and a
recomputation from rosters.csv agree.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pts_optimiser.plan import Event, Plan
from pts_optimiser.problem import Fuel, Journey, Purpose

NO_DISTRICT = "not given"


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
        return dict(self.journey.extra).get("district", "") or NO_DISTRICT


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


def standards(plan: Plan) -> list[Standard]:
    """The standards set in the configuration's [kpi] table."""
    kpi = plan.problem.config.kpi
    renal = Purpose.DIALYSIS
    planned = (Purpose.OUTPATIENT, Purpose.ADMISSION)
    return [
        Standard("renal_collect", f"Renal: collected within {kpi.renal_collect_within_min} min "
                 "of ready", kpi.renal_collect_within_min, kpi.renal_collect_target_pct,
                 lambda t: t.journey.purpose is renal and t.journey.ready_min is not None,
                 lambda t: t.waited_after_ready_min),
        Standard("renal_on_board", f"Renal: on board at most {kpi.renal_on_board_max_min} min",
                 kpi.renal_on_board_max_min, kpi.renal_on_board_target_pct,
                 lambda t: t.journey.purpose is renal, lambda t: t.on_board_min),
        Standard("renal_early", f"Renal: arrive at most {kpi.renal_arrive_early_max_min} min "
                 "before the appointment", kpi.renal_arrive_early_max_min,
                 kpi.renal_arrive_early_target_pct,
                 lambda t: t.journey.purpose is renal and t.journey.appointment_min is not None,
                 lambda t: t.early_min),
        Standard("planned_early", f"Outpatients and admissions: arrive at most "
                 f"{kpi.planned_arrive_early_max_min} min early", kpi.planned_arrive_early_max_min,
                 kpi.planned_arrive_early_target_pct,
                 lambda t: t.journey.purpose in planned and t.journey.appointment_min is not None,
                 lambda t: t.early_min),
        Standard("discharge_collect", f"Discharges: collected within "
                 f"{kpi.discharge_collect_within_min} min of ready",
                 kpi.discharge_collect_within_min, kpi.discharge_collect_target_pct,
                 lambda t: (t.journey.purpose is Purpose.DISCHARGE
                            and t.journey.ready_min is not None),
                 lambda t: t.waited_after_ready_min),
    ]


def _met(standard: Standard, group: Sequence[Trip]) -> dict[str, Any]:
    values = [v for t in group if standard.applies(t) and (v := standard.measure(t)) is not None]
    met = sum(v <= standard.limit_min for v in values)
    return {"journeys": len(values), "met": met,
            "pct": round(100 * met / len(values), 1) if values else None,
            "values_min": sorted(values)}


def km_by_fuel(plan: Plan) -> dict[str, float]:
    """Road km driven, by the fuel of the vehicle that drove them."""
    km: dict[str, float] = defaultdict(float)
    for roster in plan.rosters:
        km[str(roster.vehicle.fuel)] += roster.distance_m / 1000
    return dict(km)


def figures(plan: Plan) -> dict[str, Any]:
    """Every figure of the KPI report."""
    problem = plan.problem
    config = problem.config
    planned = trips(plan)
    km = km_by_fuel(plan)
    co2 = {fuel: driven * config.co2_kg_per_km[fuel] for fuel, driven in km.items()}
    electric_km = km.get(str(Fuel.ELECTRIC), 0.0)
    # Saved against the same miles in a petrol car, the car an electric car replaces.
    saved = electric_km * (config.co2_kg_per_km["petrol"] - config.co2_kg_per_km["electric"])
    the_standards = standards(plan)
    districts = sorted({t.district for t in planned})
    return {
        "service_date": problem.service_date,
        "journeys": len(problem.journeys),
        "served": len(planned),
        "served_by_purpose": dict(sorted(Counter(str(t.journey.purpose)
                                                 for t in planned).items())),
        "unassigned_by_reason": dict(sorted(Counter(str(u.reason)
                                                    for u in plan.unassigned).items())),
        "standards": {s.key: {"title": s.title, "limit_min": s.limit_min,
                              "target_pct": s.target_pct, **_met(s, planned)}
                      for s in the_standards},
        "by_district": {d: {s.key: _met(s, [t for t in planned if t.district == d])["pct"]
                            for s in the_standards} | {
                            "served": sum(t.district == d for t in planned)}
                        for d in districts},
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
