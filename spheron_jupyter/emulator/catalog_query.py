"""GET /api/gpu-offers over the generated catalog: grouping, search, filters, sorting, paging."""

from __future__ import annotations

import math
import re

from .catalog import GPU_MODELS
from .errors import ApiError

_POPULARITY = {m.live_type: m.popularity for m in GPU_MODELS}
SORT_KEYS = {
    "popularity": "popularity",
    "lowestPrice": "lowestPrice",
    "price": "lowestPrice",
    "highestPrice": "highestPrice",
    "averagePrice": "averagePrice",
}
INSTANCE_TYPES = ("SPOT", "DEDICATED", "CLUSTER", "BAREMETAL", "BARE_METAL")
MAX_LIMIT = 200


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def base_gpu_type(gpu_type: str) -> str:
    return gpu_type.removesuffix("_BAREMETAL")


def _group(gpu_type: str, offers: list[dict]) -> dict:
    prices = [o["price"] for o in offers]
    variants = sorted({o["interconnectType"] for o in offers})
    first = offers[0]
    return {
        "gpuType": gpu_type,
        "gpuModel": first["gpuModel"],
        "baseGpuType": base_gpu_type(gpu_type),
        "displayName": first["gpuModel"],
        "popularity": _POPULARITY.get(base_gpu_type(gpu_type), 30),
        "totalAvailable": sum(1 for o in offers if o["available"] and not o["maintenance"]),
        "lowestPrice": min(prices),
        "highestPrice": max(prices),
        "averagePrice": round(sum(prices) / len(prices), 4),
        "providers": sorted({o["provider"] for o in offers}),
        "interconnectVariants": variants,
        "hasMultipleVariants": len(variants) > 1,
        "offers": offers,
    }


def _int_param(query: dict, name: str, default: int, maximum: int | None = None) -> int:
    raw = query.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError.bad_request(f"Query parameter {name} must be a positive integer") from None
    if value < 1:
        raise ApiError.bad_request(f"Query parameter {name} must be a positive integer")
    return min(value, maximum) if maximum else value


def _matches_type(offer: dict, wanted: str) -> bool:
    if wanted in ("BAREMETAL", "BARE_METAL"):  # the docs' spelling is unverified: both
        return offer["gpuType"].endswith("_BAREMETAL")
    return offer["instanceType"] == wanted


def query_offers(catalog: list[dict], query: dict, discount: float = 0.0) -> dict:
    """Return the documented envelope ``{data, total, page, limit, totalPages}``."""
    page = _int_param(query, "page", 1)
    limit = _int_param(query, "limit", 10, MAX_LIMIT)
    sort_by = query.get("sortBy") or "popularity"
    if sort_by not in SORT_KEYS:
        raise ApiError.bad_request(
            f"Unknown sortBy {sort_by!r}; use one of: {', '.join(SORT_KEYS)}")
    default_order = "desc" if sort_by == "popularity" else "asc"
    sort_order = (query.get("sortOrder") or default_order).lower()
    if sort_order not in ("asc", "desc"):
        raise ApiError.bad_request("sortOrder must be asc or desc")
    instance_type = (query.get("instanceType") or "").upper()
    if instance_type and instance_type not in INSTANCE_TYPES:
        raise ApiError.bad_request(
            f"Unknown instanceType {instance_type!r}; use one of: {', '.join(INSTANCE_TYPES)}")
    search = _squash(query.get("search") or "")

    grouped: dict[str, list[dict]] = {}
    for offer in catalog:
        if instance_type and not _matches_type(offer, instance_type):
            continue
        if search and not any(search in _squash(offer[f]) for f in ("gpuType", "gpuModel")):
            continue
        grouped.setdefault(offer["gpuType"], []).append(_priced(offer, discount))
    groups = [_group(gpu_type, offers) for gpu_type, offers in grouped.items()]
    key = SORT_KEYS[sort_by]
    # Ties break on gpuType so paging is stable.
    groups.sort(key=lambda g: g["gpuType"])
    groups.sort(key=lambda g: g[key], reverse=sort_order == "desc")
    for group in groups:
        group["offers"].sort(key=lambda o: (o["price"], o["offerId"]),
                             reverse=sort_order == "desc" and key != "popularity")
    total = len(groups)
    start = (page - 1) * limit
    return {"data": groups[start:start + limit], "total": total, "page": page, "limit": limit,
            "totalPages": max(1, math.ceil(total / limit))}


def _priced(offer: dict, discount: float) -> dict:
    """A copy of the offer; with an authenticated caller it shows the team price fields."""
    copy = dict(offer, clusters=list(offer["clusters"]), os_options=list(offer["os_options"]),
                extras=dict(offer["extras"]))
    if discount is not None:
        copy["originalPrice"] = offer["price"]
        copy["discountedPrice"] = round(offer["price"] * (1 - discount), 4)
    return copy
