"""`pts validate`: every defect is reported with file, row, column and code, without a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from pts_optimiser.cli import main
from tests.helpers import FIXTURES, ROOT

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
    ("fleet_crew_empty.csv", "missing_value", 3, "crew"),  # was read as a crew of 1
    ("fleet_unparsable_shift_time.csv", "bad_time", 3, "shift_start"),
    # A London pickup labelled "Home, Derby"; a North Sea pickup (lon +1.47 for -1.47).
    ("bookings_pickup_in_london.csv", "outside_service_area", 3, "pickup_lat"),
    ("bookings_pickup_lon_sign_dropped.csv", "outside_service_area", 2, "pickup_lon"),
    ("fleet_base_outside_service_area.csv", "outside_service_area", 4, "base_lat"),
    # ISO forms other than YYYY-MM-DD, and a month-first date.
    ("bookings_date_basic_iso.csv", "bad_date", 4, "service_date"),
    ("bookings_date_iso_week.csv", "bad_date", 5, "service_date"),
    ("bookings_date_month_first.csv", "bad_date", 6, "service_date"),
    ("bookings_one_date_mistyped.csv", "bad_date", 7, "service_date"),
    # Ids that would become spoofed file names or spreadsheet formulas.
    ("bookings_id_bidi_override.csv", "bad_id", 2, "journey_id"),
    ("bookings_id_control_character.csv", "bad_id", 3, "patient_id"),
    ("bookings_id_too_long.csv", "bad_id", 4, "journey_id"),
    ("bookings_id_formula.csv", "bad_id", 5, "journey_id"),
    ("fleet_id_formula.csv", "bad_id", 3, "vehicle_id"),
    # The file's shape: duplicate headers, NUL bytes, an unquoted comma.
    ("bookings_duplicate_column.csv", "duplicate_column", 1, "appointment_time"),
    ("bookings_nul_byte.csv", "nul_byte", 4, "dropoff_label"),
    # A double quote never closed: the rows after it were read into its cell.
    ("bookings_unclosed_quote_last_column.csv", "unclosed_quote", 3, "ward_note"),
    ("bookings_unclosed_quote_mid_row.csv", "unclosed_quote", 3, "pickup_label"),
    ("fleet_unclosed_quote.csv", "unclosed_quote", 2, "note"),
    # Numbers beyond physical sense.
    ("fleet_seats_beyond_sense.csv", "out_of_range", 2, "seats"),
    ("fleet_range_beyond_sense.csv", "out_of_range", 2, "range_km"),
    ("fleet_wheelchair_spaces_beyond_sense.csv", "out_of_range", 4, "wheelchair_spaces"),
    ("fleet_break_beyond_sense.csv", "out_of_range", 3, "break_min"),
    ("bookings_escorts_beyond_sense.csv", "out_of_range", 3, "escorts"),
    # return_of naming a journey that cannot be the one the patient comes back from.
    ("bookings_return_of_unknown.csv", "return_of_unknown", 7, "return_of"),
    ("bookings_return_of_self.csv", "return_of_self", 7, "return_of"),
    ("bookings_return_of_other_patient.csv", "return_of_other_patient", 7, "return_of"),
    ("bookings_return_of_later.csv", "return_of_later", 6, "return_of"),
    ("bookings_return_of_other_day.csv", "return_of_other_day", 7, "return_of"),
    ("bookings_return_of_twice.csv", "return_of_twice", 8, "return_of"),
    ("bookings_return_of_cycle.csv", "return_of_cycle", 9, "return_of"),
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


def _bookings(folder: Path, lines: list[str]) -> Path:
    """The good bookings file with some lines edited, written into `folder`."""
    path = folder / "bookings.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_every_problem_is_collected(tmp_path: Path) -> None:
    """Several defects in one file are all reported in one run."""
    lines = GOOD_BOOKINGS.read_text().splitlines()
    lines[1] = lines[1].replace("dialysis", "shopping")
    lines[2] = lines[2].replace("seated", "walking")
    exit_code, output = _validate(_bookings(tmp_path, lines), GOOD_FLEET)
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


def test_a_shift_with_no_time_for_its_break_names_the_row(tmp_path: Path) -> None:
    """A policy whose break may start only after every shift ends: each shift's row, exit 2.

    Until the thirty-fifth stop it validated, and the plan left every journey out, the
    reasons naming capacity and the fixes a crew that would break the rule.
    """
    config = tmp_path / "policy.toml"
    config.write_text("[breaks]\nrequired_over_min = 0\nearliest_after_start_min = 1440\n"
                      "latest_after_start_min = 1440\n")
    exit_code, output = _validate(GOOD_BOOKINGS, GOOD_FLEET, "--config", str(config))
    assert exit_code == 2, output
    assert f"error [bad_number] {GOOD_FLEET} row 2, column break_min:" in output
    assert "[breaks] earliest_after_start_min" in output


def test_no_traceback_from_real_command() -> None:
    """The installed command itself reports bad input on stderr with exit 2 and no traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "pts_optimiser", "validate", "--bookings",
         str(FIXTURES / "broken" / "bookings_unknown_purpose.csv"), "--fleet", str(GOOD_FLEET)],
        capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "[unknown_purpose]" in result.stderr


