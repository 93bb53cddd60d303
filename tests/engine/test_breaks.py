"""A crew's break taken where the crew already is: the drive to a break visit goes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from pts_optimiser.domain.plan import Event, Origin, Stop
from pts_optimiser.domain.problem import Place
from pts_optimiser.engine.breaks import where_crew_is
from tests.helpers import far_from_base_day, line_day, solve_and_check

HOSPITAL = Place(53.0, -1.5, "Hospital", "H")


def _stop(event: Event, at: int, leg: int, seats: int, service: int = 0) -> Stop:
    return Stop(event, 0.0, 0.0, "", at, at, at + service, leg, seats)


def test_the_break_moves_to_the_hospital_the_crew_is_at() -> None:
    """Out to a hospital, back from it later: the break is taken there, not a drive away."""
    # Nodes: 0 start, 1 end, 2 home, 3 the hospital (drop-off), 4 the hospital (pickup of
    # the return), 5 home, 6 a break visit 30 beyond the base.
    data = line_day([0, 0, 10, 20, 20, 10, -30], [(2, 3, 100), (4, 5, 100)],
                    windows={6: (60, 200)}, breaks={6: 0})
    data = replace(data, service_min=[0, 0, 0, 0, 0, 0, 30])
    stops = [_stop(Event.START, 0, 0, 0), _stop(Event.PICKUP, 10, 10, 1),
             _stop(Event.DROPOFF, 20, 10, 0), _stop(Event.BREAK, 70, 50, 0, 30),
             _stop(Event.PICKUP, 150, 50, 1), _stop(Event.DROPOFF, 160, 10, 0),
             _stop(Event.END, 170, 10, 0)]
    moved = where_crew_is(stops, [0, 2, 3, 6, 4, 5, 1], data,
                          lambda node: HOSPITAL if node in (3, 4) else None)
    assert [s.event for s in moved] == [s.event for s in stops]
    brk = moved[3]
    assert (brk.lat, brk.lon, brk.label) == (HOSPITAL.lat, HOSPITAL.lon, HOSPITAL.label)
    assert (brk.service_start_min, brk.departure_min, brk.leg_m) == (60, 90, 0)
    assert sum(s.leg_m for s in moved) == 40  # from 140: the drive to the break visit gone
    # Every other stop keeps its time; the return's pickup is reached sooner and waits.
    assert [s.service_start_min for k, s in enumerate(moved) if k != 3] \
        == [s.service_start_min for k, s in enumerate(stops) if k != 3]
    assert moved[4].arrival_min == 90


def test_no_break_where_a_patient_is_on_board() -> None:
    """A hospital where the crew collects one patient with another aboard is no place for it."""
    # Nodes: 0 start, 1 end, 2 home A, 3 the hospital (B's pickup), 4 A's drop-off,
    # 5 B's drop-off, 6 a break visit beyond the base.
    data = line_day([0, 0, 10, 20, 30, 40, -50], [(2, 4, 100), (3, 5, 100)],
                    windows={6: (0, 500)}, breaks={6: 0})
    data = replace(data, service_min=[0, 0, 0, 0, 0, 0, 30])
    stops = [_stop(Event.START, 0, 0, 0), _stop(Event.PICKUP, 10, 10, 1),
             _stop(Event.PICKUP, 20, 10, 2), _stop(Event.DROPOFF, 30, 10, 1),
             _stop(Event.DROPOFF, 40, 10, 0), _stop(Event.BREAK, 130, 90, 0, 30),
             _stop(Event.END, 210, 50, 0)]
    kept = where_crew_is(stops, [0, 2, 3, 4, 5, 6, 1], data,
                         lambda node: HOSPITAL if node == 3 else None)
    assert kept == stops


def test_a_crew_working_far_from_its_base_breaks_at_its_hospital(tmp_path: Path) -> None:
    """A Derby crew's day in Chesterfield: its break at the hospital it waits at, checked.

    Its break visits are its base and the hospitals nearest it, all in Derby; the search
    drives there and back for the break, and the plan then takes it at Chesterfield Royal,
    between the clinic drop-off and the ride home.
    """
    bookings, fleet = far_from_base_day()
    # OR-Tools in this process: the portfolio's spawned searches, slow to start on a busy
    # machine, once left the day to the one-at-a-time plan, which breaks at a patient's home.
    plan, check = solve_and_check(tmp_path, bookings, fleet, strategy="single")
    assert check.ok, check.violations
    assert plan.origin is Origin.SEARCH
    assert len(plan.planned) == 4
    stops = plan.rosters[0].stops
    at = next(k for k, s in enumerate(stops) if s.event is Event.BREAK)
    brk = stops[at]
    assert brk.label == "Chesterfield Royal Hospital"
    # Taken at a stop of the run: no drive to it, and none from it to the next stop.
    assert brk.leg_m == 0 and stops[at + 1].leg_m == 0
