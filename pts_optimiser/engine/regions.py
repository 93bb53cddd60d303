"""A day too large for one model, planned region by region.

The search's travel and cost matrices grow with the square of the day's places, in the
command and in each search process: a 3,000-journey day would need ~26 GiB, and OR-Tools'
construction alone does not finish in eight minutes (docs/limits.md). Above
`REGION_JOURNEYS` the day is split into regions of about that many journeys, each planned
with its own vehicles by the usual search, one after the other within the one deadline;
memory then grows with the size of a region, not of the day.

A patient's whole day stays in one region (round trips are never split), and so does every
journey committed to a vehicle (re-planning, kept crews, continuity). Journeys are split by
where their patient's day starts (recursive bisection, balanced by journeys); each kind of
vehicle shift (type, seats, crew, skills, fuel, hours) is shared among the regions in
proportion to their journeys, each vehicle to the nearest region still owed one of its kind,
so that every region has the stretcher vehicles and late shifts its share of the day needs.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from pts_optimiser.domain.commitments import Commitments
from pts_optimiser.domain.plan import Event, Origin, Plan, Reason, Unassigned
from pts_optimiser.domain.problem import REGION_JOURNEYS, Journey, Place, Problem, VehicleShift


@dataclass(frozen=True)
class Region:
    """Part of the day: its own journeys and vehicles, and the commitments that touch them."""

    problem: Problem
    commitments: Commitments


def region_count(problem: Problem) -> int:
    """How many regions the day is planned in: 1 up to REGION_JOURNEYS journeys."""
    return max(1, math.ceil(len(problem.journeys) / REGION_JOURNEYS))


def split(problem: Problem, commitments: Commitments, count: int,
          able: Mapping[str, frozenset[str]] | None = None) -> list[Region]:
    """The day as `count` regions (fewer if it has fewer patients or vehicles).

    `able` (journey id -> the vehicles that could carry it alone, engine.explain): a patient
    whose region has no vehicle able to make one of their journeys that another region
    has goes to the nearest region able to make them all.
    """
    units = _patients(problem.journeys)
    count = max(1, min(count, len(units), len(problem.vehicles)))
    groups = _bisect(units, count)
    shares = [sum(len(unit) for unit in group) for group in groups]
    centres = [_centre([_home(unit) for unit in group for _ in unit]) for group in groups]
    region_of_vehicle = _share_vehicles(problem.vehicles, centres, shares)
    staffed = set(region_of_vehicle.values())

    def nearest_staffed(index: int) -> int:
        if index in staffed:
            return index
        return min(staffed, key=lambda k: math.dist(centres[index], centres[k]))

    region_of_journey = {j.journey_id: nearest_staffed(index)
                         for index, group in enumerate(groups) for unit in group for j in unit}
    if able:
        _to_able_regions(units, region_of_journey, region_of_vehicle, centres, able)
    # A patient with a journey committed to a vehicle goes where that vehicle went.
    tied = _ties(commitments)
    for unit in units:
        owners = [tied[j.journey_id] for j in unit if j.journey_id in tied]
        if owners and owners[0] in region_of_vehicle:
            for journey in unit:
                region_of_journey[journey.journey_id] = region_of_vehicle[owners[0]]
    regions = []
    for index in range(len(groups)):
        journeys = tuple(j for j in problem.journeys if region_of_journey[j.journey_id] == index)
        vehicles = tuple(v for v in problem.vehicles if region_of_vehicle[v.vehicle_id] == index)
        if not journeys and not vehicles:
            continue
        # A region's share of the sketch's allowance, by its journeys, rounded down: the
        # regions together never give up more than the day may.
        allowance = commitments.sketch_allowance * len(journeys) // max(1, len(problem.journeys))
        regions.append(Region(replace(problem, journeys=journeys, vehicles=vehicles),
                              _within(commitments, {j.journey_id for j in journeys},
                                      {v.vehicle_id for v in vehicles}, allowance)))
    return regions


def _to_able_regions(units: Sequence[Sequence[Journey]], region_of_journey: dict[str, int],
                     region_of_vehicle: Mapping[str, int],
                     centres: Sequence[tuple[float, float]],
                     able: Mapping[str, frozenset[str]]) -> None:
    """Move each patient to the nearest region able to make all their journeys, if theirs is not."""
    for unit in units:
        needs = [able.get(j.journey_id, frozenset()) for j in unit]
        needs = [vehicles for vehicles in needs if vehicles]  # unservable anywhere: no matter
        if not needs:
            continue
        regions_able = [{region_of_vehicle[v] for v in vehicles} for vehicles in needs]
        here = region_of_journey[unit[0].journey_id]
        if all(here in found for found in regions_able):
            continue
        everywhere = set.intersection(*regions_able)
        if not everywhere:
            continue
        there = min(everywhere, key=lambda k: math.dist(centres[here], centres[k]))
        for journey in unit:
            region_of_journey[journey.journey_id] = there


def across_seam(plan: Plan, following: Region, able: Mapping[str, frozenset[str]],
                commitments: Commitments) -> tuple[Journey, ...]:
    """The patients a region's plan left out whole that the following region could carry.

    Their journeys are tried again with the following region's vehicles (the seam between
    two regions is where a patient's nearest free vehicle may be on the other side). Only
    patients none of whose journeys is planned, nothing committed, and every journey of
    theirs servable alone by one of that region's vehicles.
    """
    vehicles = {v.vehicle_id for v in following.problem.vehicles}
    fixed = set(_ties(commitments)) | commitments.bring_back
    journeys_of = Counter(j.patient_id for j in plan.problem.journeys)
    carried: list[Journey] = []
    for unit in _patients(u.journey for u in plan.unassigned if u.reason is not Reason.CANCELLED):
        if (len(unit) == journeys_of[unit[0].patient_id]
                and not any(j.journey_id in fixed for j in unit)
                and all(able.get(j.journey_id, frozenset()) & vehicles for j in unit)):
            carried += unit
    return tuple(carried)


def merged(problem: Problem, plans: Sequence[Plan], seconds: float,
           servable_twice: int = 0) -> Plan:
    """One plan of the whole day from its regions' plans.

    A journey carried across a seam is decided by the last region that had it: left out by
    one region and planned (or left out again) by the next, it is reported once;
    `servable_twice` such journeys were servable in both, and are counted once.
    """
    by_vehicle = {roster.vehicle.vehicle_id: roster for plan in plans for roster in plan.rosters}
    rosters = tuple(by_vehicle[v.vehicle_id] for v in problem.vehicles
                    if v.vehicle_id in by_vehicle)
    decided: set[str] = set()
    kept: list[list[Unassigned]] = []
    for plan in reversed(plans):
        kept.append([u for u in plan.unassigned if u.journey.journey_id not in decided])
        decided |= {j.journey_id for j in plan.problem.journeys}
    unassigned = tuple(u for found in reversed(kept) for u in found)
    origins = {plan.origin for plan in plans} - {Origin.NOTHING}
    origin = (Origin.NOTHING if not origins else Origin.FALLBACK if origins == {Origin.FALLBACK}
              else Origin.SEARCH if Origin.SEARCH in origins else Origin.FALLBACK_KEPT)
    statuses = [str(plan.search.get("status", "")) for plan in plans]
    search: dict[str, object] = {
        "status": f"{len(plans)} regions planned one after another: " + "; ".join(
            f"region {k + 1} ({len(plan.problem.journeys)} journeys, "
            f"{len(plan.problem.vehicles)} shifts): {status}"
            for k, (plan, status) in enumerate(zip(plans, statuses, strict=True))),
        "regions": len(plans)}
    for key in ("objective", "solutions", "servable", "carried", "fallback_served"):
        values = [plan.search.get(key) for plan in plans]
        numbers = [value for value in values if isinstance(value, int)]
        if numbers:
            search[key] = sum(numbers) - (servable_twice if key == "servable" else 0)
    for key in ("strategy", "travel", "travel_warning"):
        found = [plan.search[key] for plan in plans if key in plan.search]
        if found:
            search[key] = found[0]
    return Plan(problem, rosters, unassigned, seconds, search, origin)


def _patients(journeys: Iterable[Journey]) -> list[list[Journey]]:
    """Each patient's journeys of the day, linked returns with their outward journeys."""
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        while parent.setdefault(key, key) != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    journeys = list(journeys)
    for journey in journeys:
        if not journey.patient_id:
            continue
        parent[root("j:" + journey.journey_id)] = root("p:" + journey.patient_id)
    for journey in journeys:
        if journey.return_of:
            parent[root("j:" + journey.return_of)] = root("j:" + journey.journey_id)
    units: dict[str, list[Journey]] = {}
    for journey in journeys:
        units.setdefault(root("j:" + journey.journey_id), []).append(journey)
    return list(units.values())


