"""`pts validate`: every defect is reported with file, row, column and code, without a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from pts_optimiser.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
GOOD_BOOKINGS = FIXTURES / "tiny_day" / "bookings.csv"
GOOD_FLEET = FIXTURES / "tiny_day" / "fleet.csv"

# (fixture named after its defect, code, spreadsheet row, column)
BROKEN = [
    ("bookings_missing_mobility_column.csv", "missing_column", 1, "mobility"),
    ("bookings_empty_file.csv", "empty_file", None, None),
    ("bookings_header_only.csv", "empty_file", None, None),
    ("bookings_duplicate_journey_id.csv", "duplicate_id", 3, "journey_id"),
    ("bookings_unparsable_time.csv", "bad_time", 2, "appointment_time"),
    ("bookings_unparsable_number.csv", "bad_number", 3, "escorts"),
    ("bookings_lat_outside_great_britain.csv", "outside_gb", 2, "pickup_lat"),
    ("bookings_lat_lon_swapped.csv", "lat_lon_swapped", 2, "pickup_lat"),
    ("bookings_unknown_site_code.csv", "unknown_site", 2, "dropoff_site"),
    ("bookings_site_code_and_coordinates_disagree.csv", "site_mismatch", 2, "dropoff_site"),
    ("bookings_unknown_purpose.csv", "unknown_purpose", 4, "purpose"),
    ("bookings_unknown_mobility.csv", "unknown_mobility", 4, "mobility"),
    ("bookings_unknown_need.csv", "unknown_need", 5, "needs"),
    ("bookings_window_earliest_after_latest.csv", "window_reversed", 6, "earliest_pickup"),
    ("bookings_no_time_given.csv", "no_time_given", 7, "appointment_time"),
    ("bookings_missing_location.csv", "missing_location", 3, "pickup_lat"),
    ("fleet_shift_end_not_after_start.csv", "shift_not_positive", 3, "shift_end"),
    ("fleet_negative_capacity.csv", "negative_capacity", 4, "seats"),
    ("fleet_electric_without_range.csv", "ev_without_range", 2, "range_km"),
    ("fleet_duplicate_vehicle_id.csv", "duplicate_id", 4, "vehicle_id"),
    ("fleet_unknown_base_site.csv", "unknown_site", 4, "base_site"),
    ("fleet_crew_of_three.csv", "bad_crew", 3, "crew"),
    ("fleet_unparsable_shift_time.csv", "bad_time", 3, "shift_start"),
]


def _validate(bookings: Path, fleet: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["validate", "--bookings", str(bookings),
                                       "--fleet", str(fleet), *extra])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.exit_code, result.output


@pytest.mark.parametrize(("fixture", "code", "row", "column"), BROKEN, ids=[b[0] for b in BROKEN])
def test_defect_is_located(fixture: str, code: str, row: int | None, column: str | None) -> None:
    """Each defective file exits 2 with a finding naming file, row, column and code."""
    path = FIXTURES / "broken" / fixture
    bookings, fleet = (path, GOOD_FLEET) if fixture.startswith("bookings") else (GOOD_BOOKINGS,
                                                                                 path)
    exit_code, output = _validate(bookings, fleet)
    assert exit_code == 2, output
    where = f"{path}" + (f" row {row}, column {column}" if row is not None else "")
    assert f"error [{code}] {where}:" in output
    assert "Fix:" in output
    assert "Traceback" not in output


def test_every_problem_is_collected(tmp_path: Path) -> None:
    """Several defects in one file are all reported in one run."""
    lines = GOOD_BOOKINGS.read_text().splitlines()
    lines[1] = lines[1].replace("dialysis", "shopping")
    lines[2] = lines[2].replace("seated", "walking")
    broken = tmp_path / "bookings.csv"
    broken.write_text("\n".join(lines) + "\n")
    exit_code, output = _validate(broken, GOOD_FLEET)
    assert exit_code == 2
    assert "[unknown_purpose]" in output and "[unknown_mobility]" in output
    assert "2 error(s)" in output


@pytest.mark.parametrize(("fixture", "code"), [
    ("bookings_three_escorts.csv", "many_escorts"),
    ("bookings_patient_with_six_journeys.csv", "many_journeys_for_patient"),
])
def test_warnings_do_not_fail(fixture: str, code: str) -> None:
    """Warnings are listed and the exit code stays 0."""
    exit_code, output = _validate(FIXTURES / "warnings" / fixture, GOOD_FLEET)
    assert exit_code == 0, output
    assert f"warning [{code}]" in output


def test_journey_no_vehicle_can_carry_is_explained() -> None:
    """A journey no vehicle fits is a warning that says why, vehicle kind by kind."""
    exit_code, output = _validate(GOOD_BOOKINGS, GOOD_FLEET)
    assert exit_code == 0
    assert "warning [no_vehicle_can_carry]" in output
    assert "J7" in output and "no stretcher position" in output and "bariatric" in output


def test_excel_export_reads() -> None:
    """A CSV saved by Excel (UTF-8 with BOM, CRLF line ends) validates like the original."""
    exit_code, output = _validate(FIXTURES / "bookings_excel_export.csv", GOOD_FLEET)
    assert exit_code == 0, output
    assert "ok: 7 journeys" in output


def test_missing_file_is_reported() -> None:
    """A path that does not exist is a located error, not a crash."""
    exit_code, output = _validate(FIXTURES / "nope.csv", GOOD_FLEET)
    assert exit_code == 2
    assert "[file_not_found]" in output


def test_bad_config_names_key(tmp_path: Path) -> None:
    """A wrong config value and an unknown key are reported with file and key."""
    config = tmp_path / "policy.toml"
    config.write_text('[travel]\nspeed_kmh = "fast"\n[service]\nseated_mins = 3\n')
    exit_code, output = _validate(GOOD_BOOKINGS, GOOD_FLEET, "--config", str(config))
    assert exit_code == 2
    assert f"[bad_config] {config}, key travel.speed_kmh" in output
    assert "service.seated_mins" in output


def test_no_traceback_from_real_command() -> None:
    """The installed command itself reports bad input on stderr with exit 2 and no traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "pts_optimiser", "validate", "--bookings",
         str(FIXTURES / "broken" / "bookings_unknown_purpose.csv"), "--fleet", str(GOOD_FLEET)],
        capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "[unknown_purpose]" in result.stderr
