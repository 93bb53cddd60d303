"""`pts bench darp` over several seeds: mean and best, each run judged by the instance's check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pts_optimiser.cli import main
from pts_optimiser.io.darp import check, read_instance
from tests.helpers import FIXTURES

INSTANCE = FIXTURES / "darp" / "one-seat-2006.txt"


def test_seeds_give_mean_and_best() -> None:
    """Each seed is a run of its own; the row gives their mean and the best, all checked."""
    result = CliRunner().invoke(main, ["bench", "darp", str(INSTANCE), "--time-limit", "1",
                                       "--seeds", "2", "--json"])
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout.strip().splitlines()[-1])
    assert [run["seed"] for run in row["runs"]] == [0, 1]
    assert all(run["feasible"] and run["served"] == 2 for run in row["runs"])
    assert row["best_cost"] <= row["cost"] == pytest.approx(
        sum(run["cost"] for run in row["runs"]) / 2, abs=0.01)
    assert row["gap_pct"] == pytest.approx(0.0, abs=1e-6)


def test_table_closes_with_the_sets_gaps() -> None:
    """With several instances the table ends with the mean gaps and the count at the best."""
    result = CliRunner().invoke(main, ["bench", "darp", str(INSTANCE), str(INSTANCE),
                                       "--time-limit", "1", "--seeds", "2"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0].count("|") == 10 and "mean gap" in lines[0]
    assert lines[1] == "|" + "---|" * 9  # a Markdown table's rule: one cell a column
    assert lines[-1].startswith("mean gap +0.00%") and "2 of 2 at the best known" in lines[-1]


def test_cheaper_than_the_best_known_is_written(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A feasible solution below the table's value is written and named, even unasked."""
    monkeypatch.chdir(tmp_path)
    table = tmp_path / "bks.csv"
    table.write_text("instance,bks\none-seat-2006,1000\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["bench", "darp", str(INSTANCE), "--time-limit", "1",
                                       "--bks", str(table)])
    assert result.exit_code == 0, result.output
    written = tmp_path / "darp-new-best" / "one-seat-2006.json"
    assert f"below the best known 1000.0; solution in {Path('darp-new-best') / written.name}" \
        in result.stderr
    solution = json.loads(written.read_text(encoding="utf-8"))
    routes = [[(stop["node"], stop["start"]) for stop in route] for route in solution["routes"]]
    verdict = check(read_instance(INSTANCE), routes)
    assert verdict.feasible and verdict.cost == pytest.approx(solution["cost"], abs=1e-3)
