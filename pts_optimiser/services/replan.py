"""Re-planning during the day: late bookings in, cancellations out, a vehicle off the road.

What has happened stays as it happened: a stop a vehicle has reached, or is driving to,
is kept exactly; a patient on board stays on that vehicle to their drop-off. Everything
after that is planned again, and a change list tells the control room which crews' runs
changed and how.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from pts_optimiser.domain.clock import format_clock
from pts_optimiser.domain.commitments import Commitments, VehicleStart
from pts_optimiser.domain.deadline import Deadline
from pts_optimiser.domain.diagnostics import Code, InputError, Severity, error
from pts_optimiser.domain.exits import ExitCode, PtsError
from pts_optimiser.domain.plan import Event, Origin, Plan, Reason, Roster, Stop, Unassigned
from pts_optimiser.domain.problem import (
    Journey,
    Place,
    Problem,
    Site,
    VehicleShift,
    incompatibility,
)
from pts_optimiser.domain.travel import EstimatedTravel
from pts_optimiser.engine.encode import PROMISED_FACTOR_PCT
from pts_optimiser.engine.solve import SolveOptions, solve
from pts_optimiser.io.osrm import travel_model
from pts_optimiser.io.parse import link_returns, parse_bookings, parse_service_date
from pts_optimiser.io.tables import Table

CHANGE_COLUMNS = ("vehicle_id", "change", "event", "journey_id", "patient_id", "old_time",
                  "new_time", "other_vehicle", "detail")
RETIMED_FROM_MIN = 5  # a stop moved by less than this is not worth a radio call
# The share of the time spent with every journey kept on its crew; if that loses journeys a
# crew had, the rest goes to a search where those may move to any crew.
KEEP_ON_SHARE = 0.6
# ...when the search has this long at least: a 150-journey re-plan given 2-3 s of search
# (a 10 s --time-limit) planned 2-5 of 5 late discharges with 60% of it, 5 with all of it.
SECOND_SEARCH_FROM_S = 10.0
# Where an off-road vehicle may leave its patients under [replan] off_road_drop =
# "nearest_site": a hospital or renal unit, never an ambulance station.
DROP_SITE_KINDS = ("acute", "community", "renal_unit")
# Written out on a booking re-made by a re-plan, so it reads back with the same windows.
REBOOK_COLUMNS = ("pickup_site", "pickup_lat", "pickup_lon", "pickup_label", "dropoff_site",
                  "dropoff_lat", "dropoff_lon", "dropoff_label", "appointment_time",
                  "ready_time", "earliest_pickup", "latest_pickup", "earliest_dropoff",
                  "latest_dropoff", "max_ride_min")
# summary.json's search key naming the vehicles taken off the road so far in the day.
VEHICLES_OFF = "vehicles_off_road"
# What a row of changes.csv says happened to a journey's stop on that crew's run.
CHANGE_KINDS = ("added", "moved", "dropped", "cancelled", "retimed", "not_planned",
                "redirected")


@dataclass(frozen=True)
class Change:
    """One thing a crew (or, with no vehicle, the control room) must now do differently."""

    vehicle_id: str  # the crew to phone; "" for a journey no crew had or has
    change: str  # one of CHANGE_KINDS
    event: str
    journey_id: str
    patient_id: str
    old_time: str
    new_time: str
    other_vehicle: str = ""  # moved: the crew it went to, or came from
    detail: str = ""  # dropped, cancelled, not planned: why


@dataclass(frozen=True)
class LostTransport:
    """A journey that was planned and now is not: the patient must be told."""

    journey_id: str
    patient_id: str
    vehicle_id: str  # the crew that had it
    reason: str
    ride_home: bool  # an earlier journey of the patient's is planned, or made


@dataclass(frozen=True)
class Replanned:
    """The new plan, what changed, and what could not be done as asked."""

    plan: Plan
    changes: tuple[Change, ...]
    notes: tuple[str, ...]
    lost: tuple[LostTransport, ...]
    bookings: Table  # the bookings the plan was made for: written beside it
    left_at_sites: tuple[str, ...] = ()  # onward journeys of patients left at a site, unplanned

    @property
    def crews_to_phone(self) -> tuple[str, ...]:
        """The vehicles whose runs changed after the call."""
        return tuple(sorted({c.vehicle_id for c in self.changes if c.vehicle_id}))


class StrandedError(PtsError):
    """Patients aboard a vehicle whom no plan within the rules takes anywhere."""

    exit_code = ExitCode.VIOLATIONS


def _kept(stops: Sequence[Stop], now_min: int, off_road: bool = False) -> int:
    """How many stops of a run are made or under way at `now_min`."""
    reached = sum(1 for stop in stops if stop.arrival_min <= now_min)
    if off_road and reached > 0 and stops[reached - 1].event is Event.PICKUP \
            and stops[reached - 1].service_start_min > now_min:
        return reached - 1  # waiting at a door: it leaves without that patient
    driving = 0 < reached < len(stops) and stops[reached - 1].departure_min <= now_min
    # The stop it is driving to is under way, unless the vehicle is taken off the road on
    # its way to collect a patient, who then waits for another crew.
    if driving and not (off_road and stops[reached].event is Event.PICKUP):
        reached += 1
    return reached


def _turned(stops: Sequence[Stop], count: int, now_min: int) -> tuple[Place | None, int]:
    """Where a vehicle turned back on the road at `now_min`, and metres driven since its last stop.

    Part-way along the leg to the first stop not kept, in proportion to the time driven;
    or at that stop, a pickup it was waiting at.
    """
    if not 0 < count < len(stops):
        return None, 0
    last, ahead = stops[count - 1], stops[count]
    if ahead.arrival_min <= now_min:
        return Place(ahead.lat, ahead.lon, "on the road"), ahead.leg_m
    if not last.departure_min < now_min < ahead.arrival_min:
        return None, 0  # at a stop, not on the road
    share = (now_min - last.departure_min) / (ahead.arrival_min - last.departure_min)
    place = Place(round(last.lat + share * (ahead.lat - last.lat), 6),
                  round(last.lon + share * (ahead.lon - last.lon), 6), "on the road")
    return place, round(share * ahead.leg_m)


def _start(roster: Roster, now_min: int, journeys: dict[str, Journey], off_road: bool
           ) -> VehicleStart | None:
    count = _kept(roster.stops, now_min, off_road)
    if count == 0:
        return None
    done = [replace(s, journey=journeys.get(s.journey.journey_id, s.journey)) if s.journey else s
            for s in roster.stops[:count]]
    finished = done[-1].event is Event.END
    back = done.pop() if finished else None  # the end is written again
    left: dict[str, tuple[Journey, int]] = {}
    for stop in done:
        if stop.journey is None:
            continue
        if stop.event is Event.PICKUP:
            # Aboard from boarding done, not from leaving: a crew that waited at the pickup
            # with the patient aboard (for a drop-off window) has used ride time (the
            # checker's ride_time); until 2026-12-07 the re-plan thought it had that back.
            boarded = min(stop.departure_min,
                          stop.service_start_min + stop.journey.pickup_service_min)
            left[stop.journey.journey_id] = (stop.journey, boarded)
        elif stop.event is Event.DROPOFF:
            left.pop(stop.journey.journey_id, None)
    vehicle = roster.vehicle
    if back is not None and not off_road \
            and max(now_min, back.arrival_min) < vehicle.shift_end_min:
        # Back at its base with its shift still on: free there from the call, as a shift
        # that has not left its base is. Until the thirty-seventh stop such a crew was
        # taken off the road for the rest of its shift, and a late discharge went unplanned
        # ("every shift is taken off the road") while it sat at its base. The run sheet
        # reads its next leg from its last stop, as for a vehicle turned back on the road.
        base = vehicle.base
        return VehicleStart(tuple(done), (), any(s.event is Event.BREAK for s in done),
                            not_before_min=max(now_min, back.arrival_min),
                            turned_at=Place(base.lat, base.lon, base.label),
                            turned_m=back.leg_m)
    turned_at, turned_m = _turned(roster.stops, count, now_min) if off_road and not finished \
        else (None, 0)
    # A run back at its base whose shift is over, or taken off the road, is over: it was not
    # turned back from anything.
    return VehicleStart(tuple(done), tuple(left.values()),
                        any(s.event is Event.BREAK for s in done), off_road or finished,
                        not_before_min=now_min if off_road and not finished else 0,
                        turned_at=turned_at, turned_m=turned_m)


def _rested(vehicle: VehicleShift, earliest_after_min: int, latest_after_min: int,
            now_min: int) -> VehicleStart | None:
    """A shift still at its base after its break's latest start, with the break taken there.

    The break ends by `now_min` where its window allows (else at its latest start); None
    when the shift ends before such a break could end.
    """
    start = max(vehicle.shift_start_min + earliest_after_min,
                min(vehicle.shift_start_min + latest_after_min, now_min - vehicle.break_min))
    end = start + vehicle.break_min
    if end >= vehicle.shift_end_min:
        return None
    base = vehicle.base
    out = Stop(Event.START, base.lat, base.lon, base.label, vehicle.shift_start_min,
               vehicle.shift_start_min, vehicle.shift_start_min, 0)
    rest = Stop(Event.BREAK, base.lat, base.lon, base.label, start, start, end, 0)
    return VehicleStart((out, rest), break_taken=True, not_before_min=now_min)


def merged_bookings(table: Table, late: Table | None) -> Table:
    """The day's bookings with the late ones appended; a late id already booked is an error."""
    if late is None:
        return table
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


