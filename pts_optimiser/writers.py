"""Writing a plan folder, all or nothing: the contract's files and what people read.

rosters.csv, unassigned.csv and summary.json, then the views built from them: run sheets
(runsheets/), the KPI report (report.html) and the coordinators' workbook (plan.xlsx).
The files are built in a temporary folder beside the target and moved into place
together, so a crash or a kill leaves either the old plan or the new one, never half.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pts_optimiser import kpi
from pts_optimiser.checker import ROSTER_COLUMNS, UNASSIGNED_COLUMNS
from pts_optimiser.parse import Inputs, format_clock
from pts_optimiser.plan import Plan
from pts_optimiser.report import report_html
from pts_optimiser.runsheets import run_sheets
from pts_optimiser.tables import write_table, write_text
from pts_optimiser.workbook import write_workbook


def _extras(plan: Plan) -> tuple[list[str], list[str]]:
    known = set(ROSTER_COLUMNS)
    booking = [name for name, _ in (plan.problem.journeys[0].extra if plan.problem.journeys
                                    else ()) if name not in known]
    fleet = [name for name, _ in (plan.problem.vehicles[0].extra if plan.problem.vehicles
                                  else ()) if name not in known and name not in booking]
    return booking, fleet


def roster_rows(plan: Plan) -> list[dict[str, object]]:
    """One row per stop, in driving order, with the bookings' and fleet's own columns."""
    booking_extra, fleet_extra = _extras(plan)
    rows: list[dict[str, object]] = []
    for roster in plan.rosters:
        fleet_cells = dict(roster.vehicle.extra)
        for seq, stop in enumerate(roster.stops):
            journey = stop.journey
            row: dict[str, object] = {
                "vehicle_id": roster.vehicle.vehicle_id, "seq": seq, "event": str(stop.event),
                "journey_id": journey.journey_id if journey else "",
                "patient_id": journey.patient_id if journey else "",
                "lat": stop.lat, "lon": stop.lon, "label": stop.label,
                "arrival": format_clock(stop.arrival_min),
                "service_start": format_clock(stop.service_start_min),
                "departure": format_clock(stop.departure_min),
                "km": f"{stop.leg_m / 1000:.2f}",
                "seats_used": stop.seats_used, "wheelchairs_used": stop.wheelchairs_used,
                "stretchers_used": stop.stretchers_used,
            }
            booking_cells = dict(journey.extra) if journey else {}
            row.update({name: booking_cells.get(name, "") for name in booking_extra})
            row.update({name: fleet_cells.get(name, "") for name in fleet_extra})
            rows.append(row)
    return rows


def summary(plan: Plan) -> dict[str, Any]:
    """Key figures of the plan, as summary.json holds them."""
    problem = plan.problem
    config = problem.config
    served = Counter(str(j.purpose) for j in plan.planned)
    km_by_fuel = kpi.km_by_fuel(plan)
    on_board = [trip.on_board_min for trip in kpi.trips(plan)]
    co2 = {fuel: round(km * config.co2_kg_per_km[fuel], 1) for fuel, km in km_by_fuel.items()}
    return {
        "service_date": problem.service_date,
        "journeys": len(problem.journeys),
        "servable": plan.search.get("servable"),
        "served": len(plan.planned),
        "unassigned": len(plan.unassigned),
        "served_by_purpose": dict(sorted(served.items())),
        "unassigned_by_reason": dict(sorted(Counter(str(u.reason)
                                                    for u in plan.unassigned).items())),
        "vehicles_used": sum(r.used for r in plan.rosters),
        "vehicles_available": len(problem.vehicles),
        "km_total": round(sum(km_by_fuel.values()), 1),
        "km_by_fuel": {fuel: round(km, 1) for fuel, km in sorted(km_by_fuel.items())},
        "co2_kg_by_fuel": dict(sorted(co2.items())),
        "co2_kg_total": round(sum(co2.values()), 1),
        "time_on_board_min": {
            "total": sum(on_board),
            "mean": round(sum(on_board) / len(on_board), 1) if on_board else 0,
            "max": max(on_board, default=0),
        },
        "solve_seconds": round(plan.solve_seconds, 1),
        "search": dict(plan.search),
    }


def _unassigned_rows(plan: Plan) -> list[dict[str, object]]:
    booking_extra, _ = _extras(plan)
    return [{"journey_id": u.journey.journey_id, "patient_id": u.journey.patient_id,
             "reason": u.text, **{name: dict(u.journey.extra).get(name, "")
                                  for name in booking_extra}}
            for u in plan.unassigned]


VIEWS = ("runsheets", "report")


def write_views(plan: Plan, folder: Path, views: tuple[str, ...] = VIEWS) -> None:
    """Run sheets with the workbook, and the KPI report, into a plan folder."""
    if "report" in views:
        write_text(folder / "report.html", report_html(plan))
    if "runsheets" not in views:
        return
    for name, html in run_sheets(plan).items():
        write_text(folder / "runsheets" / name, html)
    booking_extra, _ = _extras(plan)
    write_workbook(plan, folder / "plan.xlsx", summary(plan), booking_extra)


def writing_time_s(journeys: int) -> float:
    """Seconds to keep back from a time limit for writing a plan with its views and maps.

    Measured on generated 750-journey days planned by the portfolio strategy: writing the
    plan took 1.2-1.8 s and the maps 12.5-14.4 s; the first write in a process, which is the
    one a command makes, took 16.2 s in all (746 planned on 87 shifts).
    """
    return 3.0 + journeys / 50


def write_folder(out: Path, build: Callable[[Path], None], keep_previous: Path | None = None,
                 group_readable: bool = False) -> None:
    """Build a folder's files in a temporary folder, then put it in place by renames only.

    With `keep_previous`, the folder replaced is kept there (the last good plan). Files are
    readable by their owner only unless `group_readable`.
    """
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.partial-"))
    try:
        build(staging)
        _restrict(staging, group_readable)
        _swap_in(staging, out, keep_previous)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def write_plan(plan: Plan, out: Path, inputs: Inputs | None = None, with_maps: bool = False,
               keep_previous: Path | None = None,
               tables: Mapping[str, tuple[Sequence[str], Sequence[Mapping[str, object]]]]
               | None = None) -> None:
    """Write the plan folder; it appears complete or not at all.

    `inputs` are recorded in summary.json so `pts report` and `pts runsheets` can rebuild
    the views from the folder alone. `with_maps` puts the route maps in its `maps/`.
    `tables` are further CSV files (name -> columns, rows) written with the plan.
    """
    def build(staging: Path) -> None:
        for name, (columns, rows) in (tables or {}).items():
            write_table(staging / name, columns, rows)
        booking_extra, fleet_extra = _extras(plan)
        write_table(staging / "rosters.csv", [*ROSTER_COLUMNS, *booking_extra, *fleet_extra],
                    roster_rows(plan))
        write_table(staging / "unassigned.csv", [*UNASSIGNED_COLUMNS, *booking_extra],
                    _unassigned_rows(plan))
        figures = summary(plan)
        if inputs is not None:
            figures["inputs"] = {name: str(path.resolve()) if path else None for name, path in (
                ("bookings", inputs.bookings), ("fleet", inputs.fleet), ("sites", inputs.sites),
                ("config", inputs.config))}
        write_text(staging / "summary.json", json.dumps(figures, indent=2) + "\n")
        write_views(plan, staging)
        if with_maps:
            _maps_into(plan, staging / "maps")

    write_folder(out, build, keep_previous, plan.problem.config.group_readable)


def write_maps(plan: Plan, out: Path, privacy: bool = False, tiles: str = "",
               tiles_credit: str = "") -> None:
    """Write the overview and per-vehicle maps into `out`, all at once."""
    write_folder(out, lambda staging: _maps_into(plan, staging, privacy, tiles, tiles_credit),
                 group_readable=plan.problem.config.group_readable)


def _maps_into(plan: Plan, folder: Path, privacy: bool | None = None, tiles: str | None = None,
               tiles_credit: str | None = None) -> None:
    """Maps into `folder`; settings not given come from the plan's [maps] policy."""
    from pts_optimiser.maps import maps

    policy = plan.problem.config.maps
    pages = maps(plan, policy.privacy if privacy is None else privacy,
                 policy.tiles if tiles is None else tiles,
                 policy.tiles_credit if tiles_credit is None else tiles_credit)
    for name, html in pages.items():
        write_text(folder / name, html)


def _restrict(folder: Path, group_readable: bool) -> None:
    folder.chmod(0o750 if group_readable else 0o700)
    for path in folder.rglob("*"):
        if path.is_dir():
            path.chmod(0o750 if group_readable else 0o700)
        else:
            path.chmod(0o640 if group_readable else 0o600)


def _swap_in(staging: Path, out: Path, keep_previous: Path | None = None) -> None:
    """Replace `out` by `staging` with renames only (the last good plan survives a crash)."""
    if not out.exists():
        staging.replace(out)
        return
    old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
    old.rmdir()
    out.replace(old)
    staging.replace(out)
    if keep_previous is None:
        shutil.rmtree(old, ignore_errors=True)
        return
    if keep_previous.exists():
        shutil.rmtree(keep_previous)
    old.replace(keep_previous)
