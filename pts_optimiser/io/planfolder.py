"""What a plan folder is: its layout, how it is put in place, and how it is read back.

A plan folder stands alone. Besides the plan (rosters.csv, unassigned.csv, summary.json),
its views and its route maps (`maps/`), it holds copies of what it was made from:
`inputs/bookings.csv`, `inputs/fleet.csv`, `inputs/sites.csv` (the shipped sites too) and
`inputs/config.toml`, the effective policy with every key. summary.json names them
relative to the folder, so `pts report`, `pts runsheets`, `pts map` and `pts replan` give
the same plan after the inbox has been refreshed, and the folder can be moved or archived.
Older folders, whose summary.json names the inputs by absolute path, still read while
those files exist.

Ours, and only ours, is replaced. Every plan folder carries a marker file (`.pts-plan`,
listing the names written); an older plan folder is recognised by its summary.json with
rosters.csv; a maps folder by overview.html with Leaflet beside it. A folder is replaced
only when it is ours and holds nothing else, or is empty: a folder holding the day's
bookings or somebody's notes is refused (OutputError, exit 6) with nothing touched. A
symbolic link is never followed to its folder: the link is refused.

Put in place at once. The new folder is built in `.<name>.partial-<pid>-<random>` beside
the target, checked, then exchanged with the target by Linux `renameat2(RENAME_EXCHANGE)`
(through ctypes): one system call swaps the two directory entries, so at every instant
`<name>` is the old plan or the new one, complete, with its maps inside it. The old one,
now under the staging name, becomes `<name>.previous` by a second exchange (the plan
before it is deleted). Where the file system cannot exchange (some network file systems,
other kernels) two renames are used: for the moment between them the old plan sits in
`.<name>.old-<pid>-<random>`, and if the process dies there the next write of the folder
puts it back before anything else. A symlink swapped by rename would also be atomic, but
it would turn every plan folder into a link, which the refusal of links above, backup
tools and people opening the folder would all have to understand.

Leftovers of a killed run (staging and old folders, holding patient data) are removed by
the next write beside them: only names of the patterns above whose process id is no longer
running, and folders of the earlier naming (`.<name>.partial-xxxxxxxx`, no pid) once they
are a day old, longer than any run.
"""

from __future__ import annotations

import ctypes
import errno
import json
import math
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterable
from dataclasses import fields, is_dataclass, replace
from pathlib import Path
from typing import Any

from pts_optimiser.domain.clock import read_clock as _clock
from pts_optimiser.domain.config import CO2_FACTORS, Config
from pts_optimiser.domain.diagnostics import Code, InputError, error
from pts_optimiser.domain.exits import OutputError
from pts_optimiser.domain.plan import Event, Plan, Reason, Roster, Stop, Unassigned
from pts_optimiser.domain.problem import Problem
from pts_optimiser.io.osrm import without_credentials
from pts_optimiser.io.parse import Inputs
from pts_optimiser.io.tables import Table, read_table

MARKER = ".pts-plan"
INPUTS = "inputs"
MAPS = "maps"
PREVIOUS_SUFFIX = ".previous"
# Everything a plan folder of ours may hold at its top level (replan adds bookings.csv and
# changes.csv); the marker lists what each folder really got.
PLAN_NAMES = frozenset({MARKER, "rosters.csv", "unassigned.csv", "summary.json", "report.html",
                        "plan.xlsx", "runsheets", MAPS, INPUTS, "bookings.csv", "changes.csv"})
# Left by the operating system when a person looks at a folder; not somebody's work.
DESKTOP_LITTER = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})
LEGACY_AGE_S = 86400.0  # no run lasts longer (--time-limit is at most a day)
_ATOMIC_TEMP = re.compile(r"^\..+\.[a-z0-9_]+\.(tmp|xlsx)$")  # tables._atomic_write, workbook


def input_paths() -> dict[str, str]:
    """Where a plan folder holds copies of the files it was planned from (summary.json)."""
    return {**{key: f"{INPUTS}/{key}.csv" for key in ("bookings", "fleet", "sites")},
            "config": f"{INPUTS}/config.toml"}


def reached(step: str) -> None:
    """A named moment of writing a folder; does nothing.

    Tests replace it in a child process to kill the process at that moment.
    """


