"""Reading cells into a Problem: dates, service area, identifiers, free text, limits, memory."""

from __future__ import annotations

from pathlib import Path

import pytest

from pts_optimiser.check.checker import check_plan
from pts_optimiser.domain.config import load_config
from pts_optimiser.domain.diagnostics import Code, Finding, InputError, Severity
from pts_optimiser.domain.problem import REGION_JOURNEYS
from pts_optimiser.engine.solve import SolveOptions, solve
from pts_optimiser.io import parse
from pts_optimiser.io.parse import (
    Inputs,
    collapse,
    memory_finding,
    most_journeys,
    parse_service_date,
    planning_bytes,
    read_problem,
)
from pts_optimiser.io.tables import MAX_COLUMNS, MAX_ROWS, read_table
from pts_optimiser.services.publish import write_plan
from tests.helpers import BOOKING_COLUMNS, FIXTURES, booking, vehicle, write_day

DAY = FIXTURES / "tiny_day"


def _errors(caught: pytest.ExceptionInfo[InputError]) -> list[Finding]:
    return [f for f in caught.value.findings if f.severity is Severity.ERROR]


@pytest.mark.parametrize(("text", "day"), [
    ("2026-12-01", "2026-12-01"), ("01/12/2026", "2026-12-01"), ("1/12/2026", "2026-12-01"),
    ("1/2/2026", "2026-02-01"), ("01/12/2026 00:00", "2026-12-01"),
    ("2026-12-01 00:00:00", "2026-12-01"), ("20261201", None), ("2026-W49-2", None),
    ("2026-12-1", None), ("01/12/26", None), ("31/02/2026", None), ("12/25/2026", None),
    ("2026-12-01T09:30", None), ("", None), ("tomorrow", None),
])
def test_service_date_forms(text: str, day: str | None) -> None:
    """YYYY-MM-DD and day-first DD/MM/YYYY are read; every other form is refused."""
    assert parse_service_date(text) == day


def test_no_row_is_in_neither_plan_nor_error(tmp_path: Path) -> None:
    """Under --date every row is a journey, an error, or counted as another day's."""
    forms = ["2026-12-01", "01/12/2026", "1/12/2026", "", "2026-12-02", "20261201",
             "2026-W49-2", "02/12/2026"]
    rows = [booking(f"J{i}") for i in range(len(forms))]
    inputs = write_day(tmp_path, rows, [vehicle("CAR1")])
    _add_column(inputs.bookings, "service_date", forms)
    with pytest.raises(InputError) as caught:
        read_problem(inputs, load_config(), "2026-12-01")
    # 20261201 and 2026-W49-2 (rows 7 and 8) cannot be read; the undated row 5 could be
    # any of the file's days.
    assert {(f.code, f.row, f.column) for f in _errors(caught)} == {
        (Code.BAD_DATE, 7, "service_date"), (Code.BAD_DATE, 8, "service_date"),
        (Code.MISSING_VALUE, 5, "service_date")}
    # With those rows fixed the rest splits into planned and counted-out rows.
    fixed = [f if f not in ("20261201", "2026-W49-2", "") else "2026-12-01" for f in forms]
    inputs = write_day(tmp_path, rows, [vehicle("CAR1")])
    _add_column(inputs.bookings, "service_date", fixed)
    problem, warnings = read_problem(inputs, load_config(), "2026-12-01")
    planned = {j.journey_id for j in problem.journeys}
    assert planned == {"J0", "J1", "J2", "J3", "J5", "J6"}
    left_out = [w for w in warnings if w.code == Code.OTHER_DAYS_LEFT_OUT]
    assert len(left_out) == 1 and "2 booking(s) of other days" in left_out[0].message
    assert len(planned) + 2 == len(forms)
    assert {j.service_date for j in problem.journeys} <= {"2026-12-01", ""}
    assert problem.service_date == "2026-12-01"


def _add_column(path: Path, column: str, values: list[str]) -> None:
    lines = path.read_text().splitlines()
    lines[0] += f",{column}"
    for i, value in enumerate(values, start=1):
        lines[i] += f",{value}"
    path.write_text("\n".join(lines) + "\n")


