"""Fixtures of the engine's tests."""

from __future__ import annotations

import pytest

from pts_optimiser.engine import processes as processes_module


@pytest.fixture
def forked_searches(monkeypatch: pytest.MonkeyPatch) -> None:
    """The searches' processes forked, so that what a test patched here runs there too.

    The engine spawns them instead once this process runs other threads, and an earlier
    test may have left some (a Dask client's, a test server's): a spawned child imports
    the engine afresh and would search with the real code, not the test's stand-in.
    """
    monkeypatch.setattr(processes_module, "start_method", lambda: "fork")
