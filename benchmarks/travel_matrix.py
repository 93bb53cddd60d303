"""Benchmark: time to build the travel matrix for N places with the contract's estimate.

    python benchmarks/travel_matrix.py --places 2000 --repeat 5
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from pts_optimiser.domain.config import load_config
from pts_optimiser.io.osrm import travel_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--places", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    lats = rng.uniform(52.7, 53.5, args.places)
    lons = rng.uniform(-2.1, -1.2, args.places)
    model = travel_model(load_config().travel)
    times = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        model.matrix(lats, lons)
        times.append(time.perf_counter() - started)
    print(f"{args.places} places: best {min(times):.3f} s, median {np.median(times):.3f} s "
          f"over {args.repeat} runs")


if __name__ == "__main__":
    main()
