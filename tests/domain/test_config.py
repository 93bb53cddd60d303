"""The policy file: defaults load, overrides merge, and each default is explained."""

from __future__ import annotations

from pathlib import Path

import pytest

from pts_optimiser.domain.config import load_config
from pts_optimiser.domain.diagnostics import InputError
from pts_optimiser.domain.resources import default_config_path
from tests.helpers import FIXTURES


def test_defaults_load() -> None:
    """The shipped policy reads and carries the contract's defaults."""
    config = load_config()
    assert config.travel.road_factor == 1.3
    assert config.travel.speed_kmh == 40.0
    assert (config.service.seated_min, config.service.wheelchair_min,
            config.service.stretcher_min, config.service.per_escort_min) == (3, 8, 15, 2)
    assert config.breaks.default_break_min == 30
    assert config.purposes["dialysis"].priority == 1


def test_every_default_has_a_reason() -> None:
    """Each setting in the default file has its one-line comment directly above it."""
    lines = default_config_path().read_text().splitlines()
    for index, line in enumerate(lines):
        if "=" in line and not line.lstrip().startswith("#"):
            above = lines[index - 1].strip()
            assert above.startswith("#") and len(above) > 10, line


def test_override_merges(tmp_path: Path) -> None:
    """A user file changes only the keys it names."""
    path = tmp_path / "mine.toml"
    path.write_text("[travel]\nspeed_kmh = 32.0\n")
    config = load_config(path)
    assert config.travel.speed_kmh == 32.0
    assert config.travel.road_factor == 1.3


@pytest.mark.parametrize(("text", "key"), [
    ("[travel]\nspeed_kmh = 0\n", "travel.speed_kmh"),
    ("[purposes.dialysis]\npriority = 4\n", "purposes.dialysis.priority"),
    ("[breaks]\nearliest_after_start_min = 400\n", "breaks.latest_after_start_min"),
    ("[travel]\nprovider = 'google'\n", "travel.provider"),
    ("[objective]\nvehicle_costs = 1\n", "objective.vehicle_costs"),
    ("[validation]\nservice_area_margin_km = 0\n", "validation.service_area_margin_km"),
    ("[validation]\nservice_area_margin_km = -60\n", "validation.service_area_margin_km"),
    ("[continuity]\nregular_min_days = 1\n", "continuity.regular_min_days"),
    ("[continuity]\npickup_slack_min = -5\n", "continuity.pickup_slack_min"),
    ("[continuity]\nvehicle_change_cost = 0.5\n", "continuity.vehicle_change_cost"),
    ("[continuity]\nsame_crew = true\n", "continuity.same_crew"),
    ("[continuity]\njourneys_lost_max_pct = 101\n", "continuity.journeys_lost_max_pct"),
    # Below 1 continuity would buy waits past a standard more cheaply than a day alone does.
    ("[continuity]\nstandards_cost_factor = 0.5\n", "continuity.standards_cost_factor"),
    ('[runsheets]\nbooking_columns = "ward_note"\n', "runsheets.booking_columns"),
    # Dearer than leaving a journey out: continuity would drop patients (until the 37th stop).
    ("[continuity]\nvehicle_change_cost = 1000000\n", "continuity.vehicle_change_cost"),
    ("[continuity]\npickup_spread_cost_per_min = 300\n", "continuity.vehicle_change_cost"),
    ('[runsheets]\nbooking_columns = ["ward_note", 3]\n', "runsheets.booking_columns"),
    ('[runsheets]\nbooking_columns = [" "]\n', "runsheets.booking_columns"),
])
def test_bad_values_are_located(tmp_path: Path, text: str, key: str) -> None:
    """Out-of-range, unknown and inconsistent settings name their key."""
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        load_config(path)
    assert any(f.key == key and f.file == str(path) for f in caught.value.findings)


def test_invalid_toml(tmp_path: Path) -> None:
    """A file that is not TOML is reported, not raised as a parser traceback."""
    path = tmp_path / "broken.toml"
    path.write_text("[travel\n")
    with pytest.raises(InputError) as caught:
        load_config(path)
    assert caught.value.findings[0].code == "bad_config"



@pytest.mark.parametrize("text", ["a = " + "[" * 1000 + "]" * 1000,
                                  "a = " + "{b = " * 1000 + "1" + "}" * 1000])
def test_a_policy_nested_too_deeply_is_located(tmp_path: Path, text: str) -> None:
    """Valid TOML nested deeper than the parser recurses: a finding, not a RecursionError.

    Until the thirty-sixth stop it was `pts solve`'s internal error and the board's 500.
    """
    path = tmp_path / "deep.toml"
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        load_config(path)
    (finding,) = caught.value.findings
    assert (finding.code, finding.file) == ("bad_config", str(path))
    assert "nested too deeply" in finding.message


def test_service_area_margin_switches_the_check(tmp_path: Path) -> None:
    """A margin of 1000 km takes in all of Great Britain: a London pickup then reads."""
    from pts_optimiser.io.parse import Inputs, read_problem

    fixtures = FIXTURES
    path = tmp_path / "wide.toml"
    path.write_text("[validation]\nservice_area_margin_km = 1000\n")
    problem, _ = read_problem(Inputs(fixtures / "broken" / "bookings_pickup_in_london.csv",
                                     fixtures / "tiny_day" / "fleet.csv"), load_config(path))
    assert len(problem.journeys) == 7


def test_continuity_policy(tmp_path: Path) -> None:
    """[continuity] loads its defaults, and an override changes only what it names."""
    policy = load_config().continuity
    assert (policy.regular_min_days, policy.pickup_slack_min) == (2, 5)
    assert policy.journeys_lost_max_pct == 0.5  # the allowance: one journey in 200
    assert policy.vehicle_change_cost > 0 and policy.pickup_spread_cost_per_min > 0
    path = tmp_path / "mine.toml"
    path.write_text("[continuity]\npickup_spread_cost_per_min = 0\n")
    mine = load_config(path).continuity
    assert mine.pickup_spread_cost_per_min == 0
    assert mine.vehicle_change_cost == policy.vehicle_change_cost
