"""Travel between places: the contract's estimate from coordinates, behind one interface.

A road-routing service (OSRM's table API, `pts_optimiser.io.osrm`) replaces the estimate when
configured; everything downstream asks only for matrices of metres and minutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

EARTH_RADIUS_M = 6_371_009.0  # mean Earth radius in metres, the value geopy uses


@dataclass(frozen=True)
class TravelMatrix:
    """Road distance (metres) and driving time (whole minutes, rounded up) between places."""

    distance_m: NDArray[np.int64]
    duration_min: NDArray[np.int64]
    warning: str = ""  # set when a routing service failed and the estimate stood in


class TravelModel(Protocol):
    """Anything that can say how far and how long between every pair of places."""

    def matrix(self, lats: NDArray[np.float64], lons: NDArray[np.float64]) -> TravelMatrix:
        """Distances and times from every place to every other."""
        ...


def great_circle_m(lats: NDArray[np.float64], lons: NDArray[np.float64]) -> NDArray[np.float64]:
    """Haversine distance in metres between every pair of the given points."""
    phi = np.radians(lats)
    lam = np.radians(lons)
    dphi = phi[:, None] - phi[None, :]
    dlam = lam[:, None] - lam[None, :]
    cos_pairs = np.cos(phi)[:, None] * np.cos(phi)[None, :]
    half = np.sin(dphi / 2) ** 2 + cos_pairs * np.sin(dlam / 2) ** 2
    result: NDArray[np.float64] = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(half, 0.0, 1.0)))
    return result


def point_distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle metres between two points."""
    return float(great_circle_m(np.array([lat1, lat2]), np.array([lon1, lon2]))[0, 1])


@dataclass(frozen=True)
class EstimatedTravel:
    """The contract's default: road = factor x great-circle distance, at an average speed."""

    road_factor: float = 1.3
    speed_kmh: float = 40.0

    def matrix(self, lats: NDArray[np.float64], lons: NDArray[np.float64]) -> TravelMatrix:
        """Road metres (rounded) and minutes (rounded up, so no leg is planned too fast)."""
        road_m = great_circle_m(lats, lons) * self.road_factor
        minutes = np.ceil(road_m / (self.speed_kmh * 1000.0 / 60.0) - 1e-9)
        return TravelMatrix(np.rint(road_m).astype(np.int64), minutes.astype(np.int64))


def direct_minutes(model: TravelModel, lat1: float, lon1: float, lat2: float, lon2: float) -> int:
    """Driving minutes of one leg, exactly as a matrix of the day would give it."""
    return int(model.matrix(np.array([lat1, lat2]), np.array([lon1, lon2])).duration_min[0, 1])
