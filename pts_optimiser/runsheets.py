"""Crew run sheets: one printable page per used vehicle shift, and all of them in one file.

A run sheet shows what a crew needs to drive the shift and no more: each stop in order
with its time, place, journey and patient id, how the patient travels, and who is on board
after it. No names: the booking system holds those.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from pts_optimiser.parse import format_clock
from pts_optimiser.plan import Event, Plan, Roster, Stop
from pts_optimiser.tables import file_stem

_STYLE = """
@page { size: A4; margin: 12mm; }
body { font-family: "Segoe UI", Arial, sans-serif; font-size: 10.5pt; color: #111; }
h1 { font-size: 16pt; margin: 0 0 4pt 0; }
.sheet { page-break-after: always; margin-bottom: 24pt; }
.sheet:last-child { page-break-after: auto; }
.meta { display: grid; grid-template-columns: repeat(3, auto); gap: 2pt 18pt;
        margin-bottom: 8pt; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #999; padding: 3pt 4pt; text-align: left; vertical-align: top; }
th { background: #e8eef5; }
tr.break td { background: #fff6d6; }
tr.start td, tr.end td { background: #f2f2f2; }
.small { color: #555; font-size: 9pt; }
@media print { .noprint { display: none; } }
"""

_EVENT_WORDS = {Event.START: "Leave base", Event.PICKUP: "Collect", Event.DROPOFF: "Drop off",
                Event.BREAK: "Crew break", Event.END: "Back at base"}


def _on_board(stops: Sequence[Stop], upto: int) -> str:
    aboard: dict[str, str] = {}
    for stop in stops[:upto + 1]:
        if stop.journey is None:
            continue
        if stop.event is Event.PICKUP:
            aboard[stop.journey.journey_id] = stop.journey.patient_id
        elif stop.event is Event.DROPOFF:
            aboard.pop(stop.journey.journey_id, None)
    return ", ".join(f"{patient} ({journey})" for journey, patient in aboard.items()) or "nobody"


def _row(index: int, stop: Stop, stops: Sequence[Stop]) -> str:
    journey = stop.journey
    if stop.event is Event.BREAK:
        when = f"{format_clock(stop.service_start_min)}-{format_clock(stop.departure_min)}"
    elif stop.arrival_min != stop.service_start_min:
        when = (f"{format_clock(stop.service_start_min)} "
                f"<span class=small>(arrive {format_clock(stop.arrival_min)})</span>")
    else:
        when = format_clock(stop.service_start_min)
    travels = ""
    if journey is not None:
        parts = [str(journey.mobility)]
        if journey.escorts:
            parts.append(f"{journey.escorts} escort(s)")
        parts += [str(n).replace("_", " ") for n in sorted(journey.needs)]
        travels = ", ".join(parts)
    load = f"{stop.seats_used} seat / {stop.wheelchairs_used} wc / {stop.stretchers_used} str"
    return (
        f"<tr class={stop.event}><td>{index}</td><td>{when}</td>"
        f"<td>{_EVENT_WORDS[stop.event]}</td>"
        f"<td>{escape(stop.label)}<br><span class=small>{stop.lat:.5f}, {stop.lon:.5f}</span></td>"
        f"<td>{escape(journey.journey_id) if journey else ''}</td>"
        f"<td>{escape(journey.patient_id) if journey else ''}</td>"
        f"<td>{escape(travels)}</td>"
        f"<td>{escape(_on_board(stops, index))}<br><span class=small>{load}</span></td></tr>")


def sheet_html(roster: Roster, service_date: str) -> str:
    """The run sheet of one vehicle shift, as an HTML fragment."""
    vehicle = roster.vehicle
    rest = next((s for s in roster.stops if s.event is Event.BREAK), None)
    break_text = (f"{format_clock(rest.service_start_min)}-{format_clock(rest.departure_min)} "
                  f"at {escape(rest.label)}" if rest else "none needed")
    space = vehicle.capacity
    shift = f"{format_clock(vehicle.shift_start_min)}-{format_clock(vehicle.shift_end_min)}"
    rows = "\n".join(_row(i, stop, roster.stops) for i, stop in enumerate(roster.stops))
    return f"""<section class=sheet>
<h1>Run sheet: {escape(vehicle.vehicle_id)} &middot; {escape(service_date)}</h1>
<div class=meta>
<div><b>Vehicle</b> {escape(vehicle.vehicle_type)}, {vehicle.fuel}</div>
<div><b>Crew</b> {vehicle.crew}</div>
<div><b>Base</b> {escape(vehicle.base.label or vehicle.base.site)}</div>
<div><b>Shift</b> {shift}</div>
<div><b>Break</b> {break_text}</div>
<div><b>Space</b> {space.seats} seats, {space.wheelchairs} wheelchair,
{space.stretchers} stretcher</div>
<div><b>Journeys</b> {len(roster.journeys)}</div>
<div><b>Distance</b> {roster.distance_m / 1000:.1f} km</div>
</div>
<table>
<tr><th>#</th><th>Time</th><th>What</th><th>Where</th><th>Journey</th><th>Patient</th>
<th>Travels</th><th>On board after</th></tr>
{rows}
</table>
</section>"""


def page(title: str, body: str) -> str:
    """A complete, self-contained HTML page."""
    return (f"<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
            f"<title>{escape(title)}</title><style>{_STYLE}</style></head>\n"
            f"<body>\n{body}\n</body></html>\n")


def run_sheets(plan: Plan) -> dict[str, str]:
    """File name to HTML: one page per used vehicle shift and `all.html` with every sheet."""
    date = plan.problem.service_date or "service day"
    used = [r for r in plan.rosters if r.used]
    pages = {f"{file_stem(r.vehicle.vehicle_id)}.html":
             page(f"Run sheet {r.vehicle.vehicle_id} {date}", sheet_html(r, date)) for r in used}
    pages["all.html"] = page(f"Run sheets {date}",
                             "\n".join(sheet_html(r, date) for r in used) or
                             "<p>No vehicle shift is used in this plan.</p>")
    return pages
