"""The travel estimate: the contract's formula, agreeing with geopy, fast on big matrices."""

from __future__ import annotations

import numpy as np
from geopy.distance import great_circle

from pts_optimiser.domain.travel import EstimatedTravel, great_circle_m


def test_matches_geopy_great_circle() -> None:
    """Vectorised distances agree with geopy's great_circle to the metre."""
    rng = np.random.default_rng(3)
    lats = rng.uniform(52.7, 53.5, 40)
    lons = rng.uniform(-2.1, -1.2, 40)
    ours = great_circle_m(lats, lons)
    for i in range(0, 40, 7):
        for j in range(0, 40, 5):
            reference = great_circle((lats[i], lons[i]), (lats[j], lons[j])).m
            assert abs(ours[i, j] - reference) < 1.0


def test_contract_formula() -> None:
    """Road metres are 1.3 x great-circle; minutes at 40 km/h, rounded up."""
    travel = EstimatedTravel(1.3, 40.0)
    lats = np.array([52.9106, 53.2337])  # Royal Derby to Chesterfield Royal
    lons = np.array([-1.5125, -1.3916])
    matrix = travel.matrix(lats, lons)
    straight = great_circle((lats[0], lons[0]), (lats[1], lons[1])).m
    assert abs(matrix.distance_m[0, 1] - 1.3 * straight) <= 0.5
    exact_min = 1.3 * straight / (40_000 / 60)
    assert matrix.duration_min[0, 1] == int(np.ceil(exact_min))
    assert matrix.duration_min[0, 0] == 0
    assert (matrix.duration_min == matrix.duration_min.T).all()


def test_two_thousand_locations() -> None:
    """A 2,000-place matrix builds (its time is measured in benchmarks/, not asserted here)."""
    rng = np.random.default_rng(1)
    matrix = EstimatedTravel().matrix(rng.uniform(52.7, 53.5, 2000), rng.uniform(-2.1, -1.2, 2000))
    assert matrix.distance_m.shape == (2000, 2000)
    assert matrix.duration_min.dtype == np.int64
