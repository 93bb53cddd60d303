"""The plan checker: a hand-built valid plan passes, and each corruption of it is caught."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from pts_optimiser.check.checker import RULES, check_plan
from pts_optimiser.cli import main
from pts_optimiser.domain.config import load_config
from pts_optimiser.io.parse import Inputs, read_problem
from tests.helpers import FIXTURES

Rows = list[dict[str, str]]


def _read(path: Path) -> Rows:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _write(path: Path, rows: Rows, columns: list[str]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


@dataclass
class Plan:
    """The tiny day and its valid plan, as rows a test may corrupt."""

    rosters: Rows
    unassigned: Rows
    fleet: Rows
    bookings: Rows

    def stop(self, vehicle: str, event: str, journey: str = "") -> dict[str, str]:
        return next(r for r in self.rosters if r["vehicle_id"] == vehicle and r["event"] == event
                    and r["journey_id"] == journey)

    def vehicle(self, vehicle_id: str) -> dict[str, str]:
        return next(r for r in self.fleet if r["vehicle_id"] == vehicle_id)

    def booking(self, journey_id: str) -> dict[str, str]:
        return next(r for r in self.bookings if r["journey_id"] == journey_id)

    def renumber(self, vehicle: str) -> None:
        for seq, row in enumerate(r for r in self.rosters if r["vehicle_id"] == vehicle):
            row["seq"] = str(seq)


def _load_plan() -> Plan:
    return Plan(_read(FIXTURES / "tiny_plan" / "rosters.csv"),
                _read(FIXTURES / "tiny_plan" / "unassigned.csv"),
                _read(FIXTURES / "tiny_day" / "fleet.csv"),
                _read(FIXTURES / "tiny_day" / "bookings.csv"))


def _check(plan: Plan, folder: Path) -> set[str]:
    columns = {name: list(_read(FIXTURES / sub / name)[0]) for sub, name in (
        ("tiny_plan", "rosters.csv"), ("tiny_plan", "unassigned.csv"),
        ("tiny_day", "fleet.csv"), ("tiny_day", "bookings.csv"))}
    _write(folder / "rosters.csv", plan.rosters, columns["rosters.csv"])
    _write(folder / "unassigned.csv", plan.unassigned, columns["unassigned.csv"])
    _write(folder / "fleet.csv", plan.fleet, columns["fleet.csv"])
    _write(folder / "bookings.csv", plan.bookings, list(plan.bookings[0]))
    problem, _ = read_problem(Inputs(folder / "bookings.csv", folder / "fleet.csv"),
                              load_config())
    return {v.rule for v in check_plan(problem, folder).violations}


def _check_without_rosters(plan: Plan, folder: Path) -> set[str]:
    _check(plan, folder)
    (folder / "rosters.csv").unlink()
    problem, _ = read_problem(Inputs(folder / "bookings.csv", folder / "fleet.csv"),
                              load_config())
    return {v.rule for v in check_plan(problem, folder).violations}


def test_plan_with_no_rosters_is_read(tmp_path: Path) -> None:
    """A plan whose rosters file has only its header is read, and its lost bookings caught."""
    plan = _load_plan()
    _no_rosters(plan)
    assert _check(plan, tmp_path) == {"not_planned"}


def test_hand_built_plan_is_valid(tmp_path: Path) -> None:
    """The untouched fixture plan breaks no rule."""
    assert _check(_load_plan(), tmp_path) == set()


def _set(row_of: Callable[[Plan], dict[str, str]], **values: str) -> Callable[[Plan], None]:
    def mutate(plan: Plan) -> None:
        row_of(plan).update(values)
    return mutate


def _delete(row_of: Callable[[Plan], dict[str, str]], vehicle: str = "") -> Callable[[Plan], None]:
    def mutate(plan: Plan) -> None:
        plan.rosters.remove(row_of(plan))
        if vehicle:
            plan.renumber(vehicle)
    return mutate


def _swap_j1_pickup_and_dropoff(plan: Plan) -> None:
    pickup, dropoff = plan.stop("CAR1", "pickup", "J1"), plan.stop("CAR1", "dropoff", "J1")
    i, j = plan.rosters.index(pickup), plan.rosters.index(dropoff)
    plan.rosters[i], plan.rosters[j] = dropoff, pickup
    plan.renumber("CAR1")


def _break_with_stretcher_on_board(plan: Plan) -> None:
    pickup = plan.stop("STR1", "pickup", "J3")
    rest = plan.stop("STR1", "break")
    dropoff = plan.stop("STR1", "dropoff", "J3")
    rest.update(lat=pickup["lat"], lon=pickup["lon"], arrival="10:15", service_start="10:15",
                departure="10:45", km="0.00", stretchers_used="1")
    dropoff.update(arrival="10:54", service_start="10:54", departure="11:09")
    after = plan.rosters.index(dropoff) + 1
    plan.rosters[after].update(km="0.00", arrival="11:09", service_start="11:09")
    plan.rosters.remove(rest)
    plan.rosters.insert(plan.rosters.index(pickup) + 1, rest)
    plan.renumber("STR1")


def _add_unassigned(journey: str, patient: str, reason: str) -> Callable[[Plan], None]:
    def mutate(plan: Plan) -> None:
        plan.unassigned.append({"journey_id": journey, "patient_id": patient, "reason": reason})
    return mutate


def _all_car1_to(new_id: str) -> Callable[[Plan], None]:
    def mutate(plan: Plan) -> None:
        for row in plan.rosters:
            if row["vehicle_id"] == "CAR1":
                row["vehicle_id"] = new_id
    return mutate


def _move_j5_dropoff_to_str1(plan: Plan) -> None:
    plan.stop("WAV1", "dropoff", "J5")["vehicle_id"] = "STR1"


def _duplicate_j6_dropoff(plan: Plan) -> None:
    row = plan.stop("WAV1", "dropoff", "J6")
    plan.rosters.insert(plan.rosters.index(row) + 1, dict(row))
    plan.renumber("WAV1")


def _swap_seq(plan: Plan) -> None:
    plan.stop("CAR1", "pickup", "J1")["seq"] = "2"


def _clear_j7_reason(plan: Plan) -> None:
    plan.unassigned[0]["reason"] = ""


def _forget_j7(plan: Plan) -> None:
    plan.unassigned.clear()


def _duplicate_j7(plan: Plan) -> None:
    plan.unassigned.append(dict(plan.unassigned[0]))


def _no_rosters(plan: Plan) -> None:
    plan.rosters.clear()


def _j6_taken_out(plan: Plan) -> None:
    """P5's ride home (J6, the return of J5 by the 300 m rule) left out of the legal plan."""
    for event in ("pickup", "dropoff"):
        plan.rosters.remove(plan.stop("WAV1", event, "J6"))
    plan.renumber("WAV1")
    end = plan.stop("WAV1", "end")
    end.update(arrival="10:15", service_start="10:15", departure="10:15", km="1.62")
    plan.unassigned.append({"journey_id": "J6", "patient_id": "P5",
                            "reason": "no_capacity: taken out by the test"})


