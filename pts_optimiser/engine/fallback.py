"""A simple construction for when the search finds nothing: one journey at a time.

Each vehicle shift carries one patient at a time, straight from pickup to drop-off, taking
journeys in order of pickup time, its break where it is when one is due. It
plans fewer journeys than the search, but it needs no solver and its plan keeps every
rule, so a night never ends without a plan.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pts_optimiser.domain.commitments import VehicleStart
from pts_optimiser.domain.config import BreakPolicy
from pts_optimiser.domain.plan import Event, Roster, Stop
from pts_optimiser.domain.problem import Journey, Place, Problem, VehicleShift
from pts_optimiser.engine.misses import lone_trip
from pts_optimiser.engine.places import DayPlaces


@dataclass
class _Run:
    """A vehicle shift being filled: where it is, from when it is free, what it has done."""

    vehicle: VehicleShift
    place: Place
    free_min: int
    metres: int = 0
    break_taken: bool = False
    stops: list[Stop] = field(default_factory=list)
    kept: int = 0  # stops made before a re-plan: never moved
    takes_new: bool = True  # False for a vehicle taken off the road


@dataclass(frozen=True)
class _Trip:
    break_start_min: int | None  # a break taken before setting off, where the vehicle is
    pickup_min: int
    dropoff_arrival_min: int  # before dropoff_min where the patient waits aboard
    dropoff_min: int
    metres: int


def _break_window(vehicle: VehicleShift, rules: BreakPolicy) -> tuple[int, int] | None:
    if vehicle.shift_length_min <= rules.required_over_min:
        return None
    return (vehicle.shift_start_min + rules.earliest_after_start_min,
            vehicle.shift_start_min + rules.latest_after_start_min)


def _finish_ok(run: _Run, place: Place, free_min: int, break_taken: bool,
               places: DayPlaces, rules: BreakPolicy) -> bool:
    """Whether the shift can still take its break (if due) and be home in time."""
    home = free_min + int(places.minutes[places.of(place), places.of(run.vehicle.base)])
    window = _break_window(run.vehicle, rules)
    if window is None or break_taken:
        return home <= run.vehicle.shift_end_min
    start = max(free_min, window[0])
    return start <= window[1] and home + (start - free_min) + run.vehicle.break_min \
        <= run.vehicle.shift_end_min


def _try(run: _Run, journey: Journey, places: DayPlaces, rules: BreakPolicy) -> _Trip | None:
    if not run.takes_new:
        return None
    vehicle = run.vehicle
    here, pickup, dropoff = (places.of(run.place), places.of(journey.pickup),
                             places.of(journey.dropoff))
    direct = int(places.minutes[pickup, dropoff])
    window = _break_window(vehicle, rules)
    for break_first in (False, True):
        if break_first and (window is None or run.break_taken):
            return None
        free = run.free_min
        break_start = None
        if break_first:
            assert window is not None
            break_start = max(free, window[0])
            if break_start > window[1]:
                return None
            free = break_start + vehicle.break_min
        # Timed as diagnosis times a journey alone (`misses.lone_trip`): where the windows
        # ask for it, the patient waits aboard for the drop-off window, as the search may.
        # Until the thirty-seventh stop this timed it apart, with no such wait, and left
        # out every journey whose windows ask for one.
        alone = lone_trip(journey, places, free, run.place, vehicle.base)
        start_p, start_d = alone.pickup_min, alone.dropoff_min
        arrive_d = start_p + journey.pickup_service_min + direct
        if start_p > journey.pickup_window.latest_min or \
                start_d > journey.dropoff_window.latest_min or \
                start_d - (start_p + journey.pickup_service_min) > journey.max_ride_min:
            continue
        done = start_d + journey.dropoff_service_min
        taken = run.break_taken or break_first
        # Without its break a long shift may not run past the latest break start.
        if window is not None and not taken and done > window[1]:
            continue
        metres = int(places.metres[here, pickup] + places.metres[pickup, dropoff])
        home_m = int(places.metres[dropoff, places.of(vehicle.base)])
        if vehicle.range_km is not None and \
                run.metres + metres + home_m > vehicle.range_km * 1000:
            return None
        if _finish_ok(run, journey.dropoff, done, taken, places, rules):
            return _Trip(break_start, start_p, arrive_d, start_d, metres)
    return None


def _stop(event: Event, place: Place, arrival: int, start: int, departure: int, leg_m: int,
          journey: Journey | None = None, on_board: bool = False) -> Stop:
    space = journey.space if journey is not None and on_board else None
    return Stop(event, place.lat, place.lon, place.label or place.site, arrival, start,
                departure, leg_m, space.seats if space else 0, space.wheelchairs if space else 0,
                space.stretchers if space else 0, journey)


def _commit(run: _Run, journey: Journey, trip: _Trip, places: DayPlaces) -> None:
    vehicle = run.vehicle
    here = places.of(run.place)
    if not run.stops:
        # Leave the base just in time (after a break taken there, if one came first).
        first_leg = int(places.minutes[here, places.of(journey.pickup)])
        leave = trip.break_start_min if trip.break_start_min is not None \
            else trip.pickup_min - first_leg
        leave = max(vehicle.shift_start_min, leave)
        run.stops.append(_stop(Event.START, vehicle.base, leave, leave, leave, 0))
        run.free_min = leave
    if trip.break_start_min is not None:
        run.stops.append(_stop(Event.BREAK, run.place, trip.break_start_min,
                               trip.break_start_min, trip.break_start_min + vehicle.break_min,
                               0))
        run.break_taken = True
    pickup, dropoff = places.of(journey.pickup), places.of(journey.dropoff)
    leg_to_pickup = int(places.minutes[places.of(run.place), pickup])
    depart_pickup = trip.pickup_min + journey.pickup_service_min
    # Set off so as to arrive as the pickup starts: any wait is taken before leaving (but a
    # stop kept from before a re-plan is not moved: then the wait is at the door).
    previous = run.stops[-1]
    if len(run.stops) > run.kept:
        previous = _replace_departure(previous, max(previous.departure_min,
                                                    trip.pickup_min - leg_to_pickup))
        run.stops[-1] = previous
    # A run resumed where it is not at its last stop (back at its base since) sets off from
    # there when it is free, not from its last stop's departure.
    arrival = max(previous.departure_min, run.free_min) + leg_to_pickup
    run.stops.append(_stop(Event.PICKUP, journey.pickup, arrival, trip.pickup_min,
                           depart_pickup, int(places.metres[places.of(run.place), pickup]),
                           journey, on_board=True))
    run.stops.append(_stop(Event.DROPOFF, journey.dropoff, trip.dropoff_arrival_min,
                           trip.dropoff_min, trip.dropoff_min + journey.dropoff_service_min,
                           int(places.metres[pickup, dropoff]), journey))
    run.place = journey.dropoff
    run.free_min = trip.dropoff_min + journey.dropoff_service_min
    run.metres += trip.metres


def _replace_departure(stop: Stop, departure: int) -> Stop:
    start = stop.service_start_min
    if stop.event is Event.START:  # the start row is one moment: leaving the base
        return _stop(Event.START, Place(stop.lat, stop.lon, stop.label), departure, departure,
                     departure, 0)
    return Stop(stop.event, stop.lat, stop.lon, stop.label, stop.arrival_min, start, departure,
                stop.leg_m, stop.seats_used, stop.wheelchairs_used, stop.stretchers_used,
                stop.journey)


def _resume(vehicle: VehicleShift, begin: VehicleStart, places: DayPlaces) -> _Run:
    """A run that carries on from its stops so far, first dropping whoever is aboard."""
    run = _Run(vehicle, begin.place, begin.free_min, begin.metres, begin.break_taken,
               list(begin.done), 0 if begin.idle else len(begin.done), not begin.off_road)
    aboard = list(begin.on_board)
    for journey, left_pickup in sorted(aboard, key=lambda item: item[1]):
        here, there = places.of(run.place), places.of(journey.dropoff)
        arrival = run.free_min + int(places.minutes[here, there])
        start = max(arrival, journey.dropoff_window.earliest_min)
        if start > min(journey.dropoff_window.latest_min, left_pickup + journey.max_ride_min):
            # No drop-off within the rules: the run is not written with a broken one, and
            # the re-plan names the patient it leaves aboard (replan.StrandedError).
            continue
        aboard = [(j, t) for j, t in aboard if j.journey_id != journey.journey_id]
        space = [j.space for j, _ in aboard]
        run.stops.append(Stop(Event.DROPOFF, journey.dropoff.lat, journey.dropoff.lon,
                              journey.dropoff.label or journey.dropoff.site, arrival, start,
                              start + journey.dropoff_service_min,
                              int(places.metres[here, there]), sum(s.seats for s in space),
                              sum(s.wheelchairs for s in space),
                              sum(s.stretchers for s in space), journey))
        run.place = journey.dropoff
        run.free_min = start + journey.dropoff_service_min
        run.metres += int(places.metres[here, there])
    return run


def _close(run: _Run, places: DayPlaces, rules: BreakPolicy) -> Roster:
    vehicle = run.vehicle
    window = _break_window(vehicle, rules)
    if window is not None and not run.break_taken:
        start = max(run.free_min, window[0])
        run.stops.append(_stop(Event.BREAK, run.place, start, start, start + vehicle.break_min,
                               0))
        run.free_min = start + vehicle.break_min
    here, base = places.of(run.place), places.of(vehicle.base)
    back = run.free_min + int(places.minutes[here, base])
    run.stops.append(_stop(Event.END, vehicle.base, back, back, back,
                           int(places.metres[here, base])))
    return Roster(vehicle, tuple(run.stops))


def one_at_a_time(problem: Problem, places: DayPlaces, allowed: Mapping[str, Sequence[int]],
                  begun: Sequence[VehicleStart | None] = (),
                  returns: Mapping[str, str] | None = None
                  ) -> tuple[list[Roster], list[Journey]]:
    """Rosters carrying one patient at a time, and the journeys they could not fit.

    `allowed` gives, per journey id, the vehicle indices that could carry it alone. When
    re-planning, `begun` gives each vehicle's stops so far: those stay, and whoever is on
    board is dropped off first. `returns` (outward journey id -> its return's id): an
    outward journey is planned only if its return is, the pair or neither.
    """
    # Runs only grow forwards, so an outward journey cannot be taken off once its return is
    # found not to fit: the day is planned again without it, until no patient is left out.
    returns = dict(returns or {})
    skipped: set[str] = set()
    while True:
        rosters, left = _one_pass(problem, places, {j: v for j, v in allowed.items()
                                                    if j not in skipped}, begun)
        planned = {j.journey_id for roster in rosters for j in roster.journeys}
        stranded = {out for out, back in returns.items()
                    if out in planned and back not in planned}
        if not stranded:
            return rosters, left + [j for j in problem.journeys if j.journey_id in skipped]
        skipped |= stranded


def _one_pass(problem: Problem, places: DayPlaces, allowed: Mapping[str, Sequence[int]],
              begun: Sequence[VehicleStart | None]) -> tuple[list[Roster], list[Journey]]:
    rules = problem.config.breaks
    runs = [_Run(v, v.base, v.shift_start_min) if not begun or begun[i] is None
            else _resume(v, begun[i], places)  # type: ignore[arg-type]
            for i, v in enumerate(problem.vehicles)]
    left: list[Journey] = []
    # In time order: a run only grows forwards, so an early journey taken late is lost.
    order = sorted((j for j in problem.journeys if j.journey_id in allowed),
                   key=lambda j: (j.pickup_window.earliest_min, j.priority, j.journey_id))
    for journey in order:
        best: tuple[int, int, _Trip] | None = None
        for index in allowed[journey.journey_id]:
            trip = _try(runs[index], journey, places, rules)
            if trip is not None and (best is None or trip.dropoff_min < best[0]):
                best = (trip.dropoff_min, index, trip)
        if best is None:
            left.append(journey)
        else:
            _commit(runs[best[1]], journey, best[2], places)
    rosters = [_close(run, places, rules) for run in runs if run.stops]
    return rosters, left
