"""Writing a plan folder, all or nothing: the contract's files and what people read.

rosters.csv, unassigned.csv and summary.json, then the views built from them: run sheets
(runsheets/), the KPI report (report.html), the coordinators' workbook (plan.xlsx) and the
route maps (maps/), with copies of the inputs (inputs/). The folder is built beside the
target, checked by the independent checker, and put in place in one exchange, so a crash
or a kill leaves either the old plan or the new one, never half (`planfolder` says how).
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pts_optimiser.domain.clock import format_clock
from pts_optimiser.domain.columns import ROSTER_COLUMNS, UNASSIGNED_COLUMNS, UNASSIGNED_FIX
from pts_optimiser.domain.exits import OutputError
from pts_optimiser.domain.plan import Plan
from pts_optimiser.io import planfolder
from pts_optimiser.io.parse import Inputs
from pts_optimiser.io.tables import write_table, write_text
from pts_optimiser.views import kpi
from pts_optimiser.views.report import report_html
from pts_optimiser.views.runsheets import run_sheets
from pts_optimiser.views.workbook import write_workbook

Checked = TypeVar("Checked")  # what the plan's judge returns (the checker's result)


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
                "km": f"{stop.leg_m / 1000:.3f}",
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
    served = Counter(str(j.purpose) for j in plan.planned)
    km_by_fuel = kpi.km_by_fuel(plan)
    on_board = [trip.on_board_min for trip in kpi.trips(plan)]
    co2 = kpi.co2_kg_by_fuel(plan)
    return {
        "service_date": problem.service_date,
        # The patient's day first: a journey planned is no use if its patient is stranded.
        "patients": kpi.patients(plan).as_json(),
        "standards": kpi.standards_met(plan),
        "journeys": len(problem.journeys),
        "servable": kpi.servable_journeys(plan),
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
        "co2_kg_total": kpi.co2_kg_total(plan),
        "time_on_board_min": {
            "total": sum(on_board),
            "mean": round(sum(on_board) / len(on_board), 1) if on_board else 0,
            "max": max(on_board, default=0),
        },
        "solve_seconds": round(plan.solve_seconds, 1),
        "search": dict(plan.search),
    }




def unassigned_columns(plan: Plan) -> list[str]:
    """unassigned.csv's columns: the contract's, the nearest miss, the bookings' own."""
    ours = (*UNASSIGNED_COLUMNS, UNASSIGNED_FIX)
    return [*ours, *(name for name in _extras(plan)[0] if name not in ours)]


