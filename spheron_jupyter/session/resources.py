"""Volumes, SSH keys and teams: the account-side resources, with the ledger kept in step."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from . import backends
from .errors import SessionError
from .views import _field


def volume_row(vol: Any, attached_names: dict[str, str] | None = None) -> dict[str, str]:
    attached = getattr(vol, "attached_instance_ids", None)
    if isinstance(attached, (list, tuple)):
        attached = ", ".join((attached_names or {}).get(str(a), str(a)) for a in attached) or "-"
    size = _field(vol, "size_in_gb", "sizeInGb", "size_gb")
    return {
        "id": str(_field(vol, "id")),
        "name": str(_field(vol, "name", default="-")),
        "size": f"{size} GB" if size is not None else "-",
        "provider": str(_field(vol, "provider", default="-")),
        "region": str(_field(vol, "region", default="-")),
        "status": str(_field(vol, "status", default="-")),
        "attached to": str(attached or "-"),
    }


class ResourcesMixin:
    # -- volumes ------------------------------------------------------------------------------
    def volumes(self) -> list[Any]:
        return list(self.client.volumes())

    def resolve_volume(self, ref: str) -> Any:
        vols = self.volumes()
        exact = [v for v in vols if ref in (str(_field(v, "id")), _field(v, "name"))]
        pool = exact or [v for v in vols if str(_field(v, "id")).startswith(ref)
                         or str(_field(v, "name", default="")).startswith(ref)]
        if len(pool) == 1:
            return pool[0]
        if not pool:
            raise SessionError(f"no volume {ref!r}: %spheron volumes lists them")
        names = ", ".join(f"{_field(v, 'id')} ({_field(v, 'name')})" for v in pool)
        raise SessionError(f"{ref!r} matches several volumes ({names}): be more specific")

    def create_volume(self, name: str, *, size_gb: float, provider: str, region: str) -> Any:
        if size_gb is None or size_gb <= 0:
            raise SessionError("a volume needs a positive --size in GB")
        vol = self.client.create_volume(name, size_gb, provider, region)
        vol_id = str(_field(vol, "id"))
        self.ledger.record_volume(self.api_url, vol_id, backend=self.backend, name=name,
                                  provider=provider, region=region, size_gb=size_gb,
                                  notebook=self.notebook)
        return vol

    def attach_volume(self, volume: str, instance: str) -> tuple[Any, Any]:
        vol = self.resolve_volume(volume)
        view = self.resolve(instance)
        self.client.attach_volume(str(_field(vol, "id")), view.id)
        self.ledger.add_event(self.api_url, view.id, "volume-attached",
                              f"{_field(vol, 'name')} ({_field(vol, 'id')})")
        return vol, view

    def detach_volume(self, volume: str, instance: str) -> tuple[Any, Any]:
        vol = self.resolve_volume(volume)
        view = self.resolve(instance)
        self.client.detach_volume(str(_field(vol, "id")), view.id)
        self.ledger.add_event(self.api_url, view.id, "volume-detached",
                              f"{_field(vol, 'name')} ({_field(vol, 'id')})")
        return vol, view

    def delete_volume(self, volume: str) -> Any:
        vol = self.resolve_volume(volume)
        vol_id = str(_field(vol, "id"))
        self.client.delete_volume(vol_id)
        self.ledger.record_volume(self.api_url, vol_id, backend=self.backend,
                                  deleted_at=time.time())
        return vol

    # -- ssh keys -----------------------------------------------------------------------------
    def keys(self) -> list[Any]:
        return list(self.client.ssh_keys())

    def add_key(self, path: str, name: str | None = None) -> Any:
        """Register a public key file (never a private one: refused before reading further)."""
        file = Path(path).expanduser()
        try:
            text = file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SessionError(f"cannot read {file}: {exc.strerror}") from None
        if "PRIVATE KEY" in text:
            raise SessionError(f"{file} is a private key: give the .pub file next to it")
        if not text.startswith(("ssh-", "ecdsa-", "sk-")):
            raise SessionError(f"{file} does not look like an OpenSSH public key")
        return self.client.add_ssh_key(name or file.stem, text)

    def remove_key(self, key_id: str) -> None:
        self.client.delete_ssh_key(key_id)

    # -- teams --------------------------------------------------------------------------------
    def teams(self) -> list[Any]:
        """Teams with role, balance and which one new resources go to."""
        return list(self.client.teams())

    def use_team(self, team: str) -> Any:
        """Make ``team`` (id or name) the team for new resources; kept in settings."""
        teams = self.teams()
        found = [t for t in teams if team in (str(_field(t, "team_id", "teamId", "id")),
                                                _field(t, "team_name", "teamName", "name"))]
        if not found:
            names = ", ".join(str(_field(t, "team_name", "teamName", "name")) for t in teams)
            raise SessionError(f"no team {team!r}: your teams are {names}")
        chosen = found[0]
        backends.save_setting("team_id", str(_field(chosen, "team_id", "teamId", "id")))
        self.disconnect()  # the next request builds a client that carries the new team
        return chosen
