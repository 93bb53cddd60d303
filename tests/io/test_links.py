"""Round trips: `return_of` as given, and the return inferred from the patient's day."""

from __future__ import annotations

import csv
import random
from dataclasses import replace
from pathlib import Path

import pytest

from pts_optimiser.domain.config import LinkPolicy, load_config
from pts_optimiser.domain.diagnostics import Code, InputError, Severity
from pts_optimiser.domain.problem import Journey
from pts_optimiser.io.parse import Inputs, link_returns, read_problem
from tests.helpers import FIXTURES

TINY = FIXTURES / "tiny_day"
COLUMNS = ["journey_id", "patient_id", "purpose", "mobility", "pickup_lat", "pickup_lon",
           "pickup_site", "dropoff_lat", "dropoff_lon", "dropoff_site", "appointment_time",
           "ready_time", "service_date", "return_of"]
HOME = {"pickup_lat": "52.9650", "pickup_lon": "-1.3200"}
HOME_BACK = {"dropoff_lat": "52.9650", "dropoff_lon": "-1.3200"}


def _trip(journey_id: str, patient: str = "P1", **cells: str) -> dict[str, str]:
    """A seated outpatient journey of `patient`; home to Ilkeston unless told otherwise."""
    row = {"journey_id": journey_id, "patient_id": patient, "purpose": "outpatient",
           "mobility": "seated", "service_date": "2026-12-01"}
    row.update(cells)
    return row


def _out(journey_id: str, at: str, site: str = "ILK", **cells: str) -> dict[str, str]:
    return _trip(journey_id, **{**HOME, "dropoff_site": site, "appointment_time": at, **cells})


def _back(journey_id: str, ready: str, site: str = "ILK", **cells: str) -> dict[str, str]:
    return _trip(journey_id, **{"pickup_site": site, **HOME_BACK, "ready_time": ready, **cells})


def _read(folder: Path, bookings: list[dict[str, str]], service_date: str | None = None,
          columns: list[str] = COLUMNS) -> tuple[dict[str, Journey], list[str]]:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "bookings.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, columns, lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(bookings)
    problem, warnings = read_problem(Inputs(folder / "bookings.csv", TINY / "fleet.csv"),
                                     load_config(), service_date)
    return ({j.journey_id: j for j in problem.journeys},
            [str(w) for w in warnings if w.code == Code.RETURN_AMBIGUOUS])


def _links(journeys: dict[str, Journey]) -> dict[str, str]:
    return {jid: j.return_of for jid, j in journeys.items() if j.return_of}


def test_return_inferred_from_the_patient_day() -> None:
    """Without a return_of column, the ride home from where the outward ended is its return."""
    problem, warnings = read_problem(Inputs(TINY / "bookings.csv", TINY / "fleet.csv"),
                                     load_config())
    links = {j.journey_id: j.return_of for j in problem.journeys if j.return_of}
    assert links == {"J6": "J5"}
    assert not [w for w in warnings if w.code == Code.RETURN_AMBIGUOUS]


def test_explicit_link_kept(tmp_path: Path) -> None:
    """A return_of given is read as given."""
    journeys, warnings = _read(tmp_path, [_out("A", "10:00"), _back("B", "12:00", return_of="A")])
    assert _links(journeys) == {"B": "A"}
    assert warnings == []


def test_explicit_link_wins_over_inference(tmp_path: Path) -> None:
    """An outward named by return_of is not linked again to the patient's next journey."""
    journeys, warnings = _read(tmp_path, [_out("A", "10:00"), _back("B", "11:30"),
                                          _back("C", "14:00", return_of="A")])
    assert _links(journeys) == {"C": "A"}
    assert warnings == []


def test_only_within_the_radius(tmp_path: Path) -> None:
    """A next journey starting 400 m from where the outward ended is no return at 300 m."""
    moved = {"pickup_site": "", "pickup_lat": "52.9780", "pickup_lon": "-1.2962"}  # ~400 m off
    journeys, _ = _read(tmp_path, [_out("A", "10:00"), _back("B", "12:00", **moved)])
    assert _links(journeys) == {}
    wider = replace(load_config(), linked=LinkPolicy(link_radius_m=500,
                                                     allow_outward_without_return=False))
    linked, findings = link_returns(list(journeys.values()), wider)
    assert {j.journey_id: j.return_of for j in linked if j.return_of} == {"B": "A"}
    assert findings == []


