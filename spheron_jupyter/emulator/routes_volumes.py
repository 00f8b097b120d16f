"""/api/volumes: list, create, get, update, delete, attach, detach, pricing, regions.

Volumes belong to a team (``teamId`` in the body or query, else the current team) and bill
``sizeInGb * hourlyRatePerGb`` per hour from creation until deletion.  The rules per provider
are in volume_rules.py; every refusal is a 400 that names the rule.  The attach/detach body is
``{"deploymentId": ...}`` (``instanceId`` is accepted too, since the live shape is unverified).
"""

from __future__ import annotations

import secrets
import time

from .errors import ApiError
from .paging import envelope, page_params, window
from .routes_account import resolve_team
from .volume_rules import RULES, supported_summary

ATTACHABLE_STATUSES = ("deploying", "running", "stopped")


def _rule(provider):
    rule = RULES.get(provider)
    if rule is None:
        raise ApiError.bad_request(
            f"Provider {provider!r} does not support volumes; volumes are available on "
            f"{supported_summary()}.", error="Volumes not supported")
    return rule


def _size(value, rule) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) \
            or value < 1:
        raise ApiError.bad_request("sizeInGb must be a positive whole number of GB.")
    if value > rule.max_size_gb:
        raise ApiError.bad_request(
            f"{rule.provider} volumes can be at most {rule.max_size_gb // 1000} TB "
            f"({rule.max_size_gb} GB); {int(value)} GB was requested.", error="Volume too large")
    return int(value)


def _volume(app, volume_id: str) -> dict:
    volume = app.store.volumes.get(volume_id)
    if volume is None:
        raise ApiError.not_found("Volume", volume_id)
    return volume


def list_volumes(app, request):
    query = request.query
    page, limit = page_params(query)
    now = time.time()
    with app.store.lock:
        team = resolve_team(app, query.get("teamId"))
        views = [app.store.volume_view(v, now) for v in app.store.volumes.values()
                 if v["teamId"] == team["teamId"]]
    if query.get("status"):
        views = [v for v in views if v["status"] == query["status"]]
    views.sort(key=lambda v: v["createdAt"])
    return 200, envelope("volumes", window(views, page, limit), len(views), page, limit)


def create_volume(app, request):
    body = request.json()
    missing = [f for f in ("provider", "sizeInGb") if body.get(f) in (None, "")]
    if missing:
        raise ApiError.bad_request(f"Missing required fields: {', '.join(missing)}.")
    rule = _rule(body["provider"])
    region = body.get("region") or next(iter(rule.regions))
    if region not in rule.regions:
        raise ApiError.bad_request(
            f"{rule.provider} volumes are only available in {', '.join(rule.regions)}; "
            f"region {region!r} has none.", error="Volumes not supported")
    size = _size(body["sizeInGb"], rule)
    volume_type = body.get("type") or rule.types[0]
    if volume_type not in rule.types:
        raise ApiError.bad_request(
            f"{rule.provider} volumes are of type {' or '.join(rule.types)}, not {volume_type!r}.")
    name = body.get("name") or f"volume-{secrets.token_hex(3)}"
    if not isinstance(name, str) or len(name) > 128:
        raise ApiError.bad_request("name must be a string of at most 128 characters.")
    now = time.time()
    with app.store.lock:
        team = resolve_team(app, body.get("teamId"))
        volume = {"id": "vol_" + secrets.token_hex(10), "name": name, "provider": rule.provider,
                  "region": region, "sizeInGb": size, "type": volume_type,
                  "teamId": team["teamId"], "attachedTo": [], "createdTs": now,
                  "hourlyRate": round(size * rule.hourly_rate_per_gb, 6),
                  "hourlyRatePerGb": rule.hourly_rate_per_gb}
        app.store.volume_dir(volume["id"]).mkdir(parents=True, exist_ok=True)
        app.store.volumes[volume["id"]] = volume
        app.store.save()
        return 201, app.store.volume_view(volume, now)


def get_volume(app, request):
    with app.store.lock:
        return 200, app.store.volume_view(_volume(app, request.params["id"]), time.time())


def update_volume(app, request):
    body = request.json()
    unknown = sorted(set(body) - {"name", "sizeInGb"})
    if unknown:
        raise ApiError.bad_request(f"Only name and sizeInGb can be changed (got {', '.join(unknown)}).")
    now = time.time()
    with app.store.lock:
        volume = _volume(app, request.params["id"])
        if "sizeInGb" in body:
            size = _size(body["sizeInGb"], RULES[volume["provider"]])
            if size < volume["sizeInGb"]:
                raise ApiError.bad_request(
                    f"A volume can only grow: it has {volume['sizeInGb']} GB, {size} GB was asked.")
            # Bill the old size up to now, the new size from now on.
            team = app.store.team(volume["teamId"])
            team["spentOnDeleted"] += app.store.volume_cost(volume, now)
            volume.update(sizeInGb=size, createdTs=now,
                          hourlyRate=round(size * volume["hourlyRatePerGb"], 6))
        if "name" in body:
            if not isinstance(body["name"], str) or not body["name"].strip():
                raise ApiError.bad_request("name must be a non-empty string.")
            volume["name"] = body["name"]
        app.store.save()
        return 200, app.store.volume_view(volume, now)


