"""From an ICL document to what the emulated provider runs, and what an update may change.

The ICL is loaded and checked by the same code the notebook uses (protocol.icl + protocol.rules),
so the emulated `sphnctl` refuses exactly what `%%spheron icl --check` reports. The result is a
plain JSON-able description of each deployed service: image, command, args, env, count,
resources and exposed ports (port ranges expanded to single ports).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..protocol.errors import IclError
from ..protocol.icl import IclDocument, load_icl
from ..protocol.rules import check


class ManifestError(Exception):
    """A document the emulated provider refuses; the message is what sphnctl prints."""


def load_document(path: str) -> tuple[IclDocument, str]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ManifestError(f"cannot read {path}: {error.strerror or error}") from None
    try:
        document = load_icl(text)
    except IclError as error:
        raise ManifestError(f"invalid ICL: {error.first_message}") from None
    result = check(document)
    if result.errors:
        more = len(result.errors) - 1
        raise ManifestError(f"invalid ICL: {result.errors[0].message}"
                            + (f" (and {more} more problem{'s' * (more > 1)})" if more else ""))
    return document, text


def _number(value: float) -> str:
    return f"{value:g}"


def _resources(document: IclDocument, profile: str) -> dict[str, Any]:
    compute = document.profiles.compute.get(profile)
    if compute is None:
        return {}
    resources = compute.resources
    gpu = resources.gpu
    return {
        "cpu": _number(float(resources.cpu.units)),
        "memory": str(resources.memory.size),
        "storage": [str(volume.size) for volume in resources.storage],
        "gpu": gpu.units if gpu else 0,
    }


def _ports(service) -> list[dict[str, Any]]:
    ports = []
    for expose in service.expose:
        proto = (expose.proto or "tcp").upper()
        if expose.port is not None:
            ports.append({"port": int(expose.port), "as": int(expose.public_port), "proto": proto,
                          "global": expose.is_global})
        elif expose.port_range is not None:
            public = expose.port_range_as or expose.port_range
            for offset in range(expose.port_range.span):
                ports.append({"port": expose.port_range.start + offset, "as": public.start + offset,
                              "proto": proto, "global": expose.is_global})
    return ports


def describe(document: IclDocument) -> dict[str, Any]:
    """The lease terms and the services to run, as stored in deployment.json."""
    services, regions, pricing = [], [], None
    for name, service in document.services.items():
        entries = [(placement, entry) for svc, placement, entry in document.deployments() if svc == name]
        if not entries:
            continue  # declared but not deployed: nothing runs
        profile = entries[0][1].profile
        for placement_name, entry in entries:
            placement = document.profiles.placement.get(placement_name)
            if placement is None:
                continue
            if placement.attributes:
                regions += placement.attributes.regions
            pricing = pricing or placement.pricing.get(entry.profile)
        services.append({
            "name": name, "image": service.image, "command": service.command, "args": service.args,
            "env": service.env_dict(), "count": sum(entry.count for _, entry in entries),
            "profile": profile, "resources": _resources(document, profile), "ports": _ports(service),
        })
    duration = document.profiles.duration
    return {
        "mode": document.mode,
        "name": document.profiles.name,
        "services": services,
        "region": regions[0] if regions else "us-east",
        "tiers": list(document.profiles.tiers),
        "token": pricing.token if pricing else "uSPON",
        "price_amount": float(pricing.amount) if pricing else 0.0,
        "duration_seconds": int(duration),
        "duration_text": str(duration),
    }


def refuse_forbidden_changes(current: dict[str, Any], proposed: dict[str, Any]) -> None:
    """sphnctl's update changes resources, env and image; ports, region, tier and token are fixed."""
    def ports_of(terms: dict[str, Any]) -> dict[str, list]:
        return {s["name"]: sorted((p["port"], p["as"], p["proto"], p["global"]) for p in s["ports"])
                for s in terms["services"]}

    def shown(ports: list) -> str:
        return ", ".join(f"{port}" + (f" as {public}" if public != port else "") + f"/{proto.lower()}"
                         for port, public, proto, _ in ports) or "none"

    how = "close the deployment and create a new one to change it"
    if current["mode"] != proposed["mode"]:
        raise ManifestError(f"the mode cannot change ({current['mode']} -> {proposed['mode']}): {how}")
    if set(ports_of(current)) != set(ports_of(proposed)):
        raise ManifestError(
            f"services cannot be added or removed by an update "
            f"({', '.join(sorted(ports_of(current)))} -> {', '.join(sorted(ports_of(proposed)))}): {how}")
    for name, ports in ports_of(current).items():
        if ports != ports_of(proposed)[name]:
            raise ManifestError(f"ports cannot change (service {name}: {shown(ports)} -> "
                                f"{shown(ports_of(proposed)[name])}): {how}")
    for key, label in (("region", "region"), ("tiers", "tier"), ("token", "payment token")):
        if current[key] != proposed[key]:
            raise ManifestError(f"the {label} cannot change ({current[key]} -> {proposed[key]}): {how}")
