"""Why a journey is not planned, in words a coordinator can act on.

Found before planning (no vehicle could carry it alone) or after (no room), with the nearest
miss; an outward journey left out for its return carries the return's reason.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from pts_optimiser.domain.clock import format_clock
from pts_optimiser.domain.commitments import VehicleStart
from pts_optimiser.domain.plan import Reason, Roster, Unassigned
from pts_optimiser.domain.problem import (
    Fuel,
    Journey,
    Mobility,
    Need,
    Problem,
    VehicleShift,
    incompatibility,
)
from pts_optimiser.engine.misses import lone_trip, nearest_miss, return_fix
from pts_optimiser.engine.places import DayPlaces

FIXES_S = 1.0  # most time spent finding left-out journeys' nearest misses


@dataclass(frozen=True)
class Diagnosis:
    """The vehicles that could carry a journey alone, or why none can."""

    allowed: tuple[int, ...]  # vehicle indices that could carry the journey alone
    unassigned: Unassigned | None


def _alone_fits(journey: Journey, vehicle: VehicleShift, places: DayPlaces,
                start: VehicleStart | None = None) -> tuple[bool, bool]:
    """Whether the vehicle could do this journey on its own: (in time, within range)."""
    if start is not None and start.off_road:
        return False, True
    trip = lone_trip(journey, places, start.free_min if start else vehicle.shift_start_min,
                     start.place if start else vehicle.base, vehicle.base)
    in_time = (trip.pickup_min <= journey.pickup_window.latest_min
               and trip.dropoff_min <= journey.dropoff_window.latest_min
               and trip.back_min <= vehicle.shift_end_min)
    if vehicle.range_km is None:
        return in_time, True
    metres = trip.metres + (start.metres if start else 0)
    return in_time, bool(metres <= vehicle.range_km * 1000)


def _kind(journey: Journey) -> str:
    words = [str(journey.mobility)]
    words += [str(n) for n in sorted(journey.needs) if n is not Need.TRAVEL_ALONE]
    return " ".join(words)


def diagnose(journey: Journey, vehicles: Sequence[VehicleShift], places: DayPlaces,
             starts: Sequence[VehicleStart | None] = ()) -> Diagnosis:
    """Which vehicles could carry this journey alone, or why none can."""
    window = (f"pickup {format_clock(journey.pickup_window.earliest_min)}-"
              f"{format_clock(journey.pickup_window.latest_min)}, drop-off "
              f"{format_clock(journey.dropoff_window.earliest_min)}-"
              f"{format_clock(journey.dropoff_window.latest_min)}")
    if not vehicles:  # re-planning, every shift over or taken off the road
        return Diagnosis((), Unassigned(journey, Reason.NO_SHIFT_COVERS_WINDOW,
                                         "no vehicle shift is left in the day: every shift is "
                                         f"over or taken off the road ({window})",
                                         "put a crew back on the road, or add a shift"))
    reasons = [incompatibility(v, journey) for v in vehicles]
    compatible = [i for i, why in enumerate(reasons) if why is None]
    if not compatible:
        why_not = Counter(reasons)
        detail = "; ".join(f"{n} vehicle(s): {w}" for w, n in why_not.items() if w)
        return Diagnosis((), Unassigned(journey, Reason.NO_COMPATIBLE_VEHICLE,
                                         f"no vehicle in the fleet can carry a {_kind(journey)} "
                                         f"patient ({detail})"))
    direct = int(places.minutes[places.of(journey.pickup), places.of(journey.dropoff)])
    earliest_arrival = journey.pickup_window.earliest_min + journey.pickup_service_min + direct
    # Collected at the last minute, the patient is aboard at least this long: to the
    # drop-off window's opening.
    least_aboard = (journey.dropoff_window.earliest_min - journey.pickup_window.latest_min
                    - journey.pickup_service_min)
    if direct > journey.max_ride_min or earliest_arrival > journey.dropoff_window.latest_min \
            or least_aboard > journey.max_ride_min:
        detail = (f"the direct trip takes {direct} min; maximum ride {journey.max_ride_min} min, "
                  f"{window}")
        if least_aboard > journey.max_ride_min:
            detail += (f": collected by the end of its pickup window, the patient would wait "
                       f"aboard to the drop-off window, {least_aboard} min on board")
        return Diagnosis((), Unassigned(journey, Reason.WINDOW_SHORTER_THAN_TRIP, detail))
    fits = {i: _alone_fits(journey, vehicles[i], places, starts[i] if starts else None)
            for i in compatible}
    allowed = tuple(i for i, (in_time, in_range) in fits.items() if in_time and in_range)
    if allowed:
        return Diagnosis(allowed, None)
    if any(in_time for in_time, _ in fits.values()):
        return Diagnosis((), Unassigned(
            journey, Reason.BEYOND_EV_RANGE,
            "only electric cars are free for it and the trip from their base and back is "
            "beyond their range"))
    if any(starts) and (during := _during_the_day(journey, compatible, vehicles, starts)):
        return Diagnosis((), during)
    return Diagnosis((), Unassigned(
        journey, Reason.NO_SHIFT_COVERS_WINDOW,
        f"none of the {len(compatible)} shift(s) that can carry a {_kind(journey)} patient "
        f"can reach it in its window ({window}) and be back at base by the shift's end"))


def _during_the_day(journey: Journey, compatible: Sequence[int],
                    vehicles: Sequence[VehicleShift], starts: Sequence[VehicleStart | None]
                    ) -> Unassigned | None:
    """Why a re-plan cannot carry it, where that is the day itself: the crews gone, or late.

    Until the thirty-fifth stop both read as a shift that could not reach the window, with a
    fix such as "WAV02 could take it if its shift started at 06:28" at 10:00.
    """
    kind = _kind(journey)
    on_road = [i for i in compatible if (start := starts[i]) is None or not start.off_road]
    if not on_road:
        return Unassigned(journey, Reason.NO_SHIFT_COVERS_WINDOW,
                          f"every one of the {len(compatible)} shift(s) that can carry a "
                          f"{kind} patient is taken off the road",
                          "put a crew back on the road, or add a shift that can carry it")
    free = [start.free_min if (start := starts[i]) else vehicles[i].shift_start_min
            for i in on_road]
    if journey.pickup_window.latest_min < min(free):
        return Unassigned(journey, Reason.NO_SHIFT_COVERS_WINDOW,
                          f"its pickup window ended at "
                          f"{format_clock(journey.pickup_window.latest_min)}, before any crew "
                          f"that can carry a {kind} patient is free (the first at "
                          f"{format_clock(min(free))})",
                          "check the booking's times: if the patient still needs to travel, "
                          "book it for a time still to come")
    return None


def return_links(problem: Problem, ids: set[str] | None = None) -> dict[str, str]:
    """Outward journey id -> the id of its return, among `ids` (all journeys if None).

    Empty when the policy allows an outward journey without its return.
    """
    if problem.config.linked.allow_outward_without_return:
        return {}
    known = {j.journey_id for j in problem.journeys} if ids is None else ids
    return {j.return_of: j.journey_id for j in problem.journeys
            if j.return_of is not None and j.return_of in known and j.journey_id in known}


def latest_first(returns: Mapping[str, str]) -> list[tuple[str, str]]:
    """The links, a later trip's before the one leading to it (a day of several trips)."""
    done: list[tuple[str, str]] = []
    seen: set[str] = set()

    def visit(outward: str) -> None:
        if outward in seen:
            return
        seen.add(outward)
        back = returns[outward]
        if back in returns:
            visit(back)
        done.append((outward, back))

    for outward in returns:
        visit(outward)
    return done


