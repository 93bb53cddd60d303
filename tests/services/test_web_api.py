"""The planning board's HTTP interface (../shared/spec/web-api.md), driven end to end.

Most tests use the framework's test client; `test_real_socket` runs uvicorn on 127.0.0.1.
`drive()` is the scripted walk through a day (sign in, upload, plan, change, publish) that
benchmarks/board.py reuses on any day's files.
"""

from __future__ import annotations

import csv
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
import uvicorn
from click.testing import CliRunner
from fastapi.testclient import TestClient

from pts_optimiser.check.checker import check_plan
from pts_optimiser.cli import main
from pts_optimiser.domain.config import load_config
from pts_optimiser.io.parse import Inputs, read_problem
from pts_optimiser.services.web.app import create_app
from pts_optimiser.services.web.store import Accounts
from tests.helpers import (
    BOOKING_COLUMNS,
    FIXTURES,
    booking,
    far_from_base_day,
    vehicle,
    write_day,
)

PASSWORD = "correct horse battery"


def tiny_day(folder: Path) -> Inputs:
    """Three Derby outpatients, one too late for any shift, one needing oxygen; two cars."""
    return write_day(folder, [booking("J1"), booking("J2", appointment_time="11:00"),
                              booking("J3", appointment_time="12:00"),
                              booking("JL", appointment_time="17:00"),
                              booking("JO", needs="oxygen")],
                     [vehicle("CAR1"), vehicle("CAR2", shift_start="07:00", shift_end="16:00")])