def test_unquoted_comma_names_the_row() -> None:
    """A label with an unquoted comma shifts the row's cells: the row is named, not its text."""
    path = FIXTURES / "broken" / "bookings_unquoted_comma.csv"
    exit_code, output = _validate(path, GOOD_FLEET)
    assert exit_code == 2
    assert f"error [extra_cells] {path} row 3:" in output
    assert "Derby" not in output


def test_service_area_hint_names_the_sign() -> None:
    """A longitude that lost its minus sign is named as such, with the corrected value."""
    exit_code, output = _validate(FIXTURES / "broken" / "bookings_pickup_lon_sign_dropped.csv",
                                  GOOD_FLEET)
    assert exit_code == 2
    assert "-1.4700 it would be in the area" in output and "sign of pickup_lon" in output


def test_duplicate_column_names_both_positions() -> None:
    """A header given twice is an error naming both of its spreadsheet columns."""
    _, output = _validate(FIXTURES / "broken" / "bookings_duplicate_column.csv", GOOD_FLEET)
    assert "'appointment_time' is both column N and column O" in output


def test_date_option_takes_only_iso(tmp_path: Path) -> None:
    """`--date 01/12/2026` is a usage error (exit 2) and writes no plan and no maps."""
    result = CliRunner().invoke(main, [
        "solve", "--bookings", str(GOOD_BOOKINGS), "--fleet", str(GOOD_FLEET),
        "--date", "01/12/2026", "--out", str(tmp_path / "plan"),
        "--maps", str(tmp_path / "maps")])
    assert result.exit_code == 2
    assert "--date" in result.output and "YYYY-MM-DD" in result.output
    assert not (tmp_path / "plan").exists() and not (tmp_path / "maps").exists()


def test_date_option_leaves_other_days_out_counted() -> None:
    """With --date, the mistyped day's booking is left out with a warning that counts it."""
    exit_code, output = _validate(FIXTURES / "broken" / "bookings_one_date_mistyped.csv",
                                  GOOD_FLEET, "--date", "2026-12-01")
    assert exit_code == 0, output
    assert "warning [other_days_left_out]" in output
    assert "1 booking(s) of other days left out" in output and "2026-12-10: 1" in output
    assert "ok: 6 journeys" in output


def test_uk_resave_reads_day_first(tmp_path: Path) -> None:
    """A UK spreadsheet re-save (01/12/2026, and 1/12/2026) validates as 1 December."""
    lines = GOOD_BOOKINGS.read_text().splitlines()
    resaved = [lines[0]] + [line.replace("2026-12-01", "01/12/2026" if i % 2 else "1/12/2026")
                            for i, line in enumerate(lines[1:])]
    path = _bookings(tmp_path, resaved)
    exit_code, output = _validate(path, GOOD_FLEET, "--date", "2026-12-01")
    assert exit_code == 0, output
    assert "ok: 7 journeys" in output and "bad_date" not in output