def merged_problem(day: Problem, merged: Table) -> Problem:
    """The day with its bookings replaced by `merged` (the day's and the late ones), parsed."""
    config = day.config
    travel = EstimatedTravel(config.travel.road_factor, config.travel.speed_kmh)
    if day.service_date:  # the day the old plan chose, as read_problem chose it: by date,
        # not by text (a day-first or date-time cell once left the whole day out)
        merged = merged.subset([i for i, cells in enumerate(merged.rows)
                                if parse_service_date(cells.get("service_date", ""))
                                in (None, day.service_date)])
    journeys, findings = parse_bookings(merged, day.sites, config, travel)
    if any(f.severity is Severity.ERROR for f in findings):
        raise InputError(findings)
    # The returns as read_problem finds them (return_of, else inferred): the re-plan must
    # know every round trip the day has, or it collects patients it cannot bring back.
    rows = {cells.get("journey_id", ""): merged.row_number(i)
            for i, cells in enumerate(merged.rows)}
    journeys, _ = link_returns(journeys, config, rows, merged.name)
    return replace(day, journeys=tuple(journeys), booking_columns=merged.columns)


def _moment(stops: Iterable[Stop], now_min: int) -> dict[tuple[str, str], int]:
    return {(str(s.event), s.journey.journey_id): s.service_start_min for s in stops
            if s.journey is not None and s.service_start_min > now_min}