def previous_of(out: Path) -> Path:
    """Where the plan replaced by a new one at `out` is kept."""
    out = target(out)
    return out.with_name(out.name + PREVIOUS_SUFFIX)


def target(out: Path) -> Path:
    """`out` made absolute without following a link at its end (`.` and `..` resolved)."""
    path = Path(os.path.normpath(Path.cwd() / out))  # no link followed, unlike resolve()
    if path.name == "":
        raise OutputError(f"cannot write a plan over {path}", ["give a folder below it"])
    return path.parent.resolve() / path.name


def _ours_temporary(name: str, owner: str) -> bool:
    return bool(_ATOMIC_TEMP.match(name) or _leftover(owner, name) or _legacy(owner, name))


def foreign_entries(folder: Path, kind: str = "plan") -> list[str]:
    """Names in `folder` that are not of a plan (or maps) folder we wrote; [] when ours."""
    names = sorted(p.name for p in folder.iterdir())
    loose = [n for n in names if n not in DESKTOP_LITTER and not _ours_temporary(n, MAPS)]
    if not loose:
        return []
    if kind == MAPS:
        # Our maps: pages with the Leaflet we put beside them, and nothing else.
        maps = bool({"overview.html", "leaflet.js"} & set(loose))
        return [n for n in loose if not (maps and (n.endswith(".html")
                                                   or n in ("leaflet.js", "leaflet.css")))]
    allowed: set[str] = set()
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
        if marker.get("written_by") == "pts-optimiser":
            allowed = set(PLAN_NAMES) | set(marker.get("names", []))
    except (OSError, ValueError, AttributeError, TypeError):
        if (folder / "summary.json").is_file() and (folder / "rosters.csv").is_file():
            allowed = set(PLAN_NAMES)  # a plan folder written before the marker
    return [n for n in loose if n not in allowed]


def check_target(out: Path, kind: str = "plan", keep_previous: Path | None = None) -> None:
    """Refuse, with nothing touched, to write over what is not ours to replace."""
    out = target(out)
    keep_previous = target(keep_previous) if keep_previous is not None else None
    for path in (out, keep_previous):
        if path is None:
            continue
        what = ("the previous plan's place" if path is keep_previous
                else "the maps folder" if kind == MAPS else "--out")
        if path.is_symlink():
            raise OutputError(f"{path} ({what}) is a symbolic link; a plan is never written "
                              "through a link into another folder",
                              ["give the real folder it points to, or a new folder"])
        if path.exists() and not path.is_dir():
            raise OutputError(f"{path} ({what}) is a file, not a folder",
                              ["give a new folder, or move the file away"])
        if path.is_dir():
            foreign = foreign_entries(path, kind)
            if foreign:
                shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more"
                                                  if len(foreign) > 5 else "")
                raise OutputError(
                    f"{path} ({what}) holds files pts did not write ({shown}); it is not "
                    f"replaced, nothing was written",
                    [f"give a new or empty folder, e.g. {path / kind}, or move those "
                     "files out first"])


# Leftovers: .<name>.partial-<pid>-<random> (staging, or the old plan on its way out) and
# .<name>.old-<pid>-<random> (the old plan between two renames, where exchange is missing).
def _leftover(name: str, entry: str) -> re.Match[str] | None:
    return re.match(rf"^\.{re.escape(name)}\.(partial|old)-(\d+)-[0-9a-f]+$", entry)


def _legacy(name: str, entry: str) -> re.Match[str] | None:
    return re.match(rf"^\.{re.escape(name)}\.(partial|old)-[a-z0-9_]{{8}}$", entry)


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


def clean_leftovers(out: Path) -> None:
    """Put back an old plan a dead run left aside, then remove dead runs' staging folders."""
    parent = out.parent
    if not parent.is_dir():
        return
    dead: list[tuple[str, Path]] = []
    for entry in parent.iterdir():
        found = _leftover(out.name, entry.name)
        if found and not _running(int(found.group(2))):
            dead.append((found.group(1), entry))
            continue
        old = _legacy(out.name, entry.name)
        if old and time.time() - entry.lstat().st_mtime > LEGACY_AGE_S:
            dead.append((old.group(1), entry))
    if not os.path.lexists(out):
        aside = sorted((p for kind, p in dead if kind == "old"),
                       key=lambda p: p.lstat().st_mtime)
        if aside:  # died between the two renames of the fallback: the old plan goes back
            aside[-1].rename(out)
            dead = [(kind, p) for kind, p in dead if p != aside[-1]]
    for _, path in dead:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)


