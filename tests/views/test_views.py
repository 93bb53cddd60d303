"""What people read: run sheets, the workbook and the KPI report, from a solved plan folder."""

from __future__ import annotations

import csv
import json
import shutil
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pts_optimiser.cli import main
from pts_optimiser.domain.clock import parse_clock
from pts_optimiser.domain.config import load_config
from pts_optimiser.io.parse import Inputs, read_problem
from pts_optimiser.io.planfolder import read_plan
from tests.helpers import FIXTURES, ROOT, report_figures, rows, solved_day


@pytest.fixture(scope="module")
def plan_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated 150-journey day on 30 shifts, solved by `pts solve` into a plan folder.

    30, not 17: with its round trips linked the day needs room to plan most journeys in
    8 s (17 shifts: 84 of 150, below the alert share; 30: 137 of 150).
    """
    return solved_day(tmp_path_factory.mktemp("views"), seed=8, vehicles=30)





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
    figures = report_figures(plan_dir)
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
             for r in rows(ROOT / "data" / "sites.csv")}
    assert not [b for b in breaks if b in text and b not in sites]  # a break may be at a home
    labels = {r["pickup_label"] for r in rows(day / "bookings.csv") if not r["pickup_site"]}
    assert labels and not [label for label in labels if label in text]
    exact = "".join(p.read_text() for p in (plan_dir.parent / "maps").glob("*.html"))
    assert any(home in exact for home in homes)  # without --privacy they are exact


DAY_COLUMNS = ["journey_id", "patient_id", "purpose", "mobility", "pickup_lat", "pickup_lon",
               "pickup_site", "dropoff_lat", "dropoff_lon", "dropoff_site", "appointment_time",
               "ready_time", "return_of", "district"]


def _round_trip_day(folder: Path, return_ready: str = "11:30") -> tuple[Path, Path]:
    """Two round trips to Royal Derby, a discharge no car can carry, a one-way outpatient.

    P1's return names its outward in return_of, P2's is inferred; P4 has no district.
    """
    home1 = {"pickup_lat": "52.93", "pickup_lon": "-1.49"}
    home2 = {"pickup_lat": "52.92", "pickup_lon": "-1.47"}
    back = {"dropoff_site": "", "pickup_site": "RDH"}
    bookings = [
        {"journey_id": "A1", "patient_id": "P1", **home1, "dropoff_site": "RDH",
         "appointment_time": "10:00", "district": "Derby City"},
        {"journey_id": "A2", "patient_id": "P1", **back, "dropoff_lat": "52.93",
         "dropoff_lon": "-1.49", "ready_time": return_ready, "return_of": "A1",
         "district": "Derby City"},
        {"journey_id": "B1", "patient_id": "P2", **home2, "dropoff_site": "RDH",
         "appointment_time": "10:30", "district": "Erewash"},
        {"journey_id": "B2", "patient_id": "P2", **back, "dropoff_lat": "52.92",
         "dropoff_lon": "-1.47", "ready_time": "12:00", "district": "Erewash"},
        {"journey_id": "C1", "patient_id": "P3", "mobility": "stretcher", "purpose": "discharge",
         **back, "dropoff_lat": "52.94", "dropoff_lon": "-1.47", "ready_time": "10:00",
         "district": "Erewash"},
        {"journey_id": "D1", "patient_id": "P4", "pickup_lat": "52.91", "pickup_lon": "-1.45",
         "dropoff_site": "RDH", "appointment_time": "11:00"},
    ]
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "bookings.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, DAY_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows({"purpose": "outpatient", "mobility": "seated", **row}
                         for row in bookings)
    fleet = ("vehicle_id,vehicle_type,base_site,seats,wheelchair_spaces,stretchers,crew,"
             "shift_start,shift_end,break_min,fuel\n"
             "CAR1,car,ST-DERBY,3,0,0,1,08:00,14:00,30,diesel\n"
             "CAR2,car,ST-DERBY,3,0,0,1,08:00,14:00,30,hybrid\n")
    (folder / "fleet.csv").write_text(fleet)
    return folder / "bookings.csv", folder / "fleet.csv"


def _solve(bookings: Path, fleet: Path, out: Path, *extra: str) -> str:
    """`pts solve` then `pts check` on the day; the solve's output (both exit 0)."""
    args = ["--bookings", str(bookings), "--fleet", str(fleet), *extra]
    solved = CliRunner().invoke(main, ["solve", *args, "--out", str(out), "--time-limit", "5"])
    assert solved.exit_code == 0, solved.output
    checked = CliRunner().invoke(main, ["check", *args, "--out", str(out)])
    assert checked.exit_code == 0, checked.output
    return solved.output + checked.output