def test_similar_ids_warn(tmp_path: Path) -> None:
    """Vehicle ids differing only in punctuation or case are a warning naming each row."""
    inputs = write_day(tmp_path, [booking("J1")],
                       [vehicle("A 1"), vehicle("A_1"), vehicle("a.1"), vehicle("B1")])
    problem, warnings = read_problem(inputs, load_config())
    similar = [w for w in warnings if w.code == Code.SIMILAR_IDS]
    assert len(similar) == 1 and similar[0].column == "vehicle_id"
    assert "'A 1' (row 2), 'A_1' (row 3), 'a.1' (row 4)" in similar[0].message
    assert len(problem.vehicles) == 4


def test_labels_cleaned_and_plan_written(tmp_path: Path) -> None:
    """Control characters in labels become spaces, with a warning, and the plan is written."""
    rows = [booking("J1"), booking("J2", pickup_lat=52.92)]
    inputs = write_day(tmp_path / "read", rows, [vehicle("CAR1")])
    _add_column(inputs.bookings, "pickup_label", ["Flat 2\x01\x0bHigh St", "Home\u202e\u200b"])
    problem, warnings = read_problem(inputs, load_config())
    labels = {j.journey_id: j.pickup.label for j in problem.journeys}
    assert labels == {"J1": "Flat 2 High St", "J2": "Home"}
    cleaned = [w for w in warnings if w.code == Code.CONTROL_CHARACTERS]
    assert len(cleaned) == 1 and cleaned[0].row == 2 and "rows 2, 3" in cleaned[0].message
    assert "High" not in cleaned[0].message
    plan = solve(problem, SolveOptions(time_limit_s=2))
    write_plan(plan, tmp_path / "plan")
    checked = check_plan(problem, tmp_path / "plan")
    assert checked.ok, checked.summary()
    assert (tmp_path / "plan" / "plan.xlsx").is_file()
    assert len(plan.planned) + len(plan.unassigned) == 2


def test_ids_at_the_length_limit(tmp_path: Path) -> None:
    """An id of 64 characters is accepted; 65 is refused with the limit in the message."""
    inputs = write_day(tmp_path, [booking("J" * 64, patient_id="P1"),
                                  booking("K" * 65, patient_id="P2")], [vehicle("CAR1")])
    with pytest.raises(InputError) as caught:
        read_problem(inputs, load_config())
    (found,) = _errors(caught)
    assert (found.code, found.row, found.column) == (Code.BAD_ID, 3, "journey_id")
    assert "more than 64" in found.message


@pytest.mark.parametrize("hostile", ["+441332", "-1", "@SUM(A1)", "=1+1", "P\x1b1", "P\u200b1",
                                     "P\u20661"])
def test_formula_and_control_ids_refused(tmp_path: Path, hostile: str) -> None:
    """Ids starting like a formula, or holding control characters, are located errors."""
    inputs = write_day(tmp_path, [booking("J1", patient_id=hostile)], [vehicle("CAR1")])
    with pytest.raises(InputError) as caught:
        read_problem(inputs, load_config())
    assert [(f.code, f.row, f.column) for f in _errors(caught)] == [
        (Code.BAD_ID, 2, "patient_id")]


def test_a_range_on_a_vehicle_not_electric_is_ignored_with_a_warning(tmp_path: Path) -> None:
    """range_km bounds an electric vehicle's shift only (the contract: "electric only").

    Before, a diesel or hybrid car's range was enforced: its journeys were left out as
    beyond_ev_range, "only electric cars are free", in a fleet with no electric car.
    """
    inputs = write_day(tmp_path, [booking("J1")], [
        vehicle("D1", range_km=1), vehicle("H1", fuel="hybrid", range_km="1"),
        vehicle("E1", fuel="electric", range_km=150), vehicle("U1", fuel="", range_km=1)])
    problem, warnings = read_problem(inputs, load_config())
    assert {v.vehicle_id: v.range_km for v in problem.vehicles} == {
        "D1": None, "H1": None, "E1": 150.0, "U1": None}
    ignored = [w for w in warnings if w.code == Code.RANGE_NOT_ELECTRIC]
    assert [(w.row, w.column) for w in ignored] == [(2, "range_km"), (3, "range_km"),
                                                     (5, "range_km")]
    assert "diesel" in ignored[0].message and "hybrid" in ignored[1].message
    assert "fuel to electric" in ignored[0].hint
    typo = write_day(tmp_path / "typo", [booking("J1")], [vehicle("T1", fuel="desel",
                                                                  range_km=1)])
    with pytest.raises(InputError) as caught:  # the fuel's own error, and no warning besides
        read_problem(typo, load_config())
    assert [f.code for f in caught.value.findings] == [Code.UNKNOWN_FUEL]
    diesel = write_day(tmp_path / "diesel", [booking("J1")], [vehicle("D1", range_km=1)])
    plan = solve(read_problem(diesel, load_config())[0], SolveOptions(time_limit_s=2))
    assert [j.journey_id for j in plan.planned] == ["J1"], plan.unassigned


