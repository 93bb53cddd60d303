"""Turning the text cells of bookings, fleet and sites into a `Problem`.

Every cell is checked and every problem collected, so a coordinator fixes a file in
one pass rather than one error per run.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import date
from itertools import pairwise
from pathlib import Path
from typing import TypeVar

from pts_optimiser.domain.clock import format_clock, parse_clock
from pts_optimiser.domain.columns import ROSTER_COLUMNS, UNASSIGNED_COLUMNS, UNASSIGNED_FIX
from pts_optimiser.domain.config import Config
from pts_optimiser.domain.diagnostics import Code, Finding, InputError, Severity, error, warning
from pts_optimiser.domain.problem import (
    REGION_JOURNEYS,
    Fuel,
    Journey,
    Mobility,
    Need,
    Place,
    Problem,
    Purpose,
    Site,
    Skill,
    Space,
    VehicleShift,
    Window,
    incompatibility,
)
from pts_optimiser.domain.resources import default_sites_path
from pts_optimiser.domain.travel import (
    EstimatedTravel,
    TravelModel,
    direct_minutes,
    point_distance_m,
)
from pts_optimiser.io.tables import Table, file_bytes, read_table

GB_LAT = (49.8, 60.9)
GB_LON = (-8.7, 1.8)
SITE_TOLERANCE_M = 200.0
MAX_ESCORTS_WITHOUT_WARNING = 2
MAX_JOURNEYS_PER_PATIENT = 4
# Beyond these a number is a typing mistake, not a vehicle or a booking (README, Files).
MOST_SEATS = 100
MOST_WHEELCHAIR_SPACES = 20
MOST_STRETCHERS = 20
MOST_ESCORTS = 10
MOST_RANGE_KM = 2000.0
MOST_BREAK_MIN = 240
MOST_RIDE_MIN = 24 * 60
# Ids become file names, sheet names and spreadsheet cells.
MAX_ID_CHARS = 64
FORMULA_START = ("=", "+", "-", "@")
ACCEPTED_DATES = "YYYY-MM-DD (2026-12-01) or DD/MM/YYYY (01/12/2026)"

BOOKING_COLUMNS = (
    "journey_id", "patient_id", "purpose", "mobility", "escorts",
    "pickup_lat", "pickup_lon", "dropoff_lat", "dropoff_lon", "pickup_site", "dropoff_site",
    "pickup_label", "dropoff_label", "appointment_time", "ready_time",
    "earliest_pickup", "latest_pickup", "earliest_dropoff", "latest_dropoff",
    "max_ride_min", "needs", "priority", "service_date", "return_of",
)
FLEET_COLUMNS = (
    "vehicle_id", "vehicle_type", "base_lat", "base_lon", "base_site", "seats",
    "wheelchair_spaces", "stretchers", "crew", "shift_start", "shift_end", "break_min",
    "fuel", "range_km", "skills",
)
SITE_COLUMNS = ("code", "name", "lat", "lon", "kind")
_MIDNIGHT = r"(?:[ T]0?0:00(?::00)?)?"  # a date cell a spreadsheet wrote as a date-time
# [0-9], not \d: \d is any script's digits, and int() reads them all.
_ISO_DATE = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})" + _MIDNIGHT + "$")
_UK_DATE = re.compile(r"^([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})" + _MIDNIGHT + "$")
_WHOLE = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_SITE_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_\-]{0,23}$")
_PLAIN = re.compile(r"^[0-9 .,:;+\-/eE]{1,24}$")  # numbers, times, dates: no name fits
T = TypeVar("T")


def parse_service_date(text: str) -> str | None:
    """`YYYY-MM-DD` of a date in an accepted form, else None.

    Accepted: `YYYY-MM-DD`, and day first as British spreadsheets write it (`DD/MM/YYYY`,
    `D/M/YYYY`); None for any other form, or a day that does not exist.
    """
    iso, uk = _ISO_DATE.match(text), _UK_DATE.match(text)
    if iso:
        year, month, day = (int(part) for part in iso.groups())
    elif uk:
        day, month, year = (int(part) for part in uk.groups())
    else:
        return None
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def whole_number(text: str) -> int:
    """The whole number `text` writes in ASCII digits, with an optional sign; else ValueError.

    int() alone takes `1_2` for 12 and any script's digits: typed or pasted cells that no
    spreadsheet writes, read as a number nobody meant.
    """
    if not _WHOLE.fullmatch(text):
        raise ValueError(f"{text[:24]!r} is not a plain whole number")
    return int(text)


def decimal_number(text: str) -> float:
    """The number `text` writes in ASCII digits and a point (an exponent allowed); else ValueError.

    As `whole_number`: float() alone takes `5_3.29` for 53.29 and any script's digits.
    """
    if not _DECIMAL.fullmatch(text):
        raise ValueError(f"{text[:24]!r} is not a plain decimal number")
    return float(text)


def _shown(value: str) -> str:
    """A cell's value for a message when it cannot be personal, else a mention of the cell.

    Only digits and punctuation are shown: a name typed into the wrong column stays out
    of messages and logs.
    """
    return repr(value) if _PLAIN.match(value) else "the cell's text"


def _code_shown(code: str) -> str:
    """A site code as typed when it looks like one (capitals, digits, - and _)."""
    return repr(code) if _SITE_CODE.match(code) else "in the cell"


def _controls(text: str) -> list[str]:
    """Control, format (bidirectional overrides, zero-width) and line-separator characters."""
    return [c for c in text if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")]


@dataclass(frozen=True)
class ServiceArea:
    """Where a day's places may be: within a margin of some site of the sites file.

    The nearest site, not a box or a circle round them all: a division's sites follow
    its roads and towns, and a box over Derby, Sheffield and Manchester would take in
    much of the Peak District's far side and the North Sea off Lincolnshire alike.
    """

    sites: tuple[tuple[str, float, float], ...]  # code, lat, lon
    margin_km: float

    def beyond_km(self, lat: float, lon: float) -> tuple[float, str]:
        """Kilometres to the nearest site, and its code."""
        best, code = math.inf, ""
        for site_code, site_lat, site_lon in self.sites:
            km = _haversine_km(lat, lon, site_lat, site_lon)
            if km < best:
                best, code = km, site_code
        return best, code


def _haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(a)))


def service_area(sites: Mapping[str, Site], config: Config) -> ServiceArea | None:
    """The service area of a sites file; None without sites (nothing to measure from)."""
    if not sites:
        return None
    return ServiceArea(tuple((s.code, s.lat, s.lon) for s in sites.values()),
                       config.validation.service_area_margin_km)


class _RowReader:
    """Typed access to one row's cells, recording a located finding for each bad one."""

    def __init__(self, table: Table, index: int, findings: list[Finding]) -> None:
        self.table = table
        self.cells = table.rows[index]
        self.row = table.row_number(index)
        self.findings = findings
        self.failed = False

    def fail(self, code: Code, column: str, message: str, hint: str) -> None:
        self.failed = True
        self.findings.append(error(code, self.table.name, message, hint, self.row, column))

    def text(self, column: str) -> str:
        return self.cells.get(column, "")

    def required(self, column: str) -> str:
        value = self.text(column)
        if not value:
            self.fail(Code.MISSING_VALUE, column, "is empty", f"fill in {column}")
        return value

    def clock(self, column: str) -> int | None:
        value = self.text(column)
        if not value:
            return None
        minutes = parse_clock(value)
        if minutes is None:
            self.fail(Code.BAD_TIME, column, f"{_shown(value)} is not a time",
                      "write a 24-hour clock time as HH:MM, e.g. 09:30")
        return minutes

    def number(self, column: str, convert: Callable[[str], T], describe: str) -> T | None:
        value = self.text(column)
        if not value:
            return None
        try:
            result = convert(value)
        except ValueError:
            self.fail(Code.BAD_NUMBER, column, f"{_shown(value)} is not {describe}",
                      f"write {describe}, digits only")
            return None
        if isinstance(result, float) and not math.isfinite(result):
            self.fail(Code.BAD_NUMBER, column, f"{_shown(value)} is not {describe}",
                      f"write {describe}, digits only")
            return None
        return result

    def at_most(self, column: str, value: float | None, most: float, what: str) -> None:
        """A number beyond physical sense is a typing mistake: refuse it before it is used."""
        if value is not None and value > most:
            shown = f"{value:g}" if isinstance(value, float) else str(value)
            self.fail(Code.OUT_OF_RANGE, column, f"{shown} is more than {most:g}, the most {what}",
                      f"give at most {most:g}; check for a typing mistake")

    def identifier(self, column: str) -> str:
        """A required id, refused if it cannot safely become a file name or a cell."""
        value = self.required(column)
        controls = _controls(value)
        if controls:
            codes = ", ".join(sorted({f"U+{ord(c):04X}" for c in controls}))
            self.fail(Code.BAD_ID, column,
                      f"holds control or text-direction characters ({codes})",
                      "retype the id with letters, digits, spaces and - _ . / only")
        elif len(value) > MAX_ID_CHARS:
            self.fail(Code.BAD_ID, column,
                      f"is {len(value)} characters long, more than {MAX_ID_CHARS}",
                      f"give an id of at most {MAX_ID_CHARS} characters")
        elif value.startswith(FORMULA_START):
            self.fail(Code.BAD_ID, column,
                      f"begins with {value[0]!r}, which a spreadsheet reads as a formula",
                      "begin the id with a letter or digit")
        return value

    def whole(self, column: str, default: int) -> int:
        value = self.number(column, whole_number, "a whole number")
        return default if value is None else value

    def choice(self, column: str, enum: type[T], code: Code) -> T | None:
        value = self.text(column)
        options = [str(member) for member in enum]  # type: ignore[attr-defined]
        if value.lower() not in options:
            if value:
                self.fail(code, column, f"{_shown(value)} is not a known {column}",
                          f"use one of: {', '.join(options)}")
            else:
                self.fail(Code.MISSING_VALUE, column, "is empty",
                          f"use one of: {', '.join(options)}")
            return None
        return enum(value.lower())  # type: ignore[call-arg]

    def choices(self, column: str, enum: type[T], code: Code) -> frozenset[T]:
        found: set[T] = set()
        options = [str(member) for member in enum]  # type: ignore[attr-defined]
        for part in self.text(column).split(";"):
            part = part.strip().lower()
            if not part:
                continue
            if part not in options:
                self.fail(code, column, f"{_shown(part)} is not a known {column}",
                          f"use ';'-separated values from: {', '.join(options)}")
            else:
                found.add(enum(part))  # type: ignore[call-arg]
        return frozenset(found)

    def place(self, prefix: str, sites: Mapping[str, Site], label_column: str = "",
              area: ServiceArea | None = None) -> Place | None:
        """A place from `<prefix>_lat/_lon` and/or `<prefix>_site`."""
        lat_col, lon_col, site_col = f"{prefix}_lat", f"{prefix}_lon", f"{prefix}_site"
        lat = self.number(lat_col, decimal_number, "a latitude in decimal degrees")
        lon = self.number(lon_col, decimal_number, "a longitude in decimal degrees")
        code = self.text(site_col)
        label = self.text(label_column) if label_column else ""
        site = None
        if code:
            site = sites.get(code) or sites.get(code.upper())
            if site is None:
                self.fail(Code.UNKNOWN_SITE, site_col,
                          f"site code {_code_shown(code)} is not in the sites file",
                          "use a code from the sites file, or give coordinates instead")
                return None
        if lat is None and lon is None:
            if site is None:
                if not self.text(lat_col) and not self.text(lon_col):
                    self.fail(Code.MISSING_LOCATION, lat_col,
                              f"neither {lat_col}/{lon_col} nor {site_col} is given",
                              f"give coordinates or a site code for {prefix}")
                return None
            return Place(site.lat, site.lon, label or site.name, site.code)
        if lat is None or lon is None:
            missing = lat_col if lat is None else lon_col
            if not self.text(missing):
                self.fail(Code.MISSING_VALUE, missing, "is empty",
                          f"give both {lat_col} and {lon_col}, or only {site_col}")
            return None
        if not self.in_gb(lat_col, lon_col, lat, lon):
            return None
        if area is not None and site is None and not self.in_area(area, prefix, lat, lon):
            return None
        if site is not None:
            apart = point_distance_m(lat, lon, site.lat, site.lon)
            if apart > SITE_TOLERANCE_M:
                self.fail(Code.SITE_MISMATCH, site_col,
                          f"{site.code} ({site.name}) is {apart / 1000:.1f} km from "
                          f"{lat:.5f},{lon:.5f}",
                          "correct the coordinates or the site code, or leave one of them empty")
                return None
            return Place(lat, lon, label or site.name, site.code)
        return Place(lat, lon, label)

    def in_area(self, area: ServiceArea, prefix: str, lat: float, lon: float) -> bool:
        far_km, nearest = area.beyond_km(lat, lon)
        if far_km <= area.margin_km:
            return True
        lat_col, lon_col = f"{prefix}_lat", f"{prefix}_lon"
        if area.beyond_km(lat, -lon)[0] <= area.margin_km:
            self.fail(Code.OUTSIDE_SERVICE_AREA, lon_col,
                      f"{lat:.4f},{lon:.4f} is {far_km:.0f} km from the nearest site "
                      f"({nearest}); with {lon_col} {-lon:.4f} it would be in the area",
                      f"check the sign of {lon_col}: places west of Greenwich have a "
                      "negative longitude")
        else:
            self.fail(Code.OUTSIDE_SERVICE_AREA, lat_col,
                      f"{lat:.4f},{lon:.4f} is {far_km:.0f} km from the nearest site "
                      f"({nearest}), more than the service area's "
                      f"{area.margin_km:g} km margin",
                      f"check {lat_col} and {lon_col} (from the address, not a default or a "
                      "head office); if the place is right, add a site near it to the sites "
                      "file or raise [validation] service_area_margin_km")
        return False

    def in_gb(self, lat_col: str, lon_col: str, lat: float, lon: float) -> bool:
        lat_ok = GB_LAT[0] <= lat <= GB_LAT[1]
        lon_ok = GB_LON[0] <= lon <= GB_LON[1]
        if lat_ok and lon_ok:
            return True
        if GB_LAT[0] <= lon <= GB_LAT[1] and GB_LON[0] <= lat <= GB_LON[1]:
            self.fail(Code.LAT_LON_SWAPPED, lat_col,
                      f"{lat_col}={lat} and {lon_col}={lon} look swapped",
                      f"swap the {lat_col} and {lon_col} columns")
        else:
            column = lat_col if not lat_ok else lon_col
            self.fail(Code.OUTSIDE_GB, column,
                      f"{lat},{lon} is outside Great Britain",
                      f"check the point; latitude {GB_LAT[0]}..{GB_LAT[1]}, "
                      f"longitude {GB_LON[0]}..{GB_LON[1]}")
        return False


