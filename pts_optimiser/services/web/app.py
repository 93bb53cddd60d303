"""The coordinators' planning board over HTTP (FastAPI): the only module with the framework.

The machine-facing part keeps to ../shared/spec/web-api.md; the pages are rendered here
on the server (Jinja2, autoescaped) with a little JavaScript, every asset served from the
package (no network). Sessions live in the server's memory: a restart signs everyone out.
"""

from __future__ import annotations

import csv
import errno
import functools
import json
import math
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pts_optimiser.domain.clock import format_clock
from pts_optimiser.domain.diagnostics import InputError
from pts_optimiser.domain.exits import UsageError
from pts_optimiser.domain.resources import data_dir
from pts_optimiser.domain.safe import script_json
from pts_optimiser.io.tables import MAX_FILE_BYTES
from pts_optimiser.services.web.service import (
    MAX_TIME_LIMIT_S,
    ConflictError,
    NotFoundError,
    NotPlannedError,
    Service,
    input_error_answer,
)
from pts_optimiser.services.web.store import Account, Accounts
from pts_optimiser.views.maps import LEAFLET_CSS, LEAFLET_DIR, LEAFLET_JS

HERE = Path(__file__).resolve().parent
COOKIE = "pts_session"
SESSION_IDLE_S = 8 * 3600
OPEN_PATHS = ("/healthz", "/login")
DEFAULT_PLAN_S = 60.0
UPLOAD_FILES = 4  # bookings, fleet, sites and config, each up to MAX_FILE_BYTES
FORM_SLACK_BYTES = 2**20  # an upload's part headers, boundaries and date field
SMALL_BODY_BYTES = 2**20  # any other request: a change's JSON, a what-if booking, a form
LOGIN_BODY_BYTES = 16 * 2**10  # a name and a password


@dataclass
class Session:
    """A signed-in user."""

    user: str
    role: str  # as the account has it now: looked up again at every request
    csrf: str
    seen: float
    stamp: str  # the account's password hash at sign-in (Account.stamp)


class _Sessions:
    def __init__(self) -> None:
        self.by_token: dict[str, Session] = {}

    def new(self, user: str, account: Account) -> str:
        token = secrets.token_urlsafe(32)
        self.by_token[token] = Session(user, account.role, secrets.token_urlsafe(32),
                                       time.monotonic(), account.stamp)
        return token

    def get(self, token: str | None) -> Session | None:
        session = self.by_token.get(token or "")
        if session is None:
            return None
        if time.monotonic() - session.seen > SESSION_IDLE_S:
            self.by_token.pop(token or "", None)
            return None
        session.seen = time.monotonic()
        return session

    def end(self, token: str | None) -> None:
        self.by_token.pop(token or "", None)


def _current(board: _Board, token: str | None) -> Session | None:
    """The token's session, judged by its account as it is now.

    Until the thirty-sixth stop a session kept the role it signed in with for its 8 hours:
    a coordinator made a viewer (`pts users add NAME --role viewer`), given a new password
    or removed from users.json went on changing plans.
    """
    session = board.sessions.get(token)
    if session is None:
        return None
    account = board.accounts.account(session.user)
    if account is None or not secrets.compare_digest(account.stamp.encode(),
                                                      session.stamp.encode()):
        board.sessions.end(token)
        return None
    session.role = account.role
    return session


def _is_api(path: str) -> bool:
    return path.startswith("/api/")


@dataclass(frozen=True)
class _Board:
    """What every route works with, made once per app and kept on `app.state.board`."""

    service: Service
    accounts: Accounts
    sessions: _Sessions
    pages: Environment


def _board_of(request: Request) -> _Board:
    board: _Board = request.app.state.board
    return board


Board = Annotated[_Board, Depends(_board_of)]


