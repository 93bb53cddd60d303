"""What the board does to a day, framework-free: upload, plan, change by hand, publish.

Every change is made under the day's lock on the version it was asked on; a change asked
on an older version is refused (`ConflictError("stale_version")`), never merged.
"""

from __future__ import annotations

import csv
import hashlib
import io
import shutil
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pts_optimiser.domain.config import Config, load_config
from pts_optimiser.domain.diagnostics import Code, Finding, InputError, Severity, error
from pts_optimiser.domain.exits import PlanRejectedError
from pts_optimiser.domain.plan import Event, Plan, Reason
from pts_optimiser.domain.problem import Place
from pts_optimiser.engine.strategies import least_start_s
from pts_optimiser.io.parse import Inputs, read_problem
from pts_optimiser.io.planfolder import input_paths
from pts_optimiser.services.publish import write_plan
from pts_optimiser.services.web import worker
from pts_optimiser.services.web.engine import (
    DayBoard,
    Placement,
    Step,
    unassigned_by_hand,
    with_journey_removed,
)
from pts_optimiser.services.web.store import Audit, Days, DayState, _private_dir, write_private
from pts_optimiser.views.writers import summary

INPUT_NAMES = ("bookings", "fleet", "sites", "config")
MAX_TIME_LIMIT_S = 3600.0
MAX_OFFERS = 20  # what-if offers kept for accepting, across days


class ConflictError(Exception):
    """A change refused: the rule (a feasibility rule, stale_version, locked, planning)."""

    def __init__(self, rule: str, detail: str = "") -> None:
        super().__init__(rule)
        self.rule = rule
        self.detail = detail


class NotFoundError(Exception):
    """No such day, journey or vehicle."""


class NotPlannedError(NotFoundError):
    """A day with no plan to show: never planned, or its first planning cancelled or lost.

    Its message says so and how to plan it (web-api.md's statuses are planning, planned
    and failed: until the thirty-sixth stop such a day was "status": "none").
    """


@dataclass
class _Live:
    board: DayBoard
    lock: threading.RLock


@dataclass(frozen=True)
class _Offer:
    """A what-if kept for accepting: the day's bookings with the new row, as they were."""

    day: str
    bookings: Path  # the day's bookings file with the new row, staged
    board: DayBoard
    journey_id: str
    digest: str  # of the day's bookings the offer was made from


def _finding(f: Finding) -> dict[str, object]:
    # The reader words its findings for the command line; the board's day is chosen in the
    # upload's `date` field (the page's "Service date"), not with --date.
    # A policy's findings name a setting (`key`) where a table's name a row and column.
    return {"file": "date" if f.file == "command line" else Path(f.file).name, "row": f.row,
            "column": f.column, "key": f.key, "code": str(f.code),
            "message": _on_board(f.message), "hint": _on_board(f.hint),
            "severity": str(f.severity)}


def _on_board(text: str) -> str:
    return text.replace("--date", "the upload's service date")


def _steps(run: list[list[str]]) -> tuple[Step, ...]:
    return tuple((kind, key) for kind, key in run)


