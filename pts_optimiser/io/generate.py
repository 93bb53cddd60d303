"""A realistic synthetic Derbyshire weekday: bookings, fleet and sites, deterministic per seed.

Calibrated to the division's figures (../shared/notes/domain-facts.md): about 35% of
journeys are renal dialysis, 6% discharges, the rest mostly outpatients with returns and
a few admissions and transfers; homes drawn by district population.
"""

from __future__ import annotations

import math
import random
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

from pts_optimiser.domain.clock import format_clock
from pts_optimiser.domain.clock import read_clock as _clock
from pts_optimiser.domain.exits import OutputError
from pts_optimiser.domain.resources import data_dir, default_sites_path
from pts_optimiser.io.tables import read_table, write_table

BOOKING_COLUMNS = (
    "journey_id", "patient_id", "purpose", "mobility", "escorts",
    "pickup_site", "pickup_lat", "pickup_lon", "pickup_label",
    "dropoff_site", "dropoff_lat", "dropoff_lon", "dropoff_label",
    "appointment_time", "ready_time", "needs", "service_date", "return_of", "district",
)
FLEET_COLUMNS = (
    "vehicle_id", "vehicle_type", "base_site", "seats", "wheelchair_spaces", "stretchers",
    "crew", "shift_start", "shift_end", "break_min", "fuel", "range_km", "skills",
)
RENAL_UNITS = ("RDH-RENAL", "CRH-RENAL", "ILK-RENAL", "NGH-RENAL", "MRI-RENAL")
ACUTE = ("RDH", "CRH", "NGH", "RHH", "QMC", "KMH", "QHB", "SHH")
COMMUNITY = ("LRCH", "WHIT", "BABH", "WALT", "CAVH", "SHIR", "STOS", "BOLH", "CLAY", "RIPH", "ILK")
DISCHARGING = {"RDH": 0.55, "CRH": 0.30, "NGH": 0.05, "QMC": 0.04, "KMH": 0.03, "SHH": 0.03}


@dataclass(frozen=True)
class Calibration:
    """Shares and rates a generated day is drawn with (sources in the module docstring)."""

    dialysis_share: float = 0.35  # 82,526 of 208,501 journeys in 2022/23 is 39.6%; weekdays lower
    discharge_share: float = 0.06  # 14,189 of 208,501 is 6.8%
    admission_share: float = 0.03
    transfer_share: float = 0.03
    outpatient_return_rate: float = 0.8
    # Dialysis sessions: morning, afternoon, twilight (2-3 sessions a day from about 06:00).
    dialysis_sessions: tuple[tuple[str, float], ...] = (("07:30", 0.45), ("12:30", 0.40),
                                                         ("17:15", 0.15))
    dialysis_session_min: int = 255  # 4-5 h a session: the journey home about 4 h 15 min later
    mobility_mix: Mapping[str, tuple[float, float, float]] = field(default_factory=lambda: {
        # seated, wheelchair, stretcher
        "dialysis": (0.75, 0.20, 0.05),
        "discharge": (0.35, 0.30, 0.35),
        "outpatient": (0.65, 0.23, 0.12),
        "admission": (0.50, 0.25, 0.25),
        "transfer": (0.30, 0.20, 0.50),
    })
    escort_rates: tuple[float, float] = (0.15, 0.02)  # one escort, two escorts
    need_rates: Mapping[str, float] = field(default_factory=lambda: {
        "oxygen": 0.04, "two_crew": 0.03, "travel_alone": 0.02, "bariatric": 0.01})


@dataclass(frozen=True)
class _Settlement:
    name: str
    lat: float
    lon: float
    district: str


@dataclass(frozen=True)
class _Home:
    lat: float
    lon: float
    town: str
    district: str

    @property
    def place(self) -> tuple[float, float, str, str]:
        # Run sheets show the town only: the exact address stays in the booking system.
        return self.lat, self.lon, f"Home, {self.town}", ""


@dataclass(frozen=True)
class _SiteRef:
    code: str
    name: str
    lat: float
    lon: float