def test_two_candidates_warn_and_link_nothing(tmp_path: Path) -> None:
    """Two rides home at the same time are a warning naming both rows; neither is linked."""
    journeys, warnings = _read(tmp_path, [_out("A", "10:00"), _back("B", "12:00"),
                                          _back("C", "12:00")])
    assert _links(journeys) == {}
    assert len(warnings) == 1
    assert "B (row 3) and C (row 4)" in warnings[0] and "A (row 2)" in warnings[0]
    assert "row 3, column return_of" in warnings[0]


def test_two_round_trips_make_two_links_not_a_chain(tmp_path: Path) -> None:
    """Morning and afternoon appointments: each ride home is linked to its own outward."""
    journeys, warnings = _read(tmp_path, [_out("A", "09:00"), _back("B", "10:30"),
                                          _out("C", "14:00", site="RDH"),
                                          _back("D", "15:30", site="RDH")])
    assert _links(journeys) == {"B": "A", "D": "C"}
    assert warnings == []


def test_transfer_chain_given_explicitly(tmp_path: Path) -> None:
    """A chain home -> Ilkeston -> Royal Derby -> home, given in return_of, is accepted."""
    chain = [_out("A", "09:00"),
             _trip("B", pickup_site="ILK", dropoff_site="RDH", ready_time="11:00", return_of="A"),
             _trip("C", pickup_site="RDH", **HOME_BACK, ready_time="14:00", return_of="B")]
    journeys, warnings = _read(tmp_path, chain)
    assert _links(journeys) == {"B": "A", "C": "B"}
    assert warnings == []


def test_inference_is_deterministic(tmp_path: Path) -> None:
    """The same day in any row order gives the same links and the same warnings."""
    day = [_out("A", "09:00"), _back("B", "10:30"), _out("C", "14:00", site="RDH"),
           _back("D", "15:30", site="RDH"), _out("E", "10:00", patient_id="P2"),
           _back("F", "12:00", patient_id="P2"), _back("G", "12:00", patient_id="P2")]
    journeys, _ = _read(tmp_path / "first", day)
    config = load_config()
    expected = link_returns(list(journeys.values()), config)
    for seed in range(5):
        shuffled = list(journeys.values())
        random.Random(seed).shuffle(shuffled)
        linked, findings = link_returns(shuffled, config)
        assert {j.journey_id: j.return_of for j in linked} == \
            {j.journey_id: j.return_of for j in expected[0]}
        assert sorted(map(str, findings)) == sorted(map(str, expected[1]))


@pytest.mark.parametrize(("planned", "said"), [
    ("2026-12-02", ("another service day",)),
    ("2026-12-01", ("journey A (row 2)", "2026-12-02"))])
def test_a_return_on_another_day_than_its_outward(planned: str, said: tuple[str, ...],
                                                  tmp_path: Path) -> None:
    """Planning either day, a return naming the day before's outward is an error on it.

    Planning the outward's day, the return was left out as another day's before return_of
    was read: the outward was planned alone, the patient taken there with no way back
    (exit 0, a warning counting the day left out), while the return's own day refused it.
    """
    day = [_out("A", "10:00"), _back("B", "12:00", service_date="2026-12-02", return_of="A")]
    with pytest.raises(InputError) as caught:
        _read(tmp_path, day, service_date=planned)
    errors = [f for f in caught.value.findings if f.severity is Severity.ERROR]
    assert [(f.code, f.row, f.column) for f in errors] == [
        (Code.RETURN_OF_OTHER_DAY, 3, "return_of")]
    assert all(words in errors[0].message for words in said)


def test_a_week_that_repeats_its_ids_day_by_day_reads(tmp_path: Path) -> None:
    """Each day's return names its own day's outward: ids alike on other days are not it."""
    week = [_out("A", "10:00"), _back("B", "12:00", return_of="A"),
            _out("A", "10:00", service_date="2026-12-02"),
            _back("B", "12:00", service_date="2026-12-02", return_of="A")]
    for day in ("2026-12-01", "2026-12-02"):
        journeys, _ = _read(tmp_path / day, week, service_date=day)
        assert _links(journeys) == {"B": "A"}
