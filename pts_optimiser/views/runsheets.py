"""Crew run sheets: one printable page per used vehicle shift, and all of them in one file.

A run sheet shows what a crew needs to drive the shift and no more: each stop in order
with its time, place, the booked appointment or ready time, journey and patient id, how the
patient travels, the booking's own notes (its extra columns, less those that say who the
patient is), and who is on board after it. No names, phone numbers or NHS numbers: the
booking system holds those. Every text from the day's files is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence

from pts_optimiser.domain.clock import format_clock
from pts_optimiser.domain.columns import ROSTER_COLUMNS
from pts_optimiser.domain.plan import Event, Plan, Roster, Stop
from pts_optimiser.domain.problem import Journey
from pts_optimiser.domain.safe import file_stems, html_text

_STYLE = """
@page { size: A4; margin: 12mm; }
body { font-family: "Segoe UI", Arial, sans-serif; font-size: 10.5pt; color: #111; }
h1 { font-size: 16pt; margin: 0 0 4pt 0; overflow-wrap: anywhere; }
.sheet { page-break-after: always; margin-bottom: 24pt; }
.sheet:last-child { page-break-after: auto; }
.meta { display: grid; grid-template-columns: repeat(3, auto); gap: 2pt 18pt;
        margin-bottom: 8pt; }
table { border-collapse: collapse; width: 100%; }
thead { display: table-header-group; }
tr { page-break-inside: avoid; break-inside: avoid; }
th, td { border: 1px solid #999; padding: 3pt 4pt; text-align: left; vertical-align: top;
         overflow-wrap: break-word; }
th.running, .meta div { overflow-wrap: anywhere; }
th { background: #e8eef5; }
th.running { background: #fff; border: none; border-bottom: 1px solid #999; font-weight: normal;
             padding: 0 0 3pt 0; }
tr.break td { background: #fff6d6; }
tr.start td, tr.end td { background: #f2f2f2; }
.small { color: #555; font-size: 9pt; }
@media print { .noprint { display: none; } body { font-size: 9.5pt; } .small { font-size: 8pt; } }
"""

_EVENT_WORDS = {Event.START: "Leave base", Event.PICKUP: "Collect", Event.DROPOFF: "Drop off",
                Event.BREAK: "Crew break", Event.END: "Back at base"}
_COLUMNS = ("#", "Time", "What", "Where", "Booked", "Journey", "Patient", "Travels",
            "Booking notes", "On board after")


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


def _booked(journey: Journey | None) -> str:
    """The booking's own time: the appointment to arrive by, or when the patient is ready."""
    if journey is None:
        return ""
    parts = []
    if journey.appointment_min is not None:
        parts.append(f"appointment {format_clock(journey.appointment_min)}")
    if journey.ready_min is not None:
        parts.append(f"ready {format_clock(journey.ready_min)}")
    return "<br>".join(parts)


def _notes(journey: Journey | None, extras: Sequence[str]) -> str:
    """The booking's extra columns that hold something, as `name: value` lines."""
    if journey is None:
        return ""
    cells = dict(journey.extra)
    return "<br>".join(f"<span class=small>{html_text(name)}:</span> {html_text(cells[name])}"
                       for name in extras if cells.get(name, "").strip())


def _row(index: int, stop: Stop, stops: Sequence[Stop], extras: Sequence[str]) -> str:
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
        f"<td>{html_text(stop.label)}<br><span class=small>{stop.lat:.5f}, {stop.lon:.5f}"
        f"</span></td><td>{_booked(journey)}</td>"
        f"<td>{html_text(journey.journey_id) if journey else ''}</td>"
        f"<td>{html_text(journey.patient_id) if journey else ''}</td>"
        f"<td>{html_text(travels)}</td><td>{_notes(journey, extras)}</td>"
        f"<td>{html_text(_on_board(stops, index))}<br><span class=small>{load}</span></td></tr>")


def sheet_html(roster: Roster, service_date: str, extras: Sequence[str] = ()) -> str:
    """The run sheet of one vehicle shift, as an HTML fragment.

    The table's head repeats on every printed page with the vehicle and the date, so a
    second page is never a sheet without its vehicle.
    """
    vehicle = roster.vehicle
    rest = next((s for s in roster.stops if s.event is Event.BREAK), None)
    break_text = (f"{format_clock(rest.service_start_min)}-{format_clock(rest.departure_min)} "
                  f"at {html_text(rest.label)}" if rest else "none needed")
    space = vehicle.capacity
    shift = f"{format_clock(vehicle.shift_start_min)}-{format_clock(vehicle.shift_end_min)}"
    rows = "\n".join(_row(i, stop, roster.stops, extras) for i, stop in enumerate(roster.stops))
    who = f"{html_text(vehicle.vehicle_id)} &middot; {html_text(service_date)}"
    head = "".join(f"<th>{name}</th>" for name in _COLUMNS)
    return f"""<section class=sheet>
<h1>Run sheet: {who}</h1>
<div class=meta>
<div><b>Vehicle</b> {html_text(vehicle.vehicle_type)}, {vehicle.fuel}</div>
<div><b>Crew</b> {vehicle.crew}</div>
<div><b>Base</b> {html_text(vehicle.base.label or vehicle.base.site)}</div>
<div><b>Shift</b> {shift}</div>
<div><b>Break</b> {break_text}</div>
<div><b>Space</b> {space.seats} seats, {space.wheelchairs} wheelchair,
{space.stretchers} stretcher</div>
<div><b>Journeys</b> {len(roster.journeys)}</div>
<div><b>Distance</b> {roster.distance_m / 1000:.1f} km</div>
</div>
<table>
<thead>
<tr><th class=running colspan={len(_COLUMNS)}>Run sheet <b>{who}</b>, shift {shift}</th></tr>
<tr>{head}</tr>
</thead>
<tbody>
{rows}
</tbody>
</table>
</section>"""


def page(title: str, body: str) -> str:
    """A complete, self-contained HTML page."""
    return (f"<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
            f"<title>{html_text(title)}</title><style>{_STYLE}</style></head>\n"
            f"<body>\n{body}\n</body></html>\n")


def booking_extras(plan: Plan) -> list[str]:
    """The bookings' own columns the policy prints for the crew, in their file's order.

    Only those `[runsheets] booking_columns` names: a sheet travels with the crew, and
    rosters.csv and the workbook carry every column for the office. Until 2026-12-07 every
    extra column was printed; until the thirty-seventh stop every one but those whose
    names matched a list of patterns (patient_name, phone, NHS number), and client_name,
    next_of_kin, mrn or hospital_number were printed.
    """
    wanted = {name.casefold() for name in plan.problem.config.runsheets.booking_columns}
    known = set(ROSTER_COLUMNS)
    return [name for name, _ in (plan.problem.journeys[0].extra if plan.problem.journeys
                                 else ()) if name not in known and name.casefold() in wanted]


def run_sheets(plan: Plan) -> dict[str, str]:
    """File name to HTML: one page per used vehicle shift and `all.html` with every sheet."""
    date = plan.problem.service_date or "service day"
    used = [r for r in plan.rosters if r.used]
    extras = booking_extras(plan)
    stems = file_stems(r.vehicle.vehicle_id for r in used)
    pages = {f"{stems[r.vehicle.vehicle_id]}.html":
             page(f"Run sheet {r.vehicle.vehicle_id} {date}", sheet_html(r, date, extras))
             for r in used}
    pages["all.html"] = page(f"Run sheets {date}",
                             "\n".join(sheet_html(r, date, extras) for r in used) or
                             "<p>No vehicle shift is used in this plan.</p>")
    return pages
