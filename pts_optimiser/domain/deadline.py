"""One time limit for a whole command, divided in one place.

A command makes one `Deadline` when it starts (a fresh `pts` process counts its own start
up too) and hands it down: what writing the plan needs is kept back with `less`, a search
given part of what is left takes a `share`, and OR-Tools is told `remaining_s()` at the
moment it starts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Deadline:
    """When the work must be done, on the monotonic clock (`time.monotonic()` seconds)."""

    at_s: float

    @classmethod
    def within(cls, seconds: float, started_s: float | None = None) -> Deadline:
        """`seconds` after `started_s` (default: now)."""
        return cls((time.monotonic() if started_s is None else started_s) + seconds)

    def remaining_s(self) -> float:
        """Seconds left, 0 once it has passed."""
        return max(0.0, self.at_s - time.monotonic())

    def less(self, seconds: float) -> Deadline:
        """The deadline `seconds` sooner: what must be done before the rest can be."""
        return Deadline(self.at_s - seconds)

    def share(self, fraction: float) -> Deadline:
        """The first `fraction` of what is left."""
        now = time.monotonic()
        return Deadline(now + max(0.0, self.at_s - now) * fraction)

    def at_least(self, seconds: float) -> float:
        """Seconds left, but never fewer than `seconds`: a search needs a moment to run."""
        return max(seconds, self.remaining_s())
