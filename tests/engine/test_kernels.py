"""The compiled loops of ruin and recreate: where their machine code may be kept."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit
from numba.core import config

from pts_optimiser.engine import kernels


class Nowhere:
    """A cache locator that finds no writable place, as on a read-only install and home."""

    @classmethod
    def from_function(cls, py_func: object, source_path: str) -> None:
        return None


def test_with_nowhere_to_cache_the_kernels_still_compile(monkeypatch: pytest.MonkeyPatch) -> None:
    """A hardened service (docs/pts-board.service) costs a compile, not a failure to start."""
    monkeypatch.setattr(config, "CACHE_LOCATOR_CLASSES", f"{__name__}.Nowhere")

    def stops_with(seq: np.ndarray, i: int, j: int, p: int, d: int) -> np.ndarray:
        return kernels.with_journey(seq, i, j, p, d)

    with pytest.raises(RuntimeError, match="no locator"):
        njit(cache=True)(stops_with)  # numba alone refuses
    fresh = kernels.compiled(stops_with)
    found = fresh(np.asarray([0, 5, 6, 1], dtype=np.int64), 0, 1, 8, 9)
    assert found.tolist() == [0, 8, 5, 9, 6, 1]