@dataclass
class _Day:
    rng: random.Random
    sites: Mapping[str, _SiteRef]
    settlements: Sequence[_Settlement]
    district_weights: Mapping[str, float]
    calibration: Calibration
    service_date: str
    rows: list[dict[str, object]] = field(default_factory=list)
    patients: int = 0

    def home(self) -> _Home:
        districts = list(self.district_weights)
        district = self.rng.choices(districts, [self.district_weights[d] for d in districts])[0]
        town = self.rng.choice([s for s in self.settlements if s.district == district])
        spread_km = 3.0 if town.name == "Derby" else 1.2
        lat = town.lat + self.rng.gauss(0, spread_km / 111.0)
        lon = town.lon + self.rng.gauss(0, spread_km / (111.0 * math.cos(math.radians(town.lat))))
        return _Home(round(lat, 5), round(lon, 5), town.name, district)

    def nearest(self, lat: float, lon: float, codes: Sequence[str]) -> _SiteRef:
        def far(code: str) -> float:
            site = self.sites[code]
            return (site.lat - lat) ** 2 + ((site.lon - lon) * math.cos(math.radians(lat))) ** 2
        return self.sites[min(codes, key=far)]

    def patient(self, purpose: str) -> tuple[str, str, int, str]:
        self.patients += 1
        mix = self.calibration.mobility_mix[purpose]
        mobility = self.rng.choices(("seated", "wheelchair", "stretcher"), mix)[0]
        one, two = self.calibration.escort_rates
        draw = self.rng.random()
        escorts = 2 if draw < two else 1 if draw < two + one else 0
        if mobility == "stretcher" and escorts > 1:
            escorts = 1
        needs = [need for need, rate in self.calibration.need_rates.items()
                 if self.rng.random() < rate
                 and not (need == "two_crew" and mobility == "stretcher")]
        return f"P{self.patients:05d}", mobility, escorts, ";".join(sorted(needs))

    def add(self, patient: tuple[str, str, int, str], purpose: str,
            pickup: tuple[float, float, str, str], dropoff: tuple[float, float, str, str],
            district: str, appointment: int | None = None, ready: int | None = None,
            return_of: str = "") -> str:
        """Add a journey; its id. `return_of`: the journey this one brings the patient back from."""
        patient_id, mobility, escorts, needs = patient
        journey_id = f"J{len(self.rows) + 1:05d}"
        row: dict[str, object] = {
            "journey_id": journey_id, "patient_id": patient_id, "return_of": return_of,
            "purpose": purpose, "mobility": mobility, "escorts": escorts,
            "appointment_time": format_clock(appointment) if appointment is not None else "",
            "ready_time": format_clock(ready) if ready is not None else "",
            "needs": needs, "service_date": self.service_date, "district": district,
        }
        for end, (lat, lon, label, code) in (("pickup", pickup), ("dropoff", dropoff)):
            row.update({f"{end}_site": code, f"{end}_lat": lat, f"{end}_lon": lon,
                        f"{end}_label": label})
        self.rows.append(row)
        return journey_id

    def at(self, site: _SiteRef) -> tuple[float, float, str, str]:
        return site.lat, site.lon, site.name, site.code

    def minutes_between(self, start: str, end: str) -> int:
        low, high = _clock(start), _clock(end)
        return self.rng.randrange(low, high + 1, 5) if high > low else low


def _load_reference(sites_path: Path) -> tuple[dict[str, _SiteRef], list[_Settlement],
                                               dict[str, float]]:
    sites = {row["code"]: _SiteRef(row["code"], row["name"], float(row["lat"]), float(row["lon"]))
             for row in read_table(sites_path).rows}
    settlements = [_Settlement(r["name"], float(r["lat"]), float(r["lon"]), r["district"])
                   for r in read_table(data_dir() / "settlements.csv").rows]
    weights = {r["district"]: float(r["population"])
               for r in read_table(data_dir() / "districts.csv").rows}
    return sites, settlements, weights


