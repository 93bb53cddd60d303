"""The nearest miss of a journey left out: what a coordinator could change to plan it.

Computed after the search from the journey, the fleet and the rosters alone (no further
search), so it is a suggestion to check, not a promise: the vehicle named could carry the
journey on its own if the change were made, and the change named is the smallest found.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from pts_optimiser.domain.clock import format_clock
from pts_optimiser.domain.plan import Reason, Roster, Unassigned
from pts_optimiser.domain.problem import Fuel, Journey, Need, Place, Skill, VehicleShift
from pts_optimiser.engine.places import DayPlaces


def missing(vehicle: VehicleShift, journey: Journey) -> list[str]:
    """Everything this vehicle lacks to carry the journey (empty when it can)."""
    need, have = journey.space, vehicle.capacity
    lacks = []
    if need.stretchers > have.stretchers:
        lacks.append("a stretcher position")
    if need.wheelchairs > have.wheelchairs:
        lacks.append("a wheelchair space")
    if need.seats > have.seats:
        lacks.append(f"{need.seats - have.seats} more seat(s)")
    if journey.needs_two_crew and vehicle.crew < 2:
        lacks.append("a second crew member")
    for wanted, skill in ((Need.BARIATRIC, Skill.BARIATRIC), (Need.OXYGEN, Skill.OXYGEN)):
        if wanted in journey.needs and skill not in vehicle.skills:
            lacks.append(f"{skill} equipment")
    return lacks


@dataclass(frozen=True)
class LoneTrip:
    """The journey done by a vehicle on its own, straight from where it is free."""

    pickup_min: int
    dropoff_min: int
    back_min: int  # at the place it must be next (its base, or its next stop)
    metres: int

    def late_min(self, journey: Journey) -> int:
        """Minutes past the journey's pickup or drop-off window, whichever is later."""
        return max(0, self.pickup_min - journey.pickup_window.latest_min,
                   self.dropoff_min - journey.dropoff_window.latest_min)


def lone_trip(journey: Journey, places: DayPlaces, free_min: int, origin: Place,
              then: Place) -> LoneTrip:
    """The journey done alone from `origin`, free at `free_min`, then on to `then`.

    Collected late enough to be set down as the drop-off window opens, where the pickup
    window allows; else at its end, the patient waiting aboard for the drop-off window,
    as the planners may (a ride is timed from boarded to the drop-off's service). Until
    2026-12-07 a journey whose windows asked for that wait was called one no shift could
    reach, with a fix to start a shift earlier that would not have helped.
    """
    here, pickup, dropoff, there = (places.of(origin), places.of(journey.pickup),
                                    places.of(journey.dropoff), places.of(then))
    direct = int(places.minutes[pickup, dropoff])
    no_wait = journey.dropoff_window.earliest_min - direct - journey.pickup_service_min
    at_pickup = max(free_min + int(places.minutes[here, pickup]),
                    journey.pickup_window.earliest_min,
                    min(no_wait, journey.pickup_window.latest_min))
    at_dropoff = max(at_pickup + journey.pickup_service_min + direct,
                     journey.dropoff_window.earliest_min)
    back = at_dropoff + journey.dropoff_service_min + int(places.minutes[dropoff, there])
    metres = int(places.metres[here, pickup] + places.metres[pickup, dropoff]
                 + places.metres[dropoff, there])
    return LoneTrip(at_pickup, at_dropoff, back, metres)


def _wider(journey: Journey, trip: LoneTrip) -> str:
    """The window changes that would let the trip as timed be made."""
    late_pickup = trip.pickup_min - journey.pickup_window.latest_min
    late_dropoff = trip.dropoff_min - journey.dropoff_window.latest_min
    parts = []
    if late_pickup > 0:
        parts.append(f"a pickup window {late_pickup} min wider (to "
                     f"{format_clock(trip.pickup_min)})")
    if late_dropoff > 0:
        parts.append(f"a drop-off window {late_dropoff} min wider (to "
                     f"{format_clock(trip.dropoff_min)})")
    return " and ".join(parts)


def _shift_miss(journey: Journey, vehicles: Sequence[VehicleShift], places: DayPlaces
                ) -> tuple[int, str] | None:
    """The compatible shift that comes closest to covering the journey, and how."""
    best: tuple[int, str] | None = None
    for vehicle in vehicles:
        if missing(vehicle, journey):
            continue
        trip = lone_trip(journey, places, vehicle.shift_start_min, vehicle.base, vehicle.base)
        late = trip.late_min(journey)
        over = max(0, trip.back_min - vehicle.shift_end_min)
        if late and over:
            text = (f"{vehicle.vehicle_id} could take it if its shift ran "
                    f"{format_clock(vehicle.shift_start_min - late)}-"
                    f"{format_clock(trip.back_min - late)}")
        elif late:
            text = (f"{vehicle.vehicle_id} could take it if its shift started at "
                    f"{format_clock(vehicle.shift_start_min - late)}, or with "
                    f"{_wider(journey, trip)}")
        elif over:
            text = (f"{vehicle.vehicle_id} could take it if its shift ran to "
                    f"{format_clock(trip.back_min)} ({over} min longer)")
        else:
            continue
        if best is None or late + over < best[0]:
            best = (late + over, text)
    return best