def create_app(data: Path, outbox: Path | None = None) -> FastAPI:
    """The board's app over a data folder (and the nightly outbox, to open its plans)."""
    service = Service(data, outbox)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        # A solve runs in its own process group: left, it would outlive the server for up
        # to an hour (SIGTERM), or hold its exit until the plan's time was up (Ctrl-C).
        service.stop_solves()

    app = FastAPI(title="pts planning board", docs_url=None, redoc_url=None, openapi_url=None,
                  lifespan=lifespan)
    pages = Environment(loader=FileSystemLoader(HERE / "templates"),
                        autoescape=select_autoescape(["html"]))
    pages.filters["clock"] = format_clock
    pages.filters["script_json"] = script_json
    app.state.board = _Board(service, Accounts(data), _Sessions(), pages)
    app.middleware("http")(_signed_in)
    app.add_middleware(_CappedBodies)  # added last, so outermost: before the session's check
    app.add_exception_handler(BadRequestError, _bad_request)
    for routes in (open_routes, session_routes, day_routes, change_routes, page_routes):
        app.include_router(routes)
    return app


def _body_limit(method: str, path: str) -> tuple[int, str]:
    """The most a request's body may hold, and what to say of one that holds more."""
    if method == "POST" and path == "/api/days":
        most = UPLOAD_FILES * MAX_FILE_BYTES + FORM_SLACK_BYTES
        return most, (f"the upload is more than {most / 2**20:g} MiB: each file may be "
                      f"{MAX_FILE_BYTES / 2**20:g} MiB at most; give one day's rows, not a "
                      "whole export")
    if path == "/login":
        return LOGIN_BODY_BYTES, "the sign-in form is too large: send a name and a password"
    return SMALL_BODY_BYTES, (f"the request body is more than {SMALL_BODY_BYTES / 2**20:g} "
                              "MiB; no request of the board's needs as much")


class _CappedBodies:
    """Every request body within its route's limit, or 413 with the rest left unread.

    By Content-Length before the app is called; by counting as the app reads a body sent
    without one (chunked). Until the thirty-sixth stop nothing capped them: an anonymous
    sign-in with a 60 MB file part was parsed before its 401, and a change's 60 MB of
    JSON read whole.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        most, why = _body_limit(scope["method"], scope["path"])
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > most:
            await _too_large(why)(scope, receive, send)
            return
        taken, started, refused = 0, False, False

        async def counted() -> Message:
            # Past the limit the app is told the client has gone, and the 413 sent at once:
            # an exception raised here came out wrapped by the session's middleware.
            nonlocal taken, refused
            if taken > most:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                taken += len(message.get("body", b""))
                if taken > most:
                    refused = not started
                    if refused:
                        await _too_large(why)(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if refused:  # the app's own answer to the body cut short: the 413 is sent
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except Exception:
            if not refused:
                raise
            # The app's complaint of a body cut short (ClientDisconnect): answered already.


def _too_large(why: str) -> Response:
    return _hardened(JSONResponse({"error": why}, status_code=413))


async def _signed_in(request: Request, call_next: Any) -> Response:
    """Every path but the open ones needs a session; every change its CSRF token and role."""
    path = request.url.path
    if path in OPEN_PATHS:
        response: Response = await call_next(request)
        return _hardened(response)
    session = _current(_board_of(request), request.cookies.get(COOKIE))
    if session is None:
        if _is_api(path) or request.method not in ("GET", "HEAD"):
            return _hardened(JSONResponse({"error": "sign in first"}, status_code=401))
        return _hardened(RedirectResponse("/login", status_code=303))
    request.state.session = session
    if request.method not in ("GET", "HEAD"):
        given = request.headers.get("x-csrf-token", "")
        if not given and request.headers.get("content-type", "").startswith(
                "application/x-www-form-urlencoded"):
            given = str((await request.form()).get("csrf_token", ""))
        if not secrets.compare_digest(given.encode(), session.csrf.encode()):
            return _hardened(JSONResponse({"error": "missing or wrong CSRF token"},
                                          status_code=403))
        if session.role != "coordinator" and path != "/logout":
            return _hardened(JSONResponse({"error": "viewers cannot change anything"},
                                          status_code=403))
    return _hardened(await call_next(request))


def _user(request: Request) -> str:
    return str(request.state.session.user)


class BadRequestError(Exception):
    """A request body that is not what the interface asks for: 422 naming it, nothing changed."""


def _bad_request(_: Request, exc: Exception) -> Response:
    return JSONResponse({"error": str(exc)}, status_code=422)


async def _body(request: Request) -> dict[str, Any]:
    """The JSON object sent; none sent is an empty one."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequestError("the body is not JSON: send a JSON object, e.g. "
                              '{"version": 3}') from None
    except RecursionError:  # nested deeper than the parser goes: no request of ours is
        raise BadRequestError("the body is nested too deeply: send a flat JSON object, e.g. "
                              '{"version": 3}') from None
    if not isinstance(value, dict):
        raise BadRequestError('the body must be a JSON object, e.g. {"version": 3}')
    return value


