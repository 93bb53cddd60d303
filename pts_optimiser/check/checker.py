"""The independent plan checker: every hard rule of the data contract, and conservation.

It shares nothing with the solver but the input readers: it re-derives loads, distances
(with geopy) and times from the written `rosters.csv` and `unassigned.csv` alone, so a
solver bug cannot hide behind the solver's own bookkeeping.
"""

from __future__ import annotations

import base64
import json
import math
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from geopy.distance import great_circle

from pts_optimiser.domain.clock import format_clock, parse_clock
from pts_optimiser.domain.clock import read_clock as _clock
from pts_optimiser.domain.diagnostics import InputError
from pts_optimiser.domain.problem import Journey, Mobility, Need, Problem, Skill, VehicleShift
from pts_optimiser.io.tables import Table, read_table

ROSTER_COLUMNS = ("vehicle_id", "seq", "event", "journey_id", "patient_id", "lat", "lon", "label",
                  "arrival", "service_start", "departure", "km", "seats_used",
                  "wheelchairs_used", "stretchers_used")
UNASSIGNED_COLUMNS = ("journey_id", "patient_id", "reason")
EVENTS = ("start", "pickup", "dropoff", "break", "end")
SAME_PLACE_M = 50.0  # a stop this close to the booked point is at it (coordinates are rounded)
KM_TOLERANCE = 0.05  # km column may differ this much (rounding to 0.01 km and float noise)
TIME_NOISE_MIN = 0.01  # two haversine implementations may differ by a hair
# No road leg is driven faster on average than this, along the straight line between its
# ends: a road server's answer beyond it is wrong, and a leg of a plan beyond it undrivable
# whatever the roads (judged so even when the road server cannot be asked).
FASTEST_KMH = 150.0
MAX_LEG_KM = 5000.0  # no road leg is longer: a km beyond it is a corrupt cell
MAX_OSRM_ANSWER_BYTES = 64 * 1024 * 1024  # a 100-place table is about 0.2 MB

# Every rule `pts check` enforces, with the text its help shows.
RULES: Mapping[str, str] = {
    "file": "rosters.csv and unassigned.csv exist and have the contract's columns",
    "unknown_vehicle": "every roster belongs to a vehicle shift in the fleet",
    "sequence": "seq runs 0, 1, 2 ... without gaps or repeats",
    "event": "event is start, pickup, dropoff, break or end",
    "route_shape": "a roster opens with one start and closes with one end",
    "not_at_base": "start and end are at the shift's base",
    "bad_value": "times are HH:MM; lat, lon, km and loads are finite numbers in range",
    "before_shift": "the vehicle leaves its base at or after shift_start",
    "after_shift": "the vehicle is back at its base by shift_end",
    "time_order": "arrival <= service_start <= departure, stop after stop",
    "too_fast": "every leg takes at least the travel model's time",
    "short_service": "departure leaves the boarding/alighting time after service_start",
    "unknown_journey": "pickups and drop-offs name booked journeys",
    "patient_mismatch": "patient_id matches the booking",
    "stray_journey": "start, break and end rows name no journey",
    "duplicate_stop": "each journey is picked up once and dropped off once",
    "unpaired": "each picked-up journey is dropped off, and each drop-off was picked up",
    "split_journey": "the same vehicle picks up and drops off a journey",
    "dropoff_first": "pickup comes before drop-off",
    "wrong_place": "pickup and drop-off are where the booking says",
    "pickup_window": "pickup service starts inside the pickup window",
    "dropoff_window": "drop-off service starts inside the drop-off window",
    "ride_time": "time on board is at most the journey's maximum ride time (from boarded, "
                 "the pickup's boarding done, to the drop-off's service start: a crew waiting "
                 "with the patient aboard has not taken them anywhere)",
    "over_capacity": "seats, wheelchair spaces and stretchers on board never exceed the vehicle's",
    "load_mismatch": "the load columns say what is really on board",
    "crew": "stretcher and two_crew journeys go on crews of 2",
    "skill": "bariatric and oxygen journeys go on vehicles with that skill",
    "incompatible_space": "the journey's space exists on the vehicle at all",
    "travel_alone": "nobody else is on board with a travel_alone patient",
    "missing_break": "a used shift over 6 h has a break",
    "break_timing": "the break starts 2-6 h after shift_start",
    "break_length": "the break lasts at least break_min",
    "break_on_board": "nobody is on board during the break",
    "range": "an electric vehicle's driving fits in range_km",
    "km_mismatch": "the km column is the distance from the previous stop",
    "not_planned": "every booking is in the rosters or in unassigned",
    "planned_and_unassigned": "no booking is both planned and unassigned",
    "unassigned_twice": "no booking is listed twice in unassigned",
    "unknown_unassigned": "unassigned lists only booked journeys",
    "no_reason": "every unassigned journey has a reason",
    "stranded_patient": "a patient taken somewhere is brought back: an outward journey is "
                        "planned only with its return (return_of, or the next journey that "
                        "day starting where it ended); a warning where the policy allows it, "
                        "a re-plan cancelled the return, or a re-plan found them already there",
    "return_first": "a return is collected only once its outward journey has set the patient "
                    "down (its drop-off's alighting done)",
    "patient_twice": "a patient is on one journey at a time: no two of their journeys overlap "
                     "from pickup to the end of the drop-off",
}