def _owners(plan: Plan, now_min: int) -> dict[str, str]:
    """Journey id -> the vehicle with a stop of it after `now_min`."""
    return {s.journey.journey_id: r.vehicle.vehicle_id for r in plan.rosters for s in r.stops
            if s.journey is not None and s.service_start_min > now_min}


def change_list(old: Plan, new: Plan, now_min: int, cancelled: Sequence[str] = (),
                redirected: Mapping[str, str] | None = None) -> list[Change]:
    """What each crew must do differently from `now_min` on, stop by stop.

    A stop a crew loses is `moved` (naming the crew that has it now), `cancelled`, or
    `dropped` (no crew has it: the reason from unassigned.csv); a stop a crew gains is
    `moved` (naming the crew that had it) or `added`; a patient aboard an off-road vehicle
    left at a site instead of their destination is `redirected`; a stop kept more than
    RETIMED_FROM_MIN away from its old time is `retimed`. A cancelled journey no crew had
    and a late booking no crew could take get one row with no vehicle.
    """
    before = {r.vehicle.vehicle_id: _moment(r.stops, now_min) for r in old.rosters}
    after = {r.vehicle.vehicle_id: _moment(r.stops, now_min) for r in new.rosters}
    had, has = _owners(old, now_min), _owners(new, now_min)
    patients = {j.journey_id: j.patient_id for j in (*old.problem.journeys,
                                                      *new.problem.journeys)}
    why = {u.journey.journey_id: u.text for u in new.unassigned}
    changes: list[Change] = []
    for vehicle_id in sorted(set(before) | set(after)):
        old_stops, new_stops = before.get(vehicle_id, {}), after.get(vehicle_id, {})
        for key in sorted(set(old_stops) | set(new_stops), key=lambda k: (k[1], k[0])):
            event, journey_id = key
            was, will = old_stops.get(key), new_stops.get(key)
            other, detail = "", ""
            if was is not None and will is not None and journey_id in (redirected or {}):
                kind, detail = "redirected", (redirected or {})[journey_id]
            elif was is not None and will is not None:
                if abs(was - will) < RETIMED_FROM_MIN:
                    continue
                kind = "retimed"
            elif was is not None:  # the crew loses this stop
                other = has.get(journey_id, "")
                kind = ("cancelled" if journey_id in cancelled else "moved" if other
                        else "dropped")
                detail = (f"moved to {other}" if other else why.get(journey_id, "")) \
                    if kind != "cancelled" else why.get(journey_id, "cancelled")
            else:  # the crew gains this stop
                other = had.get(journey_id, "")
                kind = "moved" if other else "added"
                detail = f"moved from {other}" if other else (redirected or {}).get(
                    journey_id, "")
            changes.append(Change(vehicle_id, kind, event, journey_id, patients[journey_id],
                                  format_clock(was) if was is not None else "",
                                  format_clock(will) if will is not None else "", other,
                                  detail))
    old_ids = {j.journey_id for j in old.problem.journeys}
    for u in new.unassigned:
        journey_id = u.journey.journey_id
        if journey_id in had:
            continue  # a crew lost it: said above, on that crew's rows
        if journey_id in cancelled:
            changes.append(Change("", "cancelled", "", journey_id, u.journey.patient_id, "", "",
                                  detail=u.text))
        elif journey_id not in old_ids:
            changes.append(Change("", "not_planned", "", journey_id, u.journey.patient_id, "",
                                  "", detail="; ".join(
                                      x for x in ((redirected or {}).get(journey_id), u.text)
                                      if x)))
    return changes


def _lost(old: Plan, new: Plan, now_min: int, cancelled: Sequence[str], homeward: set[str]
          ) -> list[LostTransport]:
    """Journeys a crew had after `now_min` that no crew has now, bar cancellations."""
    had = _owners(old, now_min)
    return [LostTransport(u.journey.journey_id, u.journey.patient_id, had[u.journey.journey_id],
                          u.text, u.journey.journey_id in homeward)
            for u in new.unassigned
            if u.journey.journey_id in had and u.journey.journey_id not in cancelled]


def _rest(roster: Roster, begin: VehicleStart | None) -> list[tuple[Event, str, Place]]:
    """A run after its kept stops, as `solve`'s warm start takes it."""
    stops = roster.stops[len(begin.done):] if begin is not None and not begin.idle \
        else roster.stops
    return [(s.event, s.journey.journey_id if s.journey else "", Place(s.lat, s.lon))
            for s in stops if s.event in (Event.PICKUP, Event.DROPOFF, Event.BREAK)]


