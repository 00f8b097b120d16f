"""Parse the human durations the emulator's options take: ``20m``, ``90s``, ``0.5s``, ``1h30m``.

A bare number means seconds.  Kept separate so the CLI, the fault grammar and the parent-side
process helper agree on one spelling.
"""

from __future__ import annotations

import re

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def parse_duration(text: str | float | int) -> float:
    """Return seconds for ``text``; raise ValueError with the accepted forms otherwise."""
    if isinstance(text, (int, float)):
        if text < 0:
            raise ValueError(f"duration must not be negative: {text}")
        return float(text)
    raw = str(text).strip().lower()
    try:
        value = float(raw)
    except ValueError:
        pass
    else:
        if value < 0:
            raise ValueError(f"duration must not be negative: {text!r}")
        return value
    position, total = 0, 0.0
    for match in _PART.finditer(raw):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if not raw or position != len(raw):
        raise ValueError(f"bad duration {text!r}: use forms like 20m, 90s, 0.5s, 1h or 1h30m")
    return total


def format_duration(seconds: float) -> str:
    """The inverse, for command lines: ``1200`` -> ``1200s`` (exact, no rounding)."""
    return f"{seconds:g}s"