def test_replan_now_without_minutes_is_usage_error(tmp_path: Path) -> None:
    """`pts replan --now 11` is a usage error naming --now and HH:MM, not an internal error."""
    result = CliRunner().invoke(main, ["replan", "--plan", str(tmp_path), "--now", "11",
                                       "--out", str(tmp_path / "new")])
    assert result.exit_code == 2
    assert "--now" in result.output and "HH:MM" in result.output
    assert "internal error" not in result.output


def test_cell_text_stays_out_of_messages(tmp_path: Path) -> None:
    """A name typed into a time, purpose or label cell is located but never echoed."""
    lines = GOOD_BOOKINGS.read_text().splitlines()
    lines[1] = lines[1].replace("08:00", "Mrs Ada Lovelace")
    lines[2] = lines[2].replace("outpatient", "Ada Lovelace")
    lines[3] = lines[3].replace("Home", "Ada\x1bLovelace")
    exit_code, output = _validate(_bookings(tmp_path, lines), GOOD_FLEET)
    assert exit_code == 2
    assert "row 2, column appointment_time" in output and "row 3, column purpose" in output
    assert "warning [control_characters]" in output and "column dropoff_label" in output
    assert "Lovelace" not in output


def _retitled(tmp_path: Path, source: Path, old: str, new: str) -> Path:
    """The file with one column header written another way."""
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    header = lines[0].rstrip("\r\n").split(",")
    assert old in header, header
    lines[0] = ",".join(new if c == old else c for c in header) + "\n"
    out = tmp_path / source.name
    out.write_text("".join(lines), encoding="utf-8")
    return out


@pytest.mark.parametrize(("kind", "column", "spelt"), [
    ("bookings", "needs", "Needs"), ("bookings", "ready_time", "Ready Time"),
    ("fleet", "break_min", "Break_Min")])
def test_an_optional_column_spelt_another_way_is_an_error(
        tmp_path: Path, kind: str, column: str, spelt: str) -> None:
    """Before, `Needs` was read as an extra column and a patient's oxygen silently lost."""
    files = {"bookings": GOOD_BOOKINGS, "fleet": GOOD_FLEET}
    files[kind] = _retitled(tmp_path, files[kind], column, spelt)
    result = CliRunner().invoke(main, ["validate", "--bookings", str(files["bookings"]),
                                       "--fleet", str(files["fleet"])])
    assert result.exit_code == 2, result.output
    assert "[misnamed_column]" in result.output and f"rename column '{spelt}' to " \
        f"'{column}'" in result.output


@pytest.mark.parametrize(("kind", "column", "spelt"), [
    ("bookings", "needs", "Needs"), ("bookings", "service_date", "Service Date"),
    ("fleet", "break_min", "Break_Min")])
def test_a_column_spelt_another_way_beside_its_own_is_an_error(
        tmp_path: Path, kind: str, column: str, spelt: str) -> None:
    """Before, `Needs` beside `needs` was carried as an extra column and ignored.

    Which of the two holds the data is not for the reader to guess: an oxygen need typed
    in the one not read was silently lost.
    """
    files = {"bookings": GOOD_BOOKINGS, "fleet": GOOD_FLEET}
    lines = files[kind].read_text(encoding="utf-8").splitlines()
    at = lines[0].split(",").index(column)
    edited = [",".join([*line.split(",")[:at + 1], spelt if i == 0 else "",
                        *line.split(",")[at + 1:]]) for i, line in enumerate(lines)]
    files[kind] = tmp_path / files[kind].name
    files[kind].write_text("\n".join(edited) + "\n", encoding="utf-8")
    exit_code, output = _validate(files["bookings"], files["fleet"])
    assert exit_code == 2, output
    assert f"error [misnamed_column] {files[kind]} row 1, column {spelt}:" in output, output
    assert f"delete column '{spelt}'" in output, output


def test_shifts_all_of_another_day_are_an_error(tmp_path: Path) -> None:
    """Before, every journey was "unassigned: no vehicle shift is left", and exit 0."""
    lines = GOOD_FLEET.read_text(encoding="utf-8").splitlines()
    fleet = tmp_path / "fleet.csv"
    fleet.write_text("\n".join([lines[0] + ",service_date",
                                *(line + ",2026-12-02" for line in lines[1:])]) + "\n")
    result = CliRunner().invoke(main, ["validate", "--bookings", str(GOOD_BOOKINGS),
                                       "--fleet", str(fleet)])
    assert result.exit_code == 2, result.output
    assert "no vehicle shift is for 2026-12-01" in result.output


