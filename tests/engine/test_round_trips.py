"""Round trips: a patient taken somewhere is brought back, in every planner; standards as costs."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from pts_optimiser.check.checker import CheckResult, check_plan
from pts_optimiser.domain.config import load_config
from pts_optimiser.domain.diagnostics import InputError
from pts_optimiser.domain.plan import Plan, Reason, Roster
from pts_optimiser.domain.problem import Problem, as_planned, patients_overlapping
from pts_optimiser.engine.explain import return_links
from pts_optimiser.engine.fallback import one_at_a_time
from pts_optimiser.engine.model import (
    RoutingInput,
    RoutingOutcome,
    SearchSettings,
    solve_routing,
    unlinked,
)
from pts_optimiser.engine.places import day_places
from pts_optimiser.engine.recreate import RecreateSettings, recreate
from pts_optimiser.engine.solve import SolveOptions, _fallback_better, solve
from pts_optimiser.io.parse import read_problem
from pts_optimiser.services.publish import write_plan
from tests.helpers import (
    BOOKING_COLUMNS,
    assert_priced_as_the_model,
    booking,
    line_day,
    rows,
    vehicle,
    write_day,
)

COLUMNS = [*BOOKING_COLUMNS, "return_of"]


def _load(folder: Path, bookings: Sequence[dict[str, object]],
          fleet: Sequence[dict[str, object]]) -> Problem:
    """Write a day whose bookings carry `return_of`, and read it."""
    problem, _ = read_problem(write_day(folder, bookings, fleet, COLUMNS), load_config())
    return problem


def _checked(folder: Path, problem: Problem, seconds: float = 4.0) -> tuple[Plan, CheckResult]:
    plan = solve(problem, SolveOptions(time_limit_s=seconds))
    write_plan(plan, folder / "plan")
    return plan, check_plan(problem, folder / "plan")


def _left_somewhere(plan: Plan) -> list[str]:
    """Outward journeys planned whose return is not (computed here, from the plan alone)."""
    planned = {j.journey_id for j in plan.planned}
    return [j.journey_id for j in plan.problem.journeys
            if j.return_of is not None and j.return_of in planned
            and j.journey_id not in planned]


def _served(data: RoutingInput, outcome: RoutingOutcome | Sequence[Sequence[int]]) -> set[int]:
    pickups = {r.pickup_node: i for i, r in enumerate(data.requests)}
    routes = ([[v.node for v in route] for route in outcome.routes]
              if isinstance(outcome, RoutingOutcome) else outcome)
    return {pickups[n] for route in routes for n in route if n in pickups}


def _contest() -> RoutingInput:
    """One vehicle; an outward journey (0), its return (1) and a dearer journey (2).

    Journey 2 is at the same time as the return, far from it: both cannot be made.
    """
    data = line_day([0, 0, 10, 20, 20, 10, 50, 60], [(2, 3, 100), (4, 5, 100), (6, 7, 100)],
                    windows={4: (100, 105), 6: (100, 105)})
    requests = list(data.requests)
    requests[2] = replace(requests[2], unserved_cost=3 * 10**6)
    return replace(data, requests=requests, links=((0, 1),))


def test_model_takes_nobody_out_it_cannot_bring_back() -> None:
    """Capacity forces a choice: without the rule the model strands patient 0; with it, not."""
    data = _contest()
    free = solve_routing(replace(data, links=()), SearchSettings(2.0))
    assert free is not None and _served(data, free) == {0, 2}  # the rule is what changes it
    kept = solve_routing(data, SearchSettings(2.0))
    assert kept is not None
    assert _served(data, kept) == {2}
    assert unlinked(data, _served(data, kept)) == []


def _linked_day(seed: int) -> RoutingInput:
    """Eight patients out and back on a line, two vehicles too few for all of them."""
    rng = random.Random(seed)
    positions, requests, windows, links = [0, 0], [], {}, []
    for patient in range(8):
        home, clinic = rng.randint(5, 60), rng.randint(-30, 30)
        out_at, back_at = rng.randint(0, 200), rng.randint(300, 600)
        node = len(positions)
        positions += [home, clinic, clinic, home]
        requests += [(node, node + 1, 80), (node + 2, node + 3, 80)]
        windows[node] = (out_at, out_at + 40)
        windows[node + 2] = (back_at, back_at + 30)
        links.append((2 * patient, 2 * patient + 1))
    data = line_day(positions, requests, vehicles=2, windows=windows, seats=1)
    return replace(data, links=tuple(links))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ruin_and_recreate_never_strands_a_patient(seed: int) -> None:
    """Random ruins on a linked day: every plan kept has each outward journey's return."""
    data = _linked_day(seed)
    first = solve_routing(data, SearchSettings(1.0))
    assert first is not None
    assert unlinked(data, _served(data, first)) == []
    routes = [[v.node for v in route[1:-1]] for route in first.routes]
    for search_seed in range(4):
        found = recreate(data, routes, RecreateSettings(30.0, seed=search_seed,
                                                            max_iterations=150))
        assert found is not None
        assert unlinked(data, _served(data, found.routes)) == []
        # and the model, with every rule, takes the routes as they are
        assert solve_routing(data, SearchSettings(2.0, solution_limit=1),
                             initial_routes=found.routes, warm_only=True) is not None
    # a plan with no journeys on it is rebuilt (the foreign start) without stranding anyone
    found = recreate(data, [[], []], RecreateSettings(30.0, seed=seed, max_iterations=150),
                     foreign=True)
    assert found is not None and unlinked(data, _served(data, found.routes)) == []