def _text(asked: dict[str, Any], key: str) -> str:
    value = asked.get(key, "")
    if not isinstance(value, str):
        raise BadRequestError(f"{key} must be a string: an id as the files give it")
    if not value:  # a body without it is malformed, not an unknown id (404 until now)
        raise BadRequestError(f"{key} is missing: give it as the files give it")
    return value


def _optional_text(asked: dict[str, Any], key: str) -> str | None:
    return None if asked.get(key) is None else _text(asked, key)


def _flag(asked: dict[str, Any], key: str) -> bool:
    # A string "false" is true to Python: it would lock what was to be unlocked. Nor is a
    # flag left out read as either: a lock without it locked until the thirty-sixth stop.
    if key not in asked:
        raise BadRequestError(f'{key} is missing: give "{key}": true or "{key}": false')
    value = asked[key]
    if not isinstance(value, bool):
        raise BadRequestError(f"{key} must be true or false")
    return value


def _cells(asked: dict[str, Any]) -> dict[str, str | None]:
    """A what-if's booking: each cell text as the bookings file holds it, or null for none.

    Anything else was written to the day's bookings as Python wrote it (`['N1']` for a
    journey id) until the thirty-sixth stop.
    """
    booking = asked.get("booking")
    if not isinstance(booking, dict):
        raise BadRequestError('give the new booking\'s cells as "booking", e.g. '
                              '{"booking": {"journey_id": "J9", ...}}')
    for column, cell in booking.items():
        if cell is not None and not isinstance(cell, str):
            raise BadRequestError(f"booking's {column[:64]} must be a string, as the "
                                  'bookings file holds it (e.g. "0", "52.92")')
    return booking


async def _change(request: Request, status: int,
                  action: Callable[[dict[str, Any], str], Any]) -> Response:
    """A change to a day: `action(asked, user)` with the JSON body, answered as JSON."""
    asked = await _body(request)
    return await _answer(lambda: action(asked, _user(request)), status)


# -- open: no session needed ---------------------------------------------------------------

open_routes = APIRouter()


@open_routes.api_route("/healthz", methods=["GET", "HEAD"])  # a monitor may ask with HEAD
def healthz() -> PlainTextResponse:
    """For monitoring: `ok` with no session."""
    return PlainTextResponse("ok")


@open_routes.get("/login")
def login_page(board: Board) -> HTMLResponse:
    """The sign-in form."""
    return HTMLResponse(board.pages.get_template("login.html").render(failed=False))


@open_routes.post("/login")
async def login(request: Request, board: Board) -> Response:
    """Sign in: a session cookie and on to the days, or 401 whether the name exists or not."""
    form = await request.form()
    name, password = str(form.get("username", "")), str(form.get("password", ""))
    account = board.accounts.sign_in(name, password)
    if account is None:
        return HTMLResponse(board.pages.get_template("login.html").render(failed=True),
                            status_code=401)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(COOKIE, board.sessions.new(name, account), httponly=True,
                        samesite="strict", secure=request.url.scheme == "https", path="/")
    return response