def _unassigned_rows(plan: Plan) -> list[dict[str, object]]:
    booking_extra, _ = _extras(plan)
    return [{**{name: dict(u.journey.extra).get(name, "") for name in booking_extra},
             "journey_id": u.journey.journey_id, "patient_id": u.journey.patient_id,
             "reason": u.text, UNASSIGNED_FIX: u.fix}
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


def rebuild_views(plan: Plan, folder: Path, views: tuple[str, ...]) -> None:
    """The views rebuilt in a plan folder, with the modes its policy gives them.

    Each file is put in place whole, and `runsheets/` at once, built beside it: a sheet
    of a crew no longer in the plan goes with the old folder. Only what is written here
    is given the policy's modes. Until the thirty-fifth stop the modes were set on
    everything under the folder, through links too, so a file of someone else's (or one
    a link in the folder named, elsewhere) became its owner's only; and the old sheets
    stayed beside the new. (Until 2026-12-07 the views kept the writer's own modes.)
    """
    group_readable = plan.problem.config.group_readable
    folder_mode, file_mode = modes(group_readable)
    if "report" in views:
        write_text(folder / "report.html", report_html(plan))
        (folder / "report.html").chmod(file_mode)
    if "runsheets" not in views:
        return
    sheets = folder / "runsheets"
    if sheets.is_symlink():
        raise OutputError(f"{sheets} is a symbolic link; run sheets are never written through "
                          "a link into another folder", ["remove the link, then run again"])
    planfolder.clean_leftovers(sheets)
    staging = planfolder.staging_folder(sheets, folder_mode)
    try:
        for name, html in run_sheets(plan).items():
            write_text(staging / name, html)
        _restrict(staging, group_readable)
        planfolder.put_in_place(staging, sheets, None)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    booking_extra, _ = _extras(plan)
    write_workbook(plan, folder / "plan.xlsx", summary(plan), booking_extra)
    (folder / "plan.xlsx").chmod(file_mode)


SEARCH_OVERRUN_S = 2.0  # the search processes may end up to this long past their share


def writing_only_s(journeys: int) -> float:
    """Seconds to write a plan, checked, with its views and maps, on a busy machine.

    Kept for a machine whose two cores are shared with two other busy processes, where
    writing a 750-journey plan took 5.0-5.1 s (benchmarks/README.md).
    """
    return journeys / 150


def writing_time_s(journeys: int) -> float:
    """Seconds to keep back from a time limit for a search's overrun and writing its plan."""
    return SEARCH_OVERRUN_S + writing_only_s(journeys)


class Together:
    """Folders put in place only once every one of them is built and checked: all or none.

    A week's days: `write_folder(..., together=...)` inside the `with` block leaves each
    checked folder staged here. Leaving the block without an error puts them all in place;
    with one (a plan the checker refuses, a full disk), every staged folder is removed and
    what was there before is kept, every day of it.
    """

    def __init__(self) -> None:
        self.staged: list[tuple[Path, Path, Path | None, str]] = []

    def __enter__(self) -> Together:
        return self

    def __exit__(self, failed: type[BaseException] | None, *details: object) -> None:
        try:
            if failed is None:
                self._put_in_place()
        finally:
            for staging, _, _, _ in self.staged:
                shutil.rmtree(staging, ignore_errors=True)

    def _put_in_place(self) -> None:
        # Looked at again: a person may have put a file in one while the rest were built.
        for _, out, previous, kind in self.staged:
            planfolder.check_target(out, kind, previous)
        for done, (staging, out, previous, _) in enumerate(self.staged):
            try:
                _swap_in(staging, out, previous)
            except OSError as exc:
                put = ", ".join(str(o) for _, o, _, _ in self.staged[:done]) or "none"
                raise OutputError(
                    f"cannot put the new folder in place at {out}: {exc.strerror or exc}; "
                    f"put in place before it: {put}",
                    ["each folder holds its old plan or its new one, whole; run again"]
                ) from exc


def write_folder(out: Path, build: Callable[[Path], None], keep_previous: Path | None = None,
                 group_readable: bool = False, kind: str = "plan",
                 verify: Callable[[Path], None] | None = None,
                 together: Together | None = None) -> None:
    """Build a folder in a staging folder beside `out`, then put it in place at once.

    `out` is refused (OutputError) unless it is new, empty or a `kind` folder pts wrote;
    a link is never followed. `verify` may reject the built folder by raising: the old one
    stays. With `keep_previous`, the folder replaced is kept there. Files are readable by
    their owner only unless `group_readable`. With `together`, the checked folder is put in
    place with the others staged there, when its block ends.
    """
    out = planfolder.target(out)
    previous = planfolder.target(keep_previous) if keep_previous is not None else None
    planfolder.check_target(out, kind, previous)
    if previous is not None and previous.parent != out.parent:
        raise OutputError(f"the previous plan's place {previous} is not beside {out}",
                          ["keep the previous plan in the same folder as the plan"])
    try:
        planfolder.clean_leftovers(out)
        if previous is not None:
            planfolder.clean_leftovers(previous)
        staging = planfolder.staging_folder(out, modes(group_readable)[0])
    except OSError as exc:
        raise OutputError(f"cannot write in {out.parent}: {exc.strerror or exc}",
                          ["check the folder exists, is writable and the disk has room"]
                          ) from None
    try:
        build(staging)
        if kind == "plan":
            planfolder.write_marker(staging)
        _restrict(staging, group_readable)
        planfolder.reached("built")
        if verify is not None:
            verify(staging)
        planfolder.reached("checked")
        # Looked at again: a person may have put a file there while the plan was built.
        planfolder.check_target(out, kind, previous)
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write {out}: {exc.strerror or exc}; what was there is "
                              "kept", ["check the disk has room and the folder is writable"]
                              ) from exc
        raise
    if together is not None:
        together.staged.append((staging, out, previous, kind))
        return
    try:
        _swap_in(staging, out, previous)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise OutputError(f"cannot put the new folder in place at {out}: "
                          f"{exc.strerror or exc}",
                          ["it holds the old folder or the new one, whole; run again"]
                          ) from exc