def _spelling(text: str) -> str:
    """Text as a person may retype it: case, spaces and punctuation aside (ids, headers)."""
    return "".join(c for c in text.casefold() if c.isalnum())


def _require_columns(table: Table, groups: list[tuple[str, ...]], findings: list[Finding],
                     known: Sequence[str] = ()) -> bool:
    """Each group needs at least one of its columns; report the first of a missing group.

    A column of `known` (the contract's, optional ones included) spelt another way
    (`Needs`, `Return Of`, `Service_Date`) is an error too: read as an extra column it
    would be carried through and ignored, and the oxygen a patient needs, or the day a row
    is for, silently lost. So it is beside the column spelt right: which of the two holds
    the data is not for the reader to guess.
    """
    ok = True
    present = set(table.columns)
    missing: set[str] = set()
    for group in groups:
        if not present.intersection(group):
            ok = False
            missing.update(group)
            close = [(c, name) for name in group for c in table.columns
                     if _spelling(c) == _spelling(name)]
            hint = (f"rename column {close[0][0]!r} to {close[0][1]!r}" if close
                    else f"add a column {group[0]!r}"
                    + (f" (or {', '.join(group[1:])})" if len(group) > 1 else ""))
            findings.append(error(Code.MISSING_COLUMN, table.name,
                                  f"required column {group[0]!r} is missing", hint, 1, group[0]))
    meant = {_spelling(c): c for c in known if c not in missing}
    for column in table.columns:
        name = meant.get(_spelling(column))
        if column in known or name is None:
            continue
        ok = False
        if name in present:
            findings.append(error(
                Code.MISNAMED_COLUMN, table.name,
                f"column {column!r} is not read: it is the column {name!r} spelt another "
                f"way, and the file has {name!r} too",
                f"keep the data in column {name!r} and delete column {column!r} (if it is a "
                "column of your own, give it a name of your own)", 1, column))
        else:
            findings.append(error(
                Code.MISNAMED_COLUMN, table.name,
                f"column {column!r} is not read: the column {name!r} is spelt so",
                f"rename column {column!r} to {name!r} (if it is a column of your own, give "
                "it a name of your own)", 1, column))
    return ok


