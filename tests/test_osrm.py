"""Road times from OSRM: chunked table requests, fallback when the server is down, checked plans.

A local HTTP server on 127.0.0.1 answers in OSRM's table format (driving at 60 km/h on
1.3 x the great-circle distance, so faster than the estimate and visibly used).
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest

from pts_optimiser.checker import check_plan
from pts_optimiser.config import load_config
from pts_optimiser.osrm import OsrmTravel
from pts_optimiser.parse import Inputs, read_problem
from pts_optimiser.solve import SolveOptions, solve
from pts_optimiser.travel import EstimatedTravel
from pts_optimiser.writers import write_plan

DAY = Path(__file__).parent / "fixtures" / "tiny_day"


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    phi1, phi2 = math.radians(a[1]), math.radians(b[1])
    half = (math.sin((phi2 - phi1) / 2) ** 2 + math.cos(phi1) * math.cos(phi2)
            * math.sin(math.radians(b[0] - a[0]) / 2) ** 2)
    return 1.3 * 2 * 6_371_009 * math.asin(math.sqrt(half))


class _FakeOsrm(BaseHTTPRequestHandler):
    requests: ClassVar[list[int]] = []  # places per request received
    unroutable = False

    def do_GET(self) -> None:
        url = urlsplit(self.path)  # not urlparse: it cuts the path at ";"
        points = [tuple(map(float, p.split(","))) for p in url.path.split("/")[-1].split(";")]
        query = parse_qs(url.query)
        everyone = ";".join(map(str, range(len(points))))
        sources = [int(x) for x in query.get("sources", [everyone])[0].split(";")]
        targets = [int(x) for x in query.get("destinations", [everyone])[0].split(";")]
        _FakeOsrm.requests.append(len(points))
        metres = [[_metres(points[s], points[t]) for t in targets] for s in sources]  # type: ignore[arg-type]
        seconds = [[m / (60_000 / 3600) for m in row] for row in metres]
        if _FakeOsrm.unroutable:
            seconds[0][-1] = None  # type: ignore[call-overload]
        body = json.dumps({"code": "Ok", "durations": seconds, "distances": metres}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def osrm() -> Iterator[str]:
    """A fake OSRM server on a free loopback port."""
    _FakeOsrm.requests = []
    _FakeOsrm.unroutable = False
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeOsrm)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _points(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    return rng.uniform(52.8, 53.3, n), rng.uniform(-1.9, -1.2, n)


def test_chunked_under_the_table_limit(osrm: str) -> None:
    """25 places with a table limit of 10: 5 x 5 blocks of 5, no request over 10 places."""
    lats, lons = _points(25)
    matrix = OsrmTravel(osrm, 5.0, 10, EstimatedTravel()).matrix(lats, lons)
    assert len(_FakeOsrm.requests) == 25 and max(_FakeOsrm.requests) <= 10
    assert matrix.warning == ""
    estimate = EstimatedTravel().matrix(lats, lons)
    assert (matrix.distance_m == estimate.distance_m).mean() > 0.9  # same road metres
    assert (matrix.duration_min <= estimate.duration_min).all()  # but 60 km/h, not 40
    assert (matrix.duration_min < estimate.duration_min).any()


def test_unroutable_pair_keeps_the_estimate(osrm: str) -> None:
    """A null in the table is filled with the estimate, and said so."""
    _FakeOsrm.unroutable = True
    lats, lons = _points(5)
    matrix = OsrmTravel(osrm, 5.0, 100, EstimatedTravel()).matrix(lats, lons)
    estimate = EstimatedTravel().matrix(lats, lons)
    assert matrix.duration_min[0, 4] == estimate.duration_min[0, 4]
    assert "could not route 1 pair" in matrix.warning


def test_server_down_falls_back_with_a_warning() -> None:
    """No server: the estimate, and a warning naming the server."""
    lats, lons = _points(5)
    matrix = OsrmTravel("http://127.0.0.1:9", 1.0, 100, EstimatedTravel()).matrix(lats, lons)
    assert (matrix.duration_min == EstimatedTravel().matrix(lats, lons).duration_min).all()
    assert "OSRM at http://127.0.0.1:9 failed" in matrix.warning


def _config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "osrm.toml"
    path.write_text(f'[travel]\nprovider = "osrm"\nosrm_url = "{url}"\nosrm_timeout_s = 2.0\n')
    return path


def test_plan_with_osrm_passes_the_checker(osrm: str, tmp_path: Path) -> None:
    """Planned on OSRM times, checked on OSRM times by the checker's own client."""
    config = load_config(_config(tmp_path, osrm))
    problem, _ = read_problem(Inputs(DAY / "bookings.csv", DAY / "fleet.csv"), config)
    plan = solve(problem, SolveOptions(time_limit_s=2))
    assert "travel_warning" not in plan.search
    write_plan(plan, tmp_path / "plan")
    result = check_plan(problem, tmp_path / "plan")
    assert result.ok, result.violations
    assert result.notes == ()
    summary = json.loads((tmp_path / "plan" / "summary.json").read_text())
    assert summary["search"]["travel"] == "osrm"


def test_server_down_still_plans(tmp_path: Path) -> None:
    """With the server down the plan is made on the estimate; summary and check say so."""
    config = load_config(_config(tmp_path, "http://127.0.0.1:9"))
    problem, _ = read_problem(Inputs(DAY / "bookings.csv", DAY / "fleet.csv"), config)
    plan = solve(problem, SolveOptions(time_limit_s=2))
    write_plan(plan, tmp_path / "plan")
    summary = json.loads((tmp_path / "plan" / "summary.json").read_text())
    assert "failed" in summary["search"]["travel_warning"]
    result = check_plan(problem, tmp_path / "plan")
    assert result.ok
    assert result.notes and "OSRM did not answer" in result.notes[0]


def test_bad_osrm_url_is_a_config_error(tmp_path: Path) -> None:
    """Provider = "osrm" needs an http(s) URL."""
    from pts_optimiser.diagnostics import InputError

    with pytest.raises(InputError) as caught:
        load_config(_config(tmp_path, "localhost:5000"))
    assert caught.value.findings[0].key == "travel.osrm_url"