def onward_unplanned(plan: Plan, skip: Collection[str] = ()) -> set[str]:
    """Unplanned journeys on from where a planned journey of the same patient leaves them.

    A patient a vehicle off the road left at a site has an onward journey that names no
    outward one (its return is the outward's own): a re-plan of that re-plan, where the
    onward journey still had no crew, said nothing of them until the thirty-fifth stop.
    `skip`: journeys not to count (cancelled ones: the coordinator's decision).
    """
    planned = {j.journey_id for j in plan.planned}
    dropped_at = {(j.patient_id, j.dropoff.lat, j.dropoff.lon) for j in plan.planned}
    return {j.journey_id for j in plan.problem.journeys
            if j.journey_id not in planned and j.journey_id not in skip
            and (j.patient_id, j.pickup.lat, j.pickup.lon) in dropped_at
            and any(k.patient_id == j.patient_id and k.dropoff_window.earliest_min
                    <= j.pickup_window.latest_min for k in plan.planned
                    if (k.dropoff.lat, k.dropoff.lon) == (j.pickup.lat, j.pickup.lon))}


def _unchanged_kept(old: Plan, plan: Plan, now_min: int, changed: Collection[str]) -> Plan:
    """What nothing changed keeps the old plan's stops and times: nobody phoned for nothing.

    A re-plan carrying the same journeys as the old plan keeps the old runs whole (the
    search may have moved journeys between crews for a few km); otherwise each run
    carrying the same journeys as before keeps its old stops, order, times and break (the
    search may have reordered it for a km or two). The old runs kept every rule and nothing
    on them changed, so they still do: none of the `changed` vehicles' (taken off the
    road, or whose old runs break a rule) is kept.
    Until the thirty-fifth stop the search's own timing stood: a re-plan with nothing new
    retimed 72 stops of seed 12's day over three calls, pickups by up to 73 minutes, and
    listed 20 crews to phone (docs/benchmarks.md).
    """
    def roads(search: Mapping[str, object]) -> tuple[object, bool]:
        return search.get("travel"), bool(search.get("travel_warning"))

    if roads(old.search) != roads(plan.search):
        # Timed on other roads (the road server down for one of them): the old times may
        # not be drivable on these.
        return plan
    before = {r.vehicle.vehicle_id: r for r in old.rosters}
    off = set(changed)
    planned = {j.journey_id for j in plan.planned}
    if not off and planned == {j.journey_id for j in old.planned} \
            and all(r.vehicle.vehicle_id in before for r in plan.rosters if r.used):
        restored = replace(plan, rosters=tuple(
            replace(r, stops=before[r.vehicle.vehicle_id].stops)
            if r.vehicle.vehicle_id in before else r for r in plan.rosters))
        if _same_history(old.rosters, plan.rosters, now_min) \
                and {j.journey_id for j in restored.planned} == planned:
            return restored
    kept = []
    for roster in plan.rosters:
        was = before.get(roster.vehicle.vehicle_id)
        same = (was is not None and roster.vehicle.vehicle_id not in off
                and {j.journey_id for j in was.journeys}
                == {j.journey_id for j in roster.journeys}
                and _history(was, now_min) == _history(roster, now_min))
        kept.append(replace(roster, stops=was.stops) if same and was is not None else roster)
    return replace(plan, rosters=tuple(kept))


def _history(roster: Roster, now_min: int) -> list[tuple[Event, str, int, int]]:
    """The stops made or begun by the call, as they were: a re-plan keeps them exactly."""
    return [(s.event, s.journey.journey_id if s.journey else "", s.service_start_min,
             s.departure_min) for s in roster.stops if s.service_start_min < now_min]


def _same_history(old: Sequence[Roster], new: Sequence[Roster], now_min: int) -> bool:
    """Every run's stops made by the call the same in both (a break recorded, say, differs)."""
    was = {r.vehicle.vehicle_id: _history(r, now_min) for r in old}
    return all(_history(r, now_min) == was.get(r.vehicle.vehicle_id, _history(r, now_min))
               for r in new)


def _with_journeys(plan: Plan, journeys: Mapping[str, Journey]) -> Plan:
    """The plan with each stop and unassigned row naming the day's own journey again."""
    def own(journey: Journey) -> Journey:
        return journeys.get(journey.journey_id, journey)

    rosters = tuple(replace(r, stops=tuple(replace(s, journey=own(s.journey)) if s.journey
                                           else s for s in r.stops)) for r in plan.rosters)
    return replace(plan, rosters=rosters,
                   unassigned=tuple(replace(u, journey=own(u.journey)) for u in plan.unassigned))


def _stranded(plan: Plan, starts: Mapping[str, VehicleStart]) -> list[str]:
    """Patients aboard at the call whom their vehicle's new run does not drop off."""
    dropped = {(r.vehicle.vehicle_id, s.journey.journey_id) for r in plan.rosters
               for s in r.stops if s.event is Event.DROPOFF and s.journey is not None}
    return [f"{vehicle_id}: journey {journey.journey_id} (patient {journey.patient_id}), "
            f"aboard since {format_clock(left)}"
            for vehicle_id, begin in sorted(starts.items()) for journey, left in begin.on_board
            if (vehicle_id, journey.journey_id) not in dropped]


