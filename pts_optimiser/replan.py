"""Re-planning during the day: late bookings in, cancellations out, a vehicle off the road.

What has happened stays as it happened: a stop a vehicle has reached, or is driving to,
is kept exactly; a patient on board stays on that vehicle to their drop-off. Everything
after that is planned again, and a change list tells the control room which crews' runs
changed and how.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from pts_optimiser.config import Config
from pts_optimiser.diagnostics import Code, InputError, error
from pts_optimiser.parse import Inputs, format_clock, read_problem
from pts_optimiser.plan import Event, Plan, Reason, Roster, Stop, Unassigned
from pts_optimiser.problem import Journey, Place
from pts_optimiser.solve import SolveOptions, VehicleStart, solve
from pts_optimiser.tables import Table, read_table

CHANGE_COLUMNS = ("vehicle_id", "change", "event", "journey_id", "patient_id", "old_time",
                  "new_time")
RETIMED_FROM_MIN = 5  # a stop moved by less than this is not worth a radio call


@dataclass(frozen=True)
class Change:
    """One thing a crew must now do differently."""

    vehicle_id: str
    change: str  # "added", "removed" or "retimed"
    event: str
    journey_id: str
    patient_id: str
    old_time: str
    new_time: str


@dataclass(frozen=True)
class Replanned:
    """The new plan, what changed, and what could not be done as asked."""

    plan: Plan
    changes: tuple[Change, ...]
    notes: tuple[str, ...]


def _kept(stops: Sequence[Stop], now_min: int, off_road: bool = False) -> int:
    """How many stops of a run are made or under way at `now_min`."""
    reached = sum(1 for stop in stops if stop.arrival_min <= now_min)
    driving = 0 < reached < len(stops) and stops[reached - 1].departure_min <= now_min
    # The stop it is driving to is under way, unless the vehicle is taken off the road on
    # its way to collect a patient, who then waits for another crew.
    if driving and not (off_road and stops[reached].event is Event.PICKUP):
        reached += 1
    return reached


def _start(roster: Roster, now_min: int, journeys: dict[str, Journey], off_road: bool
           ) -> VehicleStart | None:
    count = _kept(roster.stops, now_min, off_road)
    if count == 0:
        return None
    done = [replace(s, journey=journeys.get(s.journey.journey_id, s.journey)) if s.journey else s
            for s in roster.stops[:count]]
    finished = done[-1].event is Event.END
    if finished:
        done.pop()  # back at base already: nothing new, the end is written again
    left: dict[str, tuple[Journey, int]] = {}
    for stop in done:
        if stop.journey is None:
            continue
        if stop.event is Event.PICKUP:
            left[stop.journey.journey_id] = (stop.journey, stop.departure_min)
        elif stop.event is Event.DROPOFF:
            left.pop(stop.journey.journey_id, None)
    return VehicleStart(tuple(done), tuple(left.values()),
                        any(s.event is Event.BREAK for s in done), off_road or finished,
                        not_before_min=now_min if off_road else 0)


def merged_bookings(bookings: Path, add: Path | None) -> Table:
    """The day's bookings with the late ones appended; a late id already booked is an error."""
    table = read_table(bookings)
    if add is None:
        return table
    late = read_table(add)
    known = {cells.get("journey_id", "") for cells in table.rows}
    clashes = [error(Code.DUPLICATE_ID, late.name, f"journey {cells.get('journey_id')!r} is "
                     "already booked for the day", "give the late booking its own journey_id",
                     late.row_number(i), "journey_id")
               for i, cells in enumerate(late.rows) if cells.get("journey_id", "") in known]
    if clashes:
        raise InputError(clashes)
    columns = list(dict.fromkeys([*table.columns, *late.columns]))
    rows = tuple({c: cells.get(c, "") for c in columns} for cells in (*table.rows, *late.rows))
    return Table(table.name, tuple(columns), rows,
                 tuple(range(2, 2 + len(rows))))


def _moment(stops: Iterable[Stop], now_min: int) -> dict[tuple[str, str], int]:
    return {(str(s.event), s.journey.journey_id): s.service_start_min for s in stops
            if s.journey is not None and s.service_start_min > now_min}


