"""The coordinators' workbook (plan.xlsx): what a person opens first comes first.

Sheet 1 is the summary in plain figures, sheet 2 the journeys not planned with their
booking details and what would fix them, then one sheet per used vehicle shift. Numbers
are numbers and times are times (a column of km adds up), every header row is frozen and
filtered. Text from the day's files is written as text, never as a formula: cells are
typed explicitly, and one that starts like a formula carries Excel's own quote prefix.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from pts_optimiser.domain.clock import format_clock
from pts_optimiser.domain.plan import Event, Plan, Roster
from pts_optimiser.domain.problem import Journey, Window
from pts_optimiser.domain.safe import (
    SUMMARY_SHEET,
    UNASSIGNED_SHEET,
    clean,
    formula_like,
    sheet_names,
)
from pts_optimiser.views import kpi

Cell = str | int | float | dt.time | None
_HEAD_FONT = Font(bold=True)
_HEAD_FILL = PatternFill("solid", fgColor="DCE6F1")
_TIME_FORMAT = "hh:mm"
_CELL_MAX = 32767  # characters Excel holds in a cell
_EVENT_WORDS = {Event.START: "Leave base", Event.PICKUP: "Collect", Event.DROPOFF: "Drop off",
                Event.BREAK: "Crew break", Event.END: "Back at base"}


def _time(minutes: int | None) -> Cell:
    """A clock time as an Excel time (a time after midnight as text: Excel has no 25:10)."""
    if minutes is None:
        return None
    if 0 <= minutes < 24 * 60:
        return dt.time(minutes // 60, minutes % 60)
    return format_clock(minutes)


def _window(window: Window) -> str:
    return f"{format_clock(window.earliest_min)}-{format_clock(window.latest_min)}"


def _place(journey: Journey, pickup: bool) -> str:
    place = journey.pickup if pickup else journey.dropoff
    return place.label or place.site or f"{place.lat:.5f}, {place.lon:.5f}"


def _sheet(book: Workbook, title: str, headers: Sequence[str], rows: Sequence[Sequence[Cell]],
           widths: Mapping[int, int] | None = None) -> None:
    """A sheet with a frozen, filtered header row (write-only: widths and panes come first)."""
    sheet = book.create_sheet(title)
    for column, header in enumerate(headers, start=1):
        longest = max([len(str(header))] + [len(str(v[column - 1])) for v in rows[:200]
                                            if v[column - 1] is not None])
        width = (widths or {}).get(column, min(48, max(8, longest + 2)))
        sheet.column_dimensions[get_column_letter(column)].width = width
    sheet.freeze_panes = "A2"
    if headers:
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(headers))}{max(1, len(rows) + 1)}"
    head = []
    for header in headers:
        cell = _cell(sheet, header)
        cell.font, cell.fill = _HEAD_FONT, _HEAD_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        head.append(cell)
    sheet.append(head)
    for values in rows:
        sheet.append([_cell(sheet, value) for value in values])


def _cell(sheet: Any, value: Cell) -> Any:
    """A cell with its type set here, not guessed from the text."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value  # a number appended as it is
    cell = WriteOnlyCell(sheet)
    if isinstance(value, dt.time):
        cell.value = value
        cell.number_format = _TIME_FORMAT
        return cell
    text = clean(value)[:_CELL_MAX]
    cell.value = text
    cell.data_type = "s"  # openpyxl would make "=..." a formula
    if formula_like(text):
        cell.quotePrefix = True  # Excel keeps it text even when the cell is edited
    return cell


