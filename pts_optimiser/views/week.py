"""The week report: continuity of care for regular patients, and what it cost.

Figures (week.json) and one self-contained page (week.html). Continuity is measured as the
multi-period dial-a-ride literature does (docs/week.md):

- distinct vehicles: the vehicle shifts (by vehicle id: the same id is the same vehicle
  and crew every day) that carried the patient's planned journeys over the horizon;
- pickup spread: for each leg of the patient's day (the same trip on each of their days:
  from home to the unit, from the unit home; `domain.problem.legs_of_day`) planned on two
  days or more, the latest planned pickup minus the earliest; the patient's spread is their
  largest leg's.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pts_optimiser.domain.plan import Event, Plan
from pts_optimiser.domain.problem import Journey, VehicleShift, incompatibility, legs_of_day
from pts_optimiser.domain.safe import html_text, script_json
from pts_optimiser.views import kpi
from pts_optimiser.views.report import MET, MISSED, _bars, share_html
from pts_optimiser.views.runsheets import page

SPREAD_BAND_MIN = 5  # the spread distribution's bands


def on_duty_all_day(vehicles: Iterable[VehicleShift], theirs: Sequence[Journey]) -> int:
    """How many of the shifts could carry every journey of a patient's day.

    Able to carry each journey, on duty by the latest time the first pickup may start and
    until the earliest time the last drop-off may: a crew that is there to take the patient
    out and to bring them home. Necessary, not sufficient: the way from the base and the
    day's other patients are not counted.
    """
    start = min(j.pickup_window.latest_min for j in theirs)
    end = max(j.dropoff_window.earliest_min for j in theirs)
    return sum(v.shift_start_min <= start and v.shift_end_min >= end
               and all(incompatibility(v, j) is None for j in theirs) for v in vehicles)


def _due_hour(theirs: Sequence[Journey]) -> int:
    """The hour the patient is due at their first destination (the latest drop-off).

    Their first journey is the day's earliest, ordered as `legs_of_day` orders it.
    """
    first = min(theirs, key=lambda j: (j.pickup_window.earliest_min,
                                       j.dropoff_window.latest_min, j.journey_id))
    return first.dropoff_window.latest_min // 60


def patient_figures(plans: Mapping[str, Plan], regulars: set[str]) -> list[dict[str, Any]]:
    """Per regular patient: journeys booked and planned, days, vehicles met, pickup spread.

    Also the hour they are due at their first destination on most of their days,
    the days their journeys rode with more than one crew, and the fewest crews on duty for
    the whole of their day on any of their days (`on_duty_all_day`).
    """
    vehicles: dict[str, set[str]] = defaultdict(set)
    times: dict[tuple[str, str], list[int]] = defaultdict(list)
    booked: Counter[str] = Counter()
    planned: Counter[str] = Counter()
    days: dict[str, set[str]] = defaultdict(set)
    district: dict[str, str] = {}
    due: dict[str, Counter[int]] = defaultdict(Counter)
    crews: dict[str, list[int]] = defaultdict(list)
    split: Counter[str] = Counter()
    for day, plan in sorted(plans.items()):
        leg = legs_of_day(plan.problem.journeys)
        theirs: dict[str, list[Journey]] = defaultdict(list)
        for journey in plan.problem.journeys:
            if journey.patient_id in regulars:
                booked[journey.patient_id] += 1
                days[journey.patient_id].add(day)
                district.setdefault(journey.patient_id, kpi.district_of(journey))
                theirs[journey.patient_id].append(journey)
        for patient, journeys in theirs.items():
            due[patient][_due_hour(journeys)] += 1
            crews[patient].append(on_duty_all_day(plan.problem.vehicles, journeys))
        rode: dict[str, set[str]] = defaultdict(set)
        for roster in plan.rosters:
            for stop in roster.stops:
                carried = stop.journey
                if stop.event is Event.PICKUP and carried and carried.patient_id in regulars:
                    vehicles[carried.patient_id].add(roster.vehicle.vehicle_id)
                    rode[carried.patient_id].add(roster.vehicle.vehicle_id)
                    times[leg[carried.journey_id]].append(stop.service_start_min)
                    planned[carried.patient_id] += 1
        split.update(p for p, crews_of_day in rode.items() if len(crews_of_day) > 1)
    out = []
    for patient in sorted(regulars):
        spreads = [max(t) - min(t) for (p, _), t in times.items() if p == patient and len(t) > 1]
        # The most usual hour; on a tie, the earliest day's (a Counter keeps first-seen order).
        hour = due[patient].most_common(1)[0][0] if due[patient] else None
        out.append({"patient_id": patient, "district": district.get(patient, kpi.NO_DISTRICT),
                    "days": len(days[patient]), "journeys": booked[patient],
                    "planned": planned[patient], "vehicles": sorted(vehicles[patient]),
                    "distinct_vehicles": len(vehicles[patient]),
                    "pickup_spread_min": max(spreads) if spreads else None,
                    "due_hour": hour, "days_with_two_crews": split[patient],
                    "crews_on_duty_all_day": min(crews[patient]) if crews[patient] else None})
    return out


def _whole(value: float) -> float:
    """A median of whole minutes as the whole number it is, where it is one (5, not 5.0)."""
    return int(value) if float(value).is_integer() else value


def continuity_summary(patients: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Regulars with every journey planned, and their continuity.

    Mean distinct vehicles and the shares meeting one and at most two are of the regulars
    planned at all (a regular never planned met no vehicle); the median spread is of those
    with a leg planned on two days or more.
    """
    met = [p["distinct_vehicles"] for p in patients if p["planned"]]
    spreads = [p["pickup_spread_min"] for p in patients if p["pickup_spread_min"] is not None]
    return {
        "regulars": len(patients),
        "served_whole": sum(0 < p["journeys"] == p["planned"] for p in patients),
        "mean_distinct_vehicles": round(statistics.fmean(met), 2) if met else None,
        "share_one_vehicle": round(sum(m == 1 for m in met) / len(met), 3) if met else None,
        "share_at_most_two": round(sum(m <= 2 for m in met) / len(met), 3) if met else None,
        "median_pickup_spread_min": _whole(statistics.median(spreads)) if spreads else None,
        "distinct_vehicles_distribution": {str(k): v for k, v in sorted(Counter(met).items())},
        "pickup_spread_distribution": {
            f"{band * SPREAD_BAND_MIN}-{(band + 1) * SPREAD_BAND_MIN - 1}": count
            for band, count in sorted(Counter(s // SPREAD_BAND_MIN for s in spreads).items())},
    }


def by_district(patients: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The continuity summary per district, in the order of data/districts.csv."""
    groups: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for patient in patients:
        groups[patient["district"]].append(patient)
    return {d: {k: v for k, v in continuity_summary(groups[d]).items()
                if not k.endswith("distribution")}
            for d in kpi.district_order(set(groups))}


def _districts(regulars: Mapping[str, Mapping[str, Any]],
               served: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, Any]]:
    """Every district's patients' days served whole over the week, beside its regulars'.

    A district with patients and no regulars is listed too: a manager comparing districts
    looks first at who was carried at all.
    """
    nobody = {k: v for k, v in continuity_summary([]).items() if not k.endswith("distribution")}
    return {d: {"patients_servable": served.get(d, {}).get("patients_servable", 0),
                "patients_fully_served": served.get(d, {}).get("patients_fully_served", 0),
                **regulars.get(d, nobody)}
            for d in kpi.district_order(set(regulars) | set(served))}


def by_due_hour(patients: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per hour regulars are due at their first destination: continuity, and crews on duty.

    For dialysis the hour is the session's. Where few crews are on duty for the whole of
    such a day, its regulars ride out with one crew and back with another: a shift there is
    what continuity lacks.
    """
    groups: dict[int, list[Mapping[str, Any]]] = defaultdict(list)
    for patient in patients:
        if patient["due_hour"] is not None:
            groups[patient["due_hour"]].append(patient)
    out = {}
    for hour in sorted(groups):
        group = groups[hour]
        summary = continuity_summary(group)
        on_duty = [p["crews_on_duty_all_day"] for p in group]
        out[f"{hour:02d}:00"] = {
            "regulars": len(group),
            "mean_distinct_vehicles": summary["mean_distinct_vehicles"],
            "share_at_most_two": summary["share_at_most_two"],
            "two_crews_every_day": sum(
                p["planned"] > 0 and p["days_with_two_crews"] == p["days"] for p in group),
            "median_crews_on_duty_all_day": statistics.median(on_duty),
        }
    return out


def day_figures(plan: Plan) -> dict[str, Any]:
    """A day's figures: its patients and the clinical standards first, then the running.

    `patients` are those with a journey to plan; `patients_servable` those of them with no
    journey no vehicle or shift could ever carry, of whom `patients_fully_served` had every
    journey planned (as `pts solve` counts them), also by district (`districts`).
    `standards`: journeys each clinical standard covers and how many meet it.
    """
    km = kpi.km_by_fuel(plan)
    figures = kpi.patients(plan)
    people = figures.overall
    return {"patients": people.total, "patients_servable": people.servable_alone,
            "patients_fully_served": people.fully_served,
            "left_somewhere": people.left_somewhere,
            "districts": {d: {"patients_servable": c.servable_alone,
                              "patients_fully_served": c.fully_served}
                          for d, c in figures.by_district.items()},
            "standards": {key: {"title": s["title"], "target_pct": s["target_pct"],
                                "journeys": s["journeys"], "met": s["met"], "pct": s["pct"]}
                          for key, s in kpi.standards_met(plan).items()},
            "journeys": len(plan.problem.journeys), "served": len(plan.planned),
            "vehicles_used": sum(r.used for r in plan.rosters),
            "km": round(sum(km.values()), 1),
            "co2_kg": kpi.co2_kg_total(plan)}


def _totals(days: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The days' figures summed; each standard's share worked out again from its sums."""
    keys = ("patients", "patients_servable", "patients_fully_served", "left_somewhere",
            "journeys", "served", "vehicles_used", "km", "co2_kg")
    total: dict[str, Any] = {k: round(sum(d[k] for d in days.values()), 1) for k in keys}
    standards: dict[str, dict[str, Any]] = {}
    for day in days.values():
        for key, standard in day["standards"].items():
            summed = standards.setdefault(key, {"title": standard["title"],
                                                "target_pct": standard["target_pct"],
                                                "journeys": 0, "met": 0})
            summed["journeys"] += standard["journeys"]
            summed["met"] += standard["met"]
    for summed in standards.values():
        summed["pct"] = (round(100 * summed["met"] / summed["journeys"], 1)
                         if summed["journeys"] else None)
    total["standards"] = standards
    districts: dict[str, Counter[str]] = defaultdict(Counter)
    for day in days.values():
        for district, counts in day["districts"].items():
            districts[district].update(counts)
    total["districts"] = {d: dict(districts[d]) for d in kpi.district_order(set(districts))}
    return total


def week_figures(plans: Mapping[str, Plan], regulars: set[str],
                 violations: Mapping[str, int], alone: Mapping[str, Plan] | None = None,
                 alone_violations: Mapping[str, int] | None = None,
                 method: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """week.json: continuity, per day and in total, against the days planned alone."""
    patients = patient_figures(plans, regulars)
    days = {d: {**day_figures(p), "violations": violations.get(d)} for d, p in plans.items()}
    figures: dict[str, Any] = {
        "days": days, "total": _totals(days), "continuity": continuity_summary(patients),
        "by_due_hour": by_due_hour(patients),
        "method": dict(method or {}),
    }
    figures["by_district"] = _districts(by_district(patients), figures["total"]["districts"])
    if alone:
        apart = {d: {**day_figures(p), "violations": (alone_violations or {}).get(d)}
                 for d, p in alone.items()}
        alone_patients = patient_figures(alone, regulars)
        total = figures["total"]
        base = _totals(apart)
        figures["alone"] = {"days": apart, "total": base,
                            "continuity": continuity_summary(alone_patients)}
        figures["against_alone"] = {
            "served_share": round(total["served"] / base["served"], 4) if base["served"]
            else None,
            "km_share": round(total["km"] / base["km"], 4) if base["km"] else None,
            "co2_share": round(total["co2_kg"] / base["co2_kg"], 4) if base["co2_kg"] else None}
    figures["patients"] = patients
    return figures


def _cell(value: object) -> str:
    return "-" if value is None else html_text(value)


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A table: `headers` as text (escaped here), each row's cells as HTML already escaped."""
    head = "".join(f"<th>{html_text(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _compared(figures: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any],
                                                         Mapping[str, Any]]]:
    """The week's continuity and totals, and with --compare the days alone's."""
    rows = [("Week", figures["continuity"], figures["total"])]
    if "alone" in figures:
        rows.append(("Each day alone", figures["alone"]["continuity"], figures["alone"]["total"]))
    return rows


def _patients_headline(figures: Mapping[str, Any]) -> str:
    """Patients first: days served whole, regulars with every journey, the standards."""
    rows = _compared(figures)
    standards = rows[0][2]["standards"]
    return _table(
        ["", "Patients' days served whole", "Regulars with every journey planned",
         "Left somewhere", *(s["title"] for s in standards.values())],
        ([html_text(name),
          f"<b>{t['patients_fully_served']:.0f}</b> of {t['patients_servable']:.0f}",
          f"{c['served_whole']} of {c['regulars']}",
          f'<b style="color:{MET if t["left_somewhere"] == 0 else MISSED}">'
          f"{t['left_somewhere']:.0f}</b>",
          *(share_html(t["standards"][key])
            if t["standards"].get(key, {}).get("pct") is not None else "-"
            for key in standards)] for name, c, t in rows))


def _headline(figures: Mapping[str, Any]) -> str:
    return _table(
        ["", "Mean distinct vehicles a regular", "Share with at most two", "Share with one",
         "Median pickup spread (min)", "Journeys served", "km", "kg CO2e"],
        ([html_text(name), _cell(c["mean_distinct_vehicles"]), _cell(c["share_at_most_two"]),
          _cell(c["share_one_vehicle"]), _cell(c["median_pickup_spread_min"]),
          f"{t['served']:.0f} of {t['journeys']:.0f}", f"{t['km']:,.1f}",
          f"{t['co2_kg']:,.1f}"] for name, c, t in _compared(figures)))


def _missed(standards: Mapping[str, Mapping[str, Any]]) -> str:
    """The standards a day misses, in red with their share; "none" in green."""
    missed = [s for s in standards.values()
              if s["pct"] is not None and s["pct"] < s["target_pct"]]
    if not missed:
        return f'<span style="color:{MET}">none</span>'
    return "; ".join(f'<span style="color:{MISSED}">{html_text(s["title"])} '
                     f'{s["pct"]:.1f}% (target {s["target_pct"]}%)</span>' for s in missed)


def _days_table(figures: Mapping[str, Any]) -> str:
    return _table(
        ["Day", "Patients served whole", "Left somewhere", "Clinical standards missed",
         "Journeys served", "Vehicles used", "km", "kg CO2e", "Violations (checker)", ""],
        ([html_text(day), f"{d['patients_fully_served']} of {d['patients_servable']}",
          f"{d['left_somewhere']}", _missed(d["standards"]), f"{d['served']} of {d['journeys']}",
          f"{d['vehicles_used']}", f"{d['km']:,.1f}", f"{d['co2_kg']:,.1f}",
          f'<span style="color:{MET if d["violations"] == 0 else MISSED}">'
          f"{_cell(d['violations'])}</span>",
          " · ".join(f'<a href="{html_text(day)}/{target}">{name}</a>' for name, target in (
              ("report", "report.html"), ("run sheets", "runsheets/all.html"),
              ("map", "maps/overview.html")))]
         for day, d in figures["days"].items()))


def _district_table(figures: Mapping[str, Any]) -> str:
    return _table(
        ["District", "Patients' days served whole", "Regulars", "With every journey planned",
         "Mean distinct vehicles", "Share with at most two", "Median spread (min)"],
        ([html_text(d), f"{v['patients_fully_served']} of {v['patients_servable']}",
          f"{v['regulars']}", f"{v['served_whole']}",
          _cell(v["mean_distinct_vehicles"]),
          _cell(v["share_at_most_two"]), _cell(v["median_pickup_spread_min"])]
         for d, v in figures["by_district"].items()))


def _due_hour_table(figures: Mapping[str, Any]) -> str:
    return _table(
        ["Due at their first destination", "Regulars", "Mean distinct vehicles",
         "Share with at most two", "Out and back with two crews every day",
         "Crews on duty all their day (median)"],
        ([html_text(hour), f"{v['regulars']}", _cell(v["mean_distinct_vehicles"]),
          _cell(v["share_at_most_two"]), f"{v['two_crews_every_day']}",
          _cell(v["median_crews_on_duty_all_day"])]
         for hour, v in figures["by_due_hour"].items()))


def _patients_table(figures: Mapping[str, Any]) -> str:
    return _table(
        ["Patient", "District", "Days", "Journeys planned", "Distinct vehicles", "Vehicles",
         "Pickup spread (min)", "Days with two crews", "Crews on duty all their day"],
        ([html_text(p["patient_id"]), html_text(p["district"]), f"{p['days']}",
          f"{p['planned']} of {p['journeys']}", f"{p['distinct_vehicles']}",
          html_text(", ".join(p["vehicles"])), _cell(p["pickup_spread_min"]),
          f"{p['days_with_two_crews']}", _cell(p["crews_on_duty_all_day"])]
         for p in figures["patients"]))


def week_html(figures: Mapping[str, Any]) -> str:
    """The week report page; its figures embedded as JSON."""
    days = list(figures["days"])
    span = f"{days[0]} to {days[-1]}" if days else "no days"
    continuity = figures["continuity"]
    body = f"""
<h1>Week report: {html_text(span)}</h1>
<p>{continuity['regulars']} regular patients (journeys on
{html_text(figures['method'].get('regular_min_days', 2))} days or more). Distinct vehicles:
the vehicles that carried a regular's journeys over the days. Pickup spread: for each
journey of their day planned on several days, latest minus earliest pickup; a patient's
largest.</p>
<h2>Patients</h2>
<p>A patient's day is served whole when every journey of it is planned (of the patients
with no journey that no vehicle or shift could ever carry); the clinical standards over
every day's planned journeys.</p>{_patients_headline(figures)}
<h2>Continuity and its cost</h2>{_headline(figures)}
<h2>Distinct vehicles a regular met</h2>{_bars(continuity['distinct_vehicles_distribution'])}
<h2>Pickup spread (minutes)</h2>{_bars(continuity['pickup_spread_distribution'])}
<h2>Days</h2>{_days_table(figures)}
<h2>By district</h2>{_district_table(figures)}
<h2>By the hour regulars are due at their first destination</h2>
<p>The hour they are due there on most of their days (for dialysis, their session). Crews on duty
all their day: the shifts that could carry them, on duty by the latest their first pickup
may start and until the earliest their last drop-off may (the fewest over their days).
Where few crews are, their regulars ride out with one crew and back with another.</p>
{_due_hour_table(figures)}
<h2>Regular patients</h2>{_patients_table(figures)}
<script type="application/json" id="figures">{script_json(figures)}</script>
"""
    return page(f"Week report {span}", body)
