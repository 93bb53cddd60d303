"""A crew's break taken where the crew already is.

The search takes a crew's break at a break visit: its base or the hospital nearest it
(`encode.break_sites`), places fixed before it searches, so that OR-Tools can time
them. The contract takes a break where the vehicle is, with nobody on board; on a
750-journey day about half the breaks were a drive from the stop before (a hospital, or
the base the crew had just left) to a break visit and on (docs/benchmarks.md, 2026-12-05
night, last). Once the routes are timed, such a break moves to a stop of the same run
where the crew already is, at a hospital, community hospital, renal unit or its base,
with nobody on board and room for it: the drive goes, and every other stop keeps its
time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from pts_optimiser.domain.plan import Event, Stop
from pts_optimiser.domain.problem import Place
from pts_optimiser.engine.model import RoutingInput


def where_crew_is(stops: Sequence[Stop], nodes: Sequence[int], data: RoutingInput,
                  restful: Callable[[int], Place | None], kept: int = 0) -> list[Stop]:
    """The stops with the break moved to a restful place the run already stops at.

    `stops` as the route was timed (each departure the end of its service, waits not yet
    placed) and `nodes` their model nodes; the first `kept` stops (made before a re-plan)
    never move, nor does a break next to them. `restful(node)`: the node's place if a crew
    may break there, else None. The stops as given where the break is already where the
    crew is, or nowhere else has room for it without moving another stop.
    """
    stops = list(stops)
    at = next((k for k in range(kept + 1, len(stops) - 1)
               if stops[k].event is Event.BREAK), None)
    if at is None:
        return stops
    metres, minutes = data.distance_m, data.travel_min
    brk, before, after = nodes[at], nodes[at - 1], nodes[at + 1]
    if metres[before, brk] + metres[brk, after] <= metres[before, after]:
        return stops  # no drive to it
    rest, geo = stops[:at] + stops[at + 1:], [*nodes[:at], *nodes[at + 1:]]
    lo, hi = data.windows[brk]
    length = data.service_min[brk]
    options: list[tuple[bool, int, int, int, int, Place]] = []
    for i in range(kept, len(rest) - 1):
        j = i + 1
        if _on_board(rest[i]):
            continue
        # The next stop keeps its time; the end of the shift comes no later.
        leave, due = rest[i].departure_min, rest[j].service_start_min
        drive = int(minutes[geo[i], geo[j]])
        # At the stop just made (then the drive on), or at the next one on arriving.
        for start, node, then in ((max(leave, lo), geo[i], drive),
                                  (max(leave + drive, lo), geo[j], 0)):
            place = restful(node)
            if place is not None and start <= hi and start + length + then <= due:
                options.append((i != at - 1, abs(start - stops[at].service_start_min), i,
                                start, node, place))
    if not options:
        return stops
    # Where the break was if it fits there, else the nearest its time.
    _, _, i, start, node, place = min(options, key=lambda o: o[:3])
    here = Stop(Event.BREAK, place.lat, place.lon, place.label, start, start, start + length, 0)
    return _retimed([*rest[:i + 1], here, *rest[i + 1:]], [*geo[:i + 1], node, *geo[i + 1:]],
                    data, kept) or stops


def _on_board(stop: Stop) -> bool:
    return stop.seats_used + stop.wheelchairs_used + stop.stretchers_used > 0


def _retimed(stops: list[Stop], nodes: list[int], data: RoutingInput, kept: int
             ) -> list[Stop] | None:
    """Each leg after the kept stops measured again between the places now driven.

    None if a stop would then be reached after its service starts.
    """
    out = list(stops)
    for k in range(kept + 1, len(out)):
        a, b = nodes[k - 1], nodes[k]
        arrival = out[k - 1].departure_min + int(data.travel_min[a, b])
        stop = replace(out[k], leg_m=int(data.distance_m[a, b]), arrival_min=arrival)
        if stop.event is Event.END:
            stop = replace(stop, service_start_min=arrival, departure_min=arrival)
        elif arrival > stop.service_start_min:
            return None
        out[k] = stop
    return out