def test_fallback_plans_the_pair_or_neither(tmp_path: Path) -> None:
    """One at a time: an outward journey whose return it cannot plan is not planned."""
    problem = _load(tmp_path, [booking("OUT", patient_id="P1"),
                               booking("BACK", patient_id="P1", pickup_site="RDH",
                                       pickup_lat="", pickup_lon="", dropoff_site="",
                                       dropoff_lat=52.93, dropoff_lon=-1.49,
                                       appointment_time="", ready_time="11:30",
                                       return_of="OUT")],
                    [vehicle("V1")])
    places = day_places(problem, [])
    returns = return_links(problem)
    assert returns == {"OUT": "BACK"}
    both, left = one_at_a_time(problem, places, {"OUT": (0,), "BACK": (0,)}, (), returns)
    assert {j.journey_id for r in both for j in r.journeys} == {"OUT", "BACK"} and not left
    # the return fits no vehicle: neither is planned
    rosters, left = one_at_a_time(problem, places, {"OUT": (0,), "BACK": ()}, (), returns)
    assert not [j for r in rosters for j in r.journeys]
    assert {j.journey_id for j in left} == {"OUT", "BACK"}


def _evening_return(tmp_path: Path) -> Problem:
    """A dialysis patient taken in at 17:00 whose session ends at 21:15, after every shift."""
    return _load(tmp_path, [
        booking("IN", patient_id="P1", purpose="dialysis", appointment_time="17:00"),
        booking("HOME", patient_id="P1", purpose="dialysis", pickup_site="RDH",
                pickup_lat="", pickup_lon="", dropoff_site="", dropoff_lat=52.93,
                dropoff_lon=-1.49, appointment_time="", ready_time="21:15", return_of="IN"),
        booking("OTHER", patient_id="P2", appointment_time="16:30")],
        [vehicle("V1", shift_start="12:00", shift_end="19:00")])


def test_outward_with_an_unservable_return_is_left_out_before_planning(tmp_path: Path) -> None:
    """The return no shift covers names its reason; the outward journey carries it and its fix."""
    plan, result = _checked(tmp_path, _evening_return(tmp_path))
    assert result.ok, result.violations[:5]
    reasons = {u.journey.journey_id: u for u in plan.unassigned}
    assert reasons["HOME"].reason is Reason.NO_SHIFT_COVERS_WINDOW
    outward = reasons["IN"]
    assert outward.reason is Reason.RETURN_NOT_PLANNABLE
    assert "no_shift_covers_window" in outward.text and "HOME" in outward.detail
    assert outward.fix.startswith("plan the patient's return, journey HOME")
    assert {j.journey_id for j in plan.planned} == {"OTHER"}
    assert len(plan.unassigned) == 2  # one reason each, nothing else
    assert _left_somewhere(plan) == []


