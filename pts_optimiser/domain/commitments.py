"""What is already decided when a day is planned.

Where each vehicle stands, who stays with which crew, the plan to start from, and the rides
back owed to patients already out.

Re-planning part-way through a day, the planning board's locks and its re-solve, and the
week planner's continuity all hand the engine one `Commitments`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pts_optimiser.domain.plan import Event, Stop
from pts_optimiser.domain.problem import Journey, Place


@dataclass(frozen=True)
class VehicleStart:
    """Where a vehicle shift stands when planning starts part-way through the day."""

    done: tuple[Stop, ...]  # stops made or under way: kept exactly as they are
    on_board: tuple[tuple[Journey, int], ...] = ()  # still aboard: (journey, boarded at)
    break_taken: bool = False
    off_road: bool = False  # taken off the road: drops who is aboard, takes nobody new
    idle: bool = False  # not yet left its base: `done` is only a start, which may move later
    # An off-road vehicle that turned back from a pickup left its last stop before the call:
    # it can do nothing new before the call itself.
    not_before_min: int = 0
    # ...and was then part-way along the road: where (on the straight line, in proportion to
    # the time driven) and the metres it had driven from its last stop. Without this it was
    # planned from its last stop at the call, up to a whole leg late for a patient aboard.
    turned_at: Place | None = None
    turned_m: int = 0

    @property
    def place(self) -> Place:
        """Where the vehicle is free again."""
        if self.turned_at is not None:
            return self.turned_at
        last = self.done[-1]
        return Place(last.lat, last.lon, last.label)

    @property
    def free_min(self) -> int:
        """When the vehicle is free again."""
        return max(self.done[-1].departure_min, self.not_before_min)

    @property
    def metres(self) -> int:
        """Road metres already driven."""
        return sum(stop.leg_m for stop in self.done) + self.turned_m


@dataclass(frozen=True)
class Preference:
    """How a regular patient's journey is usually served: asked for, never required.

    The engine prices a pickup on another vehicle than the first of `vehicle_ids` that
    could carry the journey today (`[continuity] vehicle_change_cost`), and each minute it
    is more than `pickup_slack_min` from the usual time (`pickup_spread_cost_per_min`);
    none of them, or no minute, asks nothing of that kind. `copied_days` is how many of the
    patient's days this day's crews stand for (a week's anchor day, whose runs its rota's
    other days ride): their day split between crews costs `crew_change_cost` that many
    times.
    """

    vehicle_ids: tuple[str, ...] = ()
    pickup_min: int | None = None
    copied_days: int = 1


@dataclass(frozen=True)
class Commitments:
    """What the planner must respect or start from, beyond the day's problem.

    `starts` (vehicle id -> VehicleStart): re-planning part-way through the day, each
    shift's stops already made (kept as they are) and who is still on board (dropped by
    that same vehicle). `keep_on` (journey id -> vehicle id): journeys stay on the crew that
    has them, where that vehicle can still carry them. `warm` (vehicle id -> the rest of its
    old run: event, journey id, place): the search starts from the old plan, so nothing it
    served is lost unless it must be. `bring_back` (journey ids): returns of patients
    already taken out; each costs far more to leave out than any other journey, so it is
    never given up for capacity while anything else could be. `prefer` (journey id ->
    Preference): continuity of care, as costs in the search's objective, so a preference
    gives way to a journey and to the hard rules; `together` (groups of journey ids: a
    regular's day) asks for one crew for each group, as a cost for each crew more.
    `sketch` (vehicle id -> runs as `warm`): a plan to improve that need not be whole or
    even keep every rule (a regular's runs of another day, mapped onto this one); the
    search repairs it and fills it in beside its own construction, and keeps whichever
    ends better: the repaired sketch wherever it serves no more than `sketch_allowance`
    journeys fewer (continuity bought with at most that many; 0, the default, buys it with
    none). `promised` (journey ids): journeys a re-plan's patients were told a crew would
    make; leaving one out costs three times what leaving out one that never had a crew
    does, so the search does not trade a promise for journeys nobody was waiting on.
    """

    starts: Mapping[str, VehicleStart] = field(default_factory=dict)
    keep_on: Mapping[str, str] = field(default_factory=dict)
    warm: Mapping[str, Sequence[tuple[Event, str, Place]]] = field(default_factory=dict)
    bring_back: frozenset[str] = frozenset()
    prefer: Mapping[str, Preference] = field(default_factory=dict)
    together: Sequence[tuple[str, ...]] = ()
    sketch: Mapping[str, Sequence[tuple[Event, str, Place]]] = field(default_factory=dict)
    sketch_allowance: int = 0
    promised: frozenset[str] = frozenset()


NOTHING_COMMITTED = Commitments()
