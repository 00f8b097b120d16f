"""API errors as the live service shapes them: flat JSON objects with ``error`` and ``message``."""

from __future__ import annotations

import enum


class ApiError(Exception):
    def __init__(self, status: int, body: dict, headers: dict | None = None):
        super().__init__(body.get("message") or body.get("error"))
        self.status = status
        self.body = body
        self.headers = headers or {}

    @classmethod
    def bad_request(cls, message: str, error: str = "Bad Request", **extra) -> ApiError:
        return cls(400, {"error": error, "message": message, **extra})

    @classmethod
    def unauthorized(cls) -> ApiError:
        return cls(401, {"error": "Unauthorized", "message": "Invalid or missing API key."})

    @classmethod
    def forbidden(cls, message: str) -> ApiError:
        return cls(403, {"error": "Forbidden", "message": message})

    @classmethod
    def not_found(cls, what: str, ident: str) -> ApiError:
        return cls(404, {"error": "Not Found", "message": f"{what} {ident} not found."})

    @classmethod
    def rate_limited(cls, retry_after: int, message: str) -> ApiError:
        return cls(429, {"error": "Too Many Requests", "code": "RATE_LIMIT_EXCEEDED",
                         "message": message, "retryAfter": retry_after},
                   {"Retry-After": str(retry_after)})


class Drop(enum.Enum):
    """A handler result meaning "close the connection without any response" (drop / lose-create).
    An enum member so `result is DROP` narrows the result's type."""

    DROP = "drop"


DROP = Drop.DROP
