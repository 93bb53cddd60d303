"""Splitting a day in two halves: parts are self-contained and map back to the whole day."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from pts_optimiser.domain.problem import Problem
from pts_optimiser.engine import strategies as strategies_module
from pts_optimiser.engine.decompose import split_by_latitude
from pts_optimiser.engine.model import (
    LOADS,
    RoutingInput,
    RoutingOutcome,
    RoutingRequest,
    RoutingVehicle,
    Visit,
)
from pts_optimiser.engine.solve import SolveOptions, solve
from tests.helpers import booking, load, vehicle


def _whole() -> RoutingInput:
    """Two vehicles (nodes 0-3), two requests (4-7), one break node (8)."""
    n = 9
    travel = np.arange(n * n, dtype=np.int64).reshape(n, n)
    vehicles = [RoutingVehicle(0, 2, 480, 960, dict.fromkeys(LOADS, 3), None, 10),
                RoutingVehicle(1, 3, 480, 960, dict.fromkeys(LOADS, 3), None, 10)]
    requests = [RoutingRequest(4, 5, 60, 1000, (0, 1)), RoutingRequest(6, 7, 60, 1000, (1,))]
    return RoutingInput(travel, travel * 100, list(range(n)), [(0, 1440)] * n,
                        {name: [0, 0, 0, 0, 1, -1, 1, -1, 0] for name in LOADS}, vehicles,
                        requests, {8: 0})


def test_parts_are_self_contained() -> None:
    """Each part holds its own vehicles, their breaks and the requests they may carry."""
    whole = _whole()
    north, south = split_by_latitude(whole, [53.3, 52.8], [53.3, 52.8])
    assert north.vehicle_in_whole == (0,)
    assert north.node_in_whole == (0, 2, 4, 5, 8)
    assert [r.allowed_vehicles for r in north.data.requests] == [(0,)]
    assert north.data.break_owner == {4: 0}
    assert south.vehicle_in_whole == (1,)
    assert south.node_in_whole == (1, 3, 6, 7)
    assert int(south.data.travel_min[2, 3]) == int(whole.travel_min[6, 7])


def _both_on_the_north_vehicle() -> tuple[RoutingInput, RoutingOutcome]:
    """The whole day, request 1 allowed on either vehicle, and a start carrying 0 and 1 north."""
    whole = _whole()
    whole = replace(whole, requests=[whole.requests[0],
                                     replace(whole.requests[1], allowed_vehicles=(0, 1))])
    start = RoutingOutcome(((Visit(0, 480), Visit(4, 500), Visit(5, 520), Visit(6, 540),
                             Visit(7, 560), Visit(2, 700)), (Visit(1, 480), Visit(3, 600))),
                           0, "success", 1.0)
    return whole, start


def test_a_part_keeps_the_days_asked_for_one_crew_that_it_holds_whole() -> None:
    """A group of journeys asked to ride with one crew goes with its part, renumbered."""
    whole, start = _both_on_the_north_vehicle()
    whole = replace(whole, together=[((0, 1), 500)])
    # Both carried by the northern vehicle: they stay together in its part.
    apart = split_by_latitude(whole, [53.3, 52.8], [53.3, 52.8])
    assert [part.data.together for part in apart] == [[], []]
    with_start = split_by_latitude(whole, [53.3, 52.8], [53.3, 52.8], start=start)
    assert [part.data.together for part in with_start] == [[((0, 1), 500)]]


def test_a_part_keeps_the_round_trips_it_holds_whole() -> None:
    """Out (0) and back (1) carried by the northern vehicle: the part keeps their link."""
    whole, start = _both_on_the_north_vehicle()
    whole = replace(whole, links=[(0, 1)])
    apart = split_by_latitude(whole, [53.3, 52.8], [53.3, 52.8])
    assert [list(part.data.links) for part in apart] == [[], []]
    with_start = split_by_latitude(whole, [53.3, 52.8], [53.3, 52.8], start=start)
    assert [list(part.data.links) for part in with_start] == [[(0, 1)]]


def test_parts_start_from_the_whole_day() -> None:
    """A journey goes with the vehicle carrying it, and the part starts from those routes."""
    whole = _whole()
    # Request 0 (nodes 4, 5) lies north but is carried by the southern vehicle 1.
    start = RoutingOutcome(((Visit(0, 480), Visit(8, 600), Visit(2, 700)),
                            (Visit(1, 480), Visit(4, 500), Visit(5, 520), Visit(3, 600))),
                           0, "success", 1.0)
    parts = split_by_latitude(whole, [53.3, 52.8], [53.3, 52.8], start=start)
    # The north has no journey left to improve: only the south is a part.
    assert [part.vehicle_in_whole for part in parts] == [(1,)]
    assert parts[0].node_in_whole == (1, 3, 4, 5, 6, 7)
    assert parts[0].initial_routes == ((2, 3),)


def _two_towns(tmp_path: Path) -> Problem:
    """220 journeys around Chesterfield and Derby, six cars based in each."""
    bookings = [booking(f"N{i}", pickup_lat=53.20 + i / 500, pickup_lon=-1.45,
                        dropoff_site="CRH", appointment_time=f"{9 + i % 6:02d}:00")
                for i in range(110)]
    bookings += [booking(f"S{i}", pickup_lat=52.90 + i / 500,
                         appointment_time=f"{9 + i % 6:02d}:30") for i in range(110)]
    fleet = [vehicle(f"N{i}", base_site="ST-CHESTERFIELD", shift_start="07:30",
                     shift_end="16:00") for i in range(6)]
    fleet += [vehicle(f"S{i}", shift_start="07:30", shift_end="16:00") for i in range(6)]
    return load(tmp_path, bookings, fleet)


def test_split_strategy_plan_is_legal(tmp_path: Path) -> None:
    """A day large enough to split is planned legally, as the checker sees it."""
    from pts_optimiser.check.checker import check_plan
    from pts_optimiser.services.publish import write_plan

    problem = _two_towns(tmp_path)
    plan = solve(problem, SolveOptions(time_limit_s=12, strategy="split"))
    write_plan(plan, tmp_path / "plan")
    result = check_plan(problem, tmp_path / "plan")
    assert result.ok, result.violations[:5]
    assert len(plan.planned) + len(plan.unassigned) == 220
    assert len(plan.planned) > 100
    assert plan.search["status"] == "whole day, then halves"


def _die(part: object, settings: object) -> None:
    os._exit(1)  # as a killed or out-of-memory child would


@pytest.mark.usefixtures("forked_searches")
def test_a_failed_half_keeps_the_whole_day(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """If a half's process dies, the whole-day routes stand and a plan is still made."""
    monkeypatch.setattr(strategies_module, "_improve_part", _die)
    plan = solve(_two_towns(tmp_path), SolveOptions(time_limit_s=12, strategy="split"))
    assert len(plan.planned) > 100
    assert len(plan.planned) + len(plan.unassigned) == 220
