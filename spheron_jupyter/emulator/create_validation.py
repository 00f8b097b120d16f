"""Validation of POST /api/deployments bodies: every field from one offer, and a sane cloudInit.

Each refusal is a 400 that names the field and what would have been accepted, so a caller can
fix its request without guessing.
"""

from __future__ import annotations

import re

from .errors import ApiError

OFFER_FIELDS = ("provider", "offerId", "gpuType", "gpuCount", "region", "operatingSystem",
                "instanceType")
ENCODINGS = ("b64", "base64", "gzip", "gz", "gz+b64", "gz+base64", "gzip+base64", "text/plain")


def require_fields(body: dict) -> None:
    missing = [f for f in (*OFFER_FIELDS, "name") if body.get(f) in (None, "")]
    if missing:
        raise ApiError.bad_request(f"Missing required fields: {', '.join(missing)}.",
                                   error="Validation failed")
    if not (body.get("sshKeyId") or body.get("ssh_public_key")):
        raise ApiError.bad_request(
            "Either sshKeyId or ssh_public_key is required to log in to the instance.",
            error="Validation failed")
    if not isinstance(body["name"], str) or len(body["name"]) > 128:
        raise ApiError.bad_request("name must be a string of at most 128 characters.",
                                   error="Validation failed")


def check_against_offer(body: dict, catalog_by_id: dict) -> dict:
    """Return the offer the body names, or raise naming the first field that does not match."""
    offer = catalog_by_id.get(str(body["offerId"]))
    if offer is None:
        raise ApiError.bad_request(f"Unknown offerId {body['offerId']!r}: it is not in the "
                                   "current offer list (GET /api/gpu-offers).",
                                   error="Invalid offer")

    def mismatch(field: str, accepted) -> ApiError:
        return ApiError.bad_request(
            f"Field {field} ({body[field]!r}) does not match offer {offer['offerId']}, which "
            f"has {field} {accepted}.", error="Invalid offer", field=field)

    for field in ("provider", "gpuType", "instanceType"):
        if body[field] != offer[field]:
            raise mismatch(field, repr(offer[field]))
    try:
        count = int(body["gpuCount"])
    except (TypeError, ValueError):
        raise ApiError.bad_request("gpuCount must be an integer.", error="Validation failed",
                                   field="gpuCount") from None
    if count != offer["gpuCount"] or isinstance(body["gpuCount"], bool):
        raise mismatch("gpuCount", offer["gpuCount"])
    if body["region"] not in offer["clusters"]:
        raise mismatch("region", "one of " + ", ".join(offer["clusters"]))
    if body["operatingSystem"] not in offer["os_options"]:
        raise mismatch("operatingSystem", "one of " + ", ".join(map(repr, offer["os_options"])))
    if not offer["available"]:
        raise ApiError.bad_request(f"Offer {offer['offerId']} is not available right now; "
                                   "choose another offer.", error="Offer unavailable")
    if offer["maintenance"]:
        raise ApiError.bad_request(f"Offer {offer['offerId']} is under maintenance; choose "
                                   "another offer.", error="Offer unavailable")
    return offer


def check_cloud_init(cloud_init, offer: dict) -> dict | None:
    if cloud_init is None:
        return None
    if not offer["supportsCloudInit"]:
        raise ApiError.bad_request(
            f"Offer {offer['offerId']} ({offer['provider']}) does not support cloudInit "
            "(startup scripts); choose an offer with supportsCloudInit.",
            error="Validation failed", field="cloudInit")

    def bad(message: str) -> ApiError:
        return ApiError.bad_request(f"cloudInit: {message}", error="Validation failed",
                                    field="cloudInit")

    if not isinstance(cloud_init, dict):
        raise bad("must be an object with packages, writeFiles and runcmd.")
    unknown = set(cloud_init) - {"packages", "writeFiles", "runcmd"}
    if unknown:
        raise bad(f"unknown keys {', '.join(sorted(unknown))}; use packages, writeFiles, runcmd.")
    packages = cloud_init.get("packages", [])
    if not isinstance(packages, list) or not all(isinstance(p, str) for p in packages):
        raise bad("packages must be a list of package names.")
    runcmd = cloud_init.get("runcmd", [])
    if not isinstance(runcmd, list) or not all(
            isinstance(c, str) or (isinstance(c, list) and all(isinstance(a, str) for a in c))
            for c in runcmd):
        raise bad("runcmd must be a list of commands (strings or lists of strings).")
    files = cloud_init.get("writeFiles", [])
    if not isinstance(files, list):
        raise bad("writeFiles must be a list of {path, content} objects.")
    for index, entry in enumerate(files):
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str) \
                or not entry["path"].startswith("/"):
            raise bad(f"writeFiles[{index}] needs an absolute path.")
        if not isinstance(entry.get("content", ""), str):
            raise bad(f"writeFiles[{index}].content must be a string.")
        permissions = entry.get("permissions")
        if permissions is not None and not re.fullmatch(r"0?[0-7]{3,4}", str(permissions)):
            raise bad(f"writeFiles[{index}].permissions must be octal like '0644'.")
        encoding = entry.get("encoding")
        if encoding is not None and encoding not in ENCODINGS:
            raise bad(f"writeFiles[{index}].encoding must be one of {', '.join(ENCODINGS)}.")
    return cloud_init


def check_kubernetes_addon(addon, offer: dict) -> dict | None:
    if addon is None:
        return None
    if "kubernetes_addon" not in offer["extras"]:
        raise ApiError.bad_request(
            "The Kubernetes add-on is only available on voltage-park CLUSTER offers with "
            "H100 SXM5 GPUs.", error="Validation failed", field="kubernetesAddon")
    if not isinstance(addon, dict):
        raise ApiError.bad_request("kubernetesAddon must be an object with a version.",
                                   error="Validation failed", field="kubernetesAddon")
    return addon
