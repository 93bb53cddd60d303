"""Ruin and recreate's inner loops, compiled (numba).

Why compiled: pricing a journey on every run at once as numpy array operations took ~50
calls on arrays of a few hundred places, and numpy's cost per call, not the work, was half
the search's time (docs/benchmarks.md, 2026-12-03 latest). Here each is one pass. These
functions screen, price, check and pick the cheapest, rebuild a run and keep the board; a
step of a try is one call, because Python between calls, not the calls' work, was most
of a try (docs/benchmarks.md, 2026-12-04 late night). Every random draw and every rule of
the search stays in recreate.py, and they give it what the array code did, in the same
order (a seed's plan is unchanged).

Compiled functions are cached beside this file (or in NUMBA_CACHE_DIR, or the user's cache
folder), so a process pays the compilation (a few seconds) once per machine, not once per
search. Where none of those is writable (a service whose install and home are read-only,
docs/pts-board.service) each process compiles them again, rather than failing to start.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numpy as np
from numba import njit
from numpy.typing import NDArray

_UNREACHABLE = 2**62

# A board's leg rows: the stop a leg leaves from and arrives at, its cost, the earliest
# start of service where it begins, the latest at its end that the windows allow; the
# transit from the run's start to the leg's start and to its end, without waiting; the
# vehicle, the range it has not yet used, its km rate (an index into the stacked cost
# matrices). Then per load dimension, two rows: the room on board at the leg's end stop
# (none at a break) and on the leg itself.
START, END, COST, LEAVE_AT, LATEST, BEGIN, FINISH, VEHICLE, METRES_LEFT, RATE, ROOM = range(11)


_Function = TypeVar("_Function", bound=Callable[..., Any])


def compiled(function: _Function) -> _Function:
    """`function` compiled, its machine code cached where numba can write it, else not."""
    try:
        return cast(_Function, njit(cache=True)(function))
    except RuntimeError:  # numba found nowhere to keep it
        return cast(_Function, njit(function))


@compiled
def _grown(buffer: NDArray[np.int64], size: int) -> NDArray[np.int64]:
    if size < buffer.shape[1]:
        return buffer
    bigger = np.empty((buffer.shape[0], 2 * buffer.shape[1]), dtype=np.int64)
    bigger[:, :size] = buffer[:, :size]
    return bigger


@compiled
def places(legs: NDArray[np.int64], total: int, begin: NDArray[np.int64],
           finish: NDArray[np.int64], run_last: NDArray[np.int64], transit: NDArray[np.int64],
           costs: NDArray[np.int64], metres: NDArray[np.int64], ranged: bool, p: int, d: int,
           lo_p: int, hi_p: int, lo_d: int, hi_d: int, limit: int, demand: NDArray[np.int64],
           change: NDArray[np.int64], allowed: NDArray[np.bool_]) -> NDArray[np.int64]:
    """The places on the board a journey (pickup `p`, drop-off `d`) may take, in board order.

    The board's first `total` legs (columns) are its runs'; the columns after it are room.

    Rows: pickup leg, drop-off leg, added arc cost. A place is (pickup leg, drop-off leg at
    or after it on the same run). Kept where every necessary condition holds, each from
    times that can only grow when a stop is added: both windows reachable with every later
    window still met, the ride within its limit without waiting, room on board over the
    legs ridden (`demand` per load dimension), the vehicle allowed (`allowed`, empty: every
    one) and within its range (`ranged`). `change` (per vehicle, empty: none) is added to
    the cost: a regular's pickup off their usual vehicle.
    """
    found = np.empty((3, 64), dtype=np.int64)
    size = 0
    dims = demand.shape[0]
    t_pd = transit[p, d]
    f = -1
    while f + 1 < total:
        f += 1
        if legs[LEAVE_AT, f] > hi_p or (allowed.shape[0] > 0
                                        and not allowed[legs[VEHICLE, f]]):
            # Every later leg of its run leaves later, on the same vehicle: none is a place.
            f = run_last[f]
            continue
        a_f, b_f = legs[START, f], legs[END, f]
        reach_p = max(lo_p, legs[LEAVE_AT, f] + transit[a_f, p])
        to_p = transit[p, b_f]
        if reach_p > hi_p or reach_p + to_p > legs[LATEST, f]:
            continue
        rate = legs[RATE, f]
        vehicle = legs[VEHICLE, f]
        more_p = costs[rate, a_f, p] + costs[rate, p, b_f] - legs[COST, f]
        if change.shape[0] > 0:
            more_p += change[vehicle]
        latest_drop = finish[f] + limit - to_p  # the drop-off leg may begin by then
        least = np.full(dims, _UNREACHABLE, dtype=np.int64)  # room on the legs ridden through
        for last in range(f, run_last[f] + 1):
            if last > f and begin[last] > latest_drop:
                break
            a_l, b_l = legs[START, last], legs[END, last]
            room_ok = True
            for k in range(dims):
                if demand[k] > 0 and min(least[k], legs[ROOM + 2 * k + 1, last]) < demand[k]:
                    room_ok = False
                least[k] = min(least[k], legs[ROOM + 2 * k, last])
            if not room_ok:
                continue
            if last == f:
                reach_pd = max(lo_d, reach_p + t_pd)
                if reach_pd > hi_d or reach_pd + transit[d, b_f] > legs[LATEST, f] \
                        or t_pd > limit:
                    continue
                added = (costs[rate, a_f, p] + costs[rate, p, d] + costs[rate, d, b_f]
                         - legs[COST, f])
                if change.shape[0] > 0:
                    added += change[vehicle]
                extra_m = (metres[a_f, p] + metres[p, d] + metres[d, b_f] - metres[a_f, b_f]
                           if ranged else 0)
            else:
                reach_d = max(lo_d, legs[LEAVE_AT, last] + transit[a_l, d])
                if reach_d > hi_d or reach_d + transit[d, b_l] > legs[LATEST, last]:
                    continue
                if to_p + begin[last] - finish[f] + transit[a_l, d] > limit:
                    continue
                added = (more_p + costs[rate, a_l, d] + costs[rate, d, b_l]
                         - legs[COST, last])
                extra_m = (metres[a_f, p] + metres[p, b_f] - metres[a_f, b_f]
                           + metres[a_l, d] + metres[d, b_l] - metres[a_l, b_l]
                           if ranged else 0)
            if ranged and extra_m > legs[METRES_LEFT, f]:
                continue
            found = _grown(found, size)
            found[0, size] = f
            found[1, size] = last
            found[2, size] = added
            size += 1
    return found[:, :size]


@compiled
def legs_of(seq: NDArray[np.int64], at: NDArray[np.int64], transit: NDArray[np.int64],
            cost: NDArray[np.int64], metres: NDArray[np.int64], hi: NDArray[np.int64],
            demand: NDArray[np.int64], capacity: NDArray[np.int64], at_break: NDArray[np.bool_],
            shift_end: int, range_m: int, vehicle: int, rate: int,
            patients: int) -> NDArray[np.int64]:
    """A run's legs (the board's rows, one column a leg) from its stops and their times.

    `range_m` below 0: no range. `patients`: the load dimension nobody may be in at a break
    (below 0: none). The latest time at each stop is the least over it and the stops after
    it of (window's end less the drive from it there), the run's ends taking the shift's.
    """
    m = seq.shape[0]
    dims = capacity.shape[0]
    out = np.empty((ROOM + 2 * dims, m - 1), dtype=np.int64)
    chain = np.empty(m, dtype=np.int64)
    chain[0] = 0
    used_m = 0
    for k in range(m - 1):
        chain[k + 1] = chain[k] + transit[seq[k], seq[k + 1]]
        if range_m >= 0:
            used_m += metres[seq[k], seq[k + 1]]
    latest = _UNREACHABLE
    for k in range(m - 1, 0, -1):
        window = shift_end if k == m - 1 else hi[seq[k]]
        latest = min(latest, window - chain[k])
        out[LATEST, k - 1] = latest + chain[k]
    metres_left = _UNREACHABLE if range_m < 0 else range_m - used_m
    on_board = np.zeros(dims, dtype=np.int64)
    for k in range(m - 1):
        a, b = seq[k], seq[k + 1]
        out[START, k], out[END, k] = a, b
        out[COST, k] = cost[a, b]
        out[LEAVE_AT, k] = at[k]
        out[BEGIN, k], out[FINISH, k] = chain[k], chain[k + 1]
        out[VEHICLE, k], out[METRES_LEFT, k], out[RATE, k] = vehicle, metres_left, rate
        for d in range(dims):
            on_board[d] += demand[a, d]
            free = capacity[d] - on_board[d]
            out[ROOM + 2 * d, k] = 0 if d == patients and at_break[b] else free
            out[ROOM + 2 * d + 1, k] = free
    return out


@compiled
def _run_with_journey(legs: NDArray[np.int64], local: NDArray[np.int64],
                      run_last: NDArray[np.int64], f: int, last: int, p: int,
                      d: int) -> NDArray[np.int64]:
    """The stops of the board's run with pickup `p` on leg `f` and drop-off `d` on leg `last`."""
    first_leg = f - local[f]
    end = run_last[f]
    seq = np.empty(end - first_leg + 2, dtype=np.int64)
    seq[:end - first_leg + 1] = legs[START, first_leg:end + 1]
    seq[end - first_leg + 1] = legs[END, end]
    return with_journey(seq, local[f], local[last], p, d)


@compiled
def with_journey(seq: NDArray[np.int64], i: int, j: int, p: int, d: int) -> NDArray[np.int64]:
    """The run's stops with pickup `p` after position `i` and drop-off `d` after position `j`."""
    m = seq.shape[0]
    stops = np.empty(m + 2, dtype=np.int64)
    stops[:i + 1] = seq[:i + 1]
    stops[i + 1] = p
    stops[i + 2:j + 2] = seq[i + 1:j + 1]
    stops[j + 2] = d
    stops[j + 3:] = seq[j + 1:]
    return stops


@compiled
def _rides(stops: NDArray[np.int64], pickup_of: NDArray[np.int64], limit_of: NDArray[np.int64],
           where: NDArray[np.int64]) -> NDArray[np.int64]:
    """(pickup position, drop-off position, ride limit) of each journey on a run, a row each."""
    m = stops.shape[0]
    for k in range(m):
        where[stops[k]] = k
    rides = np.empty((m, 3), dtype=np.int64)
    n = 0
    for k in range(m):
        picked = pickup_of[stops[k]]
        if picked >= 0 and 0 <= where[picked] < k:
            rides[n, 0], rides[n, 1], rides[n, 2] = where[picked], k, limit_of[stops[k]]
            n += 1
    for k in range(m):
        where[stops[k]] = -1
    return rides[:n]


@compiled
def rides_of(stops: NDArray[np.int64], at: NDArray[np.int64], request_at: NDArray[np.int64],
             pickup_of: NDArray[np.int64], where: NDArray[np.int64]) -> NDArray[np.int64]:
    """Rows of (request, pickup time, drop-off time), one per drop-off on a run, in order.

    `request_at` by node (-1: none). A drop-off whose pickup is not on the run before it (the
    patient on board when the run starts) has its own time as its pickup's.
    """
    m = stops.shape[0]
    for k in range(m):
        where[stops[k]] = k
    rows = np.empty((m, 3), dtype=np.int64)
    n = 0
    for k in range(m):
        picked = pickup_of[stops[k]]
        if picked < 0 or request_at[stops[k]] < 0:
            continue
        rows[n, 0] = request_at[stops[k]]
        rows[n, 1] = at[where[picked]] if 0 <= where[picked] < k else at[k]
        rows[n, 2] = at[k]
        n += 1
    for k in range(m):
        where[stops[k]] = -1
    return rows[:n].copy()


@compiled
def earliest(stops: NDArray[np.int64], lo: NDArray[np.int64], hi: NDArray[np.int64],
             transit: NDArray[np.int64], pickup_of: NDArray[np.int64],
             limit_of: NDArray[np.int64], where: NDArray[np.int64], shift_start: int,
             shift_end: int, longest: int) -> NDArray[np.int64]:
    """Earliest start of service at each stop of a full run; empty if it cannot work.

    Every rule on times is a difference between two stops (drive then serve, the ride limit,
    the shift's longest duration, below 0: none) or a window, so the earliest times are the
    least fixpoint of raising lower bounds; a fixpoint still moving after one pass per ride
    is a cycle that can never be met (Bellman-Ford). `pickup_of` and `limit_of` are by
    drop-off node (-1: not a drop-off); `where` is scratch space, -1 for every node, and left
    so.
    """
    m = stops.shape[0]
    lb = np.empty(m, dtype=np.int64)
    ub = np.empty(m, dtype=np.int64)
    for k in range(m):
        lb[k], ub[k] = lo[stops[k]], hi[stops[k]]
    lb[0] = lb[m - 1] = shift_start
    ub[0] = ub[m - 1] = shift_end
    rides = _rides(stops, pickup_of, limit_of, where)
    n = rides.shape[0]
    at = np.empty(m, dtype=np.int64)
    for _ in range(n + 3):
        t = lb[0]
        if t > ub[0]:
            return at[:0]
        at[0] = t
        for k in range(1, m):
            t = max(t + transit[stops[k - 1], stops[k]], lb[k])
            if t > ub[k]:
                return at[:0]
            at[k] = t
        moved = False
        for r in range(n):
            i, j, limit = rides[r, 0], rides[r, 1], rides[r, 2]
            if at[j] - at[i] > limit:
                lb[i] = at[j] - limit
                moved = True
        if longest >= 0 and at[m - 1] - at[0] > longest:
            lb[0] = at[m - 1] - longest
            moved = True
        if not moved:
            return at
    return at[:0]


@compiled
def latest_start(stops: NDArray[np.int64], at: NDArray[np.int64], hi: NDArray[np.int64],
                 transit: NDArray[np.int64], rides: NDArray[np.int64], shift_end: int) -> int:
    """The latest a run (its earliest times `at`) can leave base and still end at at[-1].

    The greatest fixpoint of lowering upper bounds, as `earliest` is the least of raising
    lower ones.
    """
    m = stops.shape[0]
    ub = np.empty(m, dtype=np.int64)
    for k in range(m):
        ub[k] = hi[stops[k]]
    ub[0] = shift_end
    ub[m - 1] = at[m - 1]
    latest = np.empty(m, dtype=np.int64)
    for _ in range(rides.shape[0] + 2):
        t = ub[m - 1]
        latest[m - 1] = t
        for k in range(m - 2, -1, -1):
            t = min(ub[k], t - transit[stops[k], stops[k + 1]])
            latest[k] = t
        moved = False
        for r in range(rides.shape[0]):
            i, j, limit = rides[r, 0], rides[r, 1], rides[r, 2]
            if latest[j] - latest[i] > limit:
                ub[j] = latest[i] + limit
                moved = True
        if not moved:
            return int(latest[0])
    return int(at[0])  # leaving early always works


@compiled
def time_cost(stops: NDArray[np.int64], at: NDArray[np.int64], hi: NDArray[np.int64],
              transit: NDArray[np.int64], pickup_of: NDArray[np.int64],
              limit_of: NDArray[np.int64], where: NDArray[np.int64], soft: NDArray[np.int64],
              shift_end: int, span: int, longest: int) -> int:
    """What the model charges for a run's times: time on shift, standards, usual times.

    `soft` has a row per node: whether it has a soft bound, then the soft latest and its
    cost a minute, the soft earliest and its. Given when the run leaves base (s), every stop
    is taken at max(at[k], s + the transit from the start to k): leaving later may shorten
    the time on shift and meet a soft earliest (a regular's usual time); leaving earlier
    meets the soft latests. A later s keeps every ride within its limit (a ride only
    shortens once its pickup moves), so s runs from the earliest start to the latest every
    window allows. Each term is piecewise linear in s, so the least is at one of their
    breakpoints, all tried. A run's best times may wait at one stop and not at others, which
    this family does not hold: with soft earliests, the best of it then waits where nobody is
    aboard (`_waited`). It may still count more than the model does (standards alone are best
    at the earliest, so there it is exact).
    """
    m = stops.shape[0]
    softs = 0
    early = False  # a usual time: a soft earliest, which a wait at the door may meet
    for k in range(m):
        softs += soft[stops[k], 0]
        early = early or soft[stops[k], 4] > 0
    if softs == 0 and span == 0:
        return 0
    rides = _rides(stops, pickup_of, limit_of, where)
    if softs == 0:
        return span * (int(at[m - 1]) - latest_start(stops, at, hi, transit, rides, shift_end))
    chain = np.empty(m, dtype=np.int64)
    chain[0] = 0
    for k in range(1, m):
        chain[k] = chain[k - 1] + transit[stops[k - 1], stops[k]]
    latest = shift_end - chain[0]
    for k in range(1, m - 1):
        latest = min(latest, hi[stops[k]] - chain[k])
    latest = min(latest, shift_end - chain[m - 1])
    tries = np.empty(4 + 3 * softs, dtype=np.int64)
    tries[0], tries[1], tries[2] = at[0], latest, at[m - 1] - chain[m - 1]
    n = 3
    if span:
        tries[n] = latest_start(stops, at, hi, transit, rides, shift_end)
        n += 1
    for k in range(m):
        if soft[stops[k], 0]:
            tries[n] = soft[stops[k], 1] - chain[k]
            tries[n + 1] = soft[stops[k], 3] - chain[k]
            tries[n + 2] = at[k] - chain[k]
            n += 3
    best, best_s = _UNREACHABLE, at[0]
    for q in range(n):
        s = tries[q]
        if s < at[0] or s > latest:
            continue
        total = span * (max(at[m - 1], s + chain[m - 1]) - s)
        for k in range(m):
            node = stops[k]
            if soft[node, 0]:
                total += _soft_cost(soft, node, max(at[k], s + chain[k]))
        if total < best:
            best, best_s = total, s
    if not early:
        return best
    times = np.empty(m, dtype=np.int64)
    for k in range(m):
        times[k] = max(at[k], best_s + chain[k])
    return _waited(stops, times, best, hi, transit, rides, pickup_of, soft, shift_end, span,
                   longest)


@compiled
def _soft_cost(soft: NDArray[np.int64], node: int, t: int) -> int:
    """What a stop's soft latest and soft earliest charge for serving it at minute t."""
    return int(soft[node, 2] * max(0, t - soft[node, 1])
               + soft[node, 4] * max(0, soft[node, 3] - t))


@compiled
def _times_cost(stops: NDArray[np.int64], times: NDArray[np.int64], soft: NDArray[np.int64],
                span: int) -> int:
    """What the model charges for a run served at `times`: time on shift, soft bounds."""
    m = stops.shape[0]
    total = span * int(times[m - 1] - times[0])
    for k in range(m):
        node = stops[k]
        if soft[node, 0]:
            total += _soft_cost(soft, node, times[k])
    return total


@compiled
def _waited(stops: NDArray[np.int64], times: NDArray[np.int64], cost: int,
            hi: NDArray[np.int64], transit: NDArray[np.int64], rides: NDArray[np.int64],
            pickup_of: NDArray[np.int64], soft: NDArray[np.int64], shift_end: int, span: int,
            longest: int) -> int:
    """The cost of `times` (costing `cost`) after waits where nobody is aboard, if cheaper.

    A crew early for a regular waits at the door (or at the last stop before it where the
    vehicle is empty) until the usual time, as the model may; uniform delays of the start
    alone would charge every minute early. A wait where nobody is aboard lengthens no ride
    (a delay only shrinks along the run), so each is checked against the windows, the
    shift's end and its longest duration alone. Greedy, regular by regular along the run;
    each wait kept only where the run's times then cost less. The times are a feasible
    schedule, so this never counts less than the model.
    """
    m = stops.shape[0]
    aboard = np.zeros(m + 1, dtype=np.int64)
    carried = np.zeros(m, dtype=np.bool_)
    for r in range(rides.shape[0]):
        aboard[rides[r, 0] + 1] += 1
        aboard[rides[r, 1] + 1] -= 1
        carried[rides[r, 1]] = True
    for k in range(m):  # aboard when the run starts: dropped with no pickup on the run
        if pickup_of[stops[k]] >= 0 and not carried[k]:
            aboard[1] += 1
            aboard[k + 1] -= 1
    empty = np.zeros(m, dtype=np.bool_)
    count = 0
    for k in range(1, m):
        count += aboard[k]
        empty[k] = count == 0
    slack = np.empty(m, dtype=np.int64)
    trial = np.empty(m, dtype=np.int64)
    for j in range(1, m - 1):
        node = stops[j]
        if not soft[node, 0] or soft[node, 4] == 0 or times[j] >= soft[node, 3]:
            continue
        e = j
        while e >= 1 and not empty[e]:
            e -= 1
        if e < 1:
            continue
        # Idle minutes between e and each later stop: a wait at e shrinks by them.
        slack[e] = 0
        for q in range(e + 1, m):
            slack[q] = slack[q - 1] + times[q] - times[q - 1] - transit[stops[q - 1], stops[q]]
        most = soft[node, 3] - times[j] + slack[j]
        harmless = most
        for q in range(e, m):
            bound = shift_end if q == m - 1 else hi[stops[q]]
            most = min(most, bound - times[q] + slack[q])
            if soft[stops[q], 0] and soft[stops[q], 2] > 0 and times[q] <= soft[stops[q], 1]:
                harmless = min(harmless, soft[stops[q], 1] - times[q] + slack[q])
        if longest >= 0:
            most = min(most, longest - (times[m - 1] - times[0]) + slack[m - 1])
        chosen = 0
        for wait in (most, min(most, harmless)):
            if wait <= 0:
                continue
            for q in range(m):
                trial[q] = times[q] if q < e else times[q] + max(0, wait - slack[q])
            tried = _times_cost(stops, trial, soft, span)
            if tried < cost:
                cost, chosen = tried, wait
        for q in range(e, m):
            times[q] += max(0, chosen - slack[q])
    return cost


@compiled
def insertion(legs: NDArray[np.int64], total: int, begin: NDArray[np.int64],
              finish: NDArray[np.int64],
              run_last: NDArray[np.int64], local: NDArray[np.int64],
              transit: NDArray[np.int64], costs: NDArray[np.int64], metres: NDArray[np.int64],
              ranged: bool, p: int, d: int, limit: int, demand: NDArray[np.int64],
              change: NDArray[np.int64], allowed: NDArray[np.bool_],
              blinks: NDArray[np.float64], drawn: int, blink_share: float,
              extra: NDArray[np.int64], lo: NDArray[np.int64], hi: NDArray[np.int64],
              pickup_of: NDArray[np.int64], limit_of: NDArray[np.int64],
              where: NDArray[np.int64], shift_start: NDArray[np.int64],
              shift_end: NDArray[np.int64], longest: NDArray[np.int64],
              soft: NDArray[np.int64], span: int, timed: NDArray[np.int64], compare: int,
              tries: int, only_more: bool
              ) -> tuple[int, int, NDArray[np.int64], NDArray[np.int64], int, int, int]:
    """A journey's cheapest feasible place on the board: `places` then `best_place`, one call.

    `best_place` passes over places by the next of `blinks` (those from `drawn` on); the
    place's run is then given its stops and their times.

    (blinks drawn after it, vehicle, stops, times, what the place adds, its arcs, what the
    run's times then cost). The vehicle -1 if no place is feasible; the blinks drawn -1 if
    `blinks` has too few left (draw more and call again: the places are priced again).
    """
    nothing = np.empty(0, dtype=np.int64)
    placed = places(legs, total, begin, finish, run_last, transit, costs, metres, ranged, p, d,
                    lo[p], hi[p], lo[d], hi[d], limit, demand, change, allowed)
    n = placed.shape[1]
    if n == 0:
        return drawn, -1, nothing, nothing, 0, 0, 0
    if drawn + n > blinks.shape[0]:
        return -1, -1, nothing, nothing, 0, 0, 0
    place, more = best_place(placed, blinks[drawn:drawn + n], blink_share, extra, legs, local,
                             run_last, p, d, lo, hi, transit, pickup_of, limit_of, where,
                             shift_start, shift_end, longest, soft, span, timed, compare,
                             tries, only_more)
    if place < 0:
        return drawn + n, -1, nothing, nothing, 0, 0, 0
    f, last = placed[0, place], placed[1, place]
    vehicle = legs[VEHICLE, f]
    stops = _run_with_journey(legs, local, run_last, f, last, p, d)
    at = earliest(stops, lo, hi, transit, pickup_of, limit_of, where, shift_start[vehicle],
                  shift_end[vehicle], longest[vehicle])
    cost = time_cost(stops, at, hi, transit, pickup_of, limit_of, where, soft,
                     shift_end[vehicle], span, longest[vehicle])
    return drawn + n, vehicle, stops, at, more, placed[2, place], cost


@compiled
def without(seq: NDArray[np.int64], gone: NDArray[np.bool_], lo: NDArray[np.int64],
            hi: NDArray[np.int64], transit: NDArray[np.int64], pickup_of: NDArray[np.int64],
            limit_of: NDArray[np.int64], where: NDArray[np.int64], shift_start: int,
            shift_end: int, longest: int, demand: NDArray[np.int64],
            capacity: NDArray[np.int64], at_break: NDArray[np.bool_], patients: int,
            metres: NDArray[np.int64], range_m: int, cost: NDArray[np.int64],
            change: NDArray[np.int64], soft: NDArray[np.int64],
            span: int) -> tuple[NDArray[np.int64], NDArray[np.int64], int, int]:
    """A run with its stops at `gone` nodes taken off: (stops, times, arcs, what its times cost).

    The times empty if the run then breaks a rule (`earliest`, `loads_fit`). The arcs with
    each pickup's `change` (by node, empty: none) as `arcs_of` counts them, and the times'
    cost as `time_cost`. One call where the search made five.
    """
    m = seq.shape[0]
    kept = 0
    for k in range(m):
        if not gone[seq[k]]:
            kept += 1
    stops = np.empty(kept, dtype=np.int64)
    kept = 0
    for k in range(m):
        if not gone[seq[k]]:
            stops[kept] = seq[k]
            kept += 1
    at = earliest(stops, lo, hi, transit, pickup_of, limit_of, where, shift_start,
                  shift_end, longest)
    if at.shape[0] == 0 or not loads_fit(stops, demand, capacity, at_break, patients, metres,
                                         range_m):
        return stops, at[:0], 0, 0
    timed = time_cost(stops, at, hi, transit, pickup_of, limit_of, where, soft, shift_end,
                      span, longest)
    return stops, at, arcs_of(stops, cost, change), timed


@compiled
def arcs_of(stops: NDArray[np.int64], cost: NDArray[np.int64], change: NDArray[np.int64]
            ) -> int:
    """A run's arcs (start and end among its stops), with each stop's `change` if given.

    `change` by node: a regular's pickup off their usual vehicle (empty: no regulars).
    """
    arcs = 0
    for k in range(stops.shape[0] - 1):
        arcs += cost[stops[k], stops[k + 1]]
    if change.shape[0] > 0:
        for k in range(stops.shape[0]):
            arcs += change[stops[k]]
    return arcs


@compiled
def framed(legs: NDArray[np.int64], counts: NDArray[np.int64]
           ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64],
                      NDArray[np.int64], NDArray[np.int64]]:
    """A board's other arrays from its legs, `counts[k]` legs of each run side by side.

    (first leg of each run; by leg, its transit from the board's start to its start and to
    its end, its position on its run, its run's last leg), as long as `legs` is wide (the
    columns after the runs' are room). Each run's transit carries on from where the run
    before it ends, so that it never falls along the board.
    """
    room = legs.shape[1]
    first_leg = np.empty(counts.shape[0], dtype=np.int64)
    begin = np.empty(room, dtype=np.int64)
    finish = np.empty(room, dtype=np.int64)
    local = np.empty(room, dtype=np.int64)
    run_last = np.empty(room, dtype=np.int64)
    at = 0
    carried = 0
    for k in range(counts.shape[0]):
        first_leg[k] = at
        last = at + counts[k] - 1
        for c in range(at, last + 1):
            begin[c] = legs[BEGIN, c] + carried
            finish[c] = legs[FINISH, c] + carried
            local[c] = c - at
            run_last[c] = last
        carried += legs[FINISH, last]
        at = last + 1
    return first_leg, begin, finish, local, run_last