def test_the_outward_journeys_fix_plans_the_pair(tmp_path: Path) -> None:
    """Applying the fix the outward journey names (the return's) plans both journeys."""
    plan, _ = _checked(tmp_path, _evening_return(tmp_path))
    fix = next(u.fix for u in plan.unassigned if u.journey.journey_id == "IN")
    found = re.search(r"V1 could take it if its shift ran to (\d\d:\d\d)", fix)
    assert found, fix
    problem = _load(tmp_path / "fixed", [
        booking("IN", patient_id="P1", purpose="dialysis", appointment_time="17:00"),
        booking("HOME", patient_id="P1", purpose="dialysis", pickup_site="RDH",
                pickup_lat="", pickup_lon="", dropoff_site="", dropoff_lat=52.93,
                dropoff_lon=-1.49, appointment_time="", ready_time="21:15", return_of="IN")],
        [vehicle("V1", shift_start="12:00", shift_end=found.group(1))])
    fixed, result = _checked(tmp_path / "fixed", problem)
    assert result.ok, result.violations[:5]
    assert {j.journey_id for j in fixed.planned} == {"IN", "HOME"}


def test_policy_may_allow_an_outward_without_its_return(tmp_path: Path) -> None:
    """[linked] allow_outward_without_return: the outward journey is planned alone."""
    problem = _evening_return(tmp_path)
    allowed = replace(problem.config, linked=replace(problem.config.linked,
                                                     allow_outward_without_return=True))
    plan = solve(replace(problem, config=allowed), SolveOptions(time_limit_s=3))
    assert {j.journey_id for j in plan.planned} == {"IN", "OTHER"}


def test_a_contest_for_capacity_leaves_out_the_pair(tmp_path: Path) -> None:
    """One seat, two patients whose returns clash: one goes and comes back, one is not taken.

    The outward journey left out names its return's reason.
    """
    bookings = []
    for k, lon in ((1, -1.49), (2, -1.50)):
        bookings += [booking(f"IN{k}", patient_id=f"P{k}", purpose="dialysis",
                             pickup_lon=lon, appointment_time="09:00"),
                     booking(f"HOME{k}", patient_id=f"P{k}", purpose="dialysis",
                             pickup_site="RDH", pickup_lat="", pickup_lon="", dropoff_site="",
                             dropoff_lat=52.93, dropoff_lon=lon, appointment_time="",
                             ready_time="12:00", latest_pickup="12:05",
                             return_of=f"IN{k}")]
    problem = _load(tmp_path, bookings, [vehicle("V1", seats=1)])
    plan, result = _checked(tmp_path, problem)
    assert result.ok, result.violations[:5]
    assert _left_somewhere(plan) == []
    planned = {j.journey_id for j in plan.planned}
    assert len(planned) == 2 and planned in ({"IN1", "HOME1"}, {"IN2", "HOME2"})
    reasons = {u.journey.journey_id: u for u in plan.unassigned}
    out = next(u for u in reasons.values() if u.journey.journey_id.startswith("IN"))
    assert out.reason is Reason.RETURN_NOT_PLANNABLE and "no_capacity" in out.detail


def _standard_day() -> RoutingInput:
    """Journey 0 may be collected 100-200; journey 1 is fixed at 300; a minute on shift costs 1.

    Leaving base late saves time on shift, so without a standard journey 0 is collected late.
    """
    data = line_day([0, 0, 10, 20, 30, 40], [(2, 3, 100), (4, 5, 100)],
                    windows={2: (100, 200), 4: (300, 300)})
    return replace(data, span_cost_per_min=1)