def _range_miss(journey: Journey, vehicles: Sequence[VehicleShift], places: DayPlaces) -> str:
    over: list[tuple[int, VehicleShift]] = []
    for vehicle in vehicles:
        if missing(vehicle, journey) or vehicle.range_km is None:
            continue
        trip = lone_trip(journey, places, vehicle.shift_start_min, vehicle.base, vehicle.base)
        if trip.late_min(journey) == 0 and trip.back_min <= vehicle.shift_end_min:
            over.append((trip.metres - int(vehicle.range_km * 1000), vehicle))
    text = ""
    if over:
        metres, vehicle = min(over, key=lambda item: item[0])
        text = (f"{vehicle.vehicle_id} is {max(1, math.ceil(metres / 1000))} km short of range "
                f"for it ({vehicle.range_km:g} km)")
    others = [v for v in vehicles if not missing(v, journey) and v.fuel is not Fuel.ELECTRIC]
    if not others:
        return text + "; no non-electric vehicle in the fleet can carry it"
    nearest = _shift_miss(journey, others, places)
    return text + (f"; a non-electric vehicle: {nearest[1]}" if nearest else "")


def _gap_miss(journey: Journey, allowed: Sequence[int], vehicles: Sequence[VehicleShift],
              rosters: Sequence[Roster], places: DayPlaces) -> str:
    """The empty stretch of a compatible vehicle's run nearest to taking the journey."""
    by_id = {r.vehicle.vehicle_id: r for r in rosters}
    best: tuple[int, str] | None = None
    idle = []
    for index in allowed:
        vehicle = vehicles[index]
        roster = by_id.get(vehicle.vehicle_id)
        if roster is None or not roster.used:
            idle.append(vehicle.vehicle_id)
            continue
        stops = roster.stops
        for before, after in itertools.pairwise(stops):
            if before.seats_used + before.wheelchairs_used + before.stretchers_used:
                continue
            free = vehicle.shift_start_min if before is stops[0] else before.departure_min
            until = vehicle.shift_end_min if after is stops[-1] else after.service_start_min
            key = (before.lat, before.lon), (after.lat, after.lon)
            if key[0] not in places.index or key[1] not in places.index:
                continue
            trip = lone_trip(journey, places, free, Place(before.lat, before.lon),
                          Place(after.lat, after.lon))
            late, over = trip.late_min(journey), max(0, trip.back_min - until)
            if late + over == 0 or (best is not None and late + over >= best[0]):
                continue
            gap = f"{vehicle.vehicle_id} is empty {format_clock(free)}-{format_clock(until)}"
            needs = []
            if late:
                needs.append(_wider(journey, trip))
            if over:
                needs.append(f"{over} min more before its next stop")
            best = (late + over, f"{gap}; it would need {' and '.join(needs)}")
    texts = []
    if idle:
        texts.append(f"{', '.join(idle[:3])} could carry it alone and "
                     f"{'is' if len(idle) == 1 else 'are'} not used: give it to one by hand")
    if best is not None:
        texts.append(f"nearest gap: {best[1]}")
    return "; ".join(texts)


def return_fix(back: Unassigned) -> str:
    """The nearest miss of an outward journey left out for its return: the return's own.

    (Its fix, not the outward journey's: planning the return plans both.)
    """
    fix = back.fix or "see its reason"
    return f"plan the patient's return, journey {back.journey.journey_id}: {fix}"


def nearest_miss(unassigned: Unassigned, vehicles: Sequence[VehicleShift], places: DayPlaces,
                 rosters: Sequence[Roster], allowed: Sequence[int]) -> str:
    """What would let this journey be planned, in a line naming vehicle, time and change.

    `allowed` are the vehicles that could carry it alone (for journeys the search left out).
    """
    reason, journey_ = unassigned.reason, unassigned.journey
    if reason is Reason.NO_COMPATIBLE_VEHICLE:
        lacks = min(([v.vehicle_id, missing(v, journey_)] for v in vehicles),
                    key=lambda item: len(item[1]), default=None)
        if lacks is None:
            return "add a vehicle shift that can carry it"
        return (f"{lacks[0]} comes closest: with {' and '.join(lacks[1])} it could carry it; "
                "or check the booking's mobility, escorts and needs")
    if reason is Reason.WINDOW_SHORTER_THAN_TRIP:
        direct = int(places.minutes[places.of(journey_.pickup), places.of(journey_.dropoff)])
        latest = journey_.pickup_window.earliest_min + journey_.pickup_service_min + direct
        parts = []
        if direct > journey_.max_ride_min:
            parts.append(f"a maximum ride of at least {direct} min")
        if latest > journey_.dropoff_window.latest_min:
            parts.append(f"a drop-off window to {format_clock(latest)} or later")
        return "the direct trip needs " + " and ".join(parts)
    if reason is Reason.NO_SHIFT_COVERS_WINDOW:
        nearest = _shift_miss(journey_, vehicles, places)
        return nearest[1] if nearest else ""
    if reason is Reason.BEYOND_EV_RANGE:
        return _range_miss(journey_, vehicles, places).lstrip("; ")
    if reason in (Reason.NO_CAPACITY, Reason.NO_PLAN_FOUND):
        text = _gap_miss(journey_, allowed, vehicles, rosters, places)
        if reason is Reason.NO_PLAN_FOUND:
            text = "; ".join(t for t in (text, "a longer --time-limit") if t)
        return text
    return ""