def sign_in(client: httpx2.Client | TestClient, name: str, password: str = PASSWORD
            ) -> dict[str, str]:
    """Sign in; the CSRF header for changes."""
    answer = client.post("/login", data={"username": name, "password": password},
                         follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return {"X-CSRF-Token": client.get("/api/session").json()["csrf_token"]}


def upload(client: httpx2.Client | TestClient, headers: dict[str, str], inputs: Inputs
           ) -> httpx2.Response:
    """POST /api/days with a day's files."""
    files = {"bookings": ("bookings.csv", inputs.bookings.read_bytes(), "text/csv"),
             "fleet": ("fleet.csv", inputs.fleet.read_bytes(), "text/csv")}
    return client.post("/api/days", files=files, headers=headers)


def wait_planned(client: httpx2.Client | TestClient, day: str, timeout_s: float = 120
                 ) -> dict[str, Any]:
    """Poll GET /api/days/ID/plan until the solve ends; the last answer.

    A day whose first planning was cancelled has no plan: its answer is a 404's {"error"}.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        answer: dict[str, Any] = client.get(f"/api/days/{day}/plan").json()
        if answer.get("status") != "planning" or time.monotonic() > deadline:
            return answer
        time.sleep(0.3)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder with a coordinator and a viewer."""
    folder = tmp_path_factory.mktemp("board") / "data"
    accounts = Accounts(folder)
    accounts.add("ann", PASSWORD, "coordinator")
    accounts.add("vic", PASSWORD, "viewer")
    return folder


@pytest.fixture(scope="module")
def client(data: Path) -> Iterator[TestClient]:
    """The app over the data folder, in process."""
    with TestClient(create_app(data)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def planned(client: TestClient, data: Path) -> tuple[str, dict[str, str]]:
    """The tiny day uploaded and planned in the background (3 s); its id and CSRF header."""
    headers = sign_in(client, "ann")
    answer = upload(client, headers, tiny_day(data.parent / "in"))
    assert answer.status_code == 201, answer.text
    day = answer.json()["day"]
    started = client.post(f"/api/days/{day}/plan", json={"time_limit_s": 3}, headers=headers)
    assert started.status_code == 202
    first = client.get(f"/api/days/{day}/plan").json()
    assert first["status"] == "planning" and first["progress"]["time_left_s"] <= 3
    assert wait_planned(client, day)["status"] == "planned"
    return day, headers


def test_sign_in_required(client: TestClient) -> None:
    """Only /healthz answers without a session: API paths 401, pages redirect to sign in."""
    fresh = TestClient(client.app)
    health = fresh.get("/healthz")
    assert (health.status_code, health.text) == (200, "ok")
    assert fresh.get("/api/days").status_code == 401
    assert fresh.get("/api/session").status_code == 401
    page = fresh.get("/", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login"
    assert fresh.get("/static/board.js", follow_redirects=False).status_code == 303


def test_assets_served_from_the_package(client: TestClient) -> None:
    """Signed in, the board's script and the vendored map library are served; others 404."""
    fresh = TestClient(client.app)
    sign_in(fresh, "ann")
    for name, text in (("board.js", ""), ("leaflet.js", "Leaflet 1."),
                       ("leaflet.css", ".leaflet")):
        answer = fresh.get(f"/static/{name}")
        assert answer.status_code == 200, name
        assert text in answer.text, name
    assert fresh.get("/static/secret.py").status_code == 404


def test_wrong_passwords_refused_alike(client: TestClient) -> None:
    """A wrong password and an unknown name get the same 401 and no session."""
    fresh = TestClient(client.app)
    wrong = fresh.post("/login", data={"username": "ann", "password": "nope-nope"})
    unknown = fresh.post("/login", data={"username": "nobody", "password": "nope-nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.text == unknown.text
    assert "set-cookie" not in wrong.headers and "set-cookie" not in unknown.headers
    assert fresh.get("/api/days").status_code == 401


def test_session_cookie_flags(client: TestClient) -> None:
    """The session cookie is HttpOnly and SameSite=Strict; logout ends the session."""
    fresh = TestClient(client.app)
    answer = fresh.post("/login", data={"username": "ann", "password": PASSWORD},
                        follow_redirects=False)
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    token = fresh.get("/api/session").json()
    assert token["user"] == "ann" and token["role"] == "coordinator"
    assert fresh.post("/logout", headers={"X-CSRF-Token": token["csrf_token"]},
                      follow_redirects=False).status_code == 303
    assert fresh.get("/api/days").status_code == 401


def test_csrf_enforced(client: TestClient, data: Path) -> None:
    """A change without the session's CSRF token, or with another, is refused 403."""
    fresh = TestClient(client.app)
    sign_in(fresh, "ann")
    inputs = tiny_day(data.parent / "csrf")
    assert upload(fresh, {}, inputs).status_code == 403
    assert upload(fresh, {"X-CSRF-Token": "forged"}, inputs).status_code == 403
    assert fresh.post("/logout").status_code == 403


def test_bad_input_refused_with_row_and_column(client: TestClient, data: Path) -> None:
    """A booking with an unreadable time: 422 naming file, row and column; nothing stored."""
    headers = sign_in(client, "ann")
    before = {d["day"] for d in client.get("/api/days").json()}
    inputs = tiny_day(data.parent / "bad")
    broken = FIXTURES / "broken" / "bookings_unparsable_time.csv"
    answer = upload(client, headers, Inputs(broken, inputs.fleet))
    assert answer.status_code == 422
    findings = answer.json()["findings"]
    assert any(f["file"] == "bookings.csv" and f["row"] and f["column"] and f["hint"]
               and f["code"] for f in findings), findings
    assert {d["day"] for d in client.get("/api/days").json()} == before
    assert not list((data / "tmp").glob("upload-*"))


def test_a_file_of_several_days_is_told_to_choose_a_day_on_the_board(
        client: TestClient, planned: tuple[str, dict[str, str]], data: Path) -> None:
    """The finding names the upload's date field, never the command line's --date.

    Before, the board told a coordinator with a week's file to "plan one at a time with
    --date YYYY-MM-DD", an option the board does not have.
    """
    _, headers = planned  # the module's session: signing in again would end it
    inputs = write_day(data.parent / "week", [booking("A1", service_date="2026-12-01"),
                                              booking("B1", service_date="2026-12-02"),
                                              booking("B2", service_date="2026-12-02")],
                       [vehicle("CAR1")], [*BOOKING_COLUMNS, "service_date"])
    refused = upload(client, headers, inputs)
    assert refused.status_code == 422
    assert "--date" not in refused.text and "the upload's service date" in refused.text
    files = {"bookings": ("bookings.csv", inputs.bookings.read_bytes(), "text/csv"),
             "fleet": ("fleet.csv", inputs.fleet.read_bytes(), "text/csv")}
    chosen = client.post("/api/days", files=files, data={"date": "2026-12-02"},
                         headers=headers)
    assert chosen.status_code == 201, chosen.text
    assert chosen.json()["journeys"] == 2
    assert "--date" not in chosen.text and "other days left out" in chosen.text
    bad = client.post("/api/days", files=files, data={"date": "2026-13-40"}, headers=headers)
    assert bad.status_code == 422
    assert bad.json()["findings"][0]["file"] == "date" and "--date" not in bad.text


def test_a_policy_nested_too_deeply_is_422(client: TestClient,
                                           planned: tuple[str, dict[str, str]],
                                           data: Path) -> None:
    """Valid TOML 1000 arrays deep as the day's policy: 422 naming it, nothing stored.

    Until the thirty-sixth stop the parser's RecursionError was a 500.
    """
    _, headers = planned  # the module's session: signing in again would end it
    before = client.get("/api/days").json()
    inputs = tiny_day(data.parent / "deep-policy")
    answer = client.post("/api/days", headers=headers, files={
        "bookings": ("bookings.csv", inputs.bookings.read_bytes(), "text/csv"),
        "fleet": ("fleet.csv", inputs.fleet.read_bytes(), "text/csv"),
        "config": ("policy.toml", b"a = " + b"[" * 1000 + b"]" * 1000, "text/plain")})
    assert answer.status_code == 422, answer.text
    (finding,) = answer.json()["findings"]
    assert (finding["file"], finding["code"]) == ("config.toml", "bad_config")
    assert "nested too deeply" in finding["message"]
    assert client.get("/api/days").json() == before


def test_whatif_cells_that_are_not_text_are_refused(client: TestClient,
                                                    planned: tuple[str, dict[str, str]],
                                                    data: Path) -> None:
    """A what-if booking's cell that is not a string: 422 naming it, nothing offered.

    Until the thirty-sixth stop `["N1"]` was offered and accepted as the journey id
    "['N1']", and the day's bookings.csv kept the Python text of a list and a dict.
    """
    day, headers = planned  # the module's session: signing in again would end it
    stored = data / "days" / day / "inputs" / "bookings.csv"
    before, staged = stored.read_bytes(), set((data / "tmp").glob("whatif-*"))
    for column, cell in (("journey_id", ["N1"]), ("patient_id", {"x": 1}),
                         ("escorts", 0), ("pickup_lat", 52.92), ("mobility", True)):
        answer = client.post(f"/api/days/{day}/whatif", headers=headers,
                             json={"booking": {**_new_booking("N1"), column: cell}})
        assert answer.status_code == 422, (column, answer.text)
        assert f"booking's {column} must be a string" in answer.json()["error"], answer.text
    assert stored.read_bytes() == before
    assert set((data / "tmp").glob("whatif-*")) == staged
    # An empty cell may be sent as null, as the form's empty fields are sent as "".
    offered = client.post(f"/api/days/{day}/whatif", headers=headers,
                          json={"booking": {**_new_booking("N1"), "escorts": None}})
    assert offered.status_code == 200, offered.text


def test_a_day_with_no_plan_yet_is_404(client: TestClient,
                                       planned: tuple[str, dict[str, str]], data: Path) -> None:
    """GET /plan of a day never planned, or whose first planning was cancelled: 404 saying so.

    Until the thirty-sixth stop it was 200 with "status": "none", which web-api.md's
    "planning" | "planned" | "failed" does not have.
    """
    _, headers = planned  # the module's session: signing in again would end it
    day = upload(client, headers, tiny_day(data.parent / "unplanned")).json()["day"]
    never = client.get(f"/api/days/{day}/plan")
    assert never.status_code == 404, never.text
    assert f"day {day} has no plan yet: plan it with POST /api/days/{day}/plan" in \
        never.json()["error"]
    assert client.post(f"/api/days/{day}/plan", json={"time_limit_s": 120},
                       headers=headers).status_code == 202
    assert client.post(f"/api/days/{day}/plan/cancel", headers=headers).status_code == 200
    wait_planned(client, day, timeout_s=30)
    cancelled = client.get(f"/api/days/{day}/plan")
    assert cancelled.status_code == 404, cancelled.text
    assert "no plan yet (planning was cancelled)" in cancelled.json()["error"]
    assert {"day": day, "service_date": "", "journeys": 5, "status": "uploaded"} in \
        client.get("/api/days").json()


@contextmanager
def _road_server() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on 127.0.0.1 that fails every request: its URL, the paths asked."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    asked: list[str] = []

    class Failing(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_error(500)

        def log_message(self, *_args: object) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Failing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()


def test_an_uploaded_policy_may_not_choose_a_road_server(
        client: TestClient, planned: tuple[str, dict[str, str]], data: Path) -> None:
    """A policy uploaded with [travel] provider = "osrm": 422 naming the key, never asked.

    Until the thirty-sixth stop the board's server asked whatever osrm_url the upload gave,
    with the day's pickup places, on any read of the day.
    """
    _, headers = planned  # the module's session: signing in again would end it
    inputs = tiny_day(data.parent / "road-server")
    before = client.get("/api/days").json()
    with _road_server() as (url, asked):
        def sent(policy: str) -> httpx2.Response:
            answer: httpx2.Response = client.post("/api/days", headers=headers, files={
                "bookings": ("bookings.csv", inputs.bookings.read_bytes(), "text/csv"),
                "fleet": ("fleet.csv", inputs.fleet.read_bytes(), "text/csv"),
                "config": ("policy.toml", policy.encode(), "text/plain")})
            return answer

        refused = sent(f'[travel]\nprovider = "osrm"\nosrm_url = "{url}/internal"\n')
        assert refused.status_code == 422, refused.text
        (finding,) = refused.json()["findings"]
        assert (finding["file"], finding["key"], finding["code"]) == \
            ("config.toml", "travel.provider", "bad_config")
        assert "pts serve --outbox" in finding["hint"]
        assert client.get("/api/days").json() == before
        # An osrm_url the estimate never uses (a plan folder's policy names every setting).
        taken = sent(f'[travel]\nprovider = "estimate"\nosrm_url = "{url}/internal"\n')
        assert taken.status_code == 201, taken.text
        assert client.get(f"/api/days/{taken.json()['day']}/plan").status_code == 404
    assert asked == []


@pytest.mark.parametrize(("policy", "key"), [
    ('[maps]\ntiles = "https://tiles.example/{z}/{x}/{y}.png"\n', "maps.tiles"),
    ("[output]\ngroup_readable = true\n", "output.group_readable"),
])
def test_an_uploaded_policy_may_not_set_what_is_the_operators(
        client: TestClient, planned: tuple[str, dict[str, str]], data: Path,
        policy: str, key: str) -> None:
    """Map tiles and group-readable files in an uploaded policy: 422 naming the key.

    Until the thirty-seventh stop an upload's tiles went into the published maps, and every
    browser opening them asked that host for the tiles around the patients' homes.
    """
    _, headers = planned
    inputs = tiny_day(data.parent / f"operators-{key}")
    before = client.get("/api/days").json()
    refused = client.post("/api/days", headers=headers, files={
        "bookings": ("bookings.csv", inputs.bookings.read_bytes(), "text/csv"),
        "fleet": ("fleet.csv", inputs.fleet.read_bytes(), "text/csv"),
        "config": ("policy.toml", policy.encode(), "text/plain")})
    assert refused.status_code == 422, refused.text
    (finding,) = refused.json()["findings"]
    assert (finding["file"], finding["key"], finding["code"]) == \
        ("config.toml", key, "bad_config")
    assert client.get("/api/days").json() == before


def test_background_plan(client: TestClient, planned: tuple[str, dict[str, str]]) -> None:
    """The plan made in the background has summary.json's keys and every journey accounted."""
    day, _ = planned
    answer = client.get(f"/api/days/{day}/plan").json()
    assert answer["status"] == "planned" and answer["version"] >= 1
    summary = answer["summary"]
    assert summary["journeys"] == 5 and summary["served"] + summary["unassigned"] == 5
    reasons = {u["journey_id"]: u["reason"] for u in answer["unassigned"]}
    assert reasons["JO"] == "no_compatible_vehicle"
    assert reasons["JL"] == "no_shift_covers_window"
    listed = client.get("/api/days").json()
    assert {"day": day, "service_date": "", "journeys": 5, "status": "planned"} in listed


def test_cancel_keeps_the_plan(client: TestClient, planned: tuple[str, dict[str, str]]) -> None:
    """A plan cancelled part-way leaves the plan before it, and its version, as they were."""
    day, headers = planned
    before = client.get(f"/api/days/{day}/plan").json()
    assert client.post(f"/api/days/{day}/plan", json={"time_limit_s": 120},
                       headers=headers).status_code == 202
    busy = client.post(f"/api/days/{day}/unassign", headers=headers,
                       json={"journey_id": "J1", "version": before["version"]})
    assert busy.status_code == 409 and busy.json()["rule"] == "planning"
    assert client.post(f"/api/days/{day}/plan/cancel", headers=headers).status_code == 200
    after = wait_planned(client, day, timeout_s=30)
    assert after["status"] == "planned" and after["version"] == before["version"]
    assert after["message"] == "planning was cancelled"


def test_a_plan_is_given_the_time_its_search_needs_to_start(
        client: TestClient, planned: tuple[str, dict[str, str]], data: Path) -> None:
    """Asked for 1 s, a 300-journey day plans for 2 s: its model alone takes 1.5 s.

    Below it the day would be built one journey at a time, and a re-plan would take crews
    off the journeys they had. The audit log records the time given.
    """
    from pts_optimiser.io.generate import write_week

    _, headers = planned  # the module's session: signing in again would end it
    folder = data.parent / "busy"
    write_week(folder, 5, 300, 35, "2026-12-01", 1)
    answer = upload(client, headers, Inputs(folder / "bookings.csv", folder / "fleet.csv"))
    assert answer.status_code == 201, answer.text
    day = answer.json()["day"]
    assert client.post(f"/api/days/{day}/plan", json={"time_limit_s": 1},
                       headers=headers).status_code == 202
    client.post(f"/api/days/{day}/plan/cancel", headers=headers)
    wait_planned(client, day, timeout_s=30)
    given = [json.loads(line) for line in (data / "audit.log").read_text().splitlines()
             if json.loads(line).get("day") == day and json.loads(line)["action"] == "plan"]
    assert given and 1.9 <= given[-1]["time_limit_s"] <= 2.1, given


def test_forbidden_assignments_name_their_rule(client: TestClient,
                                               planned: tuple[str, dict[str, str]]) -> None:
    """An oxygen patient on a car: skill; a 17:00 appointment on an 08:00-14:00 shift: shift."""
    day, headers = planned
    version = client.get(f"/api/days/{day}/plan").json()["version"]
    oxygen = client.post(f"/api/days/{day}/assign", headers=headers,
                         json={"journey_id": "JO", "vehicle_id": "CAR1", "version": version})
    assert oxygen.status_code == 409 and oxygen.json()["rule"] == "skill"
    late = client.post(f"/api/days/{day}/assign", headers=headers,
                       json={"journey_id": "JL", "vehicle_id": "CAR1", "version": version})
    assert late.status_code == 409 and late.json()["rule"] == "shift"
    assert "14:00" in late.json()["detail"]
    assert client.get(f"/api/days/{day}/plan").json()["version"] == version


def test_changes_and_stale_versions(client: TestClient,
                                    planned: tuple[str, dict[str, str]], data: Path) -> None:
    """Unassign, then assign elsewhere: each bumps the version; the old version is refused."""
    day, headers = planned
    version = client.get(f"/api/days/{day}/plan").json()["version"]
    off = client.post(f"/api/days/{day}/unassign", headers=headers,
                      json={"journey_id": "J2", "version": version})
    assert off.status_code == 200 and off.json()["version"] == version + 1
    stale = client.post(f"/api/days/{day}/assign", headers=headers,
                        json={"journey_id": "J2", "vehicle_id": "CAR1", "version": version})
    assert stale.status_code == 409 and stale.json()["rule"] == "stale_version"
    for vid in ("CAR1", "CAR2"):
        placed = client.post(f"/api/days/{day}/assign", headers=headers,
                             json={"journey_id": "J2", "vehicle_id": vid,
                                   "version": version + 1})
        if placed.status_code == 200:
            break
    assert placed.status_code == 200, placed.text
    assert placed.json()["version"] == version + 2
    assert 10 * 60 <= placed.json()["dropoff_min"] <= 11 * 60
    assert "J2" not in {u["journey_id"] for u in
                        client.get(f"/api/days/{day}/plan").json()["unassigned"]}
    log = [json.loads(line) for line in (data / "audit.log").read_text().splitlines()]
    assert {"user": "ann", "action": "assign", "day": day, "journey_id": "J2"}.items() <= \
        log[-1].items()
    assert "Derby" not in (data / "audit.log").read_text()


def test_malformed_changes_refused_and_nothing_changed(client: TestClient,
                                                      planned: tuple[str, dict[str, str]]
                                                      ) -> None:
    """A body that is not what the interface asks for: 422 naming it, the version unchanged.

    Before, `"locked": "false"` locked the run (a string is true to Python), as did a lock
    without "locked", a lock naming a vehicle and a journey locked the vehicle and dropped
    the journey, a `time_limit_s` of -5 planned for a second and "abc" for the default, a
    body that was not JSON was read as an empty one, and a day id too long for the disk
    was a server error.
    """
    day, headers = planned
    version = client.get(f"/api/days/{day}/plan").json()["version"]
    refused = [
        ("lock", {"vehicle_id": "CAR1", "locked": "false", "version": version},
         "locked must be true or false"),
        ("lock", {"vehicle_id": "CAR1", "journey_id": "J1", "version": version},
         "not both"),
        # Locked until the thirty-sixth stop: the spec's body has "locked": true|false.
        ("lock", {"vehicle_id": "CAR1", "version": version}, "locked is missing"),
        ("assign", {"journey_id": ["J1"], "vehicle_id": "CAR1", "version": version},
         "journey_id must be a string"),
        ("plan", {"time_limit_s": -5}, "time_limit_s must be a number of seconds above 0"),
        ("replan", {"time_limit_s": "abc", "version": version}, "time_limit_s must be"),
        ("unassign", [{"journey_id": "J1"}], "the body must be a JSON object"),
        # Missing, not unknown: 404 "not found: " until the thirty-fifth stop.
        ("assign", {"version": version}, "journey_id is missing"),
        ("unassign", {"journey_id": "", "version": version}, "journey_id is missing"),
    ]
    for action, body, says in refused:
        answer = client.post(f"/api/days/{day}/{action}", json=body, headers=headers)
        assert answer.status_code == 422 and says in answer.json()["error"], (action, answer.text)
    broken = client.post(f"/api/days/{day}/undo", content=b'{"version": ',
                         headers={**headers, "Content-Type": "application/json"})
    assert broken.status_code == 422 and "not JSON" in broken.json()["error"]
    # A version of true is not version 1.
    stale = client.post(f"/api/days/{day}/unassign", headers=headers,
                        json={"journey_id": "J1", "version": True})
    assert stale.status_code == 409 and stale.json()["rule"] == "stale_version"
    assert client.get("/api/days/" + "a" * 5000 + "/plan").status_code == 404
    now = client.get(f"/api/days/{day}/plan").json()
    assert now["version"] == version and now["status"] == "planned"
    assert client.post(f"/api/days/{day}/lock", headers=headers,
                       json={"vehicle_id": "CAR1", "locked": False,
                             "version": version}).status_code == 200


def test_lock_replan_publish(client: TestClient, planned: tuple[str, dict[str, str]],
                             data: Path) -> None:
    """A locked run stays exactly as it was through a re-plan; the published plan checks."""
    day, headers = planned
    state = json.loads((data / "days" / day / "state.json").read_text())
    used = next(vid for vid, run in state["runs"].items() if run)
    locked = client.post(f"/api/days/{day}/lock", headers=headers,
                         json={"vehicle_id": used, "locked": True,
                               "version": state["version"]})
    assert locked.status_code == 200
    version = locked.json()["version"]
    first_journey = next(key for kind, key in state["runs"][used] if kind == "pickup")
    refused = client.post(f"/api/days/{day}/unassign", headers=headers,
                          json={"journey_id": first_journey, "version": version})
    assert refused.status_code == 409 and refused.json()["rule"] == "locked"
    assert client.post(f"/api/days/{day}/replan", headers=headers,
                       json={"time_limit_s": 3, "version": version}).status_code == 202
    after = wait_planned(client, day)
    assert after["status"] == "planned" and after["version"] == version + 1, after
    state_after = json.loads((data / "days" / day / "state.json").read_text())
    assert state_after["runs"][used] == state["runs"][used]
    first = client.post(f"/api/days/{day}/publish", headers=headers,
                        json={"version": after["version"]})
    assert first.status_code == 200, first.text
    folder = Path(first.json()["plan"])
    inputs = Inputs(folder / "inputs" / "bookings.csv", folder / "inputs" / "fleet.csv",
                    folder / "inputs" / "sites.csv")
    problem, _ = read_problem(inputs, load_config())
    assert check_plan(problem, folder).ok
    assert (folder / "rosters.csv").exists() and (folder / "summary.json").exists()
    again = client.post(f"/api/days/{day}/publish", headers=headers,
                        json={"version": after["version"]})
    assert again.status_code == 200
    assert folder.with_name(folder.name + ".previous").is_dir()


def test_undo_puts_back(client: TestClient, planned: tuple[str, dict[str, str]],
                        data: Path) -> None:
    """Undo after taking a journey off its run puts the run back as it was, at a new version."""
    day, headers = planned
    version = client.get(f"/api/days/{day}/plan").json()["version"]
    state = json.loads((data / "days" / day / "state.json").read_text())
    free = next((key for vid, run in state["runs"].items() if vid not in state["locked_vehicles"]
                 for kind, key in run if kind == "pickup"
                 and key not in state["locked_journeys"]), None)
    assert free is not None
    assert client.post(f"/api/days/{day}/unassign", headers=headers,
                       json={"journey_id": free, "version": version}).status_code == 200
    undone = client.post(f"/api/days/{day}/undo", headers=headers, json={"version": version + 1})
    assert undone.status_code == 200 and undone.json()["version"] == version + 2
    again = json.loads((data / "days" / day / "state.json").read_text())
    assert (again["runs"], again["unassigned"]) == (state["runs"], state["unassigned"])


def test_hostile_ids_escaped(client: TestClient, data: Path) -> None:
    """Ids with markup in them are shown as text on the board page, never as markup."""
    headers = sign_in(client, "ann")
    hostile = '<img src=x onerror=alert(1)>"J'
    inputs = write_day(data.parent / "hostile", [booking(hostile), booking("J9")],
                       [vehicle("</script><b>V")])
    answer = upload(client, headers, inputs)
    assert answer.status_code == 201, answer.text
    day = answer.json()["day"]
    client.post(f"/api/days/{day}/plan", json={"time_limit_s": 2}, headers=headers)
    assert wait_planned(client, day)["status"] == "planned"
    page = client.get(f"/days/{day}").text
    assert hostile not in page and "</script><b>" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;&#34;J" in page or \
        "&lt;img src=x onerror=alert(1)&gt;&quot;J" in page
    assert "\\u003c/script\\u003e\\u003cb\\u003eV" in page  # the map's data block


def test_whatif_offers_and_accepts(client: TestClient, data: Path) -> None:
    """A new booking: up to three slots without re-planning; accepting one places it."""
    headers = sign_in(client, "ann")
    answer = upload(client, headers, tiny_day(data.parent / "whatif"))
    day = answer.json()["day"]
    client.post(f"/api/days/{day}/plan", json={"time_limit_s": 2}, headers=headers)
    before = wait_planned(client, day)
    assert before["status"] == "planned"
    new = {"journey_id": "NEW1", "patient_id": "PN", "purpose": "outpatient",
           "mobility": "seated", "escorts": "0", "pickup_lat": "52.92",
           "pickup_lon": "-1.47", "dropoff_site": "RDH", "appointment_time": "13:00"}
    offer = client.post(f"/api/days/{day}/whatif", headers=headers, json={"booking": new})
    assert offer.status_code == 200, offer.text
    slots = offer.json()["slots"]
    assert 1 <= len(slots) <= 3
    assert slots == sorted(slots, key=lambda s: (s["added_km"], s["pickup_min"]))
    assert all(s["pickup_min"] < s["dropoff_min"] <= 13 * 60 for s in slots)
    assert client.get(f"/api/days/{day}/plan").json()["version"] == before["version"]
    taken = client.post(f"/api/days/{day}/whatif/accept", headers=headers,
                        json={"token": offer.json()["token"],
                              "vehicle_id": slots[0]["vehicle_id"],
                              "version": before["version"]})
    assert taken.status_code == 200, taken.text
    after = client.get(f"/api/days/{day}/plan").json()
    assert after["summary"]["journeys"] == 6
    assert after["summary"]["served"] == before["summary"]["served"] + 1
    bad = client.post(f"/api/days/{day}/whatif", headers=headers,
                      json={"booking": {**new, "journey_id": "NEW2",
                                        "appointment_time": "25:99"}})
    assert bad.status_code == 422
    assert any(f["column"] == "appointment_time" and f["row"] for f in bad.json()["findings"])
    folder, problem = _published(client, headers, day, after["version"])
    assert "NEW1" in {j.journey_id for j in problem.journeys}
    assert check_plan(problem, folder).ok


def _published(client: TestClient, headers: dict[str, str], day: str, version: int
               ) -> tuple[Path, Any]:
    """Publish the day: the plan folder, and the day as read back from its own inputs."""
    published = client.post(f"/api/days/{day}/publish", headers=headers,
                            json={"version": version})
    assert published.status_code == 200, published.text
    folder = Path(published.json()["plan"])
    problem, _ = read_problem(Inputs(folder / "inputs" / "bookings.csv",
                                     folder / "inputs" / "fleet.csv",
                                     folder / "inputs" / "sites.csv"), load_config())
    return folder, problem


def test_viewer_reads_only(client: TestClient, planned: tuple[str, dict[str, str]],
                           data: Path) -> None:
    """A viewer reads the plan and the board but every change is 403."""
    day, _ = planned
    viewer = TestClient(client.app)
    headers = sign_in(viewer, "vic")
    answer = viewer.get(f"/api/days/{day}/plan")
    assert answer.status_code == 200
    version = answer.json()["version"]
    assert viewer.get(f"/days/{day}").status_code == 200
    for path, payload in (("assign", {"journey_id": "J1", "vehicle_id": "CAR2"}),
                          ("unassign", {"journey_id": "J1"}),
                          ("lock", {"vehicle_id": "CAR1", "locked": True}),
                          ("plan", {"time_limit_s": 1}), ("replan", {"time_limit_s": 1}),
                          ("publish", {})):
        refused = viewer.post(f"/api/days/{day}/{path}", headers=headers,
                              json={**payload, "version": version})
        assert refused.status_code == 403, path
    assert upload(viewer, headers, tiny_day(data.parent / "viewer")).status_code == 403
    assert viewer.get(f"/api/days/{day}/plan").json()["version"] == version


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def _served(data: Path) -> Iterator[int]:
    """The app served on a free port of 127.0.0.1 while the block runs; the port."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(data), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_real_socket(data: Path) -> None:
    """Over a real socket on 127.0.0.1: health, sign-in, CSRF and a refused password."""
    with _served(data) as port, httpx2.Client(base_url=f"http://127.0.0.1:{port}") as web:
        assert web.get("/healthz").text == "ok"
        assert web.post("/login", data={"username": "ann",
                                        "password": "wrong!!!"}).status_code == 401
        headers = sign_in(web, "ann")
        assert web.get("/api/days").status_code == 200
        assert web.post("/api/days/x/plan", json={}).status_code == 403
        missing = web.post("/api/days/nosuchday/plan", json={}, headers=headers)
        assert missing.status_code == 404


def test_a_port_in_use_is_a_usage_error(data: Path) -> None:
    """Exit 2 naming the port; before, the server's own exit 3 (a plan breaking a rule)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["serve", "--data", str(data), "--port", str(port)])
    assert result.exit_code == 2, result.output
    assert f"cannot listen on 127.0.0.1:{port}: it is in use" in result.output


def test_users_add_from_stdin(tmp_path: Path) -> None:
    """`pts users add` reads the password from stdin and stores only a hash, owner-only."""
    from click.testing import CliRunner

    from pts_optimiser.cli import main

    runner = CliRunner()
    made = runner.invoke(main, ["users", "add", "bob", "--data", str(tmp_path),
                                "--role", "viewer"], input=PASSWORD + "\n")
    assert made.exit_code == 0, made.output
    stored = (tmp_path / "users.json").read_text()
    assert PASSWORD not in stored and "$argon2id$" in stored
    assert (tmp_path / "users.json").stat().st_mode & 0o077 == 0
    assert Accounts(tmp_path).verify("bob", PASSWORD) == "viewer"
    short = runner.invoke(main, ["users", "add", "bob", "--data", str(tmp_path)],
                          input="short\n")
    assert short.exit_code == 2 and "at least 8" in short.output


def test_a_session_is_judged_by_its_account_as_it_is_now(tmp_path: Path) -> None:
    """A role changed counts at the next request; a new password or no account ends it.

    Until the thirty-sixth stop a session kept its sign-in's role for its 8 hours: after
    `pts users add ann --role viewer` ann's session still locked runs (200), said
    "coordinator", and lived on with her old password.
    """
    data = tmp_path / "data"
    accounts = Accounts(data)
    for name in ("ann", "bob", "cat"):
        accounts.add(name, PASSWORD, "coordinator")
    change = "/api/days/2026-12-01-abcdef/lock"  # no such day: 404 once the session may
    body = {"vehicle_id": "CAR1", "locked": True, "version": 1}

    def users(edit: Any) -> None:  # users.json edited by hand, hashes kept
        stored = json.loads((data / "users.json").read_text())
        edit(stored)
        (data / "users.json").write_text(json.dumps(stored))

    with TestClient(create_app(data)) as ann:
        bob, cat = TestClient(ann.app), TestClient(ann.app)
        sessions = {web: sign_in(web, name) for web, name in
                    ((ann, "ann"), (bob, "bob"), (cat, "cat"))}
        assert ann.post(change, json=body, headers=sessions[ann]).status_code == 404
        users(lambda stored: stored["ann"].update(role="viewer"))
        assert ann.get("/api/session").json()["role"] == "viewer"
        assert ann.post(change, json=body, headers=sessions[ann]).status_code == 403
        accounts.add("ann", "a new password", "viewer")  # what `pts users add` does
        assert ann.post(change, json=body, headers=sessions[ann]).status_code == 401
        assert ann.get("/api/session").status_code == 401
        assert ann.get("/", follow_redirects=False).headers["location"] == "/login"
        users(lambda stored: stored.pop("bob"))
        assert bob.get("/api/session").status_code == 401
        # Nobody else's session is touched.
        assert cat.post(change, json=body, headers=sessions[cat]).status_code == 404
        assert sign_in(ann, "ann", "a new password")
        assert ann.get("/api/session").json()["role"] == "viewer"


def test_open_a_nightly_plan(tmp_path: Path) -> None:
    """A plan folder in the nightly outbox opens as a day whose working plan is that plan."""
    from pts_optimiser.engine.solve import SolveOptions, solve
    from pts_optimiser.services.publish import write_plan

    inputs = tiny_day(tmp_path / "inbox")
    problem, _ = read_problem(inputs, load_config())
    plan = solve(problem, SolveOptions(time_limit_s=2, strategy="single"))
    write_plan(plan, tmp_path / "outbox" / "2026-12-01", inputs, with_maps=False)
    Accounts(tmp_path / "data").add("ann", PASSWORD, "coordinator")
    with TestClient(create_app(tmp_path / "data", tmp_path / "outbox")) as web:
        headers = sign_in(web, "ann")
        assert web.get("/api/outbox").json() == ["2026-12-01"]
        missing = web.post("/api/outbox/open", json={"plan": "../inbox"}, headers=headers)
        assert missing.status_code == 404
        opened = web.post("/api/outbox/open", json={"plan": "2026-12-01"}, headers=headers)
        assert opened.status_code == 201, opened.text
        answer = web.get(f"/api/days/{opened.json()['day']}/plan").json()
    assert answer["status"] == "planned" and answer["version"] == 1
    assert answer["summary"]["served"] == len(plan.planned)
    assert {u["journey_id"] for u in answer["unassigned"]} == \
        {u.journey.journey_id for u in plan.unassigned}


def test_a_nightly_plan_keeps_the_road_server_it_was_planned_with(tmp_path: Path) -> None:
    """The nightly's policy is the operator's: a day opened from the outbox keeps its roads.

    An upload asking for a road server is refused; the outbox is the board's operator's
    (`pts serve --outbox`), and the board checks the nightly's runs on the roads they were
    timed on.
    """
    from pts_optimiser.engine.solve import SolveOptions, solve
    from pts_optimiser.services.publish import write_plan

    day = tiny_day(tmp_path / "inbox")
    with _road_server() as (url, asked):
        policy = tmp_path / "inbox" / "config.toml"
        policy.write_text(f'[travel]\nprovider = "osrm"\nosrm_url = "{url}"\n')
        inputs = Inputs(day.bookings, day.fleet, day.sites, policy)
        problem, _ = read_problem(inputs, load_config(policy))
        plan = solve(problem, SolveOptions(time_limit_s=2, strategy="single"))
        write_plan(plan, tmp_path / "outbox" / "2026-12-01", inputs, with_maps=False)
        asked.clear()
        Accounts(tmp_path / "data").add("ann", PASSWORD, "coordinator")
        with TestClient(create_app(tmp_path / "data", tmp_path / "outbox")) as web:
            headers = sign_in(web, "ann")
            opened = web.post("/api/outbox/open", json={"plan": "2026-12-01"},
                              headers=headers)
            assert opened.status_code == 201, opened.text
            answer = web.get(f"/api/days/{opened.json()['day']}/plan").json()
        assert answer["status"] == "planned", answer
        assert asked  # the operator's server (failing here: the estimate stood in)


def test_a_nightly_plan_refused_stores_nothing(tmp_path: Path) -> None:
    """A plan folder whose rosters are cut short: refused, and no day stored, nor its data.

    Until the thirty-fifth stop the refusal came after the upload: a day appeared in the
    list with its patients' inputs on disk, and the audit said it was uploaded.
    """
    from pts_optimiser.engine.solve import SolveOptions, solve
    from pts_optimiser.services.publish import write_plan

    inputs = tiny_day(tmp_path / "inbox")
    problem, _ = read_problem(inputs, load_config())
    plan = solve(problem, SolveOptions(time_limit_s=2, strategy="single"))
    folder = tmp_path / "outbox" / "2026-12-01"
    write_plan(plan, folder, inputs, with_maps=False)
    lines = (folder / "rosters.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    (folder / "rosters.csv").write_text("".join(lines[:3]) + lines[3][:12], encoding="utf-8")
    Accounts(tmp_path / "data").add("ann", PASSWORD, "coordinator")
    with TestClient(create_app(tmp_path / "data", tmp_path / "outbox")) as web:
        headers = sign_in(web, "ann")
        opened = web.post("/api/outbox/open", json={"plan": "2026-12-01"}, headers=headers)
        assert opened.status_code in (409, 422), opened.text
        assert web.get("/api/days").json() == []
    days = tmp_path / "data" / "days"
    assert not days.exists() or not any(days.iterdir())


def test_round_trip_kept_together(client: TestClient, data: Path) -> None:
    """An unassigned leg names the patient's other leg and the run it is on."""
    headers = sign_in(client, "ann")
    inputs = write_day(data.parent / "round", [
        booking("OUT", patient_id="PX"),
        booking("BACK", patient_id="PX", appointment_time="17:00")], [vehicle("CAR1")])
    day = upload(client, headers, inputs).json()["day"]
    client.post(f"/api/days/{day}/plan", json={"time_limit_s": 2}, headers=headers)
    answer = wait_planned(client, day)
    assert [u["journey_id"] for u in answer["unassigned"]] == ["BACK"]
    assert "Same patient: OUT (CAR1)" in client.get(f"/days/{day}").text


def test_round_trips_kept_together_by_hand(client: TestClient, data: Path) -> None:
    """By hand, a return off before its outward or an outward on before its return: round_trip."""
    headers = sign_in(client, "ann")
    inputs = write_day(data.parent / "trip", [
        booking("OUT1", patient_id="P1", appointment_time="09:00"),
        booking("BACK1", patient_id="P1", pickup_site="RDH", pickup_lat="", pickup_lon="",
                dropoff_site="", dropoff_lat=52.93, dropoff_lon=-1.49, appointment_time="",
                ready_time="12:00")],  # its return: it starts where OUT1 ended
        [vehicle("CAR1")])
    answer = upload(client, headers, inputs)
    assert answer.status_code == 201, answer.text
    day = answer.json()["day"]
    assert client.post(f"/api/days/{day}/plan", json={"time_limit_s": 3},
                       headers=headers).status_code == 202
    plan = wait_planned(client, day)
    assert plan["status"] == "planned" and plan["summary"]["served"] == 2, plan
    version = plan["version"]

    def post(path: str, payload: dict[str, object]) -> httpx2.Response:
        answer: httpx2.Response = client.post(f"/api/days/{day}/{path}", headers=headers,
                                             json={**payload, "version": version})
        return answer

    refused = post("unassign", {"journey_id": "BACK1"})
    assert refused.status_code == 409 and refused.json()["rule"] == "round_trip"
    for journey_id in ("OUT1", "BACK1"):
        done = post("unassign", {"journey_id": journey_id})
        assert done.status_code == 200, done.text
        version = done.json()["version"]
    refused = post("assign", {"journey_id": "OUT1", "vehicle_id": "CAR1"})
    assert refused.status_code == 409 and refused.json()["rule"] == "round_trip"
    for journey_id in ("BACK1", "OUT1"):
        done = post("assign", {"journey_id": journey_id, "vehicle_id": "CAR1"})
        assert done.status_code == 200, done.text
        version = done.json()["version"]


def test_a_crew_far_from_its_break_visits_is_planned(client: TestClient, data: Path) -> None:
    """A Derby crew's day in Chesterfield is planned on the board, its break where it waits.

    The board times a run's break at its break visits only (the base and the hospitals
    nearest it, all in Derby). The plan kept here is the one-at-a-time plan, whose break
    is where the crew is, at a patient's home; the board took it as a break at a site it
    did not have and stayed "planning" for good. As `pts solve` does, the plan published
    takes the break at Chesterfield Royal, where the crew waits, not a drive to Derby.
    """
    inputs = write_day(data.parent / "far", *far_from_base_day())
    headers = sign_in(client, "ann")
    day = upload(client, headers, inputs).json()["day"]
    client.post(f"/api/days/{day}/plan", json={"time_limit_s": 3}, headers=headers)
    answer = wait_planned(client, day)
    assert answer["status"] == "planned", answer.get("message")
    assert answer["summary"]["served"] == 4
    assert _published_break(client, headers, day, answer["version"]) == \
        "Chesterfield Royal Hospital"


def test_a_nightly_plan_with_its_break_where_the_crew_is_opens(tmp_path: Path) -> None:
    """`pts solve` breaks the Derby crew at Chesterfield Royal; the board opens the plan whole.

    The board read such a break as one at the break visit nearest it, in Derby, and timed
    the run with a drive there, or refused the run.
    """
    from pts_optimiser.engine.solve import SolveOptions, solve
    from pts_optimiser.services.publish import write_plan

    inputs = write_day(tmp_path / "inbox", *far_from_base_day())
    problem, _ = read_problem(inputs, load_config())
    plan = solve(problem, SolveOptions(time_limit_s=3))
    assert [s.label for r in plan.rosters for s in r.stops if str(s.event) == "break"] == \
        ["Chesterfield Royal Hospital"]
    write_plan(plan, tmp_path / "outbox" / "2026-12-01", inputs, with_maps=False)
    Accounts(tmp_path / "data").add("ann", PASSWORD, "coordinator")
    with TestClient(create_app(tmp_path / "data", tmp_path / "outbox")) as web:
        headers = sign_in(web, "ann")
        opened = web.post("/api/outbox/open", json={"plan": "2026-12-01"}, headers=headers)
        assert opened.status_code == 201, opened.text
        day = opened.json()["day"]
        answer = web.get(f"/api/days/{day}/plan").json()
        assert answer["status"] == "planned" and answer["summary"]["served"] == 4
        km = sum(r.distance_m for r in plan.rosters) / 1000
        assert answer["summary"]["km_total"] == pytest.approx(km, abs=0.1)
        assert _published_break(web, headers, day, answer["version"]) == \
            "Chesterfield Royal Hospital"


def _published_break(client: TestClient, headers: dict[str, str], day: str,
                     version: int) -> str:
    """Publish the day; the place of its one break, once the plan passes the checker."""
    published = client.post(f"/api/days/{day}/publish", headers=headers,
                            json={"version": version})
    assert published.status_code == 200, published.text
    folder = Path(published.json()["plan"])
    inputs = Inputs(folder / "inputs" / "bookings.csv", folder / "inputs" / "fleet.csv")
    problem, _ = read_problem(inputs, load_config())
    assert check_plan(problem, folder).ok
    with (folder / "rosters.csv").open(encoding="utf-8") as handle:
        (label,) = [row["label"] for row in csv.DictReader(handle) if row["event"] == "break"]
    return label


def _new_booking(journey_id: str, **cells: str) -> dict[str, str]:
    """A phoned-in booking for the tiny day, as the what-if form sends it."""
    return {"journey_id": journey_id, "patient_id": f"P-{journey_id}", "purpose": "outpatient",
            "mobility": "seated", "escorts": "0", "pickup_lat": "52.92", "pickup_lon": "-1.47",
            "dropoff_site": "RDH", "appointment_time": "13:00", **cells}


def _planned_tiny_day(client: TestClient, headers: dict[str, str], inputs: Inputs
                      ) -> tuple[str, dict[str, Any]]:
    answer = upload(client, headers, inputs)
    assert answer.status_code == 201, answer.text
    day = answer.json()["day"]
    assert client.post(f"/api/days/{day}/plan", json={"time_limit_s": 2},
                       headers=headers).status_code == 202
    planned = wait_planned(client, day)
    assert planned["status"] == "planned", planned
    return day, planned


def _offer(client: TestClient, headers: dict[str, str], day: str,
           booking: dict[str, str]) -> dict[str, Any]:
    answer = client.post(f"/api/days/{day}/whatif", headers=headers, json={"booking": booking})
    assert answer.status_code == 200, answer.text
    offer: dict[str, Any] = answer.json()
    return offer


def _accepted_then_undone(client: TestClient, headers: dict[str, str], day: str,
                          offer: dict[str, Any], version: int) -> dict[str, Any]:
    """Accept the offer's first run, then Undo: the day's plan as GET /plan gives it then."""
    taken = client.post(f"/api/days/{day}/whatif/accept", headers=headers,
                        json={"token": offer["token"], "vehicle_id": offer["slots"][0][
                            "vehicle_id"], "version": version})
    assert taken.status_code == 200, taken.text
    undone = client.post(f"/api/days/{day}/undo", headers=headers,
                         json={"version": taken.json()["version"]})
    assert undone.status_code == 200, undone.text
    after: dict[str, Any] = client.get(f"/api/days/{day}/plan").json()
    return after


def test_an_accepted_booking_undone_is_listed_not_lost(client: TestClient, data: Path) -> None:
    """Undoing an accepted what-if takes its placement back and lists the booking.

    Before, the journey was left on no run and in no list, and publishing the day then
    failed the independent checker as a server error (500).
    """
    headers = sign_in(client, "ann")
    day, before = _planned_tiny_day(client, headers, tiny_day(data.parent / "undo-whatif"))
    offer = _offer(client, headers, day, _new_booking("NEW1"))
    after = _accepted_then_undone(client, headers, day, offer, before["version"])
    assert after["summary"]["journeys"] == 6
    assert after["summary"]["served"] == before["summary"]["served"]
    listed = {u["journey_id"]: u["detail"] for u in after["unassigned"]}
    assert "undone" in listed["NEW1"]
    # Where the published folder keeps its inputs, as summary.json says (the spec's keys).
    assert after["summary"]["inputs"]["bookings"] == "inputs/bookings.csv"
    folder, problem = _published(client, headers, day, after["version"])
    assert check_plan(problem, folder).ok
    summary = json.loads((folder / "summary.json").read_text())
    assert set(after["summary"]) == set(summary)


def test_an_offer_made_before_another_was_accepted_is_refused(client: TestClient,
                                                              data: Path) -> None:
    """Two offers made on one plan: once one is accepted, the other must be asked again.

    Before, accepting the second wrote back the bookings it was made from: the first
    booking vanished from the day's file while on a run, and the day was a server error
    (500) from then on, after a restart too.
    """
    headers = sign_in(client, "ann")
    day, before = _planned_tiny_day(client, headers, tiny_day(data.parent / "two-offers"))
    first = _offer(client, headers, day, _new_booking("NEW1"))
    second = _offer(client, headers, day, _new_booking("NEW2", appointment_time="12:30"))
    taken = client.post(f"/api/days/{day}/whatif/accept", headers=headers,
                        json={"token": first["token"], "vehicle_id": first["slots"][0][
                            "vehicle_id"], "version": before["version"]})
    assert taken.status_code == 200, taken.text
    version = taken.json()["version"]
    refused = client.post(f"/api/days/{day}/whatif/accept", headers=headers,
                          json={"token": second["token"], "vehicle_id": second["slots"][0][
                              "vehicle_id"], "version": version})
    assert refused.status_code == 409 and refused.json()["rule"] == "stale_version"
    assert "ask where the booking could go again" in refused.json()["detail"]
    stored = (data / "days" / day / "inputs" / "bookings.csv").read_text()
    assert "NEW1" in stored and "NEW2" not in stored
    assert client.get(f"/api/days/{day}/plan").json()["summary"]["journeys"] == 6
    again = _offer(client, headers, day, _new_booking("NEW2", appointment_time="12:30"))
    assert again["slots"], again
    placed = client.post(f"/api/days/{day}/whatif/accept", headers=headers,
                         json={"token": again["token"], "vehicle_id": again["slots"][0][
                             "vehicle_id"], "version": version})
    assert placed.status_code == 200, placed.text
    assert client.get(f"/api/days/{day}/plan").json()["summary"]["journeys"] == 7


def test_a_booking_of_another_day_is_named_and_offers_are_private(client: TestClient,
                                                                  data: Path) -> None:
    """A what-if for another date names its date (before: "journey_id is taken", a 409).

    The staged copy of the day's bookings an offer keeps is the owner's only (before: 0644).
    """
    headers = sign_in(client, "ann")
    dated = [{**row, "service_date": "2026-12-01"} for row in
             (booking("J1"), booking("J2", appointment_time="11:00"))]
    inputs = write_day(data.parent / "dated", dated, [vehicle("CAR1")],
                       [*BOOKING_COLUMNS, "service_date"])
    day, _ = _planned_tiny_day(client, headers, inputs)
    other = client.post(f"/api/days/{day}/whatif", headers=headers, json={
        "booking": _new_booking("NEWX", service_date="2026-12-02")})
    assert other.status_code == 422, other.text
    (finding,) = other.json()["findings"]
    assert finding["column"] == "service_date" and "2026-12-02" in finding["message"]
    offer = _offer(client, headers, day, _new_booking("NEWY", service_date="2026-12-01"))
    staged = data / "tmp" / offer["token"] / "bookings.csv"
    assert staged.stat().st_mode & 0o777 == 0o600
    nothing = client.post("/api/days", headers=headers, data={"date": "2026-12-09"}, files={
        "bookings": ("bookings.csv", inputs.bookings.read_bytes(), "text/csv"),
        "fleet": ("fleet.csv", inputs.fleet.read_bytes(), "text/csv")})
    assert nothing.status_code == 422, nothing.text
    assert "no booking is for 2026-12-09" in nothing.json()["findings"][0]["message"]


def test_a_plan_afresh_keeps_every_lock(client: TestClient, data: Path) -> None:
    """"Plan the day" on a planned day keeps a locked run as it is, and undo takes it back.

    Before, a plan afresh ignored the locks and left them naming runs their journeys were
    no longer on, so the next re-plan moved them back; and it could not be undone.
    """
    headers = sign_in(client, "ann")
    day, before = _planned_tiny_day(client, headers, tiny_day(data.parent / "afresh"))
    state = json.loads((data / "days" / day / "state.json").read_text())
    vid, run = next((vid, run) for vid, run in state["runs"].items()
                    if any(kind == "pickup" for kind, _ in run))
    taken_off = next(key for kind, key in run if kind == "pickup")
    off = client.post(f"/api/days/{day}/unassign", headers=headers,
                      json={"journey_id": taken_off, "version": before["version"]})
    assert off.status_code == 200, off.text
    locked_run = json.loads((data / "days" / day / "state.json").read_text())["runs"][vid]
    locked = client.post(f"/api/days/{day}/lock", headers=headers,
                         json={"vehicle_id": vid, "locked": True,
                               "version": off.json()["version"]})
    assert locked.status_code == 200
    assert client.post(f"/api/days/{day}/plan", json={"time_limit_s": 2},
                       headers=headers).status_code == 202
    after = wait_planned(client, day)
    assert after["status"] == "planned", after
    state = json.loads((data / "days" / day / "state.json").read_text())
    assert state["runs"][vid] == locked_run and state["locked_vehicles"] == [vid]
    undone = client.post(f"/api/days/{day}/undo", headers=headers,
                         json={"version": after["version"]})
    assert undone.status_code == 200, undone.text
    back = json.loads((data / "days" / day / "state.json").read_text())
    assert taken_off in back["unassigned"] and back["runs"][vid] == locked_run


def test_more_malformed_requests_are_refused_not_server_errors(
        client: TestClient, planned: tuple[str, dict[str, str]]) -> None:
    """Odd requests are answered as the interface says, never as a server error.

    Before: a deeply nested body and a time limit too large for a float were server errors
    (500), a lock naming nothing a 404, cancelling a day not on the board a 409, and HEAD /
    without a session a 401 where pages send a visitor to sign in.
    """
    day, _ = planned
    headers = sign_in(client, "ann")  # the tests above signed the client in again
    version = client.get(f"/api/days/{day}/plan").json()["version"]
    deep = client.post(f"/api/days/{day}/undo", content=("[" * 1000 + "]" * 1000).encode(),
                       headers={**headers, "Content-Type": "application/json"})
    assert deep.status_code == 422 and "nested too deeply" in deep.json()["error"]
    nothing = client.post(f"/api/days/{day}/lock", headers=headers,
                          json={"locked": True, "version": version})
    assert nothing.status_code == 422 and "vehicle_id or journey_id" in nothing.json()["error"]
    huge = client.post(f"/api/days/{day}/replan", headers=headers,
                       json={"time_limit_s": 10 ** 400, "version": version - 1})
    assert huge.status_code == 409 and huge.json()["rule"] == "stale_version"
    assert client.post("/api/days/2026-01-01-abcdef/plan/cancel",
                       headers=headers).status_code == 404
    assert TestClient(client.app).head("/", follow_redirects=False).status_code == 303
    assert client.get(f"/api/days/{day}/plan").json()["version"] == version


def test_a_restarted_board_ends_the_plan_its_solve_died_with(tmp_path: Path) -> None:
    """A day left "planning" by a stopped server is planned again, not stuck for good.

    Before, after a restart the day refused every change ("being planned") and had no solve
    to cancel; staged what-if copies of its bookings were never cleared.
    """
    data = tmp_path / "data"
    Accounts(data).add("ann", PASSWORD, "coordinator")
    with TestClient(create_app(data)) as web:
        day = upload(web, sign_in(web, "ann"), tiny_day(tmp_path / "in")).json()["day"]
    path = data / "days" / day / "state.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "status": "planning"}))
    orphan = data / "tmp" / "whatif-1" / "bookings.csv"
    orphan.parent.mkdir(parents=True)
    orphan.write_text("journey_id\n")
    with TestClient(create_app(data)) as web:
        headers = sign_in(web, "ann")
        answer = web.get(f"/api/days/{day}/plan")
        assert answer.status_code == 404 and "restarted" in answer.json()["error"]
        assert "plan before it is kept" not in answer.json()["error"]  # there was none
        assert not orphan.exists()
        assert web.post(f"/api/days/{day}/plan", json={"time_limit_s": 2},
                        headers=headers).status_code == 202
        assert wait_planned(web, day)["status"] == "planned"


def test_a_stopping_server_stops_the_solves_under_way(tmp_path: Path) -> None:
    """The server stopping ends every day's solve with it.

    A solve runs in its own process group: before 2026-12-07 it outlived a server stopped
    with SIGTERM for the rest of its time (up to an hour), and held a Ctrl-C'd server's
    exit until then.
    """
    from pts_optimiser.io.generate import write_day as generate_day

    generate_day(tmp_path / "in", seed=3, journeys=120, vehicles=14)
    inputs = Inputs(tmp_path / "in" / "bookings.csv", tmp_path / "in" / "fleet.csv")
    data = tmp_path / "data"
    Accounts(data).add("ann", PASSWORD, "coordinator")
    app = create_app(data)
    with TestClient(app) as web:
        headers = sign_in(web, "ann")
        day = upload(web, headers, inputs).json()["day"]
        assert web.post(f"/api/days/{day}/plan", json={"time_limit_s": 300},
                        headers=headers).status_code == 202
        process = app.state.board.service._running[day].process
        deadline = time.monotonic() + 30
        while not process.is_alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert process.is_alive()
    stopped = time.monotonic()
    process.join(timeout=20)
    assert not process.is_alive() and time.monotonic() - stopped < 20


# Signing in again gives the client a new session: these come last, as the tests above
# use the CSRF header of `planned`'s.

def test_a_publish_the_checker_refuses_names_the_rules(
        client: TestClient, planned: tuple[str, dict[str, str]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """409 check_failed names each rule broken and where (web-api.md: "naming the rules").

    Until the thirty-fifth stop the detail said only "broke 1 rule(s)".
    """
    from pts_optimiser.domain.exits import PlanRejectedError
    from pts_optimiser.services.web import service as service_module

    def refused(*_args: object, **_kwargs: object) -> None:
        raise PlanRejectedError("the plan broke 1 rule(s) of the independent checker",
                                ["[stranded_patient] journey J7: a patient taken somewhere "
                                 "is brought back"])

    day, _ = planned
    headers = sign_in(client, "ann")
    monkeypatch.setattr(service_module, "write_plan", refused)
    version = client.get(f"/api/days/{day}/plan").json()["version"]
    answer = client.post(f"/api/days/{day}/publish", headers=headers, json={"version": version})
    assert answer.status_code == 409 and answer.json()["rule"] == "check_failed"
    assert "[stranded_patient] journey J7" in answer.json()["detail"]


def test_progress_counts_the_journeys_on_locked_runs(
        client: TestClient, planned: tuple[str, dict[str, str]], data: Path) -> None:
    """A re-plan's count includes the locked runs' journeys, planned before it started.

    Until the thirty-fifth stop they were left out: "13 planned so far" of a plan of 19.
    """
    day, _ = planned
    headers = sign_in(client, "ann")
    state = json.loads((data / "days" / day / "state.json").read_text())
    used = next(vid for vid, run in state["runs"].items() if run)
    on_it = sum(kind == "pickup" for kind, _ in state["runs"][used])
    locked = client.post(f"/api/days/{day}/lock", headers=headers,
                         json={"vehicle_id": used, "locked": True, "version": state["version"]})
    assert locked.status_code == 200
    version = locked.json()["version"]
    assert client.post(f"/api/days/{day}/replan", headers=headers,
                       json={"time_limit_s": 3, "version": version}).status_code == 202
    first = client.get(f"/api/days/{day}/plan").json()
    assert first["progress"]["planned"] >= on_it > 0, first
    after = wait_planned(client, day)
    assert client.post(f"/api/days/{day}/lock", headers=headers,
                       json={"vehicle_id": used, "locked": False,
                             "version": after["version"]}).status_code == 200


def test_an_upload_that_is_not_a_form_or_too_large_is_422(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Broken multipart, or a file over the size taken: 422 with findings, not 400.

    Until the thirty-fifth stop starlette answered 400 {"detail"}, and a file too large
    was read whole into memory before it was refused.
    """
    from pts_optimiser.services.web import app as app_module

    headers = sign_in(client, "ann")
    broken = client.post("/api/days", headers={**headers, "Content-Type": "multipart/form-data"},
                         content=b"--xyz\r\n")  # no boundary given
    assert broken.status_code == 422, broken.text
    assert broken.json()["findings"][0]["code"] == "unreadable_file"
    monkeypatch.setattr(app_module, "MAX_FILE_BYTES", 100)
    large = client.post("/api/days", headers=headers,
                        files={"bookings": ("b.csv", b"x" * 500), "fleet": ("f.csv", b"y")})
    assert large.status_code == 422, large.text
    assert [f["code"] for f in large.json()["findings"]] == ["too_large"]


def test_a_plan_afresh_from_a_stale_page_is_refused(
        client: TestClient, planned: tuple[str, dict[str, str]]) -> None:
    """Plan the day with the version the page saw: stale, 409; without one, as web-api.md.

    Until the thirty-fifth stop a plan afresh from a stale page replaced another
    coordinator's change made meanwhile.
    """
    day, _ = planned
    headers = sign_in(client, "ann")
    now = client.get(f"/api/days/{day}/plan").json()["version"]
    stale = client.post(f"/api/days/{day}/plan", headers=headers,
                        json={"time_limit_s": 2, "version": now - 1})
    assert stale.status_code == 409 and stale.json()["rule"] == "stale_version", stale.text
    assert client.get(f"/api/days/{day}/plan").json()["status"] == "planned"
    fresh = client.post(f"/api/days/{day}/plan", headers=headers,
                        json={"time_limit_s": 2, "version": now})
    assert fresh.status_code == 202, fresh.text
    assert wait_planned(client, day)["status"] == "planned"


def test_an_accepted_return_undone_takes_its_outward_off_too(client: TestClient,
                                                             data: Path) -> None:
    """Undo an accepted return (return_of J1): J1 comes off its run, and the day publishes.

    Until the thirty-fifth stop J1 stayed on its run with its return on none, a patient
    taken to hospital with no ride back, and publishing was 409 check_failed.
    """
    headers = sign_in(client, "ann")
    day, before = _planned_tiny_day(client, headers, write_day(
        data.parent / "undo-return", [booking("J1", return_of=""),
                                      booking("J2", appointment_time="11:00")],
        [vehicle("CAR1"), vehicle("CAR2", shift_start="07:00", shift_end="16:00")],
        [*BOOKING_COLUMNS, "return_of"]))
    runs = json.loads((data / "days" / day / "state.json").read_text())["runs"]
    assert any(key == "J1" for run in runs.values() for _, key in run)
    back = _new_booking("BACK1", patient_id="P-J1", pickup_lat="", pickup_lon="",
                        pickup_site="RDH", dropoff_site="", dropoff_lat="52.93",
                        dropoff_lon="-1.49", appointment_time="", ready_time="12:30",
                        return_of="J1")
    offer = _offer(client, headers, day, back)
    assert offer["slots"], offer
    after = _accepted_then_undone(client, headers, day, offer, before["version"])
    listed = {u["journey_id"]: u for u in after["unassigned"]}
    assert {"J1", "BACK1"} <= set(listed)
    assert listed["J1"]["reason"] == "return_not_plannable"
    folder, problem = _published(client, headers, day, after["version"])
    assert check_plan(problem, folder).ok


def test_an_unknown_journey_is_404_and_healthz_answers_head(
        client: TestClient, planned: tuple[str, dict[str, str]]) -> None:
    """An id the day does not have is 404; a monitor may ask /healthz with HEAD.

    Until the thirty-fifth stop: 409 not_assigned, and 405.
    """
    day, _ = planned
    headers = sign_in(client, "ann")
    version = client.get(f"/api/days/{day}/plan").json()["version"]
    for action, body in (("unassign", {"journey_id": "NOPE", "version": version}),
                         ("lock", {"journey_id": "NOPE", "locked": True, "version": version})):
        answer = client.post(f"/api/days/{day}/{action}", headers=headers, json=body)
        assert answer.status_code == 404, (action, answer.text)
    assert client.head("/healthz").status_code == 200
    assert client.get(f"/api/days/{day}/plan").json()["version"] == version


def _chunks(head: bytes, size_bytes: int, tail: bytes = b"") -> Iterator[bytes]:
    """A body sent without Content-Length (chunked): head, size_bytes of padding, tail."""
    yield head
    for start in range(0, size_bytes, 2**16):
        yield b"x" * min(2**16, size_bytes - start)
    yield tail


def test_request_bodies_are_capped(client: TestClient, planned: tuple[str, dict[str, str]],
                                   data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A body past its route's limit is 413, whether it says its length or not (chunked).

    Sign-in 16 KiB; an upload four files of the most taken; anything else 1 MiB. Until the
    thirty-sixth stop none was capped: an anonymous sign-in with a 60 MB file part was
    parsed before its 401, a change's 60 MB of JSON read whole.
    """
    from pts_optimiser.services.web import app as app_module

    day, _ = planned
    version = client.get(f"/api/days/{day}/plan").json()["version"]
    anonymous, fresh = TestClient(client.app), TestClient(client.app)
    headers = sign_in(fresh, "ann")  # a session of its own: the module's stays
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    json_type = {**headers, "Content-Type": "application/json"}
    sent = [
        (anonymous, "/login", form, b"username=ann&password=", 2**15, b"", "sign-in form"),
        (fresh, f"/api/days/{day}/undo", json_type, b'{"version": 1, "pad": "', 2**21, b'"}',
         "more than 1 MiB"),
        # The CSRF token of a page's form is read from the body, before the route.
        (fresh, "/logout", form, b"csrf_token=x&pad=", 2**21, b"", "more than 1 MiB")]
    for web, path, kind, head, size, tail, says in sent:
        for body in (head + b"x" * size + tail, _chunks(head, size, tail)):
            answer = web.post(path, content=body, headers=kind)
            assert answer.status_code == 413, (path, answer.text)
            assert says in answer.json()["error"]
    assert fresh.get("/api/session").status_code == 200
    assert client.get(f"/api/days/{day}/plan").json()["version"] == version
    monkeypatch.setattr(app_module, "MAX_FILE_BYTES", 2**10)  # 4 KiB + 1 MiB a form
    part = (b'--B\r\nContent-Disposition: form-data; name="bookings"; filename="b.csv"'
            b"\r\n\r\n")
    multipart = {**headers, "Content-Type": "multipart/form-data; boundary=B"}
    before = client.get("/api/days").json()
    for body in (part + b"x" * 2**21 + b"\r\n--B--\r\n", _chunks(part, 2**21, b"\r\n--B--\r\n")):
        answer = fresh.post("/api/days", content=body, headers=multipart)
        assert answer.status_code == 413 and "upload is more than" in answer.json()["error"]
    # Within the form's limit, a file over the most taken is the route's own finding.
    within = fresh.post("/api/days", content=part + b"x" * 2**11 + b"\r\n--B--\r\n",
                        headers=multipart)
    assert within.status_code == 422 and within.json()["findings"][0]["code"] == "too_large"
    assert client.get("/api/days").json() == before


def _answered_after(port: int, head: bytes, chunk: bytes = b"", most_bytes: int = 0
                    ) -> tuple[bytes, int]:
    """Send head, then chunks (if given) until the server answers: its status line, bytes sent."""
    import select

    with socket.create_connection(("127.0.0.1", port), timeout=10) as web:
        web.sendall(head)
        sent, framed = 0, b"%x\r\n%s\r\n" % (len(chunk), chunk)
        while chunk and sent < most_bytes and not select.select([web], [], [], 0)[0]:
            try:
                web.settimeout(2)
                web.sendall(framed)
            except TimeoutError:  # the server reads no more: its answer is on its way
                break
            sent += len(framed)
        web.settimeout(10)
        return web.recv(4096).split(b"\r\n")[0], sent


def test_an_anonymous_body_too_large_is_refused_unread_over_a_socket(data: Path) -> None:
    """Over a real socket: 413 before a 60 MiB sign-in body is sent, said or chunked.

    Until the thirty-sixth stop the server waited for the whole of it, then parsed it.
    """
    with _served(data) as port:
        start = (b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 b"Content-Type: multipart/form-data; boundary=B\r\n")
        said = _answered_after(port, start + b"Content-Length: %d\r\n\r\n" % (60 * 2**20))
        assert said == (b"HTTP/1.1 413 Request Entity Too Large", 0)
        part = b'--B\r\nContent-Disposition: form-data; name="f"; filename="a"\r\n\r\n'
        status, sent = _answered_after(port, start + b"Transfer-Encoding: chunked\r\n\r\n",
                                       part + b"x" * 2**16, 60 * 2**20)
        # What was sent before the answer is what the sockets' buffers hold (3 MiB here).
        assert status == b"HTTP/1.1 413 Request Entity Too Large" and sent < 20 * 2**20