def test_a_standard_moves_a_collection_earlier_when_it_is_free_to() -> None:
    """A collection standard at 110 (5 a minute past it) brings the pickup to 110 or before."""
    plain = _standard_day()
    late = solve_routing(plain, SearchSettings(1.0))
    assert late is not None
    assert next(v.start_min for v in late.routes[0] if v.node == 2) > 110
    priced = replace(plain, soft_latest={2: (110, 5)})
    early = solve_routing(priced, SearchSettings(1.0))
    assert early is not None
    assert next(v.start_min for v in early.routes[0] if v.node == 2) <= 110


def test_ruin_and_recreate_counts_the_standards_as_the_model_does() -> None:
    """With standards priced and time on shift costed, the search's cost is the objective."""
    data = replace(_standard_day(), soft_latest={2: (110, 5), 4: (290, 3)})
    assert_priced_as_the_model(data)


def _two_patients(tmp_path: Path) -> tuple[Problem, Plan]:
    """Patient 1 out at 9 and home at 11:30, patient 2 out at 12 and home at 13; two cars."""
    bookings = []
    for k, (lon, appointment, ready) in enumerate((((-1.49), "09:00", "11:30"),
                                                   ((-1.47), "12:00", "13:00")), start=1):
        bookings += [booking(f"IN{k}", patient_id=f"P{k}", pickup_lon=lon,
                             appointment_time=appointment),
                     booking(f"HOME{k}", patient_id=f"P{k}", pickup_site="RDH",
                             pickup_lat="", pickup_lon="", dropoff_site="", dropoff_lat=52.93,
                             dropoff_lon=lon, appointment_time="", ready_time=ready,
                             return_of=f"IN{k}")]
    problem = _load(tmp_path / "day", bookings, [vehicle(v, seats=1, shift_end="16:00")
                                                  for v in ("V1", "V2")])
    plan, result = _checked(tmp_path, problem)
    assert result.ok, result.violations[:5]
    assert len(plan.planned) == 4
    return problem, plan


def _replanned(tmp_path: Path, plan: Plan, cancel: Sequence[str] = (),
               vehicle_off: Sequence[str] = ()) -> tuple[Plan, CheckResult]:
    from pts_optimiser.io.tables import read_table
    from pts_optimiser.services.replan import merged_bookings, replan

    merged = merged_bookings(read_table(tmp_path / "day" / "bookings.csv"), None)
    result = replan(plan, merged, 10 * 60, cancel, vehicle_off, SolveOptions(time_limit_s=3))
    write_plan(result.plan, tmp_path / "new")
    return result.plan, check_plan(result.plan.problem, tmp_path / "new")


def test_replan_cancels_a_return_with_its_outward_journey(tmp_path: Path) -> None:
    """Cancelling an outward journey not yet made at 10:00 cancels the patient's return too."""
    _, plan = _two_patients(tmp_path)
    new, result = _replanned(tmp_path, plan, cancel=["IN2"])
    assert result.ok, result.violations[:5]
    reasons = {u.journey.journey_id: u for u in new.unassigned}
    assert {j for j, u in reasons.items() if u.reason is Reason.CANCELLED} == {"IN2", "HOME2"}
    assert "with its outward journey IN2" in reasons["HOME2"].detail
    assert {j.journey_id for j in new.planned} == {"IN1", "HOME1"}
    assert _left_somewhere(new) == []


def test_replan_keeps_the_return_of_a_patient_already_out(tmp_path: Path) -> None:
    """At 10:00 the crew due to bring patient 1 home goes off the road: another crew does."""
    _, plan = _two_patients(tmp_path)
    crew = next(r.vehicle.vehicle_id for r in plan.rosters
                if "HOME1" in {j.journey_id for j in r.journeys})
    new, result = _replanned(tmp_path, plan, vehicle_off=[crew])
    assert result.ok, result.violations[:5]
    other = next(r.vehicle.vehicle_id for r in new.rosters
                 if "HOME1" in {j.journey_id for j in r.journeys})
    assert other != crew
    assert _left_somewhere(new) == []