def test_an_extra_column_named_like_the_plans_own_is_a_warning(tmp_path: Path) -> None:
    """Extra columns are carried into the plan; one called `km` was dropped without a word."""
    lines = GOOD_BOOKINGS.read_text(encoding="utf-8").splitlines()
    bookings = tmp_path / "bookings.csv"
    bookings.write_text("\n".join([lines[0] + ",km", *(line + ",3" for line in lines[1:])])
                        + "\n")
    result = CliRunner().invoke(main, ["validate", "--bookings", str(bookings),
                                       "--fleet", str(GOOD_FLEET)])
    assert result.exit_code == 0, result.output
    assert "[extra_column_not_carried]" in result.output and "'km'" in result.output


def test_a_time_limit_that_is_not_a_number_is_refused(tmp_path: Path) -> None:
    """A limit of `nan` is refused: `pts week --time-limit nan` planned without a search."""
    for command in ("solve", "week"):
        result = CliRunner().invoke(main, [command, "--bookings", str(GOOD_BOOKINGS),
                                           "--fleet", str(GOOD_FLEET), "--out",
                                           str(tmp_path / command), "--time-limit", "nan"])
        assert result.exit_code == 2 and "is not a number of seconds" in result.output
        assert not (tmp_path / command).exists()


def test_undated_bookings_of_a_file_of_another_day_are_left_out(tmp_path: Path) -> None:
    """An undated booking belongs to its file's one day, not to the day a run asks for.

    Before, `--date` of another day planned the file's undated rows on it: a stale inbox
    with a few undated rows sent crews out on the wrong day.
    """
    lines = GOOD_BOOKINGS.read_text(encoding="utf-8").splitlines()
    bookings = tmp_path / "bookings.csv"
    bookings.write_text("\n".join([lines[0], lines[1].replace("2026-12-01", ""),
                                   *lines[2:]]) + "\n")
    result = CliRunner().invoke(main, ["validate", "--bookings", str(bookings), "--fleet",
                                       str(GOOD_FLEET), "--date", "2026-12-09"])
    assert "no booking is for 2026-12-09" in result.output, result.output
    same = CliRunner().invoke(main, ["validate", "--bookings", str(bookings), "--fleet",
                                     str(GOOD_FLEET), "--date", "2026-12-01"])
    assert same.exit_code == 0 and f"ok: {len(lines) - 1} journeys" in same.output, same.output


def test_an_unclosed_quote_names_the_rows_it_swallowed() -> None:
    """Before, the rows after a stray quote vanished into its cell: exit 0, "ok: 2 journeys".

    A quote in a middle column gave errors about the row's other cells, whose fixes were
    wrong; now the quote is the one error, with the rows it took in.
    """
    for fixture, rows in (("bookings_unclosed_quote_last_column.csv", "rows 4-8 (5 rows)"),
                          ("bookings_unclosed_quote_mid_row.csv", "rows 4-8 (5 rows)")):
        path = FIXTURES / "broken" / fixture
        exit_code, output = _validate(path, GOOD_FLEET)
        assert exit_code == 2, output
        assert "1 error(s)" in output, output
        assert rows in output and "close the double quote" in output, output
        assert "letter" not in output  # the cell's text is not shown


def test_an_unclosed_quote_in_the_sites_file_is_located(tmp_path: Path) -> None:
    """The sites file is read as the others are: its swallowed sites are named, not lost."""
    sites = tmp_path / "sites.csv"
    lines = (ROOT / "data" / "sites.csv").read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2].replace(",Royal", ',"Royal', 1)
    sites.write_text("\n".join(lines) + "\n", encoding="utf-8")
    exit_code, output = _validate(GOOD_BOOKINGS, GOOD_FLEET, "--sites", str(sites))
    assert exit_code == 2, output
    assert f"error [unclosed_quote] {sites} row 3, column name:" in output
