"""One request budget per API host, shared by every client of the process.

The live service limits each IP to about 100 requests per 15 minutes (docs/spheron-api.md,
"Rate limits"); a dashboard refreshing while a launch waits and ``ls`` runs must stay under it
together, so the budget belongs to the process, not to a client.  Before each request the
caller takes a slot; when the window is full it waits (and says so through its notice hook)
until the oldest request ages out.  A 429 stops every request of the process until its
``retryAfter`` has passed, so two threads do not both walk into the wall.

When the server announces its limit (``RateLimit-Policy: 100;w=900``, the IETF draft header
express-rate-limit sends; unverified for the live service) the budget adopts it; otherwise
it keeps the documented figure.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from ._retry import Clock, SystemClock

__all__ = ["DEFAULT_LIMIT", "DEFAULT_WINDOW_SECONDS", "RequestBudget", "shared_budget"]

DEFAULT_LIMIT = 100
DEFAULT_WINDOW_SECONDS = 15 * 60.0
# Keep a tenth of the window's requests for the other processes of this machine (reaper,
# other kernels) that share the IP but not this budget.
_SHARE = 0.9
_POLICY = re.compile(r"^\s*(\d+)\s*;\s*w\s*=\s*(\d+(?:\.\d+)?)")


class RequestBudget:
    """A sliding window of request times; ``take()`` blocks until a request may go."""

    def __init__(self, limit: int = DEFAULT_LIMIT, window: float = DEFAULT_WINDOW_SECONDS, *,
                 clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._times: deque[float] = deque()
        self._blocked_until = 0.0
        self.set_limit(limit, window)

    def set_limit(self, limit: int, window: float) -> None:
        with self._lock:
            self.limit, self.window = max(1, int(limit)), float(window)
            self._allowed = max(1, int(self.limit * _SHARE))

    def wait_needed(self) -> float:
        """Seconds until a request may go (0: now), without taking a slot."""
        with self._lock:
            return self._wait_locked(self.clock.time())

    def _wait_locked(self, now: float) -> float:
        while self._times and now - self._times[0] >= self.window:
            self._times.popleft()
        wait = max(0.0, self._blocked_until - now)
        if len(self._times) >= self._allowed:
            wait = max(wait, self._times[len(self._times) - self._allowed] + self.window - now)
        return wait

    def take(self, on_wait: Callable[[float, str], None] | None = None) -> None:
        """Take one slot, sleeping as long as the window or a 429 asks.  ``on_wait(seconds,
        reason)`` is called once before a wait."""
        told = False
        while True:
            with self._lock:
                now = self.clock.time()
                wait = self._wait_locked(now)
                if wait <= 0:
                    self._times.append(now)
                    return
                reason = ("rate limit" if self._blocked_until > now else "request budget")
            if on_wait is not None and not told:
                on_wait(wait, reason)
                told = True
            self.clock.sleep(wait)

    def block_for(self, seconds: float) -> None:
        """A 429 said to wait: nobody in this process sends before then."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, self.clock.time() + max(0.0, seconds))

    def adopt(self, headers: Mapping[str, str]) -> None:
        """Follow a limit the server announces (``RateLimit-Policy: N;w=S``)."""
        policy = headers.get("ratelimit-policy") or headers.get("x-ratelimit-policy")
        found = _POLICY.match(policy or "")
        if found:
            limit, window = int(found.group(1)), float(found.group(2))
            if limit > 0 and window > 0 and (limit, window) != (self.limit, self.window):
                self.set_limit(limit, window)

    def used(self) -> int:
        """Requests in the current window (for tests and `doctor`)."""
        with self._lock:
            self._wait_locked(self.clock.time())
            return len(self._times)

    def __repr__(self) -> str:
        return f"RequestBudget({self.limit}/{self.window:g}s)"


_SHARED: dict[str, RequestBudget] = {}
_SHARED_LOCK = threading.Lock()


def shared_budget(base_url: str) -> RequestBudget:
    """The process's budget for this API host (scheme, host and port)."""
    parts = urlsplit(base_url)
    key = f"{parts.scheme}://{parts.hostname}:{parts.port or ''}".lower()
    with _SHARED_LOCK:
        budget = _SHARED.get(key)
        if budget is None:
            budget = _SHARED[key] = RequestBudget()
        return budget