def delete_volume(app, request):
    now = time.time()
    with app.store.lock:
        volume = _volume(app, request.params["id"])
        if volume["attachedTo"]:
            raise ApiError.bad_request(
                f"Volume {volume['id']} is attached to {', '.join(volume['attachedTo'])}; "
                "detach it first.", error="Volume in use")
        app.store.team(volume["teamId"])["spentOnDeleted"] += app.store.volume_cost(volume, now)
        del app.store.volumes[volume["id"]]
        app.store.save()
    return 200, {"message": "Volume deleted.", "volume": {"id": volume["id"], "status": "deleted"}}


def _target(app, request) -> tuple[dict, dict]:
    body = request.json()
    dep_id = body.get("deploymentId") or body.get("instanceId")
    if not dep_id:
        raise ApiError.bad_request("Missing required field: deploymentId.")
    volume = _volume(app, request.params["id"])
    dep = app.store.deployments.get(str(dep_id))
    if dep is None:
        raise ApiError.not_found("Deployment", str(dep_id))
    return volume, dep


def attach(app, request):
    now = time.time()
    with app.store.lock:
        volume, dep = _target(app, request)
        rule = RULES[volume["provider"]]
        if dep["teamId"] != volume["teamId"]:
            raise ApiError.bad_request("The volume and the instance belong to different teams.")
        if dep["status"] not in ATTACHABLE_STATUSES:
            raise ApiError.bad_request(
                f"Instance {dep['id']} is {dep['status']}; volumes attach only to active instances.")
        if dep["providerId"] != volume["provider"]:
            raise ApiError.bad_request(
                f"Volume {volume['id']} is a {volume['provider']} volume; it cannot attach to a "
                f"{dep['providerId']} instance.", error="Attach refused")
        if dep["region"] != volume["region"]:
            raise ApiError.bad_request(
                f"Volume {volume['id']} is in {volume['region']} but instance {dep['id']} is in "
                f"{dep['region']}; {rule.provider} volumes attach only within the same region.",
                error="Attach refused")
        if dep["id"] in volume["attachedTo"]:
            raise ApiError.bad_request(f"Volume {volume['id']} is already attached to {dep['id']}.")
        if not rule.multi_attach and volume["attachedTo"]:
            raise ApiError.bad_request(
                f"{rule.provider} volumes attach to one instance at a time; {volume['id']} is "
                f"attached to {volume['attachedTo'][0]}.", error="Attach refused")
        if not rule.multi_attach and dep["volumeIds"]:
            raise ApiError.bad_request(
                f"{rule.provider} allows one volume per instance; {dep['id']} already has "
                f"{dep['volumeIds'][0]}.", error="Attach refused")
        volume["attachedTo"].append(dep["id"])
        dep["volumeIds"].append(volume["id"])
        app.store.save()
        event = ("attach", app.store.runtime_instance(dep, now), app.store.runtime_volume(volume, now))
        view = app.store.volume_view(volume, now)
    app.run_events([event])
    return 200, {"message": "Volume attached.", "volume": view}


def detach(app, request):
    now = time.time()
    with app.store.lock:
        volume, dep = _target(app, request)
        if dep["id"] not in volume["attachedTo"]:
            raise ApiError.bad_request(f"Volume {volume['id']} is not attached to {dep['id']}.")
        volume["attachedTo"].remove(dep["id"])
        dep["volumeIds"].remove(volume["id"])
        app.store.save()
        event = ("detach", app.store.runtime_instance(dep, now), app.store.runtime_volume(volume, now))
        view = app.store.volume_view(volume, now)
    app.run_events([event])
    return 200, {"message": "Volume detached.", "volume": view}


def pricing(app, request):
    provider = request.query.get("provider")
    if not provider:
        return 200, {"currency": "USD", "hourlyRatePerGb": RULES["voltage-park"].hourly_rate_per_gb,
                     "data": [{"provider": r.provider, "hourlyRatePerGb": r.hourly_rate_per_gb}
                              for r in RULES.values()]}
    rule = _rule(provider)
    region = request.query.get("region") or next(iter(rule.regions))
    if region not in rule.regions:
        raise ApiError.bad_request(f"{rule.provider} has no volumes in region {region!r}; "
                                   f"use {', '.join(rule.regions)}.")
    return 200, {"provider": provider, "region": region, "currency": "USD",
                 "hourlyRatePerGb": rule.hourly_rate_per_gb,
                 "monthlyRatePerGb": round(rule.hourly_rate_per_gb * 730, 4)}


def regions(app, request):
    return 200, {"data": [
        {"provider": rule.provider, "region": region, "location": location,
         "maxSizeGb": rule.max_size_gb, "types": list(rule.types),
         "multiAttach": rule.multi_attach, "hourlyRatePerGb": rule.hourly_rate_per_gb}
        for rule in RULES.values() for region, location in rule.regions.items()]}


def register(app) -> None:
    app.route("GET", "/api/volumes/pricing", pricing)
    app.route("GET", "/api/volumes/regions", regions)
    app.route("GET", "/api/volumes", list_volumes)
    app.route("POST", "/api/volumes", create_volume)
    app.route("GET", "/api/volumes/{id}", get_volume)
    app.route("PATCH", "/api/volumes/{id}", update_volume)
    app.route("DELETE", "/api/volumes/{id}", delete_volume)
    app.route("POST", "/api/volumes/{id}/attach", attach)
    app.route("POST", "/api/volumes/{id}/detach", detach)