def _home(unit: Sequence[Journey]) -> tuple[float, float]:
    """Where the patient's day starts: the first pickup."""
    first = min(unit, key=lambda j: j.pickup_window.earliest_min)
    return first.pickup.lat, first.pickup.lon


def _centre(points: Sequence[tuple[float, float]]) -> tuple[float, float]:
    if not points:
        return 0.0, 0.0
    return (sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points))


def _bisect(units: list[list[Journey]], count: int) -> list[list[list[Journey]]]:
    """`count` groups of patients, cut across the wider of north-south and east-west."""
    if count <= 1 or len(units) <= 1:
        return [units]
    points = [_home(unit) for unit in units]
    lats, lons = [p[0] for p in points], [p[1] for p in points]
    squeeze = math.cos(math.radians(sum(lats) / len(lats)))  # a degree east is shorter
    axis = 0 if max(lats) - min(lats) >= (max(lons) - min(lons)) * squeeze else 1
    ordered = sorted(units, key=lambda unit: _home(unit)[axis])
    left_count = count // 2
    wanted = sum(len(unit) for unit in units) * left_count / count
    cut, running = 0, 0
    while cut < len(ordered) - 1 and running + len(ordered[cut]) / 2 < wanted:
        running += len(ordered[cut])
        cut += 1
    cut = max(1, cut)
    return _bisect(ordered[:cut], left_count) + _bisect(ordered[cut:], count - left_count)


