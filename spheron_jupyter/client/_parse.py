"""Turning decoded JSON into models, with our own error instead of a pydantic dump."""

from __future__ import annotations

import logging
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ._errors import UnexpectedResponseError

__all__ = ["parse_list", "parse_one"]

log = logging.getLogger("spheron_jupyter.client")

M = TypeVar("M", bound=BaseModel)


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
