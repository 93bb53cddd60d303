"""Which of the portfolio's plans is kept."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pts_optimiser.engine import strategies
from pts_optimiser.engine.model import RoutingOutcome, SearchSettings, Visit
from pts_optimiser.engine.recreate import RecreateSettings
from pts_optimiser.engine.strategies import kept_plan, whole_days
from tests.helpers import line_day


def _outcome(nodes: list[int], objective: int) -> tuple[SearchSettings, RoutingOutcome]:
    return SearchSettings(1.0), RoutingOutcome(
        ((Visit(0, 0), *(Visit(n, 0) for n in nodes), Visit(1, 0)),), objective, "", 1.0)


def test_the_plan_carrying_more_patients_days_whole_is_kept() -> None:
    """Three round trips out and back; one plan carries the three returns, one a whole day.

    The first serves more journeys and costs less; the second brings a patient there and
    back, and is kept. Of plans carrying as many days whole, the one with more journeys.
    """
    data = line_day([0, 0, *range(10, 130, 10)],
                    [(2, 3, 100), (4, 5, 100), (6, 7, 100), (8, 9, 100), (10, 11, 100),
                     (12, 13, 100)])
    data = replace(data, links=[(0, 1), (2, 3), (4, 5)])
    returns = _outcome([4, 5, 8, 9, 12, 13], 100)
    one_day = _outcome([2, 3, 4, 5], 900)
    assert whole_days({1, 3, 5}, data) == 0 and whole_days({0, 1}, data) == 1
    assert kept_plan([returns, one_day], data) == one_day
    more_journeys = _outcome([2, 3, 4, 5, 8, 9], 950)
    assert kept_plan([one_day, more_journeys], data) == more_journeys
    assert whole_days(set(range(6)), replace(data, links=[])) == 6


def test_ruin_and_recreate_starts_cooler_from_a_sketch(monkeypatch: pytest.MonkeyPatch) -> None:
    """From another day's runs the search starts at SKETCH_WORSE_SHARE, else as usual.

    Its regulars already ride their usual crews: hot, the search would first move them off.
    """
    seen: list[RecreateSettings] = []

    def recreate(data: object, routes: object, settings: RecreateSettings,
                 foreign: bool = False, on_best: object = None) -> None:
        seen.append(settings)

    monkeypatch.setattr(strategies, "recreate", recreate)
    data = line_day([0, 0, 10, 20], [(2, 3, 100)])
    for start_name in (strategies.SKETCH, strategies.ONE_AT_A_TIME):
        assert strategies._recreated(data, None, 5.0, 0, start=[[2, 3]],
                                     start_name=start_name) is None
    assert [s.start_worse_share for s in seen] == [strategies.SKETCH_WORSE_SHARE,
                                                   RecreateSettings(1.0).start_worse_share]
    assert RecreateSettings(1.0).start_worse_share > strategies.SKETCH_WORSE_SHARE
