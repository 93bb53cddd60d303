"""Ruin and recreate's inner loops, compiled (numba).

Pricing a journey on every run at once took ~50 numpy calls on arrays of a few hundred
places, each paying its own overhead: on the published instances half of the search's
time (docs/benchmarks.md). Here the same screen is one pass over the board's legs. Nothing
here decides anything the caller would not: the places come out in the same order, with
the same costs, as the array code they replace.

Compiled functions are cached beside this file (`cache=True`), so a process pays the
compilation once per machine, not once per search.
"""

from __future__ import annotations

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


@njit(cache=True)
def _grown(buffer: NDArray[np.int64], size: int) -> NDArray[np.int64]:
    if size < buffer.shape[1]:
        return buffer
    bigger = np.empty((buffer.shape[0], 2 * buffer.shape[1]), dtype=np.int64)
    bigger[:, :size] = buffer[:, :size]
    return bigger


@njit(cache=True)
def places(legs: NDArray[np.int64], begin: NDArray[np.int64], finish: NDArray[np.int64],
           run_last: NDArray[np.int64], transit: NDArray[np.int64], costs: NDArray[np.int64],
           metres: NDArray[np.int64], ranged: bool, p: int, d: int, lo_p: int, hi_p: int,
           lo_d: int, hi_d: int, limit: int, demand: NDArray[np.int64],
           change: NDArray[np.int64], allowed: NDArray[np.bool_]) -> NDArray[np.int64]:
    """The places on the board a journey (pickup `p`, drop-off `d`) may take, in board order.

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
    for f in range(legs.shape[1]):
        a_f, b_f = legs[START, f], legs[END, f]
        reach_p = max(lo_p, legs[LEAVE_AT, f] + transit[a_f, p])
        to_p = transit[p, b_f]
        if reach_p > hi_p or reach_p + to_p > legs[LATEST, f]:
            continue
        rate = legs[RATE, f]
        vehicle = legs[VEHICLE, f]
        if allowed.shape[0] > 0 and not allowed[vehicle]:
            continue
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