@pytest.mark.parametrize(("kind", "column", "text", "code"), [
    ("fleet", "seats", "1_2", Code.BAD_NUMBER),  # int() read it as 12
    ("fleet", "seats", "\u0661\u0662", Code.BAD_NUMBER),  # Arabic-Indic 12
    ("fleet", "crew", "\uff11", Code.BAD_NUMBER),  # a full-width 1
    ("fleet", "range_km", "2_00", Code.BAD_NUMBER),
    ("fleet", "shift_end", "15:00:99", Code.BAD_TIME),  # seconds were never checked
    ("fleet", "shift_start", "\u0660\u0668:\u0660\u0660", Code.BAD_TIME),
    ("bookings", "pickup_lat", "5_2.93", Code.BAD_NUMBER),
    ("bookings", "pickup_lon", "-\u0661.49", Code.BAD_NUMBER),
    ("bookings", "escorts", "\u0661", Code.BAD_NUMBER),
    ("bookings", "max_ride_min", "6_0", Code.BAD_NUMBER),
    ("bookings", "appointment_time", "10:00:99", Code.BAD_TIME),
    ("bookings", "appointment_time", "10:00:60", Code.BAD_TIME),
    ("bookings", "service_date", "\u0662\u0660\u0662\u0666-12-01", Code.BAD_DATE),
])
def test_numbers_times_and_dates_are_plain_ascii(tmp_path: Path, kind: str, column: str,
                                                 text: str, code: Code) -> None:
    """Python reads `1_2` as 12 and Arabic-Indic digits as digits: a cell is refused instead.

    A spreadsheet never writes either; a cell holding one was typed or pasted, and read
    as a number it was planned as one nobody meant.
    """
    rows: dict[str, dict[str, object]] = {"bookings": booking("J1", service_date="2026-12-01"),
                                          "fleet": vehicle("CAR1")}
    rows[kind][column] = text
    inputs = write_day(tmp_path, [rows["bookings"]], [rows["fleet"]],
                       [*BOOKING_COLUMNS, "service_date"])
    with pytest.raises(InputError) as caught:
        read_problem(inputs, load_config())
    assert [(f.code, f.row, f.column) for f in _errors(caught)] == [(code, 2, column)]


def test_plain_numbers_and_times_still_read(tmp_path: Path) -> None:
    """What spreadsheets write is read as before: signs, decimals, seconds, day-first dates."""
    inputs = write_day(tmp_path, [booking(
        "J1", pickup_lat="+52.930", pickup_lon="-1.49", appointment_time="10:00:59",
        escorts="+1", max_ride_min="060", service_date="01/12/2026 00:00:00")], [vehicle(
        "CAR1", seats="03", shift_start="8:00:00", fuel="electric", range_km="1.5e2")],
        [*BOOKING_COLUMNS, "service_date"])
    problem, _ = read_problem(inputs, load_config())
    (journey,), (car,) = problem.journeys, problem.vehicles
    assert (journey.pickup.lat, journey.escorts, journey.max_ride_min) == (52.93, 1, 60)
    assert (journey.appointment_min, journey.service_date) == (600, "2026-12-01")
    assert (car.capacity.seats, car.shift_start_min, car.range_km) == (3, 480, 150.0)


def test_too_many_rows(tmp_path: Path) -> None:
    """A file of more rows than MAX_ROWS is one error naming the first row beyond it."""
    path = tmp_path / "bookings.csv"
    path.write_text("journey_id,patient_id\n" + "J,P\n" * (MAX_ROWS + 5))
    with pytest.raises(InputError) as caught:
        read_table(path)
    (found,) = caught.value.findings
    assert found.code == Code.TOO_LARGE and found.row == MAX_ROWS + 2


def test_too_many_columns(tmp_path: Path) -> None:
    """A 17,000-column file is refused at its header, not read."""
    path = tmp_path / "bookings.csv"
    path.write_text(",".join(f"c{i}" for i in range(17_000)) + "\n" + "1," * 16_999 + "1\n")
    with pytest.raises(InputError) as caught:
        read_table(path)
    (found,) = caught.value.findings
    assert found.code == Code.TOO_LARGE and found.row == 1
    assert f"more than {MAX_COLUMNS}" in found.message


