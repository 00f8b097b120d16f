"""The create rate limit of the live service: 10 creates per 15 minutes per user.

A sliding window over the wall-clock times of successful creates.  The times live in the
persisted state (the caller passes the list in), so restarting the emulator does not reset it.
"""

from __future__ import annotations

import math

CREATE_LIMIT = 10
CREATE_WINDOW_SECONDS = 15 * 60


def prune(times: list[float], now: float, window: float = CREATE_WINDOW_SECONDS) -> list[float]:
    return [t for t in times if now - t < window]


def retry_after(times: list[float], now: float, *, limit: int = CREATE_LIMIT,
                window: float = CREATE_WINDOW_SECONDS) -> int | None:
    """Seconds until another create is allowed, or None when one is allowed now."""
    recent = sorted(prune(times, now, window))
    if len(recent) < limit:
        return None
    # The oldest create that keeps the window full has to age out first.
    oldest_blocking = recent[len(recent) - limit]
    return max(1, math.ceil(oldest_blocking + window - now))