# -- the session -------------------------------------------------------------------------

session_routes = APIRouter()


@session_routes.post("/logout")
def logout(request: Request, board: Board) -> Response:
    """End the session."""
    board.sessions.end(request.cookies.get(COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@session_routes.get("/api/session")
def session_info(request: Request) -> dict[str, str]:
    """Who is signed in, and the CSRF token scripts send with each change."""
    s = request.state.session
    return {"user": s.user, "role": s.role, "csrf_token": s.csrf}


# -- days: upload, list, open from the nightly outbox ---------------------------------------

day_routes = APIRouter()


@day_routes.post("/api/days")
async def upload(request: Request, board: Board) -> Response:
    """A new day from its CSV files: 201 with its counts, or 422 with every finding."""
    try:
        form = await request.form()
    except HTTPException as exc:  # a body that is not a form, or too many parts
        # Bad input is 422 with findings (web-api.md); starlette's own answer was 400.
        return JSONResponse({"findings": [
            {"file": "upload", "row": None, "column": None, "code": "unreadable_file",
             "message": f"the upload is not a form of files ({exc.detail})",
             "hint": "send the day's files as multipart/form-data, as the page does"}]},
            status_code=422)
    files: dict[str, bytes] = {}
    too_large = []
    for key in ("bookings", "fleet", "sites", "config"):
        item = form.get(key)
        if isinstance(item, UploadFile) and item.filename:
            # No more than the largest file taken is read into memory: a 300 MB upload
            # was read whole before it was refused, until the thirty-fifth stop.
            files[key] = await item.read(MAX_FILE_BYTES + 1)
            if len(files[key]) > MAX_FILE_BYTES:
                too_large.append(key)
    if too_large:
        return JSONResponse({"findings": [
            {"file": key, "row": None, "column": None, "code": "too_large",
             "message": f"the file is more than {MAX_FILE_BYTES // 2**20} MiB",
             "hint": "give one day's rows, not a whole export"} for key in too_large]},
            status_code=422)
    date = str(form.get("date", "")) or None
    missing = [k for k in ("bookings", "fleet") if k not in files]
    if missing:
        return JSONResponse({"findings": [
            {"file": k, "row": None, "column": None, "code": "missing_file",
             "message": f"no {k} file was sent", "hint": f"choose the day's {k} CSV"}
            for k in missing]}, status_code=422)
    try:
        answer = await _in_thread(board.service.upload, files, _user(request), date)
    except InputError as exc:
        return JSONResponse(input_error_answer(exc), status_code=422)
    return JSONResponse(answer, status_code=201)


@day_routes.get("/api/outbox")
def outbox_plans(board: Board) -> list[str]:
    """The nightly plans that can be opened on the board."""
    return board.service.outbox_plans()


@day_routes.post("/api/outbox/open")
async def open_outbox(request: Request, board: Board) -> Response:
    """Open a nightly plan as a day on the board."""
    asked = await _body(request)
    try:
        return await _answer(lambda: board.service.open_outbox(_text(asked, "plan"),
                                                               _user(request)), 201)
    except InputError as exc:
        return JSONResponse(input_error_answer(exc), status_code=422)


@day_routes.get("/api/days")
def days(board: Board) -> list[dict[str, Any]]:
    """Every day on the board with its status."""
    return board.service.days_list()


# -- a day's plan: solve, change by hand, re-plan, publish ---------------------------------

change_routes = APIRouter(prefix="/api/days/{day}")


@change_routes.post("/plan")
async def start_plan(day: str, request: Request, board: Board) -> Response:
    """Start planning the day in the background (202)."""
    return await _change(request, 202, lambda asked, user: board.service.start_plan(
        day, _seconds(asked), user, seen_version=asked.get("version")))


@change_routes.post("/plan/cancel")
async def cancel(day: str, request: Request, board: Board) -> Response:
    """Stop the day's planning under way."""
    return await _answer(lambda: board.service.cancel(day, _user(request)), 200)


@change_routes.get("/plan")
async def plan_state(day: str, board: Board) -> Response:
    """The day's plan: status, summary, unassigned journeys and version."""
    return await _answer(lambda: board.service.plan_answer(day), 200)


@change_routes.post("/assign")
async def assign(day: str, request: Request, board: Board) -> Response:
    """Place a journey on a vehicle's run, or 409 naming the rule that forbids it."""
    return await _change(request, 200, lambda asked, user: board.service.assign(
        day, _text(asked, "journey_id"), _text(asked, "vehicle_id"), asked.get("version"),
        user))


@change_routes.post("/unassign")
async def unassign(day: str, request: Request, board: Board) -> Response:
    """Take a journey off its run."""
    return await _change(request, 200, lambda asked, user: board.service.unassign(
        day, _text(asked, "journey_id"), asked.get("version"), user))


@change_routes.post("/lock")
async def lock(day: str, request: Request, board: Board) -> Response:
    """Lock or unlock a vehicle's run or a journey against re-planning."""
    def locked(asked: dict[str, Any], user: str) -> Any:
        vid, jid = _optional_text(asked, "vehicle_id"), _optional_text(asked, "journey_id")
        if (vid is None) == (jid is None):
            raise BadRequestError("give vehicle_id or journey_id (one, not both): a run is "
                                  "locked whole, a journey to the run it is on")
        return board.service.lock(day, asked.get("version"), _flag(asked, "locked"),
                                  user, vid, jid)

    return await _change(request, 200, locked)


@change_routes.post("/undo")
async def undo(day: str, request: Request, board: Board) -> Response:
    """Take back the last change."""
    return await _change(request, 200, lambda asked, user: board.service.undo(
        day, asked.get("version"), user))


@change_routes.post("/replan")
async def replan(day: str, request: Request, board: Board) -> Response:
    """Re-plan the day in the background (202); locked runs and journeys stay."""
    return await _change(request, 202, lambda asked, user: board.service.replan(
        day, _seconds(asked), asked.get("version"), user))


@change_routes.post("/whatif")
async def whatif(day: str, request: Request, board: Board) -> Response:
    """Where a new booking could go, without changing the plan."""
    booking = _cells(await _body(request))
    try:
        return await _answer(lambda: board.service.whatif(day, booking), 200)
    except InputError as exc:
        return JSONResponse(input_error_answer(exc), status_code=422)


@change_routes.post("/whatif/accept")
async def accept(day: str, request: Request, board: Board) -> Response:
    """Book a what-if's journey on the vehicle chosen."""
    return await _change(request, 200, lambda asked, user: board.service.accept_whatif(
        day, _text(asked, "token"), _text(asked, "vehicle_id"), asked.get("version"), user))


@change_routes.post("/publish")
async def publish(day: str, request: Request, board: Board) -> Response:
    """Publish the plan folder, as `pts solve` writes it."""
    return await _change(request, 200, lambda asked, user: board.service.publish(
        day, asked.get("version"), user))


# -- pages -------------------------------------------------------------------------------

page_routes = APIRouter()


@page_routes.get("/")
def home(request: Request, board: Board) -> HTMLResponse:
    """The days page."""
    service = board.service
    return HTMLResponse(board.pages.get_template("days.html").render(
        days=service.days_list(), session=request.state.session,
        outbox=service.outbox_plans()))


@page_routes.get("/days/{day}")
def board_page(day: str, request: Request, board: Board) -> Response:
    """A day's board: runs on a time axis, unassigned journeys, the map."""
    try:
        state, plan = board.service.plan_of(day)
    except NotFoundError:
        return HTMLResponse("no such day", status_code=404)
    view = _board_view(board.service, day, state, plan)
    return HTMLResponse(board.pages.get_template("board.html").render(
        session=request.state.session, state=state, view=view,
        progress=board.service.progress(day), data=script_json(view["map"])))


@page_routes.get("/static/{name}")
def static(name: str) -> Response:
    """The board's script, style sheet and the map library, all from the package."""
    files = {"board.js": HERE / "static" / "board.js",
             "board.css": HERE / "static" / "board.css",
             LEAFLET_JS: LEAFLET_DIR / LEAFLET_JS, LEAFLET_CSS: LEAFLET_DIR / LEAFLET_CSS}
    if name not in files:
        return PlainTextResponse("not found", status_code=404)
    return FileResponse(files[name])


async def _answer(action: Any, status: int) -> Response:
    """An action's JSON answer, worked out off the event loop."""
    response: Response = await _in_thread(_call, action, status)
    return response


async def _in_thread(function: Any, *args: Any) -> Any:
    """Engine work off the event loop: one slow change must not stall every other user."""
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(function, *args)


def _seconds(asked: dict[str, Any]) -> float:
    value = asked.get("time_limit_s", DEFAULT_PLAN_S)
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or (isinstance(value, float) and not math.isfinite(value)) or value <= 0:
        raise BadRequestError("time_limit_s must be a number of seconds above 0 (a plan "
                              f"takes at least 1 s and at most {MAX_TIME_LIMIT_S:g})")
    # An integer too large for a float is a long time: the board's longest.
    return float(min(value, MAX_TIME_LIMIT_S))


def _call(action: Any, status: int) -> Response:
    try:
        answer = action()
    except ConflictError as exc:
        return JSONResponse({"rule": exc.rule, "detail": exc.detail}, status_code=409)
    except NotPlannedError as exc:  # the day is there: the message says what to do
        return JSONResponse({"error": str(exc)}, status_code=404)
    except NotFoundError as exc:
        return JSONResponse({"error": f"not found: {exc}"}, status_code=404)
    return JSONResponse(answer if answer is not None else {"accepted": True},
                        status_code=status)


def _hardened(response: Response) -> Response:
    headers = response.headers
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "no-referrer"
    headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; frame-ancestors 'none'")
    headers["Cache-Control"] = "no-store"
    return response


def _board_view(service: Service, day: str, state: Any, plan: Any) -> dict[str, Any]:
    """What the board page shows: runs on a time axis, unassigned grouped by reason, the map."""
    if plan is None:
        return {"runs": [], "groups": [], "axis": (420, 1200), "map": {"runs": [], "open": []}}
    board = service.live(day).board
    first = min([v.shift_start_min for v in board.problem.vehicles] or [420])
    last = max([v.shift_end_min for v in board.problem.vehicles] or [1200])
    span = max(1, last - first)
    runs = []
    map_runs = []
    by_vehicle = {r.vehicle.vehicle_id: r for r in plan.rosters}
    for vehicle in board.problem.vehicles:
        vid = vehicle.vehicle_id
        roster = by_vehicle.get(vid)
        stops = []
        for stop in roster.stops if roster else ():
            if stop.event.value in ("start", "end"):
                continue
            jid = stop.journey.journey_id if stop.journey else ""
            stops.append({"event": stop.event.value, "journey_id": jid,
                          "at": stop.service_start_min,
                          "left_pct": round(100 * (stop.service_start_min - first) / span, 2),
                          "locked": jid in state.locked_journeys,
                          "on_board": stop.seats_used + stop.wheelchairs_used
                          + stop.stretchers_used})
        runs.append({"vehicle_id": vid, "type": vehicle.vehicle_type,
                     "shift": (vehicle.shift_start_min, vehicle.shift_end_min),
                     "shift_left_pct": round(100 * (vehicle.shift_start_min - first) / span, 2),
                     "shift_width_pct": round(100 * vehicle.shift_length_min / span, 2),
                     "locked": vid in state.locked_vehicles, "stops": stops})
        if roster:
            map_runs.append({"vehicle_id": vid, "points": [
                [s.lat, s.lon, s.event.value, s.journey.journey_id if s.journey else ""]
                for s in roster.stops]})
    groups: dict[str, list[dict[str, str]]] = {}
    where = {j.journey_id: r.vehicle.vehicle_id for r in plan.rosters for j in r.journeys}
    by_patient: dict[str, list[str]] = {}
    for journey in board.problem.journeys:
        by_patient.setdefault(journey.patient_id, []).append(journey.journey_id)
    for u in plan.unassigned:
        others = [f"{jid} ({where.get(jid, 'unassigned')})"
                  for jid in by_patient[u.journey.patient_id] if jid != u.journey.journey_id]
        groups.setdefault(str(u.reason), []).append({
            "together": ", ".join(others),
            "journey_id": u.journey.journey_id, "patient_id": u.journey.patient_id,
            "detail": u.detail, "fix": u.fix,
            "window": f"{format_clock(u.journey.pickup_window.earliest_min)}-"
                      f"{format_clock(u.journey.dropoff_window.latest_min)}"})
    for items in groups.values():  # a patient's journeys side by side (round trips)
        items.sort(key=lambda item: (item["patient_id"], item["window"]))
    opens = [{"journey_id": u.journey.journey_id,
              "from": [u.journey.pickup.lat, u.journey.pickup.lon],
              "to": [u.journey.dropoff.lat, u.journey.dropoff.lon]} for u in plan.unassigned]
    sites = [[site.name, site.lat, site.lon, site.kind] for site in board.problem.sites.values()]
    return {"runs": runs, "groups": sorted(groups.items()), "axis": (first, last),
            "map": {"runs": map_runs, "open": opens, "version": state.version, "day": day,
                    "sites": sites, **_towns()}}


@functools.cache
def _towns() -> dict[str, list[list[object]]]:
    """Town names and district labels for a map without tiles (data/settlements.csv)."""
    towns: list[list[object]] = []
    by_district: dict[str, list[tuple[float, float]]] = {}
    with (data_dir() / "settlements.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            lat, lon = float(row["lat"]), float(row["lon"])
            towns.append([row["name"], lat, lon])
            by_district.setdefault(row["district"], []).append((lat, lon))
    districts: list[list[object]] = [
        [name, sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points)]
        for name, points in sorted(by_district.items())]
    return {"towns": towns, "districts": districts}


def serve_board(data_dir: Path, outbox: Path | None, host: str, port: int) -> None:
    """Serve the board until interrupted (`pts serve`)."""
    import uvicorn

    listening = listen(host, port)
    config = uvicorn.Config(create_app(data_dir, outbox), host=host, port=port,
                            proxy_headers=True, forwarded_allow_ips="127.0.0.1",
                            log_level="warning")
    uvicorn.Server(config).run(sockets=[listening])


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to host:port for the server; UsageError naming why it cannot be.

    Left to the server, a port in use ended the command with exit 3, which means a plan
    that breaks a rule everywhere else (README, "Exit codes").
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise UsageError(f"--host {host}: not an address this machine can listen on "
                         f"({exc.strerror}); give an address or name it has") from None
    bound = socket.socket(family, kind, proto)
    bound.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        bound.bind(address)
    except OSError as exc:
        bound.close()
        why = {errno.EADDRINUSE: "it is in use (another pts serve?): stop that, or choose "
                                 "another --port",
               errno.EACCES: "ports below 1024 need privileges: choose --port 1024 or above",
               errno.EADDRNOTAVAIL: "it is not an address of this machine: check --host"}
        raise UsageError(f"cannot listen on {host}:{port}: "
                         + why.get(exc.errno or 0, exc.strerror or str(exc))) from None
    bound.set_inheritable(True)
    return bound
