"""GET /api/providers (bare array, no auth) and GET /api/gpu-offers (envelope, auth optional)."""

from __future__ import annotations

from .catalog import PROVIDERS
from .catalog_query import query_offers


def providers(app, request):
    return 200, list(PROVIDERS)


def gpu_offers(app, request):
    # An authenticated caller sees its team's price fields (the emulator grants no discount).
    discount = 0.0 if request.authenticated else None
    return 200, query_offers(app.catalog, request.query, discount)


def register(app) -> None:
    app.route("GET", "/api/providers", providers, auth="none")
    app.route("GET", "/api/gpu-offers", gpu_offers, auth="optional")