def _starts(old: Plan, problem: Problem, now_min: int, vehicle_off: Sequence[str]
            ) -> dict[str, VehicleStart]:
    """Where each vehicle shift stands at `now_min`, tied to `problem`'s journeys."""
    journeys = {j.journey_id: j for j in problem.journeys}
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
    return starts


@dataclass(frozen=True)
class _Onward:
    """A patient left at a site by a vehicle taken off the road, and the journey on."""

    journey_id: str  # the booked journey, now ending at the site
    onward_id: str  # the new journey from the site to where they were going
    vehicle_id: str
    site: Site
    late: bool  # it cannot arrive in the booked window any more


def _nearest_sites(merged: Table, problem: Problem, starts: Mapping[str, VehicleStart],
                   vehicle_off: Sequence[str]) -> tuple[Table, list[_Onward]]:
    """The bookings with each patient aboard an off-road vehicle left at the nearest site.

    The booking now ends at the nearest hospital or renal unit (its windows written out, so
    it reads back as planned: dropped as soon as the vehicle gets there), and a new booking
    takes the patient on from there to where they were going, collected only once every
    patient aboard can have been handed over. Where their own destination is as near, they
    go there.
    """
    candidates = [s for s in problem.sites.values() if s.kind in DROP_SITE_KINDS]
    if not candidates:
        return merged, []
    travel = problem.travel or travel_model(problem.config.travel)
    rows = [dict(cells) for cells in merged.rows]
    index = {cells.get("journey_id", ""): i for i, cells in enumerate(rows)}
    taken = set(index)
    onward: list[_Onward] = []
    for vehicle_id in vehicle_off:
        begin = starts.get(vehicle_id)
        if begin is None or begin.idle or not begin.on_board:
            continue
        here = begin.place
        points: list[Place | Site] = [here, *candidates,
                                      *(j.dropoff for j, _ in begin.on_board)]
        minutes = travel.matrix(np.array([p.lat for p in points]),
                                np.array([p.lon for p in points])).duration_min[0]
        nearest = min(range(len(candidates)), key=lambda k: int(minutes[1 + k]))
        site, reach_min = candidates[nearest], int(minutes[1 + nearest])
        arrive = begin.free_min + reach_min
        handed_over = arrive + sum(j.dropoff_service_min for j, _ in begin.on_board)
        for k, (journey, _) in enumerate(begin.on_board):
            if int(minutes[1 + len(candidates) + k]) <= reach_min:
                continue  # its own destination is as near as any site
            cells = rows[index[journey.journey_id]]
            ahead = dict(cells)
            cells.update(_ends("dropoff", site), appointment_time="", ready_time="",
                         earliest_pickup=format_clock(journey.pickup_window.earliest_min),
                         latest_pickup=format_clock(journey.pickup_window.latest_min),
                         earliest_dropoff=format_clock(arrive),
                         latest_dropoff=format_clock(handed_over),
                         max_ride_min=str(journey.max_ride_min))
            onward_id = next(f"{journey.journey_id}-ON{n or ''}" for n in range(len(rows) + 1)
                             if f"{journey.journey_id}-ON{n or ''}" not in taken)
            taken.add(onward_id)
            # Too late for the booked time, it still goes, as soon as the policy allows.
            latest = max(journey.dropoff_window.latest_min, handed_over
                         + journey.dropoff_service_min + journey.pickup_service_min
                         + journey.max_ride_min)
            # A journey has one return: the onward journey is not a second one (a ride home
            # left at a site keeps its own return_of, and the new bookings.csv reads back).
            ahead.update(_ends("pickup", site), journey_id=onward_id, appointment_time="",
                         ready_time="", return_of="",
                         earliest_pickup=format_clock(handed_over + journey.dropoff_service_min),
                         latest_pickup=format_clock(latest), earliest_dropoff="",
                         latest_dropoff=format_clock(latest), max_ride_min="")
            rows.append(ahead)
            onward.append(_Onward(journey.journey_id, onward_id, vehicle_id, site,
                                  latest > journey.dropoff_window.latest_min))
    if not onward:
        return merged, []
    columns = list(dict.fromkeys([*merged.columns, *REBOOK_COLUMNS]))
    numbers = (*merged.row_numbers, *range(max(merged.row_numbers, default=1) + 1,
                                           max(merged.row_numbers, default=1) + 1 + len(onward)))
    return Table(merged.name, tuple(columns),
                 tuple({c: cells.get(c, "") for c in columns} for cells in rows),
                 tuple(numbers)), onward


def _ends(end: str, site: Site) -> dict[str, str]:
    return {f"{end}_site": site.code, f"{end}_lat": "", f"{end}_lon": "", f"{end}_label": ""}


