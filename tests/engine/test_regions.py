"""A day larger than one model, planned region by region, and judged by the checker."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from pts_optimiser.cli import main
from pts_optimiser.domain.commitments import NOTHING_COMMITTED, Commitments, Preference
from pts_optimiser.domain.config import load_config
from pts_optimiser.domain.plan import Plan, Reason, Unassigned
from pts_optimiser.domain.problem import Journey, Problem
from pts_optimiser.engine import regions as regions_module
from pts_optimiser.engine import solve as solve_module
from pts_optimiser.engine.regions import Region, _kind, across_seam, merged, split
from pts_optimiser.io.parse import Inputs, read_problem


def _day(work: Path, journeys: int, vehicles: int) -> Inputs:
    made = CliRunner().invoke(main, ["generate", "--seed", "3", "--journeys", str(journeys),
                                     "--vehicles", str(vehicles), "--out", str(work / "day")])
    assert made.exit_code == 0, made.output
    return Inputs(bookings=work / "day" / "bookings.csv", fleet=work / "day" / "fleet.csv")


def test_split_keeps_patients_whole_and_shares_every_kind(tmp_path: Path) -> None:
    """Each journey and vehicle in one region; a patient's day in one; kinds shared out."""
    problem, _ = read_problem(_day(tmp_path, 300, 36), load_config())
    regions = split(problem, NOTHING_COMMITTED, 3)
    assert len(regions) == 3
    journeys = [j.journey_id for r in regions for j in r.problem.journeys]
    vehicles = [v.vehicle_id for r in regions for v in r.problem.vehicles]
    assert sorted(journeys) == sorted(j.journey_id for j in problem.journeys)
    assert sorted(vehicles) == sorted(v.vehicle_id for v in problem.vehicles)
    region_of = {j.journey_id: k for k, r in enumerate(regions) for j in r.problem.journeys}
    by_patient: dict[str, set[int]] = {}
    for journey in problem.journeys:
        by_patient.setdefault(journey.patient_id, set()).add(region_of[journey.journey_id])
        if journey.return_of:
            assert region_of[journey.return_of] == region_of[journey.journey_id]
    assert all(len(found) == 1 for found in by_patient.values())
    # Balanced by journeys, and each kind of shift shared within one of its proportion.
    sizes = [len(r.problem.journeys) for r in regions]
    assert max(sizes) - min(sizes) <= 0.2 * len(problem.journeys)
    kinds = Counter(_kind(v) for v in problem.vehicles)
    for region, size in zip(regions, sizes, strict=True):
        have = Counter(_kind(v) for v in region.problem.vehicles)
        for kind, count in kinds.items():
            assert abs(have[kind] - count * size / len(problem.journeys)) <= 1.5


