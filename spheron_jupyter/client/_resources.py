"""SSH keys, volumes and the Kubernetes add-on: the account's resources besides instances.

A mixin of ``SpheronClient``; it relies on the client's ``_call``, ``_get_all``,
``_segment`` and ``resolve_team_id``.  Volume bodies and answers are partly unverified
(docs/spheron-api.md), so answers are read tolerantly and the attach body names the
instance as ``deploymentId``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._models import SshKey, Volume, VolumePricing
from ._paging import extract_items, parse_list, parse_one, unwrap_object

__all__ = ["AccountResources"]

_VOLUME_FIELD_NAMES = {"size_gb": "sizeInGb", "size_in_gb": "sizeInGb", "team_id": "teamId"}


class AccountResources:
    if TYPE_CHECKING:  # what SpheronClient provides (client/_client.py)
        _call: Callable[..., Any]
        _get_all: Callable[..., list[Any]]
        _segment: Callable[[str], str]
        resolve_team_id: Callable[[], str]

    # -- SSH keys -------------------------------------------------------------------------

    def ssh_keys(self) -> list[SshKey]:
        payload = self._call("GET", "/api/ssh-keys", what="the SSH key list")
        items, _ = extract_items(payload, ("sshKeys", "ssh_keys", "keys", "data"),
                                 what="the SSH key list")
        return parse_list(SshKey, items, "the SSH key list")

    def add_ssh_key(self, name: str, public_key: str) -> SshKey:
        body = {"name": name, "publicKey": public_key.strip(), "teamId": self.resolve_team_id()}
        payload = self._call("POST", "/api/ssh-keys", body=body, what=f"SSH key '{name}'")
        return parse_one(SshKey, unwrap_object(payload, ("sshKey", "key")), f"SSH key '{name}'")

    def get_ssh_key(self, key_id: str) -> SshKey:
        payload = self._call("GET", f"/api/ssh-keys/{self._segment(key_id)}",
                             what=f"SSH key '{key_id}'")
        return parse_one(SshKey, unwrap_object(payload, ("sshKey", "key")), f"SSH key '{key_id}'")

    def delete_ssh_key(self, key_id: str) -> None:
        self._call("DELETE", f"/api/ssh-keys/{self._segment(key_id)}", what=f"SSH key '{key_id}'")

    # -- volumes --------------------------------------------------------------------------

    def volumes(self, status: str | None = None) -> list[Volume]:
        items = self._get_all("/api/volumes", {"status": status}, what="the volume list",
                              keys=("volumes", "data", "items"))
        return parse_list(Volume, items, "the volume list")

    def create_volume(self, name: str, size_gb: float, provider: str, region: str,
                      **extra: Any) -> Volume:
        body = {"name": name, "sizeInGb": size_gb, "provider": provider, "region": region,
                "teamId": self.resolve_team_id()}
        body.update({_VOLUME_FIELD_NAMES.get(k, k): v for k, v in extra.items()})
        payload = self._call("POST", "/api/volumes", body=body, what=f"volume '{name}'")
        return self._volume_answer(payload, None, f"volume '{name}'")

    def get_volume(self, volume_id: str) -> Volume:
        payload = self._call("GET", f"/api/volumes/{self._segment(volume_id)}",
                             what=f"volume '{volume_id}'")
        return parse_one(Volume, unwrap_object(payload, ("volume",)), f"volume '{volume_id}'")

    def update_volume(self, volume_id: str, **fields: Any) -> Volume:
        body = {_VOLUME_FIELD_NAMES.get(k, k): v for k, v in fields.items()}
        payload = self._call("PATCH", f"/api/volumes/{self._segment(volume_id)}", body=body,
                             what=f"volume '{volume_id}'")
        return self._volume_answer(payload, volume_id, f"volume '{volume_id}'")

    def delete_volume(self, volume_id: str) -> None:
        self._call("DELETE", f"/api/volumes/{self._segment(volume_id)}",
                   what=f"volume '{volume_id}'")

    def attach_volume(self, volume_id: str, instance_id: str) -> Volume:
        return self._volume_action(volume_id, instance_id, "attach")

    def detach_volume(self, volume_id: str, instance_id: str) -> Volume:
        return self._volume_action(volume_id, instance_id, "detach")

    def volume_pricing(self, provider: str | None = None,
                       region: str | None = None) -> VolumePricing:
        payload = self._call("GET", "/api/volumes/pricing", what="volume pricing",
                             params={"provider": provider, "region": region})
        return parse_one(VolumePricing, unwrap_object(payload or {}, ("pricing",)),
                         "volume pricing")

    def volume_regions(self) -> dict[str, list[str]]:
        """Regions that support volumes, per provider.  Accepts ``{provider: [regions]}``,
        a list of ``{provider, regions}`` objects, or either inside ``data``/``regions``."""
        payload = self._call("GET", "/api/volumes/regions", what="the volume regions")
        return _regions_by_provider(payload)

    def _volume_action(self, volume_id: str, instance_id: str, action: str) -> Volume:
        what = f"the {action} of volume '{volume_id}' {'to' if action == 'attach' else 'from'} " \
               f"instance '{instance_id}'"
        payload = self._call("POST", f"/api/volumes/{self._segment(volume_id)}/{action}",
                             body={"deploymentId": instance_id}, what=what)
        return self._volume_answer(payload, volume_id, what)

    def _volume_answer(self, payload: Any, volume_id: str | None, what: str) -> Volume:
        found = unwrap_object(payload, ("volume",))
        if isinstance(found, dict) and any(found.get(k) is not None for k in ("id", "_id", "volumeId")):
            return parse_one(Volume, found, what)
        if volume_id is None:
            return parse_one(Volume, found, what)
        return self.get_volume(volume_id)

    # -- Kubernetes add-on ----------------------------------------------------------------

    def kubernetes_versions(self, provider: str | None = None) -> list[str]:
        payload = self._call("GET", "/api/kubernetes/versions", params={"provider": provider},
                             what="the Kubernetes versions")
        items, _ = extract_items(payload, ("versions", "data"), what="the Kubernetes versions")
        return [str(v.get("version") or v.get("name")) if isinstance(v, dict) else str(v)
                for v in items]

    def kubernetes_health(self, cluster_id: str) -> dict[str, Any]:
        payload = self._call("GET", f"/api/kubernetes/{self._segment(cluster_id)}/health",
                             what=f"the health of cluster '{cluster_id}'")
        return payload if isinstance(payload, dict) else {"status": payload}


def _regions_by_provider(payload: Any) -> dict[str, list[str]]:
    if isinstance(payload, dict):
        for key in ("data", "regions"):
            if isinstance(payload.get(key), (dict, list)):
                return _regions_by_provider(payload[key])
        return {str(k): _names(v) for k, v in payload.items() if isinstance(v, list)}
    result: dict[str, list[str]] = {}
    for item in payload or []:
        if isinstance(item, dict):
            provider = str(item.get("provider") or item.get("name") or "")
            result.setdefault(provider, []).extend(_names(item.get("regions") or item.get("region")))
        elif item is not None:
            result.setdefault("", []).append(str(item))
    return result


def _names(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        value = [value]
    return [str(v.get("id") or v.get("name") or v.get("region")) if isinstance(v, dict) else str(v)
            for v in value]
