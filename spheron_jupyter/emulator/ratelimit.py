"""The rate limits of the live service: 10 creates per 15 minutes per user, and a general limit
of about 100 requests per 15 minutes per IP (:class:`GeneralLimit`).

Creates: a sliding window over the wall-clock times of successful creates.  The times live in the
persisted state (the caller passes the list in), so restarting the emulator does not reset it.
"""

from __future__ import annotations

import math
import threading

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


# The general limit of the live service: about 100 requests per 15 minutes per IP (the docs'
# landing page; one client saw 250).  Creates count against it too.  docs/spheron-api.md.
GENERAL_LIMIT = 100
GENERAL_WINDOW_SECONDS = 15 * 60


class GeneralLimit:
    """A sliding window of answered requests per client address (memory only: a restart
    forgets it, as the live service's own limiter would not matter across our restarts).

    ``limit=None`` turns it off.  Requests it refuses are not counted, so a client that waits
    the ``retryAfter`` it was given gets through.
    """

    def __init__(self, limit: int | None = GENERAL_LIMIT,
                 window: float = GENERAL_WINDOW_SECONDS) -> None:
        self.limit = limit
        self.window = float(window)
        self._times: dict[str, list[float]] = {}
        self._lock = threading.Lock()
        self.refused = 0  # 429s it answered (GET /_emulator/state shows it)

    def take(self, client: str, now: float) -> tuple[int | None, int]:
        """Count one request; returns ``(retry_after, remaining)``.  ``retry_after`` is None
        when the request may proceed, else the seconds until it may."""
        if self.limit is None:
            return None, 0
        with self._lock:
            recent = prune(self._times.get(client, []), now, self.window)
            if len(recent) >= self.limit:
                self._times[client] = recent
                self.refused += 1
                return retry_after(recent, now, limit=self.limit, window=self.window), 0
            recent.append(now)
            self._times[client] = recent
            return None, self.limit - len(recent)

    def headers(self, remaining: int) -> dict[str, str]:
        """The IETF draft's RateLimit-Policy / RateLimit headers (what express-rate-limit sends;
        whether the live service sends them is unverified, docs/spheron-api.md)."""
        if self.limit is None:
            return {}
        window = int(self.window)
        return {"RateLimit-Policy": f"{self.limit};w={window}",
                "RateLimit": f"limit={self.limit}, remaining={remaining}, reset={window}"}
