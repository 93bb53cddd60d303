"""The OR-Tools model: a stop the user asks for ends a search running in this process."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from pts_optimiser import cli
from pts_optimiser.domain.exits import Terminated, stop_asked
from pts_optimiser.engine.model import SearchSettings, solve_routing
from tests.helpers import line_day


@pytest.mark.parametrize(("signum", "raised"), [(signal.SIGTERM, Terminated),
                                                (signal.SIGINT, KeyboardInterrupt)])
def test_a_stop_asked_mid_search_ends_the_search(signum: int,
                                                 raised: type[BaseException]) -> None:
    """SIGTERM or Ctrl-C while OR-Tools searches here: the search ends, the stop is raised.

    Until the thirty-fifth stop the exception was lost in OR-Tools' callback: a re-plan
    ran to its end, wrote its plan and exited 0.
    """
    data = line_day([0, 0, *range(10, 170, 10)],
                    [(2 + 2 * k, 3 + 2 * k, 500) for k in range(8)], vehicles=3)
    started = time.monotonic()
    with cli._sigterm_stops():
        timer = threading.Timer(1.0, os.kill, (os.getpid(), signum))
        timer.start()
        with pytest.raises(raised):
            solve_routing(data, SearchSettings(30.0))
    assert time.monotonic() - started < 10
    assert stop_asked() is None  # forgotten once acted on