@dataclass(frozen=True)
class Violation:
    """One broken rule, located in the plan."""

    rule: str
    message: str
    vehicle_id: str = ""
    journey_id: str = ""
    row: int | None = None  # rosters.csv spreadsheet row

    def __str__(self) -> str:
        where = [f"vehicle {self.vehicle_id}"] if self.vehicle_id else []
        where += [f"journey {self.journey_id}"] if self.journey_id else []
        where += [f"rosters.csv row {self.row}"] if self.row is not None else []
        return f"[{self.rule}] {', '.join(where) or 'plan'}: {self.message}"


@dataclass(frozen=True)
class _Stop:
    row: int
    vehicle_id: str
    seq: str
    event: str
    journey_id: str
    patient_id: str
    lat: float
    lon: float
    arrival: int
    service_start: int
    departure: int
    km: float
    load: tuple[int, int, int]


# Rules whose breach means the plan's files do not describe runs at all (edited by hand,
# cut short): nothing is drawn or re-planned from such a folder. The others (a window, a
# shift, a patient left somewhere) a coordinator may still be shown, and a re-plan mend:
# a plan written before the round-trip rule breaks `stranded_patient` and is re-planned.
STRUCTURE_RULES = frozenset({
    "file", "unknown_vehicle", "sequence", "event", "route_shape", "bad_value", "time_order",
    "unknown_journey", "patient_mismatch", "stray_journey", "duplicate_stop", "unpaired",
    "split_journey", "dropoff_first", "load_mismatch", "km_mismatch", "not_planned",
    "planned_and_unassigned", "unassigned_twice", "unknown_unassigned", "no_reason"})


