"""Typed errors, and the mapping from an HTTP answer to one of them.

Every message is one sentence a notebook user can act on, and passes through
``config.credentials.redact`` so that a server echoing a header cannot leak the API key.
"""

from __future__ import annotations

import email.utils
import re
import time
from typing import Any

from ..config.credentials import redact

__all__ = [
    "AlreadyTerminatedError",
    "ApiUnreachableError",
    "AuthenticationError",
    "CreateOutcomeUnknownError",
    "InsufficientBalanceError",
    "InvalidRequestError",
    "MinimumRuntimeError",
    "NotFoundError",
    "OfferError",
    "RateLimitedError",
    "ServiceUnavailableError",
    "SpheronError",
    "UnexpectedResponseError",
    "UnknownGpuError",
    "error_from_response",
    "parse_retry_after",
]


class SpheronError(Exception):
    """Base of every error the client raises.  ``status``/``code``/``body`` when the API sent them."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None,
                 body: Any = None) -> None:
        self.message = redact(message)
        super().__init__(self.message)
        self.status = status
        self.code = code
        # Kept for callers that want a field we do not map; a server echoing our request
        # could have put the key in it.
        self.body = _redacted_tree(body)

    def restated(self, message: str) -> SpheronError:
        """The same error (type and fields) with a message that says more."""
        clone = type(self).__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.message = redact(message)
        Exception.__init__(clone, clone.message)
        return clone


class AuthenticationError(SpheronError):
    """401/403: the key is wrong, revoked, or lacks rights."""


class NotFoundError(SpheronError):
    """404: no such instance, key, volume or route."""


class InvalidRequestError(SpheronError):
    """400 and other 4xx: the API refused the request as sent."""


class MinimumRuntimeError(InvalidRequestError):
    """Termination refused: the instance has not yet run its minimum time."""

    def __init__(self, message: str, *, minutes_remaining: float | None = None,
                 minimum_runtime: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.minutes_remaining = minutes_remaining
        self.minimum_runtime = minimum_runtime


class AlreadyTerminatedError(InvalidRequestError):
    """Termination refused because the instance is already gone."""

    def __init__(self, message: str, *, current_status: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.current_status = current_status


class InsufficientBalanceError(SpheronError):
    """The team's credit does not cover the request."""


class RateLimitedError(SpheronError):
    """429: too many requests; ``retry_after`` seconds when the API said."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServiceUnavailableError(SpheronError):
    """5xx: the service failed; usually temporary."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ApiUnreachableError(SpheronError):
    """No HTTP answer at all: refused connection, DNS, timeout, dropped connection.

    ``request_sent`` is False only when the request certainly never left (the connection
    was never made); a create is reconciled whenever it may have been sent.
    """

    def __init__(self, message: str, *, url: str = "", request_sent: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.url = url
        self.request_sent = request_sent


class UnexpectedResponseError(SpheronError):
    """A success status with a body we cannot read, or a redirect."""


class CreateOutcomeUnknownError(SpheronError):
    """A create's answer was lost and the instance list could not be read to check it."""

    def __init__(self, message: str, *, name: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.name = name


class OfferError(SpheronError, ValueError):
    """Bad offer query or an offer that cannot serve the request; nothing was sent."""


class UnknownGpuError(OfferError):
    """No GPU model in the catalog matches the name given."""


_BALANCE_TEXT = re.compile(r"\b(balance|credits?|insufficient funds)\b", re.IGNORECASE)
_MINUTES_LEFT = re.compile(r"time remaining:?\s*(\d+(?:\.\d+)?)", re.IGNORECASE)


def error_from_response(status: int, body: Any, headers: Any, *, what: str,
                        base_url: str) -> SpheronError:
    """The typed error for a non-2xx answer.  ``what`` names the request ("instance 'x'")."""
    message, error, code = _read_error_fields(body)
    text = message or error or ""
    info = {"status": status, "code": code, "body": body}
    detail = f"HTTP {status}" + (f": {_sentence_part(text)}" if text else "")
    fields = body if isinstance(body, dict) else {}
    lowered = f"{text} {error or ''}".lower()

    if status == 429:
        retry_after = parse_retry_after(body, headers)
        when = f"try again in {retry_after:g} s" if retry_after is not None else "try again later"
        return RateLimitedError(
            f"The Spheron API is rate limiting these requests ({detail}); {when}.",
            retry_after=retry_after, **info)
    if status >= 500:
        return ServiceUnavailableError(
            f"The Spheron API at {base_url} failed ({detail}); this is usually temporary, "
            "so try again shortly.", retry_after=parse_retry_after(body, headers), **info)
    if status != 401 and _BALANCE_TEXT.search(lowered):
        return InsufficientBalanceError(
            f"The team's balance does not cover {what} ({detail}); add credit in the Spheron "
            "dashboard.", **info)
    if status in (401, 403):
        return AuthenticationError(
            f"The Spheron API refused the API key ({detail}); check the key or run "
            "`%spheron login`.", **info)
    if status == 404:
        return NotFoundError(f"The Spheron API does not know {what} ({detail}).", **info)
    if "minimum runtime" in lowered or (
            fields.get("canTerminate") is False and fields.get("timeRemaining") is not None):
        remaining = _number(fields.get("timeRemaining"))
        if remaining is None:
            found = _MINUTES_LEFT.search(text)
            remaining = float(found.group(1)) if found else None
        minimum = _number(fields.get("minimumRuntime"))
        left = f"{remaining:g} more minutes" if remaining is not None else "longer"
        of = f" (minimum {minimum:g} minutes)" if minimum is not None else ""
        return MinimumRuntimeError(
            f"The Spheron API will not terminate {what} yet: it must run {left}{of}.",
            minutes_remaining=remaining, minimum_runtime=minimum, **info)
    if "already been terminated" in lowered or "already terminated" in lowered:
        current = fields.get("currentStatus")
        return AlreadyTerminatedError(
            f"The Spheron API says {what} has already been terminated"
            + (f" (status {current})." if current else "."),
            current_status=current if isinstance(current, str) else None, **info)
    return InvalidRequestError(f"The Spheron API rejected {what} ({detail}).", **info)


def parse_retry_after(body: Any, headers: Any) -> float | None:
    """Seconds to wait: the body's ``retryAfter`` first, then a ``Retry-After`` header."""
    if isinstance(body, dict):
        value = _number(body.get("retryAfter"))
        if value is not None and value >= 0:
            return value
    header = headers.get("retry-after") if headers is not None else None
    if not header:
        return None
    value = _number(header)
    if value is not None:
        return max(value, 0.0)
    try:
        when = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _redacted_tree(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redacted_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted_tree(v) for v in value]
    return value


def _read_error_fields(body: Any) -> tuple[str | None, str | None, str | None]:
    """(message, error, code) from the flat error objects the API sends."""
    if isinstance(body, str):
        text = body.strip()
        # An HTML error page from a proxy says nothing useful in one line.
        if text and not text.startswith("<") and len(text) < 300:
            return text, None, None
        return None, None, None
    if not isinstance(body, dict):
        return None, None, None
    message = body.get("message") if isinstance(body.get("message"), str) else None
    raw_error = body.get("error")
    code = body.get("code")
    error = None
    if isinstance(raw_error, str):
        error = raw_error
    elif isinstance(raw_error, dict):
        error = raw_error.get("message") if isinstance(raw_error.get("message"), str) else None
        code = code or raw_error.get("code")
    return message, error, str(code) if code is not None else None


def _sentence_part(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > 200:
        text = text[:197] + "..."
    return text.rstrip(".")


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None