def on_another_journey(earlier: Journey, later: Journey, set_down: int | None = None
                       ) -> Unassigned:
    """A journey booked while its patient is still on another (two clinics at once).

    `set_down`: when the earlier is done, where known (a patient aboard at a re-plan);
    else the earliest its drop-off window allows.
    """
    until = "at the latest, still aboard"
    if set_down is None:
        set_down = earlier.dropoff_window.earliest_min + earlier.dropoff_service_min
        until = "at the earliest"
    return Unassigned(later, Reason.PATIENT_ON_ANOTHER_JOURNEY,
                      f"patient {later.patient_id} is on journey {earlier.journey_id} until "
                      f"{format_clock(set_down)} {until}, and this journey's pickup is "
                      f"due by {format_clock(later.pickup_window.latest_min)}",
                      f"check both bookings: one may be booked twice, or its times be wrong "
                      f"(journey {earlier.journey_id}, the earlier, is the one kept to plan)")


def return_missed(outward: Journey, back: Unassigned) -> Unassigned:
    """The outward journey of a patient whose way back cannot be planned."""
    return Unassigned(outward, Reason.RETURN_NOT_PLANNABLE,
                      f"the patient's return, journey {back.journey.journey_id}, cannot be "
                      f"planned ({back.text}); nobody is taken there to be left there")