def test_blank_rows_keep_spreadsheet_numbers(tmp_path: Path) -> None:
    """Blank and all-empty rows are skipped, and later rows keep the numbers a sheet shows."""
    path = tmp_path / "t.csv"
    path.write_text("a,b,\n1,2,\n\n,,\n3,4,\n")
    table = read_table(path)
    assert table.columns == ("a", "b")
    assert [dict(r) for r in table.rows] == [{"a": "1", "b": "2"}, {"a": "3", "b": "4"}]
    assert table.row_numbers == (2, 5)


def test_a_quote_closed_rows_later_is_located(tmp_path: Path) -> None:
    """A stray quote closed by another, rows later: the first names the rows taken in."""
    path = tmp_path / "t.csv"
    path.write_text('a,b,c\r\n1,"x,3\r\n2,y,z\r\n3,y,z\r\n4,w",z\r\n5,y,z\r\n')
    with pytest.raises(InputError) as caught:
        read_table(path)
    (found,) = caught.value.findings
    assert (found.code, found.row, found.column) == (Code.UNCLOSED_QUOTE, 2, "b")
    assert "rows 3-5 (3 rows)" in found.message
    path.write_text('a,"b,c\r\nZebedee,y,z\r\n')  # in the header, named by its letter
    with pytest.raises(InputError) as caught:
        read_table(path)
    assert [(f.code, f.row, f.column) for f in caught.value.findings] == [
        (Code.UNCLOSED_QUOTE, 1, "B")]
    assert "Zebedee" not in str(caught.value.findings[0])


def test_a_quote_never_closed_in_a_large_file_is_located(tmp_path: Path) -> None:
    """Past the CSV reader's 131,072 characters a cell, the quote is named all the same.

    Before, a stray quote near the top of a day's file was "not a readable CSV", with a
    fix (save it again as CSV UTF-8) that leaves it there.
    """
    path = tmp_path / "t.csv"
    path.write_text('a,b,c\n1,2,3\n4,"five,6\n' + "7,8,9\n" * 30_000)
    with pytest.raises(InputError) as caught:
        read_table(path)
    (found,) = caught.value.findings
    assert (found.code, found.row, found.column) == (Code.UNCLOSED_QUOTE, 3, "b")
    assert "rows 4 on were read into the cell" in found.message
    path.write_text('a,"b,c\n' + "7,8,9\n" * 30_000)  # in the header itself
    with pytest.raises(InputError) as caught:
        read_table(path)
    (found,) = caught.value.findings
    assert (found.code, found.row, found.column) == (Code.UNCLOSED_QUOTE, 1, "B")


def test_memory_estimate_is_consistent() -> None:
    """The journeys said to fit do fit, and one more journey than that does not."""
    available = 2 * 2**30
    most = most_journeys(87, available)
    assert 400 < most < REGION_JOURNEYS
    assert planning_bytes(most, 87) <= available < planning_bytes(most + 1, 87)
    assert memory_finding(most, 87, "b.csv", available) is None
    found = memory_finding(most + 1, 87, "b.csv", available)
    assert found is not None and found.code == Code.DAY_TOO_BIG
    assert f"about {most:,} journeys" in found.hint


def test_memory_of_a_large_day_is_a_regions() -> None:
    """A day planned region by region needs the memory of its largest region, not its own."""
    assert planning_bytes(3000, 348) == planning_bytes(750, 87) < 3 * 2**30
    assert planning_bytes(1500, 174) == planning_bytes(750, 87)
    assert memory_finding(10_000, 870, "b.csv", 24 * 2**30) is None


