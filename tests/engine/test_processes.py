"""The searches' processes: what they find reaches the command while they search."""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path

import pytest

from pts_optimiser.domain.config import load_config
from pts_optimiser.engine.processes import Relay
from pts_optimiser.engine.solve import SolveOptions, solve
from pts_optimiser.io.generate import write_day
from pts_optimiser.io.parse import Inputs, read_problem


def test_the_relay_passes_on_the_most_planned_so_far() -> None:
    """Two searches report in turn: a count below one already passed on is not shown."""
    seen: list[tuple[int, int]] = []
    with ExitStack() as stack:
        relay = Relay(stack, lambda planned, objective, _s: seen.append((planned, objective)))
        for report in [(5, 900), (3, 800), (7, 700), (7, 650)]:
            relay.queue.put(report)
        deadline = time.monotonic() + 5
        while len(seen) < 3 and time.monotonic() < deadline:
            relay.drain()
            time.sleep(0.05)
        assert seen == [(5, 900), (7, 700), (7, 650)]
        # Nothing better for a second: the best so far is told again (a heartbeat; the
        # night's log had gaps of 24 s between progress events).
        time.sleep(1.1)
        relay.drain()
    assert seen == [(5, 900), (7, 700), (7, 650), (7, 650)]


def test_the_portfolio_reports_while_it_searches(tmp_path: Path,
                                                 forked_searches: None) -> None:
    """Until the thirty-fifth stop the portfolio said nothing until both searches ended."""
    write_day(tmp_path, seed=2, journeys=120, vehicles=14)
    inputs = Inputs(tmp_path / "bookings.csv", tmp_path / "fleet.csv",
                    tmp_path / "sites.csv", None)
    problem, _ = read_problem(inputs, load_config(None))
    reports: list[tuple[int, float]] = []
    plan = solve(problem, SolveOptions(time_limit_s=8.0, strategy="portfolio"),
                   progress=lambda planned, _objective, seconds: reports.append((planned,
                                                                                seconds)))
    during = [seconds for _, seconds in reports if seconds < 6.0]
    assert len(during) >= 2, reports  # a count each second or so, not one at the end
    planned = [count for count, _ in reports]
    during_counts = planned[:-1]  # the searches' own, never falling back
    assert during_counts == sorted(during_counts) and planned[0] > 0
    # The last is the plan kept: patients' days whole first, so it may carry fewer
    # journeys than a search once had.
    assert planned[-1] == len(plan.planned)


def _hangs(*_args: object, **_kwargs: object) -> None:
    time.sleep(120)


def test_a_search_ended_at_its_deadline_leaves_the_plan_it_handed_over(
        tmp_path: Path, forked_searches: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ruin and recreate still running at the deadline: OR-Tools' plan is kept, not lost.

    Until the thirty-seventh stop both searches' plans died with their processes, and the
    day got the one-at-a-time plan: a fresh install's first demo under load planned 629 of
    750 journeys, not 742.
    """
    from pts_optimiser.check.checker import check_plan
    from pts_optimiser.engine import strategies
    from pts_optimiser.services.publish import write_plan

    write_day(tmp_path / "day", seed=2, journeys=60, vehicles=8)
    inputs = Inputs(tmp_path / "day" / "bookings.csv", tmp_path / "day" / "fleet.csv",
                    tmp_path / "day" / "sites.csv", None)
    problem, _ = read_problem(inputs, load_config(None))
    monkeypatch.setattr(strategies, "_recreated", _hangs)
    started = time.monotonic()
    plan = solve(problem, SolveOptions(time_limit_s=6.0, strategy="portfolio"))
    assert time.monotonic() - started < 20  # ended at the deadline, not after the hang
    assert strategies.HANDED_OVER in str(plan.search["status"]), plan.search["status"]
    assert not str(plan.search["status"]).startswith("fallback")
    fallback = plan.search.get("fallback_served", 0)
    assert isinstance(fallback, int) and len(plan.planned) >= fallback
    write_plan(plan, tmp_path / "plan")
    result = check_plan(problem, tmp_path / "plan")
    assert result.ok, result.violations[:5]