def _patients_from_files(bookings: Path, plan: Path) -> dict[str, int]:
    """Patient counts recomputed from the CSV files alone (not from the plan's figures)."""
    booked = rows(bookings)
    planned = {r["journey_id"] for r in rows(plan / "rosters.csv") if r["event"] == "pickup"}
    reasons = {r["journey_id"]: r["reason"].split(":")[0] for r in rows(plan / "unassigned.csv")}
    alone = ("no_compatible_vehicle", "window_shorter_than_trip", "no_shift_covers_window",
             "beyond_ev_range")
    days: dict[str, list[str]] = defaultdict(list)
    for row in booked:
        days[row["patient_id"]].append(row["journey_id"])
    outward_of = {"A2": "A1", "B2": "B1"}
    left = {p for p, journeys in days.items() for j in journeys
            if j in outward_of and outward_of[j] in planned and j not in planned}
    return {"total": len(days),
            "servable_alone": sum(all(reasons.get(j) not in alone for j in js)
                                  for js in days.values()),
            "fully_served": sum(all(j in planned for j in js) for js in days.values()),
            "left_somewhere": len(left)}


def test_patient_figures_of_a_small_planned_day(tmp_path: Path) -> None:
    """Summary, report headline, workbook and CLI count patients as the files do: 3 of 3 served."""
    from openpyxl import load_workbook

    bookings, fleet = _round_trip_day(tmp_path / "day")
    output = _solve(bookings, fleet, tmp_path / "plan")
    summary = json.loads((tmp_path / "plan" / "summary.json").read_text())
    people = summary["patients"]
    recomputed = _patients_from_files(bookings, tmp_path / "plan")
    assert {k: people[k] for k in recomputed} == recomputed
    assert recomputed == {"total": 4, "servable_alone": 3, "fully_served": 3,
                          "left_somewhere": 0}
    assert people["needing_another_way_back"] == []
    assert list(people["by_district"]) == ["Erewash", "Derby City", "not given"]  # as listed
    assert people["by_district"]["Erewash"] == {"total": 2, "servable_alone": 1,
                                                "fully_served": 1, "left_somewhere": 0}
    assert set(summary["standards"]) == {"renal_collect", "renal_on_board", "renal_early",
                                         "planned_early", "discharge_collect"}
    early = summary["standards"]["planned_early"]
    assert early["journeys"] == 3 and early["target_pct"] == 90
    assert "patients: 3 of 3 fully served; 0 left somewhere" in output
    html = (tmp_path / "plan" / "report.html").read_text()
    assert html.index("<h2>Patients</h2>") < html.index("<h2>Journeys</h2>")
    headline = html[html.index("<h2>Patients</h2>"):html.index("<h2>Journeys</h2>")]
    assert "<b>3</b> of 3 patients fully served" in headline
    assert "Outpatients and admissions: arrive by the appointment and at most" in headline
    sheet = load_workbook(tmp_path / "plan" / "plan.xlsx", read_only=True)["Summary"]
    values = {row[0]: row[1] for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert values["Patients fully served (every journey planned)"] == 3
    assert values["Patients left somewhere (taken there, no journey back)"] == 0


def test_patient_needing_another_way_back_is_listed(tmp_path: Path) -> None:
    """Allowed an outward without its return, a patient left there is listed everywhere."""
    from openpyxl import load_workbook

    bookings, fleet = _round_trip_day(tmp_path / "day", return_ready="15:30")
    policy = tmp_path / "allow.toml"
    policy.write_text("[linked]\nallow_outward_without_return = true\n")
    output = _solve(bookings, fleet, tmp_path / "plan", "--config", str(policy))
    people = json.loads((tmp_path / "plan" / "summary.json").read_text())["patients"]
    recomputed = _patients_from_files(bookings, tmp_path / "plan")
    assert {k: people[k] for k in recomputed} == recomputed
    assert recomputed["left_somewhere"] == 1
    assert people["needing_another_way_back"] == [
        {"patient_id": "P1", "outward_id": "A1", "return_id": "A2", "district": "Derby City"}]
    assert "1 left somewhere" in output
    assert "needs another way back: patient P1 (taken by A1; A2 not planned)" in output
    assert "warning: [stranded_patient] journey A1" in output
    html = (tmp_path / "plan" / "report.html").read_text()
    assert "Needing another way back" in html and "<td>A2</td>" in html
    sheet = load_workbook(tmp_path / "plan" / "plan.xlsx", read_only=True)["Summary"]
    labels = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert "Needs another way back: patient P1" in labels
    # The same patient after a re-plan that lost the ride home, the policy not allowing it:
    # the checker's warning, not "breaks a rule" (until the thirty-seventh stop it said so).
    from dataclasses import replace

    from pts_optimiser.views.report import report_html

    plan = read_plan(_problem_of(bookings, fleet, policy), tmp_path / "plan")
    config = plan.problem.config
    strict = replace(config, linked=replace(config.linked, allow_outward_without_return=False))
    replanned = replace(plan, problem=replace(plan.problem, config=strict),
                        search={**plan.search, "replanned_at": "12:20"})
    html = report_html(replanned)
    assert "The re-plan at 12:20 could not keep their ride back" in html
    assert "breaks a rule" not in html
    assert "breaks a rule" in report_html(replace(replanned, search={}))


def test_rebuilt_views_keep_the_plans_modes(tmp_path: Path) -> None:
    """A group-readable plan's rebuilt report and run sheets are the group's to read too.

    Before, a rebuild wrote them 0600 (and a missing `runsheets/` as the umask made it).
    """
    day = ROOT / "tests" / "fixtures" / "tiny_day"
    policy = tmp_path / "policy.toml"
    policy.write_text("[output]\ngroup_readable = true\n", encoding="utf-8")
    out = tmp_path / "plan"
    runner = CliRunner()
    solved = runner.invoke(main, ["solve", "--bookings", str(day / "bookings.csv"), "--fleet",
                                  str(day / "fleet.csv"), "--config", str(policy), "--out",
                                  str(out), "--time-limit", "5"])
    assert solved.exit_code == 0, solved.output
    shutil.rmtree(out / "runsheets")
    assert runner.invoke(main, ["report", "--plan", str(out)]).exit_code == 0
    assert runner.invoke(main, ["runsheets", "--plan", str(out)]).exit_code == 0
    for path in (out / "report.html", out / "plan.xlsx", out / "runsheets" / "all.html"):
        assert path.stat().st_mode & 0o777 == 0o640, path
    assert (out / "runsheets").stat().st_mode & 0o777 == 0o750


def _tiny_plan(tmp_path: Path) -> Path:
    day = ROOT / "tests" / "fixtures" / "tiny_day"
    out = tmp_path / "plan"
    solved = CliRunner().invoke(main, ["solve", "--bookings", str(day / "bookings.csv"),
                                       "--fleet", str(day / "fleet.csv"), "--out", str(out),
                                       "--time-limit", "5"])
    assert solved.exit_code == 0, solved.output
    return out


def test_rebuilt_views_leave_files_not_theirs_alone(tmp_path: Path) -> None:
    """Someone's notes in the folder, and links out of it, keep their modes.

    Until the thirty-fifth stop a rebuild set 0600/0700 on everything under the plan
    folder, through links too: a shared file elsewhere became its owner's only.
    """
    out = _tiny_plan(tmp_path)
    outside = tmp_path / "shared.txt"
    outside.write_text("rota", encoding="utf-8")
    outside.chmod(0o644)
    (tmp_path / "team").mkdir(mode=0o755)
    (out / "link.txt").symlink_to(outside)
    (out / "team").symlink_to(tmp_path / "team")
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    (out / "notes.txt").chmod(0o644)
    (out / "gone.txt").symlink_to(tmp_path / "nowhere")  # a link to nothing: no error
    runner = CliRunner()
    for command in ("report", "runsheets"):
        result = runner.invoke(main, [command, "--plan", str(out)])
        assert result.exit_code == 0, result.output
    assert outside.stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "team").stat().st_mode & 0o777 == 0o755
    assert (out / "notes.txt").stat().st_mode & 0o777 == 0o644
    assert (out / "report.html").stat().st_mode & 0o777 == 0o600


