"""Road times from OSRM: chunked table requests, fallback when the server is down, checked plans.

A local HTTP server on 127.0.0.1 answers in OSRM's table format (driving at 60 km/h on
1.3 x the great-circle distance, so faster than the estimate and visibly used).
"""

from __future__ import annotations

import base64
import json
import math
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from click.testing import CliRunner

from pts_optimiser.check.checker import check_plan
from pts_optimiser.cli import main
from pts_optimiser.domain.config import load_config
from pts_optimiser.domain.travel import EstimatedTravel
from pts_optimiser.engine.solve import SolveOptions, solve
from pts_optimiser.io.osrm import OsrmTravel, redact, travel_model
from pts_optimiser.io.parse import Inputs, read_problem
from pts_optimiser.services.publish import write_plan
from tests.helpers import FIXTURES

DAY = FIXTURES / "tiny_day"


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    phi1, phi2 = math.radians(a[1]), math.radians(b[1])
    half = (math.sin((phi2 - phi1) / 2) ** 2 + math.cos(phi1) * math.cos(phi2)
            * math.sin(math.radians(b[0] - a[0]) / 2) ** 2)
    return 1.3 * 2 * 6_371_009 * math.asin(math.sqrt(half))


class _FakeOsrm(BaseHTTPRequestHandler):
    requests: ClassVar[list[int]] = []  # places per request received
    unroutable = False
    value: object = None  # when set, every time and distance the server answers
    delay_s = 0.0  # a correct but slow server
    authorization = ""  # when set, the only Authorization header answered

    def do_GET(self) -> None:
        if _FakeOsrm.authorization and \
                self.headers.get("Authorization") != _FakeOsrm.authorization:
            self.send_error(401)
            return
        time.sleep(_FakeOsrm.delay_s)
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
        if _FakeOsrm.value is not None:
            seconds = metres = [[_FakeOsrm.value for _ in row] for row in seconds]  # type: ignore[misc]
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
    _FakeOsrm.value = None
    _FakeOsrm.delay_s = 0.0
    _FakeOsrm.authorization = ""
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


@pytest.mark.parametrize("value", [0, True, "100", 1e12], ids=["zeros", "true", "text", "1e12"])
def test_a_table_no_road_could_give_is_not_believed(osrm: str, value: object) -> None:
    """Zeros everywhere (another region's map), JSON true, "100", 1e12: the estimate, said.

    Until the thirty-fifth stop zeros planned a day on 0.0 km, true and "100" were read as
    numbers, and 1e12 s left every journey unassigned with a shift "started" at -1.5e17.
    """
    _FakeOsrm.value = value
    lats, lons = _points(6)
    matrix = OsrmTravel(osrm, 5.0, 100, EstimatedTravel()).matrix(lats, lons)
    estimate = EstimatedTravel().matrix(lats, lons)
    assert (matrix.duration_min == estimate.duration_min).all()
    assert (matrix.distance_m == estimate.distance_m).all()
    assert "estimated from coordinates" in matrix.warning


def test_a_check_with_the_server_down_warns_of_legs_it_cannot_ask(osrm: str,
                                                                   tmp_path: Path) -> None:
    """Planned on the roads (60 km/h), checked with the server gone: warnings, not violations.

    Until the thirty-fifth stop every leg faster than the estimate was a violation, and a
    road server down for the check, not the plan, had the night run refuse a good plan.
    """
    config = load_config(_config(tmp_path, osrm))
    problem, _ = read_problem(Inputs(DAY / "bookings.csv", DAY / "fleet.csv"), config)
    write_plan(solve(problem, SolveOptions(time_limit_s=2)), tmp_path / "plan")
    down = load_config(_config(tmp_path, "http://127.0.0.1:9"))
    result = check_plan(replace(problem, config=down), tmp_path / "plan")
    assert result.ok, result.summary()
    assert {w.rule for w in result.warnings} & {"too_fast", "km_mismatch"}
    assert "a warning, not a violation" in result.notes[0]


