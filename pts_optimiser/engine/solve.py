"""Planning a day: diagnose what cannot be planned, build the routing input, read routes back.

Journeys that no vehicle could carry even alone are diagnosed here, before the search,
with a reason a coordinator can act on; the rest go to the routing model, and whatever it
leaves out is explained by which vehicles were busy when.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pts_optimiser.domain.commitments import NOTHING_COMMITTED, Commitments
from pts_optimiser.domain.config import Config
from pts_optimiser.domain.deadline import Deadline
from pts_optimiser.domain.plan import Origin, Plan, Reason, Roster, Stop, Unassigned
from pts_optimiser.domain.problem import (
    Journey,
    Problem,
    as_planned,
)
from pts_optimiser.engine.decode import from_last_stop, read_routes
from pts_optimiser.engine.encode import (
    Encoded,
    encode,
    routes_of,
    warm_routes,
)
from pts_optimiser.engine.explain import (
    diagnose,
    no_capacity,
    patients_left_somewhere,
    returns_first,
    with_fixes,
)
from pts_optimiser.engine.fallback import one_at_a_time
from pts_optimiser.engine.model import (
    RoutingOutcome,
    SearchSettings,
    solve_routing,
)
from pts_optimiser.engine.places import day_places, with_roads
from pts_optimiser.engine.recreate import with_breaks
from pts_optimiser.engine.regions import across_seam, merged, region_count, split
from pts_optimiser.engine.strategies import (
    SPLIT_FROM_JOURNEYS,
    ProgressFn,
    carried_whole,
    least_search_s,
    portfolio,
    whole_then_halves,
)

STRATEGIES = ("split", "single", "portfolio", "one-core")


@dataclass(frozen=True)
class SolveOptions:
    """Limits of one solve."""

    time_limit_s: float = 120.0
    first_solution: str = "LOCAL_CHEAPEST_INSERTION"
    metaheuristic: str = "GUIDED_LOCAL_SEARCH"
    # "portfolio": two different searches, one a core each, each OR-Tools then ruin and
    # recreate, the better plan kept; "split": the whole day, then its two halves on two
    # cores; "single": one OR-Tools search on one core; "one-core": the portfolio's usual
    # search alone on one core, OR-Tools then ruin and recreate (or ruin and recreate from a
    # sketch), for a caller running several solves at once. Portfolio is the default: on
    # generated Derbyshire weekdays it served more with fewer km than split
    # (benchmarks/README.md).
    strategy: str = "portfolio"
    seed: int = 0  # 0 keeps the bookings' order; others shuffle the order journeys are offered
    # A break moved, once the routes are timed, to where the crew already is (engine.breaks);
    # off for a caller that times runs with their breaks at break visits only (the board).
    breaks_where_crew_is: bool = True

    def __post_init__(self) -> None:
        if self.time_limit_s <= 0:
            raise ValueError("time_limit_s must be positive")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}")


def solve(problem: Problem, options: SolveOptions, progress: ProgressFn | None = None,
          commitments: Commitments = NOTHING_COMMITTED, deadline: Deadline | None = None
          ) -> Plan:
    """Plan the day by the deadline; every journey is planned or explained.

    `commitments`: what is already decided (re-planning part-way through the day, crews
    kept, the old plan to start from, rides back owed); see domain.commitments.
    `deadline`: when the plan must be ready (default: `options.time_limit_s` from now).
    """
    started = time.monotonic()
    deadline = deadline or Deadline.within(options.time_limit_s, started)
    problem = with_roads(problem, deadline.remaining_s())
    if (count := region_count(problem)) > 1:
        return _by_regions(problem, options, progress, commitments, deadline, count)
    return _solve_one(problem, options, progress, commitments, deadline)


def _by_regions(problem: Problem, options: SolveOptions, progress: ProgressFn | None,
                commitments: Commitments, deadline: Deadline, count: int) -> Plan:
    """Each region planned in turn (engine.regions), the time shared by their journeys."""
    started = time.monotonic()
    planned = as_planned(problem)
    # Which vehicles could make each journey alone, over the whole day's places (a matrix
    # over distinct places, far smaller than the search's over nodes).
    places = day_places(planned)
    able = {j.journey_id: frozenset(planned.vehicles[i].vehicle_id
                                    for i in diagnose(j, planned.vehicles, places).allowed)
            for j in planned.journeys}
    del places
    regions = split(problem, commitments, count, able)
    plans: list[Plan] = []
    carried: tuple[Journey, ...] = ()
    servable_twice = 0
    tried_again: set[str] = set()
    for index, region in enumerate(regions):
        # Patients the region before left out whole, tried again here (across the seam).
        part = replace(region.problem, journeys=region.problem.journeys + carried)
        still = len(carried) + sum(len(r.problem.journeys) for r in regions[index:])
        share = deadline.share(len(part.journeys) / max(1, still))
        before = sum(len(plan.planned) for plan in plans)
        report = None if progress is None else (
            lambda served, objective, seconds, before=before: progress(
                before + served, objective, time.monotonic() - started))
        plans.append(_solve_one(part, options, report, region.commitments, share))
        carried = (across_seam(plans[-1], regions[index + 1], able, commitments)
                   if index + 1 < len(regions) else ())
        vehicles = {v.vehicle_id for v in part.vehicles}
        servable_twice += sum(1 for j in carried if able[j.journey_id] & vehicles)
        tried_again |= {j.journey_id for j in carried}
    plan = merged(problem, plans, time.monotonic() - started, servable_twice)
    served_ids = {j.journey_id for j in plan.planned}
    return replace(plan, search={**plan.search, "across_seams": len(tried_again),
                                 "across_seams_planned": len(tried_again & served_ids)})


def _solve_one(problem: Problem, options: SolveOptions, progress: ProgressFn | None,
               commitments: Commitments, deadline: Deadline) -> Plan:
    """Plan one model's worth of the day."""
    started = time.monotonic()
    given, problem = problem, as_planned(problem)
    encoded = encode(problem, commitments, options.seed)
    # Never an empty plan: one journey at a time needs no search and keeps every rule. It
    # is the plan to beat, and where ruin and recreate starts if OR-Tools has none.
    fallback = fallback_plan(problem, encoded) if encoded.anything_to_route else None
    outcome = _searched(encoded, options, deadline, progress, commitments, fallback)
    rosters, left_out = read_routes(problem, outcome, encoded.nodes, encoded.data,
                                    encoded.begun, options.breaks_where_crew_is)
    chosen = _chosen(encoded, outcome, rosters, left_out, fallback, commitments)
    places = encoded.places
    rosters = [from_last_stop(r, commitments.starts.get(r.vehicle.vehicle_id), places)
               for r in chosen.rosters]
    unassigned = with_fixes(returns_first(chosen.unassigned, encoded.returns),
                            problem.vehicles, places, rosters, encoded.diagnoses,
                            encoded.returns)
    search = {"status": chosen.status,
              "objective": chosen.outcome.objective if chosen.outcome else None,
              "solutions": chosen.outcome.solutions if chosen.outcome else 0,
              "strategy": options.strategy,
              "servable": len(encoded.servable),
              "carried": len(encoded.carried),
              "travel": problem.config.travel.provider}
    if fallback is not None:
        search["fallback_served"] = len({j.journey_id for r in fallback[0] for j in r.journeys})
    if places.warning:
        search["travel_warning"] = places.warning
    rosters, unassigned = _as_booked(given, rosters, unassigned)
    return Plan(given, tuple(rosters), tuple(unassigned), time.monotonic() - started, search,
                chosen.origin)


def _as_booked(given: Problem, rosters: Sequence[Roster], unassigned: Sequence[Unassigned]
               ) -> tuple[list[Roster], list[Unassigned]]:
    """The plan's journeys and vehicles as the day gave them, not as the planner saw them.

    `as_planned` narrows windows (a patient's journeys parted in time) and lifts ranges:
    the plan is judged and shown against the bookings (until 2026-12-07 the checker, given
    the narrowed windows, linked other journeys as round trips and refused a good plan).
    """
    journeys = {j.journey_id: j for j in given.journeys}
    vehicles = {v.vehicle_id: v for v in given.vehicles}

    def booked(stop: Stop) -> Stop:
        if stop.journey is None:
            return stop
        return replace(stop, journey=journeys.get(stop.journey.journey_id, stop.journey))

    return ([Roster(vehicles.get(r.vehicle.vehicle_id, r.vehicle),
                    tuple(booked(s) for s in r.stops)) for r in rosters],
            [replace(u, journey=journeys.get(u.journey.journey_id, u.journey))
             for u in unassigned])


def fallback_plan(problem: Problem, encoded: Encoded) -> tuple[list[Roster], list[Journey]]:
    """The one-at-a-time plan of an encoded day (rosters, journeys left out): no search."""
    allowed = {j.journey_id: encoded.diagnoses[j.journey_id].allowed for j in encoded.servable}
    return one_at_a_time(problem, encoded.places, allowed, encoded.begun, encoded.returns)


def _searched(encoded: Encoded, options: SolveOptions, deadline: Deadline,
              progress: ProgressFn | None, commitments: Commitments,
              fallback: tuple[list[Roster], list[Journey]] | None) -> RoutingOutcome | None:
    """The search's routes, by the strategy the options name; None if none ran or found any."""
    data = encoded.data
    remaining = deadline.remaining_s()
    if not encoded.anything_to_route or remaining < least_search_s(data):
        return None  # nothing to route, or the search would still be building its model
    vehicles = encoded.problem.vehicles
    settings = SearchSettings(max(1.0, remaining), options.first_solution, options.metaheuristic)
    if commitments.warm:
        routes = with_breaks(data, warm_routes(commitments.warm, vehicles, encoded.nodes,
                                               encoded.break_nodes))
        settings = replace(settings, time_limit_s=max(1.0, deadline.remaining_s()))
        return solve_routing(data, settings, initial_routes=routes, on_solution=progress)
    if not data.requests:
        return solve_routing(data, settings, on_solution=progress)
    if options.strategy == "split" and len(data.requests) >= SPLIT_FROM_JOURNEYS:
        middle = [(j.pickup.lat + j.dropoff.lat) / 2 for j in encoded.servable]
        return whole_then_halves(data, middle, [v.base.lat for v in vehicles], settings,
                                 progress)
    if options.strategy in ("portfolio", "one-core"):
        searches = 2 if options.strategy == "portfolio" else 1
        if commitments.sketch:
            sketch = warm_routes(commitments.sketch, vehicles, encoded.nodes, encoded.break_nodes)
            return portfolio(data, settings, progress, options.seed, carried_whole(sketch, data),
                             from_start=True, start_allowance=commitments.sketch_allowance,
                             searches=searches)
        start = (routes_of(fallback[0], vehicles, encoded.nodes, encoded.break_nodes)
                 if fallback is not None else None)
        return portfolio(data, settings, progress, options.seed, start, searches=searches)
    return solve_routing(data, settings, on_solution=progress)


@dataclass(frozen=True)
class _Chosen:
    """The plan kept, the search's outcome (its figures, even where the fallback won), and why."""

    rosters: list[Roster]
    unassigned: list[Unassigned]
    outcome: RoutingOutcome | None
    status: str
    origin: Origin


def _chosen(encoded: Encoded, outcome: RoutingOutcome | None, rosters: list[Roster],
            left_out: list[Journey], fallback: tuple[list[Roster], list[Journey]] | None,
            commitments: Commitments) -> _Chosen:
    """The search's plan or the one-at-a-time plan, whichever is better; reasons for the rest."""
    problem = encoded.problem
    unassigned = list(encoded.unassigned)
    searched = len({j.journey_id for r in rosters for j in r.journeys})
    searched_any = outcome
    status = outcome.status if outcome else ("nothing to plan" if fallback is None
                                             else "fallback: one at a time")
    # The model keeps the round-trip rule; a shift emptied for a lost break could still
    # leave a patient somewhere: such a plan is never used.
    left_somewhere = patients_left_somewhere(rosters, encoded.returns)
    if left_somewhere and fallback is not None:
        outcome = None
        status = (f"fallback: one at a time, the search's plan left {len(left_somewhere)} "
                  "patient(s) without their return")
    if fallback is not None and (outcome is None or _fallback_better(
            problem, fallback[0], rosters, strictly_more=bool(commitments.warm),
            bring_back=commitments.bring_back)):
        if outcome is not None:
            status = f"fallback: one at a time, kept over the search's plan of {searched}"
        unassigned += [Unassigned(j, Reason.NO_PLAN_FOUND,
                                  "the search found no plan in the time given that serves more "
                                  "than the simple one-at-a-time plan, which could not fit it; "
                                  "run again with a longer --time-limit") for j in fallback[1]]
        return _Chosen(fallback[0], unassigned, outcome, status,
                       Origin.FALLBACK if searched_any is None else Origin.FALLBACK_KEPT)
    unassigned += [no_capacity(j, problem.vehicles, encoded.diagnoses[j.journey_id].allowed,
                               rosters) for j in left_out]
    return _Chosen(rosters, unassigned, outcome, status,
                   Origin.SEARCH if outcome is not None else Origin.NOTHING)


