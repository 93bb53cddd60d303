"""The policy a plan is made under, read from TOML and checked key by key."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pts_optimiser.domain.diagnostics import Code, Finding, InputError, error
from pts_optimiser.domain.resources import default_config_path

PURPOSES = ("dialysis", "discharge", "outpatient", "admission", "transfer")
FUELS = ("diesel", "petrol", "hybrid", "electric")
# kg CO2e a km: by fuel, and a diesel car apart from the diesel vans (views.kpi.co2_factor).
CO2_FACTORS = (*FUELS, "diesel_car")


@dataclass(frozen=True)
class PurposePolicy:
    """Windows and ride limits for one purpose of travel."""

    priority: int
    arrive_early_min: int
    collect_within_min: int
    max_ride_min: int


@dataclass(frozen=True)
class ServicePolicy:
    """Boarding and alighting minutes at each end of a journey."""

    seated_min: int
    wheelchair_min: int
    stretcher_min: int
    per_escort_min: int


@dataclass(frozen=True)
class BreakPolicy:
    """When a crew must stop."""

    default_break_min: int
    required_over_min: int
    earliest_after_start_min: int
    latest_after_start_min: int


@dataclass(frozen=True)
class TravelPolicy:
    """How travel between two places is estimated."""

    provider: str
    road_factor: float
    speed_kmh: float
    osrm_url: str
    osrm_timeout_s: float
    osrm_max_table: int


@dataclass(frozen=True)
class ObjectiveWeights:
    """Costs the solver trades against each other (integers: the solver's own units)."""

    unserved_cost_by_priority: Mapping[int, int]
    km_cost_by_fuel: Mapping[str, int]
    vehicle_cost: int
    shift_minute_cost: int


@dataclass(frozen=True)
class KpiTargets:
    """Standards the KPI report measures the plan against."""

    renal_collect_within_min: int
    renal_collect_target_pct: int
    renal_on_board_max_min: int
    renal_on_board_target_pct: int
    renal_arrive_early_max_min: int
    renal_arrive_early_target_pct: int
    planned_arrive_early_max_min: int
    planned_arrive_early_target_pct: int
    discharge_collect_within_min: int
    discharge_collect_target_pct: int


@dataclass(frozen=True)
class MapPolicy:
    """How route maps are drawn."""

    tiles: str
    tiles_credit: str
    privacy: bool


@dataclass(frozen=True)
class RunSheetPolicy:
    """What a crew's printed run sheet shows beyond the contract's columns."""

    # The bookings' own columns printed under "Booking notes", by name (any case): a
    # sheet travels with the crew, and a column not named here (a patient's name, phone,
    # hospital number) stays in the office's files.
    booking_columns: tuple[str, ...]


@dataclass(frozen=True)
class AlertPolicy:
    """When a written plan should still wake somebody."""

    min_planned_share: float  # of the servable journeys


@dataclass(frozen=True)
class ValidationPolicy:
    """Sense checks on input beyond the contract's types."""

    service_area_margin_km: float  # a place further from every site is refused


@dataclass(frozen=True)
class ReplanPolicy:
    """How a re-plan treats the day's events."""

    off_road_drop: str  # "destination" or "nearest_site"


@dataclass(frozen=True)
class LinkPolicy:
    """Round trips: a patient taken somewhere is brought back."""

    link_radius_m: int  # an inferred return starts this near where the outward one ended
    allow_outward_without_return: bool


@dataclass(frozen=True)
class StandardsPolicy:
    """What the plan pays per minute a patient waits beyond a standard (config.kpi's).

    Within the hard windows the plan then prefers meeting the standard; zero switches one
    off. Integers: the solver's own units, beside objective.km_cost_* per km.
    """

    renal_collect_cost_per_min: int  # a dialysis patient collected after ready + the KPI's
    discharge_collect_cost_per_min: int  # a discharge collected after ready + the KPI's


@dataclass(frozen=True)
class ContinuityPolicy:
    """Continuity of care over several days (`pts week`): the same crew, the same time.

    A regular patient travels on `regular_min_days` days or more of the horizon. The week
    planner asks each day's plan to give a regular's journey the vehicle that usually
    carries it and a pickup within `pickup_slack_min` of their usual time, as costs in the
    search (the solver's units, beside objective.km_cost_* per km), far below a journey's:
    a preference gives way wherever it would cost one. Zero switches a preference off.
    """

    regular_min_days: int
    vehicle_change_cost: int  # a regular's journey on another vehicle than their usual one
    crew_change_cost: int  # each crew beyond the first that carries a regular's day
    pickup_spread_cost_per_min: int  # each minute a pickup is beyond the slack of the usual
    pickup_slack_min: int  # a pickup within this of the usual time costs nothing
    # The share of a day's journeys (as the day planned alone serves them) continuity may
    # cost, in percent: 0 never serves fewer.
    journeys_lost_max_pct: float
    # A day planned with continuity prices its collection standards ([standards]) this many
    # times over, so keeping a regular's crew does not buy a patient's wait past a standard.
    standards_cost_factor: float = 1.0


@dataclass(frozen=True)
class Config:
    """Every policy setting a run uses."""

    purposes: Mapping[str, PurposePolicy]
    ride_direct_factor: float
    service: ServicePolicy
    breaks: BreakPolicy
    travel: TravelPolicy
    objective: ObjectiveWeights
    co2_kg_per_km: Mapping[str, float]
    charging_during_shift: bool
    kpi: KpiTargets
    maps: MapPolicy
    runsheets: RunSheetPolicy
    group_readable: bool
    alerts: AlertPolicy
    validation: ValidationPolicy
    replan: ReplanPolicy
    linked: LinkPolicy
    standards: StandardsPolicy
    continuity: ContinuityPolicy


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            merged[key] = _merge(base[key], value)
        else:
            merged[key] = value
    return merged


class _Reader:
    """Pulls typed, range-checked values out of a TOML tree, collecting every problem."""

    def __init__(self, tree: Mapping[str, Any], file: str) -> None:
        self.tree = tree
        self.file = file
        self.findings: list[Finding] = []
        self.used: set[str] = set()

    def _get(self, key: str) -> Any:
        node: Any = self.tree
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return None
            node = node[part]
        self.used.add(key)
        return node

    def _bad(self, key: str, message: str, hint: str) -> None:
        self.findings.append(error(Code.BAD_CONFIG, self.file, message, hint, key=key))

    def integer(self, key: str, low: int, high: int) -> int:
        value = self._get(key)
        if value is None:
            self._bad(key, "missing", f"add {key} = <whole number {low}..{high}>")
            return low
        if isinstance(value, bool) or not isinstance(value, int):
            self._bad(key, f"{value!r} is not a whole number", f"give a whole number {low}..{high}")
            return low
        if not low <= value <= high:
            self._bad(key, f"{value} is outside {low}..{high}", f"give a value {low}..{high}")
            return low
        return value

    def number(self, key: str, low: float, high: float) -> float:
        value = self._get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            self._bad(key, f"{value!r} is not a number", f"give a number {low}..{high}")
            return low
        if not low <= value <= high:
            self._bad(key, f"{value} is outside {low}..{high}", f"give a value {low}..{high}")
            return low
        return float(value)

    def choice(self, key: str, options: tuple[str, ...]) -> str:
        value = self._get(key)
        if value not in options:
            self._bad(key, f"{value!r} is not one of {', '.join(options)}",
                      f"use one of {', '.join(options)}")
            return options[0]
        return str(value)

    def text(self, key: str) -> str:
        value = self._get(key)
        if not isinstance(value, str):
            self._bad(key, f"{value!r} is not text", 'give a quoted string, e.g. ""')
            return ""
        return value

    def names(self, key: str) -> tuple[str, ...]:
        value = self._get(key)
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip()
                                                  for v in value):
            self._bad(key, f"{value!r} is not a list of names",
                      'give quoted names in brackets, e.g. ["ward_note", "access"], or []')
            return ()
        return tuple(v.strip() for v in value)

    def flag(self, key: str) -> bool:
        value = self._get(key)
        if not isinstance(value, bool):
            self._bad(key, f"{value!r} is not true or false", "write true or false")
            return False
        return value

    def unknown_keys(self) -> None:
        def walk(node: Mapping[str, Any], prefix: str) -> None:
            for key, value in node.items():
                path = f"{prefix}{key}"
                if isinstance(value, Mapping):
                    walk(value, path + ".")
                elif path not in self.used:
                    self._bad(path, "is not a setting pts-optimiser knows",
                              "check the spelling against configs/default.toml")
        walk(self.tree, "")


