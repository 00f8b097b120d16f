"""When and how long to wait before repeating a request.

Only requests that are safe to repeat come here (GETs); creates are reconciled instead (see
``_client.SpheronClient.create_instance``).  Waiting goes through an injected clock, so tests
drive the whole policy without sleeping.  Retries are told, as one line each, to the caller's
``on_retry`` hook (the session shows them), once they last longer than a blip.

The loop is written here rather than on tenacity: its one attempt counter does not hold the two
budgets (5xx/no answer and 429 counted apart), and a ``tenacity.Retrying`` version came out
longer, its counts kept in closures that rely on the order tenacity calls its hooks in.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from ._errors import ApiUnreachableError, RateLimitedError, ServiceUnavailableError

__all__ = ["Clock", "RetryHook", "RetryNotice", "RetryPolicy", "SystemClock", "call_with_retries"]

log = logging.getLogger("spheron_jupyter.client")

T = TypeVar("T")


class Clock(Protocol):
    def time(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock: monotonic time, real sleep."""

    def time(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def __repr__(self) -> str:
        return "SystemClock()"


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with jitter; a server's ``retryAfter`` is a floor.

    A 429 is waited out as long as its ``retryAfter`` is at most ``max_retry_after`` (one
    window of the live general limit, 15 minutes: live 429s ask for well over a minute,
    docs/spheron-api.md), up to ``rate_limit_attempts`` times; a longer one is raised at once.
    Other transient failures (5xx, no answer) are tried ``attempts`` times in all.
    ``notice_after``: retries are told to the caller's hook only once they have taken that
    long, so a blip that heals in a second stays silent.
    """

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 900.0
    rate_limit_attempts: int = 5
    notice_after: float = 3.0

    def should_retry(self, exc: BaseException) -> bool:
        if isinstance(exc, RateLimitedError):
            return exc.retry_after is None or exc.retry_after <= self.max_retry_after
        return isinstance(exc, (ServiceUnavailableError, ApiUnreachableError))

    def delay(self, failures: int, exc: BaseException | None, rng: random.Random) -> float:
        """Seconds to wait after the ``failures``-th failure (1-based)."""
        backoff = min(self.max_delay, self.base_delay * 2 ** (failures - 1))
        # Jitter keeps many kernels that failed together from retrying together.
        wait = backoff * (0.5 + rng.random() / 2)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            wait = max(wait, min(float(retry_after), self.max_retry_after))
        return wait


@dataclass(frozen=True)
class RetryNotice:
    """What a retry hook is told: one line worth showing (``text``) and its parts.

    ``kind``: ``retry`` (5xx or no answer), ``rate-limit`` (a 429, waiting its retryAfter) or
    ``budget`` (this process's own pacing under the general limit, client/_pacing.py).
    """

    kind: str
    attempt: int
    attempts: int
    wait_seconds: float
    what: str

    @property
    def text(self) -> str:
        if self.kind == "rate-limit":
            return (f"Spheron API rate limit reached; waiting {self.wait_seconds:.0f} s as it "
                    f"asks, then retrying ({self.attempt}/{self.attempts})…")
        if self.kind == "budget":
            return (f"Pacing requests under the Spheron API's rate limit; waiting "
                    f"{self.wait_seconds:.0f} s…")
        return f"Spheron API slow/unavailable, retrying ({self.attempt}/{self.attempts})…"


RetryHook = Callable[[RetryNotice], None]


def call_with_retries(func: Callable[[], T], *, policy: RetryPolicy, clock: Clock,
                      rng: random.Random, describe: str, on_retry: RetryHook | None = None) -> T:
    """``func()``, repeated per ``policy`` on transient failures; the last error is raised."""
    started = clock.time()
    failures = limited = 0
    while True:
        try:
            return func()
        except Exception as exc:
            if not policy.should_retry(exc):
                raise
            if isinstance(exc, RateLimitedError):
                limited += 1
                if limited >= max(1, policy.rate_limit_attempts):
                    raise
                kind, attempt, bound = "rate-limit", limited + 1, policy.rate_limit_attempts
                wait = policy.delay(limited, exc, rng)
            else:
                failures += 1
                if failures >= max(1, policy.attempts):
                    raise
                kind, attempt, bound = "retry", failures + 1, policy.attempts
                wait = policy.delay(failures, exc, rng)
            log.info("retrying %s in %.1f s (%s, attempt %d of %d) after: %s", describe, wait,
                     kind, attempt, bound, exc)
            if on_retry is not None and (
                    kind == "rate-limit" or clock.time() - started + wait >= policy.notice_after):
                _tell(on_retry, RetryNotice(kind, attempt, bound, wait, describe))
            clock.sleep(wait)


def _tell(hook: RetryHook, notice: RetryNotice) -> None:
    try:
        hook(notice)
    except Exception:  # a broken display must not break the request
        log.exception("the retry hook failed")