def planned_share(plan: Plan | Mapping[str, Any]) -> float:
    """Share of the servable journeys a plan carries: of a Plan, or of its summary figures.

    Journeys made before a re-plan count on neither side. When nothing was servable: 1.0
    if nothing was left to plan (cancelled journeys aside), else 0.0: a fleet that can
    carry none of the day's journeys is the emptiest plan there is, not a full one (until
    2026-12-07 it was 1.0, and such a night swapped in an empty plan without an alert).
    """
    if isinstance(plan, Plan):
        served, search = len({j.journey_id for j in plan.planned}), plan.search
        left = sum(u.reason is not Reason.CANCELLED for u in plan.unassigned)
    else:
        served, search = int(plan["served"]), plan.get("search") or {}
        by_reason = plan.get("unassigned_by_reason") or {}
        left = sum(int(n) for reason, n in by_reason.items() if reason != str(Reason.CANCELLED))
    servable = search.get("servable", None if isinstance(plan, Plan) else plan.get("servable"))
    carried = search.get("carried", 0)
    if not isinstance(servable, int) or servable <= 0:
        return 0.0 if served == 0 and left > 0 else 1.0
    return min(1.0, max(0, served - (carried if isinstance(carried, int) else 0)) / servable)


def below_alert(plan: Plan | Mapping[str, Any], config: Config | None = None) -> bool:
    """Whether a plan serves less than the policy's alert share of the servable journeys.

    The judgement `pts solve` (ExitCode.LOW_SERVICE) and the nightly run share. Such a plan
    is written all the same, every journey left out listed with its reason, but somebody
    should look. `config` is the plan's own unless given (needed with summary figures).
    """
    if config is None:
        if not isinstance(plan, Plan):
            raise TypeError("below_alert needs the config with a plan's summary figures")
        config = plan.problem.config
    return planned_share(plan) < config.alerts.min_planned_share


def _fallback_better(problem: Problem, fallback: Sequence[Roster], rosters: Sequence[Roster],
                     strictly_more: bool = False, bring_back: Collection[str] = ()) -> bool:
    """Whether the one-at-a-time plan beats the search's: days whole, journeys, then cost.

    Rides back for patients already taken out (`bring_back`) count first: a plan serving more
    journeys by leaving one of them somewhere is worse. Then patients' days carried whole,
    as in the portfolio. `strictly_more` (re-planning from the old plan): only by serving
    more journeys, since the search's plan keeps crews on the journeys they had.
    """
    ours = {j.journey_id for r in fallback for j in r.journeys}
    theirs = {j.journey_id for r in rosters for j in r.journeys}
    home, other_home = len(ours & set(bring_back)), len(theirs & set(bring_back))
    if home != other_home:
        return home > other_home
    whole, other_whole = _whole_patients(problem, ours), _whole_patients(problem, theirs)
    if whole != other_whole and not strictly_more:
        return whole > other_whole
    served, other = len(ours), len(theirs)
    if served != other or strictly_more:
        return served > other
    return _cost(problem, fallback) < _cost(problem, rosters)


def _whole_patients(problem: Problem, planned: Collection[str]) -> int:
    """Patients every one of whose journeys the plan carries."""
    days: dict[str, list[str]] = {}
    for journey in problem.journeys:
        days.setdefault(journey.patient_id, []).append(journey.journey_id)
    return sum(all(j in planned for j in ids) for ids in days.values())


def _cost(problem: Problem, rosters: Sequence[Roster]) -> float:
    """What the objective counts of a plan's rosters: km by fuel, call-outs, time on shift."""
    weights = problem.config.objective
    total = 0.0
    for roster in rosters:
        if not roster.used:
            continue
        total += roster.distance_m / 1000 * weights.km_cost_by_fuel[str(roster.vehicle.fuel)]
        total += weights.vehicle_cost + weights.shift_minute_cost * (
            roster.stops[-1].arrival_min - roster.stops[0].departure_min)
    return total
















































