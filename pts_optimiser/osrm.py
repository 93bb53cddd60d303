"""Road times from an OSRM server's table API, with the estimate as a fallback.

The only network use at run time, and only to the server the user configures. Requests
are chunked to stay under the server's table-size limit; a server that is down, slow or
answers nonsense makes the whole matrix fall back to the estimate, with a warning that
reaches the log and the summary (a plan is made either way).
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pts_optimiser.travel import EstimatedTravel, TravelMatrix


class OsrmError(Exception):
    """The server could not give a usable table."""


@dataclass(frozen=True)
class OsrmTravel:
    """Travel from OSRM's `table` service (durations and distances)."""

    url: str
    timeout_s: float
    max_table: int
    fallback: EstimatedTravel

    def matrix(self, lats: NDArray[np.float64], lons: NDArray[np.float64]) -> TravelMatrix:
        """Road metres and minutes (rounded up); the estimate if the server fails."""
        try:
            seconds, metres = self._table(lats, lons)
        except OsrmError as exc:
            estimate = self.fallback.matrix(lats, lons)
            return TravelMatrix(estimate.distance_m, estimate.duration_min,
                                f"OSRM at {self.url} failed ({exc}); travel estimated from "
                                "coordinates instead")
        estimate = self.fallback.matrix(lats, lons)
        # A pair the server cannot route (null) keeps the estimate.
        missing = np.isnan(seconds) | np.isnan(metres)
        minutes = np.where(missing, estimate.duration_min, np.ceil(seconds / 60 - 1e-9))
        distance = np.where(missing, estimate.distance_m, np.rint(metres))
        warning = (f"OSRM could not route {int(missing.sum())} pair(s); estimated instead"
                   if missing.any() else "")
        return TravelMatrix(distance.astype(np.int64), minutes.astype(np.int64), warning)

    def _table(self, lats: NDArray[np.float64], lons: NDArray[np.float64]
               ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        n = len(lats)
        seconds = np.full((n, n), np.nan)
        metres = np.full((n, n), np.nan)
        block = max(1, self.max_table // 2)  # sources and destinations share one request
        for first in range(0, n, block):
            sources = list(range(first, min(n, first + block)))
            for second in range(0, n, block):
                targets = list(range(second, min(n, second + block)))
                places = sources + [t for t in targets if t not in sources]
                position = {place: k for k, place in enumerate(places)}
                answer = self._get(places, lats, lons, [position[s] for s in sources],
                                   [position[t] for t in targets])
                seconds[np.ix_(sources, targets)] = answer[0]
                metres[np.ix_(sources, targets)] = answer[1]
        return seconds, metres

    def _get(self, places: list[int], lats: NDArray[np.float64], lons: NDArray[np.float64],
             sources: list[int], targets: list[int]
             ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        coordinates = ";".join(f"{lons[p]:.6f},{lats[p]:.6f}" for p in places)
        query = (f"{self.url.rstrip('/')}/table/v1/driving/{coordinates}"
                 f"?sources={';'.join(map(str, sources))}"
                 f"&destinations={';'.join(map(str, targets))}&annotations=duration,distance")
        try:
            with urllib.request.urlopen(query, timeout=self.timeout_s) as response:
                body = json.loads(response.read().decode("utf-8"))
        except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
            raise OsrmError(str(getattr(exc, "reason", exc))) from None
        if not isinstance(body, dict) or body.get("code") != "Ok":
            code = body.get("code") if isinstance(body, dict) else "no JSON object"
            raise OsrmError(f"server answered {code}")
        try:
            durations = _grid(body["durations"], len(sources), len(targets))
            distances = _grid(body["distances"], len(sources), len(targets))
        except (KeyError, TypeError, ValueError) as exc:
            raise OsrmError(f"unexpected table ({exc})") from None
        return durations, distances


def _grid(rows: object, n_rows: int, n_cols: int) -> NDArray[np.float64]:
    """A table of numbers or nulls (unroutable) as floats with NaN."""
    if not isinstance(rows, list) or len(rows) != n_rows:
        raise ValueError("wrong number of rows")
    grid = np.full((n_rows, n_cols), np.nan)
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != n_cols:
            raise ValueError("wrong number of columns")
        for j, value in enumerate(row):
            if value is not None:
                number = float(value)
                if not math.isfinite(number) or number < 0:
                    raise ValueError("not a travel time or distance")
                grid[i, j] = number
    return grid