def _duplicates(table: Table, column: str, findings: list[Finding]) -> None:
    first_row: dict[str, int] = {}
    for index, cells in enumerate(table.rows):
        value = cells.get(column, "")
        if not value:
            continue
        row = table.row_number(index)
        if value in first_row:
            findings.append(error(Code.DUPLICATE_ID, table.name,
                                  f"{value!r} is also on row {first_row[value]}",
                                  f"give each row its own {column}", row, column))
        else:
            first_row[value] = row


def _rows_text(rows: list[int]) -> str:
    shown = ", ".join(str(r) for r in rows[:10])
    return shown + (f" and {len(rows) - 10} more" if len(rows) > 10 else "")


def _similar_ids(table: Table, column: str, findings: list[Finding]) -> None:
    """Warn of ids that differ only in case or punctuation (`A 1`, `A_1`, `a.1`).

    On a run sheet or as a file name they read as one, and are most likely one id typed
    two ways.
    """
    first_row: dict[str, int] = {}
    for index, cells in enumerate(table.rows):
        value = cells.get(column, "")
        if value and value not in first_row:
            first_row[value] = table.row_number(index)
    groups: dict[str, list[str]] = defaultdict(list)
    for value in first_row:
        groups[_spelling(value)].append(value)
    for key, values in groups.items():
        if len(values) < 2 or not key:
            continue
        listed = ", ".join(f"{v!r} (row {first_row[v]})" for v in values[:5])
        findings.append(warning(
            Code.SIMILAR_IDS, table.name,
            f"{len(values)} {column}s differ only in case or punctuation: {listed}",
            "if they are one, write it the same way; if not, give ids that differ in "
            "letters or digits", first_row[values[1]], column))


def _clean_free_text(table: Table, columns: list[str], findings: list[Finding]) -> Table:
    """Free text with control and text-direction characters replaced by spaces.

    One warning a column; the text itself stays out of the message (it may name a patient).
    """
    present = [c for c in columns if c in table.columns]
    touched: dict[str, list[int]] = defaultdict(list)
    rows: list[Mapping[str, str]] = []
    for index, cells in enumerate(table.rows):
        dirty = [c for c in present if _controls(cells.get(c, ""))]
        if not dirty:
            rows.append(cells)
            continue
        clean = dict(cells)
        for column in dirty:
            text = "".join(" " if _controls(ch) else ch for ch in clean[column])
            clean[column] = " ".join(text.split())
            touched[column].append(table.row_number(index))
        rows.append(clean)
    if not touched:
        return table
    for column, at in touched.items():
        findings.append(warning(
            Code.CONTROL_CHARACTERS, table.name,
            f"control or text-direction characters in {len(at)} cell(s) were replaced by "
            f"spaces (rows {_rows_text(at)})",
            "check those cells read as meant; retype them without pasted formatting",
            at[0], column))
    return Table(table.name, table.columns, tuple(rows), table.row_numbers)


def parse_sites(table: Table) -> tuple[dict[str, Site], list[Finding]]:
    """Sites by code."""
    findings: list[Finding] = []
    if not _require_columns(table, [(c,) for c in SITE_COLUMNS if c != "kind"], findings,
                            SITE_COLUMNS):
        return {}, findings
    _duplicates(table, "code", findings)
    table = _clean_free_text(table, [c for c in table.columns if c not in ("code", "lat", "lon")],
                             findings)
    sites: dict[str, Site] = {}
    for index in range(len(table.rows)):
        cells = _RowReader(table, index, findings)
        code = cells.required("code")
        name = cells.required("name")
        lat = cells.number("lat", decimal_number, "a latitude in decimal degrees")
        lon = cells.number("lon", decimal_number, "a longitude in decimal degrees")
        if lat is None or lon is None:
            for column, value in (("lat", lat), ("lon", lon)):
                if value is None and not cells.text(column):
                    cells.fail(Code.MISSING_VALUE, column, "is empty", f"fill in {column}")
            continue
        if not cells.in_gb("lat", "lon", lat, lon) or cells.failed:
            continue
        sites.setdefault(code, Site(code, name, lat, lon, cells.text("kind")))
    return sites, findings


