"""A solved day: rosters per vehicle shift, unassigned journeys with reasons, key figures.

`solve()` returns a `Plan`; the writers, the summary and (later) maps and reports all
take it, so every output tells the same story.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from pts_optimiser.domain.problem import Journey, Problem, VehicleShift


class Event(StrEnum):
    """What happens at a stop."""

    START = "start"
    PICKUP = "pickup"
    DROPOFF = "dropoff"
    BREAK = "break"
    END = "end"


@dataclass(frozen=True)
class Stop:
    """One line of a run sheet: where, when, what, and what is on board after it."""

    event: Event
    lat: float
    lon: float
    label: str
    arrival_min: int
    service_start_min: int
    departure_min: int
    leg_m: int  # road distance from the previous stop
    seats_used: int = 0
    wheelchairs_used: int = 0
    stretchers_used: int = 0
    journey: Journey | None = None


@dataclass(frozen=True)
class Roster:
    """The driving order of one vehicle shift."""

    vehicle: VehicleShift
    stops: tuple[Stop, ...]

    @property
    def journeys(self) -> tuple[Journey, ...]:
        """Journeys this shift carries, in pickup order."""
        return tuple(s.journey for s in self.stops if s.event is Event.PICKUP and s.journey)

    @property
    def used(self) -> bool:
        """True when the shift carries anyone."""
        return any(s.event is Event.PICKUP for s in self.stops)

    @property
    def distance_m(self) -> int:
        """Road metres driven on the shift."""
        return sum(s.leg_m for s in self.stops)


class Reason(StrEnum):
    """Stable codes for why a journey is not planned."""

    NO_COMPATIBLE_VEHICLE = "no_compatible_vehicle"
    WINDOW_SHORTER_THAN_TRIP = "window_shorter_than_trip"
    NO_SHIFT_COVERS_WINDOW = "no_shift_covers_window"
    BEYOND_EV_RANGE = "beyond_ev_range"
    NO_CAPACITY = "no_capacity"
    NO_PLAN_FOUND = "no_plan_found"
    CANCELLED = "cancelled"
    # An outward journey left out because the patient's ride back cannot be planned.
    RETURN_NOT_PLANNABLE = "return_not_plannable"
    # Booked while the patient is still on another of their journeys (no moment parts them).
    PATIENT_ON_ANOTHER_JOURNEY = "patient_on_another_journey"


@dataclass(frozen=True)
class Unassigned:
    """A journey left out of the plan, and why, in words a coordinator can act on."""

    journey: Journey
    reason: Reason
    detail: str
    fix: str = ""  # what would let it be planned (the nearest miss), when known

    @property
    def text(self) -> str:
        """The reason column of unassigned.csv."""
        return f"{self.reason}: {self.detail}"


class Origin(StrEnum):
    """Where a plan's runs came from."""

    SEARCH = "search"  # the routing search's plan (OR-Tools, ruin and recreate)
    FALLBACK = "fallback"  # one journey at a time: the search found nothing in time
    FALLBACK_KEPT = "fallback_kept"  # one at a time, which served more than the search's
    NOTHING = "nothing"  # nothing was left to plan


@dataclass(frozen=True)
class Plan:
    """The outcome of planning one day."""

    problem: Problem
    rosters: tuple[Roster, ...]
    unassigned: tuple[Unassigned, ...]
    solve_seconds: float
    search: Mapping[str, object] = field(default_factory=dict)  # how the plan was found
    origin: Origin = Origin.SEARCH

    @property
    def planned(self) -> tuple[Journey, ...]:
        """Every journey in a roster."""
        return tuple(j for roster in self.rosters for j in roster.journeys)