def _j2_made_p1s(return_of: str) -> Callable[[Plan], None]:
    """J2 made P1's: CAR1 collects P1 for it at 07:22, with P1 aboard for J1 until 07:36."""
    def mutate(plan: Plan) -> None:
        plan.booking("J2")["patient_id"] = "P1"
        for event in ("pickup", "dropoff"):
            plan.stop("CAR1", event, "J2")["patient_id"] = "P1"
        for row in plan.bookings:
            row["return_of"] = return_of if row["journey_id"] == "J2" else ""
    return mutate


MUTATIONS: list[tuple[str, Callable[[Plan], None], str]] = [
    ("roster for a vehicle not in the fleet", _all_car1_to("CAR9"), "unknown_vehicle"),
    ("seq out of order", _swap_seq, "sequence"),
    ("unknown event", _set(lambda p: p.stop("STR1", "break"), event="lunch"), "event"),
    ("roster without its end", _delete(lambda p: p.stop("CAR1", "end")), "route_shape"),
    ("end away from base", _set(lambda p: p.stop("CAR1", "end"), lat="52.95"), "not_at_base"),
    ("unparsable time", _set(lambda p: p.stop("CAR1", "pickup", "J1"), arrival="7.5"),
     "bad_value"),
    ("leaves before shift start",
     _set(lambda p: p.stop("CAR1", "start"), arrival="06:50", service_start="06:50",
          departure="06:50"), "before_shift"),
    ("back after shift end",
     _set(lambda p: p.stop("STR1", "end"), arrival="16:30", service_start="16:30",
          departure="16:30"), "after_shift"),
    ("service before arrival",
     _set(lambda p: p.stop("CAR1", "pickup", "J2"), service_start="07:21"), "time_order"),
    ("leg driven too fast",
     _set(lambda p: p.stop("CAR1", "pickup", "J1"), arrival="07:12", service_start="07:12"),
     "too_fast"),
    ("boarding cut short",
     _set(lambda p: p.stop("CAR1", "pickup", "J1"), departure="07:18"), "short_service"),
    ("break cut short",
     _set(lambda p: p.stop("STR1", "break"), departure="10:50"), "break_length"),
    ("journey never booked",
     _set(lambda p: p.stop("CAR1", "dropoff", "J2"), journey_id="J99"), "unknown_journey"),
    ("wrong patient on a stop",
     _set(lambda p: p.stop("CAR1", "pickup", "J2"), patient_id="P9"), "patient_mismatch"),
    ("break row naming a journey",
     _set(lambda p: p.stop("STR1", "break"), journey_id="J3"), "stray_journey"),
    ("journey dropped off twice", _duplicate_j6_dropoff, "duplicate_stop"),
    ("pickup without drop-off",
     _delete(lambda p: p.stop("CAR1", "dropoff", "J2"), "CAR1"), "unpaired"),
    ("drop-off by another vehicle", _move_j5_dropoff_to_str1, "split_journey"),
    ("drop-off before pickup", _swap_j1_pickup_and_dropoff, "dropoff_first"),
    ("pickup at the wrong address",
     _set(lambda p: p.stop("CAR1", "pickup", "J1"), lat="52.9400"), "wrong_place"),
    ("collected before ready",
     _set(lambda p: p.stop("WAV1", "pickup", "J6"), service_start="11:00", departure="11:08"),
     "pickup_window"),
    ("arrives after the appointment",
     _set(lambda p: p.stop("CAR1", "dropoff", "J1"), arrival="08:10", service_start="08:10",
          departure="08:13"), "dropoff_window"),
    ("ride too long",
     _set(lambda p: p.stop("STR1", "dropoff", "J3"), arrival="11:50", service_start="11:50",
          departure="12:05"), "ride_time"),
    ("more seated than seats", _set(lambda p: p.vehicle("CAR1"), seats="2"), "over_capacity"),
    ("load column wrong",
     _set(lambda p: p.stop("CAR1", "pickup", "J2"), seats_used="2"), "load_mismatch"),
    ("stretcher with a crew of one", _set(lambda p: p.vehicle("STR1"), crew="1"), "crew"),
    ("two_crew with a crew of one",
     _set(lambda p: p.booking("J1"), needs="two_crew"), "crew"),
    ("oxygen on a vehicle without it", _set(lambda p: p.vehicle("STR1"), skills=""), "skill"),
    ("wheelchair on a vehicle without wheelchair spaces",
     _set(lambda p: p.vehicle("WAV1"), wheelchair_spaces="0"), "incompatible_space"),
    ("travel_alone patient sharing",
     _set(lambda p: p.booking("J1"), needs="travel_alone"), "travel_alone"),
    ("long shift without a break",
     _delete(lambda p: p.stop("STR1", "break"), "STR1"), "missing_break"),
    ("break too early in the shift",
     _set(lambda p: p.vehicle("WAV1"), shift_start="07:45"), "break_timing"),
    ("break with a patient on board", _break_with_stretcher_on_board, "break_on_board"),
    ("electric car beyond its range", _set(lambda p: p.vehicle("CAR1"), range_km="10"), "range"),
    ("km column wrong", _set(lambda p: p.stop("CAR1", "pickup", "J2"), km="9.00"),
     "km_mismatch"),
    ("booking lost", _forget_j7, "not_planned"),
    ("planned and unassigned", _add_unassigned("J1", "P1", "no capacity"),
     "planned_and_unassigned"),
    ("unassigned twice", _duplicate_j7, "unassigned_twice"),
    ("unassigned journey never booked", _add_unassigned("J99", "P9", "no capacity"),
     "unknown_unassigned"),
    ("unassigned without a reason", _clear_j7_reason, "no_reason"),
    ("outward planned, its return not", _j6_taken_out, "stranded_patient"),
    ("rosters file missing", lambda plan: None, "file"),
    ("return collected before its outward sets down", _j2_made_p1s("J1"), "return_first"),
    ("a patient on two journeys at once", _j2_made_p1s(""), "patient_twice"),
]