def staging_folder(out: Path, mode: int = 0o700) -> Path:
    """A new, empty, owner-only folder beside `out` to build into.

    Folders above `out` that do not exist yet are made with `mode`, the plan folder's own:
    a week's folder lists its days (mkdir's `parents` would make them readable by all).
    """
    make_folders(out.parent, mode)
    while True:
        path = out.parent / f".{out.name}.partial-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            path.mkdir(mode=0o700)
            return path
        except FileExistsError:
            continue


def make_folders(folder: Path, mode: int) -> None:
    """`folder` and any missing folder above it, each new one made with `mode`.

    Set after it is made: mkdir's mode passes through the umask, and a service run with
    `UMask=0077` made group-readable folders its own only (until 2026-12-07).
    """
    missing = []
    while not folder.exists() and folder.parent != folder:
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=mode)
        except FileExistsError:
            continue  # made meanwhile by someone else: theirs to set
        path.chmod(mode)


_libc: Any = None


def exchange(first: Path, second: Path) -> bool:
    """Swap two directory entries in one step; False where the system cannot."""
    global _libc
    if _libc is None:
        try:
            _libc = ctypes.CDLL(None, use_errno=True)
            _libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                                        ctypes.c_char_p, ctypes.c_uint]
        except (OSError, AttributeError, TypeError):  # no C library, or no renameat2
            _libc = False
    if _libc is False:
        return False
    at_cwd, rename_exchange = -100, 2
    if _libc.renameat2(at_cwd, os.fsencode(first), at_cwd, os.fsencode(second),
                       rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False  # the file system has no exchange
    raise OSError(code, os.strerror(code), str(first), None, str(second))


def _sync(folder: Path) -> None:
    """Make a rename survive a power cut; some file systems cannot, and the rename stands."""
    try:
        handle = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)
    except OSError:
        pass


def _replace(new: Path, old_place: Path) -> Path:
    """Put `new` at `old_place`; returns where what was there now is (to delete or keep)."""
    if exchange(new, old_place):
        return new
    aside = old_place.parent / f".{old_place.name}.old-{os.getpid()}-{secrets.token_hex(4)}"
    old_place.rename(aside)
    reached("aside")
    new.rename(old_place)
    return aside


def put_in_place(staging: Path, out: Path, keep_previous: Path | None) -> None:
    """Make the complete folder `staging` be `out`; the replaced one goes to `keep_previous`."""
    if not os.path.lexists(out):
        staging.rename(out)
        _sync(out.parent)
        reached("renamed")
        return
    old = _replace(staging, out)
    _sync(out.parent)
    reached("exchanged")
    # Deleting what is no longer wanted may fail or be killed half way: the next write removes
    # what is left, by its name.
    if keep_previous is None or not any(old.iterdir()):
        shutil.rmtree(old, ignore_errors=True)
        reached("removed")
        return
    if os.path.lexists(keep_previous):
        older = _replace(old, keep_previous)
        reached("kept")
        shutil.rmtree(older, ignore_errors=True)
    else:
        old.rename(keep_previous)
    _sync(keep_previous.parent)
    reached("removed")


def write_marker(folder: Path) -> None:
    """Mark `folder` as a plan folder pts wrote, listing what it holds."""
    names = sorted(p.name for p in folder.iterdir() if p.name != MARKER)
    (folder / MARKER).write_text(json.dumps({"written_by": "pts-optimiser", "format": 1,
                                             "names": names}) + "\n", encoding="utf-8")


# The effective policy, written so load_config reads back an equal Config.
def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        escaped = "".join(
            "\\" + c if c in '"\\' else f"\\u{ord(c):04x}" if ord(c) < 0x20 or ord(c) == 0x7f
            else c for c in value)
        return f'"{escaped}"'
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _section(name: str, values: Iterable[tuple[str, object]]) -> list[str]:
    return [f"[{name}]", *(f"{key} = {_toml_value(value)}" for key, value in values), ""]


