"""/api/deployments: create, list, get, rename, can-terminate, terminate.

Creates are checked in the order a caller can act on: rate limit (429), team (400 without
``teamId``), required fields, the offer (every field from that one offer; available; not in
maintenance), cloudInit support, the SSH key, then the balance (it must cover the minimum
runtime).  A create commits, then the runtime provisions the instance (IP, port, login user), so
the response already carries ``ipAddress`` while the status is still ``deploying``.
"""

from __future__ import annotations

import math
import secrets
import time

from . import ratelimit
from .errors import DROP
from .create_validation import (check_against_offer, check_cloud_init, check_kubernetes_addon,
                                require_fields)
from .errors import ApiError
from .paging import envelope, page_params, window
from .routes_account import parse_public_key, resolve_team
from .store import INACTIVE

TEAM_REQUIRED = "Team ID is required for authenticated deployments"


def minimum_runtime_minutes(dep: dict) -> int:
    return max(1, math.ceil(dep["minimumRuntimeSeconds"] / 60))


def minutes_remaining(dep: dict, now: float) -> int:
    left = dep["createdTs"] + dep["minimumRuntimeSeconds"] - now
    return max(0, math.ceil(left / 60)) if left > 0 else 0


def _deployment(app, dep_id: str) -> dict:
    dep = app.store.deployments.get(dep_id)
    if dep is None:
        raise ApiError.not_found("Deployment", dep_id)
    return dep


def _ssh_login(app, body: dict, team: dict) -> dict:
    if body.get("sshKeyId"):
        key = app.store.ssh_keys.get(str(body["sshKeyId"]))
        if key is None or key["teamId"] != team["teamId"]:
            raise ApiError.bad_request(
                f"SSH key {body['sshKeyId']} was not found in team {team['teamName']}.",
                error="Validation failed", field="sshKeyId")
        return {"sshKeyId": key["id"], "sshKeyName": key["name"],
                "sshKeyFingerprint": key["fingerprint"], "sshPublicKey": key["publicKey"]}
    line, fingerprint = parse_public_key(body["ssh_public_key"])
    return {"sshKeyId": None, "sshKeyName": None, "sshKeyFingerprint": fingerprint,
            "sshPublicKey": line}


def _check_rate_limit(app, now: float) -> None:
    with app.store.lock:
        wait = ratelimit.retry_after(app.store.data["createTimes"], now)
    if wait is not None:
        raise ApiError.rate_limited(
            wait, f"Too many deployments created: at most {ratelimit.CREATE_LIMIT} per 15 "
                  f"minutes. Try again in {wait} seconds.")


def create(app, request):
    body = request.json()
    now = time.time()
    _check_rate_limit(app, now)
    if not body.get("teamId"):
        raise ApiError.bad_request(TEAM_REQUIRED, error=TEAM_REQUIRED)
    require_fields(body)
    with app.store.lock:
        _check_rate_limit(app, now)  # again, under the lock that commits: parallel creates
        team = resolve_team(app, body["teamId"])
        offer = check_against_offer(body, app.offers_by_id)
        cloud_init = check_cloud_init(body.get("cloudInit"), offer)
        addon = check_kubernetes_addon(body.get("kubernetesAddon"), offer)
        login = _ssh_login(app, body, team)
        minimum_seconds = max(app.minimum_runtime_seconds,
                              60.0 * offer.get("minimumRuntimeMinutes", 0))
        needed = offer["price"] * minimum_seconds / 3600.0
        balance = app.store.team_balance(team, now)
        if balance <= 0 or balance < needed:
            raise ApiError.bad_request(
                f"Insufficient balance: team {team['teamName']} has {balance:.2f} USD, and this "
                f"instance needs at least {needed:.2f} USD for its minimum runtime. Add credit "
                "and try again.", error="Insufficient balance")
        dep = {
            "id": secrets.token_hex(12), "name": body["name"], "teamId": team["teamId"],
            "offerId": offer["offerId"], "providerId": offer["provider"],
            "gpuModelId": offer["gpuType"], "gpuCount": offer["gpuCount"],
            "region": body["region"], "instanceType": offer["instanceType"],
            "operatingSystem": body["operatingSystem"], **login,
            "ipAddress": None, "sshPort": None, "user": None, "status": "deploying",
            "createdTs": now, "startedTs": None, "stoppedTs": None,
            "hourlyRate": offer["price"], "vcpus": offer["vcpus"], "memory": offer["memory"],
            "storage": offer["storage"], "supportsCloudInit": offer["supportsCloudInit"],
            "minimumRuntimeSeconds": minimum_seconds, "cloudInit": cloud_init,
            "volumeIds": [],
            "kubernetesAddon": None if addon is None else {
                "version": addon.get("version") or offer["extras"]["kubernetes_addon"]["version"],
                "status": "provisioning", "kubeconfig": None},
        }
        dep["minimumRuntimeMinutes"] = minimum_runtime_minutes(dep)
        app.store.deployments[dep["id"]] = dep
        app.store.data["createTimes"] = ratelimit.prune(app.store.data["createTimes"], now) + [now]
        app.store.save()
        instance = app.store.runtime_instance(dep, now)
    ip, port, user = app.runtime.provision(instance)
    with app.store.lock:
        dep.update(ipAddress=ip, sshPort=port, user=user)
        app.store.save()
        view = app.store.deployment_view(dep, time.time())
    if app.faults.take_lose_create():
        return DROP
    return 201, view


