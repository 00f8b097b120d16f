"""The list routes' paging: ``page``/``limit`` from the query and the documented envelope."""

from __future__ import annotations

import math

from .errors import ApiError

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def page_params(query) -> tuple[int, int]:
    """``(page, limit)`` from a query, 1-based, with the limit clamped to what we serve."""
    try:
        page = max(1, int(query.get("page") or 1))
        limit = max(1, min(MAX_LIMIT, int(query.get("limit") or DEFAULT_LIMIT)))
    except ValueError:
        raise ApiError.bad_request("page and limit must be positive integers.") from None
    return page, limit


def window(items: list, page: int, limit: int) -> list:
    return items[(page - 1) * limit:page * limit]


def envelope(key: str, views: list, total: int, page: int, limit: int) -> dict:
    return {key: views, "total": total, "page": page, "limit": limit,
            "totalPages": max(1, math.ceil(total / limit))}