def _kind(vehicle: VehicleShift) -> tuple[object, ...]:
    return (vehicle.vehicle_type, vehicle.capacity, vehicle.crew, tuple(sorted(vehicle.skills)),
            vehicle.fuel, vehicle.shift_start_min // 60, vehicle.shift_end_min // 60)


def _share_vehicles(vehicles: Sequence[VehicleShift], centres: Sequence[tuple[float, float]],
                    shares: Sequence[int]) -> dict[str, int]:
    """Region of each vehicle: every kind shared in proportion to the regions' journeys.

    A vehicle goes to the nearest of the regions owed most by its kind and by the fleet as
    a whole (what a region is owed: its share of those placed so far, less what it has).
    """
    total = sum(shares) or 1
    kinds: dict[tuple[object, ...], list[VehicleShift]] = {}
    for vehicle in vehicles:
        kinds.setdefault(_kind(vehicle), []).append(vehicle)
    region_of: dict[str, int] = {}
    given_all = [0] * len(centres)
    # The largest kinds first, so that the fleet's balance is left to the small ones.
    for group in sorted(kinds.values(), key=len, reverse=True):
        given = [0] * len(centres)
        for placed, vehicle in enumerate(group):
            owed = [share / total * (placed + 1) - given[k]
                    + share / total * (len(region_of) + 1) - given_all[k]
                    for k, share in enumerate(shares)]
            most = max(owed)
            candidates = [k for k, amount in enumerate(owed) if amount >= most - 0.5]
            region = min(candidates, key=_distance_to(vehicle, centres))
            given[region] += 1
            given_all[region] += 1
            region_of[vehicle.vehicle_id] = region
    return region_of


def _distance_to(vehicle: VehicleShift, centres: Sequence[tuple[float, float]]
                 ) -> Callable[[int], float]:
    squeeze = math.cos(math.radians(vehicle.base.lat))

    def distance(region: int) -> float:
        lat, lon = centres[region]
        return math.hypot(lat - vehicle.base.lat, (lon - vehicle.base.lon) * squeeze)
    return distance


def _ties(commitments: Commitments) -> dict[str, str]:
    """Journey id -> the vehicle it is committed to or asked of, the firmest first."""
    tied: dict[str, str] = {}
    for vehicle_id, start in commitments.starts.items():
        for journey, _ in start.on_board:
            tied.setdefault(journey.journey_id, vehicle_id)
        for stop in start.done:
            if stop.journey is not None:
                tied.setdefault(stop.journey.journey_id, vehicle_id)
    for journey_id, vehicle_id in commitments.keep_on.items():
        tied.setdefault(journey_id, vehicle_id)
    for runs in (commitments.warm, commitments.sketch):
        for vehicle_id, run in runs.items():
            for _, journey_id, _ in run:
                tied.setdefault(journey_id, vehicle_id)
    for journey_id, preference in commitments.prefer.items():
        if preference.vehicle_ids:
            tied.setdefault(journey_id, preference.vehicle_ids[0])
    return tied


Runs = Mapping[str, Sequence[tuple[Event, str, Place]]]


def _within(commitments: Commitments, journeys: set[str], vehicles: set[str],
            sketch_allowance: int) -> Commitments:
    """The commitments that touch a region's journeys and vehicles."""
    def runs(given: Runs) -> Runs:
        return {v: [entry for entry in run if entry[1] in journeys]
                for v, run in given.items() if v in vehicles}

    return Commitments(
        starts={v: s for v, s in commitments.starts.items() if v in vehicles},
        keep_on={j: v for j, v in commitments.keep_on.items() if j in journeys and v in vehicles},
        warm=runs(commitments.warm),
        bring_back=commitments.bring_back & journeys,
        prefer={j: replace(p, vehicle_ids=tuple(v for v in p.vehicle_ids if v in vehicles))
                for j, p in commitments.prefer.items() if j in journeys},
        together=[kept for group in commitments.together
                  if len(kept := tuple(j for j in group if j in journeys)) > 1],
        sketch=runs(commitments.sketch), sketch_allowance=sketch_allowance)
