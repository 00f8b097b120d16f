"""One HTTP exchange with the API: auth, timeouts, status mapping, retries for GETs.

The key reaches the wire through :class:`_BearerAuth` and nowhere else: it is not in the
client's default headers, not in any log line (we log method, path and status only), and
exceptions carry our own redacted messages rather than httpx's.
"""

from __future__ import annotations

import json
import logging
import random
from typing import Any

import httpx

from .. import __version__
from ..config.credentials import ApiKey
from ._errors import (ApiUnreachableError, InvalidRequestError, RateLimitedError,
                      ServiceUnavailableError, SpheronError, UnexpectedResponseError,
                      error_from_response)
from ._pacing import RequestBudget
from ._retry import (Clock, RetryHook, RetryNotice, RetryPolicy, SystemClock,
                     call_with_retries)

__all__ = ["USER_AGENT", "HttpCore", "is_lost_response"]

USER_AGENT = f"spheron-jupyter/{__version__}"

log = logging.getLogger("spheron_jupyter.client")


class _BearerAuth(httpx.Auth):
    def __init__(self, key: ApiKey) -> None:
        self._key = key

    def auth_flow(self, request: httpx.Request):
        request.headers["Authorization"] = f"Bearer {self._key.reveal()}"
        yield request

    def __repr__(self) -> str:
        return f"_BearerAuth({self._key!r})"


class HttpCore:
    """Sends requests and returns parsed JSON (None for an empty body), or raises."""

    def __init__(self, base_url: str, api_key: ApiKey | None, *,
                 transport: httpx.BaseTransport | None, clock: Clock | None, timeout: float,
                 retry: RetryPolicy | None, rng: random.Random | None,
                 pacing: RequestBudget | None = None, on_retry: RetryHook | None = None) -> None:
        self.base_url = (base_url or "").strip().rstrip("/")
        if not self.base_url.lower().startswith(("http://", "https://")):
            # Caught here, once: as a transport error it would be retried with backoff.
            raise InvalidRequestError(
                f"The Spheron API URL {base_url!r} must start with http:// or https://.")
        self.clock = clock or SystemClock()
        self.retry_policy = retry or RetryPolicy()
        self._rng = rng or random.Random()
        # The process's request budget under the general limit (client/_pacing.py), or None.
        self.pacing = pacing
        # Told each retry/wait worth a line (RetryNotice); the session shows them.
        self.on_retry = on_retry
        self._http = httpx.Client(
            base_url=self.base_url,
            transport=transport,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            auth=_BearerAuth(api_key) if api_key is not None else None,
            # A redirect usually means a wrong URL (a login page); following it could carry
            # the request somewhere unexpected.
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                body: Any = None, what: str | None = None, retry: bool | None = None) -> Any:
        """``retry`` defaults to True for GET only: other methods are not repeated here."""
        what = what or f"{method} {path}"
        params = {k: v for k, v in (params or {}).items() if v is not None}
        if retry is None:
            retry = method == "GET"

        def once() -> Any:
            return self._exchange(method, path, params, body, what)

        if not retry:
            return once()
        return call_with_retries(once, policy=self.retry_policy, clock=self.clock,
                                 rng=self._rng, describe=f"{method} {path}",
                                 on_retry=self.on_retry)

    def _budget_wait(self, seconds: float, reason: str, describe: str) -> None:
        if self.on_retry is not None and seconds >= self.retry_policy.notice_after:
            try:
                self.on_retry(RetryNotice("budget" if reason == "request budget" else
                                          "rate-limit", 1, 1, seconds, describe))
            except Exception:  # a broken display must not break the request
                log.exception("the retry hook failed")

    def _exchange(self, method: str, path: str, params: dict[str, Any], body: Any,
                  what: str) -> Any:
        url = f"{self.base_url}{path}"
        if self.pacing is not None:
            self.pacing.take(lambda seconds, reason: self._budget_wait(
                seconds, reason, f"{method} {path}"))
        try:
            response = self._http.request(method, path, params=params or None,
                                          json=body if body is not None else None)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise ApiUnreachableError(
                f"Cannot reach the Spheron API at {self.base_url} ({_reason(exc)}); check the "
                "URL and the network.", url=url, request_sent=False) from None
        except httpx.TimeoutException:
            raise ApiUnreachableError(
                f"The Spheron API at {self.base_url} did not answer {what} in time; it may be "
                "overloaded or the network is slow.", url=url) from None
        except httpx.TransportError as exc:
            raise ApiUnreachableError(
                f"The connection to the Spheron API at {self.base_url} broke during {what} "
                f"({_reason(exc)}).", url=url) from None
        log.debug("%s %s -> %s", method, path, response.status_code)
        if self.pacing is not None:
            self.pacing.adopt(response.headers)
        payload = _parse_body(response)
        if 200 <= response.status_code < 300:
            if payload is _NOT_JSON:
                raise UnexpectedResponseError(
                    f"The Spheron API answered {what} with something that is not JSON; check "
                    f"that {self.base_url} is the API's URL.", status=response.status_code)
            return payload
        if 300 <= response.status_code < 400:
            target = response.headers.get("location", "elsewhere")
            raise UnexpectedResponseError(
                f"The Spheron API at {self.base_url} redirected {what} to {target}; check the "
                "API URL.", status=response.status_code)
        if payload is _NOT_JSON:
            payload = response.text
        error = error_from_response(response.status_code, payload, response.headers, what=what,
                                    base_url=self.base_url)
        if (isinstance(error, RateLimitedError) and self.pacing is not None
                and not (method == "POST" and path == "/api/deployments")):
            # Every request of the process waits, not just this one's retry.  A create's 429
            # is the create limit (10 / 15 min per user), which leaves other requests free.
            # Capped: a 429 asking for more than one window is raised, not waited out.
            self.pacing.block_for(min(error.retry_after or self.retry_policy.base_delay,
                                      self.retry_policy.max_retry_after))
        raise error

    def __repr__(self) -> str:
        return f"HttpCore({self.base_url!r})"


_NOT_JSON = object()


def _parse_body(response: httpx.Response) -> Any:
    content = response.content
    if not content or not content.strip():
        return None
    try:
        return json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return _NOT_JSON


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    # httpx's messages can be long chains ("[Errno 111] Connection refused"); keep the gist.
    return text.splitlines()[0][:160]


def is_lost_response(exc: SpheronError) -> bool:
    """True when the request may have reached the server but we saw no usable answer."""
    if isinstance(exc, ApiUnreachableError):
        return exc.request_sent
    return isinstance(exc, ServiceUnavailableError)