class Service:
    """The days of one data folder, as the web app and its tests use them."""

    def __init__(self, data: Path, outbox: Path | None = None) -> None:
        self.data = data
        self.outbox = outbox
        self.days = Days(data)
        self.audit = Audit(data)
        self._live: dict[str, _Live] = {}
        self._running: dict[str, worker.Running] = {}
        self._guard = threading.Lock()
        self._offers: dict[str, _Offer] = {}
        self._recover()

    def _recover(self) -> None:
        """What a stopped server left: days marked planning with no solve, staged files.

        A solve runs in a child of the server and dies with it; left as it was, the day
        would refuse every change ("being planned") and have nothing to cancel.
        """
        for state in self.days.all():
            if state.status == "planning":
                kept = bool(state.runs or state.unassigned)
                state.status = "planned" if kept else "uploaded"
                state.message = ("planning stopped when the board was restarted"
                                 + ("; the plan before it is kept" if kept else "")
                                 + ": plan again")
                self.days.save(state)
        # Uploads part-way and what-if offers live in memory only: their files are orphans.
        shutil.rmtree(self.data / "tmp", ignore_errors=True)

    # -- days ------------------------------------------------------------------------------

    def upload(self, files: Mapping[str, bytes], user: str, service_date: str | None = None,
               *, operators_policy: bool = False) -> dict[str, Any]:
        """Store a day whose files read cleanly; InputError (nothing kept) otherwise.

        A policy uploaded may not set what is the operator's (`_operators_only`); one from the
        nightly's outbox (`operators_policy`) was written by whoever runs the board.
        """
        staging = _private_dir(self.data / "tmp") / f"upload-{time.monotonic_ns()}"
        inputs_dir = _private_dir(staging / "inputs")
        names: dict[str, str] = {}
        try:
            for key in INPUT_NAMES:
                if key in files:
                    name = f"{key}.toml" if key == "config" else f"{key}.csv"
                    (inputs_dir / name).write_bytes(files[key])
                    (inputs_dir / name).chmod(0o600)
                    names[key] = name
            inputs = self._inputs(inputs_dir, names)
            config = load_config(inputs.config)
            if not operators_policy:
                _operators_only(config, inputs.config)
            problem, warnings = read_problem(inputs, config, service_date)
            if not problem.journeys:
                raise InputError([error(
                    Code.BAD_DATE, "bookings.csv",
                    f"no booking is for {problem.service_date or 'the day'}: there is nothing "
                    "to plan", "choose the service date of the bookings in the file, or upload "
                    "that day's bookings", None, "service_date")])
            day = self.days.new_id(problem.service_date)
            folder = self.days.folder(day)
            _private_dir(folder.parent)
            staging.rename(folder)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        state = DayState(day, problem.service_date, len(problem.journeys),
                         len(problem.vehicles), names)
        self.days.save(state)
        self.audit.record(user, "upload", day=day)
        return {"day": day, "journeys": state.journeys, "vehicles": state.vehicles,
                "warnings": [_finding(w) for w in warnings
                             if w.severity is Severity.WARNING]}

    @staticmethod
    def _inputs(folder: Path, names: Mapping[str, str]) -> Inputs:
        if "bookings" not in names or "fleet" not in names:
            raise ValueError("bookings and fleet are both needed")
        return Inputs(folder / names["bookings"], folder / names["fleet"],
                      folder / names["sites"] if "sites" in names else None,
                      folder / names["config"] if "config" in names else None)

    def inputs_of(self, state: DayState) -> Inputs:
        """The stored files of a day."""
        return self._inputs(self.days.folder(state.day) / "inputs", state.inputs)

    def state(self, day: str) -> DayState:
        """A day's state; NotFoundError when there is none."""
        try:
            return self.days.load(day)
        except (KeyError, FileNotFoundError) as exc:
            raise NotFoundError(day) from exc

    def live(self, day: str) -> _Live:
        """The day's problem and exact checks, read once and kept."""
        with self._guard:
            if day not in self._live:
                state = self.state(day)
                inputs = self.inputs_of(state)
                problem, _ = read_problem(inputs, load_config(inputs.config),
                                          state.service_date or None)
                self._live[day] = _Live(DayBoard(problem), threading.RLock())
            return self._live[day]

    def days_list(self) -> list[dict[str, Any]]:
        """Every day, for GET /api/days."""
        return [{"day": s.day, "service_date": s.service_date, "journeys": s.journeys,
                 "status": s.status} for s in self.days.all()]

    # -- planning --------------------------------------------------------------------------

    def start_plan(self, day: str, time_limit_s: float, user: str, replan_version: int | None
                   = None, seen_version: object = None) -> None:
        """Plan the day afresh, or re-plan the rest from its runs, in a spawned process.

        Either way every lock holds: a locked run stays as it is and a locked journey on its
        run. (Before 2026-12-07 a plan afresh ignored the locks and left them naming runs
        the journeys were no longer on, so the next re-plan moved them back.) A plan afresh
        given the version its page saw is refused if the plan has changed since
        (`stale_version`), as every change is: from a stale page it replaced another
        coordinator's changes until the thirty-fifth stop. Without one (web-api.md's body
        is the time limit alone) it plans whatever the day holds.
        """
        live = self.live(day)
        with live.lock:
            state = self.state(day)
            if state.status == "planning":
                raise ConflictError("planning", "the day is being planned; wait or cancel it")
            if replan_version is not None:
                self._check_version(state, replan_version)
            elif seen_version is not None:
                self._check_version(state, seen_version)
            inputs = self.inputs_of(state)
            # Never less than the search needs to start: below it the day would be built
            # one journey at a time, and a re-plan would take crews off what they had.
            least = least_start_s(len(live.board.journeys), len(live.board.vehicles))
            limit = min(max(1.0, least, float(time_limit_s)), MAX_TIME_LIMIT_S)
            locked_out = [key for vid in state.locked_vehicles
                          for kind, key in state.runs.get(vid, []) if kind == "pickup"]
            warm = {vid: [(kind, key, self._place(live.board, vid, kind, key))
                          for kind, key in run]
                    for vid, run in state.runs.items()
                    if vid not in state.locked_vehicles} if replan_version is not None else {}
            job = worker.SolveJob(
                str(inputs.bookings), str(inputs.fleet),
                str(inputs.sites) if inputs.sites else None,
                str(inputs.config) if inputs.config else None,
                state.service_date or None, limit, tuple(state.locked_vehicles),
                tuple(locked_out), dict(state.locked_journeys), worker.wire_runs(warm))
            before = state.status
            state.status, state.message = "planning", ""
            self.days.save(state)
            self._running[day] = worker.start(
                job, lambda result: self._finished(day, result, before))
            self._running[day].locked = len(locked_out)
        self.audit.record(user, "replan" if replan_version is not None else "plan", day=day,
                          time_limit_s=limit)

    @staticmethod
    def _place(board: DayBoard, vid: str, kind: str, key: str) -> Place:
        if kind == "break":
            return board.break_sites[vid][int(key)]
        journey = board.journeys[key]
        return journey.pickup if kind == "pickup" else journey.dropoff

    def _finished(self, day: str, result: tuple[Any, ...] | None, before: str) -> None:
        live = self.live(day)
        with live.lock:
            self._running.pop(day, None)
            state = self.state(day)
            if result is None:
                state.status = before if before != "planning" else "uploaded"
                state.message = "planning was cancelled"
            elif result[0] == "error":  # a re-plan that failed leaves the plan it started from
                state.status = "planned" if before == "planned" else "failed"
                state.message = f"planning failed ({result[1]})"
            else:
                _, runs, unassigned, search, seconds = result
                try:
                    self._take(live.board, state, runs, unassigned)
                    state.search, state.solve_seconds = search, seconds
                    state.status, state.message = "planned", ""
                except ConflictError as exc:
                    state.status = before if before == "planned" else "failed"
                    state.message = exc.detail
            self.days.save(state)

    def _take(self, board: DayBoard, state: DayState, runs: dict[str, worker.WireRun],
              unassigned: list[tuple[str, str, str, str]]) -> None:
        new_runs: dict[str, list[list[str]]] = {}
        for vid, stops in runs.items():
            timed = board.run_of(vid, stops)
            if timed is None:
                raise ConflictError("internal", f"run {vid} from the solver failed the exact check")
            new_runs[vid] = [list(step) for step in timed]
        for vid in state.locked_vehicles:
            new_runs[vid] = state.runs.get(vid, [])
        for jid, vid in state.locked_journeys.items():
            if ["pickup", jid] not in new_runs.get(vid, []):
                raise ConflictError("locked", f"the plan could not keep journey {jid} on "
                                    f"{vid}; the plan before it is kept")
        if state.runs or state.unassigned:
            state.push_undo()  # a plan made afresh replaces changes made by hand
        state.runs = new_runs
        state.unassigned = {jid: [reason, detail, fix]
                            for jid, reason, detail, fix in unassigned}
        state.version += 1

    def cancel(self, day: str, user: str) -> None:
        """Stop the day's solve; the plan before it stays."""
        self.state(day)  # NotFoundError for a day that is not on the board
        running = self._running.get(day)
        if running is None:
            raise ConflictError("not_planning", "the day is not being planned")
        worker.cancel(running)
        self.audit.record(user, "cancel", day=day)

    def stop_solves(self) -> None:
        """Stop every solve under way (the server is stopping); their days say so on start."""
        for running in list(self._running.values()):
            worker.cancel(running)

    def progress(self, day: str) -> dict[str, Any] | None:
        """Journeys planned so far and seconds left, while planning."""
        running = self._running.get(day)
        if running is None:
            return None
        return {"planned": running.planned + running.locked,
                "time_left_s": round(running.left_s, 1)}

    # -- reading the plan ------------------------------------------------------------------

    def plan_of(self, day: str) -> tuple[DayState, Plan | None]:
        """The state and, once planned, the working plan."""
        live = self.live(day)
        with live.lock:
            state = self.state(day)
            if not state.runs and not state.unassigned:
                return state, None
            plan = live.board.plan({vid: _steps(run) for vid, run in state.runs.items()},
                                   {jid: (r[0], r[1], r[2]) for jid, r in state.unassigned.items()},
                                   state.solve_seconds, state.search)
            return state, plan

    def plan_answer(self, day: str) -> dict[str, Any]:
        """GET /api/days/ID/plan."""
        state, plan = self.plan_of(day)
        if plan is None and state.status not in ("planning", "failed"):
            why = f" ({state.message})" if state.message else ""
            raise NotPlannedError(f"day {day} has no plan yet{why}: plan it with POST "
                                  f'/api/days/{day}/plan {{"time_limit_s": 60}}, or Plan '
                                  "the day on its page")
        # Where the published folder holds its inputs, as summary.json says.
        figures = {**summary(plan), "inputs": input_paths()} if plan else {}
        return {"status": state.status, "summary": figures,
                "unassigned": [{"journey_id": u.journey.journey_id, "reason": str(u.reason),
                                "detail": u.detail} for u in (plan.unassigned if plan else ())],
                "version": state.version, "message": state.message,
                "progress": self.progress(day)}

    # -- changes by hand -------------------------------------------------------------------

    @staticmethod
    def _check_version(state: DayState, version: object) -> None:
        if isinstance(version, bool) or not isinstance(version, int) or version != state.version:
            raise ConflictError("stale_version", f"the plan is at version {state.version}; "
                           "reload the board and make the change again")

    def _changing(self, day: str, version: object) -> tuple[_Live, DayState]:
        live = self.live(day)
        state = self.state(day)
        if state.status == "planning":
            raise ConflictError("planning", "the day is being planned; wait or cancel it")
        self._check_version(state, version)
        if not state.runs and not state.unassigned:
            raise ConflictError("not_planned", "plan the day first")
        return live, state

    def _run_of(self, state: DayState, journey_id: str) -> str | None:
        return next((vid for vid, run in state.runs.items() if ["pickup", journey_id] in run),
                    None)

    def try_assign(self, day: str, journey_id: str, vehicle_id: str) -> Placement:
        """Where the journey would go on the run (no change made); ConflictError naming the rule."""
        live = self.live(day)
        with live.lock:
            state = self.state(day)
            return self._placement(live, state, journey_id, vehicle_id)

    def _placement(self, live: _Live, state: DayState, journey_id: str,
                   vehicle_id: str) -> Placement:
        board = live.board
        if journey_id not in board.journeys:
            raise NotFoundError(journey_id)
        if vehicle_id not in board.vehicles:
            raise NotFoundError(vehicle_id)
        if vehicle_id in state.locked_vehicles:
            raise ConflictError("locked", f"run {vehicle_id} is locked; unlock it first")
        current = self._run_of(state, journey_id)
        if current is not None and (journey_id in state.locked_journeys
                                    or current in state.locked_vehicles):
            raise ConflictError("locked", f"journey {journey_id} is locked to {current}")
        if current == vehicle_id:
            raise ConflictError("already_there", f"journey {journey_id} is already on {vehicle_id}")
        back = _return_of(board, journey_id)
        if back is not None and current is None and self._run_of(state, back) is None:
            raise ConflictError("round_trip", f"journey {journey_id} takes its patient "
                                f"somewhere and their return, journey {back}, is on no run: "
                                "place the return first, so nobody is left there")
        run = _steps(state.runs.get(vehicle_id, []))
        found = board.place(vehicle_id, run, journey_id)
        if not isinstance(found, Placement):
            raise ConflictError(found.rule, found.detail)
        return found

    def assign(self, day: str, journey_id: str, vehicle_id: str, version: object,
               user: str) -> dict[str, Any]:
        """Put a journey on a run (moving it from another run if it is on one)."""
        live = self.live(day)
        with live.lock:
            live, state = self._changing(day, version)
            placed = self._placement(live, state, journey_id, vehicle_id)
            state.push_undo()
            current = self._run_of(state, journey_id)
            if current is not None:
                state.runs[current] = [list(s) for s in with_journey_removed(
                    _steps(state.runs[current]), journey_id)]
            state.runs[vehicle_id] = [list(s) for s in placed.steps]
            state.unassigned.pop(journey_id, None)
            state.version += 1
            self.days.save(state)
        self.audit.record(user, "assign", day=day, journey_id=journey_id, vehicle_id=vehicle_id,
                          version=state.version)
        stops = {s.event: s for s in placed.roster.stops
                 if s.journey is not None and s.journey.journey_id == journey_id}
        return {"version": state.version, "journey_id": journey_id, "vehicle_id": vehicle_id,
                "pickup_min": stops[Event.PICKUP].service_start_min,
                "dropoff_min": stops[Event.DROPOFF].service_start_min,
                "added_km": round(placed.added_m / 1000, 1)}

    def unassign(self, day: str, journey_id: str, version: object, user: str) -> dict[str, Any]:
        """Take a journey off its run."""
        live = self.live(day)
        with live.lock:
            live, state = self._changing(day, version)
            if journey_id not in live.board.journeys:  # unknown: 404, not "on no run"
                raise NotFoundError(journey_id)
            current = self._run_of(state, journey_id)
            if current is None:
                raise ConflictError("not_assigned", f"journey {journey_id} is on no run")
            if journey_id in state.locked_journeys or current in state.locked_vehicles:
                raise ConflictError("locked", f"journey {journey_id} is locked to {current}")
            outward = live.board.journeys[journey_id].return_of
            if (outward is not None and _return_of(live.board, outward) == journey_id
                    and self._run_of(state, outward) is not None):
                raise ConflictError("round_trip", f"journey {journey_id} brings its patient "
                                    f"back from journey {outward}, which is on a run: take "
                                    f"{outward} off first, so nobody is left there")
            run = with_journey_removed(_steps(state.runs[current]), journey_id)
            if any(k == "pickup" for k, _ in run) and live.board.roster(current, run) is None:
                raise ConflictError("several_rules", f"{current}'s run without it breaks a rule")
            state.push_undo()
            state.runs[current] = [list(s) for s in run]
            reason, detail, fix = unassigned_by_hand(live.board.journeys[journey_id])
            state.unassigned[journey_id] = [reason, detail, fix]
            state.version += 1
            self.days.save(state)
        self.audit.record(user, "unassign", day=day, journey_id=journey_id,
                          vehicle_id=current, version=state.version)
        return {"version": state.version}

    def lock(self, day: str, version: object, locked: bool, user: str,
             vehicle_id: str | None = None, journey_id: str | None = None) -> dict[str, Any]:
        """Lock or unlock a whole run, or one journey to the run it is on."""
        live = self.live(day)
        with live.lock:
            live, state = self._changing(day, version)
            state.push_undo()
            if vehicle_id is not None:
                if vehicle_id not in live.board.vehicles:
                    raise NotFoundError(vehicle_id)
                others = [v for v in state.locked_vehicles if v != vehicle_id]
                state.locked_vehicles = [*others, vehicle_id] if locked else others
            elif journey_id is not None:
                if journey_id not in live.board.journeys:
                    raise NotFoundError(journey_id)
                current = self._run_of(state, journey_id)
                if current is None:
                    raise ConflictError("not_assigned", f"journey {journey_id} is on no run")
                if locked:
                    state.locked_journeys[journey_id] = current
                else:
                    state.locked_journeys.pop(journey_id, None)
            else:
                raise NotFoundError("vehicle_id or journey_id")
            state.version += 1
            self.days.save(state)
        self.audit.record(user, "lock" if locked else "unlock", day=day,
                          vehicle_id=vehicle_id, journey_id=journey_id, version=state.version)
        return {"version": state.version}

    def undo(self, day: str, version: object, user: str) -> dict[str, Any]:
        """Put back the plan as it was before the last change."""
        live = self.live(day)
        with live.lock:
            live, state = self._changing(day, version)
            if not state.undo:
                raise ConflictError("nothing_to_undo", "no change to undo")
            before = state.undo.pop()
            state.runs, state.unassigned = before["runs"], before["unassigned"]
            state.locked_vehicles = before["locked_vehicles"]
            state.locked_journeys = before["locked_journeys"]
            # A booking added since (a what-if accepted) stays in the day's bookings: undone,
            # its placement goes, and it is listed, never lost from the plan.
            placed = {key for run in state.runs.values() for kind, key in run
                      if kind == "pickup"}
            for jid in live.board.journeys:
                if jid not in placed and jid not in state.unassigned:
                    state.unassigned[jid] = [str(Reason.NO_PLAN_FOUND),
                                             "added on the planning board; the change that "
                                             "placed it was undone",
                                             "assign it to a run on the board, or re-plan "
                                             "the rest"]
                    self._outward_taken_off(live, state, jid)
            state.version += 1
            self.days.save(state)
        self.audit.record(user, "undo", day=day, version=state.version)
        return {"version": state.version}

    def _outward_taken_off(self, live: _Live, state: DayState, back: str) -> None:
        """An undone return's outward journey taken off its run too: nobody left there.

        The round-trip rule, as a re-plan keeps it: until the thirty-fifth stop undoing an
        accepted return left its patient taken to hospital with no ride back, and the day
        could not be published (409 check_failed).
        """
        outward = live.board.journeys[back].return_of
        if outward is None or _return_of(live.board, outward) != back:
            return
        current = self._run_of(state, outward)
        if current is None:
            return
        if outward in state.locked_journeys or current in state.locked_vehicles:
            raise ConflictError("round_trip", f"undoing takes {back} off its run, and "
                                f"{outward}, which takes the patient there, is locked to "
                                f"{current}: unlock it, or undo nothing")
        run = with_journey_removed(_steps(state.runs[current]), outward)
        if any(k == "pickup" for k, _ in run) and live.board.roster(current, run) is None:
            raise ConflictError("several_rules", f"undoing takes {back} off its run, and "
                                f"{current}'s run without {outward} breaks a rule")
        state.runs[current] = [list(s) for s in run]
        state.unassigned[outward] = [str(Reason.RETURN_NOT_PLANNABLE),
                                     f"its return, {back}, lost its run when the change that "
                                     "placed it was undone; nobody is taken there to be left "
                                     "there", f"assign {outward} and {back} to runs on the "
                                     "board, or re-plan the rest"]

    def replan(self, day: str, time_limit_s: float, version: object, user: str) -> None:
        """Re-plan the rest around every lock."""
        state = self.state(day)
        if not isinstance(version, int):
            raise ConflictError("stale_version", "a version is needed")
        if not state.runs and not state.unassigned:
            raise ConflictError("not_planned", "plan the day first")
        self.start_plan(day, time_limit_s, user, replan_version=version)

    # -- the nightly outbox -------------------------------------------------------------

    def outbox_plans(self) -> list[str]:
        """The dated plan folders in the nightly outbox (`OUTBOX/<date>/`)."""
        if self.outbox is None or not self.outbox.is_dir():
            return []
        return sorted((p.name for p in self.outbox.iterdir()
                       if p.is_dir() and not p.name.startswith(".")
                       and not p.name.endswith(".previous")
                       and (p / "summary.json").is_file() and (p / "rosters.csv").is_file()),
                      reverse=True)

    def open_outbox(self, name: str, user: str) -> dict[str, Any]:
        """A new day from a nightly plan folder: its own inputs, its runs as the working plan."""
        from pts_optimiser.io.planfolder import plan_inputs, plan_service_date, read_plan

        if name not in self.outbox_plans():
            raise NotFoundError(name)
        assert self.outbox is not None
        folder = self.outbox / name
        inputs = plan_inputs(folder)
        # The plan read and judged before anything is stored: a refused one stored a day,
        # its patients' data and an upload in the audit until the thirty-fifth stop.
        problem, _ = read_problem(inputs, load_config(inputs.config), plan_service_date(folder))
        judge = DayBoard(problem)
        plan = read_plan(problem, folder)
        runs = {}
        for roster in plan.rosters:
            vid = roster.vehicle.vehicle_id
            steps = judge.steps_of(roster)
            if steps is None:
                raise ConflictError("several_rules", f"run {vid} of the nightly plan fails "
                                    "the board's check (was it timed by a road server?)")
            runs[vid] = steps
        files = {key: path.read_bytes() for key, path in (
            ("bookings", inputs.bookings), ("fleet", inputs.fleet), ("sites", inputs.sites),
            ("config", inputs.config)) if path is not None}
        # Its policy, road server and all, is the operator's: the nightly planned it from
        # the inbox, and the board's own check of its runs needs the roads they were timed on.
        answer = self.upload(files, user, plan_service_date(folder), operators_policy=True)
        day = answer["day"]
        live = self.live(day)
        with live.lock:
            state = self.state(day)
            state.runs = {vid: [list(s) for s in steps] for vid, steps in runs.items()}
            state.unassigned = {u.journey.journey_id: [str(u.reason), u.detail, u.fix]
                                for u in plan.unassigned}
            state.status, state.version, state.search = "planned", 1, dict(plan.search)
            state.solve_seconds = plan.solve_seconds
            self.days.save(state)
        self.audit.record(user, "open_outbox", day=day, plan=name)
        return {**answer, "version": 1}

    # -- what-if -----------------------------------------------------------------------------

    def whatif(self, day: str, booking: Mapping[str, str | None]) -> dict[str, Any]:
        """The best three runs for a new booking, without re-planning; InputError if it is bad.

        The booking is read with the day's own bookings (every check of `pts validate`);
        the offer is kept by a token for `accept_whatif`.
        """
        live = self.live(day)
        with live.lock:
            state = self.state(day)
            if not state.runs and not state.unassigned:
                raise ConflictError("not_planned", "plan the day first")
            inputs = self.inputs_of(state)
            staging = _private_dir(self.data / "tmp") / f"whatif-{time.monotonic_ns()}"
            _private_dir(staging)
            try:
                bookings = staging / "bookings.csv"
                original = inputs.bookings.read_bytes()
                write_private(bookings, _with_booking(original, booking))
                problem, _ = read_problem(
                    Inputs(bookings, inputs.fleet, inputs.sites, inputs.config),
                    load_config(inputs.config), state.service_date or None)
                new_ids = {j.journey_id for j in problem.journeys} - set(live.board.journeys)
                if not new_ids:  # read cleanly, yet not in the day: a row of another day
                    raise InputError([error(
                        Code.BAD_DATE, "bookings.csv", "the new booking is for "
                        f"{str(booking.get('service_date'))[:40]!r}, not this day "
                        f"({state.service_date})", "give this day's date, or none",
                        None, "service_date")])
                journey_id = new_ids.pop()
                board = DayBoard(problem)
                slots = []
                for vid in board.vehicles:
                    if vid in state.locked_vehicles:
                        continue
                    found = board.place(vid, _steps(state.runs.get(vid, [])), journey_id)
                    if isinstance(found, Placement):
                        stops = {s.event: s for s in found.roster.stops
                                 if s.journey is not None and s.journey.journey_id == journey_id}
                        slots.append({"vehicle_id": vid,
                                      "pickup_min": stops[Event.PICKUP].service_start_min,
                                      "dropoff_min": stops[Event.DROPOFF].service_start_min,
                                      "added_km": round(found.added_m / 1000, 1)})
                slots.sort(key=lambda slot: (slot["added_km"], slot["pickup_min"]))
                token = staging.name
                self._offers[token] = _Offer(day, bookings, board, journey_id,
                                             _digest(original))
                while len(self._offers) > MAX_OFFERS:  # the oldest offer, and its file, go
                    oldest = next(iter(self._offers.values()))
                    self._offers.pop(oldest.bookings.parent.name, None)
                    shutil.rmtree(oldest.bookings.parent, ignore_errors=True)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
        return {"journey_id": journey_id, "slots": slots[:3], "token": token,
                "version": state.version}

    def accept_whatif(self, day: str, token: str, vehicle_id: str, version: object,
                      user: str) -> dict[str, Any]:
        """Add the offered booking to the day's bookings and place it on the run chosen."""
        offer = self._offers.get(token)
        if offer is None or offer.day != day:
            raise NotFoundError("offer")
        board, journey_id = offer.board, offer.journey_id
        live = self.live(day)
        with live.lock:
            live, state = self._changing(day, version)
            target = self.inputs_of(state).bookings
            if _digest(target.read_bytes()) != offer.digest:
                # Made from the bookings before another offer was accepted: taking it would
                # put back that file, and the other booking would vanish from the day.
                self._offers.pop(token, None)
                shutil.rmtree(offer.bookings.parent, ignore_errors=True)
                raise ConflictError("stale_version", "the day's bookings changed since this "
                                    "offer was made: ask where the booking could go again")
            placed = self._placement(_Live(board, live.lock), state, journey_id, vehicle_id)
            state.push_undo()
            offer.bookings.replace(target)
            shutil.rmtree(offer.bookings.parent, ignore_errors=True)
            live.board = board
            state.runs[vehicle_id] = [list(s) for s in placed.steps]
            state.journeys = len(board.journeys)
            state.version += 1
            self.days.save(state)
            self._offers.pop(token, None)
        self.audit.record(user, "whatif_accept", day=day, journey_id=journey_id,
                          vehicle_id=vehicle_id, version=state.version)
        return {"version": state.version, "journey_id": journey_id, "vehicle_id": vehicle_id}

    def publish(self, day: str, version: object, user: str) -> dict[str, Any]:
        """Write the plan folder exactly as `pts solve` does, checked, swapped in whole."""
        live = self.live(day)
        with live.lock:
            live, state = self._changing(day, version)
            _, plan = self.plan_of(day)
            assert plan is not None
            out = _private_dir(self.days.published) / day
            try:
                write_plan(plan, out, self.inputs_of(state))
            except PlanRejectedError as exc:  # nothing put in place; the board says why
                # With the rules broken, each where it is (until the thirty-fifth stop the
                # count alone: "broke 1 rule(s)").
                raise ConflictError("check_failed", "; ".join((exc.message, *exc.lines))
                                    ) from None
            state.published = str(out)
            self.days.save(state)
        self.audit.record(user, "publish", day=day, version=state.version)
        return {"plan": str(out)}


