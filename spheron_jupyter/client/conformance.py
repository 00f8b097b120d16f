"""How an API answer differs from what our models know: the checks behind ``doctor``.

Our models accept drift on purpose (client/_models.py), so a live answer that differs from our
reading never fails a request; it is only seen when someone asks.  ``check_items`` asks: for
each item of an answer it names every field the model does not know, every field the code
relies on that is missing, every field of the wrong JSON type, and every value of an open
enumeration (status, provider, instance type, role) that we do not know.  Facts and their
sources: docs/spheron-api.md.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from pydantic import AliasChoices, BaseModel

from ._models import GpuGroup, Instance, Offer, SshKey, Team, TeamBalance
from .providers import KNOWN_PROVIDERS
from .statuses import is_known

__all__ = ["Difference", "KNOWN_INSTANCE_TYPES", "KNOWN_ROLES", "check_items", "known_keys"]

KNOWN_INSTANCE_TYPES = frozenset({"SPOT", "DEDICATED", "CLUSTER"})
KNOWN_ROLES = frozenset({"owner", "admin", "member"})

# Fields the code relies on (docs/spheron-api.md); the rest of each model is optional.
_REQUIRED: dict[type[BaseModel], tuple[str, ...]] = {
    Instance: ("id", "name", "status", "providerId", "gpuModelId", "gpuCount", "region",
               "hourlyRate", "createdAt"),
    Offer: ("provider", "offerId", "gpuCount", "price", "clusters", "os_options", "instanceType",
            "available", "maintenance", "supportsCloudInit"),
    GpuGroup: ("gpuType", "offers"),
    SshKey: ("id", "name"),
    TeamBalance: ("teamId", "teamName", "balance", "isCurrentTeam", "role"),
    Team: ("id", "name"),
}
# Nested lists a model holds, checked item by item under their own model.
_NESTED: dict[type[BaseModel], dict[str, type[BaseModel]]] = {GpuGroup: {"offers": Offer}}


@dataclass(frozen=True)
class Difference:
    """One way an answer differs from our models; ``line`` is what ``doctor`` prints."""

    route: str   # "GET /api/deployments"
    field: str   # "data[0].status"
    kind: str    # unknown-field, unknown-value, missing-field, mistyped-field
    detail: str

    @property
    def line(self) -> str:
        return f"{self.route}: {self.field}: {self.detail}"

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def known_keys(model: type[BaseModel]) -> dict[str, str]:
    """Every JSON key the model reads (all alias spellings) -> its attribute name."""
    keys: dict[str, str] = {}
    for name, info in model.model_fields.items():
        keys[name] = name
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            for choice in alias.choices:
                if isinstance(choice, str):
                    keys[choice] = name
        elif isinstance(alias, str):
            keys[alias] = name
        if info.alias:
            keys[info.alias] = name
    return keys


def _json_kind(annotation: Any) -> str | None:
    """The JSON type a field's annotation expects: string, number, integer, boolean, array,
    object or timestamp; None when anything goes."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        kinds = {_json_kind(a) for a in typing.get_args(annotation) if a is not type(None)}
        return kinds.pop() if len(kinds) == 1 else None
    if origin in (list, tuple, set, frozenset) or annotation in (list, tuple):
        return "array"
    if origin is dict or annotation is dict:
        return "object"
    return {str: "string", float: "number", int: "integer", bool: "boolean",
            datetime: "timestamp"}.get(annotation)


def _fits(kind: str, value: Any, field: str) -> bool:
    if kind == "string":
        # Ids may come as numbers; our models turn them into strings on purpose.
        return isinstance(value, str) or (field in ("id", "offer_id", "team_id", "ssh_key_id")
                                          and isinstance(value, int))
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer())
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "array":
        return isinstance(value, list)
    if kind == "object":
        return isinstance(value, dict)
    if kind == "timestamp":
        if not isinstance(value, str):
            return False
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return False
        return True
    return True


def _values(model: type[BaseModel], item: dict[str, Any]) -> Iterable[tuple[str, str, str]]:
    """(key, kind, detail) for every open-enumeration value we do not know."""
    if model is Instance and "status" in item and not is_known(item["status"]):
        yield ("status", "unknown-value",
               f"status {item['status']!r} is not one of the documented statuses "
               "(shown as is and counted as billing)")
    provider_key = {Offer: "provider", Instance: "providerId"}.get(model, "")
    provider = item.get(provider_key) if provider_key else None
    if isinstance(provider, str) and provider and not _known_provider(provider):
        yield (provider_key, "unknown-value", f"provider {provider!r} is not one we know")
    if model in (Offer, Instance) and isinstance(item.get("instanceType"), str):
        if item["instanceType"].upper() not in KNOWN_INSTANCE_TYPES:
            yield ("instanceType", "unknown-value",
                   f"instance type {item['instanceType']!r} is not SPOT, DEDICATED or CLUSTER")
    if model in (TeamBalance, Team) and isinstance(item.get("role"), str):
        if item["role"].lower() not in KNOWN_ROLES:
            yield ("role", "unknown-value", f"role {item['role']!r} is not owner, admin or member")


def _known_provider(value: str) -> bool:
    text = value.strip().lower()
    # providerId sometimes carries an id suffix (docs/spheron-api.md).
    return any(text == p or text.startswith((p + "-", p + "_")) for p in KNOWN_PROVIDERS)


def check_items(route: str, model: type[BaseModel], items: Iterable[Any],
                where: str = "data") -> list[Difference]:
    """Differences between each raw item (as the API sent it) and ``model``."""
    found: list[Difference] = []
    keys = known_keys(model)
    kinds = {name: _json_kind(info.annotation) for name, info in model.model_fields.items()}
    for index, item in enumerate(items):
        at = f"{where}[{index}]"
        if not isinstance(item, dict):
            found.append(Difference(route, at, "mistyped-field",
                                    f"an item is {type(item).__name__}, not an object"))
            continue
        for key in sorted(set(item) - set(keys)):
            found.append(Difference(route, f"{at}.{key}", "unknown-field",
                                    f"field {key!r} is not in our model of {model.__name__}"))
        for key in _REQUIRED.get(model, ()):
            if item.get(key) is None and not any(
                    item.get(k) is not None for k, n in keys.items() if n == keys.get(key)):
                found.append(Difference(route, f"{at}.{key}", "missing-field",
                                        f"field {key!r} is missing or null"))
        for key, value in item.items():
            name = keys.get(key)
            kind = kinds.get(name) if name else None
            if value is None or kind is None or name is None or name in _NESTED.get(model, {}):
                continue
            if not _fits(kind, value, name):
                found.append(Difference(route, f"{at}.{key}", "mistyped-field",
                                        f"field {key!r} is {type(value).__name__}, not {kind}"))
        for key, kind, detail in _values(model, item):
            found.append(Difference(route, f"{at}.{key}", kind, detail))
        for key, inner in _NESTED.get(model, {}).items():
            if isinstance(item.get(key), list):
                found.extend(check_items(route, inner, item[key], f"{at}.{key}"))
    return found