def test_day_too_big_refused_before_planning(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A day too big for a machine's 1 GiB is a clear error, in under the read time."""
    monkeypatch.setattr(parse, "available_bytes", lambda: 2**30)
    rows = [booking(f"J{i}", pickup_lat=52.9 + (i % 100) / 1000) for i in range(10_000)]
    inputs = write_day(tmp_path, rows, [vehicle(f"V{i}") for i in range(87)])
    with pytest.raises(InputError) as caught:
        read_problem(inputs, load_config())
    (found,) = _errors(caught)
    assert found.code == Code.DAY_TOO_BIG and "10,000 journeys" in found.message
    assert "this machine can plan about" in found.hint


def test_many_alike_findings_summed_up() -> None:
    """750 findings alike become the first five and one that lists the rest's rows."""
    from pts_optimiser.domain.diagnostics import error

    findings = [error(Code.BAD_DATE, "b.csv", "x", "y", row, "service_date")
                for row in range(2, 752)]
    findings.append(error(Code.BAD_TIME, "b.csv", "x", "y", 9, "ready_time"))
    out = collapse(findings)
    assert len(out) == 7
    assert out[5].message == "and 745 more row(s) alike: rows 7-751"
    assert out[6].code == Code.BAD_TIME


def test_inputs_paths() -> None:
    """The tiny day reads with no error and no finding of the new kinds."""
    problem, warnings = read_problem(Inputs(DAY / "bookings.csv", DAY / "fleet.csv"),
                                     load_config())
    assert len(problem.journeys) == 7
    assert not {Code.SIMILAR_IDS, Code.CONTROL_CHARACTERS, Code.OTHER_DAYS_LEFT_OUT} & {
        w.code for w in warnings}


def test_held_inputs_are_read_once(tmp_path: Path) -> None:
    """Held files are read as they were, whatever replaces them; their findings name them."""
    inputs = write_day(tmp_path / "day", [booking("J1"), booking("J2", pickup_lat=52.92)],
                       [vehicle("CAR1")])
    held = inputs.hold()
    assert set(held.held) == {"bookings", "fleet", "sites"}
    inputs.bookings.write_text(inputs.bookings.read_text().replace("J2,", "J3,"))
    inputs.fleet.unlink()
    problem, _ = read_problem(held, load_config())
    assert [j.journey_id for j in problem.journeys] == ["J1", "J2"]
    assert {v.vehicle_id for v in problem.vehicles} == {"CAR1"}
    assert held == inputs  # the same files: what is held is not part of what they are
    # Not held, the files are read where they are: the fleet is gone.
    with pytest.raises(InputError) as caught:
        read_problem(inputs, load_config())
    assert [(f.code, f.file) for f in _errors(caught)] == [
        (Code.FILE_NOT_FOUND, str(inputs.fleet))]


def test_a_file_that_cannot_be_held_is_named_when_read(tmp_path: Path) -> None:
    """A missing file is not held: reading names it. Held bytes are judged as a file's are."""
    inputs = write_day(tmp_path / "day", [booking("J1")], [vehicle("CAR1")])
    inputs.fleet.unlink()
    held = inputs.hold()
    assert "fleet" not in held.held
    with pytest.raises(InputError) as caught:
        read_problem(held, load_config())
    assert [(f.code, f.file) for f in _errors(caught)] == [
        (Code.FILE_NOT_FOUND, str(inputs.fleet))]
    broken = inputs.bookings.read_bytes().replace(b"J1,", b"J1,\xff")
    with pytest.raises(InputError) as caught:
        read_table(inputs.bookings, data=broken)
    assert [(f.code, f.file) for f in _errors(caught)] == [
        (Code.UNREADABLE_FILE, str(inputs.bookings))]


def test_fleet_shifts_of_the_day(tmp_path: Path) -> None:
    """Fleet rows dated for another day are left out and counted; undated ones run every day."""
    def day(shift_dates: list[str]) -> Inputs:
        inputs = write_day(tmp_path, [booking("J1"), booking("J2")],
                           [vehicle("CAR1"), vehicle("CAR2"), vehicle("CAR1"), vehicle("CAR3")])
        _add_column(inputs.bookings, "service_date", ["2026-12-01", "01/12/2026"])
        _add_column(inputs.fleet, "service_date", shift_dates)
        return inputs

    with pytest.raises(InputError) as caught:
        read_problem(day(["2026-12-01", "", "02/12/2026", "2026-13-01"]), load_config())
    assert [(f.code, f.row, f.column) for f in _errors(caught)] == [
        (Code.BAD_DATE, 5, "service_date")]
    inputs = day(["2026-12-01", "", "02/12/2026", ""])
    problem, warnings = read_problem(inputs, load_config())
    assert sorted(v.vehicle_id for v in problem.vehicles) == ["CAR1", "CAR2", "CAR3"]
    (left_out,) = [w for w in warnings if w.code == Code.OTHER_DAYS_LEFT_OUT]
    assert "1 vehicle shift(s) of other days left out for 2026-12-01" in left_out.message