def _operators_only(config: Config, path: Path | None) -> None:
    """Refuse an uploaded policy that sets what only the board's operator may: InputError.

    A road server: the board's server would connect where the policy says and send it the
    day's pickup places, on any read of the day (a viewer's too); until the thirty-sixth
    stop any coordinator's upload chose the address. Map tiles: every browser opening the
    published maps would ask the host named for the tiles around the patients' homes, and
    tell it where they are; until the thirty-seventh stop an upload chose it. Files
    readable by the group: the published plan folder would be open to every account of the
    machine's group, patients' details and all.
    """
    if path is None:
        return
    findings = []
    if config.travel.provider == "osrm":
        findings.append(error(
            Code.BAD_CONFIG, str(path), 'asks for a road server (travel.provider = "osrm"): '
            "a policy uploaded to the board may not choose where its server connects, nor "
            "have patients' pickup places sent there",
            "take provider and osrm_url out of [travel]: an uploaded day is planned on the "
            "estimate from coordinates. A day planned on a road server is the nightly's (pts "
            "nightly, with the road server in the inbox's policy), opened from the outbox "
            "the board is started with (pts serve --outbox)", key="travel.provider"))
    if config.maps.tiles:
        findings.append(error(
            Code.BAD_CONFIG, str(path), "asks for map tiles ([maps] tiles): a policy uploaded "
            "to the board may not have the browsers opening its maps ask another host for "
            "the tiles around patients' homes",
            "take tiles and tiles_credit out of [maps]: the published maps then draw no "
            "background and make no request. Tiles are the operator's choice, in the "
            "nightly inbox's policy", key="maps.tiles"))
    if config.group_readable:
        findings.append(error(
            Code.BAD_CONFIG, str(path), "asks for files readable by the group ([output] "
            "group_readable = true): a policy uploaded to the board may not open the "
            "published plan, patients' details and all, to other accounts",
            "take group_readable out of [output]: the board's published plans are its "
            "owner's only", key="output.group_readable"))
    if findings:
        raise InputError(findings)


