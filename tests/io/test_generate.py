"""The day generator: deterministic, calibrated to Derbyshire's figures, and valid input."""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from pts_optimiser.cli import main
from pts_optimiser.domain.config import load_config
from pts_optimiser.io.generate import write_day
from pts_optimiser.io.parse import Inputs, read_problem
from tests.helpers import ROOT, minutes, rows


@pytest.fixture(scope="module")
def weekday(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated 750-journey weekday with the 87-vehicle fleet."""
    out = tmp_path_factory.mktemp("weekday")
    write_day(out, seed=11, journeys=750)
    return out



def test_validates_clean(weekday: Path) -> None:
    """The generated day reads with no error and no warning."""
    problem, warnings = read_problem(Inputs(weekday / "bookings.csv", weekday / "fleet.csv"),
                                     load_config())
    assert warnings == []
    assert len(problem.journeys) == 750
    assert len(problem.vehicles) == 87


def test_calibration(weekday: Path) -> None:
    """Purpose and mobility shares are within 3 points of the division's figures."""
    bookings = rows(weekday / "bookings.csv")
    purposes = Counter(r["purpose"] for r in bookings)
    share = {purpose: 100 * count / len(bookings) for purpose, count in purposes.items()}
    assert abs(share["dialysis"] - 35) <= 3
    assert abs(share["discharge"] - 6) <= 3
    assert abs(share["outpatient"] - 53) <= 3
    assert share["transfer"] > 0 and share["admission"] > 0
    mobility = Counter(r["mobility"] for r in bookings)
    assert abs(100 * mobility["seated"] / len(bookings) - 65) <= 6
    assert abs(100 * mobility["stretcher"] / len(bookings) - 12) <= 4


def test_dialysis_returns_follow_sessions(weekday: Path) -> None:
    """Each dialysis patient goes to one renal unit and is ready about 4 h 15 min later."""
    dialysis = [r for r in rows(weekday / "bookings.csv") if r["purpose"] == "dialysis"]
    by_patient: dict[str, list[dict[str, str]]] = {}
    for row in dialysis:
        by_patient.setdefault(row["patient_id"], []).append(row)
    for journeys in by_patient.values():
        inbound, home = journeys
        assert inbound["dropoff_site"].endswith("RENAL")
        assert home["pickup_site"] == inbound["dropoff_site"]
        start = minutes(inbound["appointment_time"])
        assert 240 <= minutes(home["ready_time"]) - start <= 270
    twilight = [r for r in dialysis
                if r["appointment_time"] and minutes(r["appointment_time"]) >= 17 * 60]
    assert twilight, "some patients dialyse in the twilight session"


def test_fleet_mix(weekday: Path) -> None:
    """87 shifts: 17 electric cars, two-crew stretcher vehicles and a late shift."""
    fleet = rows(weekday / "fleet.csv")
    assert sum(r["fuel"] == "electric" for r in fleet) == 17
    assert all(r["crew"] == "2" for r in fleet if r["stretchers"] != "0")
    assert any(r["shift_end"] >= "23:00" for r in fleet)


def test_deterministic(tmp_path: Path) -> None:
    """The same seed writes the same files; another seed does not."""
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        write_day(tmp_path / name, seed=seed, journeys=120, vehicles=20)
    text = {name: (tmp_path / name / "bookings.csv").read_text() for name in "abc"}
    assert text["a"] == text["b"]
    assert text["a"] != text["c"]


def test_generate_command(tmp_path: Path) -> None:
    """`pts generate` writes a day that `pts validate` accepts."""
    runner = CliRunner()
    made = runner.invoke(main, ["generate", "--seed", "3", "--journeys", "150", "--vehicles", "20",
                                "--date", "2026-12-02", "--out", str(tmp_path)])
    assert made.exit_code == 0, made.output
    checked = runner.invoke(main, ["validate", "--bookings", str(tmp_path / "bookings.csv"),
                                   "--fleet", str(tmp_path / "fleet.csv")])
    assert checked.exit_code == 0, checked.output
    assert "2026-12-02" in (tmp_path / "bookings.csv").read_text()


def test_generate_never_replaces_files_it_did_not_write(tmp_path: Path) -> None:
    """A folder with someone's bookings.csv is refused (exit 6), byte for byte as it was.

    Before, a mistyped --out replaced a real bookings file with made-up patients. A folder
    pts generate wrote may be written again (benchmarks regenerate their work folders).
    """
    real = tmp_path / "real"
    real.mkdir()
    (real / "bookings.csv").write_text("journey_id,patient_id\nJ1,P1\n", encoding="utf-8")
    args = ["generate", "--seed", "1", "--journeys", "10", "--vehicles", "2", "--out"]
    refused = CliRunner().invoke(main, [*args, str(real)])
    assert refused.exit_code == 6, refused.output
    assert "already holds bookings.csv, which pts generate did not write" in refused.output
    assert "Traceback" not in refused.output
    assert (real / "bookings.csv").read_text(encoding="utf-8") == "journey_id,patient_id\nJ1,P1\n"
    assert sorted(p.name for p in real.iterdir()) == ["bookings.csv"]
    for seed in ("1", "2"):
        again = CliRunner().invoke(main, [*args[:2], seed, *args[3:], str(tmp_path / "made")])
        assert again.exit_code == 0, again.output


def test_shipped_demo_day_validates_clean() -> None:
    """The demo day shipped in data/ reads with no error and no warning."""
    demo = ROOT / "data" / "demo"
    problem, warnings = read_problem(Inputs(demo / "bookings.csv", demo / "fleet.csv"),
                                     load_config())
    assert warnings == []
    assert len(problem.journeys) > 0


def test_every_return_names_its_outward(weekday: Path) -> None:
    """Each ride home carries return_of: the same patient's journey that took them there."""
    bookings = rows(weekday / "bookings.csv")
    by_id = {r["journey_id"]: r for r in bookings}
    returns = [r for r in bookings if r["return_of"]]
    assert len(returns) == sum(1 for r in bookings if r["ready_time"]
                               and r["purpose"] in ("dialysis", "outpatient"))
    for back in returns:
        outward = by_id[back["return_of"]]
        assert outward["patient_id"] == back["patient_id"]
        assert outward["dropoff_site"] == back["pickup_site"]
        assert minutes(outward["appointment_time"]) < minutes(back["ready_time"])


def test_links_inferred_without_the_column_are_the_same(weekday: Path, tmp_path: Path) -> None:
    """The generated day with return_of dropped infers exactly the links it wrote."""
    lines = (weekday / "bookings.csv").read_text().splitlines()
    header = lines[0].split(",")
    at = header.index("return_of")
    dropped = [",".join(header[:at] + header[at + 1:])]
    for line in lines[1:]:
        cells = next(csv.reader([line]))
        del cells[at]
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="").writerow(cells)
        dropped.append(buffer.getvalue())
    (tmp_path / "bookings.csv").write_text("\n".join(dropped) + "\n")
    config = load_config()
    given, _ = read_problem(Inputs(weekday / "bookings.csv", weekday / "fleet.csv"), config)
    inferred, warnings = read_problem(Inputs(tmp_path / "bookings.csv", weekday / "fleet.csv"),
                                      config)
    assert "return_of" not in inferred.booking_columns
    links = {j.journey_id: j.return_of for j in given.journeys if j.return_of}
    assert len(links) > 200
    assert {j.journey_id: j.return_of for j in inferred.journeys if j.return_of} == links
    assert warnings == []