@dataclass(frozen=True)
class CheckResult:
    """Every violation found, and what was looked at."""

    violations: tuple[Violation, ...]
    vehicles_used: int
    journeys_planned: int
    journeys_unassigned: int
    notes: tuple[str, ...] = ()  # how the check was made, when not the usual way
    # What the policy allows but a coordinator must act on (a patient with no way back).
    warnings: tuple[Violation, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the plan breaks no rule (warnings do not count)."""
        return not self.violations

    @property
    def damaged(self) -> tuple[Violation, ...]:
        """The violations that say the files are not a plan's runs (STRUCTURE_RULES)."""
        return tuple(v for v in self.violations if v.rule in STRUCTURE_RULES)

    def summary(self) -> str:
        """One line a person reads first, then counts per rule, then each warning."""
        lines = [f"{len(self.violations)} violation(s), {len(self.warnings)} warning(s); "
                 f"{self.journeys_planned} journeys planned on {self.vehicles_used} vehicle "
                 f"shifts, {self.journeys_unassigned} unassigned"]
        lines += [f"  note: {note}" for note in self.notes]
        for rule, count in sorted(Counter(v.rule for v in self.violations).items()):
            lines.append(f"  {rule}: {count}")
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


class _Checker:
    def __init__(self, problem: Problem, roads_wait_s: float | None = None) -> None:
        self.problem = problem
        self.vehicles = {v.vehicle_id: v for v in problem.vehicles}
        self.journeys = {j.journey_id: j for j in problem.journeys}
        self.travel = problem.config.travel
        self.breaks = problem.config.breaks
        self.found: list[Violation] = []
        # Each journey's first pickup and first drop-off row (journeys_in), as judged.
        self.first_stop: dict[tuple[str, str], _Stop] = {}
        self.warned: list[Violation] = []
        self.notes: list[str] = []
        self.osrm_down = False
        self.roads_by: float | None = None  # the whole check's wait for the road server
        self.roads_wait_s = (self.travel.osrm_timeout_s if roads_wait_s is None
                             else max(0.0, min(roads_wait_s, self.travel.osrm_timeout_s)))

    def flag(self, rule: str, message: str, vehicle_id: str = "", journey_id: str = "",
             row: int | None = None) -> None:
        self.found.append(Violation(rule, message, vehicle_id, journey_id, row))

    def flag_leg(self, rule: str, message: str, vehicle_id: str, journey_id: str,
                 row: int | None) -> None:
        """A leg's time or km against the travel model: a warning where the roads were not asked.

        A road server down when the plan is checked, not when it was made, would otherwise
        refuse a plan every crew can drive (the night run kept no plan for tomorrow).
        """
        found = Violation(rule, message, vehicle_id, journey_id, row)
        (self.warned if self.osrm_down else self.found).append(found)

    def road_km(self, lat1: float, lon1: float, lat2: float, lon2: float) -> float:
        return float(great_circle((lat1, lon1), (lat2, lon2)).km) * self.travel.road_factor

    def drive_min(self, km: float) -> float:
        return km / self.travel.speed_kmh * 60.0

    def legs(self, stops: list[_Stop]) -> list[tuple[float, float]]:
        """(km, minutes) of each leg: from the routing service when one is configured."""
        routed: list[tuple[float, float] | None] = [None] * (len(stops) - 1)
        if self.travel.provider == "osrm" and not self.osrm_down:
            # One wait for the whole check, as for the planner's whole table: asked run by
            # run, a server answering each in 5 s would hold a check of 87 runs for 7 min.
            if self.roads_by is None:
                self.roads_by = time.monotonic() + self.roads_wait_s
            try:
                left = self.roads_by - time.monotonic()
                if left <= 0:
                    raise OSError(f"no complete answer within {round(self.roads_wait_s, 1):g} s "
                                  "for the whole check")
                routed = _osrm_legs(self.travel.osrm_url, left, self.travel.osrm_max_table,
                                    [(s.lat, s.lon) for s in stops])
            except OSError as exc:
                self.osrm_down = True
                self.notes.append(f"OSRM did not answer ({exc}): legs checked against the "
                                  "estimate from coordinates, a leg faster or a km column "
                                  "other than it a warning, not a violation (the plan may "
                                  "have been made on the roads)")
        legs = []
        for (previous, stop), leg in zip(pairwise(stops), routed, strict=True):
            if leg is None:  # no service, or a pair it cannot route: the estimate
                km = self.road_km(previous.lat, previous.lon, stop.lat, stop.lon)
                leg = (km, self.drive_min(km))
            legs.append(leg)
        return legs

    # Reading -------------------------------------------------------------------------
    def stops(self, table: Table) -> dict[str, list[_Stop]]:
        by_vehicle: dict[str, list[_Stop]] = defaultdict(list)
        for index, cells in enumerate(table.rows):
            row = table.row_number(index)
            vehicle_id = cells.get("vehicle_id", "")
            try:
                stop = _Stop(
                    row=row, vehicle_id=vehicle_id, seq=cells.get("seq", ""),
                    event=cells.get("event", ""), journey_id=cells.get("journey_id", ""),
                    patient_id=cells.get("patient_id", ""),
                    lat=_number(cells, "lat", -90.0, 90.0),
                    lon=_number(cells, "lon", -180.0, 180.0),
                    arrival=_clock(cells.get("arrival", ""), "arrival"),
                    service_start=_clock(cells.get("service_start", ""), "service_start"),
                    departure=_clock(cells.get("departure", ""), "departure"),
                    km=_number(cells, "km", 0.0, MAX_LEG_KM, blank=0.0),
                    load=(_count(cells, "seats_used"), _count(cells, "wheelchairs_used"),
                          _count(cells, "stretchers_used")),
                )
            except ValueError as exc:
                self.flag("bad_value", str(exc), vehicle_id, cells.get("journey_id", ""), row)
                continue
            by_vehicle[vehicle_id].append(stop)
        return by_vehicle

    # Per vehicle ---------------------------------------------------------------------
    def vehicle(self, vehicle_id: str, stops: list[_Stop]) -> None:
        vehicle = self.vehicles.get(vehicle_id)
        if vehicle is None:
            self.flag("unknown_vehicle", f"{vehicle_id!r} is not in the fleet", vehicle_id,
                      row=stops[0].row)
            return
        legs = self.legs(stops)
        self.shape(vehicle, stops)
        self.clock(vehicle, stops, legs)
        self.loads(vehicle, stops)
        self.rest(vehicle, stops)
        self.distance(vehicle, stops, legs)

    def shape(self, vehicle: VehicleShift, stops: list[_Stop]) -> None:
        vid = vehicle.vehicle_id
        seqs = [s.seq for s in stops]
        if seqs != [str(i) for i in range(len(stops))]:
            self.flag("sequence", f"seq is {', '.join(seqs[:12])}; expected 0..{len(stops) - 1}",
                      vid, row=stops[0].row)
        for stop in stops:
            if stop.event not in EVENTS:
                self.flag("event", f"event {stop.event!r} is not one of {', '.join(EVENTS)}",
                          vid, stop.journey_id, stop.row)
            if stop.event in ("start", "break", "end") and (stop.journey_id or stop.patient_id):
                self.flag("stray_journey", f"a {stop.event} row names journey "
                          f"{stop.journey_id or stop.patient_id!r}", vid, stop.journey_id, stop.row)
        events = [s.event for s in stops]
        if events[0] != "start" or events[-1] != "end" or len(stops) < 2 \
                or events.count("start") != 1 or events.count("end") != 1:
            self.flag("route_shape", f"events run {events[0]} ... {events[-1]} with "
                      f"{events.count('start')} start(s) and {events.count('end')} end(s)",
                      vid, row=stops[0].row)
        base = vehicle.base
        for stop in (stops[0], stops[-1]):
            if stop.event in ("start", "end") and great_circle(
                    (stop.lat, stop.lon), (base.lat, base.lon)).m > SAME_PLACE_M:
                self.flag("not_at_base", f"{stop.event} at {stop.lat},{stop.lon} is not the base "
                          f"{base.lat},{base.lon}", vid, row=stop.row)

    def clock(self, vehicle: VehicleShift, stops: list[_Stop],
              legs: list[tuple[float, float]]) -> None:
        vid = vehicle.vehicle_id
        first, last = stops[0], stops[-1]
        if first.departure < vehicle.shift_start_min:
            self.flag("before_shift", f"leaves at {format_clock(first.departure)}, shift starts "
                      f"{format_clock(vehicle.shift_start_min)}", vid, row=first.row)
        if last.arrival > vehicle.shift_end_min:
            self.flag("after_shift", f"back at {format_clock(last.arrival)}, shift ends "
                      f"{format_clock(vehicle.shift_end_min)}", vid, row=last.row)
        previous: _Stop | None = None
        for index, stop in enumerate(stops):
            if not stop.arrival <= stop.service_start <= stop.departure:
                self.flag("time_order", f"arrival {format_clock(stop.arrival)}, service "
                          f"{format_clock(stop.service_start)}, departure "
                          f"{format_clock(stop.departure)}", vid, stop.journey_id, stop.row)
            journey = self.journeys.get(stop.journey_id)
            need = 0
            if stop.event == "pickup" and journey:
                need = journey.pickup_service_min
            elif stop.event == "dropoff" and journey:
                need = journey.dropoff_service_min
            elif stop.event == "break":
                need = vehicle.break_min
            if stop.departure - stop.service_start < need:
                rule = "break_length" if stop.event == "break" else "short_service"
                self.flag(rule, f"{stop.departure - stop.service_start} min at the stop, "
                          f"{need} needed", vid, stop.journey_id, stop.row)
            if previous is not None:
                leg, took = legs[index - 1][1], stop.arrival - previous.departure
                if took < leg - TIME_NOISE_MIN:
                    self.flag_leg("too_fast", f"{took} min from the previous stop, the drive "
                                  f"takes {leg:.1f}", vid, stop.journey_id, stop.row)
                straight_km = great_circle((previous.lat, previous.lon),
                                           (stop.lat, stop.lon)).km
                if self.osrm_down and took < straight_km / FASTEST_KMH * 60 - TIME_NOISE_MIN:
                    self.flag("too_fast", f"{took} min for {straight_km:.1f} km in a straight "
                              f"line: faster than {FASTEST_KMH:g} km/h, whatever the roads",
                              vid, stop.journey_id, stop.row)
            previous = stop

    def loads(self, vehicle: VehicleShift, stops: list[_Stop]) -> None:
        vid = vehicle.vehicle_id
        on_board: dict[str, Journey] = {}
        cap = vehicle.capacity
        for stop in stops:
            journey = self.journeys.get(stop.journey_id)
            if stop.event in ("pickup", "dropoff") and journey is not None:
                if stop.event == "pickup":
                    on_board[journey.journey_id] = journey
                else:
                    on_board.pop(journey.journey_id, None)
            seats = sum(j.escorts + (j.mobility is Mobility.SEATED) for j in on_board.values())
            chairs = sum(j.mobility is Mobility.WHEELCHAIR for j in on_board.values())
            stretchers = sum(j.mobility is Mobility.STRETCHER for j in on_board.values())
            if seats > cap.seats or chairs > cap.wheelchairs or stretchers > cap.stretchers:
                self.flag("over_capacity", f"on board {seats} seated, {chairs} wheelchair(s), "
                          f"{stretchers} stretcher(s); the vehicle has {cap.seats}, "
                          f"{cap.wheelchairs}, {cap.stretchers}", vid, stop.journey_id, stop.row)
            if stop.load != (seats, chairs, stretchers):
                self.flag("load_mismatch", f"load columns say {stop.load}, on board is "
                          f"{(seats, chairs, stretchers)}", vid, stop.journey_id, stop.row)
            alone = [j for j in on_board.values() if Need.TRAVEL_ALONE in j.needs]
            if alone and len(on_board) > 1:
                self.flag("travel_alone", f"{alone[0].journey_id} travels alone but "
                          f"{len(on_board) - 1} other patient(s) are on board", vid,
                          stop.journey_id, stop.row)
            if stop.event == "break" and on_board:
                self.flag("break_on_board", f"{len(on_board)} patient(s) on board during the "
                          "break", vid, row=stop.row)
            if stop.event == "pickup" and journey is not None:
                self.suitability(vehicle, journey, stop)

    def suitability(self, vehicle: VehicleShift, journey: Journey, stop: _Stop) -> None:
        vid, jid = vehicle.vehicle_id, journey.journey_id
        if (journey.mobility is Mobility.STRETCHER or Need.TWO_CREW in journey.needs) \
                and vehicle.crew < 2:
            self.flag("crew", f"{journey.mobility} / {sorted(journey.needs)} needs a crew of 2, "
                      f"the vehicle has {vehicle.crew}", vid, jid, stop.row)
        for need, skill in ((Need.BARIATRIC, Skill.BARIATRIC), (Need.OXYGEN, Skill.OXYGEN)):
            if need in journey.needs and skill not in vehicle.skills:
                self.flag("skill", f"needs {skill}, the vehicle lacks it", vid, jid, stop.row)
        kind = {Mobility.WHEELCHAIR: vehicle.capacity.wheelchairs,
                Mobility.STRETCHER: vehicle.capacity.stretchers,
                Mobility.SEATED: vehicle.capacity.seats}[journey.mobility]
        if kind == 0:
            self.flag("incompatible_space", f"a {journey.mobility} patient on a vehicle with no "
                      "such space", vid, jid, stop.row)

    def rest(self, vehicle: VehicleShift, stops: list[_Stop]) -> None:
        vid = vehicle.vehicle_id
        used = any(s.event == "pickup" for s in stops)
        breaks = [s for s in stops if s.event == "break"]
        earliest = vehicle.shift_start_min + self.breaks.earliest_after_start_min
        latest = vehicle.shift_start_min + self.breaks.latest_after_start_min
        for stop in breaks:
            if not earliest <= stop.service_start <= latest:
                self.flag("break_timing", f"break at {format_clock(stop.service_start)}, allowed "
                          f"{format_clock(earliest)}-{format_clock(latest)}", vid, row=stop.row)
        if used and vehicle.shift_length_min > self.breaks.required_over_min and not breaks:
            self.flag("missing_break", f"a {vehicle.shift_length_min / 60:.1f} h shift with no "
                      "break", vid, row=stops[0].row)

    def distance(self, vehicle: VehicleShift, stops: list[_Stop],
                 legs: list[tuple[float, float]]) -> None:
        total = 0.0
        for stop, (km, _) in zip(stops[1:], legs, strict=True):
            total += km
            if abs(stop.km - km) > KM_TOLERANCE + 0.005 * km:
                self.flag_leg("km_mismatch", f"km says {stop.km:.2f}, the leg is {km:.2f}",
                          vehicle.vehicle_id, stop.journey_id, stop.row)
        charged = self.problem.config.charging_during_shift  # the range bounds no shift
        if vehicle.range_km is not None and not charged \
                and total > vehicle.range_km + KM_TOLERANCE:
            self.flag("range", f"drives {total:.1f} km, range is {vehicle.range_km:.0f} km",
                      vehicle.vehicle_id, row=stops[-1].row)

    # Across vehicles -----------------------------------------------------------------
    def journeys_in(self, by_vehicle: Mapping[str, list[_Stop]]) -> set[str]:
        seen: dict[tuple[str, str], list[_Stop]] = defaultdict(list)
        for stops in by_vehicle.values():
            for stop in stops:
                if stop.event in ("pickup", "dropoff"):
                    seen[(stop.journey_id, stop.event)].append(stop)
        self.first_stop = {key: found[0] for key, found in seen.items()}
        planned: set[str] = set()
        for (jid, event), found in seen.items():
            journey = self.journeys.get(jid)
            if journey is None:
                self.flag("unknown_journey", f"{jid!r} is not booked", found[0].vehicle_id, jid,
                          found[0].row)
                continue
            planned.add(jid)
            if len(found) > 1:
                self.flag("duplicate_stop", f"{len(found)} {event} stops (also on "
                          f"{found[0].vehicle_id}, row {found[0].row})", found[1].vehicle_id,
                          jid, found[1].row)
            for stop in found:
                if stop.patient_id != journey.patient_id:
                    self.flag("patient_mismatch", f"patient {stop.patient_id!r}, booked for "
                              f"{journey.patient_id!r}", stop.vehicle_id, jid, stop.row)
                place = journey.pickup if event == "pickup" else journey.dropoff
                if great_circle((stop.lat, stop.lon), (place.lat, place.lon)).m > SAME_PLACE_M:
                    self.flag("wrong_place", f"{event} at {stop.lat},{stop.lon}, booked at "
                              f"{place.lat},{place.lon}", stop.vehicle_id, jid, stop.row)
                window = journey.pickup_window if event == "pickup" else journey.dropoff_window
                if not window.earliest_min <= stop.service_start <= window.latest_min:
                    self.flag(f"{event}_window", f"service at {format_clock(stop.service_start)}"
                              f", window {format_clock(window.earliest_min)}-"
                              f"{format_clock(window.latest_min)}", stop.vehicle_id, jid, stop.row)
        for jid in planned:
            pickups, dropoffs = seen.get((jid, "pickup"), []), seen.get((jid, "dropoff"), [])
            if not pickups or not dropoffs:
                missing = "drop-off" if pickups else "pickup"
                stop = (pickups or dropoffs)[0]
                self.flag("unpaired", f"no {missing}", stop.vehicle_id, jid, stop.row)
                continue
            pickup, dropoff = pickups[0], dropoffs[0]
            if pickup.vehicle_id != dropoff.vehicle_id:
                self.flag("split_journey", f"picked up by {pickup.vehicle_id}, dropped off by "
                          f"{dropoff.vehicle_id}", pickup.vehicle_id, jid, dropoff.row)
                continue
            if dropoff.row < pickup.row:
                self.flag("dropoff_first", "drop-off comes before pickup", pickup.vehicle_id,
                          jid, dropoff.row)
                continue
            journey = self.journeys[jid]
            boarded = min(pickup.departure, pickup.service_start + journey.pickup_service_min)
            ride = dropoff.service_start - boarded
            if ride > journey.max_ride_min:
                self.flag("ride_time", f"{ride} min on board (boarded "
                          f"{format_clock(boarded)}, set down from "
                          f"{format_clock(dropoff.service_start)}), at most "
                          f"{journey.max_ride_min}", pickup.vehicle_id, jid, dropoff.row)
        return planned

    def returns(self) -> dict[str, str]:
        """Outward journey -> the journey that brings the patient back.

        As the bookings say (`return_of`); for a journey that says nothing, the contract's
        rule, worked out here on its own: the patient's next journey (by earliest pickup)
        that starts within the policy's radius of where the previous one ended, and can
        start after it ends, unless that one already is a return or has one. Two at once
        is no link (the reader warned of it).
        """
        back_of = {j.journey_id: j.return_of for j in self.problem.journeys if j.return_of}
        outward_to = {outward: back for back, outward in back_of.items()}
        radius_m = self.problem.config.linked.link_radius_m
        days: dict[str, list[Journey]] = defaultdict(list)
        for journey in self.problem.journeys:
            days[journey.patient_id].append(journey)
        for day in days.values():
            starts = sorted({j.pickup_window.earliest_min for j in day})
            at = {t: sorted((j for j in day if j.pickup_window.earliest_min == t),
                            key=lambda j: j.journey_id) for t in starts}
            for earlier, later in pairwise(starts):
                pairs = [(o, r) for o in at[earlier] for r in at[later]
                         if o.journey_id not in back_of and o.journey_id not in outward_to
                         and r.journey_id not in back_of
                         and great_circle((o.dropoff.lat, o.dropoff.lon),
                                          (r.pickup.lat, r.pickup.lon)).m <= radius_m
                         and o.dropoff_window.earliest_min <= r.pickup_window.latest_min]
                outs = Counter(o.journey_id for o, _ in pairs)
                backs = Counter(r.journey_id for _, r in pairs)
                for outward, back in pairs:
                    if outs[outward.journey_id] == 1 and backs[back.journey_id] == 1:
                        back_of[back.journey_id] = outward.journey_id
                        outward_to[outward.journey_id] = back.journey_id
        return outward_to

    def one_place(self, planned: set[str], links: Mapping[str, str]) -> None:
        """A patient is in one place at a time: a return after its outward journey's end.

        A journey holds its patient from the pickup's service start to the end of the
        drop-off's alighting. The windows alone allow a return collected before its
        outward journey has set the patient down, on another vehicle or on the same one
        with the patient still aboard (found on a plan `pts solve` wrote, 2026-12-07).
        """
        held: dict[str, tuple[int, int, _Stop]] = {}
        for jid in planned:
            pickup = self.first_stop.get((jid, "pickup"))
            dropoff = self.first_stop.get((jid, "dropoff"))
            if pickup is not None and dropoff is not None:  # else `unpaired`
                alight = self.journeys[jid].dropoff_service_min
                held[jid] = (pickup.service_start, dropoff.service_start + alight, pickup)
        linked = {frozenset(pair) for pair in links.items()}
        for outward, back in sorted(links.items()):
            if outward in held and back in held and held[back][0] < held[outward][1]:
                pickup = held[back][2]
                self.flag("return_first", f"collected at {format_clock(held[back][0])}, before "
                          f"journey {outward} has set the patient down "
                          f"({format_clock(held[outward][1])})", pickup.vehicle_id, back,
                          pickup.row)
        days: dict[str, list[str]] = defaultdict(list)
        for jid in sorted(held, key=lambda j: (held[j][0], j)):
            days[self.journeys[jid].patient_id].append(jid)
        for patient, ids in days.items():
            for i, earlier in enumerate(ids):
                for later in ids[i + 1:]:
                    if held[later][0] >= held[earlier][1]:
                        break  # sorted by start: none after it overlaps `earlier` either
                    if frozenset((earlier, later)) not in linked:
                        pickup = held[later][2]
                        self.flag("patient_twice", f"patient {patient} is collected for it at "
                                  f"{format_clock(held[later][0])}, while still on journey "
                                  f"{earlier} (until {format_clock(held[earlier][1])})",
                                  pickup.vehicle_id, later, pickup.row)

    def round_trips(self, planned: set[str], unassigned: Table,
                    by_vehicle: Mapping[str, list[_Stop]], replanned_at: int | None,
                    links: Mapping[str, str]) -> None:
        """An outward journey planned while its return is not leaves the patient there.

        A warning, not a violation, where nobody can plan otherwise: the policy allows it;
        the coordinator cancelled the ride back (the patient goes home another way); or a
        re-plan found the patient already taken there (a plan cannot undo the morning).
        """
        allowed = self.problem.config.linked.allow_outward_without_return
        # Only `pts replan --cancel` cancels: in a plan made at once, "cancelled" is a word
        # in a file, and the patient is left there.
        cancelled = {cells.get("journey_id", "") for cells in unassigned.rows
                     if cells.get("reason", "").partition(":")[0] == "cancelled"} \
            if replanned_at is not None \
            else set()
        # A crew already driving to a pickup at the call keeps it (the re-plan cannot recall
        # it): the moment that counts is when it left the stop before, at the call or earlier
        # (a crew leaving its break as the call comes is on its way).
        set_off = {s.journey_id: min(s.service_start, before.departure)
                   for stops in by_vehicle.values() for before, s in pairwise(stops)
                   if s.event == "pickup"}
        for outward, back in sorted(links.items()):
            if outward in planned and back not in planned:
                patient = self.journeys[outward].patient_id if outward in self.journeys else ""
                why = ""
                if back in cancelled:
                    why = "; the return was cancelled: they need another way back"
                elif replanned_at is not None \
                        and set_off.get(outward, replanned_at + 1) <= replanned_at:
                    why = (f"; they were collected, or a crew was on its way to them, before "
                           f"the re-plan at {format_clock(replanned_at)}: they need another "
                           "way back")
                elif allowed:
                    why = "; they need another way back"
                found = Violation("stranded_patient", f"patient {patient} is taken there but "
                                  f"their return {back} is not planned{why}",
                                  journey_id=outward)
                (self.warned if why else self.found).append(found)

    def conservation(self, planned: set[str], unassigned: Table) -> int:
        counts = Counter(cells.get("journey_id", "") for cells in unassigned.rows)
        for index, cells in enumerate(unassigned.rows):
            jid = cells.get("journey_id", "")
            where = f"unassigned.csv row {unassigned.row_number(index)}"
            if jid not in self.journeys:
                self.flag("unknown_unassigned", f"{where}: {jid!r} is not booked", journey_id=jid)
            elif jid in planned:
                self.flag("planned_and_unassigned", f"{where}: also in the rosters",
                          journey_id=jid)
            if not cells.get("reason", ""):
                self.flag("no_reason", f"{where}: no reason given", journey_id=jid)
        for jid, count in counts.items():
            if count > 1:
                self.flag("unassigned_twice", f"listed {count} times", journey_id=jid)
        for jid in self.journeys:
            if jid not in planned and jid not in counts:
                self.flag("not_planned", "neither in the rosters nor in unassigned",
                          journey_id=jid)
        return len(counts)


def _osrm_legs(url: str, timeout_s: float, max_table: int, points: list[tuple[float, float]]
               ) -> list[tuple[float, float] | None]:
    """(km, minutes) between consecutive points, asked of OSRM's table service.

    The checker's own client, written apart from the solver's. None for a leg the server
    cannot route; raises OSError when the server cannot answer, whatever it did wrong,
    with a reason that never holds the URL or its credentials.
    """
    base, extra_query, headers = _split_credentials(url)
    legs: list[tuple[float, float] | None] = []
    impossible = 0
    step = max(2, max_table)
    for first in range(0, len(points) - 1, step - 1):
        chunk = points[first:first + step]
        coordinates = ";".join(f"{lon:.6f},{lat:.6f}" for lat, lon in chunk)
        query = f"{base}/table/v1/driving/{coordinates}?annotations=duration,distance"
        body = _ask(query + (f"&{extra_query}" if extra_query else ""), headers, timeout_s)
        try:
            for i in range(len(chunk) - 1):
                seconds, metres = body["durations"][i][i + 1], body["distances"][i][i + 1]
                if seconds is None or metres is None:
                    legs.append(None)
                    continue
                if any(isinstance(v, bool) or not isinstance(v, int | float)
                       for v in (seconds, metres)):
                    raise ValueError("not a distance and a time")  # true, or "100"
                km, minutes = float(metres) / 1000, float(seconds) / 60
                if not (math.isfinite(km) and math.isfinite(minutes) and 0 <= km <= MAX_LEG_KM
                        and 0 <= minutes <= 24 * 60):
                    raise ValueError("not a distance and a time")
                straight_km = great_circle(chunk[i], chunk[i + 1]).km
                if straight_km >= 2 and (km < 0.7 * straight_km
                                         or minutes < straight_km / FASTEST_KMH * 60):
                    legs.append(None)  # no road is shorter, or that fast: the estimate
                    impossible += 1
                    continue
                legs.append((km, minutes))
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise OSError(f"unexpected answer: {type(exc).__name__}") from None
    if impossible > max(1, 0.05 * len(legs)):  # a table of zeros: another region's map?
        raise OSError(f"{impossible} road(s) shorter or faster than the straight line allows")
    return legs


def _split_credentials(url: str) -> tuple[str, str, dict[str, str]]:
    """(base URL without userinfo or query, the query, headers carrying the userinfo)."""
    try:
        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2]
        user, password = parts.username, parts.password
    except ValueError:
        raise OSError("the server URL cannot be read") from None
    headers = {"Accept": "application/json"}
    if user is not None:
        pair = f"{unquote(user)}:{unquote(password or '')}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
    return f"{parts.scheme}://{host}{parts.path.rstrip('/')}", parts.query, headers