def parse_fleet(table: Table, sites: Mapping[str, Site], config: Config
                ) -> tuple[list[VehicleShift], list[Finding]]:
    """Vehicle shifts, one per row."""
    findings: list[Finding] = []
    groups: list[tuple[str, ...]] = [("vehicle_id",), ("vehicle_type",),
                                     ("base_lat", "base_site"), ("seats",),
              ("wheelchair_spaces",), ("stretchers",), ("crew",), ("shift_start",),
              ("shift_end",)]
    if "base_lat" in table.columns and "base_site" not in table.columns:
        groups.append(("base_lon",))
    if not _require_columns(table, groups, findings, (*FLEET_COLUMNS, "service_date")):
        return [], findings
    _duplicates(table, "vehicle_id", findings)
    _similar_ids(table, "vehicle_id", findings)
    known = set(FLEET_COLUMNS)
    extras = [c for c in table.columns if c not in known]
    table = _clean_free_text(table, ["vehicle_type", *extras], findings)
    area = service_area(sites, config)
    vehicles: list[VehicleShift] = []
    for index in range(len(table.rows)):
        cells = _RowReader(table, index, findings)
        vehicle_id = cells.identifier("vehicle_id")
        vehicle_type = cells.required("vehicle_type")
        base = cells.place("base", sites, area=area)
        capacity: dict[str, int] = {}
        for column, most in (("seats", MOST_SEATS), ("wheelchair_spaces", MOST_WHEELCHAIR_SPACES),
                             ("stretchers", MOST_STRETCHERS)):
            if not cells.text(column):
                cells.fail(Code.MISSING_VALUE, column, "is empty", f"fill in {column} (0 if none)")
            value = cells.whole(column, 0)
            if value < 0:
                cells.fail(Code.NEGATIVE_CAPACITY, column, f"{value} is negative",
                           "give 0 or more")
            cells.at_most(column, value, most, "space of its kind a vehicle has")
            capacity[column] = value
        if not cells.text("crew"):  # required: a stretcher's crew of 2 read as 1 is lost
            cells.fail(Code.MISSING_VALUE, "crew", "is empty", "give 1 or 2")
        crew = cells.whole("crew", 1)
        if cells.text("crew") and crew not in (1, 2):
            cells.fail(Code.BAD_CREW, "crew", f"{crew} is not 1 or 2", "give 1 or 2")
        start = cells.clock("shift_start")
        end = cells.clock("shift_end")
        for column, clock in (("shift_start", start), ("shift_end", end)):
            if clock is None and not cells.text(column):
                cells.fail(Code.MISSING_VALUE, column, "is empty", "give a time as HH:MM")
        if start is not None and end is not None and end <= start:
            cells.fail(Code.SHIFT_NOT_POSITIVE, "shift_end",
                       f"shift ends at {format_clock(end)}, "
                       f"not after its start {format_clock(start)}",
                       "give a shift_end later than shift_start on the same day")
        break_min = cells.whole("break_min", config.breaks.default_break_min)
        if break_min < 0:
            cells.fail(Code.BAD_NUMBER, "break_min", f"{break_min} is negative", "give 0 or more")
        cells.at_most("break_min", break_min, MOST_BREAK_MIN, "minutes a crew break takes")
        rules = config.breaks
        if start is not None and end is not None and end - start > rules.required_over_min \
                and rules.earliest_after_start_min + break_min > end - start:
            # It must take a break it has no time for: every journey would be left out,
            # each with a reason naming something else (until the thirty-fifth stop).
            cells.fail(Code.BAD_NUMBER, "break_min",
                       f"a {(end - start) / 60:g} h shift must take its {break_min} min break "
                       f"(over {rules.required_over_min} min, [breaks] required_over_min), "
                       f"no sooner than {rules.earliest_after_start_min} min after its start "
                       "([breaks] earliest_after_start_min): past its end, so it could carry "
                       "nobody", "lengthen the shift, or correct the policy's [breaks]")
        fuel, read_fuel = Fuel.DIESEL, None
        if cells.text("fuel"):
            read_fuel = cells.choice("fuel", Fuel, Code.UNKNOWN_FUEL)
            fuel = read_fuel or Fuel.DIESEL
        range_km = cells.number("range_km", decimal_number, "a distance in km")
        if range_km is not None and range_km <= 0:
            cells.fail(Code.BAD_NUMBER, "range_km", f"{range_km:g} is not positive",
                       "give the shift's usable range in km")
        cells.at_most("range_km", range_km, MOST_RANGE_KM, "km a shift can drive")
        if fuel is Fuel.ELECTRIC and range_km is None and not cells.text("range_km"):
            cells.fail(Code.EV_WITHOUT_RANGE, "range_km", "an electric vehicle has no range",
                       "give range_km, the usable range for the whole shift")
        if fuel is not Fuel.ELECTRIC and cells.text("range_km"):
            range_km = None
            if read_fuel is not None or not cells.text("fuel"):  # else the fuel's own error
                _range_not_electric(cells, fuel)
        skills = cells.choices("skills", Skill, Code.UNKNOWN_SKILL)
        shift_day = cells.text("service_date")
        if shift_day and parse_service_date(shift_day) is None:
            cells.fail(Code.BAD_DATE, "service_date",
                       f"{_shown(shift_day)} is not a date in an accepted form",
                       f"write the date as {ACCEPTED_DATES}, or leave it empty for every day")
        if cells.failed or base is None or start is None or end is None:
            continue
        vehicles.append(VehicleShift(
            vehicle_id=vehicle_id, vehicle_type=vehicle_type, base=base,
            capacity=Space(capacity["seats"], capacity["wheelchair_spaces"],
                           capacity["stretchers"]),
            crew=crew, shift_start_min=start, shift_end_min=end, break_min=break_min,
            fuel=fuel, range_km=range_km, skills=skills,
            extra=tuple((c, cells.text(c)) for c in extras),
        ))
    return vehicles, findings


def _range_not_electric(cells: _RowReader, fuel: Fuel) -> None:
    """A warning that a range given for a vehicle that is not electric is not used.

    The contract asks range_km of electric vehicles only, and a fleet system may export
    every vehicle's range: not an error. Enforced, it left a diesel's journeys out as
    beyond_ev_range, "only electric cars are free", in a fleet with none. The warning is
    there for the electric car typed as another fuel, which is then planned with no limit.
    """
    given = "diesel, the default where fuel is empty" if not cells.text("fuel") else str(fuel)
    cells.findings.append(warning(
        Code.RANGE_NOT_ELECTRIC, cells.table.name,
        f"range_km is not used: the vehicle's fuel is {given}, and only an electric "
        "vehicle's range bounds its shift",
        "if the vehicle is electric, set fuel to electric; if not, clear range_km",
        cells.row, "range_km"))


@dataclass(frozen=True)
class _Bounds:
    """A window being resolved: each bound with the column it came from, if explicit."""

    earliest: int
    latest: int
    earliest_from: str = ""
    latest_from: str = ""


def _service_min(mobility: Mobility, escorts: int, config: Config) -> int:
    per_mobility = {
        Mobility.SEATED: config.service.seated_min,
        Mobility.WHEELCHAIR: config.service.wheelchair_min,
        Mobility.STRETCHER: config.service.stretcher_min,
    }
    return per_mobility[mobility] + escorts * config.service.per_escort_min


_BOOKING_TIMES = ("appointment_time", "ready_time", "earliest_pickup", "latest_pickup",
                  "earliest_dropoff", "latest_dropoff")


def parse_bookings(table: Table, sites: Mapping[str, Site], config: Config,
                   travel: TravelModel) -> tuple[list[Journey], list[Finding]]:
    """Journeys, one per row, windows resolved from the policy where not given."""
    findings: list[Finding] = []
    groups: list[tuple[str, ...]] = [("journey_id",), ("patient_id",), ("purpose",),
                                     ("mobility",)]
    for end in ("pickup", "dropoff"):
        if f"{end}_site" not in table.columns:
            groups += [(f"{end}_lat", f"{end}_site"), (f"{end}_lon", f"{end}_site")]
    groups.append(_BOOKING_TIMES)
    if not _require_columns(table, groups, findings, BOOKING_COLUMNS):
        return [], findings
    _duplicates(table, "journey_id", findings)
    for column in ("journey_id", "patient_id"):
        _similar_ids(table, column, findings)
    known = set(BOOKING_COLUMNS)
    extras = [c for c in table.columns if c not in known]
    table = _clean_free_text(table, ["pickup_label", "dropoff_label", *extras], findings)
    area = service_area(sites, config)
    journeys: list[Journey] = []
    for index in range(len(table.rows)):
        journey = _booking(_RowReader(table, index, findings), sites, area, config, travel,
                           extras)
        if journey is not None:
            journeys.append(journey)
    return journeys, findings


def _booking(cells: _RowReader, sites: Mapping[str, Site], area: ServiceArea | None,
             config: Config, travel: TravelModel, extras: Sequence[str]) -> Journey | None:
    """One booking row's journey, or None with its findings recorded."""
    journey_id = cells.identifier("journey_id")
    patient_id = cells.identifier("patient_id")
    purpose = cells.choice("purpose", Purpose, Code.UNKNOWN_PURPOSE)
    mobility = cells.choice("mobility", Mobility, Code.UNKNOWN_MOBILITY)
    escorts = cells.whole("escorts", 0)
    if escorts < 0:
        cells.fail(Code.BAD_NUMBER, "escorts", f"{escorts} is negative", "give 0 or more")
    cells.at_most("escorts", escorts, MOST_ESCORTS, "escorts with one patient")
    pickup = cells.place("pickup", sites, "pickup_label", area)
    dropoff = cells.place("dropoff", sites, "dropoff_label", area)
    times = {c: cells.clock(c) for c in _BOOKING_TIMES}
    max_ride = cells.number("max_ride_min", whole_number, "a whole number of minutes")
    if max_ride is not None and max_ride <= 0:
        cells.fail(Code.BAD_NUMBER, "max_ride_min", f"{max_ride} is not positive",
                   "give the longest time on board in minutes")
    cells.at_most("max_ride_min", max_ride, MOST_RIDE_MIN, "minutes on board (a day)")
    needs = cells.choices("needs", Need, Code.UNKNOWN_NEED)
    priority = cells.number("priority", whole_number, "a whole number")
    if priority is not None and priority not in (1, 2, 3):
        cells.fail(Code.BAD_PRIORITY, "priority", f"{priority} is not 1, 2 or 3",
                   "give 1 (must go), 2 or 3 (can be moved)")
    service_date = _booking_date(cells)
    _check_times(cells, times)
    if cells.failed or purpose is None or mobility is None or pickup is None or dropoff is None:
        return None
    policy = config.purposes[purpose]
    direct_min = direct_minutes(travel, pickup.lat, pickup.lon, dropoff.lat, dropoff.lon)
    ride_min = (max_ride if max_ride is not None else
                max(policy.max_ride_min, math.ceil(direct_min * config.ride_direct_factor)))
    board = _service_min(mobility, escorts, config)
    windows = _resolve_windows(times, policy.arrive_early_min, policy.collect_within_min,
                               direct_min, ride_min, board)
    if isinstance(windows, str):
        cells.fail(Code.WINDOW_REVERSED, windows,
                   "this time leaves an empty window once the policy is applied",
                   "check the explicit window against the appointment or ready time")
        return None
    pickup_window, dropoff_window = windows
    return Journey(
        journey_id=journey_id, patient_id=patient_id, purpose=purpose, mobility=mobility,
        escorts=escorts, pickup=pickup, dropoff=dropoff, pickup_window=pickup_window,
        dropoff_window=dropoff_window, max_ride_min=ride_min, pickup_service_min=board,
        dropoff_service_min=board, needs=needs,
        priority=priority if priority is not None else policy.priority,
        appointment_min=times["appointment_time"], ready_min=times["ready_time"],
        service_date=service_date, extra=tuple((c, cells.text(c)) for c in extras),
        return_of=cells.text("return_of") or None,
    )