def replan(old: Plan, merged: Table, now_min: int, cancel: Sequence[str],
           vehicle_off: Sequence[str], options: SolveOptions,
           deadline: Deadline | None = None, broken_runs: Collection[str] = ()) -> Replanned:
    """Plan the rest of the old plan's day from `now_min`, with `merged` as its bookings.

    `merged` is the day's bookings with any late ones (merged_bookings). Patients aboard a
    vehicle taken off the road go where [replan] off_road_drop says; the bookings the plan
    was made for come back in `Replanned.bookings`. Raises StrandedError, and nothing
    should be written, when a patient aboard cannot be taken off their vehicle within the
    rules. `deadline`: when the plan must be ready (default: `options.time_limit_s` from now).
    `broken_runs`: the vehicles whose old runs break a rule (the checker's), none of which
    is kept as it was.
    """
    deadline = deadline or Deadline.within(options.time_limit_s)
    problem = merged_problem(old.problem, merged)
    asked_off = tuple(dict.fromkeys(vehicle_off))
    _check_ids(problem, cancel, asked_off)
    # A vehicle taken off the road stays off in every later re-plan of the day, as a
    # cancellation stays cancelled: until the thirty-seventh stop the next re-plan gave it
    # patients again. A repeated id once left each patient aboard at a site twice.
    earlier_off = _vehicles_off(old, problem)
    vehicle_off = tuple(dict.fromkeys([*earlier_off, *asked_off]))
    starts = _starts(old, problem, now_min, vehicle_off)
    onward: list[_Onward] = []
    if problem.config.replan.off_road_drop == "nearest_site":
        merged, onward = _nearest_sites(merged, problem, starts, vehicle_off)
        if onward:
            problem = merged_problem(old.problem, merged)
            starts = _starts(old, problem, now_min, vehicle_off)
    picked = {s.journey.journey_id for b in starts.values() for s in b.done
              if s.journey is not None and s.event is Event.PICKUP}
    cancelled = _cancellations(old, problem, cancel, picked, now_min)
    out = {u.journey.journey_id for u in cancelled.gone}
    idle_off = {v for v in vehicle_off if v not in starts or starts[v].idle}
    notes = [*cancelled.notes, *_off_road_notes(idle_off - set(earlier_off), onward)]
    # A shift that never left its base and is over by now has no part in the rest of the day.
    # One whose break had to start before now was at its base all through the break's
    # window: the break is recorded there, and the crew works on (else no break could be
    # planned within the rules, and a spare crew a coordinator reaches for at midday sat out).
    idle = [v for v in problem.vehicles if v.vehicle_id in starts and starts[v.vehicle_id].idle
            and v.vehicle_id not in idle_off]
    rules = problem.config.breaks
    due = [v for v in idle if v.shift_end_min > now_min
           and v.shift_length_min > rules.required_over_min
           and v.shift_start_min + rules.latest_after_start_min < now_min]
    rested = {v.vehicle_id: _rested(v, rules.earliest_after_start_min,
                                    rules.latest_after_start_min, now_min) for v in due}
    no_break = [v for v in due if rested[v.vehicle_id] is None]
    for vehicle_id, begin in rested.items():
        if begin is not None:
            starts[vehicle_id] = begin
            taken = begin.done[-1]
            notes.append(f"{vehicle_id} had not left its base by its break's latest start: the "
                         f"break is recorded there at {format_clock(taken.service_start_min)}-"
                         f"{format_clock(taken.departure_min)}, and the crew takes work from "
                         f"{format_clock(begin.free_min)}")
    if no_break:
        names = ", ".join(v.vehicle_id for v in no_break)
        notes.append(f"not used for the rest of the day: {names}, which had not left their base "
                     "and whose shift ends before a break at the base could end")
    idle_off |= {v.vehicle_id for v in idle if v.shift_end_min <= now_min} \
        | {v.vehicle_id for v in no_break}
    # The unit of service is the patient's day: a patient taken out today, or still planned
    # to be, gets the rest of their day (the ride home) at the first priority's price.
    homeward = _rides_home(problem.journeys, {j.journey_id for j in old.planned} - out
                           | {o.journey_id for o in onward})
    today = replace(problem,
                    journeys=tuple(replace(j, priority=1) if j.journey_id in homeward else j
                                   for j in problem.journeys if j.journey_id not in out),
                    vehicles=tuple(v for v in problem.vehicles if v.vehicle_id not in idle_off))
    owed = _bring_back(problem, picked | {o.journey_id for o in onward}, out)
    plan = _search(old, today, options, deadline, starts, owed, now_min, vehicle_off)
    stranded = _stranded(plan, starts)
    if stranded and plan.origin is Origin.FALLBACK:
        # One journey at a time is no proof that nothing can take them: say what it was.
        raise StrandedError(
            f"{len(stranded)} patient(s) aboard a vehicle were not placed: the re-plan at "
            f"{format_clock(now_min)} found no plan in the time it had (its search had no "
            "time, or found nothing), and one journey at a time could not place them; "
            "nothing written", [*stranded, "re-plan with a longer --time-limit"])
    if stranded:
        raise StrandedError(
            f"{len(stranded)} patient(s) aboard a vehicle cannot be taken anywhere within the "
            "rules from the re-plan at " + format_clock(now_min) + ": nothing written",
            [*stranded, "send a crew to them, or re-plan with another --now or "
             "[replan] off_road_drop"])
    plan = _unchanged_kept(old, plan, now_min, {*vehicle_off, *broken_runs})
    plan = _with_journeys(plan, {j.journey_id: j for j in problem.journeys})
    plan = replace(plan, problem=replace(problem, vehicles=today.vehicles),
                   unassigned=plan.unassigned + tuple(cancelled.gone))
    if vehicle_off:
        plan = replace(plan, search={**plan.search, VEHICLES_OFF: list(vehicle_off)})
    return _replanned(old, plan, now_min, cancelled.ids, onward, homeward, notes, merged)


