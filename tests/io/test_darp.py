"""Dial-a-ride benchmark instances: read into the same Problem, solved, checked on their own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pts_optimiser.cli import main
from pts_optimiser.domain.config import load_config
from pts_optimiser.domain.diagnostics import InputError
from pts_optimiser.engine import processes as processes_module
from pts_optimiser.engine import strategies as strategies_module
from pts_optimiser.engine.model import RoutingInput, RoutingOutcome, SearchSettings, solve_routing
from pts_optimiser.engine.solve import SolveOptions, solve
from pts_optimiser.io.darp import Route, check, read_instance, routes_of, to_problem
from tests.helpers import FIXTURES, SerialPool

DARP = FIXTURES / "darp"


def test_both_formats_read() -> None:
    """The 2006 format has two depots, the 2003 one a single depot 0."""
    one = read_instance(DARP / "one-seat-2006.txt")
    two = read_instance(DARP / "two-seats-2003.txt")
    assert (one.requests, one.end_depot, one.capacity) == (2, 5, 1)
    assert (two.requests, two.end_depot, two.capacity) == (2, 0, 2)


def test_wrong_node_count_is_rejected() -> None:
    """A file whose node lines do not match its first line is an error, not a guess."""
    with pytest.raises(InputError, match="input") as caught:
        read_instance(DARP / "node-count-wrong.txt")
    assert "nodes do not match" in caught.value.findings[0].message


def _edited(tmp_path: Path, line: int, text: str | None) -> Path:
    lines = (DARP / "one-seat-2006.txt").read_text(encoding="utf-8").splitlines()
    if text is None:
        del lines[line - 1:]
    else:
        lines[line - 1] = text
    path = tmp_path / "edited.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(("line", "text", "said"), [
    (1, "2 2", "row 1: 2 field(s), 5 needed"),
    (1, "-2 2 480 1 30", "row 1, column vehicles: vehicles is -2, less than 1"),
    (1, "2 2 nan 1 30", "row 1, column max_duration: 'nan' is not a number"),
    (1, "2 2 480 0 30", "row 1, column capacity"),
    (3, "1 abc 1 0 1 0 1440", "row 3, column x: 'abc' is not a number"),
    (3, "1 1 1 0 1 600 60", "row 3, column earliest: the window 600-60 ends before"),
    (3, "1 1", "row 3: 2 field(s), 7 needed"),
    (4, None, "row 1, column requests: 2 nodes do not match"),
])
def test_a_file_that_is_not_an_instance_is_bad_input(tmp_path: Path, line: int,
                                                     text: str | None, said: str) -> None:
    """`pts bench darp`: exit 2 naming the file, line and field, and nothing solved.

    Until the thirty-fifth stop each was an internal error (exit 1) naming nothing, and
    negative vehicles or no seats were solved as "0/16 NO", exit 0.
    """
    path = _edited(tmp_path, line, text)
    result = CliRunner().invoke(main, ["bench", "darp", str(DARP / "one-seat-2006.txt"),
                                       str(path), "--time-limit", "1"])
    assert result.exit_code == 2, result.output
    assert f"{path} {said}" in result.output
    assert "| one-seat-2006 |" not in result.output  # every file read before any is solved


@pytest.mark.parametrize("strategy", ["single", "portfolio"])
@pytest.mark.parametrize(("name", "optimum"), [("one-seat-2006", 8.0), ("two-seats-2003", 8.0)])
def test_solved_to_the_optimum(name: str, optimum: float, strategy: str) -> None:
    """The product's solver finds the hand-checked optimum and the check accepts it."""
    instance = read_instance(DARP / f"{name}.txt")
    plan = solve(to_problem(instance, load_config()), SolveOptions(time_limit_s=2,
                                                                   strategy=strategy))
    verdict = check(instance, routes_of(plan, instance))
    assert verdict.feasible, verdict.problems
    assert verdict.served == 2
    assert verdict.cost == pytest.approx(optimum)


def test_both_portfolio_searches_reach_the_optimum(monkeypatch: pytest.MonkeyPatch) -> None:
    """The second search (tabu, pair moves only) solves on its own, not only beside the first."""
    found: list[tuple[str, int]] = []

    def recorded(data: RoutingInput, settings: SearchSettings,
                 _seed: int, *_start: object) -> RoutingOutcome | None:
        outcome = solve_routing(data, settings)
        assert outcome is not None
        found.append((settings.metaheuristic, outcome.objective))
        return outcome

    monkeypatch.setattr(processes_module, "ProcessPoolExecutor", SerialPool)
    monkeypatch.setattr(strategies_module, "_search", recorded)
    instance = read_instance(DARP / "two-seats-2003.txt")
    solve(to_problem(instance, load_config()), SolveOptions(time_limit_s=2,
                                                           strategy="portfolio"))
    assert found == [("GUIDED_LOCAL_SEARCH", 8000), ("TABU_SEARCH", 8000)]


def _good() -> Route:
    return [(0, 0.0), (1, 1.0), (3, 3.0), (2, 5.0), (4, 7.0), (5, 12.0)]


@pytest.mark.parametrize(("name", "route", "found"), [
    ("late node", [(0, 0.0), (1, 1.0), (3, 3.0), (2, 5.0), (4, 107.0), (5, 112.0)], "window"),
    ("too fast", [(0, 0.0), (1, 0.5), (3, 3.0), (2, 5.0), (4, 7.0), (5, 12.0)],
     "before it can be reached"),
    ("over capacity", [(0, 0.0), (1, 1.0), (2, 3.0), (3, 5.0), (4, 7.0), (5, 12.0)], "load"),
    ("ride too long", [(0, 0.0), (1, 1.0), (3, 40.0), (2, 42.0), (4, 44.0), (5, 49.0)], "ride"),
    ("request missing", [(0, 0.0), (1, 1.0), (3, 3.0), (5, 6.0)], "not served"),
    ("route too long", [(0, 0.0), (1, 1.0), (3, 3.0), (2, 5.0), (4, 7.0), (5, 101.0)],
     "lasts"),
])
def test_check_catches(name: str, route: Route, found: str) -> None:
    """The independent check rejects each kind of broken solution."""
    instance = read_instance(DARP / "one-seat-2006.txt")
    assert check(instance, [_good()]).feasible
    verdict = check(instance, [route])
    assert not verdict.feasible
    assert any(found in problem for problem in verdict.problems), (name, verdict.problems)


def test_bench_command_writes_solutions(tmp_path: Path) -> None:
    """`pts bench darp` reports cost, gap and feasibility and writes re-checkable solutions."""
    result = CliRunner().invoke(main, ["bench", "darp", str(DARP / "one-seat-2006.txt"),
                                       "--time-limit", "1", "--solutions", str(tmp_path),
                                       "--json"])
    assert result.exit_code == 0, result.output
    row = json.loads(result.output.strip().splitlines()[-1])
    assert row["feasible"] and row["gap_pct"] == pytest.approx(0.0, abs=1e-6)
    solution = json.loads((tmp_path / "one-seat-2006.json").read_text())
    routes = [[(stop["node"], stop["start"]) for stop in route] for route in solution["routes"]]
    assert check(read_instance(DARP / "one-seat-2006.txt"), routes).feasible
    assert routes[0][0][0] == 0 and routes[0][-1][0] == 5
