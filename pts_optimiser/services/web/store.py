"""The board's data folder: accounts, uploaded days, working plans, the audit log.

Layout under DIR: `users.json`; `audit.log` (JSON lines: time, user, action, ids);
`days/<day>/inputs/` (the files as uploaded) and `days/<day>/state.json` (the working
plan: each run's stop order, the unassigned journeys with reasons, locks, version, undo);
`published/<day>/` (the plan folder, as `pts solve` writes it; `<day>.previous/` beside
it). Files are the owner's only. Patient data stays in the day's own files.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

ROLES = ("coordinator", "viewer")
UNDO_DEPTH = 20
DAY_ID = re.compile(r"[A-Za-z0-9-]{1,64}")  # ours: the service date and a random suffix
_hasher = PasswordHasher()  # argon2id, the library's defaults (RFC 9106's second choice)
# Checked against when the name is unknown, so a wrong name costs what a wrong password does.
_DUMMY = _hasher.hash(secrets.token_hex(16))


def _private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)
    return path


def write_private(path: Path, content: str | bytes) -> None:
    """Write a file readable by its owner only, whole or not at all (text as UTF-8)."""
    _private_dir(path.parent)
    partial = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content.encode("utf-8") if isinstance(content, str) else content)
    partial.replace(path)


@dataclass(frozen=True)
class Account:
    """An account as users.json holds it now."""

    role: str
    # The password hash: a session signed in against another (a new password, or the
    # account made again) is over.
    stamp: str


class Accounts:
    """Names, roles and password hashes in DIR/users.json."""

    def __init__(self, data: Path) -> None:
        self.path = data / "users.json"
        self._lock = threading.Lock()

    def _read(self) -> dict[str, dict[str, str]]:
        if not self.path.exists():
            return {}
        users: dict[str, dict[str, str]] = json.loads(self.path.read_text(encoding="utf-8"))
        return users

    def add(self, name: str, password: str, role: str) -> None:
        """Create or update an account."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        with self._lock:
            users = self._read()
            users[name] = {"role": role, "hash": _hasher.hash(password)}
            write_private(self.path, json.dumps(users, indent=1) + "\n")

    def sign_in(self, name: str, password: str) -> Account | None:
        """The account when the password is right; None otherwise, alike for any cause."""
        user = self._read().get(name)
        try:
            _hasher.verify(user["hash"] if user else _DUMMY, password)
        except (VerificationError, InvalidHashError):
            return None
        return Account(user["role"], user["hash"]) if user else None

    def verify(self, name: str, password: str) -> str | None:
        """The account's role when the password is right; None otherwise, alike for any cause."""
        account = self.sign_in(name, password)
        return account.role if account else None

    def account(self, name: str) -> Account | None:
        """The account as it is now; None once it is gone."""
        user = self._read().get(name)
        return Account(user["role"], user["hash"]) if user else None


class Audit:
    """Who changed what, when: ids only."""

    def __init__(self, data: Path) -> None:
        self.path = data / "audit.log"
        self._lock = threading.Lock()

    def record(self, user: str, action: str, **ids: object) -> None:
        """Append one line."""
        line = json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "user": user,
                           "action": action, **ids}, ensure_ascii=False)
        with self._lock:
            _private_dir(self.path.parent)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")


@dataclass
class DayState:
    """The working plan of a day, as stored in state.json."""

    day: str
    service_date: str
    journeys: int
    vehicles: int
    inputs: dict[str, str]  # bookings, fleet, sites, config: file names inside inputs/
    status: str = "uploaded"  # uploaded | planning | planned | failed
    version: int = 0
    runs: dict[str, list[list[str]]] = field(default_factory=dict)
    unassigned: dict[str, list[str]] = field(default_factory=dict)  # id -> reason, detail, fix
    locked_vehicles: list[str] = field(default_factory=list)
    locked_journeys: dict[str, str] = field(default_factory=dict)  # journey -> vehicle
    undo: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""
    search: dict[str, Any] = field(default_factory=dict)
    solve_seconds: float = 0.0
    published: str = ""

    def snapshot(self) -> dict[str, Any]:
        """What undo puts back."""
        return {"runs": self.runs, "unassigned": self.unassigned,
                "locked_vehicles": self.locked_vehicles, "locked_journeys": self.locked_journeys}

    def push_undo(self) -> None:
        """Keep the present state, before a change, for undo."""
        self.undo = [*self.undo, json.loads(json.dumps(self.snapshot()))][-UNDO_DEPTH:]


class Days:
    """The uploaded days under DIR/days."""

    def __init__(self, data: Path) -> None:
        self.root = data / "days"
        self.published = data / "published"

    def folder(self, day: str) -> Path:
        """A day's folder; the id is ours (checked), never a path from the request as it is."""
        if not DAY_ID.fullmatch(day):  # a name too long for the disk is none of ours either
            raise KeyError(day)
        return self.root / day

    def new_id(self, service_date: str) -> str:
        """A fresh day id: the service date and a random suffix."""
        return f"{service_date or 'day'}-{secrets.token_hex(3)}"

    def load(self, day: str) -> DayState:
        """A stored day; KeyError when there is none."""
        path = self.folder(day) / "state.json"
        if not path.exists():
            raise KeyError(day)
        return DayState(**json.loads(path.read_text(encoding="utf-8")))

    def save(self, state: DayState) -> None:
        """Store a day's state whole."""
        write_private(self.folder(state.day) / "state.json",
                      json.dumps(state.__dict__, ensure_ascii=False) + "\n")

    def all(self) -> list[DayState]:
        """Every stored day, newest service date first."""
        if not self.root.exists():
            return []
        days = [self.load(p.name) for p in self.root.iterdir()
                if (p / "state.json").exists()]
        return sorted(days, key=lambda d: (d.service_date, d.day), reverse=True)