def _digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _with_booking(original: bytes, booking: Mapping[str, str | None]) -> bytes:
    """The bookings file with one more row, in its own columns and line endings."""
    text = original.decode("utf-8-sig")
    header = next(csv.reader(io.StringIO(text)), [])
    unknown = sorted(set(booking) - set(header))
    if unknown:
        raise InputError([error(Code.EXTRA_CELLS, "bookings.csv",
                                f"the new booking has a column the day's bookings lack: "
                                f"{', '.join(unknown)[:200]}",
                                "give only the columns of the day's bookings file")])
    ending = "\r\n" if "\r\n" in text[:10_000] else "\n"
    if not text.endswith(("\n", "\r")):
        text += ending
    row = io.StringIO()
    csv.writer(row, lineterminator=ending).writerow(
        ["" if booking.get(c) is None else str(booking.get(c)) for c in header])
    return (text + row.getvalue()).encode("utf-8")


def input_error_answer(exc: InputError) -> dict[str, Any]:
    """The 422 body of a refused upload."""
    return {"findings": [_finding(f) for f in exc.findings]}


def _return_of(board: DayBoard, journey_id: str) -> str | None:
    """The journey that brings this one's patient back, where the policy makes it a rule."""
    if board.problem.config.linked.allow_outward_without_return:
        return None
    return next((j.journey_id for j in board.journeys.values() if j.return_of == journey_id),
                None)