def test_solve_waits_for_the_roads_a_share_of_its_time(tmp_path: Path) -> None:
    """A server that never answers, a policy wait of 60 s: `--time-limit 8` still holds.

    Until the thirty-fifth stop the table had the policy's whole wait, and the check after
    it the same again (52 s at --time-limit 8 with a 25 s wait).
    """
    result, seconds = _solved_timed(tmp_path, _silent, timeout_s=60.0, time_limit_s=8)
    assert result.exit_code == 0, result.output
    assert seconds < 8 + 3, seconds


def _solved_timed(tmp_path: Path, answer: Answer, timeout_s: float, time_limit_s: int
                  ) -> tuple[Any, float]:
    """`pts solve` of the tiny day with `answer` as its road server: its result, and seconds."""
    server = _RawServer(answer)
    try:
        started = time.monotonic()
        result = CliRunner().invoke(main, [
            "solve", "--bookings", str(DAY / "bookings.csv"), "--fleet", str(DAY / "fleet.csv"),
            "--config", str(_config(tmp_path, server.url, timeout_s=timeout_s)),
            "--out", str(tmp_path / "plan"), "--maps", str(tmp_path / "maps"),
            "--time-limit", str(time_limit_s)])
        return result, time.monotonic() - started
    finally:
        server.close()


def _config(tmp_path: Path, url: str, timeout_s: float = 2.0, max_table: int = 100) -> Path:
    path = tmp_path / "osrm.toml"
    path.write_text(f'[travel]\nprovider = "osrm"\nosrm_url = "{url}"\n'
                    f'osrm_timeout_s = {timeout_s}\nosrm_max_table = {max_table}\n')
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
    from pts_optimiser.domain.diagnostics import InputError

    with pytest.raises(InputError) as caught:
        load_config(_config(tmp_path, "localhost:5000"))
    assert caught.value.findings[0].key == "travel.osrm_url"


# Misbehaving servers -------------------------------------------------------------------

Answer = Callable[[socket.socket, threading.Event], None]