def _booking_date(cells: _RowReader) -> str:
    """The booking's service_date as YYYY-MM-DD ("" if none, or not a date)."""
    service_date = cells.text("service_date")
    if not service_date:
        return service_date
    day = parse_service_date(service_date)
    if day is None:
        uk = _UK_DATE.match(service_date)
        if uk and 12 < int(uk.group(2)) <= 31 and int(uk.group(1)) <= 12:
            cells.fail(Code.BAD_DATE, "service_date",
                       f"{_shown(service_date)} reads month first (US order); dates "
                       "here are read day first",
                       "write dates as YYYY-MM-DD; check every date of this file, as "
                       "a month-first date like 01/12/2026 reads as 1 December")
        else:
            cells.fail(Code.BAD_DATE, "service_date",
                       f"{_shown(service_date)} is not a date in an accepted form",
                       f"write the date as {ACCEPTED_DATES}")
    return day or ""


def _check_times(cells: _RowReader, times: Mapping[str, int | None]) -> None:
    """A booking needs a time to plan from, and no explicit window the wrong way round."""
    anchors = [t for t in times.values() if t is not None]
    has_pickup = times["earliest_pickup"] is not None and times["latest_pickup"] is not None
    has_dropoff = times["earliest_dropoff"] is not None and times["latest_dropoff"] is not None
    if (times["appointment_time"] is None and times["ready_time"] is None
            and not has_pickup and not has_dropoff
            and not any(cells.text(c) for c in times)):
        cells.fail(Code.NO_TIME_GIVEN, "appointment_time",
                   "no appointment_time, ready_time or explicit window",
                   "give appointment_time (to care), ready_time (from care), "
                   "or both ends of a pickup or drop-off window")
    elif (times["appointment_time"] is None and times["ready_time"] is None
          and not has_pickup and not has_dropoff and anchors):
        cells.fail(Code.NO_TIME_GIVEN, "appointment_time",
                   "only one end of a window is given, and no appointment or ready time",
                   "give both ends of the window, or an appointment_time or ready_time")
    for first, last in (("earliest_pickup", "latest_pickup"),
                        ("earliest_dropoff", "latest_dropoff")):
        low, high = times[first], times[last]
        if low is not None and high is not None and low > high:
            cells.fail(Code.WINDOW_REVERSED, first,
                       f"{first} {format_clock(low)} is after {last} {format_clock(high)}",
                       f"make {first} no later than {last}")


def _resolve_windows(times: Mapping[str, int | None], arrive_early_min: int,
                     collect_within_min: int, direct_min: int, ride_min: int, board_min: int
                     ) -> tuple[Window, Window] | str:
    """Pickup and drop-off windows: explicit bounds win, the policy fills the rest.

    Bounds the policy derives are implied by the others and the ride limit, so they are
    clamped; an explicit bound that empties a window is the booking's own error, and
    its column is returned instead.
    """
    appointment, ready = times["appointment_time"], times["ready_time"]
    if appointment is not None:
        dropoff = _Bounds(appointment - arrive_early_min, appointment)
        pickup = _Bounds(dropoff.earliest - ride_min - board_min,
                         dropoff.latest - direct_min - board_min)
        if ready is not None:
            pickup = _Bounds(ready, ready + collect_within_min)
    elif ready is not None:
        pickup = _Bounds(ready, ready + collect_within_min)
        dropoff = _Bounds(pickup.earliest + board_min + direct_min,
                          pickup.latest + board_min + ride_min)
    else:
        pickup = _Bounds(_or(times["earliest_pickup"], 0), _or(times["latest_pickup"], 0))
        dropoff = _Bounds(_or(times["earliest_dropoff"], 0), _or(times["latest_dropoff"], 0))
        if times["earliest_pickup"] is None or times["latest_pickup"] is None:
            pickup = _Bounds(dropoff.earliest - ride_min - board_min,
                             dropoff.latest - direct_min - board_min)
        if times["earliest_dropoff"] is None or times["latest_dropoff"] is None:
            dropoff = _Bounds(pickup.earliest + board_min + direct_min,
                              pickup.latest + board_min + ride_min)
    pickup = _override(pickup, times["earliest_pickup"], times["latest_pickup"], "pickup")
    dropoff = _override(dropoff, times["earliest_dropoff"], times["latest_dropoff"], "dropoff")
    for bounds in (pickup, dropoff):
        if bounds.earliest > bounds.latest and (bounds.earliest_from or bounds.latest_from):
            return bounds.earliest_from or bounds.latest_from
    return (_window(pickup), _window(dropoff))


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


def _override(bounds: _Bounds, earliest: int | None, latest: int | None, end: str) -> _Bounds:
    return _Bounds(
        bounds.earliest if earliest is None else earliest,
        bounds.latest if latest is None else latest,
        "" if earliest is None else f"earliest_{end}",
        "" if latest is None else f"latest_{end}",
    )


def _window(bounds: _Bounds) -> Window:
    earliest = max(0, bounds.earliest)
    return Window(earliest, max(earliest, min(24 * 60, bounds.latest)))


def _advice(problem_findings: list[Finding], journeys: list[Journey],
            vehicles: list[VehicleShift], bookings_name: str,
            rows: Mapping[str, int]) -> None:
    """Warnings about bookings that parse but look wrong for this fleet."""
    per_patient = Counter(j.patient_id for j in journeys)
    for journey in journeys:
        row = rows.get(journey.journey_id)
        if journey.escorts > MAX_ESCORTS_WITHOUT_WARNING:
            problem_findings.append(warning(
                Code.MANY_ESCORTS, bookings_name,
                f"{journey.escorts} escorts on journey {journey.journey_id}",
                "check the escorts were authorised; each takes a seat", row, "escorts"))
        if vehicles and all(incompatibility(v, journey) is not None for v in vehicles):
            reasons = Counter(incompatibility(v, journey) for v in vehicles)
            why = "; ".join(f"{count} vehicle(s): {reason}" for reason, count in reasons.items())
            problem_findings.append(warning(
                Code.NO_VEHICLE_CAN_CARRY, bookings_name,
                f"no vehicle in the fleet can carry journey {journey.journey_id} ({why})",
                "add a suitable vehicle shift, or check the booking's mobility, escorts and needs",
                row, "mobility"))
    for patient, count in per_patient.items():
        if count > MAX_JOURNEYS_PER_PATIENT:
            first = next(j for j in journeys if j.patient_id == patient)
            problem_findings.append(warning(
                Code.MANY_JOURNEYS_FOR_PATIENT, bookings_name,
                f"patient {patient} has {count} journeys in one day",
                "check for repeated bookings", rows.get(first.journey_id), "patient_id"))


