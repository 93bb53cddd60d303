"""The coordinators' planning board over HTTP (FastAPI): the only module with the framework.

The machine-facing part keeps to ../shared/spec/web-api.md; the pages are rendered here
on the server (Jinja2, autoescaped) with a little JavaScript, every asset served from the
package (no network). Sessions live in the server's memory: a restart signs everyone out.
"""

from __future__ import annotations

import csv
import functools
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
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

from pts_optimiser.domain.clock import format_clock
from pts_optimiser.domain.diagnostics import InputError
from pts_optimiser.domain.resources import data_dir
from pts_optimiser.domain.safe import script_json
from pts_optimiser.services.web.service import (
    ConflictError,
    NotFoundError,
    Service,
    input_error_answer,
)
from pts_optimiser.services.web.store import Accounts
from pts_optimiser.views.maps import LEAFLET_CSS, LEAFLET_DIR, LEAFLET_JS

HERE = Path(__file__).resolve().parent
COOKIE = "pts_session"
SESSION_IDLE_S = 8 * 3600
OPEN_PATHS = ("/healthz", "/login")
DEFAULT_PLAN_S = 60.0


@dataclass
class Session:
    """A signed-in user."""

    user: str
    role: str
    csrf: str
    seen: float


class _Sessions:
    def __init__(self) -> None:
        self.by_token: dict[str, Session] = {}

    def new(self, user: str, role: str) -> str:
        token = secrets.token_urlsafe(32)
        self.by_token[token] = Session(user, role, secrets.token_urlsafe(32), time.monotonic())
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


def _is_api(path: str) -> bool:
    return path.startswith("/api/")