class _RawServer:
    """A loopback TCP server: each request read is answered by `answer` in its own thread."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.stopped = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                connection, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        with connection:
            try:
                connection.settimeout(5)
                request = b""
                while b"\r\n\r\n" not in request:
                    chunk = connection.recv(4096)
                    if not chunk:
                        return
                    request += chunk
                self.answer(connection, self.stopped)
            except OSError:  # the client gave up: that is what the tests want
                pass

    def close(self) -> None:
        self.stopped.set()
        self.listener.close()


def _drip(connection: socket.socket, stopped: threading.Event) -> None:
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
    while not stopped.wait(0.05):
        connection.sendall(b" ")


def _drip_head(connection: socket.socket, stopped: threading.Event) -> None:
    connection.sendall(b"HTTP/1.1 200 OK\r\n")
    while not stopped.wait(0.05):
        connection.sendall(b"X")


def _garbage(connection: socket.socket, stopped: threading.Event) -> None:
    connection.sendall(b"SSH-2.0-OpenSSH_9.6\r\n\x00\xff\xfe garbage \x80\r\n\r\n")


def _http_500(connection: socket.socket, stopped: threading.Event) -> None:
    connection.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\n\r\noops!")


def _cut_short(connection: socket.socket, stopped: threading.Event) -> None:
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n{\"code\": \"Ok\"")


def _hang_up(connection: socket.socket, stopped: threading.Event) -> None:
    return None


def _bad_json(connection: socket.socket, stopped: threading.Event) -> None:
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{not json")


def _silent(connection: socket.socket, stopped: threading.Event) -> None:
    stopped.wait(30)


MISBEHAVING: dict[str, Answer] = {
    "drips the body a byte at a time": _drip, "drips its headers": _drip_head,
    "answers non-HTTP bytes": _garbage, "answers HTTP 500": _http_500,
    "cuts its answer short (IncompleteRead)": _cut_short,
    "hangs up at once (RemoteDisconnected)": _hang_up, "answers bad JSON": _bad_json,
    "never answers": _silent}


@pytest.fixture(params=list(MISBEHAVING), ids=list(MISBEHAVING))
def bad_server(request: Any) -> Iterator[str]:
    """One misbehaving server on a free loopback port."""
    server = _RawServer(MISBEHAVING[request.param])
    yield server.url
    server.close()


def test_misbehaving_server_falls_back_in_time(bad_server: str) -> None:
    """Whatever the server does wrong, the matrix is the estimate, with a warning, in time."""
    lats, lons = _points(5)
    started = time.monotonic()
    matrix = OsrmTravel(bad_server, 1.0, 100, EstimatedTravel()).matrix(lats, lons)
    assert time.monotonic() - started < 2.0
    assert (matrix.duration_min == EstimatedTravel().matrix(lats, lons).duration_min).all()
    assert matrix.warning.startswith(f"OSRM at {bad_server} failed")


def test_checker_reports_a_misbehaving_server(bad_server: str, tmp_path: Path) -> None:
    """`pts check` against a misbehaving server checks on the estimate and says so, in time."""
    day = DAY
    started = time.monotonic()
    result = CliRunner().invoke(main, [
        "check", "--bookings", str(day / "bookings.csv"), "--fleet", str(day / "fleet.csv"),
        "--config", str(_config(tmp_path, bad_server, timeout_s=1.0)),
        "--out", str(DAY.parent / "tiny_plan")])
    assert time.monotonic() - started < 4.0
    assert result.exit_code == 0, result.output
    assert "note: OSRM did not answer" in result.output


def test_slow_server_is_bounded_by_the_budget(osrm: str) -> None:
    """A correct server at 0.3 s a table: 25 tables would take 7.5 s, the budget stops at 1 s."""
    _FakeOsrm.delay_s = 0.3
    lats, lons = _points(25)
    travel = OsrmTravel(osrm, 60.0, 10, EstimatedTravel())
    started = time.monotonic()
    matrix = travel.matrix(lats, lons, budget_s=1.0)
    assert time.monotonic() - started < 1.6
    assert "no complete answer within 1 s" in matrix.warning
    assert (matrix.duration_min == EstimatedTravel().matrix(lats, lons).duration_min).all()


def test_travel_model_takes_a_budget(osrm: str, tmp_path: Path) -> None:
    """travel_model(policy, budget_s) caps the policy's osrm_timeout_s for the whole table."""
    _FakeOsrm.delay_s = 0.3
    policy = load_config(_config(tmp_path, osrm, timeout_s=60.0, max_table=10)).travel
    lats, lons = _points(25)
    model = travel_model(policy, budget_s=0.5)
    started = time.monotonic()
    assert "failed" in model.matrix(lats, lons).warning
    assert time.monotonic() - started < 1.1


@pytest.mark.parametrize("answer", [_drip, _garbage], ids=["dripping", "garbage"])
def test_solve_with_a_misbehaving_server_plans_on_time(answer: Answer, tmp_path: Path) -> None:
    """`pts solve --time-limit 6`, dripping or garbage server: a plan on the estimate, in time."""
    result, seconds = _solved_timed(tmp_path, answer, timeout_s=3.0, time_limit_s=6)
    assert result.exit_code == 0, result.output
    # Unbounded before (111 s against 20); a few seconds over, on a machine shared with
    # other work, is the promise ("within a few seconds, at any limit").
    assert seconds < 6 + 5
    summary = json.loads((tmp_path / "plan" / "summary.json").read_text())
    assert "travel estimated from coordinates" in summary["search"]["travel_warning"]


# Credentials -----------------------------------------------------------------------

SECRET = "s3cret-Pa55word"


