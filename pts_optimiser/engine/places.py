"""Every distinct place of a day and the travel between them, computed once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from pts_optimiser.domain.problem import Place, Problem
from pts_optimiser.io.osrm import travel_model


@dataclass(frozen=True)
class DayPlaces:
    """Every distinct place of the day, and travel between them."""

    lats: NDArray[np.float64]
    lons: NDArray[np.float64]
    minutes: NDArray[np.int64]
    metres: NDArray[np.int64]
    index: dict[tuple[float, float], int]
    warning: str = ""  # the routing service failed and the estimate stood in

    def of(self, place: Place) -> int:
        """Index of a place in the matrices."""
        return self.index[(place.lat, place.lon)]


# A road server's whole table may take at most this share of a solve's time (and never
# more than the policy's osrm_timeout_s): until the thirty-fifth stop it had the policy's
# whole timeout, twice, and a slow server held `pts solve --time-limit 8` for 52 s.
ROADS_SHARE = 0.2


def with_roads(problem: Problem, seconds_left: float) -> Problem:
    """The problem with its travel model made once, a road server's wait bounded by time."""
    if problem.travel is not None or problem.config.travel.provider != "osrm":
        return problem
    return replace(problem, travel=travel_model(problem.config.travel,
                                                ROADS_SHARE * seconds_left))


def day_places(problem: Problem, extra: Sequence[Place] = ()) -> DayPlaces:
    """Bases, pickups, drop-offs and `extra` places, with the travel model's matrices."""
    points: dict[tuple[float, float], int] = {}
    every = [v.base for v in problem.vehicles]
    every += [p for j in problem.journeys for p in (j.pickup, j.dropoff)]
    for place in [*every, *extra]:
        points.setdefault((place.lat, place.lon), len(points))
    lats = np.array([p[0] for p in points])
    lons = np.array([p[1] for p in points])
    matrix = (problem.travel or travel_model(problem.config.travel)).matrix(lats, lons)
    return DayPlaces(lats, lons, matrix.duration_min, matrix.distance_m, points,
                     matrix.warning)
