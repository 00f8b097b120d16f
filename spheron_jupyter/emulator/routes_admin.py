"""Test and admin routes under /_emulator/ (API key required, never faulted).

GET  /_emulator/state                      counts: instances by status, volumes, keys; faults;
                                           the general rate limit and how many 429s it gave
POST /_emulator/faults {"spec": "..."}     replace the fault plan (grammar in faults.py)
POST /_emulator/instances/{id}/reclaim     spot reclaim: -> terminated-provider
POST /_emulator/instances/{id}/fail        -> failed
POST /_emulator/instances/{id}/drop-ssh    the runtime drops the instance's SSH connections
POST /_emulator/instances/{id}/status {"status": "<any string>"}   the status the API reports
                                           from now on; a terminal one (terminated,
                                           terminated-provider, failed) ends billing like a
                                           reclaim, any other (e.g. stopped) keeps billing
POST /_emulator/teams/{id}/credit {"amount": USD}   add (or, negative, remove) credit; 403 for
                                           teams where the user is a member: only owners and
                                           admins manage billing
"""

from __future__ import annotations

import time
from collections import Counter

from .errors import ApiError
from .faults import FaultSpecError, parse_faults
from .store import INACTIVE


def state(app, request):
    with app.store.lock:
        by_status = Counter(d["status"] for d in app.store.deployments.values())
        document = {
            "instances": dict(by_status),
            "instancesTotal": sum(by_status.values()),
            "volumes": len(app.store.volumes),
            "sshKeys": len(app.store.ssh_keys),
            "createsInWindow": len(app.store.data["createTimes"]),
        }
    document["faults"] = app.faults.describe()
    limit = app.general_limit
    document["rateLimit"] = {"limit": limit.limit, "windowSeconds": limit.window,
                             "refused": limit.refused}
    return 200, document


def set_faults(app, request):
    spec = request.json().get("spec", "")
    if not isinstance(spec, str):
        raise ApiError.bad_request("spec must be a string.")
    try:
        app.faults = parse_faults(spec)
    except FaultSpecError as exc:
        raise ApiError.bad_request(str(exc)) from None
    return 200, {"spec": spec, "faults": app.faults.describe()}


def _billing_deployment(app, request) -> dict:
    """The deployment named in the path, still billing; the caller holds the store's lock."""
    dep = app.store.deployments.get(request.params["id"])
    if dep is None:
        raise ApiError.not_found("Deployment", request.params["id"])
    if dep["status"] in INACTIVE:
        raise ApiError.bad_request(f"Instance {dep['id']} is already {dep['status']}.")
    return dep


def _end(app, request, status: str, reason: str):
    now = time.time()
    with app.store.lock:
        dep = _billing_deployment(app, request)
        events = app.end_instance(dep, status, now, reason)
        app.store.save()
        view = app.store.deployment_view(dep, now)
    app.run_events(events)
    return 200, view


def reclaim(app, request):
    return _end(app, request, "terminated-provider", "Reclaimed by the provider.")


def fail(app, request):
    return _end(app, request, "failed", "The instance failed on the provider's side.")


def set_status(app, request):
    status = request.json().get("status")
    if not isinstance(status, str) or not status.strip():
        raise ApiError.bad_request("status must be a non-empty string.")
    if status in INACTIVE:
        return _end(app, request, status, f"Status set to {status} by the emulator's admin route.")
    now = time.time()
    with app.store.lock:
        dep = _billing_deployment(app, request)
        # Billing continues: the cost runs from createdTs until stoppedTs, which stays unset.
        dep["status"] = status
        if dep["startedTs"] is None and status != "deploying":
            dep["startedTs"] = now
        app.store.save()
        return 200, app.store.deployment_view(dep, now)


def drop_ssh(app, request):
    with app.store.lock:
        dep = app.store.deployments.get(request.params["id"])
        if dep is None:
            raise ApiError.not_found("Deployment", request.params["id"])
        instance = app.store.runtime_instance(dep, time.time())
    app.runtime.drop_connections(instance)
    return 200, {"message": "SSH connections dropped.", "id": dep["id"]}


def credit(app, request):
    amount = request.json().get("amount")
    if isinstance(amount, bool) or not isinstance(amount, (int, float)):
        raise ApiError.bad_request("amount must be a number of USD.")
    now = time.time()
    with app.store.lock:
        team = app.store.team(request.params["id"])
        if team is None:
            raise ApiError.not_found("Team", request.params["id"])
        if team["role"] not in ("owner", "admin"):
            raise ApiError.forbidden(
                f"Only team owners and admins can manage billing; you are a {team['role']} "
                f"of {team['teamName']}.")
        team["credit"] = round(team["credit"] + amount, 4)
        app.store.save()
        return 200, app.store.team_view(team, now)


def register(app) -> None:
    app.route("GET", "/_emulator/state", state)
    app.route("POST", "/_emulator/faults", set_faults)
    app.route("POST", "/_emulator/instances/{id}/reclaim", reclaim)
    app.route("POST", "/_emulator/instances/{id}/fail", fail)
    app.route("POST", "/_emulator/instances/{id}/drop-ssh", drop_ssh)
    app.route("POST", "/_emulator/instances/{id}/status", set_status)
    app.route("POST", "/_emulator/teams/{id}/credit", credit)