def write_plan_files(plan: Plan, out: Path, verify: Callable[[Path], Checked],
                     inputs: Inputs | None = None, with_maps: bool = True,
                     keep_previous: Path | None = None,
                     tables: Mapping[str, tuple[Sequence[str], Sequence[Mapping[str, object]]]]
                     | None = None, privacy: bool | None = None,
                     together: Together | None = None) -> Checked:
    """Write the plan folder, judged by `verify` before it is put in place; whole or not at all.

    `inputs` are copied into the folder's `inputs/` (with the effective policy as
    `inputs/config.toml`) so it can be rebuilt and re-planned from itself alone; an input
    at `out/<name>` for a `tables` name is taken from that table, written with the plan.
    `with_maps` puts the route maps in its `maps/` (`privacy` None: the policy's).
    `tables` are further CSV files (name -> columns, rows) written with the plan. The plan
    replaced is kept as `keep_previous` (default `<out>.previous`). A plan that breaks a
    rule is not put in place (`verify` raises), the old plan stays. Returns what `verify` did.
    With `together`, it is put in place with the other folders staged there (`Together`).
    services.publish.write_plan passes the independent checker.
    """
    out = planfolder.target(out)
    checked: list[Checked] = []

    def build(staging: Path) -> None:
        for name, (columns, rows) in (tables or {}).items():
            write_table(staging / name, columns, rows)
        booking_extra, fleet_extra = _extras(plan)
        write_table(staging / "rosters.csv", [*ROSTER_COLUMNS, *booking_extra, *fleet_extra],
                    roster_rows(plan))
        write_table(staging / "unassigned.csv", unassigned_columns(plan),
                    _unassigned_rows(plan))
        planfolder.reached("tables")
        figures = summary(plan)
        if inputs is not None:
            figures["inputs"] = _copy_inputs(plan, inputs, out, staging, set(tables or ()))
        write_text(staging / "summary.json", json.dumps(figures, indent=2) + "\n")
        write_views(plan, staging)
        if with_maps:
            _maps_into(plan, staging / planfolder.MAPS, privacy)

    write_folder(out, build, keep_previous or planfolder.previous_of(out),
                 plan.problem.config.group_readable,
                 verify=lambda staging: checked.append(verify(staging)), together=together)
    return checked[0]


def _copy_inputs(plan: Plan, inputs: Inputs, out: Path, staging: Path,
                 tables: set[str]) -> dict[str, str]:
    """Copy the day's files into `staging/inputs/`; their places relative to the folder.

    A file held in memory (`Inputs.hold`) is written as it was read, whatever is at its
    path now.
    """
    folder = staging / planfolder.INPUTS
    folder.mkdir()
    recorded = planfolder.input_paths()
    for key in ("bookings", "fleet", "sites"):
        copy = staging / recorded[key]
        source = planfolder.target(inputs.files()[key])
        if source.parent == out and source.name in tables:
            shutil.copyfile(staging / source.name, copy)  # written with this plan
        elif key in inputs.held:
            copy.write_bytes(inputs.held[key])
        else:
            shutil.copyfile(source, copy)
    write_text(staging / recorded["config"], planfolder.config_toml(plan.problem.config))
    return recorded


def write_maps(plan: Plan, out: Path, privacy: bool = False, tiles: str = "",
               tiles_credit: str = "") -> None:
    """Write the overview and per-vehicle maps into `out`, all at once."""
    write_folder(out, lambda staging: _maps_into(plan, staging, privacy, tiles, tiles_credit),
                 group_readable=plan.problem.config.group_readable, kind=planfolder.MAPS)


def copy_maps(plan_dir: Path, out: Path, group_readable: bool = False) -> None:
    """A copy of a plan folder's maps in `out`, put in place at once."""
    source = plan_dir / planfolder.MAPS

    def build(staging: Path) -> None:
        for page in source.iterdir():
            shutil.copyfile(page, staging / page.name)

    write_folder(out, build, group_readable=group_readable, kind=planfolder.MAPS)


def _maps_into(plan: Plan, folder: Path, privacy: bool | None = None, tiles: str | None = None,
               tiles_credit: str | None = None) -> None:
    """Maps into `folder`; settings not given come from the plan's [maps] policy."""
    from pts_optimiser.views.maps import maps

    policy = plan.problem.config.maps
    pages = maps(plan, policy.privacy if privacy is None else privacy,
                 policy.tiles if tiles is None else tiles,
                 policy.tiles_credit if tiles_credit is None else tiles_credit)
    for name, html in pages.items():
        write_text(folder / name, html)


def modes(group_readable: bool) -> tuple[int, int]:
    """A plan's folders' mode and its files': its owner's only, or its group's to read too."""
    return (0o750, 0o640) if group_readable else (0o700, 0o600)


def _restrict(folder: Path, group_readable: bool) -> None:
    """The policy's modes on a folder this command built, and on all it holds but links."""
    folder_mode, file_mode = modes(group_readable)
    folder.chmod(folder_mode)
    for path in folder.rglob("*"):
        if not path.is_symlink():
            path.chmod(folder_mode if path.is_dir() else file_mode)


def _swap_in(staging: Path, out: Path, keep_previous: Path | None = None) -> None:
    """Replace `out` by `staging` at once; the replaced folder is kept or removed."""
    planfolder.put_in_place(staging, out, keep_previous)