RETURN_HINT = ("give the journey_id of the journey that took this patient there earlier that "
               "day, or leave return_of empty to have the return found from the patient's day")


def check_return_links(bookings: Table, all_days: Table, journeys: Sequence[Journey],
                       booked: Sequence[Journey] = ()) -> list[Finding]:
    """Errors in the `return_of` column, each on the return's row.

    A return names a journey of the same patient and day that can end before it starts,
    not itself, and not one another return already names; no chain of returns leads back
    to where it began. `all_days` is the bookings file before other days were left out,
    so a journey of another day is told from one that is not booked at all, and a return
    left out as another day's that names a journey of this day is found. Rows that
    failed to parse have their own errors and are not judged here. `booked`: the day's
    journeys outside this file (a re-plan's late bookings join a day already planned), which
    a return here may name, and whose own returns are taken.
    """
    findings: list[Finding] = []
    row_of = {cells.get("journey_id", ""): bookings.row_number(i)
              for i, cells in enumerate(bookings.rows)}
    day = {j.journey_id: j for j in booked}
    other_days = {cells.get("journey_id", ""): all_days.row_number(i)
                  for i, cells in enumerate(all_days.rows)
                  if cells.get("journey_id", "") not in row_of}
    by_id = {**day, **{j.journey_id: j for j in journeys}}
    named_by: dict[str, str] = {j.return_of: j.journey_id for j in booked if j.return_of}

    def where(journey_id: str) -> str:
        return (f"row {row_of[journey_id]}" if journey_id in row_of
                else "in the day's bookings")

    links: dict[str, str] = {}
    for journey in journeys:
        target = journey.return_of
        if not target:
            continue
        row = row_of.get(journey.journey_id)

        def fail(code: Code, message: str, hint: str = RETURN_HINT, at: int | None = row
                 ) -> None:
            findings.append(error(code, bookings.name, message, hint, at, "return_of"))

        outward = by_id.get(target)
        if target == journey.journey_id:
            fail(Code.RETURN_OF_SELF, f"journey {journey.journey_id} names itself")
        elif target in other_days:
            fail(Code.RETURN_OF_OTHER_DAY, f"names journey {target} (row {other_days[target]}), "
                 "which is on another service day",
                 "a return belongs to the same day as the journey that took the patient "
                 "there: " + RETURN_HINT)
        elif target not in row_of and target not in day:
            fail(Code.RETURN_OF_UNKNOWN, "names a journey_id that no booking has", RETURN_HINT)
        elif outward is None:
            continue  # that row has errors of its own
        elif outward.patient_id != journey.patient_id:
            fail(Code.RETURN_OF_OTHER_PATIENT,
                 f"names journey {target} ({where(target)}), another patient's",
                 "a return brings back the patient its outward journey took: " + RETURN_HINT)
        elif (outward.service_date and journey.service_date
              and outward.service_date != journey.service_date):
            fail(Code.RETURN_OF_OTHER_DAY, f"names journey {target} ({where(target)}), "
                 f"which is on {outward.service_date}",
                 "a return belongs to the same day as the journey that took the patient "
                 "there: " + RETURN_HINT)
        elif outward.dropoff_window.earliest_min + outward.dropoff_service_min \
                > journey.pickup_window.latest_min:
            # Set down, not arrived: the patient is off the vehicle before a return collects
            # them (the checker's return_first; domain.problem.one_place_at_a_time).
            set_down = outward.dropoff_window.earliest_min + outward.dropoff_service_min
            fail(Code.RETURN_OF_LATER,
                 f"names journey {target} ({where(target)}), which sets the patient down at "
                 f"{format_clock(set_down)} at the earliest, after "
                 f"this journey's last pickup time "
                 f"{format_clock(journey.pickup_window.latest_min)}",
                 "the outward journey must end before its return starts: check the times of "
                 "both, or name the journey that took the patient there")
        elif target in named_by:
            first = named_by[target]
            fail(Code.RETURN_OF_TWICE,
                 f"journey {first} ({where(first)}) already names journey {target} "
                 f"({where(target)}) as the one it brings the patient back from",
                 "a journey has one return: clear return_of on the row that is not the "
                 "patient's way back, or name the journey it does bring them back from")
        else:
            named_by[target] = journey.journey_id
            links[journey.journey_id] = target
    findings += _cycles(links, row_of, bookings.name)
    findings += _returns_left_out(bookings, all_days, {j: where(j) for j in [*day, *row_of]})
    return findings


def _returns_left_out(bookings: Table, all_days: Table, day: Mapping[str, str]
                      ) -> list[Finding]:
    """An error for each row left out as another day's whose return_of names one of `day`.

    `day`: this day's journey ids, each with where it is. Left out before it was read, such
    a return was never judged: its outward journey was planned alone, the patient taken
    there with no way back, while the return's own day refused it. A week's file may give
    each day the same ids: a return naming an id its own rows have is left to its day.
    """
    kept = set(bookings.row_numbers)
    left_out = [(all_days.row_number(i), cells) for i, cells in enumerate(all_days.rows)
                if all_days.row_number(i) not in kept]
    theirs = {cells.get("journey_id", "") for _, cells in left_out}
    findings: list[Finding] = []
    for row, cells in left_out:
        target = cells.get("return_of", "")
        if not target or target in theirs or target not in day:
            continue
        on = parse_service_date(cells.get("service_date", "")) or "another day"
        findings.append(error(
            Code.RETURN_OF_OTHER_DAY, all_days.name,
            f"this return, on {on}, names journey {target} ({day[target]}) of the day being "
            "planned: left out as another day's, it would leave that journey planned with "
            "no way back", "a return belongs to the same day as the journey that took the "
            "patient there: correct the service_date of one of them, or " + RETURN_HINT,
            row, "return_of"))
    return findings


def _cycles(links: Mapping[str, str], row_of: Mapping[str, int], file: str) -> list[Finding]:
    """An error for each chain of returns that leads back to its start, on its first row."""
    findings: list[Finding] = []
    judged: set[str] = set()
    for start in links:
        path: list[str] = []
        at: str | None = start
        while at is not None and at not in judged and at not in path:
            path.append(at)
            at = links.get(at)
        judged.update(path)
        if at is None or at not in path:
            continue
        loop = path[path.index(at):]
        first = min(loop, key=lambda j: row_of.get(j, 0))
        named = " -> ".join(f"{j} (row {row_of.get(j)})" for j in [*loop, loop[0]])
        findings.append(error(
            Code.RETURN_OF_CYCLE, file, f"return_of goes round in a circle: {named}",
            "each return names the journey before it; clear return_of on the patient's first "
            "journey of the day", row_of.get(first), "return_of"))
    return findings