def _fields(policy: object) -> list[tuple[str, object]]:
    assert is_dataclass(policy)
    return [(f.name, getattr(policy, f.name)) for f in fields(policy)]


def config_toml(config: Config) -> str:
    """The whole policy as TOML: every key, so the plan folder needs no other file."""
    lines = ["# The policy this plan was made under: every setting, as it was in effect.", ""]
    for purpose, rules in config.purposes.items():
        lines += _section(f"purposes.{purpose}", _fields(rules))
    lines += _section("ride", [("direct_factor", config.ride_direct_factor)])
    # Credentials never reach a plan file: a re-plan from this folder asks the road server
    # without them (and falls back to the estimate, with a warning, if it insists).
    travel = replace(config.travel, osrm_url=without_credentials(config.travel.osrm_url))
    if travel != config.travel:
        lines += ["# travel.osrm_url: its credentials were left out of this copy.", ""]
    plain: list[tuple[str, object]] = [("service", config.service), ("breaks", config.breaks),
                                       ("travel", travel)]
    for name, policy in plain:
        lines += _section(name, _fields(policy))
    objective = config.objective
    lines += _section("objective", [
        *((f"unserved_cost_priority_{level}", cost)
          for level, cost in sorted(objective.unserved_cost_by_priority.items())),
        *((f"km_cost_{fuel}", cost) for fuel, cost in objective.km_cost_by_fuel.items()),
        ("vehicle_cost", objective.vehicle_cost),
        ("shift_minute_cost", objective.shift_minute_cost)])
    lines += _section("co2", [(f"{fuel}_kg_per_km", config.co2_kg_per_km[fuel])
                              for fuel in CO2_FACTORS])
    lines += _section("electric", [("charging_during_shift", config.charging_during_shift)])
    lines += _section("maps", _fields(config.maps))
    lines += _section("runsheets", _fields(config.runsheets))
    lines += _section("output", [("group_readable", config.group_readable)])
    plain = [("kpi", config.kpi), ("alerts", config.alerts), ("validation", config.validation),
             ("replan", config.replan), ("linked", config.linked),
             ("standards", config.standards), ("continuity", config.continuity)]
    for name, policy in plain:
        lines += _section(name, _fields(policy))
    return "\n".join(lines)


def _summary(plan_dir: Path) -> dict[str, Any]:
    path = plan_dir / "summary.json"
    if not path.is_file():
        raise InputError([error(Code.FILE_NOT_FOUND, str(path),
                                "no summary.json with the plan's inputs",
                                "give the folder pts solve wrote, or --bookings and --fleet")])
    try:
        figures = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(figures, dict) or not isinstance(figures["inputs"], dict):
            raise TypeError
        return figures
    except (OSError, ValueError, KeyError, TypeError):
        # Found but not what pts solve writes: a copy cut short, or edited by hand.
        raise InputError([error(Code.UNREADABLE_FILE, str(path),
                                "it is not the summary pts solve writes (not JSON naming the "
                                "plan's inputs)", "give the folder pts solve wrote, whole; "
                                "plan files are not for editing by hand")]) from None


def _recorded(plan_dir: Path, text: object, key: str) -> Path | None:
    if not text:
        return None
    path = plan_dir / str(text)  # an absolute path stays as it is
    if Path(str(text)).is_absolute() or not (plan_dir / MARKER).exists():
        return path  # a folder written before the inputs were copied in names them anywhere
    if not path.resolve().is_relative_to(plan_dir.resolve()):
        raise InputError([error(Code.UNREADABLE_FILE, str(plan_dir / "summary.json"),
                                f"the {key} file it names is outside the plan folder",
                                "rebuild the plan with pts solve", key=f"inputs.{key}")])
    if not path.is_file():
        # Named in the folder's summary but gone: the folder was copied without it.
        raise InputError([error(Code.FILE_NOT_FOUND, str(path),
                                "the plan folder's copy of the file it was planned from is "
                                "missing", "copy the whole folder pts solve wrote, inputs/ "
                                "with it, or plan the day again")])
    return path


