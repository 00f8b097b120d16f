"""Money: lease durations, the worst case of a launch, the budget rule, minimum-runtime text.

Pure functions so the magics, the widgets and the tests agree on every figure.
"""

from __future__ import annotations

import re
import time
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


def cost_so_far(hourly_rate: float | None, started: float | None, ended: float | None = None,
                api_cost: float | None = None, now: float | None = None) -> float | None:
    """The one "cost so far": rate x time run (until it ended), or the API's own figure when
    that is larger (it knows about minimum charges we do not)."""
    estimate = None
    if hourly_rate is not None and started is not None:
        end = ended or (now if now is not None else time.time())
        estimate = max(0.0, end - started) / 3600.0 * hourly_rate
    if api_cost is None:
        return estimate
    return max(api_cost, estimate or 0.0)


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s" if minutes < 10 and secs else f"{minutes}m"
    return f"{secs}s"


def usd(amount: float | None, places: int = 2) -> str:
    if amount is None:
        return "-"
    if 0 < abs(amount) < 0.01 and places == 2:
        return f"${amount:.4f}"
    return f"${amount:,.{places}f}"


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
