"""How a day is searched, and which search's plan is kept.

The portfolio of two searches (OR-Tools, then ruin and recreate), one a core each; or the
whole day, then its two halves.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, wait
from contextlib import ExitStack
from dataclasses import replace

from pts_optimiser.domain.problem import Problem
from pts_optimiser.engine.decompose import Part, split_by_latitude
from pts_optimiser.engine.model import (
    RETIME_BUILDS,
    RETIME_MIN_S,
    RoutingInput,
    RoutingOutcome,
    SearchSettings,
    Visit,
    solve_routing,
    unlinked,
)
from pts_optimiser.engine.processes import (
    OVERRUN_S,
    Relay,
    await_searches,
    hand_over,
    handed_over,
    report,
    result_or_none,
    search_pools,
)
from pts_optimiser.engine.recreate import RecreateSettings, recreate

SPLIT_FROM_JOURNEYS = 200  # below this one model is quick enough on one core


MIN_IMPROVE_S = 10.0  # below this, the halves would not repay starting two processes


MERGE_MARGIN_S = 1.0  # for the children to hand their routes back


# The portfolio's second search, beside the usual one: tabu search over pair moves only.
# Measured on the published dial-a-ride instances (docs/benchmarks.md): guided local search
# stalls within seconds on the tightly windowed days, and tabu search from the same
# construction lands elsewhere, often better, and fitted every request where it did not.
PORTFOLIO_SECOND_METAHEURISTIC = "TABU_SEARCH"


# Each portfolio search gives OR-Tools this share of its time, then hands its plan to ruin
# and recreate (recreate.py) for the rest. Since ruin and recreate was compiled, OR-Tools'
# local search after its first plan gains less than ruin and recreate does in the same
# seconds: a thirtieth against a sixth on pr01-pr20, a/b and the 750-journey days
# (docs/benchmarks.md, 2026-12-05 later).
ORTOOLS_SHARE = 1 / 30


# ...but OR-Tools may run on to finish its first plan, up to this share. On a 750-journey
# day its construction takes ~12 s; finished, then ruin and recreate, served 732-734 at 25
# and 40 s a search against 725-730 when cut at 1/6; with only 10 s, cutting it at 1/6
# served 720-722 and at 1/2 712-719, and waiting for it all 651 (benchmarks/README.md).
CONSTRUCTION_SHARE = 1 / 2


MIN_RECREATE_S = 0.5  # below this ruin and recreate would not repay re-timing the plan


RETIME_TRIES = 3  # timings of one plan, while the time kept back for them lasts
_ORDINAL = {2: "second", 3: "third"}
# In a search's status where the model refused its plan, or took it only when tried again.
REFUSED = "ruin and recreate's plan refused by the model"
RETIMED = "timed at the"


# Ruin and recreate from a sketch (a week's day from another day's runs, its regulars
# already with their usual crews) starts half as hot as from a plan of the day's own: hot,
# its first fifth or so moves regulars off their crews freely, to put them back later. On
# the 300-journey weeks of seeds 1 and 3, 1.0% fewer km on the mean of four runs, the same
# journeys; a quarter as hot lost 6-13 journeys on seed 3 (docs/week.md, 2026-12-06).
SKETCH_WORSE_SHARE = 0.02


# OR-Tools' construction of a 750-journey day took ~12 s on an idle core: expected to take
# longer than its share, the portfolio's second search starts from the one-at-a-time plan.
CONSTRUCT_S_PER_JOURNEY = 12 / 750


ProgressFn = Callable[[int, int, float], None]


# What ruin and recreate started from, where OR-Tools' plan was not it (in the status).
ONE_AT_A_TIME = "one at a time"
SKETCH = "another day's runs"
# A search's status when only the plan it handed over before ruin and recreate is left.
HANDED_OVER = "its process ended before ruin and recreate did: the plan it had handed over"


def least_search_s(data: RoutingInput) -> float:
    """Below this many seconds a search is not started: its model alone would take half.

    (A 150-journey day's model takes 0.2 s and OR-Tools builds its first plan in a second;
    a 750-journey day's model 1.2-2.4 s, and its first plan ~12 s.)
    """
    return 2 * model_s_guess(data)


# The model's nodes: a pickup and a drop-off for each journey, and for each shift its start,
# its end and its break's visits (1848 on a generated day of 750 journeys and 87 shifts).
NODES_PER_JOURNEY, NODES_PER_SHIFT = 2, 4
ENCODE_S = 0.5  # a day is encoded before `least_search_s` is weighed against the time left


def least_start_s(journeys: int, shifts: int) -> float:
    """Seconds a solve of a day this size needs before its search can start.

    From a problem not yet encoded: encoding it, then `least_search_s`. Below it the day is
    built one journey at a time.
    """
    return ENCODE_S + 2 * _model_s(NODES_PER_JOURNEY * journeys + NODES_PER_SHIFT * shifts)


def least_limit_s(searching_s: float, started: float, writing_s: float, problem: Problem,
                  journeys: int | None = None) -> int | None:
    """The least time limit whose search could start, if `searching_s` leaves it none.

    `started` (time.monotonic) is when the command began; `writing_s` what it keeps back
    to write the plan; `journeys` the day's, where the problem holds more (a week's file).
    None when the search can start.
    """
    journeys = len(problem.journeys) if journeys is None else journeys
    least = least_start_s(journeys, len(problem.vehicles))
    if searching_s >= least:
        return None
    return math.ceil(time.monotonic() - started + writing_s + least)


def _improve_part(part: Part, settings: SearchSettings) -> RoutingOutcome | None:
    return solve_routing(part.data, settings, initial_routes=part.initial_routes)


def whole_then_halves(data: RoutingInput, request_lat: Sequence[float],
                       vehicle_lat: Sequence[float], settings: SearchSettings,
                       progress: ProgressFn | None) -> RoutingOutcome | None:
    """Construct the whole day on one core, then improve its two halves on two cores."""
    started = time.monotonic()
    first = solve_routing(data, replace(settings, solution_limit=1), on_solution=progress)
    if first is None:
        return None
    if progress is not None:
        progress(served(first, data), first.objective, time.monotonic() - started)
    parts = split_by_latitude(data, request_lat, vehicle_lat, start=first)
    remaining = settings.time_limit_s - (time.monotonic() - started)
    if remaining < MIN_IMPROVE_S or len(parts) < 2:
        return first
    halves = replace(settings, time_limit_s=remaining - MERGE_MARGIN_S)
    with ExitStack() as stack:
        pools = search_pools(stack, len(parts))
        futures = [pool.submit(_improve_part, part, halves)
                   for pool, part in zip(pools, parts, strict=True)]
        deadline = started + settings.time_limit_s + OVERRUN_S
        while wait(futures, timeout=1.0).not_done and time.monotonic() < deadline:
            if progress is not None:  # the halves report nothing until they finish
                progress(served(first, data), first.objective, time.monotonic() - started)
        await_searches(pools, futures, deadline)
        outcomes = [result_or_none(future) for future in futures]
    merged = _merged_outcome(data, parts, outcomes, first)
    if progress is not None:
        progress(served(merged, data), merged.objective, time.monotonic() - started)
    return merged


def _search(data: RoutingInput, settings: SearchSettings, seed: int,
            start: Sequence[Sequence[int]] | None = None,
            construct: bool = True, start_name: str = ONE_AT_A_TIME) -> RoutingOutcome | None:
    """One portfolio search: OR-Tools for a share of the time, then ruin and recreate.

    OR-Tools' share ends no sooner than its first plan, unless building that plan takes more
    than half the time. Then ruin and recreate starts from `start` (the one-at-a-time plan,
    as node ids per vehicle) and has the rest; without one OR-Tools takes the rest. With
    `construct` false ruin and recreate starts from `start` at once, with all the time.
    A start plan that serves more than OR-Tools' first plan is the one improved. A start
    that ruin and recreate cannot repair (it breaks a rule even without its journeys), or
    whose plan the model refuses, leaves the time left to the usual search from OR-Tools'
    first plan, its status saying so: on a 300-journey day OR-Tools alone serves some 20
    journeys fewer (docs/week.md, seed 7). A plan refused at the end has only the time
    kept back to time it, and is seldom rebuilt in that.
    """
    started = time.monotonic()
    timings: dict[str, float] = {}
    if not construct and start is not None:
        why: list[str] = []
        found = _recreated(data, None, settings.time_limit_s, seed, start=start,
                           start_name=start_name, why=why)
        remaining = settings.time_limit_s - (time.monotonic() - started)
        if found is not None or remaining < least_search_s(data):
            return found
        built = _search(data, replace(settings, time_limit_s=remaining), seed)
        lost = f"{start_name}: {why[0]}" if why else f"{start_name} could not be repaired"
        return None if built is None else replace(built, status=f"{built.status}; {lost}")
    first = solve_routing(data, replace(
        settings, time_limit_s=max(1.0, settings.time_limit_s * CONSTRUCTION_SHARE),
        stop_after_s=max(1.0, settings.time_limit_s * ORTOOLS_SHARE)), timings=timings,
        on_solution=lambda planned, objective, _elapsed: report(planned, objective))
    if first is not None:
        hand_over(first)  # kept if ruin and recreate has not ended by the deadline
    remaining = settings.time_limit_s - (time.monotonic() - started)
    if start is not None and (first is None or served_in(_framed(start, data), data)
                              > served(first, data)):
        return _recreated(data, first, remaining, seed, start=start,
                          model_s=timings.get("model_s"), start_name=start_name)
    if first is None:  # no plan at all by then: OR-Tools takes the rest
        if remaining < 1.0:
            return None
        return solve_routing(data, replace(settings, time_limit_s=remaining),
                             on_solution=lambda planned, objective, _s: report(planned,
                                                                                 objective))
    return _recreated(data, first, remaining, seed)


def _here(search: Callable[..., RoutingOutcome | None], *args: object
          ) -> Future[RoutingOutcome | None]:
    """`search(*args)` run in this process, as a finished future (memory run out: failed)."""
    future: Future[RoutingOutcome | None] = Future()
    try:
        future.set_result(search(*args))
    except MemoryError as error:
        future.set_exception(error)
    return future


def _framed(routes: Sequence[Sequence[int]], data: RoutingInput) -> list[list[Visit]]:
    """Node routes as visits (times unknown), for counting what they serve."""
    return [[Visit(node, 0) for node in route] for route in routes]


def model_s_guess(data: RoutingInput) -> float:
    """Seconds to build the OR-Tools model, where it was not built to measure.

    Measured 1.2 s on an idle core and 2.1-2.4 s on a busy machine for a 750-journey day
    (about 2,000 nodes): a second per thousand nodes.
    """
    return _model_s(len(data.service_min))


def _model_s(nodes: int) -> float:
    return nodes / 1000


def _recreated(data: RoutingInput, first: RoutingOutcome | None, seconds: float,
               seed: int, start: Sequence[Sequence[int]] | None = None,
               model_s: float | None = None, start_name: str = ONE_AT_A_TIME,
               why: list[str] | None = None) -> RoutingOutcome | None:
    """The plan after ruin and recreate, timed and accepted by the OR-Tools model; else `first`.

    Ruin and recreate starts from `start` if given, else from `first`'s routes. The time
    kept back for the model to time the new routes is RETIME_BUILDS times what building it
    took, at least RETIME_MIN_S. A plan the model refuses leaves `first`, its status saying
    so, and the refusal in `why`.
    """
    built_s = first.model_s if first is not None else (model_s or model_s_guess(data))
    # A plan ruin and recreate found is lost if timing it runs out of time: be generous
    # (it stops as soon as the routes are timed). With round trips timing a 750-journey day
    # took 2.4 s where building the model took 1.2 s, and 2 x the build lost every plan.
    retime_s = max(RETIME_MIN_S, RETIME_BUILDS * built_s)
    search_s = seconds - retime_s
    if search_s < MIN_RECREATE_S or not data.requests:
        return first
    if start is not None:
        routes = [list(route) for route in start]
    elif first is not None:
        routes = [[visit.node for visit in route[1:-1]] for route in first.routes]
    else:
        return None
    heat = (SKETCH_WORSE_SHARE if start_name == SKETCH
            else RecreateSettings.start_worse_share)
    found = recreate(data, routes, RecreateSettings(search_s, seed=seed, start_worse_share=heat),
                     foreign=start is not None, on_best=report)
    if found is None or (first is not None and found.cost >= found.start_cost):
        return first
    timed, timings = _timed(data, found.routes, retime_s)
    if timed is None:
        refused = f"{REFUSED} ({timings} timing{'s' if timings > 1 else ''})"
        if why is not None:
            why.append(refused)
        return None if first is None else replace(first, status=f"{first.status}; {refused}")
    # A refusal the next timing overturned (docs/week.md, 2026-12-07): said in the status.
    retried = f"; {RETIMED} {_ORDINAL[timings]} try" if timings > 1 else ""
    if first is None:
        return replace(timed, status=f"{start_name}, then ruin and recreate{retried}",
                       seconds=search_s + timed.seconds, solutions=found.improvements)
    # The model is the judge: the new plan is kept only if it takes the routes with every
    # rule, counts them cheaper and they serve no fewer journeys.
    if served(timed, data) < served(first, data) or timed.objective >= first.objective:
        return first
    status = ((start_name if start is not None else first.status)
              + f", then ruin and recreate{retried}")
    return replace(timed, status=status, seconds=first.seconds + search_s + timed.seconds,
                   solutions=first.solutions + found.improvements, model_s=first.model_s)


def _timed(data: RoutingInput, routes: Sequence[Sequence[int]], seconds: float
           ) -> tuple[RoutingOutcome | None, int]:
    """The model's timing of `routes` and how many timings it took; None if all refused.

    A refusal that comes with time left is timed again while another timing fits in what
    is left of `seconds`: on a week's day both searches' plans were once refused about a
    fifth of the way into their time, and the same routes were accepted in a fresh process
    every time (docs/week.md).
    """
    deadline = time.monotonic() + seconds
    for timing in range(1, RETIME_TRIES + 1):
        began = time.monotonic()
        timed = solve_routing(data, SearchSettings(max(0.1, deadline - began), solution_limit=1),
                              initial_routes=routes, warm_only=True)
        if timed is not None:
            return timed, timing
        if deadline - time.monotonic() < time.monotonic() - began:
            break
    return None, timing


def carried_whole(routes: Sequence[Sequence[int]], data: RoutingInput) -> list[list[int]]:
    """Runs given from outside, with only the journeys each vehicle may carry, whole.

    A journey stays where its pickup comes before its drop-off on a vehicle allowed to carry
    it, a break on its own crew's run; what a run's times or loads then refuse, ruin and
    recreate repairs (`foreign`).
    """
    request_of: dict[int, int] = {}
    for index, request in enumerate(data.requests):
        request_of[request.pickup_node] = request_of[request.dropoff_node] = index
    kept = []
    for vehicle, route in enumerate(routes):
        whole = set()
        picked: set[int] = set()
        for node in route:
            journey = request_of.get(node)
            if journey is None or vehicle not in data.requests[journey].allowed_vehicles:
                continue
            if node == data.requests[journey].pickup_node:
                picked.add(journey)
            elif journey in picked:
                whole.add(journey)
        kept.append([node for node in route
                     if (node in request_of and request_of[node] in whole)
                     or data.break_owner.get(node, -1) == vehicle])
    return kept


def portfolio(data: RoutingInput, settings: SearchSettings, progress: ProgressFn | None,
               seed: int = 0, start: Sequence[Sequence[int]] | None = None,
               from_start: bool = False, start_allowance: int = 0, searches: int = 2
               ) -> RoutingOutcome | None:
    """The usual search and a second one (tabu search, pair moves only), one a core each.

    Each hands its plan to ruin and recreate (seeds 2*seed and 2*seed+1) for most of the
    time; where OR-Tools has no plan by its share's end, ruin and recreate starts from
    `start` (the one-at-a-time plan). When OR-Tools could not be expected to build its plan
    in time, the second search starts from `start` at once, so one core at least uses all
    the time. With `from_start` (`start` is a sketch to improve: regulars' runs of another
    day) both start from it at once, each with its own seed: a plan built afresh served
    about as many journeys but kept little of the sketch's crews (docs/week.md). The
    better plan is kept (`kept_plan`: patients' days whole, journeys, cost); but a plan
    improved from such a sketch is kept over one built afresh (by a search whose sketch
    could not be repaired) where it serves at most `start_allowance` fewer
    (`Commitments.sketch_allowance`). A search whose process fails, or runs past the time
    limit, leaves the other's plan. `searches=1` runs the usual search alone, in this process
    (one core: a day of a week planned beside another, a sweep's task).
    """
    started = time.monotonic()
    each = replace(settings, time_limit_s=max(1.0, settings.time_limit_s - MERGE_MARGIN_S))
    variants = [each, replace(each, metaheuristic=PORTFOLIO_SECOND_METAHEURISTIC,
                              pair_moves_only=True)][:max(1, searches)]
    quick = not from_start and (start is None or len(data.requests) * CONSTRUCT_S_PER_JOURNEY
                                <= each.time_limit_s * CONSTRUCTION_SHARE)
    construct = [quick or (arm == 0 and not from_start) for arm in range(len(variants))]
    start_name = SKETCH if from_start else ONE_AT_A_TIME
    with ExitStack() as stack:
        if len(variants) == 1:
            # One search runs in this process: whoever asked for one already gave it its
            # core, and a Dask worker (daemonic) may not start a child (docs/sweeps.md).
            futures = [_here(_search, data, variants[0], 2 * seed, start, construct[0],
                             start_name)]
        else:
            relay = None if progress is None else Relay(stack, progress)
            pools = search_pools(stack, len(variants), relay)
            futures = [pool.submit(_search, data, variant, 2 * seed + arm, start,
                                   construct[arm], start_name)
                       for arm, (pool, variant) in enumerate(zip(pools, variants, strict=True))]
            await_searches(pools, futures, started + settings.time_limit_s + OVERRUN_S, relay)
        finished = [(variant, outcome) for variant, future in zip(variants, futures, strict=True)
                    if (outcome := result_or_none(future)) is not None]
        if len(variants) > 1:
            # A search ended at the deadline (or failed) leaves the plan it handed over.
            finished += [(variant, replace(outcome, status=f"{outcome.status}; {HANDED_OVER}"))
                         for variant, pool, future in zip(variants, pools, futures, strict=True)
                         if result_or_none(future) is None
                         and (outcome := handed_over(pool)) is not None]
    if not finished:
        return None
    # Patients' days whole, then journeys, then the objective (less a sketch's allowance):
    # where the plan kept serves fewer journeys than the other, the status says why.
    kept, best = kept_plan(finished, data, start_allowance if from_start else None)
    most = max((outcome for _, outcome in finished), key=lambda o: served(o, data))
    given = served(most, data) - served(best, data)
    more_whole = (whole_days(served_requests(best.routes, data), data)
                  - whole_days(served_requests(most.routes, data), data))
    why = (f"carrying {more_whole} more patient day(s) whole" if more_whole > 0
           else "within the continuity allowance")
    notes = f"; {given} journey(s) fewer than the other search's plan, {why}" if given > 0 else ""
    sketched = [served(o, data) for _, o in finished if o.status.startswith(SKETCH)]
    if from_start and sketched and not best.status.startswith(SKETCH):
        # Why a week's day kept little of its regulars' runs: what that would have cost.
        notes += f"; the plan from {SKETCH} served {served(best, data) - max(sketched)} fewer"
    if progress is not None:
        progress(served(best, data), best.objective, time.monotonic() - started)
    search = _name(kept)
    if best.status.startswith((ONE_AT_A_TIME, SKETCH)):
        search = "ruin and recreate"
    # A search whose process died or was ended at the deadline is named in the status.
    failed = [_name(variant) for variant, future in zip(variants, futures, strict=True)
              if future.cancelled() or future.exception() is not None]
    notes += "".join(f"; the {name}'s process failed" for name in failed)
    # The plan not kept: whether the model refused it, or took it only when tried again
    # (docs/week.md, 2026-12-07): how often that happens is otherwise not seen.
    notes += "".join(f"; the {_name(variant)}'s plan: {part}" for variant, outcome in finished
                     if outcome is not best for part in outcome.status.split("; ")
                     if REFUSED in part or part.startswith(RETIMED))
    head = f"portfolio: {search} kept" if len(variants) > 1 else f"one search: {search}"
    return replace(best, status=f"{head} ({best.status}){notes}",
                   solutions=sum(outcome.solutions for _, outcome in finished))


def kept_plan(finished: Sequence[tuple[SearchSettings, RoutingOutcome]], data: RoutingInput,
              sketch_allowance: int | None = None) -> tuple[SearchSettings, RoutingOutcome]:
    """Of the searches' plans, the one with most patients' days whole, then most journeys.

    Then the cheapest by the objective. Patients first: the product's unit of service is
    the patient's day, and two plans serving about as many journeys can differ in the
    patients they leave short (the objective weighs one against the other:
    `encode.patient_share`).

    With `sketch_allowance` (the searches started from a sketch), the best plan improved
    from the sketch is kept unless it serves more than that many journeys fewer: the other
    search built the day afresh, and its plan keeps less of what the sketch held. Serving
    as many, too: the plan afresh can be cheaper by the objective (km and the standards
    outweigh what continuity is priced at) while keeping little of the regulars' crews
    (docs/week.md).
    """
    def better(pair: tuple[SearchSettings, RoutingOutcome]) -> tuple[int, int, int]:
        carried = served_requests(pair[1].routes, data)
        return whole_days(carried, data), len(carried), -pair[1].objective

    best = max(finished, key=better)
    sketched = [pair for pair in finished if pair[1].status.startswith(SKETCH)]
    if sketch_allowance is None or not sketched:
        return best
    closest = max(sketched, key=better)
    fewer = served(best[1], data) - served(closest[1], data)
    return closest if fewer <= sketch_allowance else best


def _name(settings: SearchSettings) -> str:
    return settings.metaheuristic.lower().replace("_", " ")


def served(outcome: RoutingOutcome, data: RoutingInput) -> int:
    """Journeys an outcome's routes carry."""
    return served_in(outcome.routes, data)


def _merged_outcome(data: RoutingInput, parts: Sequence[Part],
                    outcomes: Sequence[RoutingOutcome | None],
                    first: RoutingOutcome) -> RoutingOutcome:
    """The whole day from the improved halves; a half that failed keeps its first routes."""
    routes = list(first.routes)
    for part, outcome in zip(parts, outcomes, strict=True):
        if outcome is None:
            continue
        for local, route in enumerate(outcome.routes):
            routes[part.vehicle_in_whole[local]] = tuple(
                Visit(part.node_in_whole[visit.node], visit.start_min) for visit in route)
    if served_in(routes, data) < served(first, data):
        return first  # cannot happen with warm starts; kept as a guard for the promise
    if unlinked(data, served_requests(routes, data)):
        return first  # a half knows only its own links: never leave a patient there
    objective = (sum(o.objective for o in outcomes if o) if all(outcomes)
                 else first.objective)
    return RoutingOutcome(tuple(routes), objective, "whole day, then halves", first.seconds,
                          first.solutions + sum(o.solutions for o in outcomes if o))


def served_requests(routes: Sequence[Sequence[Visit]], data: RoutingInput) -> set[int]:
    """Indices of the requests these routes carry."""
    request_of = {r.pickup_node: i for i, r in enumerate(data.requests)}
    return {request_of[v.node] for route in routes for v in route if v.node in request_of}


def whole_days(carried: set[int], data: RoutingInput) -> int:
    """Patients' days carried whole: journeys linked out and back, all carried, count once.

    The engine knows a patient only by the links between their journeys: a journey linked
    to none is a day of its own.
    """
    day_of = list(range(len(data.requests)))

    def root(request: int) -> int:
        while day_of[request] != request:
            day_of[request] = day_of[day_of[request]]
            request = day_of[request]
        return request

    for outward, back in data.links:
        day_of[root(outward)] = root(back)
    short = {root(r) for r in range(len(data.requests)) if r not in carried}
    return len({root(r) for r in range(len(data.requests))} - short)


def served_in(routes: Sequence[Sequence[Visit]], data: RoutingInput) -> int:
    """How many requests these routes carry."""
    pickups = {r.pickup_node for r in data.requests}
    return sum(visit.node in pickups for route in routes for visit in route)