def generate_bookings(seed: int, journeys: int, service_date: str,
                      calibration: Calibration | None = None) -> list[dict[str, object]]:
    """Rows of a bookings file for one weekday, exactly `journeys` long."""
    cal = calibration or Calibration()
    sites, settlements, weights = _load_reference(default_sites_path())
    day = _Day(random.Random(seed), sites, settlements, weights, cal, service_date)
    rng = day.rng
    n_dialysis = 2 * round(journeys * cal.dialysis_share / 2)
    n_discharge = round(journeys * cal.discharge_share)
    n_admission = round(journeys * cal.admission_share)
    n_transfer = round(journeys * cal.transfer_share)
    n_outpatient = journeys - n_dialysis - n_discharge - n_admission - n_transfer

    sessions = [s for s, _ in cal.dialysis_sessions]
    session_weights = [w for _, w in cal.dialysis_sessions]
    for _ in range(n_dialysis // 2):
        home = day.home()
        unit = day.nearest(home.lat, home.lon, RENAL_UNITS)
        patient = day.patient("dialysis")
        start = _clock(rng.choices(sessions, session_weights)[0]) + rng.choice((-15, 0, 15, 30))
        ready = start + cal.dialysis_session_min + rng.choice((-15, 0, 0, 15))
        there = day.add(patient, "dialysis", home.place, day.at(unit), home.district,
                        appointment=start)
        day.add(patient, "dialysis", day.at(unit), home.place, home.district, ready=ready,
                return_of=there)

    for _ in range(n_discharge):
        home = day.home()
        hospital = sites[rng.choices(list(DISCHARGING), list(DISCHARGING.values()))[0]]
        # Discharges come through the afternoon, once ward rounds and pharmacy are done.
        ready = min(19 * 60, int(rng.triangular(10 * 60 + 30, 19 * 60, 15 * 60)) // 5 * 5)
        day.add(day.patient("discharge"), "discharge", day.at(hospital), home.place,
                home.district, ready=ready)

    for _ in range(n_admission):
        home = day.home()
        hospital = day.nearest(home.lat, home.lon, ACUTE)
        day.add(day.patient("admission"), "admission", home.place, day.at(hospital),
                home.district, appointment=day.minutes_between("08:00", "14:00"))

    for _ in range(n_transfer):
        home = day.home()
        acute = day.nearest(home.lat, home.lon, ACUTE)
        community = day.nearest(home.lat, home.lon, COMMUNITY)
        origin, destination = (acute, community) if rng.random() < 0.7 else (community, acute)
        day.add(day.patient("transfer"), "transfer", day.at(origin), day.at(destination),
                home.district, ready=day.minutes_between("10:00", "15:30"))

    remaining = n_outpatient
    while remaining > 0:
        home = day.home()
        # Most outpatient clinics are at the nearest acute trust; some at community hospitals.
        pool = ACUTE if rng.random() < 0.7 else COMMUNITY
        clinic = day.nearest(home.lat, home.lon, pool)
        patient = day.patient("outpatient")
        appointment = day.minutes_between("09:00", "15:30")
        there = day.add(patient, "outpatient", home.place, day.at(clinic), home.district,
                        appointment=appointment)
        remaining -= 1
        if remaining > 0 and rng.random() < cal.outpatient_return_rate:
            ready = min(appointment + rng.randrange(45, 181, 5), 18 * 60)
            day.add(patient, "outpatient", day.at(clinic), home.place, home.district, ready=ready,
                    return_of=there)
            remaining -= 1
    return day.rows


# (type, share of fleet, seats, wheelchair spaces, stretchers, crew, skills)
_VEHICLE_KINDS = (
    ("stretcher", 30, 2, 1, 1, 2),
    ("wheelchair", 25, 4, 2, 0, 1),
    ("car", 17, 3, 0, 0, 1),  # the division's 17 electric Kia e-Niro
    ("car", 15, 3, 0, 0, 1),
)
# Shift patterns (start, end): staggered from early dialysis runs to a late shift that
# brings twilight dialysis patients home.
_SHIFTS = (("06:00", "15:00"), ("06:30", "15:30"), ("07:00", "16:00"), ("07:30", "17:00"),
           ("08:00", "17:30"), ("09:00", "18:30"), ("10:00", "19:30"), ("11:00", "20:30"))
_LATE_SHIFT = ("14:30", "23:59")
EV_RANGE_KM = 350  # e-Niro WLTP ~455 km, less a winter and heater margin of about a quarter


def generate_fleet(seed: int, vehicles: int = 87) -> list[dict[str, object]]:
    """Rows of a fleet file: the division's mix of vehicles, shifts staggered from stations."""
    rng = random.Random(seed * 7919 + 1)
    sites, settlements, weights = _load_reference(default_sites_path())
    stations = [code for code in sites if code.startswith("ST-")]
    # Stations weighted by the population of their district, so vehicles sit where patients are.
    town_district = {s.name.lower(): s.district for s in settlements}
    station_weights = []
    for code in stations:
        town = sites[code].name.replace(" Ambulance Station", "").lower()
        district = town_district.get(town, "Derby City" if town == "derby" else "")
        per_district = sum(1 for c in stations
                           if town_district.get(sites[c].name.replace(" Ambulance Station", "")
                                                .lower(), "") == district)
        station_weights.append(weights.get(district, 100_000) / max(1, per_district))
    total_share = sum(kind[1] for kind in _VEHICLE_KINDS)
    counts = [round(vehicles * kind[1] / total_share) for kind in _VEHICLE_KINDS]
    counts[-1] += vehicles - sum(counts)
    rows: list[dict[str, object]] = []
    for kind_index, ((vehicle_type, _, seats, wheelchairs, stretchers, crew), count) in enumerate(
            zip(_VEHICLE_KINDS, counts, strict=True)):
        electric = kind_index == 2
        for number in range(count):
            late = number % 9 == 8  # about one vehicle in nine works the late shift
            start, end = _LATE_SHIFT if late else _SHIFTS[number % len(_SHIFTS)]
            skills = []
            if vehicle_type == "stretcher" or (vehicle_type == "wheelchair" and number % 2 == 0):
                skills.append("oxygen")
            if vehicle_type == "stretcher" and number % 6 == 0:
                skills.append("bariatric")
            fuel = "electric" if electric else ("hybrid" if kind_index == 3 and number % 2 else
                                                "diesel")
            prefix = {"stretcher": "STR", "wheelchair": "WAV", "car": "EV" if electric else "CAR"}
            rows.append({
                "vehicle_id": f"{prefix[vehicle_type]}{number + 1:02d}",
                "vehicle_type": vehicle_type,
                "base_site": rng.choices(stations, station_weights)[0],
                "seats": seats, "wheelchair_spaces": wheelchairs, "stretchers": stretchers,
                "crew": crew, "shift_start": start, "shift_end": end, "break_min": 30,
                "fuel": fuel, "range_km": EV_RANGE_KM if electric else "",
                "skills": ";".join(skills),
            })
    return rows


GENERATED = ".pts-generated"  # a folder with it holds what pts generate wrote: ours to rewrite
WRITTEN = ("bookings.csv", "fleet.csv", "sites.csv")


def check_out(out: Path) -> None:
    """Refuse a folder holding a day's files that pts generate did not write (exit 6).

    A mistyped --out would otherwise replace a real bookings file with made-up patients.
    """
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} is a file: give a folder for --out")
    found = [name for name in WRITTEN if (out / name).exists()]
    if found and not (out / GENERATED).exists():
        raise OutputError(f"{out} already holds {', '.join(found)}, which pts generate did "
                          "not write (they may be real bookings): choose a new or empty "
                          "folder for --out, or move them first")


def mark_generated(out: Path) -> None:
    """Mark `out` as pts generate's, so that it may write there again.

    Marked before its files are written: a run killed part way leaves a folder the next
    run may write again, not one it refuses as someone else's.
    """
    out.mkdir(parents=True, exist_ok=True)
    (out / GENERATED).touch()


def write_day(out: Path, seed: int, journeys: int, vehicles: int = 87,
              service_date: str | None = None) -> None:
    """Write bookings.csv, fleet.csv and sites.csv for one generated weekday into `out`."""
    day = service_date or date(2026, 12, 1).isoformat()
    write_table(out / "bookings.csv", BOOKING_COLUMNS,
                generate_bookings(seed, journeys, day))
    write_table(out / "fleet.csv", FLEET_COLUMNS, generate_fleet(seed, vehicles))
    out.mkdir(parents=True, exist_ok=True)
    if default_sites_path().resolve() != (out / "sites.csv").resolve():
        shutil.copyfile(default_sites_path(), out / "sites.csv")


# Renal units run Monday/Wednesday/Friday and Tuesday/Thursday/Saturday rotas; a patient is
# on one of them for months. Sunday has no dialysis.
DIALYSIS_ROTAS = ((0, 2, 4), (1, 3, 5))


@dataclass(frozen=True)
class _Regular:
    """A dialysis patient of the week's fixed cohort: the same unit and session every time."""

    patient: tuple[str, str, int, str]
    home: _Home
    unit: _SiteRef
    start_min: int
    ready_min: int
    rota: int  # index into DIALYSIS_ROTAS


def _cohort(seed: int, per_day: int, cal: Calibration) -> list[_Regular]:
    """Two rotas of `per_day` dialysis patients each, drawn once for the whole week."""
    sites, settlements, weights = _load_reference(default_sites_path())
    day = _Day(random.Random(seed * 104729 + 7), sites, settlements, weights, cal, "")
    sessions = [s for s, _ in cal.dialysis_sessions]
    session_weights = [w for _, w in cal.dialysis_sessions]
    cohort = []
    for number in range(2 * per_day):
        home = day.home()
        unit = day.nearest(home.lat, home.lon, RENAL_UNITS)
        _, mobility, escorts, needs = day.patient("dialysis")
        start = _clock(day.rng.choices(sessions, session_weights)[0]) + day.rng.choice(
            (-15, 0, 15, 30))
        ready = start + cal.dialysis_session_min + day.rng.choice((-15, 0, 0, 15))
        cohort.append(_Regular((f"R{number + 1:04d}", mobility, escorts, needs), home, unit,
                               start, ready, number % 2))
    return cohort


def generate_week(seed: int, journeys: int, dates: Sequence[str],
                  calibration: Calibration | None = None) -> list[dict[str, object]]:
    """Rows of a bookings file of several days, about `journeys` a day.

    A fixed dialysis cohort travels on its rota's days (Mon/Wed/Fri or Tue/Thu/Sat) from
    the same home to the same unit for the same session, with stable patient ids (R0001,
    ...); every other journey is drawn afresh each day, its ids prefixed with the day
    (`1201-J00001`, `1201-P00001`; the cohort's journeys `1201-D00001`) so none is shared
    across days.
    """
    cal = calibration or Calibration()
    per_day = round(journeys * cal.dialysis_share / 2)
    cohort = _cohort(seed, per_day, cal)
    sites, settlements, weights = _load_reference(default_sites_path())
    rows: list[dict[str, object]] = []
    for index, day_text in enumerate(dates):
        weekday = date.fromisoformat(day_text).weekday()
        tag = day_text[5:7] + day_text[8:10]
        day = _Day(random.Random(seed * 31 + index), sites, settlements, weights, cal, day_text)
        for regular in cohort:
            if weekday not in DIALYSIS_ROTAS[regular.rota]:
                continue
            there = day.add(regular.patient, "dialysis", regular.home.place,
                            day.at(regular.unit), regular.home.district,
                            appointment=regular.start_min)
            day.add(regular.patient, "dialysis", day.at(regular.unit), regular.home.place,
                    regular.home.district, ready=regular.ready_min, return_of=there)
        for row in day.rows:  # D for dialysis: the drawn journeys below are J00001, ...
            for key in ("journey_id", "return_of"):
                row[key] = f"{tag}-D{str(row[key])[1:]}" if row[key] else ""
        rest = journeys - len(day.rows)
        if rest <= 1:
            rows += day.rows
            continue
        # The other purposes keep their shares of the whole day, not of what is left.
        scale = journeys / rest
        others = replace(cal, dialysis_share=0.0,
                         discharge_share=cal.discharge_share * scale,
                         admission_share=cal.admission_share * scale,
                         transfer_share=cal.transfer_share * scale)
        drawn = generate_bookings(seed * 1000 + index, rest, day_text, others)
        for row in drawn:
            for key in ("journey_id", "patient_id", "return_of"):
                if row[key]:
                    row[key] = f"{tag}-{row[key]}"
        rows += day.rows + drawn
    return rows


def write_week(out: Path, seed: int, journeys: int, vehicles: int, first_date: str,
               days: int) -> list[str]:
    """Write a generated week into `out`; its dates.

    Bookings of `days` days from `first_date`, one fleet of undated shifts that run every
    day, and the sites.
    """
    start = date.fromisoformat(first_date)
    dates = [date.fromordinal(start.toordinal() + k).isoformat() for k in range(days)]
    write_table(out / "bookings.csv", BOOKING_COLUMNS, generate_week(seed, journeys, dates))
    write_table(out / "fleet.csv", FLEET_COLUMNS, generate_fleet(seed, vehicles))
    out.mkdir(parents=True, exist_ok=True)
    if default_sites_path().resolve() != (out / "sites.csv").resolve():
        shutil.copyfile(default_sites_path(), out / "sites.csv")
    return dates