def test_a_ride_back_outranks_more_journeys(tmp_path: Path) -> None:
    """A plan serving more journeys by leaving out a taken-out patient's ride back loses."""
    def plan(*ids: str) -> Sequence[Roster]:  # only the journeys are read before the costs
        return cast(Sequence[Roster],
                    [SimpleNamespace(journeys=[SimpleNamespace(journey_id=j) for j in ids])])

    problem = _load(tmp_path, [booking("A")], [vehicle("V1")])
    fallback, searched = plan("A", "B", "C"), plan("A", "HOME")
    assert not _fallback_better(problem, fallback, searched, bring_back={"HOME"})
    assert _fallback_better(problem, searched, fallback, bring_back={"HOME"})
    assert _fallback_better(problem, fallback, searched, strictly_more=True)


def test_a_patients_day_whole_outranks_more_journeys(tmp_path: Path) -> None:
    """Carrying one patient out and back beats carrying three patients home only."""
    def plan(*ids: str) -> Sequence[Roster]:  # only the journeys are read before the costs
        return cast(Sequence[Roster],
                    [SimpleNamespace(journeys=[SimpleNamespace(journey_id=j) for j in ids])])

    bookings = []
    for k in range(3):
        bookings += [booking(f"IN{k}", patient_id=f"P{k}"),
                     booking(f"HOME{k}", patient_id=f"P{k}", pickup_site="RDH", pickup_lat="",
                             pickup_lon="", dropoff_site="", dropoff_lat=52.93,
                             dropoff_lon=-1.49, appointment_time="", ready_time="11:30",
                             return_of=f"IN{k}")]
    problem = _load(tmp_path, bookings, [vehicle("V1")])
    whole, homes = plan("IN0", "HOME0"), plan("HOME0", "HOME1", "HOME2")
    assert _fallback_better(problem, whole, homes)
    assert not _fallback_better(problem, homes, whole)
    assert _fallback_better(problem, homes, whole, strictly_more=True)


