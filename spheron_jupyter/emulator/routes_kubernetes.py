"""The Kubernetes add-on: GET /api/kubernetes/versions and GET /api/kubernetes/{id}/health.

Only voltage-park CLUSTER offers (H100 SXM5) carry the add-on; the cluster id is the id of a
deployment created with ``kubernetesAddon``.
"""

from __future__ import annotations

import time

from .errors import ApiError

VERSIONS = {"voltage-park": ["1.31.1", "1.30.5", "1.29.9"]}


def versions(app, request):
    provider = request.query.get("provider") or "voltage-park"
    if provider not in VERSIONS:
        raise ApiError.bad_request(
            f"The Kubernetes add-on is not offered on {provider}; it is available on "
            "voltage-park cluster instances only.")
    listed = VERSIONS[provider]
    return 200, {"provider": provider,
                 "data": [{"version": v, "isDefault": v == listed[0]} for v in listed]}


def health(app, request):
    cluster_id = request.params["id"]
    with app.store.lock:
        dep = app.store.deployments.get(cluster_id)
        if dep is None:
            raise ApiError.not_found("Kubernetes cluster", cluster_id)
        addon = dep.get("kubernetesAddon")
        if addon is None:
            raise ApiError.bad_request(f"Deployment {cluster_id} has no Kubernetes add-on.")
        status = dep["status"]
    if status in ("terminated", "terminated-provider", "failed"):
        state, ready = "terminated", 0
    elif addon["status"] == "ready":
        state, ready = "healthy", 1
    else:
        state, ready = "provisioning", 0
    return 200, {"clusterId": cluster_id, "status": state, "version": addon["version"],
                 "nodes": {"ready": ready, "total": 1}, "apiServer": state == "healthy",
                 "checkedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def register(app) -> None:
    app.route("GET", "/api/kubernetes/versions", versions)
    app.route("GET", "/api/kubernetes/{id}/health", health)