def _summary_rows(plan: Plan, figures: Mapping[str, Any]) -> list[list[Cell]]:
    rows: list[list[Cell]] = [
        ["Service date", plan.problem.service_date or "not given", ""]]
    people = figures.get("patients")
    if people:
        rows += [["Patients booked", people["total"], "patients"],
                 ["Patients whose every journey could be planned", people["servable_alone"],
                  "patients"],
                 ["Patients fully served (every journey planned)", people["fully_served"],
                  "patients"],
                 ["Patients left somewhere (taken there, no journey back)",
                  people["left_somewhere"], "patients"]]
        rows += [[f"Needs another way back: patient {item['patient_id']}",
                  f"{item['return_id']} not planned", f"taken by {item['outward_id']}"]
                 for item in people["needing_another_way_back"]]
    for standard in (figures.get("standards") or {}).values():
        pct = standard["pct"]
        rows.append([f"Standard: {standard['title']}", pct if pct is not None else "no journeys",
                     f"% (target {standard['target_pct']}%)"])
    rows += [["Journeys booked", figures["journeys"], "journeys"]]
    servable = kpi.servable_journeys(plan)
    if servable is not None:
        rows.append(["Journeys that could be planned", servable, "journeys"])
    rows += [["Journeys planned", figures["served"], "journeys"],
             ["Journeys not planned", figures["unassigned"], "journeys"]]
    rows += [[f"Planned: {purpose}", count, "journeys"]
             for purpose, count in figures["served_by_purpose"].items()]
    rows += [[f"Not planned: {reason.replace('_', ' ')}", count, "journeys"]
             for reason, count in figures["unassigned_by_reason"].items()]
    rows += [["Vehicle shifts used", figures["vehicles_used"], "shifts"],
             ["Vehicle shifts available", figures["vehicles_available"], "shifts"],
             ["Distance driven", figures["km_total"], "km"]]
    rows += [[f"Distance driven: {fuel}", km, "km"] for fuel, km in figures["km_by_fuel"].items()]
    rows += [["Carbon emitted", figures["co2_kg_total"], "kg CO2e"]]
    rows += [[f"Carbon emitted: {fuel}", kg, "kg CO2e"]
             for fuel, kg in figures["co2_kg_by_fuel"].items()]
    on_board = figures["time_on_board_min"]
    rows += [["Time on board: average", on_board["mean"], "minutes"],
             ["Time on board: longest", on_board["max"], "minutes"],
             ["Planning time", figures["solve_seconds"], "seconds"]]
    return rows


def _unassigned_rows(plan: Plan, extras: Sequence[str]) -> list[list[Cell]]:
    out: list[list[Cell]] = []
    for item in plan.unassigned:
        journey = item.journey
        cells = dict(journey.extra)
        out.append([
            journey.journey_id, journey.patient_id, str(journey.purpose), str(journey.mobility),
            journey.escorts, "; ".join(sorted(str(n).replace("_", " ") for n in journey.needs)),
            _place(journey, True), _place(journey, False),
            _time(journey.appointment_min), _time(journey.ready_min),
            _window(journey.pickup_window), _window(journey.dropoff_window),
            str(item.reason), item.detail, item.fix,
            *(cells.get(name, "") for name in extras)])
    return out


UNASSIGNED_HEADERS = ("Journey", "Patient", "Purpose", "Mobility", "Escorts", "Needs",
                      "Pickup place", "Drop-off place", "Appointment", "Ready",
                      "Pickup window", "Drop-off window", "Reason code", "Reason",
                      "What would fix it")
VEHICLE_HEADERS = ("#", "What", "Journey", "Patient", "Place", "Arrive", "Service starts",
                   "Leave", "km from previous stop", "Appointment", "Ready", "Seats used",
                   "Wheelchairs used", "Stretchers used", "Latitude", "Longitude")


def _vehicle_rows(roster: Roster, extras: Sequence[str]) -> list[list[Cell]]:
    out: list[list[Cell]] = []
    for seq, stop in enumerate(roster.stops):
        journey = stop.journey
        cells = dict(journey.extra) if journey else {}
        out.append([
            seq, _EVENT_WORDS[stop.event], journey.journey_id if journey else "",
            journey.patient_id if journey else "", stop.label,
            _time(stop.arrival_min), _time(stop.service_start_min), _time(stop.departure_min),
            round(stop.leg_m / 1000, 3),
            _time(journey.appointment_min) if journey else None,
            _time(journey.ready_min) if journey else None,
            stop.seats_used, stop.wheelchairs_used, stop.stretchers_used,
            round(stop.lat, 6), round(stop.lon, 6),
            *(cells.get(name, "") for name in extras)])
    return out


def build_workbook(plan: Plan, figures: Mapping[str, Any],
                   booking_extra: Sequence[str]) -> Workbook:
    """The workbook of a plan: summary, journeys not planned, a sheet per used shift."""
    book = Workbook(write_only=True)
    _sheet(book, SUMMARY_SHEET, ("Figure", "Value", "Unit"), _summary_rows(plan, figures),
           widths={1: 40, 2: 14, 3: 12})
    _sheet(book, UNASSIGNED_SHEET, (*UNASSIGNED_HEADERS, *booking_extra),
           _unassigned_rows(plan, booking_extra))
    used = [r for r in plan.rosters if r.used]
    names = sheet_names(r.vehicle.vehicle_id for r in used)
    for roster in used:
        _sheet(book, names[roster.vehicle.vehicle_id], (*VEHICLE_HEADERS, *booking_extra),
               _vehicle_rows(roster, booking_extra))
    return book


def write_workbook(plan: Plan, path: Path, figures: Mapping[str, Any],
                   booking_extra: Sequence[str]) -> None:
    """Write plan.xlsx under `path`, atomically."""
    book = build_workbook(plan, figures, booking_extra)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                         suffix=".xlsx")
    os.close(handle)
    try:
        book.save(temporary)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise

