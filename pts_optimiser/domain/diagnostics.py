"""Findings about input files: where a problem is, a stable code, and how to fix it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    """Errors stop a run; warnings are reported and the run goes on."""

    ERROR = "error"
    WARNING = "warning"


class Code(StrEnum):
    """Stable codes for input findings; scripts and tests may match on them."""

    FILE_NOT_FOUND = "file_not_found"
    UNREADABLE_FILE = "unreadable_file"
    EMPTY_FILE = "empty_file"
    MISSING_COLUMN = "missing_column"
    MISNAMED_COLUMN = "misnamed_column"
    MISSING_VALUE = "missing_value"
    DUPLICATE_ID = "duplicate_id"
    BAD_TIME = "bad_time"
    BAD_NUMBER = "bad_number"
    BAD_DATE = "bad_date"
    OUTSIDE_GB = "outside_gb"
    LAT_LON_SWAPPED = "lat_lon_swapped"
    UNKNOWN_SITE = "unknown_site"
    SITE_MISMATCH = "site_mismatch"
    MISSING_LOCATION = "missing_location"
    UNKNOWN_PURPOSE = "unknown_purpose"
    UNKNOWN_MOBILITY = "unknown_mobility"
    UNKNOWN_NEED = "unknown_need"
    UNKNOWN_SKILL = "unknown_skill"
    UNKNOWN_FUEL = "unknown_fuel"
    BAD_PRIORITY = "bad_priority"
    BAD_CREW = "bad_crew"
    WINDOW_REVERSED = "window_reversed"
    NO_TIME_GIVEN = "no_time_given"
    SHIFT_NOT_POSITIVE = "shift_not_positive"
    NEGATIVE_CAPACITY = "negative_capacity"
    EV_WITHOUT_RANGE = "ev_without_range"
    BAD_CONFIG = "bad_config"
    UNKNOWN_ID = "unknown_id"
    DUPLICATE_COLUMN = "duplicate_column"
    NUL_BYTE = "nul_byte"
    EXTRA_CELLS = "extra_cells"
    UNCLOSED_QUOTE = "unclosed_quote"
    EXTRA_COLUMN_NOT_CARRIED = "extra_column_not_carried"
    TOO_LARGE = "too_large"
    OUT_OF_RANGE = "out_of_range"
    OUTSIDE_SERVICE_AREA = "outside_service_area"
    BAD_ID = "bad_id"
    DAY_TOO_BIG = "day_too_big"
    # return_of: the journey a return brings the patient back from
    RETURN_OF_UNKNOWN = "return_of_unknown"
    RETURN_OF_SELF = "return_of_self"
    RETURN_OF_OTHER_PATIENT = "return_of_other_patient"
    RETURN_OF_OTHER_DAY = "return_of_other_day"
    RETURN_OF_LATER = "return_of_later"
    RETURN_OF_TWICE = "return_of_twice"
    RETURN_OF_CYCLE = "return_of_cycle"
    # Warnings
    NO_VEHICLE_CAN_CARRY = "no_vehicle_can_carry"
    MANY_ESCORTS = "many_escorts"
    MANY_JOURNEYS_FOR_PATIENT = "many_journeys_for_patient"
    SIMILAR_IDS = "similar_ids"
    CONTROL_CHARACTERS = "control_characters"
    OTHER_DAYS_LEFT_OUT = "other_days_left_out"
    RETURN_AMBIGUOUS = "return_ambiguous"
    RANGE_NOT_ELECTRIC = "range_not_electric"


@dataclass(frozen=True)
class Finding:
    """One problem in one place of one input file."""

    severity: Severity
    code: Code
    file: str
    message: str
    hint: str
    row: int | None = None  # spreadsheet row: the header is row 1
    column: str | None = None
    key: str | None = None  # a setting in a TOML file, in place of row and column

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f" row {self.row}"
        if self.column is not None:
            where += f", column {self.column}"
        if self.key is not None:
            where += f", key {self.key}"
        return f"{self.severity} [{self.code}] {where}: {self.message}. Fix: {self.hint}"


def error(code: Code, file: str, message: str, hint: str, row: int | None = None,
          column: str | None = None, key: str | None = None) -> Finding:
    """Build an error finding."""
    return Finding(Severity.ERROR, code, file, message, hint, row, column, key)


def warning(code: Code, file: str, message: str, hint: str, row: int | None = None,
            column: str | None = None) -> Finding:
    """Build a warning finding."""
    return Finding(Severity.WARNING, code, file, message, hint, row, column)


class InputError(Exception):
    """Input that cannot be planned; carries every finding collected before giving up."""

    def __init__(self, findings: list[Finding]) -> None:
        self.findings = findings
        errors = [f for f in findings if f.severity is Severity.ERROR]
        super().__init__(f"{len(errors)} error(s) in the input")