def test_commitments_follow_their_vehicle(tmp_path: Path) -> None:
    """A patient committed to a vehicle is planned in that vehicle's region, and only there."""
    problem, _ = read_problem(_day(tmp_path, 200, 24), load_config())
    first = problem.journeys[0]
    partners = [j for j in problem.journeys if j.patient_id == first.patient_id]
    plain = split(problem, NOTHING_COMMITTED, 2)
    home = next(k for k, r in enumerate(plain) if first in r.problem.journeys)
    faraway = plain[1 - home].problem.vehicles[0].vehicle_id
    day_of_first = tuple(j.journey_id for j in partners)
    assert len(day_of_first) > 1  # a round trip: asked to ride with one crew
    committed = Commitments(keep_on={first.journey_id: faraway},
                            prefer={first.journey_id: Preference((faraway, "nobody"), 600)},
                            together=[day_of_first], sketch_allowance=5)
    regions = split(problem, committed, 2)
    there = next(r for r in regions if any(v.vehicle_id == faraway for v in r.problem.vehicles))
    assert all(j in there.problem.journeys for j in partners)
    assert there.commitments.keep_on == {first.journey_id: faraway}
    assert there.commitments.prefer[first.journey_id] == Preference((faraway,), 600)
    other = next(r for r in regions if r is not there)
    assert not other.commitments.keep_on and first.journey_id not in other.commitments.prefer
    assert list(there.commitments.together) == list(committed.together)
    assert not other.commitments.together
    # The sketch's allowance shared by journeys, rounded down: never more than the day's.
    assert [r.commitments.sketch_allowance for r in regions] == [
        5 * len(r.problem.journeys) // 200 for r in regions]
    assert sum(r.commitments.sketch_allowance for r in regions) <= 5


def test_a_day_above_one_region_is_planned_and_checked(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Three regions one after another: one plan, every rule kept, every journey accounted for."""
    monkeypatch.setattr(regions_module, "REGION_JOURNEYS", 40)
    inputs = _day(tmp_path, 100, 12)
    solved = CliRunner().invoke(main, ["solve", "--bookings", str(inputs.bookings),
                                       "--fleet", str(inputs.fleet), "--out",
                                       str(tmp_path / "plan"), "--time-limit", "18"])
    assert solved.exit_code in (0, 3), solved.output  # 3: planned below the alert share
    summary = json.loads((tmp_path / "plan" / "summary.json").read_text(encoding="utf-8"))
    assert summary["search"]["regions"] == 3
    assert summary["search"]["status"].startswith("3 regions planned one after another")
    assert 0 <= summary["search"]["across_seams_planned"] <= summary["search"]["across_seams"]
    assert summary["served"] + summary["unassigned"] == 100
    assert summary["servable"] >= 75 and summary["served"] >= 0.8 * summary["servable"]
    checked = CliRunner().invoke(main, ["check", "--bookings", str(inputs.bookings),
                                        "--fleet", str(inputs.fleet),
                                        "--out", str(tmp_path / "plan")])
    assert checked.exit_code == 0, checked.output
    assert checked.output.startswith("0 violation(s)")


def test_a_patient_goes_where_a_vehicle_can_make_their_journeys(tmp_path: Path) -> None:
    """Where only another region has a vehicle able to make a journey, the patient goes there."""
    problem, _ = read_problem(_day(tmp_path, 200, 24), load_config())
    first = problem.journeys[0]
    partners = {j.journey_id for j in problem.journeys if j.patient_id == first.patient_id}
    plain = split(problem, NOTHING_COMMITTED, 2)
    home = next(k for k, r in enumerate(plain) if first in r.problem.journeys)
    only = plain[1 - home].problem.vehicles[-1].vehicle_id
    every = frozenset(v.vehicle_id for v in problem.vehicles)
    able = {j.journey_id: (frozenset({only}) if j.journey_id == first.journey_id else every)
            for j in problem.journeys}
    regions = split(problem, NOTHING_COMMITTED, 2, able)
    there = next(r for r in regions if any(v.vehicle_id == only for v in r.problem.vehicles))
    assert partners <= {j.journey_id for j in there.problem.journeys}


def _left_out(problem: Problem, journeys: Sequence[Journey]) -> Plan:
    return Plan(problem, (), tuple(Unassigned(j, Reason.NO_CAPACITY, "no room") for j in journeys),
                1.0)


def test_patients_left_out_whole_are_tried_across_the_seam(tmp_path: Path) -> None:
    """Left out whole and able to ride with the next region's vehicles: carried there.

    Not carried: a patient with a journey planned, one only this region's vehicles can
    carry, one committed to a vehicle.
    """
    problem, _ = read_problem(_day(tmp_path, 200, 24), load_config())
    first, following = split(problem, NOTHING_COMMITTED, 2)
    by_patient: dict[str, list[Journey]] = {}
    for journey in first.problem.journeys:
        by_patient.setdefault(journey.patient_id, []).append(journey)
    trips = [days for days in by_patient.values() if len(days) == 2]
    carried, half_planned, only_here, committed = trips[:4]
    there = frozenset({following.problem.vehicles[0].vehicle_id})
    here = frozenset({first.problem.vehicles[0].vehicle_id})
    able = {j.journey_id: here if j in only_here else there for j in problem.journeys}
    plan = _left_out(first.problem, [*carried, half_planned[0], *only_here, *committed])
    commitments = Commitments(keep_on={committed[0].journey_id: first.problem.vehicles[1]
                                       .vehicle_id})
    assert set(across_seam(plan, following, able, commitments)) == set(carried)


def test_a_journey_carried_across_a_seam_is_reported_once(tmp_path: Path) -> None:
    """Left out by a region and tried again by the next, a journey counts where it ended."""
    problem, _ = read_problem(_day(tmp_path, 200, 24), load_config())
    first, following = split(problem, NOTHING_COMMITTED, 2)
    moved = first.problem.journeys[:1]
    plans = [_left_out(first.problem, first.problem.journeys[:3]),
             _left_out(replace(following.problem,
                               journeys=following.problem.journeys + moved), moved)]
    plans[0] = replace(plans[0], search={"servable": 100})
    plans[1] = replace(plans[1], search={"servable": 90})
    whole = merged(problem, plans, 2.0, servable_twice=1)
    assert [u.journey for u in whole.unassigned] == [*first.problem.journeys[1:3], *moved]
    assert whole.search["servable"] == 189


def test_patients_carried_across_a_seam_are_planned_there_and_checked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A first region left two shifts: the patients it cannot carry ride with the next one's.

    The plan that results keeps every rule by the independent checker (nobody carried
    across is taken out and left there).
    """
    monkeypatch.setattr(regions_module, "REGION_JOURNEYS", 60)

    def starved(problem: Problem, commitments: Commitments, count: int,
                able: Mapping[str, frozenset[str]] | None = None) -> list[Region]:
        first, second = split(problem, commitments, count, able)
        moved = first.problem.vehicles[2:]
        return [replace(first, problem=replace(first.problem, vehicles=first.problem.vehicles[:2])),
                replace(second, problem=replace(second.problem,
                                                vehicles=second.problem.vehicles + moved))]

    monkeypatch.setattr(solve_module, "split", starved)
    inputs = _day(tmp_path, 100, 14)
    solved = CliRunner().invoke(main, ["solve", "--bookings", str(inputs.bookings),
                                       "--fleet", str(inputs.fleet), "--out",
                                       str(tmp_path / "plan"), "--time-limit", "16"])
    assert solved.exit_code in (0, 3), solved.output
    search = json.loads((tmp_path / "plan" / "summary.json").read_text(encoding="utf-8"))["search"]
    assert search["regions"] == 2
    assert search["across_seams"] >= 6 and search["across_seams_planned"] >= 3, search
    checked = CliRunner().invoke(main, ["check", "--bookings", str(inputs.bookings),
                                        "--fleet", str(inputs.fleet),
                                        "--out", str(tmp_path / "plan")])
    assert checked.exit_code == 0, checked.output
    assert checked.output.startswith("0 violation(s)")