def test_a_patient_left_out_counts_not_only_their_journeys(tmp_path: Path) -> None:
    """A round trip's journeys cost 3/4 each to leave out, a one-way patient's the whole price.

    Leaving out a round trip is dearer than one one-way patient, cheaper than two.
    """
    from pts_optimiser.domain.commitments import Commitments
    from pts_optimiser.engine.encode import encode, patient_share

    bookings = [booking("IN", patient_id="P1"),
                booking("HOME", patient_id="P1", pickup_site="RDH", pickup_lat="",
                        pickup_lon="", dropoff_site="", dropoff_lat=52.93, dropoff_lon=-1.49,
                        appointment_time="", ready_time="12:00", return_of="IN"),
                booking("ONE", patient_id="P2", appointment_time="11:00")]
    problem = _load(tmp_path, bookings, [vehicle("V1")])
    encoded = encode(problem, Commitments())
    price = problem.config.objective.unserved_cost_by_priority[3]
    cost = {j.journey_id: r.unserved_cost
            for j, r in zip(encoded.servable, encoded.data.requests, strict=True)}
    assert cost == {"IN": price * 3 // 4, "HOME": price * 3 // 4, "ONE": price}
    assert price < cost["IN"] + cost["HOME"] < 2 * price
    assert [patient_share(120, k) for k in (1, 2, 3, 4)] == [120, 90, 80, 75]


def _ready_before_the_appointment(tmp_path: Path) -> Problem:
    """P1's return is ready at 09:40, before the 10:00 appointment the outward arrives for.

    Found 2026-12-07: `pts solve` collected the patient for the ride home at 09:40 while
    they were still aboard from home (set down at 09:43), and the checker passed it.
    """
    return _load(tmp_path, [
        booking("OUT", patient_id="P1", appointment_time="10:00"),
        booking("BACK", patient_id="P1", pickup_site="RDH", pickup_lat="", pickup_lon="",
                dropoff_site="", dropoff_lat=52.93, dropoff_lon=-1.49, appointment_time="",
                ready_time="09:40", return_of="OUT")],
        [vehicle("V1", shift_start="08:00", shift_end="13:00"),
         vehicle("V2", shift_start="08:00", shift_end="13:00")])


def _set_down_and_collected(plan: Plan) -> tuple[int, int]:
    """When OUT's patient is off the vehicle, and when BACK collects them."""
    stops = {(s.journey.journey_id, s.event.value): s for r in plan.rosters for s in r.stops
             if s.journey is not None}
    dropoff, pickup = stops[("OUT", "dropoff")], stops[("BACK", "pickup")]
    alight = stops[("OUT", "pickup")].journey
    assert alight is not None
    return dropoff.service_start_min + alight.dropoff_service_min, pickup.service_start_min


def test_a_return_is_collected_only_once_the_outward_has_set_down(tmp_path: Path) -> None:
    """The search and the fallback both collect the return after the outward's drop-off."""
    problem = _ready_before_the_appointment(tmp_path)
    plan, result = _checked(tmp_path, problem, seconds=3)
    assert result.ok, result.violations
    assert {j.journey_id for j in plan.planned} == {"OUT", "BACK"}
    set_down, collected = _set_down_and_collected(plan)
    assert set_down <= collected
    planned = as_planned(problem)
    rosters, left = one_at_a_time(planned, day_places(planned, []),
                                  {"OUT": (0, 1), "BACK": (0, 1)}, (), return_links(planned))
    assert not left
    fallback = Plan(problem, tuple(rosters), (), 0.0)
    set_down, collected = _set_down_and_collected(fallback)
    assert set_down <= collected


def test_windows_apart_are_left_as_they_are(tmp_path: Path) -> None:
    """A return ready after the outward's latest arrival keeps the windows the policy gave."""
    problem = _evening_return(tmp_path)
    assert as_planned(problem).journeys == problem.journeys
    cut = {j.journey_id: j for j in as_planned(_ready_before_the_appointment(tmp_path)).journeys}
    moment = cut["BACK"].pickup_window.earliest_min
    assert cut["OUT"].dropoff_window.latest_min + cut["OUT"].dropoff_service_min == moment
    assert 9 * 60 + 40 <= moment <= 10 * 60 + cut["OUT"].dropoff_service_min


def test_a_return_due_before_the_patient_is_set_down_is_refused(tmp_path: Path) -> None:
    """Last pickup 09:31, the outward sets the patient down at 09:33 at the earliest.

    The reader refused a return due before the outward's earliest arrival (09:30), not one
    due while the patient is still being helped off: no window could keep them apart.
    """
    rows = [booking("OUT", patient_id="P1", appointment_time="", earliest_dropoff="09:30",
                    latest_dropoff="10:00"),
            booking("BACK", patient_id="P1", pickup_site="RDH", pickup_lat="", pickup_lon="",
                    dropoff_site="", dropoff_lat=52.93, dropoff_lon=-1.49, appointment_time="",
                    earliest_pickup="09:00", latest_pickup="09:31", return_of="OUT")]
    with pytest.raises(InputError) as refused:
        read_problem(write_day(tmp_path, rows, [vehicle("V1")], COLUMNS), load_config())
    found = [f for f in refused.value.findings if f.code.value == "return_of_later"]
    assert found and "sets the patient down at 09:33" in found[0].message


def _two_clinics(tmp_path: Path, second: dict[str, object]) -> Problem:
    """P1 booked from home to two clinics: RDH at 10:00, and a second booking `second`."""
    return _load(tmp_path, [
        booking("A1", patient_id="P1", appointment_time="10:00"),
        booking("A2", patient_id="P1", dropoff_site="", dropoff_lat=52.9, dropoff_lon=-1.44,
                **second)],
        [vehicle("V1", shift_start="07:00"), vehicle("V2", shift_start="07:00")])


def test_two_bookings_of_a_patient_close_together_are_made_one_after_the_other(
        tmp_path: Path) -> None:
    """Appointments at 10:00 and 10:05: both planned, never at once (before: both aboard)."""
    plan, result = _checked(tmp_path, _two_clinics(tmp_path, {"appointment_time": "10:05"}),
                            seconds=3)
    assert result.ok, result.violations
    assert {j.journey_id for j in plan.planned} == {"A1", "A2"}


def test_a_booking_no_moment_parts_from_another_is_explained(tmp_path: Path) -> None:
    """A2 is due by 09:12 while A1 (due first) holds the patient to 09:15 at the earliest.

    No moment parts them: A2 is left out, with why, and A1 planned.
    """
    problem = _load(tmp_path, [
        booking("A1", patient_id="P1", appointment_time="", earliest_pickup="09:00",
                latest_pickup="09:10", earliest_dropoff="09:12", latest_dropoff="10:00"),
        booking("A2", patient_id="P1", dropoff_site="", dropoff_lat=52.9, dropoff_lon=-1.44,
                appointment_time="", earliest_pickup="09:00", latest_pickup="09:12",
                earliest_dropoff="09:10", latest_dropoff="10:30")],
        [vehicle("V1", shift_start="07:00"), vehicle("V2", shift_start="07:00")])
    assert [(a.journey_id, b.journey_id) for a, b in patients_overlapping(
        as_planned(problem))] == [("A1", "A2")]
    plan, result = _checked(tmp_path, problem, seconds=3)
    assert result.ok, result.violations
    assert {j.journey_id for j in plan.planned} == {"A1"}
    assert [(u.journey.journey_id, u.reason) for u in plan.unassigned] == [
        ("A2", Reason.PATIENT_ON_ANOTHER_JOURNEY)]
    assert "journey A1 until 09:15" in plan.unassigned[0].detail


ONE_PLACE = Path(__file__).resolve().parents[1] / "fixtures" / "one_place"


@pytest.mark.parametrize(("day", "left_out"), [
    ("twice_nonconsecutive", {"B": "patient_on_another_journey",
                              "C": "patient_on_another_journey"}),
    ("incheck_links", {"J14": "window_shorter_than_trip"}),
    ("return_reordered", {}),
    ("chain_cut_both_sides", {"J0": "return_not_plannable", "J1": "no_compatible_vehicle",
                              "J3": "window_shorter_than_trip", "J4": "no_compatible_vehicle",
                              "J5": "patient_on_another_journey",
                              "J6": "patient_on_another_journey",
                              "J8": "patient_on_another_journey",
                              "J11": "return_not_plannable", "J12": "patient_on_another_journey",
                              "J15": "no_compatible_vehicle",
                              "J16": "patient_on_another_journey",
                              "J17": "no_compatible_vehicle"})])
def test_a_patients_day_found_by_fuzzing_is_planned_and_passes(day: str,
                                                              left_out: dict[str, str],
                                                              tmp_path: Path) -> None:
    """Each of these days made `pts solve` refuse its own plan, or leave out a plannable one."""
    from click.testing import CliRunner

    from pts_optimiser.cli import main

    result = CliRunner().invoke(main, [
        "solve", "--bookings", str(ONE_PLACE / day / "bookings.csv"),
        "--fleet", str(ONE_PLACE / day / "fleet.csv"), "--out", str(tmp_path / "plan"),
        "--maps", str(tmp_path / "maps"), "--time-limit", "6", "--strategy", "one-core"])
    assert result.exit_code in (0, 5), result.output
    unassigned = {row["journey_id"]: row["reason"].partition(":")[0]
                  for row in rows(tmp_path / "plan" / "unassigned.csv")}
    assert unassigned == left_out


@pytest.mark.parametrize(("day", "now"), [("replan_aboard", "09:20"),
                                          ("replan_aboard", "09:40"),
                                          ("replan_ride", "12:30")])
def test_a_replan_found_by_fuzzing_passes_its_check(day: str, now: str,
                                                   tmp_path: Path) -> None:
    """A late journey of a patient aboard, a patient waiting aboard: each re-plan passes."""
    from click.testing import CliRunner

    from pts_optimiser.cli import main

    result = CliRunner().invoke(main, [
        "replan", "--plan", str(ONE_PLACE / day / "plan"), "--now", now,
        "--add", str(ONE_PLACE / day / "late.csv"), "--out", str(tmp_path / "new"),
        "--time-limit", "8"])
    assert result.exit_code in (0, 5), result.output
    assert "LOST TRANSPORT" not in result.output