@compiled
def replace_run(legs: NDArray[np.int64], begin: NDArray[np.int64], finish: NDArray[np.int64],
                local: NDArray[np.int64], run_last: NDArray[np.int64], total: int,
                first_leg: NDArray[np.int64], counts: NDArray[np.int64], k: int,
                part: NDArray[np.int64]) -> int:
    """Run k's legs on the board replaced by `part`'s, in place; the board's new size.

    The board (its first `total` columns) must have room for the change. The runs after it
    move along by the change in legs, and their transit by the change in the run's.
    """
    at, was, now = first_leg[k], counts[k], part.shape[1]
    after = at + was
    shift = now - was
    carried = begin[at]
    longer = part[FINISH, now - 1] - legs[FINISH, after - 1]
    # Moving right, from the end, and left, from the start, so that nothing is overwritten
    # before it moves.
    first, stop, step = (total - 1, after - 1, -1) if shift > 0 else (after, total, 1)
    for r in range(legs.shape[0]):
        for c in range(first, stop, step):
            legs[r, c + shift] = legs[r, c]
    for c in range(first, stop, step):
        begin[c + shift] = begin[c] + longer
        finish[c + shift] = finish[c] + longer
        local[c + shift] = local[c]
        run_last[c + shift] = run_last[c] + shift
    for r in range(legs.shape[0]):
        for c in range(now):
            legs[r, at + c] = part[r, c]
    for c in range(now):
        begin[at + c] = part[BEGIN, c] + carried
        finish[at + c] = part[FINISH, c] + carried
        local[at + c] = c
        run_last[at + c] = at + now - 1
    for j in range(k + 1, counts.shape[0]):
        first_leg[j] += shift
    counts[k] = now
    return int(total + shift)


