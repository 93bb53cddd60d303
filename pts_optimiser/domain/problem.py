"""The canonical, immutable description of one day to plan: journeys, vehicle shifts, places.

Every way in (the CSV readers, the generator, the benchmark readers) ends in a `Problem`.
Times are whole minutes after midnight of the service day; distances are metres.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from pts_optimiser.domain.config import Config
from pts_optimiser.domain.travel import TravelModel


class Purpose(StrEnum):
    """Why the patient travels."""

    DIALYSIS = "dialysis"
    DISCHARGE = "discharge"
    OUTPATIENT = "outpatient"
    ADMISSION = "admission"
    TRANSFER = "transfer"


class Mobility(StrEnum):
    """How the patient travels: which space on board they take."""

    SEATED = "seated"
    WHEELCHAIR = "wheelchair"
    STRETCHER = "stretcher"


class Need(StrEnum):
    """Needs flagged at booking."""

    TWO_CREW = "two_crew"
    TRAVEL_ALONE = "travel_alone"
    BARIATRIC = "bariatric"
    OXYGEN = "oxygen"


class Skill(StrEnum):
    """What a vehicle and crew can take beyond space on board."""

    BARIATRIC = "bariatric"
    OXYGEN = "oxygen"


class Fuel(StrEnum):
    """What the vehicle runs on."""

    DIESEL = "diesel"
    PETROL = "petrol"
    HYBRID = "hybrid"
    ELECTRIC = "electric"


@dataclass(frozen=True)
class Site:
    """A named place: hospital, renal unit or station."""

    code: str
    name: str
    lat: float
    lon: float
    kind: str


@dataclass(frozen=True)
class Place:
    """Where a stop happens, with what a crew is shown."""

    lat: float
    lon: float
    label: str = ""
    site: str = ""


@dataclass(frozen=True)
class Window:
    """Earliest and latest start of service, minutes after midnight."""

    earliest_min: int
    latest_min: int

    def __post_init__(self) -> None:
        if self.earliest_min > self.latest_min:
            raise ValueError(f"window {self.earliest_min}..{self.latest_min} is reversed")


@dataclass(frozen=True)
class Space:
    """Space on board: seats, wheelchair positions, stretcher positions."""

    seats: int = 0
    wheelchairs: int = 0
    stretchers: int = 0

    def fits_in(self, other: Space) -> bool:
        """True when every kind of space here is within `other`."""
        return (self.seats <= other.seats and self.wheelchairs <= other.wheelchairs
                and self.stretchers <= other.stretchers)


@dataclass(frozen=True)
class Journey:
    """One booked one-way journey, with its windows resolved from the policy."""

    journey_id: str
    patient_id: str
    purpose: Purpose
    mobility: Mobility
    escorts: int
    pickup: Place
    dropoff: Place
    pickup_window: Window
    dropoff_window: Window
    max_ride_min: int
    pickup_service_min: int
    dropoff_service_min: int
    needs: frozenset[Need]
    priority: int
    appointment_min: int | None = None
    ready_min: int | None = None
    service_date: str = ""
    extra: tuple[tuple[str, str], ...] = ()  # the booking's own extra columns, carried through
    # The journey that took the patient where this one collects them (the contract's
    # `return_of`, or the link inferred from the patient's day): this one brings them back.
    return_of: str | None = None

    @property
    def space(self) -> Space:
        """Space this journey takes on board, patient and escorts."""
        if self.mobility is Mobility.SEATED:
            return Space(seats=1 + self.escorts)
        if self.mobility is Mobility.WHEELCHAIR:
            return Space(seats=self.escorts, wheelchairs=1)
        return Space(seats=self.escorts, stretchers=1)

    @property
    def needs_two_crew(self) -> bool:
        """Stretcher patients and `two_crew` bookings need a crew of two."""
        return self.mobility is Mobility.STRETCHER or Need.TWO_CREW in self.needs


@dataclass(frozen=True)
class VehicleShift:
    """One vehicle on one shift: the unit a roster is made for."""

    vehicle_id: str
    vehicle_type: str
    base: Place
    capacity: Space
    crew: int
    shift_start_min: int
    shift_end_min: int
    break_min: int
    fuel: Fuel
    range_km: float | None
    skills: frozenset[Skill]
    extra: tuple[tuple[str, str], ...] = ()
    max_duration_min: int | None = None  # a limit on time out of base (benchmark instances)

    @property
    def shift_length_min(self) -> int:
        """Minutes from shift start to shift end."""
        return self.shift_end_min - self.shift_start_min


def incompatibility(vehicle: VehicleShift, journey: Journey) -> str | None:
    """Why this vehicle can never carry this journey, or None if it can."""
    need, have = journey.space, vehicle.capacity
    if need.stretchers > have.stretchers:
        return "no stretcher position"
    if need.wheelchairs > have.wheelchairs:
        return "no wheelchair space"
    if need.seats > have.seats:
        return f"{have.seats} seat(s), {need.seats} needed with escorts"
    if journey.needs_two_crew and vehicle.crew < 2:
        return "a crew of 1, 2 needed"
    for wanted, skill in ((Need.BARIATRIC, Skill.BARIATRIC), (Need.OXYGEN, Skill.OXYGEN)):
        if wanted in journey.needs and skill not in vehicle.skills:
            return f"not equipped for {skill}"
    return None


@dataclass(frozen=True)
class Problem:
    """One service day: what must be carried, what can carry it, under which policy."""

    journeys: tuple[Journey, ...]
    vehicles: tuple[VehicleShift, ...]
    sites: Mapping[str, Site]
    config: Config
    service_date: str = ""
    booking_columns: tuple[str, ...] = field(default=())  # input column order, extras included
    fleet_columns: tuple[str, ...] = field(default=())
    # Travel other than the configured model (benchmark instances: Euclidean distance).
    travel: TravelModel | None = None


# Above this many journeys a day is planned region by region (engine.regions): one model's
# matrices grow with the square of its places, and OR-Tools' construction of a 3,000-journey
# day did not finish in eight minutes. A 750-journey Derbyshire weekday is one region, the
# size the search is measured and tuned on; 1,500 journeys are two of them, 3,000 four.
REGION_JOURNEYS = 800


def legs_of_day(journeys: Iterable[Journey]) -> dict[str, tuple[str, str]]:
    """Journey id -> its leg: (patient, where from and to, and which such trip of the day).

    A regular's leg is the same trip on each of their days: from home to the unit, from
    the unit home. It is named by its places (to about 100 m), not by its rank in the day:
    until the thirty-seventh stop a day on which the patient made their own way there had
    its ride home ranked first, and compared with the other days' ways there (a 263 min
    pickup spread for a patient collected at 12:00 on both days).
    """
    def where(place: Place) -> str:
        return f"{place.lat:.3f},{place.lon:.3f}"

    by_patient: dict[str, list[Journey]] = defaultdict(list)
    for journey in journeys:
        by_patient[journey.patient_id].append(journey)
    found: dict[str, tuple[str, str]] = {}
    for patient, theirs in by_patient.items():
        seen: Counter[str] = Counter()
        for journey in sorted(theirs, key=lambda j: (j.pickup_window.earliest_min,
                                                    j.dropoff_window.latest_min,
                                                    j.journey_id)):
            trip = f"{where(journey.pickup)}>{where(journey.dropoff)}"
            found[journey.journey_id] = (patient, f"{trip}#{seen[trip]}")
            seen[trip] += 1
    return found


def as_planned(problem: Problem) -> Problem:
    """The day as the planner sees it.

    Where the policy lets crews charge during a shift (`[electric] charging_during_shift`),
    an electric vehicle's range does not bound the shift. Each patient's journeys are
    kept apart in time (`one_place_at_a_time`).
    """
    if problem.config.charging_during_shift:
        problem = replace(problem, vehicles=tuple(replace(v, range_km=None)
                                                  for v in problem.vehicles))
    return one_place_at_a_time(problem)


def one_place_at_a_time(problem: Problem) -> Problem:
    """The day with each patient's journeys apart in time, the one after the other.

    The windows alone let a return whose ready time falls before its outward journey's
    latest arrival be collected before the patient got there (on another vehicle, or on
    the same one while still aboard), and two bookings of one patient close together be
    made at once. Where a journey's window overlaps the patient's journey before it (its
    outward journey, or else the one due earlier), the later starts once the earlier can
    have set the patient down, its alighting done (`_parted`). Windows apart already are
    unchanged. A journey no cut parts from the one before it is the planner's to leave
    out (`patients_overlapping`), and the next is parted from the one before that.
    """
    cut, _ = _parting(problem.journeys)
    if not cut:
        return problem
    return replace(problem, journeys=tuple(cut.get(j.journey_id, j) for j in problem.journeys))


def patients_overlapping(problem: Problem) -> list[tuple[Journey, Journey]]:
    """Pairs of a patient's journeys, in turn, that no moment can part.

    Of a day `one_place_at_a_time` has parted: the later of each pair cannot be made
    while the earlier is (a patient booked for two clinics at once, a booking twice).
    """
    return _parting(problem.journeys)[1]


def _parting(journeys: tuple[Journey, ...]
             ) -> tuple[dict[str, Journey], list[tuple[Journey, Journey]]]:
    """The journeys whose windows are cut, and the pairs no cut parts (the later left out).

    Each patient's journeys in turn (`_in_turn`), each parted from the last one kept: a
    journey left out keeps nothing apart from the journeys after it.
    """
    cut: dict[str, Journey] = {}
    unparted: list[tuple[Journey, Journey]] = []
    for day in _in_turn(journeys):
        kept = day[0]
        for journey in day[1:]:
            earlier = cut.get(kept.journey_id, kept)
            later = cut.get(journey.journey_id, journey)
            if not _apart(earlier, later):
                parted = _parted(earlier, later)
                if parted is None:
                    unparted.append((earlier, later))
                    continue
                cut[earlier.journey_id], cut[later.journey_id] = parted
            kept = journey
    return cut, unparted


def _apart(earlier: Journey, later: Journey) -> bool:
    """Whether the earlier has set the patient down before the later can collect them."""
    return (earlier.dropoff_window.latest_min + earlier.dropoff_service_min
            <= later.pickup_window.earliest_min)


def _in_turn(journeys: tuple[Journey, ...]) -> list[list[Journey]]:
    """Each patient's journeys in the order they are made: by when each is due at the latest.

    By the latest pickup, not the earliest: a journey due by 08:30 goes before one that may
    start at 07:30 but is due by 09:40, where the other order parts them nowhere. A return
    comes after its outward journey whenever either is due (it is due no earlier).
    """
    by_id = {j.journey_id: j for j in journeys}
    due: dict[str, tuple[int, int]] = {}

    def due_of(journey: Journey, seen: frozenset[str] = frozenset()) -> tuple[int, int]:
        if journey.journey_id not in due:
            outward = by_id.get(journey.return_of or "")
            if outward is None or outward.journey_id in seen:  # a cycle is the reader's
                due[journey.journey_id] = (journey.pickup_window.latest_min, 0)
            else:
                before, depth = due_of(outward, seen | {journey.journey_id})
                due[journey.journey_id] = (max(before, journey.pickup_window.latest_min),
                                           depth + 1)
        return due[journey.journey_id]

    days: dict[str, list[Journey]] = {}
    for journey in journeys:
        days.setdefault(journey.patient_id, []).append(journey)
    for day in days.values():
        day.sort(key=lambda j: (*due_of(j), j.pickup_window.earliest_min, j.journey_id))
    return [day for day in days.values() if len(day) > 1]


def _parted(earlier: Journey, later: Journey) -> tuple[Journey, Journey] | None:
    """The two journeys with windows that keep them apart; None where none can.

    The later starts once the earlier can have set the patient down at the latest, where
    its window allows: the earlier (an appointment to keep) loses nothing. Else the two
    share the time both allow, cut halfway.
    """
    alight = earlier.dropoff_service_min
    drop, pick = earlier.dropoff_window, later.pickup_window
    if drop.latest_min + alight <= pick.latest_min:
        moment = drop.latest_min + alight
    else:
        lowest = max(pick.earliest_min, drop.earliest_min + alight)
        highest = min(pick.latest_min, drop.latest_min + alight)
        if lowest > highest:
            return None
        moment = (lowest + highest) // 2
    # Each keeps a pickup before its own drop-off can end: a journey cut on both sides
    # (parted from the one before it and the one after) could otherwise be left with
    # none, and no longer keep the two apart from each other (found by fuzzing).
    if moment + later.pickup_service_min > later.dropoff_window.latest_min \
            or earlier.pickup_window.earliest_min + earlier.pickup_service_min \
            > moment - alight:
        return None
    return (earlier if moment - alight >= drop.latest_min else
            replace(earlier, dropoff_window=Window(drop.earliest_min, moment - alight)),
            replace(later, pickup_window=Window(moment, pick.latest_min)))
