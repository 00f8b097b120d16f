"""Money rules of a launch: lease durations, the worst case, minimum-runtime text.

Pure functions so the magics, the widgets and the tests agree on every figure. The figures of a
running instance (cost so far, dollars, durations) are the ledger layer's (ledger/figures.py).
"""

from __future__ import annotations

import re
from datetime import timedelta

from .errors import SessionError

_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(s|min|m|h|d)", re.IGNORECASE)
DEFAULT_MINIMUM_MINUTES = 20


def parse_duration(value: str | timedelta | None) -> float | None:
    """The one duration reader: ``'2h'``, ``'90m'``, ``'1h30m'``, ``'45s'``, ``'2'`` (a bare
    number in text is hours, as ``--lease 2`` and ``lease: 2`` mean) or a ``timedelta`` ->
    seconds. A Python number is refused: ``lease=2`` could mean seconds or hours."""
    if value is None or value == "":
        return None
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, str):
        cleaned = value.strip().lower().replace(" ", "")
        if re.fullmatch(r"\d+(\.\d+)?", cleaned):
            # A bare number is hours: nobody leases a GPU for 3 seconds.
            seconds = float(cleaned) * 3600
        else:
            parts = _PART.findall(cleaned)
            if not parts or "".join(n + u for n, u in parts) != cleaned:
                raise SessionError(
                    f"cannot read the duration {value!r}: write it like 30m, 2h or 1h30m"
                )
            seconds = sum(float(n) * _UNITS[u.lower()] for n, u in parts)
    else:
        raise SessionError(f"a duration is text like '2h' or a timedelta, not {value!r}: "
                           "a bare number could mean seconds or hours")
    if seconds <= 0:
        raise SessionError(f"the duration {value!r} must be positive")
    return seconds


def worst_case(hourly_rate: float, lease_seconds: float | None,
               minimum_minutes: float = DEFAULT_MINIMUM_MINUTES) -> float:
    """What the launch can cost at most: the lease (1 hour without one), never below the minimum."""
    seconds = lease_seconds if lease_seconds is not None else 3600.0
    seconds = max(seconds, minimum_minutes * 60.0)
    return hourly_rate * seconds / 3600.0


def minimum_runtime_text(minutes_remaining: float | None, minimum: float | None = None) -> str:
    """Why an early terminate is refused, and what to do about it."""
    minimum = minimum or DEFAULT_MINIMUM_MINUTES
    left = (
        f"{minutes_remaining:g} more minute{'s' if minutes_remaining != 1 else ''}"
        if minutes_remaining is not None
        else "a few more minutes"
    )
    return (
        f"Spheron instances have a {minimum:g}-minute minimum runtime (billed in full either way); "
        f"this one can be terminated in {left}. Add --when-allowed to terminate it then, "
        "even if this kernel has stopped."
    )
