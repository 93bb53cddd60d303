"""What people read: run sheets, the workbook and the KPI report, from a solved plan folder."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from click.testing import CliRunner

from pts_optimiser.cli import main
from pts_optimiser.config import load_config
from pts_optimiser.parse import Inputs, parse_clock, read_problem
from pts_optimiser.planfolder import read_plan
from tests.helpers import rows, solved_day

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def plan_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated 150-journey day, solved by `pts solve` into a plan folder."""
    return solved_day(tmp_path_factory.mktemp("views"), seed=8)



def _figures(plan_dir: Path) -> dict[str, object]:
    html = (plan_dir / "report.html").read_text()
    found = re.search(r'<script type="application/json" id="figures">(.*?)</script>', html, re.S)
    assert found is not None
    return dict(json.loads(found.group(1).replace("&amp;", "&").replace("&lt;", "<")
                           .replace("&gt;", ">")))


def test_run_sheet_per_used_vehicle(plan_dir: Path) -> None:
    """Every used vehicle has its own run sheet, and each planned journey is on one."""
    rosters = rows(plan_dir / "rosters.csv")
    used = {r["vehicle_id"] for r in rosters if r["event"] == "pickup"}
    sheets = {p.stem for p in (plan_dir / "runsheets").iterdir()} - {"all"}
    assert sheets == used
    combined = (plan_dir / "runsheets" / "all.html").read_text()
    for row in rosters:
        if row["event"] == "pickup":
            assert f"<td>{row['journey_id']}</td>" in combined
    assert "@page { size: A4" in combined


def test_workbook_has_a_sheet_per_vehicle(plan_dir: Path) -> None:
    """The workbook opens on the summary, then the journeys not planned, then each used shift."""
    from openpyxl import load_workbook

    book = load_workbook(plan_dir / "plan.xlsx", read_only=True)
    used = list(dict.fromkeys(r["vehicle_id"] for r in rows(plan_dir / "rosters.csv")
                              if r["event"] == "pickup"))
    assert book.sheetnames[:2] == ["Summary", "Not planned"]
    assert sorted(book.sheetnames[2:]) == sorted(used)


def test_report_figures_match_the_rosters(plan_dir: Path) -> None:
    """Served by purpose, km by fuel and time on board agree with rosters.csv recomputed."""
    day = plan_dir.parent / "day"
    bookings = {r["journey_id"]: r for r in rows(day / "bookings.csv")}
    fuel = {r["vehicle_id"]: r["fuel"] for r in rows(day / "fleet.csv")}
    rosters = rows(plan_dir / "rosters.csv")
    figures = _figures(plan_dir)
    served = Counter(bookings[r["journey_id"]]["purpose"] for r in rosters
                     if r["event"] == "pickup")
    assert figures["served_by_purpose"] == dict(served)
    km: dict[str, float] = defaultdict(float)
    for row in rosters:
        km[fuel[row["vehicle_id"]]] += float(row["km"])
    assert figures["km_by_fuel"] == pytest.approx(dict(km), abs=0.2)
    left: dict[str, int] = {}
    on_board = []
    for row in rosters:
        if row["event"] == "pickup":
            left[row["journey_id"]] = parse_clock(row["departure"]) or 0
        elif row["event"] == "dropoff":
            on_board.append((parse_clock(row["arrival"]) or 0) - left[row["journey_id"]])
    assert figures["on_board_min"] == sorted(on_board)
    renal = [m for row, m in zip([r for r in rosters if r["event"] == "dropoff"], on_board,
                                 strict=True)
             if bookings[row["journey_id"]]["purpose"] == "dialysis"]
    standard = figures["standards"]["renal_on_board"]  # type: ignore[index]
    assert standard["journeys"] == len(renal)
    assert standard["met"] == sum(m <= standard["limit_min"] for m in renal)


def test_plan_folder_reads_back(plan_dir: Path) -> None:
    """A plan folder read back holds the same stops and unassigned journeys."""
    day = plan_dir.parent / "day"
    problem, _ = read_problem(Inputs(day / "bookings.csv", day / "fleet.csv"), load_config())
    plan = read_plan(problem, plan_dir)
    assert sum(len(r.stops) for r in plan.rosters) == len(rows(plan_dir / "rosters.csv"))
    assert len(plan.unassigned) == len(rows(plan_dir / "unassigned.csv"))


def test_rebuild_commands(plan_dir: Path) -> None:
    """`pts report` and `pts runsheets` rebuild the views from the folder alone."""
    (plan_dir / "report.html").unlink()
    (plan_dir / "runsheets" / "all.html").unlink()
    runner = CliRunner()
    assert runner.invoke(main, ["report", "--plan", str(plan_dir)]).exit_code == 0
    assert runner.invoke(main, ["runsheets", "--plan", str(plan_dir)]).exit_code == 0
    assert (plan_dir / "report.html").exists()
    assert (plan_dir / "runsheets" / "all.html").exists()


def test_maps_per_vehicle_and_overview(plan_dir: Path) -> None:
    """The overview and one map per used vehicle, with Leaflet beside them (no CDN)."""
    maps = plan_dir.parent / "maps"
    used = {r["vehicle_id"] for r in rows(plan_dir / "rosters.csv") if r["event"] == "pickup"}
    names = {p.name for p in maps.iterdir()}
    assert names == {"overview.html", "leaflet.js", "leaflet.css"} | {f"{v}.html" for v in used}
    overview = (maps / "overview.html").read_text()
    assert "cdn.jsdelivr" not in overview and "https://" not in overview.split("<body>")[0]
    assert 'id="daytime"' in overview  # the time slider
    assert "Not planned" in overview


def test_privacy_blurs_homes(plan_dir: Path) -> None:
    """With --privacy no home or break is drawn exactly and no home's label is shown."""
    day = plan_dir.parent / "day"
    homes = [f'{float(r["pickup_lat"])!r}, {float(r["pickup_lon"])!r}'
             for r in rows(day / "bookings.csv") if not r["pickup_site"]]
    private = plan_dir.parent / "private-maps"
    result = CliRunner().invoke(main, ["map", "--plan", str(plan_dir), "--maps", str(private),
                                       "--privacy"])
    assert result.exit_code == 0, result.output
    text = "".join(p.read_text() for p in private.glob("*.html"))
    assert not [home for home in homes if home in text]
    breaks = [f'{float(r["lat"])!r}, {float(r["lon"])!r}'
              for r in rows(plan_dir / "rosters.csv") if r["event"] == "break"]
    sites = {f'{float(r["lat"])!r}, {float(r["lon"])!r}'
             for r in rows(Path(__file__).parent.parent / "data" / "sites.csv")}
    assert not [b for b in breaks if b in text and b not in sites]  # a break may be at a home
    labels = {r["pickup_label"] for r in rows(day / "bookings.csv") if not r["pickup_site"]}
    assert labels and not [label for label in labels if label in text]
    exact = "".join(p.read_text() for p in (plan_dir.parent / "maps").glob("*.html"))
    assert any(home in exact for home in homes)  # without --privacy they are exact