def list_deployments(app, request):
    query = request.query
    status = query.get("status") or ""
    page, limit = page_params(query)
    now = time.time()
    with app.store.lock:
        team = resolve_team(app, query.get("teamId"))
        deps = app.store.deployments_of(team["teamId"])
        if status == "active":
            # Any status that is not terminal bills, also one set through the admin route.
            deps = [d for d in deps if d["status"] not in INACTIVE]
        elif status == "inactive":
            deps = [d for d in deps if d["status"] in INACTIVE]
        elif status:
            deps = [d for d in deps if d["status"] == status]
        deps.sort(key=lambda d: d["createdTs"], reverse=True)
        total = len(deps)
        views = [app.store.deployment_view(d, now) for d in window(deps, page, limit)]
    return 200, envelope("deployments", views, total, page, limit)


def get_deployment(app, request):
    with app.store.lock:
        return 200, app.store.deployment_view(_deployment(app, request.params["id"]), time.time())


def rename(app, request):
    body = request.json()
    other = sorted(set(body) - {"name"})
    if other:
        raise ApiError.bad_request(
            f"Only the name of a deployment can be changed (got {', '.join(other)}).")
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 128:
        raise ApiError.bad_request("name must be a non-empty string of at most 128 characters.")
    with app.store.lock:
        dep = _deployment(app, request.params["id"])
        dep["name"] = name
        app.store.save()
        return 200, app.store.deployment_view(dep, time.time())


def _already_terminated(dep: dict) -> dict:
    return {"error": "Cannot terminate instance", "message": "Instance has already been terminated.",
            "currentStatus": dep["status"], "canTerminate": False}


def can_terminate(app, request):
    now = time.time()
    with app.store.lock:
        dep = _deployment(app, request.params["id"])
        if dep["status"] in ("terminated", "terminated-provider"):
            body = _already_terminated(dep)
            return 200, {"canTerminate": False, "reason": body["message"],
                         "currentStatus": dep["status"]}
        minimum = minimum_runtime_minutes(dep)
        remaining = 0 if dep["status"] == "failed" else minutes_remaining(dep, now)
        if remaining > 0:
            return 200, {"canTerminate": False, "reason": "Minimum runtime not met",
                         "minimumRuntime": minimum, "timeRemaining": remaining}
        return 200, {"canTerminate": True, "minimumRuntime": minimum, "timeRemaining": 0}


def terminate(app, request):
    now = time.time()
    with app.store.lock:
        dep = _deployment(app, request.params["id"])
        if dep["status"] in ("terminated", "terminated-provider"):
            raise ApiError(400, _already_terminated(dep))
        remaining = 0 if dep["status"] == "failed" else minutes_remaining(dep, now)
        if remaining > 0:
            minimum = minimum_runtime_minutes(dep)
            raise ApiError(400, {
                "error": "Minimum runtime not met",
                "message": f"Instance must run for at least {minimum} minutes. "
                           f"Time remaining: {remaining} minutes.",
                "canTerminate": False, "timeRemaining": remaining, "minimumRuntime": minimum})
        if dep["status"] == "failed":  # failed stopped billing already; keep that moment
            dep["status"] = "terminated"
            events = []
        else:
            events = app.end_instance(dep, "terminated", now)
        app.store.save()
        summary = {"id": dep["id"], "status": dep["status"],
                   "stoppedAt": app.store.deployment_view(dep, now)["stoppedAt"]}
    app.run_events(events)
    return 200, {"message": "Instance terminated successfully.", "deployment": summary}


def register(app) -> None:
    app.route("POST", "/api/deployments", create)
    app.route("GET", "/api/deployments", list_deployments)
    app.route("GET", "/api/deployments/{id}", get_deployment)
    app.route("PATCH", "/api/deployments/{id}", rename)
    app.route("DELETE", "/api/deployments/{id}", terminate)
    app.route("GET", "/api/deployments/{id}/can-terminate", can_terminate)