def _vehicles_off(old: Plan, problem: Problem) -> tuple[str, ...]:
    """The vehicles an earlier re-plan of the day took off the road (summary.json's search)."""
    recorded = old.search.get(VEHICLES_OFF, [])
    known = {v.vehicle_id for v in problem.vehicles}
    return tuple(v for v in recorded if isinstance(v, str) and v in known) \
        if isinstance(recorded, list) else ()


def _check_ids(problem: Problem, cancel: Sequence[str], vehicle_off: Sequence[str]) -> None:
    """Every journey to cancel and vehicle to take off is the day's (InputError if not)."""
    journeys = {j.journey_id for j in problem.journeys}
    vehicles = {v.vehicle_id for v in problem.vehicles}
    unknown = [(kind, x) for kind, ids, pool in (("journey", cancel, journeys),
                                                  ("vehicle", vehicle_off, vehicles))
               for x in ids if x not in pool]
    if unknown:
        raise InputError([error(Code.UNKNOWN_ID, "command line",
                                f"{kind} {x!r} is not in the plan's day",
                                f"give ids from the plan's {kind}s") for kind, x in unknown])


@dataclass(frozen=True)
class _Cancelled:
    """The journeys a re-plan cancels, and what it says about those it does not."""

    ids: list[str]  # cancelled now: asked for and not yet collected, and their returns
    gone: list[Unassigned]  # every cancelled journey of the day, earlier ones included
    notes: list[str]


def _cancellations(old: Plan, problem: Problem, cancel: Sequence[str], picked: set[str],
                   now_min: int) -> _Cancelled:
    """What `cancel` takes off the day, given the journeys `picked` up by `now_min`."""
    journeys = {j.journey_id: j for j in problem.journeys}
    # `picked` holds the pickups a crew is driving to as well: they are kept as they are.
    pickups = {s.journey.journey_id: s for r in old.rosters for s in r.stops
               if s.journey is not None and s.event is Event.PICKUP}

    def why_kept(journey_id: str) -> str:
        stop, at = pickups.get(journey_id), format_clock(now_min)
        if stop is not None and stop.service_start_min <= now_min:
            return f"journey {journey_id} was already collected at {at}: not cancelled"
        if stop is not None and stop.arrival_min <= now_min:
            # Until the thirty-seventh stop this was "already collected" too.
            return (f"journey {journey_id}'s crew is at the door at {at}, collecting at "
                    f"{format_clock(stop.service_start_min)}: not cancelled")
        return (f"journey {journey_id} is under way at {at} (its crew is driving to the "
                "pickup): not cancelled")

    notes = [why_kept(j) for j in cancel if j in picked]
    # Cancelled in an earlier re-plan of this day: it stays cancelled, with its first reason.
    earlier = {u.journey.journey_id: u for u in old.unassigned if u.reason is Reason.CANCELLED}
    notes += [f"journey {j} was already cancelled" for j in cancel if j in earlier]
    cancelled = [j for j in dict.fromkeys(cancel) if j not in picked and j not in earlier]
    # A patient not taken out is not brought back: cancelling an outward journey not yet
    # made cancels its return (and a later trip's, in turn).
    with_outward: dict[str, str] = {}
    for journey in sorted(problem.journeys, key=lambda j: j.pickup_window.earliest_min):
        if journey.return_of in (*cancelled, *with_outward) \
                and journey.journey_id not in picked and journey.journey_id not in earlier \
                and journey.journey_id not in cancelled:
            with_outward[journey.journey_id] = journey.return_of
    cancelled += list(with_outward)
    gone = [Unassigned(journeys[j], Reason.CANCELLED, u.detail)
            for j, u in earlier.items() if j in journeys and j not in picked]
    gone += [Unassigned(journeys[j], Reason.CANCELLED, f"cancelled at {format_clock(now_min)}"
                        + (f" with its outward journey {with_outward[j]}"
                           if j in with_outward else ""))
             for j in cancelled]
    return _Cancelled(cancelled, gone, notes)


def _off_road_notes(idle_off: Iterable[str], onward: Sequence[_Onward]) -> list[str]:
    """What happens to the vehicles taken off the road, and the patients they leave at a site."""
    notes = [f"vehicle {vehicle_id} had not left its base: taken off the day"
             for vehicle_id in idle_off]  # not yet left the base: simply not on the road
    notes += [f"{o.vehicle_id} leaves the patient of journey {o.journey_id} at {o.site.name} "
              f"({o.site.code}); journey {o.onward_id} takes them on"
              + (", too late for the booked time" if o.late else "") for o in onward]
    return notes


def _bring_back(problem: Problem, taken: set[str], out: set[str]) -> frozenset[str]:
    """The returns of patients already out (their outward journey collected by now).

    Their return is kept above everything else, on whichever crew can take it.
    """
    return frozenset(j.journey_id for j in problem.journeys
                     if j.return_of in taken and j.journey_id not in out)