def _read_toml(path: Path) -> dict[str, Any]:
    if path.exists() and not path.is_file() and not path.is_dir():
        # A pipe in a night's inbox held the night past its time limit, with no log
        # (until the thirty-fifth stop): reading it waits for a writer.
        raise InputError([error(Code.UNREADABLE_FILE, str(path), "is not a regular file (a "
                                "pipe, socket or device)", "give the TOML file itself")])
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise InputError([error(Code.FILE_NOT_FOUND, str(path), "no such file",
                                "give the path of an existing TOML file")]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError([error(Code.BAD_CONFIG, str(path), f"not valid TOML ({exc})",
                                "fix the syntax; compare with configs/default.toml")]) from None
    except RecursionError:
        # Valid TOML nested deeper than the parser recurses: a traceback from `pts solve`
        # and a 500 from the board's upload until the thirty-sixth stop.
        raise InputError([error(Code.BAD_CONFIG, str(path), "nested too deeply to read "
                                "(arrays or tables hundreds deep within each other)",
                                "give plain values in tables, as configs/default.toml "
                                "does")]) from None


# The road server's URL, credentials and all, in place of [travel] osrm_url where the
# policy asks for OSRM: a secret kept out of files, and the way a check or re-plan of a plan
# folder (whose copy of the policy holds no credentials) reaches a server that needs them.
OSRM_URL_ENV = "PTS_OSRM_URL"


def load_config(path: Path | None = None) -> Config:
    """Read the default policy, overlaid with the user's file when given (and PTS_OSRM_URL)."""
    tree = _read_toml(default_config_path())
    file = str(path) if path is not None else str(default_config_path())
    if path is not None:
        tree = _merge(tree, _read_toml(path))
    read = _Reader(tree, file)
    config = _config(read)
    given = os.environ.get(OSRM_URL_ENV, "").strip()
    if given and config.travel.provider == "osrm":
        config = replace(config, travel=replace(config.travel, osrm_url=given))
    if config.travel.provider == "osrm" \
            and not config.travel.osrm_url.startswith(("http://", "https://")):
        read._bad("travel.osrm_url" + (f" (from {OSRM_URL_ENV})" if given else ""),
                  "is not an http(s) URL", 'give the OSRM server, e.g. "http://127.0.0.1:5000"')
    _continuity_below_a_journey(read, config)
    read.unknown_keys()
    if read.findings:
        raise InputError(read.findings)
    return config


def _continuity_below_a_journey(read: _Reader, config: Config) -> None:
    """Refuse continuity prices that could buy a regular's usual crew with a journey.

    The most a journey's preferences can cost: a change of vehicle, a split day priced
    for each of up to 7 days it stands for (an anchor's), and a pickup a whole day from
    its usual minute. Below the cheapest journey left out, continuity gives way wherever
    it would cost one; until the thirty-seventh stop a price of 10^6 was taken, and a day
    of `pts week` left out a journey its plan alone served.
    """
    cont = config.continuity
    most = (cont.vehicle_change_cost + 7 * cont.crew_change_cost
            + 24 * 60 * cont.pickup_spread_cost_per_min)
    # A priority priced 0 is one the policy lets go: no journey of it is bought.
    cheapest = min((c for c in config.objective.unserved_cost_by_priority.values() if c > 0),
                   default=0)
    if cheapest and most >= cheapest:
        read._bad("continuity.vehicle_change_cost",
                  f"with crew_change_cost and pickup_spread_cost_per_min, a journey's "
                  f"continuity may cost {most:,} (vehicle_change_cost + 7 x crew_change_cost "
                  f"+ 1440 x pickup_spread_cost_per_min), not below the {cheapest:,} of "
                  "leaving a journey out: continuity could then drop a patient's journey",
                  "lower the [continuity] costs (the defaults are 1000, 1000 and 5), or raise "
                  "[objective] unserved_cost_priority_*")


def _config(read: _Reader) -> Config:
    """Every table of the policy, each value range-checked as it is read."""
    return Config(
        purposes=_purposes(read),
        ride_direct_factor=read.number("ride.direct_factor", 1.0, 5.0),
        service=ServicePolicy(
            seated_min=read.integer("service.seated_min", 0, 120),
            wheelchair_min=read.integer("service.wheelchair_min", 0, 120),
            stretcher_min=read.integer("service.stretcher_min", 0, 120),
            per_escort_min=read.integer("service.per_escort_min", 0, 60),
        ),
        breaks=_breaks(read),
        travel=TravelPolicy(
            provider=read.choice("travel.provider", ("estimate", "osrm")),
            road_factor=read.number("travel.road_factor", 1.0, 3.0),
            speed_kmh=read.number("travel.speed_kmh", 5.0, 120.0),
            osrm_url=read.text("travel.osrm_url"),
            osrm_timeout_s=read.number("travel.osrm_timeout_s", 0.1, 600.0),
            osrm_max_table=read.integer("travel.osrm_max_table", 2, 100_000),
        ),
        objective=_objective(read),
        co2_kg_per_km={fuel: read.number(f"co2.{fuel}_kg_per_km", 0.0, 5.0)
                       for fuel in CO2_FACTORS},
        charging_during_shift=read.flag("electric.charging_during_shift"),
        kpi=_kpi(read),
        maps=MapPolicy(tiles=read.text("maps.tiles"), tiles_credit=read.text("maps.tiles_credit"),
                       privacy=read.flag("maps.privacy")),
        runsheets=RunSheetPolicy(read.names("runsheets.booking_columns")),
        group_readable=read.flag("output.group_readable"),
        alerts=AlertPolicy(read.number("alerts.min_planned_share", 0.0, 1.0)),
        # Below 5 km every home away from a site would be refused; 1000 km takes in all of
        # Great Britain, which is how to switch the check off.
        validation=ValidationPolicy(read.number("validation.service_area_margin_km", 5.0,
                                                1000.0)),
        replan=ReplanPolicy(read.choice("replan.off_road_drop", ("destination",
                                                                "nearest_site"))),
        linked=LinkPolicy(read.integer("linked.link_radius_m", 0, 5000),
                          read.flag("linked.allow_outward_without_return")),
        standards=StandardsPolicy(
            read.integer("standards.renal_collect_cost_per_min", 0, 10**6),
            read.integer("standards.discharge_collect_cost_per_min", 0, 10**6)),
        continuity=ContinuityPolicy(
            read.integer("continuity.regular_min_days", 2, 366),
            read.integer("continuity.vehicle_change_cost", 0, 10**6),
            read.integer("continuity.crew_change_cost", 0, 10**6),
            read.integer("continuity.pickup_spread_cost_per_min", 0, 10**6),
            read.integer("continuity.pickup_slack_min", 0, 240),
            read.number("continuity.journeys_lost_max_pct", 0.0, 100.0),
            read.number("continuity.standards_cost_factor", 1.0, 100.0)),
    )


def _purposes(read: _Reader) -> dict[str, PurposePolicy]:
    return {
        name: PurposePolicy(
            priority=read.integer(f"purposes.{name}.priority", 1, 3),
            arrive_early_min=read.integer(f"purposes.{name}.arrive_early_min", 0, 720),
            collect_within_min=read.integer(f"purposes.{name}.collect_within_min", 0, 720),
            max_ride_min=read.integer(f"purposes.{name}.max_ride_min", 1, 720),
        )
        for name in PURPOSES
    }


def _breaks(read: _Reader) -> BreakPolicy:
    breaks = BreakPolicy(
        default_break_min=read.integer("breaks.default_break_min", 0, 240),
        required_over_min=read.integer("breaks.required_over_min", 0, 1440),
        earliest_after_start_min=read.integer("breaks.earliest_after_start_min", 0, 1440),
        latest_after_start_min=read.integer("breaks.latest_after_start_min", 0, 1440),
    )
    if breaks.earliest_after_start_min > breaks.latest_after_start_min:
        read._bad("breaks.latest_after_start_min", "is before breaks.earliest_after_start_min",
                  "make the latest break start no earlier than the earliest")
    return breaks


def _objective(read: _Reader) -> ObjectiveWeights:
    return ObjectiveWeights(
        unserved_cost_by_priority={
            level: read.integer(f"objective.unserved_cost_priority_{level}", 0, 10**9)
            for level in (1, 2, 3)
        },
        km_cost_by_fuel={fuel: read.integer(f"objective.km_cost_{fuel}", 0, 10**6)
                         for fuel in FUELS},
        vehicle_cost=read.integer("objective.vehicle_cost", 0, 10**8),
        shift_minute_cost=read.integer("objective.shift_minute_cost", 0, 10**6),
    )


def _kpi(read: _Reader) -> KpiTargets:
    return KpiTargets(
        renal_collect_within_min=read.integer("kpi.renal_collect_within_min", 0, 720),
        renal_collect_target_pct=read.integer("kpi.renal_collect_target_pct", 0, 100),
        renal_on_board_max_min=read.integer("kpi.renal_on_board_max_min", 0, 720),
        renal_on_board_target_pct=read.integer("kpi.renal_on_board_target_pct", 0, 100),
        renal_arrive_early_max_min=read.integer("kpi.renal_arrive_early_max_min", 0, 720),
        renal_arrive_early_target_pct=read.integer("kpi.renal_arrive_early_target_pct", 0, 100),
        planned_arrive_early_max_min=read.integer("kpi.planned_arrive_early_max_min", 0, 720),
        planned_arrive_early_target_pct=read.integer("kpi.planned_arrive_early_target_pct", 0,
                                                     100),
        discharge_collect_within_min=read.integer("kpi.discharge_collect_within_min", 0, 720),
        discharge_collect_target_pct=read.integer("kpi.discharge_collect_target_pct", 0, 100),
    )