def link_returns(journeys: Sequence[Journey], config: Config,
                 rows: Mapping[str, int] | None = None, file: str = "bookings.csv"
                 ) -> tuple[list[Journey], list[Finding]]:
    """The journeys with each inferred return linked to its outward journey, and warnings.

    Where a journey's `return_of` is empty, the contract's rule finds it: a patient's next
    journey that day (by earliest pickup) that starts within `[linked] link_radius_m` of
    where their previous journey ended, and could start after it, is its return. A link
    given in `return_of` wins: a journey already named as an outward, or that is itself a
    return, is not linked again. A return is not the outward of the patient's next journey
    (after a round trip home, the afternoon's journey is a new outward, not the way back
    from home). Two candidates at once (journeys that start at the same time) are a
    warning naming the rows, and no link is made. Deterministic: the order of the input
    and journey ids decide every tie.
    """
    radius = config.linked.link_radius_m
    rows = rows or {}
    is_return = {j.journey_id for j in journeys if j.return_of}
    has_return = {j.return_of for j in journeys if j.return_of}
    found: dict[str, str] = {}
    findings: list[Finding] = []

    def shown(journey: Journey) -> str:
        row = rows.get(journey.journey_id)
        return journey.journey_id + (f" (row {row})" if row is not None else "")

    patients: dict[str, list[Journey]] = defaultdict(list)
    for journey in journeys:
        patients[journey.patient_id].append(journey)
    for day in patients.values():
        if len(day) < 2:
            continue
        ordered = sorted(day, key=lambda j: (j.pickup_window.earliest_min, j.journey_id))
        groups: list[list[Journey]] = []
        for journey in ordered:
            if groups and groups[-1][0].pickup_window.earliest_min == \
                    journey.pickup_window.earliest_min:
                groups[-1].append(journey)
            else:
                groups.append([journey])
        for before, after in pairwise(groups):
            outwards = [o for o in before if o.journey_id not in is_return
                        and o.journey_id not in has_return]
            candidates: dict[str, list[Journey]] = {}
            for back in after:
                if back.journey_id in is_return:
                    continue
                candidates[back.journey_id] = [
                    o for o in outwards
                    if point_distance_m(o.dropoff.lat, o.dropoff.lon, back.pickup.lat,
                                        back.pickup.lon) <= radius
                    and o.dropoff_window.earliest_min <= back.pickup_window.latest_min]
            returns_of: dict[str, list[Journey]] = defaultdict(list)
            for back in after:
                for outward in candidates.get(back.journey_id, []):
                    returns_of[outward.journey_id].append(back)
            for back in after:
                outs = candidates.get(back.journey_id, [])
                if not outs:
                    continue
                rivals = returns_of[outs[0].journey_id]
                if len(outs) == 1 and len(rivals) == 1:
                    found[back.journey_id] = outs[0].journey_id
                    is_return.add(back.journey_id)
                    has_return.add(outs[0].journey_id)
                elif len(outs) > 1:
                    findings.append(warning(
                        Code.RETURN_AMBIGUOUS, file,
                        f"journey {shown(back)} could be the return of "
                        + " or of ".join(shown(o) for o in outs) + "; no link made",
                        "give return_of on this row: the journey_id of the journey that took "
                        "the patient there", rows.get(back.journey_id), "return_of"))
                elif rivals[0] is back:
                    findings.append(warning(
                        Code.RETURN_AMBIGUOUS, file,
                        f"journeys {' and '.join(shown(r) for r in rivals)} could each be the "
                        f"return of journey {shown(outs[0])}; no link made",
                        "give return_of on the row of the patient's way back: the journey_id "
                        "of the journey that took them there", rows.get(back.journey_id),
                        "return_of"))
    linked = [replace(j, return_of=found[j.journey_id]) if j.journey_id in found else j
              for j in journeys]
    return linked, findings


@dataclass(frozen=True)
class Inputs:
    """Paths of the files that describe one day, and their content once it is held."""

    bookings: Path
    fleet: Path
    sites: Path | None = None
    config: Path | None = None  # recorded with a plan; read by `load_config`
    # File key ("bookings", "fleet", "sites") -> its content as read by `hold`.
    held: Mapping[str, bytes] = field(default_factory=dict, compare=False, repr=False)

    def files(self) -> dict[str, Path]:
        """File key -> path: the day's CSV files (the shipped sites where none is given)."""
        return {"sites": self.sites or default_sites_path(), "fleet": self.fleet,
                "bookings": self.bookings}

    def hold(self) -> Inputs:
        """These inputs with each CSV file read now, once, and read from memory after.

        A night's inbox may be replaced while the day is planned: the plan folder then
        records the files the plan was made from (`views.writers`), and a week's days are
        all read from one version of the bookings. A file that cannot be read is left to
        `table`, which names what is wrong with it.
        """
        held = {}
        for key, path in self.files().items():
            with suppress(InputError):
                held[key] = file_bytes(path)
        return replace(self, held=held)

    def table(self, key: str) -> Table:
        """The CSV file of `key`, from what is held where it is."""
        return read_table(self.files()[key], data=self.held.get(key))


def read_problem(inputs: Inputs, config: Config, service_date: str | None = None,
                 booked: Sequence[Journey] = ()) -> tuple[Problem, list[Finding]]:
    """Read and check a day's files; raise `InputError` with every error found.

    Returns the problem and the warnings. With several service dates in the bookings,
    `service_date` (YYYY-MM-DD) chooses one; the other days' rows are left out and
    counted in a warning. A day too big for this machine's memory is an error here,
    before anything is allocated for planning. `booked`: journeys the day already has
    beyond these bookings (a re-plan's), which a `return_of` here may name.
    """
    findings: list[Finding] = []
    tables: dict[str, Table] = {}
    for key in ("sites", "fleet", "bookings"):
        try:
            tables[key] = inputs.table(key)
        except InputError as exc:
            findings.extend(exc.findings)
    if len(tables) < 3:
        raise InputError(findings)
    sites, site_findings = parse_sites(tables["sites"])
    findings += site_findings
    if service_date is not None:
        service_date = _chosen_day(service_date)
    bookings = _one_day(tables["bookings"], service_date, findings)
    fleet = _one_day(tables["fleet"], service_date or _the_day(bookings), findings,
                     "vehicle shift")
    if bookings.rows and tables["fleet"].rows and not fleet.rows:
        # Else every journey is "unassigned: no vehicle shift is left", and the day ends 0.
        findings.append(error(
            Code.BAD_DATE, fleet.name, f"no vehicle shift is for "
            f"{service_date or _the_day(bookings) or 'the bookings day'}: every row's "
            "service_date is another day's", "add the day's shifts, or leave service_date "
            "empty on shifts that run every day", None, "service_date"))
    vehicles, fleet_findings = parse_fleet(fleet, sites, config)
    findings += fleet_findings
    # Windows and ride limits come from the estimate, whatever the routing provider: the
    # policy must not depend on a server being up, and one request per booking is waste.
    travel = EstimatedTravel(config.travel.road_factor, config.travel.speed_kmh)
    journeys, booking_findings = parse_bookings(bookings, sites, config, travel)
    findings += booking_findings
    findings += check_return_links(bookings, tables["bookings"], journeys, booked)
    if any(f.severity is Severity.ERROR for f in findings):
        raise InputError(collapse(findings))
    rows = {cells.get("journey_id", ""): bookings.row_number(i)
            for i, cells in enumerate(bookings.rows)}
    journeys, link_findings = link_returns(journeys, config, rows, bookings.name)
    findings += link_findings
    _advice(findings, journeys, vehicles, bookings.name, rows)
    findings += _not_carried(bookings, fleet)
    findings = collapse(findings)
    too_big = memory_finding(len(journeys), len(vehicles), bookings.name)
    if too_big is not None:
        raise InputError([*findings, too_big])
    day = service_date or next((j.service_date for j in journeys if j.service_date), "")
    problem = Problem(tuple(journeys), tuple(vehicles), sites, config, day,
                      bookings.columns, fleet.columns)
    return problem, findings


def _not_carried(bookings: Table, fleet: Table) -> list[Finding]:
    """A warning for each extra column the plan's files cannot carry: its name is taken.

    Extra columns are carried into rosters.csv (the bookings' into unassigned.csv too),
    after the plan's own; one named like a column the plan writes (`km`, `reason`), or a
    fleet column named like a booking's, would be left out without a word.
    """
    written = {*ROSTER_COLUMNS, *UNASSIGNED_COLUMNS, UNASSIGNED_FIX}
    booking_extra = [c for c in bookings.columns if c not in BOOKING_COLUMNS]
    findings = [warning(Code.EXTRA_COLUMN_NOT_CARRIED, bookings.name,
                        f"column {c!r} is not carried into the plan: the plan writes its own "
                        f"{c!r}", "rename the column to keep it in rosters.csv and "
                        "unassigned.csv", 1, c) for c in booking_extra if c in written]
    for column in fleet.columns:
        if column in FLEET_COLUMNS or column == "service_date":
            continue
        if column in written or column in booking_extra:
            whose = "the plan" if column in written else "the bookings"
            findings.append(warning(
                Code.EXTRA_COLUMN_NOT_CARRIED, fleet.name, f"column {column!r} is not carried "
                f"into the plan: {whose} give rosters.csv their own {column!r}",
                "rename the column to keep it in rosters.csv", 1, column))
    return findings