def returns_first(unassigned: Sequence[Unassigned], returns: Mapping[str, str]
                   ) -> list[Unassigned]:
    """Outward journeys left out with their return: the return's reason is theirs."""
    by_id = {u.journey.journey_id: u for u in unassigned}
    for outward, back in latest_first(returns):
        if outward in by_id and back in by_id \
                and by_id[outward].reason in (Reason.NO_CAPACITY, Reason.NO_PLAN_FOUND):
            by_id[outward] = return_missed(by_id[outward].journey, by_id[back])
    return [by_id[u.journey.journey_id] for u in unassigned]


def patients_left_somewhere(rosters: Sequence[Roster], returns: Mapping[str, str]) -> list[str]:
    """Outward journeys planned whose return is not: patients the plan would leave there."""
    planned = {j.journey_id for r in rosters for j in r.journeys}
    return sorted(out for out, back in returns.items() if out in planned and back not in planned)


def with_fixes(unassigned: Sequence[Unassigned], vehicles: Sequence[VehicleShift],
                places: DayPlaces, rosters: Sequence[Roster],
                diagnoses: Mapping[str, Diagnosis],
                returns: Mapping[str, str] | None = None) -> list[Unassigned]:
    """Each left-out journey with its nearest miss, most urgent first, for FIXES_S at most.

    (About 10 ms a journey on a 750-journey day: a day the search failed on could have
    hundreds left out, and the plan must still be written on time.)
    """
    until = time.monotonic() + FIXES_S
    fixed = {}
    for left in sorted(unassigned, key=lambda u: u.journey.priority):
        if time.monotonic() > until:
            break
        if not left.fix:
            diagnosis = diagnoses.get(left.journey.journey_id)
            fixed[id(left)] = replace(left, fix=nearest_miss(
                left, vehicles, places, rosters, diagnosis.allowed if diagnosis else ()))
    done = [fixed.get(id(left), left) for left in unassigned]
    # An outward journey left out for its return: what would plan the return plans it.
    by_id = {u.journey.journey_id: u for u in done}
    for outward, back in latest_first(returns or {}):
        if outward in by_id and back in by_id \
                and by_id[outward].reason is Reason.RETURN_NOT_PLANNABLE:
            by_id[outward] = replace(by_id[outward], fix=return_fix(by_id[back]))
    return [by_id[u.journey.journey_id] for u in done]


def no_capacity(journey: Journey, vehicles: Sequence[VehicleShift], allowed: Sequence[int],
                 rosters: Sequence[Roster]) -> Unassigned:
    """Which resource ran out, and when: the vehicles that could carry it were all busy."""
    window_start = journey.pickup_window.earliest_min
    window_end = journey.dropoff_window.latest_min
    by_id = {r.vehicle.vehicle_id: r for r in rosters}
    busy = 0
    for index in allowed:
        roster = by_id.get(vehicles[index].vehicle_id)
        if roster and roster.stops[0].departure_min <= window_end \
                and roster.stops[-1].arrival_min >= window_start:
            busy += 1
    kind = "stretcher" if journey.mobility is Mobility.STRETCHER else (
        "wheelchair" if journey.mobility is Mobility.WHEELCHAIR else "seated")
    electric = sum(vehicles[i].fuel is Fuel.ELECTRIC for i in allowed)
    detail = (f"no room on the {len(allowed)} shift(s) that could carry this {kind} journey "
              f"{format_clock(window_start)}-{format_clock(window_end)} ({electric} of them "
              f"electric): {busy} were carrying other patients then, the rest could not fit it "
              "between their other work, break and shift end")
    return Unassigned(journey, Reason.NO_CAPACITY, detail)