def change_list(old: Plan, new: Plan, now_min: int) -> list[Change]:
    """What each crew must do differently from `now_min` on."""
    before = {r.vehicle.vehicle_id: _moment(r.stops, now_min) for r in old.rosters}
    after = {r.vehicle.vehicle_id: _moment(r.stops, now_min) for r in new.rosters}
    patients = {j.journey_id: j.patient_id for j in (*old.problem.journeys,
                                                      *new.problem.journeys)}
    changes: list[Change] = []
    for vehicle_id in sorted(set(before) | set(after)):
        old_stops, new_stops = before.get(vehicle_id, {}), after.get(vehicle_id, {})
        for key in sorted(set(old_stops) | set(new_stops), key=lambda k: (k[1], k[0])):
            event, journey_id = key
            was, will = old_stops.get(key), new_stops.get(key)
            if was is not None and will is not None and abs(was - will) < RETIMED_FROM_MIN:
                continue
            kind = "added" if was is None else "removed" if will is None else "retimed"
            changes.append(Change(vehicle_id, kind, event, journey_id, patients[journey_id],
                                  format_clock(was) if was is not None else "",
                                  format_clock(will) if will is not None else ""))
    return changes


def replan(old: Plan, config: Config, inputs: Inputs, merged_path: Path,
           now_min: int, cancel: Sequence[str], vehicle_off: Sequence[str],
           options: SolveOptions) -> Replanned:
    """Plan the rest of the day from `now_min`; `merged_path` holds the merged bookings."""
    problem, _ = read_problem(Inputs(merged_path, inputs.fleet, inputs.sites), config)
    journeys = {j.journey_id: j for j in problem.journeys}
    vehicles = {v.vehicle_id for v in problem.vehicles}
    unknown = [(kind, x) for kind, ids, pool in (("journey", cancel, journeys),
                                                  ("vehicle", vehicle_off, vehicles))
               for x in ids if x not in pool]
    if unknown:
        raise InputError([error(Code.UNKNOWN_ID, "command line",
                                f"{kind} {x!r} is not in the plan's day",
                                f"give ids from the plan's {kind}s") for kind, x in unknown])
    starts: dict[str, VehicleStart] = {}
    for roster in old.rosters:
        begin = _start(roster, now_min, journeys, roster.vehicle.vehicle_id in vehicle_off)
        if begin is not None and begin.done:
            starts[roster.vehicle.vehicle_id] = begin
    for vehicle in problem.vehicles:
        # A shift that has not left its base by now leaves from now on.
        if vehicle.vehicle_id not in starts and vehicle.shift_start_min < now_min:
            base = vehicle.base
            starts[vehicle.vehicle_id] = VehicleStart(
                (Stop(Event.START, base.lat, base.lon, base.label, now_min, now_min, now_min,
                      0),), idle=True)
    picked = {s.journey.journey_id for b in starts.values() for s in b.done
              if s.journey is not None and s.event is Event.PICKUP}
    notes = [f"journey {j} was already collected at {format_clock(now_min)}: not cancelled"
             for j in cancel if j in picked]
    cancelled = [journeys[j] for j in cancel if j not in picked]
    idle_off = {v for v in vehicle_off if v not in starts or starts[v].idle}
    for vehicle_id in idle_off:  # not yet left the base: simply not on the road
        notes.append(f"vehicle {vehicle_id} had not left its base: taken off the day")
    today = replace(problem,
                    journeys=tuple(j for j in problem.journeys if j not in cancelled),
                    vehicles=tuple(v for v in problem.vehicles if v.vehicle_id not in idle_off))
    # Each crew keeps the patients it already has, so the control room calls only the crews
    # whose runs must change; late journeys and the off-road vehicle's work go anywhere.
    keep_on = {j.journey_id: r.vehicle.vehicle_id for r in old.rosters for j in r.journeys
               if r.vehicle.vehicle_id not in vehicle_off}
    rest: dict[str, list[tuple[Event, str, Place]]] = {}
    for roster in old.rosters:
        vehicle_id = roster.vehicle.vehicle_id
        begin = starts.get(vehicle_id)
        aboard = {j.journey_id for j, _ in begin.on_board} if begin else set()
        rest[vehicle_id] = [
            (s.event, s.journey.journey_id if s.journey else "", Place(s.lat, s.lon))
            for s in roster.stops[_kept(roster.stops, now_min, vehicle_id in vehicle_off):]
            if s.event is Event.BREAK or (s.journey is not None and (
                vehicle_id not in vehicle_off or s.journey.journey_id in aboard))]
    plan = solve(today, options, starts=starts, keep_on=keep_on, warm=rest)
    gone = tuple(Unassigned(j, Reason.CANCELLED, f"cancelled at {format_clock(now_min)}")
                 for j in cancelled)
    plan = replace(plan, problem=replace(problem, vehicles=today.vehicles),
                   unassigned=plan.unassigned + gone)
    return Replanned(plan, tuple(change_list(old, plan, now_min)), tuple(notes))