SHOWN_ALIKE = 5  # findings alike (file, code, column) listed one by one; the rest summed up


def collapse(findings: list[Finding]) -> list[Finding]:
    """The first few findings of each kind (file, severity, code, column); the rest summed.

    The rest of a kind are one more finding that lists their rows.

    A re-saved file can make the same mistake on every row: 750 lines alike bury the one
    that differs, and one line with the rows says as much.
    """
    kinds: dict[tuple[str, str, str, str | None], list[Finding]] = defaultdict(list)
    for finding in findings:
        kinds[(finding.file, finding.severity, finding.code, finding.column)].append(finding)
    out: list[Finding] = []
    for alike in kinds.values():
        out += alike[:SHOWN_ALIKE]
        rest = alike[SHOWN_ALIKE:]
        if rest:
            rows = sorted(f.row for f in rest if f.row is not None)
            first = rest[0]
            out.append(Finding(first.severity, first.code, first.file,
                               f"and {len(rest)} more row(s) alike: rows {_ranges(rows)}",
                               first.hint, rows[0] if rows else None, first.column))
    return out


def _ranges(rows: list[int]) -> str:
    """`2-5, 9, 11-12` for rows 2, 3, 4, 5, 9, 11, 12."""
    runs: list[list[int]] = []
    for row in rows:
        if runs and runs[-1][1] + 1 == row:
            runs[-1][1] = row
        else:
            runs.append([row, row])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def _chosen_day(service_date: str) -> str:
    """The day asked for as YYYY-MM-DD, whichever accepted form it came in."""
    day = parse_service_date(service_date)
    if day is None:
        try:
            day = date.fromisoformat(service_date).isoformat()
        except ValueError:
            raise InputError([error(Code.BAD_DATE, "command line",
                                    f"--date {_shown(service_date)} is not a date",
                                    "give --date as YYYY-MM-DD, e.g. 2026-12-01")]) from None
    return day


def _one_day(table: Table, service_date: str | None, findings: list[Finding],
             what: str = "booking") -> Table:
    """The rows of one service day; several days in one file need a choice.

    Dates are compared once read (`01/12/2026` is `2026-12-01`). Rows whose date cannot
    be read are kept: they are errors the row's parser reports. Rows without a date are
    kept too: a fleet's undated shift runs every day (the contract), and an undated
    booking belongs to the file's one day, but in a file of several days it is an error.
    Only rows of another day are left out, and only when a day is chosen, with a warning
    that counts them: an undated booking of a file whose one day is another is one of them
    (until 2026-12-07 it was planned on the day chosen, a stale inbox's rows sent out on
    the wrong day).
    """
    rows_of: dict[str, list[int]] = defaultdict(list)
    undated: list[int] = []
    keep: list[int] = []
    for index, cells in enumerate(table.rows):
        text = cells.get("service_date", "")
        day = parse_service_date(text)
        if day is None or service_date is None or day == service_date:
            keep.append(index)
        if day is not None:
            rows_of[day].append(table.row_number(index))
        elif not text:
            undated.append(table.row_number(index))
    days = sorted(rows_of)
    if what == "booking" and service_date is not None and len(days) == 1 \
            and days[0] != service_date and undated:
        rows_of[days[0]] += undated
        undated_rows = set(undated)
        keep = [i for i in keep if table.row_number(i) not in undated_rows]
        undated = []
    if what == "booking" and len(days) > 1:
        for row in undated:
            findings.append(error(Code.MISSING_VALUE, table.name,
                                  "no service_date, in a file of several days",
                                  "give the day of travel as YYYY-MM-DD", row, "service_date"))
    if service_date is None:
        if len(days) > 1:
            fewest = min(days, key=lambda d: (len(rows_of[d]), d))
            counted = "; ".join(
                f"{d}: {len(rows_of[d])} row(s)"
                + (f" (row {_rows_text(rows_of[d])})" if len(rows_of[d]) <= 3 else "")
                for d in days)
            findings.append(error(
                Code.BAD_DATE, table.name, f"the {what}s cover {len(days)} days ({counted})",
                f"if the file is one day's {what}s, correct service_date on the rows of the "
                "odd day; if it holds several days, plan one at a time with --date YYYY-MM-DD "
                "(rows of the other days are then left out, and counted)",
                rows_of[fewest][0], "service_date"))
        return table
    others = {d: len(r) for d, r in rows_of.items() if d != service_date}
    if others:
        # A warning, not an error: a night run plans tomorrow from a week's file, and a
        # Sunday may have no bookings at all.
        findings.append(warning(
            Code.OTHER_DAYS_LEFT_OUT, table.name,
            ("" if service_date in rows_of or undated else f"no {what} is for {service_date}; ")
            + f"{sum(others.values())} {what}(s) of other days left out for {service_date}: "
            + ", ".join(f"{d}: {n}" for d, n in sorted(others.items())),
            "plan each of those days with its own --date; check --date if this day should "
            f"have {what}s", None, "service_date"))
    return table.subset(keep)


def _the_day(table: Table) -> str | None:
    """The one service day the rows name, if exactly one."""
    days = {parse_service_date(cells.get("service_date", "")) for cells in table.rows} - {None}
    return next(iter(days)) if len(days) == 1 else None


# Peak memory of planning a day, measured with `pts solve` (portfolio: the command and its
# two search processes) on generated days; the fit and its numbers are in docs/limits.md.
# Travel and cost matrices are indexed by node, two a journey and about five a vehicle
# shift (start, end, breaks), so memory grows with the square of the nodes.
PLAN_BYTES_FIXED = 650 * 2**20
PLAN_BYTES_PER_NODE_PAIR = 450  # 356 measured, and a quarter more for what sampling missed
NODES_PER_JOURNEY = 2
NODES_PER_VEHICLE = 5


def planning_bytes(journeys: int, vehicles: int) -> int:
    """Estimated peak memory of planning a day of this size, in bytes.

    A day of more than REGION_JOURNEYS is planned region by region (engine.regions), one
    region's model at a time: what counts is the largest region's.
    """
    regions = max(1, math.ceil(journeys / REGION_JOURNEYS))
    journeys, vehicles = math.ceil(journeys / regions), math.ceil(vehicles / regions)
    nodes = NODES_PER_JOURNEY * journeys + NODES_PER_VEHICLE * vehicles
    return PLAN_BYTES_FIXED + PLAN_BYTES_PER_NODE_PAIR * nodes * nodes


def available_bytes() -> int | None:
    """Memory this process may still use: MemAvailable, capped by a cgroup limit.

    None when the system does not say (not Linux); then no day is refused for its size.
    """
    found: list[int] = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        return None
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = Path("/sys/fs/cgroup/memory.current").read_text().strip()
        if limit.isdigit() and used.isdigit():
            found.append(int(limit) - int(used))
    except OSError:
        pass
    return min(found) if found else None


def most_journeys(vehicles: int, available: int) -> int:
    """The most journeys a day with this many vehicle shifts can have to fit `available`."""
    room = (available - PLAN_BYTES_FIXED) / PLAN_BYTES_PER_NODE_PAIR
    if room <= 0:
        return 0
    return max(0, int((math.sqrt(room) - NODES_PER_VEHICLE * vehicles) / NODES_PER_JOURNEY))


def memory_finding(journeys: int, vehicles: int, bookings_name: str,
                   available: int | None = None) -> Finding | None:
    """An error when planning this day would need more memory than this machine has."""
    available = available_bytes() if available is None else available
    needed = planning_bytes(journeys, vehicles)
    if available is None or needed <= available:
        return None
    gib = 2**30
    return error(
        Code.DAY_TOO_BIG, bookings_name,
        f"planning {journeys:,} journeys on {vehicles:,} vehicle shifts needs about "
        f"{needed / gib:.1f} GiB of memory; this machine has {available / gib:.1f} GiB free",
        f"this machine can plan about {most_journeys(vehicles, available):,} journeys with "
        "this fleet at once: split the day (by --date, or by area into separate files), or "
        "plan on a machine with more memory")
