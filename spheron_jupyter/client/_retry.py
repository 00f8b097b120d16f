"""When and how long to wait before repeating a request.

Only requests that are safe to repeat come here (GETs); creates are reconciled instead (see
``_client.SpheronClient.create_instance``).  Waiting goes through an injected clock, so tests
drive the whole policy without sleeping.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import tenacity

from ._errors import ApiUnreachableError, RateLimitedError, ServiceUnavailableError

__all__ = ["Clock", "RetryPolicy", "SystemClock", "call_with_retries"]

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

    A rate limit asking for longer than ``max_retry_after`` is not waited out: the caller
    gets the :class:`RateLimitedError` at once (a notebook cell should not hang for minutes).
    """

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0

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


def call_with_retries(func: Callable[[], T], *, policy: RetryPolicy, clock: Clock,
                      rng: random.Random, describe: str) -> T:
    """``func()``, repeated per ``policy`` on transient failures; the last error is raised."""

    def wait(state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        return policy.delay(state.attempt_number, exc, rng)

    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.info("retrying %s in %.1f s (attempt %d of %d) after: %s", describe,
                 state.upcoming_sleep, state.attempt_number + 1, policy.attempts, exc)

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(max(1, policy.attempts)),
        wait=wait,
        retry=tenacity.retry_if_exception(policy.should_retry),
        sleep=clock.sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    return retrying(func)
