"""Clock times of a service day: minutes after midnight, written `HH:MM`.

A shift may run past midnight, so a time may be 24:00 or later when formatted; one that is
read must be on the day (00:00-24:00).
"""

from __future__ import annotations

import re

# [0-9], not \d: \d is any script's digits, and int() reads them all.
_TIME = re.compile(r"^([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?$")


def parse_clock(text: str) -> int | None:
    """Minutes after midnight for `HH:MM` (or `HH:MM:SS`, as Excel writes), else None.

    The seconds are checked (00-59) and dropped: `15:00:99` is a typing mistake, not 15:00.
    """
    match = _TIME.match(text)
    if not match:
        return None
    hours, minutes = int(match.group(1)), int(match.group(2))
    seconds = int(match.group(3) or 0)
    if minutes > 59 or seconds > 59 or hours > 24 or (hours == 24 and (minutes or seconds)):
        return None
    return hours * 60 + minutes


def read_clock(text: str, what: str = "time") -> int:
    """Minutes after midnight of `text`; ValueError naming `what` if it is not `HH:MM`."""
    minutes = parse_clock(text)
    if minutes is None:
        raise ValueError(f"{what} {text[:20]!r} is not HH:MM")
    return minutes


def format_clock(minutes: int) -> str:
    """`HH:MM` for minutes after midnight."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
