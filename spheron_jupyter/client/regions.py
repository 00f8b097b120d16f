"""Region (cluster) ids as people type them, matched to the ids the catalog serves.

Live cluster ids are free text, and some carry a routing prefix (docs/spheron-api.md, "Live
value formats"): ``166e655a:culpeper-usa-1``, ``Finland 3``, ``EU North 1``.  A user types
``culpeper-usa-1`` or ``finland-3``; the create request must carry the id verbatim.  So a
wanted region matches an id when it equals the id (case aside), or equals its name without
the prefix, with case, spaces, dashes and underscores all counting alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

__all__ = ["match_region", "region_key", "region_keys", "region_matches", "strip_prefix"]

_RUNS = re.compile(r"[^a-z0-9]+")


def strip_prefix(region: str) -> str:
    """``166e655a:culpeper-usa-1`` -> ``culpeper-usa-1``; ids without a prefix unchanged."""
    head, sep, tail = str(region).rpartition(":")
    return tail.strip() if sep and head.strip() and tail.strip() else str(region).strip()


@lru_cache(maxsize=4096)
def region_key(region: str) -> str:
    """The loose form: prefix dropped, lower case, every run of other characters one dash."""
    return _RUNS.sub("-", strip_prefix(region).lower()).strip("-")


@lru_cache(maxsize=4096)
def region_keys(regions: tuple[str, ...]) -> frozenset[str]:
    """Every form a region of ``regions`` answers to (verbatim lower-cased, and loose)."""
    keys: set[str] = set()
    for region in regions:
        if region and str(region).strip():
            keys.add(str(region).strip().lower())
            keys.add(region_key(str(region)))
    keys.discard("")
    return frozenset(keys)


def region_matches(wanted: str, region: str) -> bool:
    wanted = str(wanted or "").strip()
    if not wanted or not region:
        return False
    return (wanted.lower() == str(region).strip().lower()
            or region_key(wanted) == region_key(str(region)))


def match_region(wanted: str, choices: Iterable[str]) -> str | None:
    """The verbatim id among ``choices`` that ``wanted`` names, or None.

    An exact (case-blind) match wins over a loose one, so two ids that differ only by their
    prefix can still be told apart by giving the whole id.
    """
    choices = [str(c) for c in choices if c and str(c).strip()]
    wanted = str(wanted or "").strip()
    exact = [c for c in choices if c.strip().lower() == wanted.lower()]
    if exact:
        return exact[0]
    loose = [c for c in choices if region_matches(wanted, c)]
    return loose[0] if loose else None