def test_redact_masks_userinfo_and_tokens() -> None:
    """Userinfo and secret-looking query values are masked wherever a URL appears."""
    url = f"https://pts:{SECRET}@osrm.example:5000/osrm?access_token=tok-12345&profile=car"
    text = redact(f"OSRM at {url} failed (password {SECRET} refused)", url)
    assert SECRET not in text and "tok-12345" not in text and "pts:" not in text
    assert "https://***@osrm.example:5000/osrm?access_token=***&profile=car" in text
    assert redact("http://u:p@h/x?api_key=k&token=t") == "http://***@h/x?api_key=***&token=***"
    assert redact("OSRM could not route 1 pair(s)") == "OSRM could not route 1 pair(s)"
    assert redact("at http://u:pa@ss@host:5000/x failed") == "at http://***@host:5000/x failed"


def test_credentials_are_sent_as_basic_auth(osrm: str, tmp_path: Path) -> None:
    """user:password in the URL goes as Basic auth from both clients, and into no file."""
    _FakeOsrm.authorization = "Basic " + base64.b64encode(f"pts:{SECRET}".encode()).decode()
    url = osrm.replace("http://", f"http://pts:{SECRET}@") + "/?token=tok-12345"
    config = load_config(_config(tmp_path, url))
    problem, _ = read_problem(Inputs(DAY / "bookings.csv", DAY / "fleet.csv"), config)
    plan = solve(problem, SolveOptions(time_limit_s=2))
    assert "travel_warning" not in plan.search, plan.search
    write_plan(plan, tmp_path / "plan")
    result = check_plan(problem, tmp_path / "plan")
    assert result.ok and result.notes == ()
    for path in (tmp_path / "plan").rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_a_plan_folder_reaches_a_server_that_needs_a_sign_in_through_the_environment(
        osrm: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its policy's copy holds no credentials: `pts check --out` alone gets HTTP 401.

    The check says to give them in PTS_OSRM_URL; given so, it reaches the server. Until the
    thirty-fifth stop there was no way: a check or re-plan of the folder planned on the
    estimate and said only "HTTP 401".
    """
    _FakeOsrm.authorization = "Basic " + base64.b64encode(f"pts:{SECRET}".encode()).decode()
    url = osrm.replace("http://", f"http://pts:{SECRET}@")
    monkeypatch.setenv("PTS_OSRM_URL", url)
    solved = CliRunner().invoke(main, [
        "solve", "--bookings", str(DAY / "bookings.csv"), "--fleet", str(DAY / "fleet.csv"),
        "--config", str(_config(tmp_path, osrm)), "--out", str(tmp_path / "plan"),
        "--time-limit", "5"])
    assert solved.exit_code == 0, solved.output
    assert "travel_warning" not in json.loads(
        (tmp_path / "plan" / "summary.json").read_text())["search"]
    checked = CliRunner().invoke(main, ["check", "--out", str(tmp_path / "plan")])
    assert checked.exit_code == 0 and "note:" not in checked.output, checked.output
    monkeypatch.delenv("PTS_OSRM_URL")
    unsigned = CliRunner().invoke(main, ["check", "--out", str(tmp_path / "plan")])
    assert "HTTP 401: the server asks for a sign-in" in unsigned.output
    assert "PTS_OSRM_URL" in unsigned.output
    for path in (tmp_path / "plan").rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_failed_server_warning_has_no_password(tmp_path: Path) -> None:
    """A failed server's URL is named in warning, summary and check with no password or token."""
    url = f"http://pts:{SECRET}@127.0.0.1:9/?token=tok-12345"
    config = load_config(_config(tmp_path, url, timeout_s=1.0))
    problem, _ = read_problem(Inputs(DAY / "bookings.csv", DAY / "fleet.csv"), config)
    plan = solve(problem, SolveOptions(time_limit_s=2))
    assert str(plan.search["travel_warning"]).startswith("OSRM at http://***@127.0.0.1:9/?token=***")
    write_plan(plan, tmp_path / "plan")
    result = check_plan(problem, tmp_path / "plan")
    written = b"".join(p.read_bytes() for p in (tmp_path / "plan").rglob("*") if p.is_file())
    for secret in (SECRET, "tok-12345"):
        assert secret.encode() not in written
        assert secret not in result.summary()