def plan_inputs(plan_dir: Path) -> Inputs:
    """The files a plan was made from: its own copies, or where an older folder says."""
    recorded = _summary(plan_dir)["inputs"]
    bookings = _recorded(plan_dir, recorded.get("bookings"), "bookings")
    fleet = _recorded(plan_dir, recorded.get("fleet"), "fleet")
    if bookings is None or fleet is None:
        raise InputError([error(Code.FILE_NOT_FOUND, str(plan_dir / "summary.json"),
                                "it does not say where the bookings and fleet are",
                                "rebuild the plan with pts solve")])
    return Inputs(bookings, fleet, _recorded(plan_dir, recorded.get("sites"), "sites"),
                  _recorded(plan_dir, recorded.get("config"), "config"))


def plan_service_date(plan_dir: Path) -> str | None:
    """The day a plan folder plans (its bookings may hold several)."""
    day = _summary(plan_dir).get("service_date")
    return str(day) if day else None


def read_plan(problem: Problem, plan_dir: Path) -> Plan:
    """The plan in `plan_dir`, tied to the day's journeys and vehicle shifts."""
    rosters = read_table(plan_dir / "rosters.csv", allow_no_rows=True)
    unassigned = read_table(plan_dir / "unassigned.csv", allow_no_rows=True)
    journeys = {j.journey_id: j for j in problem.journeys}
    vehicles = {v.vehicle_id: v for v in problem.vehicles}
    stops: dict[str, list[Stop]] = {}
    for index, cells in enumerate(rosters.rows):
        try:
            vehicle_id = cells["vehicle_id"]
            if vehicle_id not in vehicles:
                raise ValueError(f"vehicle {vehicle_id!r} is not in the fleet")
            journey = journeys[cells["journey_id"]] if cells["journey_id"] else None
            stops.setdefault(vehicle_id, []).append(Stop(
                Event(cells["event"]), float(cells["lat"]), float(cells["lon"]),
                cells["label"], _clock(cells["arrival"]), _clock(cells["service_start"]),
                _clock(cells["departure"]), round(float(cells["km"]) * 1000),
                int(cells["seats_used"]), int(cells["wheelchairs_used"]),
                int(cells["stretchers_used"]), journey))
        except (KeyError, ValueError) as exc:
            raise _bad(rosters, index, exc) from None
    left_out = []
    for index, cells in enumerate(unassigned.rows):
        try:
            code, _, detail = cells["reason"].partition(": ")
            left_out.append(Unassigned(journeys[cells["journey_id"]], Reason(code), detail,
                                       cells.get("fix", "")))
        except (KeyError, ValueError) as exc:
            raise _bad(unassigned, index, exc) from None
    seconds, search = _search_figures(plan_dir)
    return Plan(problem, tuple(Roster(vehicles[v], tuple(s)) for v, s in stops.items()),
                tuple(left_out), seconds, search)


def _search_figures(plan_dir: Path) -> tuple[float, dict[str, Any]]:
    """summary.json's search time and status, as pts solve wrote them; else a located error.

    Until the thirty-fifth stop a summary edited to other types was an internal error
    (exit 1) in every view rebuilt from it.
    """
    path = plan_dir / "summary.json"
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        summary = None
    if not isinstance(summary, dict):
        raise InputError([error(Code.UNREADABLE_FILE, str(path), "it is not the summary pts "
                                "solve writes", "give the folder pts solve wrote, whole; plan "
                                "files are not for editing by hand")])
    seconds, search = summary.get("solve_seconds", 0.0), summary.get("search", {})
    number = (isinstance(seconds, int | float) and not isinstance(seconds, bool)
              and math.isfinite(seconds))
    if not number or not isinstance(search, dict):
        key = "search" if number else "solve_seconds"
        raise InputError([error(Code.UNREADABLE_FILE, str(plan_dir / "summary.json"),
                                f"{key} is not what pts solve writes", "give the folder pts "
                                "solve wrote, whole; plan files are not for editing by hand",
                                key=key)])
    return float(seconds), dict(search)


def _bad(table: Table, index: int, exc: Exception) -> InputError:
    return InputError([error(Code.UNREADABLE_FILE, table.name, f"cannot read this row ({exc})",
                             "rebuild the plan with pts solve; plan files are not for editing "
                             "by hand", table.row_number(index))])