def test_rebuilt_run_sheets_drop_a_crew_no_longer_in_the_plan(tmp_path: Path) -> None:
    """runsheets/ is replaced whole: a sheet left from before does not stay beside the new."""
    out = _tiny_plan(tmp_path)
    stale = out / "runsheets" / "OLD99.html"
    stale.write_text("<p>yesterday's run</p>", encoding="utf-8")
    result = CliRunner().invoke(main, ["runsheets", "--plan", str(out)])
    assert result.exit_code == 0, result.output
    assert not stale.exists()
    assert (out / "runsheets" / "all.html").is_file()
    assert not [p for p in out.iterdir() if "partial" in p.name]


@pytest.mark.parametrize("command", ["report", "runsheets", "map"])
def test_views_are_not_drawn_from_a_plan_whose_runs_are_damaged(tmp_path: Path,
                                                                 command: str) -> None:
    """A rosters.csv edited by hand (a drop-off moved above its pickup): exit 3, untouched.

    Until the thirty-fifth stop the run sheets showed the crew the drop-off first (exit 0),
    or the command failed half way as an internal error.
    """
    out = _tiny_plan(tmp_path)
    lines = (out / "rosters.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    pickup = next(i for i, line in enumerate(lines) if ",pickup," in line)
    journey = lines[pickup].split(",")[lines[0].split(",").index("journey_id")]
    dropoff = next(i for i, line in enumerate(lines)
                   if ",dropoff," in line and f",{journey}," in line)
    lines[pickup], lines[dropoff] = lines[dropoff], lines[pickup]
    (out / "rosters.csv").write_text("".join(lines), encoding="utf-8")
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    result = CliRunner().invoke(main, [command, "--plan", str(out)])
    assert result.exit_code == 3, result.output
    assert "files are not a plan's runs" in result.output
    assert "pts check --out" in result.output
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before


def test_a_summary_edited_to_other_types_is_a_located_error(tmp_path: Path) -> None:
    out = _tiny_plan(tmp_path)
    figures = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    figures["solve_seconds"] = "abc"
    (out / "summary.json").write_text(json.dumps(figures), encoding="utf-8")
    result = CliRunner().invoke(main, ["report", "--plan", str(out)])
    assert result.exit_code == 2, result.output
    assert "summary.json, key solve_seconds" in result.output


def test_run_sheets_leave_off_who_the_patient_is(tmp_path: Path) -> None:
    """Only the booking columns the policy names are printed for the crew (a ward note).

    Until 2026-12-07 every extra column was printed under "Booking notes"; until the
    thirty-seventh stop every one whose name did not match a list of patterns, so a
    client_name, next_of_kin, MRN or hospital_number was. rosters.csv, for the office,
    still carries them all.
    """
    with (FIXTURES / "tiny_day" / "bookings.csv").open(newline="", encoding="utf-8") as f:
        bookings = list(csv.DictReader(f))
    personal = {"patient_name": "Ann Example", "Phone": "01332 000000",
                "NHS No": "943 476 5919", "client_name": "Bea Example",
                "next_of_kin": "Cy Example 07700 900999", "MRN": "RDH123456",
                "hospital_number": "H-998877"}
    for row in bookings:
        row.update(personal)
    with (tmp_path / "bookings.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, list(bookings[0]))
        writer.writeheader()
        writer.writerows(bookings)
    out = tmp_path / "plan"
    result = CliRunner().invoke(main, [
        "solve", "--bookings", str(tmp_path / "bookings.csv"),
        "--fleet", str(FIXTURES / "tiny_day" / "fleet.csv"), "--out", str(out),
        "--maps", str(tmp_path / "maps"), "--time-limit", "5"])
    assert result.exit_code in (0, 5), result.output
    sheets = (out / "runsheets" / "all.html").read_text(encoding="utf-8")
    assert "bring letter" in sheets
    assert not [value for value in personal.values() if value in sheets]
    assert "Ann Example" in (out / "rosters.csv").read_text(encoding="utf-8")


def test_an_arrival_after_the_appointment_misses_the_arrival_standard(tmp_path: Path) -> None:
    """A dialysis patient set down at 08:10 for 08:00 is not "at most 45 min before" it.

    Its booked drop-off window (08:10-08:30) made it late; the standard counted the 10 min
    late arrival as met until 2026-12-07, and no figure showed it.
    """
    from pts_optimiser.views import kpi
    from tests.helpers import booking, solve_and_check, vehicle

    late = booking("J1", purpose="dialysis", dropoff_site="RDH-RENAL",
                   appointment_time="08:00", earliest_dropoff="08:10", latest_dropoff="08:30")
    plan, check = solve_and_check(tmp_path, [late], [vehicle("V1", shift_start="07:00")],
                                  seconds=2)
    assert check.ok and [j.journey_id for j in plan.planned] == ["J1"]
    met = kpi.standards_met(plan)["renal_early"]
    assert (met["journeys"], met["met"], met["pct"]) == (1, 0, 0.0)


def test_a_diesel_car_is_counted_at_a_cars_factor_not_a_vans(tmp_path: Path) -> None:
    """Diesel cars at 0.165 kg CO2e/km, diesel vans (wheelchair, stretcher) at 0.250.

    Until 2026-12-07 every diesel vehicle counted as a van: the demo day's 8 diesel cars
    added 129 kg to its carbon.
    """
    from pts_optimiser.views import kpi
    from tests.helpers import booking, solve_and_check, vehicle

    plan, check = solve_and_check(
        tmp_path, [booking("J1"), booking("J2", mobility="wheelchair", appointment_time="10:00")],
        [vehicle("CAR1"), vehicle("WAV1", vehicle_type="wheelchair", seats=0,
                                  wheelchair_spaces=1)], seconds=2)
    assert check.ok, check.violations
    km = {r.vehicle.vehicle_type: r.distance_m / 1000 for r in plan.rosters if r.used}
    assert set(km) == {"car", "wheelchair"}
    expected = round(km["car"] * 0.165 + km["wheelchair"] * 0.250, 1)
    assert abs(kpi.co2_kg_by_fuel(plan)["diesel"] - expected) <= 0.1


def test_district_gaps_name_the_best_and_worst_served_districts() -> None:
    """Shares of patients served whole and of each standard: highest, lowest, the gap."""
    from pts_optimiser.views.kpi import NO_DISTRICT, district_gaps

    def district(total: int, servable: int, served: int, renal: float | None) -> dict[str, Any]:
        return {"renal_collect": renal, "served": served,
                "patients": {"total": total, "servable_alone": servable,
                             "fully_served": served, "left_somewhere": 0}}

    gaps = district_gaps({"Erewash": district(4, 4, 3, 90.0),
                          "High Peak": district(5, 4, 2, None),
                          "Derby City": district(8, 8, 8, 70.0),
                          "Chesterfield": district(2, 0, 0, None),  # nobody servable
                          NO_DISTRICT: district(3, 3, 0, 10.0)},  # no district to rank
                         ["renal_collect", "renal_on_board"])
    assert gaps["patients_fully_served"] == {
        "highest": {"district": "Derby City", "pct": 100.0},
        "lowest": {"district": "High Peak", "pct": 50.0}, "gap_pts": 50.0}
    assert gaps["renal_collect"] == {"highest": {"district": "Erewash", "pct": 90.0},
                                     "lowest": {"district": "Derby City", "pct": 70.0},
                                     "gap_pts": 20.0}
    assert gaps["renal_on_board"] is None  # no district has its journeys


def test_report_shows_the_gap_between_districts(tmp_path: Path) -> None:
    """The report's district section ends with the gap, from its own figures."""
    bookings, fleet = _round_trip_day(tmp_path / "day")
    _solve(bookings, fleet, tmp_path / "plan")
    html = (tmp_path / "plan" / "report.html").read_text()
    figures: Any = report_figures(tmp_path / "plan")
    gap = figures["district_gaps"]["patients_fully_served"]
    people = figures["patients"]["by_district"]
    shares = {d: 100.0 * c["fully_served"] / c["servable_alone"]
              for d, c in people.items() if d != "not given" and c["servable_alone"]}
    assert gap["gap_pts"] == round(max(shares.values()) - min(shares.values()), 1)
    section = html[html.index("<h3>Between districts</h3>"):]
    assert f"<td>{gap['gap_pts']:.1f}</td>" in section
    if gap["gap_pts"] == 0:
        assert f"every district {gap['highest']['pct']:.1f}%" in section


def _problem_of(bookings: Path, fleet: Path, policy: Path):  # type: ignore[no-untyped-def]
    return read_problem(Inputs(bookings, fleet, None, policy), load_config(policy))[0]

