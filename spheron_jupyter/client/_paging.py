"""Reading answers: list envelopes, pages, object wrappers, and models out of plain JSON.

A list comes as a bare array, or under one of several keys (``data``, ``deployments``,
``sshKeys``, ``volumes``, ``teams``, ...), sometimes one level deeper under ``data``, with
optional ``total/page/limit/totalPages`` beside it or under ``pagination``/``meta``.  A model
that cannot be read becomes our own one-line error, never a pydantic dump.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ._errors import UnexpectedResponseError

__all__ = ["LIST_KEYS", "PageInfo", "collect_pages", "extract_items", "parse_list", "parse_one",
           "unwrap_object"]

log = logging.getLogger("spheron_jupyter.client")

M = TypeVar("M", bound=BaseModel)

LIST_KEYS = ("data", "deployments", "sshKeys", "ssh_keys", "keys", "volumes", "teams", "offers",
             "providers", "items", "results")

# Beyond this many pages something is wrong (a server ignoring `page`); stop rather than spin.
MAX_PAGES = 500


@dataclass(frozen=True)
class PageInfo:
    total: int | None = None
    page: int | None = None
    limit: int | None = None
    total_pages: int | None = None

    @property
    def known(self) -> bool:
        return self.total is not None or self.total_pages is not None


def extract_items(payload: Any, keys: Iterable[str] = LIST_KEYS, *,
                  what: str = "the list") -> tuple[list[Any], PageInfo]:
    """The items of a list answer and whatever paging information came with them."""
    if isinstance(payload, list):
        return payload, PageInfo()
    if isinstance(payload, dict):
        keys = tuple(keys)
        for key in keys:
            value = payload.get(key)
            if isinstance(value, list):
                return value, _page_info(payload)
        inner = payload.get("data")
        if isinstance(inner, dict):
            items, info = extract_items(inner, keys, what=what)
            return items, info if info.known else _page_info(payload)
        if payload == {} or all(v is None for v in payload.values()):
            return [], _page_info(payload)
    raise UnexpectedResponseError(
        f"The Spheron API answered {what} with {type(payload).__name__} where a list was "
        "expected; the API may have changed.")


def unwrap_object(payload: Any, keys: Iterable[str]) -> Any:
    """An object answer, unwrapped from ``{"deployment": {...}}``-style envelopes."""
    if isinstance(payload, dict) and "id" not in payload:
        for key in (*keys, "data"):
            value = payload.get(key)
            if isinstance(value, dict):
                return value
    return payload


def collect_pages(fetch: Callable[[int], Any], *, limit: int, keys: Iterable[str] = LIST_KEYS,
                  what: str = "the list") -> list[Any]:
    """Fetch page 1, 2, ... until the paging information (or a short page) says stop."""
    keys = tuple(keys)
    collected: list[Any] = []
    previous_first: Any = None
    for page in range(1, MAX_PAGES + 1):
        payload = fetch(page)
        items, info = extract_items(payload, keys, what=what)
        if not items:
            break
        if page > 1 and items[0] == previous_first:
            # The server ignores `page` and sent the same list again.
            break
        previous_first = items[0]
        collected.extend(items)
        if info.total_pages is not None:
            if page >= info.total_pages:
                break
        elif info.total is not None:
            if len(collected) >= info.total:
                break
        elif len(items) < limit:
            break
    return collected


def _page_info(payload: dict[str, Any]) -> PageInfo:
    source = payload
    for key in ("pagination", "meta"):
        if isinstance(payload.get(key), dict):
            source = {**payload[key], **{k: v for k, v in payload.items() if k in _FIELDS}}
            break
    return PageInfo(
        total=_int(source.get("total", source.get("totalCount"))),
        page=_int(source.get("page", source.get("currentPage"))),
        limit=_int(source.get("limit", source.get("pageSize"))),
        total_pages=_int(source.get("totalPages", source.get("pages"))),
    )


_FIELDS = ("total", "page", "limit", "totalPages")


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def parse_one(model: type[M], payload: Any, what: str) -> M:
    if not isinstance(payload, dict):
        raise UnexpectedResponseError(
            f"The Spheron API answered {what} with {type(payload).__name__} where an object was "
            "expected; the API may have changed.")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise UnexpectedResponseError(
            f"The Spheron API answered {what} in a shape we cannot read ({_first_problem(exc)}); "
            "the API may have changed.") from None


def parse_list(model: type[M], items: list[Any], what: str, *, skip_bad: bool = False) -> list[M]:
    """Every item as ``model``.  ``skip_bad`` drops unreadable items (fine for a catalog,
    never for instances: dropping one would hide something that bills)."""
    parsed = []
    for item in items:
        try:
            parsed.append(parse_one(model, item, what))
        except UnexpectedResponseError as exc:
            if not skip_bad:
                raise
            log.debug("skipped an unreadable entry of %s: %s", what, exc)
    return parsed


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "top level"
    return f"{where}: {error['msg']}"
