"""Reading a plan folder back into a `Plan`, to rebuild run sheets, maps and reports.

`summary.json` records where the day's input files were, so a plan folder is enough to
name on the command line.
"""

from __future__ import annotations

import json
from pathlib import Path

from pts_optimiser.diagnostics import Code, InputError, error
from pts_optimiser.parse import parse_clock
from pts_optimiser.plan import Event, Plan, Reason, Roster, Stop, Unassigned
from pts_optimiser.problem import Problem
from pts_optimiser.tables import Table, read_table


def recorded_inputs(plan_dir: Path) -> dict[str, str | None]:
    """The input paths a plan was made from, as summary.json recorded them."""
    summary = plan_dir / "summary.json"
    try:
        inputs = json.loads(summary.read_text(encoding="utf-8"))["inputs"]
    except (OSError, ValueError, KeyError, TypeError):
        raise InputError([error(Code.FILE_NOT_FOUND, str(summary),
                                "no summary.json with the plan's inputs",
                                "give the folder pts solve wrote, or --bookings and --fleet")
                          ]) from None
    return {key: inputs.get(key) for key in ("bookings", "fleet", "sites", "config")}


def read_plan(problem: Problem, plan_dir: Path) -> Plan:
    """The plan in `plan_dir`, tied to the day's journeys and vehicle shifts."""
    rosters = read_table(plan_dir / "rosters.csv", allow_no_rows=True)
    unassigned = read_table(plan_dir / "unassigned.csv", allow_no_rows=True)
    journeys = {j.journey_id: j for j in problem.journeys}
    vehicles = {v.vehicle_id: v for v in problem.vehicles}
    stops: dict[str, list[Stop]] = {}
    for index, cells in enumerate(rosters.rows):
        try:
            vehicle_id = cells["vehicle_id"]
            if vehicle_id not in vehicles:
                raise ValueError(f"vehicle {vehicle_id!r} is not in the fleet")
            journey = journeys[cells["journey_id"]] if cells["journey_id"] else None
            stops.setdefault(vehicle_id, []).append(Stop(
                Event(cells["event"]), float(cells["lat"]), float(cells["lon"]),
                cells["label"], _clock(cells["arrival"]), _clock(cells["service_start"]),
                _clock(cells["departure"]), round(float(cells["km"]) * 1000),
                int(cells["seats_used"]), int(cells["wheelchairs_used"]),
                int(cells["stretchers_used"]), journey))
        except (KeyError, ValueError) as exc:
            raise _bad(rosters, index, exc) from None
    left_out = []
    for index, cells in enumerate(unassigned.rows):
        try:
            code, _, detail = cells["reason"].partition(": ")
            left_out.append(Unassigned(journeys[cells["journey_id"]], Reason(code), detail))
        except (KeyError, ValueError) as exc:
            raise _bad(unassigned, index, exc) from None
    summary = json.loads((plan_dir / "summary.json").read_text(encoding="utf-8"))
    return Plan(problem, tuple(Roster(vehicles[v], tuple(s)) for v, s in stops.items()),
                tuple(left_out), float(summary.get("solve_seconds", 0.0)),
                dict(summary.get("search", {})))


def _clock(text: str) -> int:
    minutes = parse_clock(text)
    if minutes is None:
        raise ValueError(f"{text!r} is not a time")
    return minutes


def _bad(table: Table, index: int, exc: Exception) -> InputError:
    return InputError([error(Code.UNREADABLE_FILE, table.name, f"cannot read this row ({exc})",
                             "rebuild the plan with pts solve; plan files are not for editing "
                             "by hand", table.row_number(index))])