def _ask(query: str, headers: dict[str, str], timeout_s: float) -> Any:
    """The JSON answer to one request, whole within `timeout_s`; OSError otherwise.

    A socket timeout bounds each read, not a server that drips its answer, so the request
    runs in a thread the checker stops waiting for at the deadline.
    """
    answer: list[Any] = []
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def fetch() -> None:
        try:
            request = urllib.request.Request(query, headers=headers)
            with direct.open(request, timeout=timeout_s) as response:
                answer.append(json.loads(response.read(MAX_OSRM_ANSWER_BYTES).decode("utf-8")))
        except Exception as exc:  # whatever the server did, the check goes on without it
            answer.append(exc)

    worker = threading.Thread(target=fetch, daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive() or not answer:
        raise OSError(f"no complete answer within {timeout_s:g} s")
    if isinstance(answer[0], urllib.error.HTTPError):
        sign_in = answer[0].code in (401, 403)
        raise OSError(f"HTTP {answer[0].code}" + (": the server asks for a sign-in; give its "
                                                  "URL with the credentials in PTS_OSRM_URL"
                                                  if sign_in else ""))
    if isinstance(answer[0], urllib.error.URLError):
        raise OSError(f"{type(answer[0].reason).__name__}")
    if isinstance(answer[0], Exception):  # the class alone: its text may quote the server
        raise OSError(type(answer[0]).__name__)
    return answer[0]


def _number(cells: Mapping[str, str], column: str, low: float, high: float,
            blank: float | None = None) -> float:
    """A finite number in [low, high] from a rosters.csv cell; ValueError naming the column."""
    text = cells.get(column, "")
    if not text.strip() and blank is not None:
        return blank
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{column} {text[:20]!r} is not a number") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise ValueError(f"{column} {text[:20]!r} is not a number from {low:g} to {high:g}")
    return value


def _count(cells: Mapping[str, str], column: str) -> int:
    """A whole number of 0 or more from a rosters.csv cell; ValueError naming the column."""
    text = cells.get(column, "")
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{column} {text[:20]!r} is not a whole number") from None
    if value < 0:
        raise ValueError(f"{column} {value} is below 0")
    return value


def check_plan(problem: Problem, plan_dir: Path, roads_wait_s: float | None = None
               ) -> CheckResult:
    """Check the plan in `plan_dir` (rosters.csv, unassigned.csv) against every rule.

    `roads_wait_s` bounds the whole check's wait for a road server, below the policy's
    `osrm_timeout_s`: a command checking the plan it made, within its time limit.
    """
    checker = _Checker(problem, roads_wait_s)
    tables: dict[str, Table] = {}
    for name, columns in (("rosters.csv", ROSTER_COLUMNS), ("unassigned.csv", UNASSIGNED_COLUMNS)):
        try:
            table = read_table(plan_dir / name, allow_no_rows=True)
        except InputError as exc:
            checker.flag("file", "; ".join(f.message for f in exc.findings) + f" ({name})")
            continue
        missing = [c for c in columns if c not in table.columns]
        if missing:
            checker.flag("file", f"{name} lacks column(s) {', '.join(missing)}")
            continue
        tables[name] = table
    if len(tables) < 2:
        return CheckResult(tuple(checker.found), 0, 0, 0)
    by_vehicle = checker.stops(tables["rosters.csv"])
    for vehicle_id, stops in by_vehicle.items():
        checker.vehicle(vehicle_id, stops)
    planned = checker.journeys_in(by_vehicle)
    unassigned = checker.conservation(planned, tables["unassigned.csv"])
    links = checker.returns()  # the day's round trips, worked out once for both rules
    checker.one_place(planned, links)
    checker.round_trips(planned, tables["unassigned.csv"], by_vehicle,
                        _replanned_at(plan_dir), links)
    used = sum(any(s.event == "pickup" for s in stops) for stops in by_vehicle.values())
    return CheckResult(tuple(checker.found), used, len(planned), unassigned,
                       tuple(dict.fromkeys(checker.notes)), tuple(checker.warned))


def _replanned_at(plan_dir: Path) -> int | None:
    """The call a re-plan was made at (summary.json), before which stops are history."""
    try:
        search = json.loads((plan_dir / "summary.json").read_text(encoding="utf-8"))["search"]
        return parse_clock(str(search["replanned_at"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def rules_help(rules: Iterable[tuple[str, str]] = RULES.items()) -> str:
    """The rules as a help text block."""
    return "\n".join(f"  {name}: {text}" for name, text in rules)