def _kept_work(old: Plan, starts: Mapping[str, VehicleStart], now_min: int,
               vehicle_off: Sequence[str]
               ) -> tuple[dict[str, str], dict[str, list[tuple[Event, str, Place]]]]:
    """Each crew's journeys to keep it on, and the rest of its old run as a warm start.

    Each crew keeps the patients it already has, so the control room calls only the crews
    whose runs must change; late journeys and the off-road vehicle's work go anywhere.
    """
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
    return keep_on, rest


def _search(old: Plan, today: Problem, options: SolveOptions, deadline: Deadline,
            starts: Mapping[str, VehicleStart], owed: frozenset[str], now_min: int,
            vehicle_off: Sequence[str]) -> Plan:
    """Two passes: every journey kept on its crew; then some set free, if that lost any.

    A journey that had a crew is dear to leave out in both (`Commitments.promised`). The
    second pass frees the journeys the first lost, and those of the crews that could carry
    a journey new to the day (a late booking, a patient's way on from a site) the first
    left out: only its crew can make room for it, by giving another crew a journey.
    """
    keep_on, rest = _kept_work(old, starts, now_min, vehicle_off)
    promised = frozenset(j.journey_id for r in old.rosters for j in r.journeys)
    share = KEEP_ON_SHARE if deadline.remaining_s() >= SECOND_SEARCH_FROM_S else 1.0
    plan = solve(today, options, deadline=deadline.share(share),
                 commitments=Commitments(starts, keep_on, rest, owed, promised=promised))
    lost = {j.journey_id for j in _lost_ids(old, plan, now_min)} & set(keep_on)
    known = {j.journey_id for j in old.problem.journeys}
    waiting = [u.journey for u in plan.unassigned if u.journey.journey_id not in known]
    crews = {v.vehicle_id for v in today.vehicles for j in waiting
             if incompatibility(v, j) is None}
    freed = lost | {j for j, v in keep_on.items() if v in crews}
    if freed and share < 1.0 and deadline.remaining_s() >= 1.0:
        # Starting from the plan just found: phoning one more crew beats a patient left.
        again = {r.vehicle.vehicle_id: _rest(r, starts.get(r.vehicle.vehicle_id))
                 for r in plan.rosters}
        second = solve(today, options, deadline=deadline,
                       commitments=Commitments(starts, {j: v for j, v in keep_on.items()
                                                              if j not in freed}, again, owed,
                                               promised=promised))
        # Only if it keeps more: freed, journeys may have moved crew for nothing.
        if _kept_score(second, promised) > _kept_score(plan, promised):
            plan = second
    return plan


def _kept_score(plan: Plan, promised: frozenset[str]) -> int:
    """Journeys served, a promise kept counting as the search prices it (three of them)."""
    served = {j.journey_id for j in plan.planned}
    return len(served) + (PROMISED_FACTOR_PCT // 100 - 1) * len(served & promised)


def _replanned(old: Plan, plan: Plan, now_min: int, cancelled: Sequence[str],
               onward: Sequence[_Onward], homeward: set[str], notes: Sequence[str],
               merged: Table) -> Replanned:
    """The new plan with its change list and the journeys that lost their transport."""
    redirected = {o.journey_id: f"left at {o.site.name} ({o.site.code}); {o.onward_id} takes "
                  "the patient on" for o in onward}
    redirected |= {o.onward_id: f"on from {o.site.name} ({o.site.code}) for {o.journey_id}, "
                   f"whom {o.vehicle_id} leaves there" for o in onward}
    lost_list = _lost(old, plan, now_min, cancelled, homeward)
    why = {u.journey.journey_id: u.text for u in plan.unassigned}
    patients = {j.journey_id: j.patient_id for j in plan.problem.journeys}
    lost_list += [LostTransport(o.onward_id, patients[o.onward_id], o.vehicle_id,
                                why[o.onward_id], o.onward_id in homeward)
                  for o in onward if o.onward_id in why]
    # The checker reads it: a ride home lost for a patient taken there before the call is
    # named loudly, not a plan to refuse (the morning cannot be undone).
    plan = replace(plan, search={**plan.search, "replanned_at": format_clock(now_min)})
    return Replanned(plan, tuple(change_list(old, plan, now_min, cancelled, redirected)),
                     tuple(notes), tuple(lost_list), merged,
                     tuple(o.onward_id for o in onward if o.onward_id in why))


def _rides_home(journeys: Iterable[Journey], planned: set[str]) -> set[str]:
    """Journeys of a patient after another of their journeys that is planned (or made)."""
    first: dict[str, int] = {}
    for journey in journeys:
        if journey.journey_id in planned:
            first[journey.patient_id] = min(first.get(journey.patient_id, 24 * 60),
                                            journey.pickup_window.earliest_min)
    return {j.journey_id for j in journeys
            if j.pickup_window.earliest_min > first.get(j.patient_id, 24 * 60)}


def _lost_ids(old: Plan, new: Plan, now_min: int) -> list[Journey]:
    had = _owners(old, now_min)
    return [u.journey for u in new.unassigned if u.journey.journey_id in had]