@pytest.mark.parametrize(("name", "mutate", "rule"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_mutation_is_caught(name: str, mutate: Callable[[Plan], None], rule: str,
                            tmp_path: Path) -> None:
    """Each way of corrupting the valid plan is reported under its rule."""
    plan = _load_plan()
    mutate(plan)
    if rule == "file":
        assert rule in _check_without_rosters(plan, tmp_path), name
        return
    assert rule in _check(plan, tmp_path), name


def test_every_rule_has_a_mutation() -> None:
    """No rule in the checker's list is left without a test that breaks it."""
    assert {rule for _, _, rule in MUTATIONS} == set(RULES)


def test_check_command_exit_codes(tmp_path: Path) -> None:
    """`pts check` exits 0 on the valid plan and 3 with violations listed."""
    day = FIXTURES / "tiny_day"
    args = ["check", "--bookings", str(day / "bookings.csv"), "--fleet", str(day / "fleet.csv")]
    ok = CliRunner().invoke(main, [*args, "--out", str(FIXTURES / "tiny_plan")])
    assert ok.exit_code == 0, ok.output
    assert "0 violation(s)" in ok.output
    plan = _load_plan()
    _forget_j7(plan)
    _check(plan, tmp_path)
    bad = CliRunner().invoke(main, [*args, "--out", str(tmp_path)])
    assert bad.exit_code == 3
    assert "[not_planned] journey J7" in bad.output


@pytest.mark.parametrize(("column", "value"), [
    ("lat", "nan"), ("lon", "inf"), ("lat", "91.5"), ("lon", "-NaN"), ("km", "nan"),
    ("km", "-3"), ("seats_used", "-1"), ("wheelchairs_used", "1.5"), ("arrival", "25:99")])
def test_bad_number_in_rosters_is_a_located_violation(column: str, value: str,
                                                      tmp_path: Path) -> None:
    """A NaN, infinite or out-of-range rosters.csv cell is a bad_value with column and row."""
    plan = _load_plan()
    stop = plan.stop("CAR1", "pickup", "J1")
    stop[column] = value
    assert "bad_value" in _check(plan, tmp_path)
    problem, _ = read_problem(Inputs(tmp_path / "bookings.csv", tmp_path / "fleet.csv"),
                              load_config())
    found = [v for v in check_plan(problem, tmp_path).violations if v.rule == "bad_value"]
    assert len(found) == 1
    assert found[0].row == plan.rosters.index(stop) + 2 and column in found[0].message


def test_check_command_reports_a_nan_coordinate(tmp_path: Path) -> None:
    """`pts check` on a plan with a NaN coordinate exits 3 and names the row; no traceback."""
    plan = _load_plan()
    stop = plan.stop("CAR1", "dropoff", "J2")
    stop["lat"] = "NaN"
    _check(plan, tmp_path)
    result = CliRunner().invoke(main, ["check", "--bookings", str(tmp_path / "bookings.csv"),
                                       "--fleet", str(tmp_path / "fleet.csv"),
                                       "--out", str(tmp_path)])
    assert result.exit_code == 3, result.output
    row = plan.rosters.index(stop) + 2
    assert f"[bad_value] vehicle CAR1, journey J2, rosters.csv row {row}: lat" in result.output
    assert "Traceback" not in result.output


def test_return_taken_out_is_the_only_violation(tmp_path: Path) -> None:
    """Taking a planned return out of a legal plan breaks exactly one rule, at the outward."""
    plan = _load_plan()
    _j6_taken_out(plan)
    _check(plan, tmp_path)
    problem, _ = read_problem(Inputs(tmp_path / "bookings.csv", tmp_path / "fleet.csv"),
                              load_config())
    result = check_plan(problem, tmp_path)
    assert [(v.rule, v.journey_id) for v in result.violations] == [("stranded_patient", "J5")]
    assert "J6" in result.violations[0].message and result.warnings == ()


def _j4_made_p3s_and_taken_out(plan: Plan, return_of: str) -> None:
    """J4 (from Langley Road, far from where J3 left P3) made P3's, then left out."""
    for row in plan.bookings:
        row["return_of"] = return_of if row["journey_id"] == "J4" else ""
    plan.booking("J4")["patient_id"] = "P3"
    for event in ("pickup", "dropoff"):
        plan.rosters.remove(plan.stop("STR1", event, "J4"))
    plan.renumber("STR1")
    plan.stop("STR1", "end").update(arrival="11:17", service_start="11:17",
                                    departure="11:17", km="5.22")
    plan.unassigned.append({"journey_id": "J4", "patient_id": "P3",
                            "reason": "no_capacity: taken out by the test"})


@pytest.mark.parametrize(("return_of", "stranded"), [("", False), ("J3", True)])
def test_return_of_column_is_read_by_the_checker(return_of: str, stranded: bool,
                                                 tmp_path: Path) -> None:
    """return_of links journeys the 300 m rule would not: J4 named as J3's return is needed."""
    plan = _load_plan()
    _j4_made_p3s_and_taken_out(plan, return_of)
    assert _check(plan, tmp_path) == ({"stranded_patient"} if stranded else set())


def test_policy_allowing_it_makes_a_warning(tmp_path: Path) -> None:
    """With allow_outward_without_return the stranded patient is a warning; pts check exits 0."""
    plan = _load_plan()
    _j6_taken_out(plan)
    _check(plan, tmp_path)
    config = tmp_path / "allow.toml"
    config.write_text("[linked]\nallow_outward_without_return = true\n")
    result = CliRunner().invoke(main, ["check", "--bookings", str(tmp_path / "bookings.csv"),
                                       "--fleet", str(tmp_path / "fleet.csv"),
                                       "--config", str(config), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "0 violation(s), 1 warning(s)" in result.output
    assert "warning: [stranded_patient] journey J5" in result.output
    assert "another way back" in result.output


@pytest.mark.parametrize(("replanned_at", "violation"),
                         [("09:15", True), ("09:19", True), ("09:20", False),
                          ("09:21", False), ("09:25", False)])
def test_replan_keeps_a_patient_a_crew_had_set_off_for(replanned_at: str, violation: bool,
                                                       tmp_path: Path) -> None:
    """A re-plan called after the crew left for the pickup (or made it) only warns."""
    plan = _load_plan()
    _j6_taken_out(plan)
    _check(plan, tmp_path)
    (tmp_path / "summary.json").write_text(json.dumps({"search": {
        "replanned_at": replanned_at}}))
    problem, _ = read_problem(Inputs(tmp_path / "bookings.csv", tmp_path / "fleet.csv"),
                              load_config())
    result = check_plan(problem, tmp_path)
    found = [v.rule for v in (result.violations if violation else result.warnings)]
    assert found == ["stranded_patient"]
    assert [v.rule for v in (result.warnings if violation else result.violations)] == []


@pytest.mark.parametrize(("return_of", "rule"), [("J1", "return_first"), ("", "patient_twice")])
def test_a_patient_in_two_places_is_the_only_violation(return_of: str, rule: str,
                                                       tmp_path: Path) -> None:
    """A patient collected while still aboard for another journey breaks one rule, located."""
    plan = _load_plan()
    _j2_made_p1s(return_of)(plan)
    _check(plan, tmp_path)
    problem, _ = read_problem(Inputs(tmp_path / "bookings.csv", tmp_path / "fleet.csv"),
                              load_config())
    found = check_plan(problem, tmp_path).violations
    assert [(v.rule, v.vehicle_id, v.journey_id, v.row) for v in found] == [
        (rule, "CAR1", "J2", 4)]
    assert "07:22" in found[0].message and "07:36" in found[0].message


def _parked_with_p5_aboard(plan: Plan) -> None:
    """WAV1 sits at J5's pickup with P5 aboard, leaving at 10:40: 60 min aboard, limit 45."""
    pickup, dropoff = plan.stop("WAV1", "pickup", "J5"), plan.stop("WAV1", "dropoff", "J5")
    pickup["departure"] = "09:30"
    dropoff.update(arrival="09:34", service_start="10:30", departure="10:38")
    plan.booking("J5")["appointment_time"] = "10:45"
    for row in plan.bookings:
        row["max_ride_min"] = "45" if row["journey_id"] == "J5" else ""


def test_time_on_board_counts_a_wait_with_the_patient_aboard(tmp_path: Path) -> None:
    """Ride time runs from boarded to the drop-off's service, waits aboard included.

    Before, it ran from the pickup's departure to the drop-off's arrival: a crew arriving
    at 09:34 and setting the patient down at 10:30 had them 4 min on board.
    """
    plan = _load_plan()
    _parked_with_p5_aboard(plan)
    _check(plan, tmp_path)
    problem, _ = read_problem(Inputs(tmp_path / "bookings.csv", tmp_path / "fleet.csv"),
                              load_config())
    found = [v for v in check_plan(problem, tmp_path).violations if v.rule == "ride_time"]
    assert [(v.journey_id, v.message) for v in found] == [
        ("J5", "60 min on board (boarded 09:30, set down from 10:30), at most 45")]


def test_a_cancelled_return_excuses_nobody_outside_a_re_plan(tmp_path: Path) -> None:
    """Only `pts replan --cancel` cancels: "cancelled" in a plan made at once is a violation."""
    plan = _load_plan()
    _j6_taken_out(plan)
    plan.unassigned[-1]["reason"] = "cancelled: typed by hand"
    _check(plan, tmp_path)
    problem, _ = read_problem(Inputs(tmp_path / "bookings.csv", tmp_path / "fleet.csv"),
                              load_config())
    assert [v.rule for v in check_plan(problem, tmp_path).violations] == ["stranded_patient"]
    (tmp_path / "summary.json").write_text(json.dumps({"search": {"replanned_at": "09:00"}}))
    result = check_plan(problem, tmp_path)
    assert result.violations == ()
    assert [v.rule for v in result.warnings] == ["stranded_patient"]
    assert "cancelled" in result.warnings[0].message


@pytest.mark.parametrize(("arrival", "violation"), [("07:11", True), ("07:12", False)])
def test_a_leg_no_road_allows_is_a_violation_with_the_road_server_down(
        arrival: str, violation: bool, tmp_path: Path) -> None:
    """Faster than 150 km/h in a straight line is undrivable whatever the roads.

    With the road server down a leg faster than the estimate is only a warning (the plan may
    have been made on the roads); until 2026-12-07 that held for any leg, 840 km/h too.
    """
    plan = _load_plan()
    _set(lambda p: p.stop("CAR1", "pickup", "J1"), arrival=arrival, service_start=arrival)(plan)
    _check(plan, tmp_path)
    config = tmp_path / "down.toml"
    config.write_text('[travel]\nprovider = "osrm"\nosrm_url = "http://127.0.0.1:9"\n'
                      "osrm_timeout_s = 1\n")
    problem, _ = read_problem(Inputs(tmp_path / "bookings.csv", tmp_path / "fleet.csv"),
                              load_config(config))
    result = check_plan(problem, tmp_path)
    assert [v.rule for v in result.violations] == (["too_fast"] if violation else [])
    assert "too_fast" in {w.rule for w in result.warnings}


def test_a_journey_on_two_runs_names_the_second_run(tmp_path: Path) -> None:
    """The duplicate is reported on the row and the vehicle it is on (before: the first's)."""
    plan = _load_plan()
    copy = [dict(plan.stop("CAR1", event, "J1")) for event in ("pickup", "dropoff")]
    end = plan.rosters.index(plan.stop("STR1", "end"))
    plan.rosters[end:end] = [dict(row, vehicle_id="STR1") for row in copy]
    plan.renumber("STR1")
    _check(plan, tmp_path)
    problem, _ = read_problem(Inputs(tmp_path / "bookings.csv", tmp_path / "fleet.csv"),
                              load_config())
    found = [v for v in check_plan(problem, tmp_path).violations if v.rule == "duplicate_stop"]
    assert {(v.vehicle_id, v.row) for v in found} == {("STR1", end + 2), ("STR1", end + 3)}
    assert all("also on CAR1" in v.message for v in found)