def create_app(data: Path, outbox: Path | None = None) -> FastAPI:
    """The board's app over a data folder (and the nightly outbox, to open its plans)."""
    app = FastAPI(title="pts planning board", docs_url=None, redoc_url=None, openapi_url=None)
    accounts = Accounts(data)
    service = Service(data, outbox)
    sessions = _Sessions()
    pages = Environment(loader=FileSystemLoader(HERE / "templates"),
                        autoescape=select_autoescape(["html"]))
    pages.filters["clock"] = format_clock
    pages.filters["script_json"] = script_json
    app.state.service = service

    @app.middleware("http")
    async def signed_in(request: Request, call_next: Any) -> Response:
        path = request.url.path
        if path in OPEN_PATHS:
            response: Response = await call_next(request)
            return _hardened(response)
        session = sessions.get(request.cookies.get(COOKIE))
        if session is None:
            if _is_api(path) or request.method != "GET":
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

    def user(request: Request) -> str:
        return str(request.state.session.user)

    async def body(request: Request) -> dict[str, Any]:
        try:
            value = await request.json()
        except (ValueError, UnicodeDecodeError):
            return {}
        return value if isinstance(value, dict) else {}

    # -- open ------------------------------------------------------------------------------

    @app.get("/healthz")
    def healthz() -> PlainTextResponse:
        return PlainTextResponse("ok")

    @app.get("/login")
    def login_page() -> HTMLResponse:
        return HTMLResponse(pages.get_template("login.html").render(failed=False))

    @app.post("/login")
    async def login(request: Request) -> Response:
        form = await request.form()
        name, password = str(form.get("username", "")), str(form.get("password", ""))
        role = accounts.verify(name, password)
        if role is None:
            return HTMLResponse(pages.get_template("login.html").render(failed=True),
                                status_code=401)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, sessions.new(name, role), httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", path="/")
        return response

    # -- signed in -------------------------------------------------------------------------

    @app.post("/logout")
    def logout(request: Request) -> Response:
        sessions.by_token.pop(request.cookies.get(COOKIE, ""), None)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    @app.get("/api/session")
    def session_info(request: Request) -> dict[str, str]:
        s = request.state.session
        return {"user": s.user, "role": s.role, "csrf_token": s.csrf}

    @app.post("/api/days")
    async def upload(request: Request) -> Response:
        form = await request.form()
        files: dict[str, bytes] = {}
        for key in ("bookings", "fleet", "sites", "config"):
            item = form.get(key)
            if isinstance(item, UploadFile) and item.filename:
                files[key] = await item.read()
        date = str(form.get("date", "")) or None
        if "bookings" not in files or "fleet" not in files:
            missing = [k for k in ("bookings", "fleet") if k not in files]
            return JSONResponse({"findings": [
                {"file": k, "row": None, "column": None, "code": "missing_file",
                 "message": f"no {k} file was sent", "hint": f"choose the day's {k} CSV"}
                for k in missing]}, status_code=422)
        try:
            answer = await _in_thread(service.upload, files, user(request), date)
        except InputError as exc:
            return JSONResponse(input_error_answer(exc), status_code=422)
        return JSONResponse(answer, status_code=201)

    @app.get("/api/outbox")
    def outbox_plans() -> list[str]:
        return service.outbox_plans()

    @app.post("/api/outbox/open")
    async def open_outbox(request: Request) -> Response:
        asked = await body(request)
        try:
            return await _answer(lambda: service.open_outbox(str(asked.get("plan", "")),
                                                             user(request)), 201)
        except InputError as exc:
            return JSONResponse(input_error_answer(exc), status_code=422)

    @app.get("/api/days")
    def days() -> list[dict[str, Any]]:
        return service.days_list()

    @app.post("/api/days/{day}/plan")
    async def plan(day: str, request: Request) -> Response:
        asked = await body(request)
        return await _answer(lambda: service.start_plan(day, _seconds(asked), user(request)),
                             202)

    @app.post("/api/days/{day}/plan/cancel")
    async def cancel(day: str, request: Request) -> Response:
        return await _answer(lambda: service.cancel(day, user(request)), 200)

    @app.get("/api/days/{day}/plan")
    async def plan_state(day: str) -> Response:
        return await _answer(lambda: service.plan_answer(day), 200)

    @app.post("/api/days/{day}/assign")
    async def assign(day: str, request: Request) -> Response:
        asked = await body(request)
        return await _answer(lambda: service.assign(
            day, str(asked.get("journey_id", "")), str(asked.get("vehicle_id", "")),
            asked.get("version"), user(request)), 200)

    @app.post("/api/days/{day}/unassign")
    async def unassign(day: str, request: Request) -> Response:
        asked = await body(request)
        return await _answer(lambda: service.unassign(
            day, str(asked.get("journey_id", "")), asked.get("version"), user(request)), 200)

    @app.post("/api/days/{day}/lock")
    async def lock(day: str, request: Request) -> Response:
        asked = await body(request)
        vid, jid = asked.get("vehicle_id"), asked.get("journey_id")
        return await _answer(lambda: service.lock(
            day, asked.get("version"), bool(asked.get("locked", True)), user(request),
            str(vid) if vid is not None else None, str(jid) if jid is not None else None), 200)

    @app.post("/api/days/{day}/undo")
    async def undo(day: str, request: Request) -> Response:
        asked = await body(request)
        return await _answer(lambda: service.undo(day, asked.get("version"), user(request)), 200)

    @app.post("/api/days/{day}/replan")
    async def replan(day: str, request: Request) -> Response:
        asked = await body(request)
        return await _answer(lambda: service.replan(
            day, _seconds(asked), asked.get("version"), user(request)), 202)

    @app.post("/api/days/{day}/whatif")
    async def whatif(day: str, request: Request) -> Response:
        asked = await body(request)
        booking = asked.get("booking")
        if not isinstance(booking, dict):
            return JSONResponse({"error": "give the new booking's cells as \"booking\""},
                                status_code=422)
        try:
            return await _answer(lambda: service.whatif(day, booking), 200)
        except InputError as exc:
            return JSONResponse(input_error_answer(exc), status_code=422)

    @app.post("/api/days/{day}/whatif/accept")
    async def accept(day: str, request: Request) -> Response:
        asked = await body(request)
        return await _answer(lambda: service.accept_whatif(
            day, str(asked.get("token", "")), str(asked.get("vehicle_id", "")),
            asked.get("version"), user(request)), 200)

    @app.post("/api/days/{day}/publish")
    async def publish(day: str, request: Request) -> Response:
        asked = await body(request)
        return await _answer(lambda: service.publish(day, asked.get("version"), user(request)),
                             200)

    # -- pages -----------------------------------------------------------------------------

    @app.get("/")
    def home(request: Request) -> HTMLResponse:
        s = request.state.session
        return HTMLResponse(pages.get_template("days.html").render(
            days=service.days_list(), session=s, outbox=service.outbox_plans()))

    @app.get("/days/{day}")
    def board_page(day: str, request: Request) -> Response:
        try:
            state, plan = service.plan_of(day)
        except NotFoundError:
            return HTMLResponse("no such day", status_code=404)
        s = request.state.session
        view = _board_view(service, day, state, plan)
        return HTMLResponse(pages.get_template("board.html").render(
            session=s, state=state, view=view, progress=service.progress(day),
            data=script_json(view["map"])))

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        files = {"board.js": HERE / "static" / "board.js",
                 "board.css": HERE / "static" / "board.css",
                 LEAFLET_JS: LEAFLET_DIR / LEAFLET_JS, LEAFLET_CSS: LEAFLET_DIR / LEAFLET_CSS}
        if name not in files:
            return PlainTextResponse("not found", status_code=404)
        return FileResponse(files[name])

    return app


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
    return float(value) if isinstance(value, int | float) else DEFAULT_PLAN_S


def _call(action: Any, status: int) -> Response:
    try:
        answer = action()
    except ConflictError as exc:
        return JSONResponse({"rule": exc.rule, "detail": exc.detail}, status_code=409)
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

    uvicorn.run(create_app(data_dir, outbox), host=host, port=port, proxy_headers=True,
                forwarded_allow_ips="127.0.0.1", log_level="warning")