@compiled
def loads_fit(stops: NDArray[np.int64], demand: NDArray[np.int64], capacity: NDArray[np.int64],
              at_break: NDArray[np.bool_], patients: int, metres: NDArray[np.int64],
              range_m: int) -> bool:
    """Whether a run keeps its loads and its range.

    Every load within the vehicle's capacity at every stop, nobody aboard at a break
    (`patients`: that load's dimension, below 0: none), and the run within its range (below
    0: none).
    """
    on_board = np.zeros(capacity.shape[0], dtype=np.int64)
    for k in range(stops.shape[0]):
        node = stops[k]
        if patients >= 0 and at_break[node] and on_board[patients] > 0:
            return False
        for d in range(capacity.shape[0]):
            on_board[d] += demand[node, d]
            if on_board[d] < 0 or on_board[d] > capacity[d]:
                return False
    if range_m >= 0:
        used = 0
        for k in range(stops.shape[0] - 1):
            used += metres[stops[k], stops[k + 1]]
        if used > range_m:
            return False
    return True


@compiled
def best_place(placed: NDArray[np.int64], blink: NDArray[np.float64], blink_share: float,
               extra: NDArray[np.int64], legs: NDArray[np.int64], local: NDArray[np.int64],
               run_last: NDArray[np.int64], p: int, d: int, lo: NDArray[np.int64],
               hi: NDArray[np.int64], transit: NDArray[np.int64], pickup_of: NDArray[np.int64],
               limit_of: NDArray[np.int64], where: NDArray[np.int64],
               shift_start: NDArray[np.int64], shift_end: NDArray[np.int64],
               longest: NDArray[np.int64], soft: NDArray[np.int64], span: int,
               timed: NDArray[np.int64], compare: int, tries: int,
               only_more: bool) -> tuple[int, int]:
    """The cheapest of a journey's `places` that an exact check of its run's times allows.

    (column of `placed`, what it adds), column -1 if none. A place whose `blink` is below
    `blink_share` is passed over. Places are priced by their arcs plus `extra` (per vehicle,
    empty: none) and tried cheapest first (ties in board order), each km rate on its own,
    rates in the order first met: at most `tries` of a rate, until `compare` pass; with
    `compare` above 1 each is costed in full (its run's times, `time_cost`, less the run's
    own `timed`, per vehicle) and the least kept; `only_more`: a stop added never makes a
    run's times cheaper, so none dearer than the least found need be tried. The same places
    in the same order as the array code it replaces (a seed's plan is unchanged).
    """
    n = placed.shape[1]
    candidates = np.empty(n, dtype=np.int64)
    c = 0
    for k in range(n):
        if blink[k] >= blink_share:
            candidates[c] = k
            c += 1
    priced = placed[2].copy()
    rates = np.empty(n, dtype=np.int64)
    for k in range(n):
        vehicle = legs[VEHICLE, placed[0, k]]
        if extra.shape[0] > 0:
            priced[k] += extra[vehicle]
        rates[k] = legs[RATE, placed[0, k]]
    best, best_more = -1, 0
    done = np.zeros(c, dtype=np.bool_)
    mine = np.empty(c, dtype=np.int64)
    for g in range(c):
        if done[g]:
            continue
        rate = rates[candidates[g]]
        size = 0
        for h in range(g, c):
            if not done[h] and rates[candidates[h]] == rate:
                done[h] = True
                mine[size] = candidates[h]
                size += 1
        order = mine[:size][np.argsort(priced[mine[:size]], kind="mergesort")]
        found, least, chosen, chosen_more = 0, 0, -1, 0
        for q in range(min(tries, size)):
            place = order[q]
            if found > 0 and only_more and priced[place] >= least:
                break
            f, last = placed[0, place], placed[1, place]
            vehicle = legs[VEHICLE, f]
            stops = _run_with_journey(legs, local, run_last, f, last, p, d)
            at = earliest(stops, lo, hi, transit, pickup_of, limit_of, where,
                          shift_start[vehicle], shift_end[vehicle], longest[vehicle])
            if at.shape[0] == 0:
                continue
            more = priced[place]
            if compare > 1:
                more += time_cost(stops, at, hi, transit, pickup_of, limit_of, where, soft,
                                  shift_end[vehicle], span, longest[vehicle]) - timed[vehicle]
            if found == 0 or more < chosen_more:
                chosen, chosen_more = place, more
            least = more if found == 0 else min(least, more)
            found += 1
            if found >= compare:
                break
        if chosen >= 0 and (best < 0 or chosen_more < best_more):
            best, best_more = chosen, chosen_more
    return best, best_more
