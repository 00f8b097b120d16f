"""Typed client for the Spheron AI REST API (httpx + pydantic).

``SpheronClient`` talks to app.spheron.ai or the embedded emulator alike.  Offer selection
(``OfferQuery``, ``select_offers``, ``offer_to_create_request``, ``normalize_gpu``) works on
models without any network.  Every error is a ``SpheronError`` with a one-sentence message
that never contains the API key.

Importing this package is cheap (no httpx, no pydantic): each name loads its module on first
use (PEP 562), so the ledger layer (spheron_jupyter/ledger/) reads ``statuses`` without the HTTP
stack and %load_ext stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._client import SpheronClient
    from ._errors import (AlreadyTerminatedError, ApiUnreachableError, AuthenticationError,
                          CreateOutcomeUnknownError, InsufficientBalanceError, InvalidRequestError,
                          MinimumRuntimeError, NotFoundError, OfferError, RateLimitedError,
                          ServiceUnavailableError, SpheronError, UnexpectedResponseError,
                          UnknownGpuError)
    from ._gpu_names import GpuSpec, normalize_gpu
    from ._http import USER_AGENT
    from ._models import (Balance, CanTerminate, GpuGroup, Instance, Offer, SshKey, Team,
                          TeamBalance, TerminateResult, Volume, VolumePricing)
    from ._offers import (OFFER_TYPES, SORT_KEYS, OfferQuery, flatten_offers,
                          offer_to_create_request, pick_os, pick_region, select_offers,
                          unique_instance_name)
    from ._requests import CloudInit, CreateRequest, WriteFile
    from ._pacing import RequestBudget, shared_budget
    from ._retry import Clock, RetryNotice, RetryPolicy, SystemClock
    from .providers import ssh_users
    from .regions import match_region, region_matches
    from .statuses import KNOWN_STATUSES, TERMINAL_STATUSES, is_billing, is_known, is_terminal

# Where each public name lives, imported on its first use (the imports above are for the type
# checker and for readers; this table is what runs).
_HOMES: dict[str, tuple[str, ...]] = {
    "._client": ("SpheronClient",),
    "._errors": ("AlreadyTerminatedError", "ApiUnreachableError", "AuthenticationError",
                 "CreateOutcomeUnknownError", "InsufficientBalanceError", "InvalidRequestError",
                 "MinimumRuntimeError", "NotFoundError", "OfferError", "RateLimitedError",
                 "ServiceUnavailableError", "SpheronError", "UnexpectedResponseError",
                 "UnknownGpuError"),
    "._gpu_names": ("GpuSpec", "normalize_gpu"),
    "._http": ("USER_AGENT",),
    "._models": ("Balance", "CanTerminate", "GpuGroup", "Instance", "Offer", "SshKey", "Team",
                 "TeamBalance", "TerminateResult", "Volume", "VolumePricing"),
    "._offers": ("OFFER_TYPES", "SORT_KEYS", "OfferQuery", "flatten_offers",
                 "offer_to_create_request", "pick_os", "pick_region", "select_offers",
                 "unique_instance_name"),
    "._requests": ("CloudInit", "CreateRequest", "WriteFile"),
    "._pacing": ("RequestBudget", "shared_budget"),
    "._retry": ("Clock", "RetryNotice", "RetryPolicy", "SystemClock"),
    ".providers": ("ssh_users",),
    ".regions": ("match_region", "region_matches"),
    ".statuses": ("KNOWN_STATUSES", "TERMINAL_STATUSES", "is_billing", "is_known", "is_terminal"),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "KNOWN_STATUSES",
    "OFFER_TYPES",
    "SORT_KEYS",
    "TERMINAL_STATUSES",
    "USER_AGENT",
    "AlreadyTerminatedError",
    "ApiUnreachableError",
    "AuthenticationError",
    "Balance",
    "CanTerminate",
    "Clock",
    "CloudInit",
    "CreateOutcomeUnknownError",
    "CreateRequest",
    "GpuGroup",
    "GpuSpec",
    "InsufficientBalanceError",
    "Instance",
    "InvalidRequestError",
    "MinimumRuntimeError",
    "NotFoundError",
    "Offer",
    "OfferError",
    "OfferQuery",
    "RateLimitedError",
    "RequestBudget",
    "RetryNotice",
    "RetryPolicy",
    "ServiceUnavailableError",
    "SpheronClient",
    "SpheronError",
    "SshKey",
    "SystemClock",
    "Team",
    "TeamBalance",
    "TerminateResult",
    "UnexpectedResponseError",
    "UnknownGpuError",
    "Volume",
    "VolumePricing",
    "WriteFile",
    "flatten_offers",
    "is_billing",
    "is_known",
    "is_terminal",
    "match_region",
    "normalize_gpu",
    "offer_to_create_request",
    "pick_os",
    "pick_region",
    "region_matches",
    "select_offers",
    "shared_budget",
    "ssh_users",
    "unique_instance_name",
]


if not TYPE_CHECKING:  # the type checker reads the imports above; a misspelt name stays an error

    def __getattr__(name: str) -> Any:
        module = _HOME_OF.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, __name__), name)
        globals()[name] = value  # the next use is a plain attribute
        return value
