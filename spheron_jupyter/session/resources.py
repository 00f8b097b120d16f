"""Volumes, SSH keys and teams: the account-side resources, with the ledger kept in step."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from ..client import Offer, SshKey, Team, TeamBalance, Volume
from .backends import save_setting
from .errors import SessionError
from .inventory import Inventory
from .parts import Parts
from .views import InstanceView


def volume_row(vol: Volume, attached_names: dict[str, str] | None = None) -> dict[str, str]:
    names = attached_names or {}
    attached = ", ".join(names.get(a, a) for a in vol.attached_instance_ids) or "-"
    return {
        "id": vol.id,
        "name": vol.name or "-",
        "size": f"{vol.size_in_gb:g} GB" if vol.size_in_gb is not None else "-",
        "provider": vol.provider or "-",
        "region": vol.region or "-",
        "status": vol.status or "-",
        "attached to": attached,
    }


class Resources:
    def __init__(self, parts: Parts, inventory: Inventory):
        self.parts = parts
        self.inventory = inventory

    # -- volumes ------------------------------------------------------------------------------
    def volumes(self) -> list[Volume]:
        return list(self.parts.client.volumes())

    def resolve_volume(self, ref: str) -> Volume:
        vols = self.volumes()
        exact = [v for v in vols if ref in (v.id, v.name)]
        pool = exact or [v for v in vols if v.id.startswith(ref) or (v.name or "").startswith(ref)]
        if len(pool) == 1:
            return pool[0]
        if not pool:
            raise SessionError(f"no volume {ref!r}: %spheron volumes lists them")
        names = ", ".join(f"{v.id} ({v.name})" for v in pool)
        raise SessionError(f"{ref!r} matches several volumes ({names}): be more specific")

    def check_volumes(self, refs: list[str], offer: Offer, region: str | None) -> None:
        """Refuse now a volume whose attach the API would refuse later.

        The attach happens after the create: a volume that cannot be attached must be found
        out before an instance is created and billing.
        """
        provider = offer.provider or ""
        for ref in refs:
            vol = self.resolve_volume(ref)
            name = vol.name or ref
            if (vol.provider or "") != provider:
                raise SessionError(f"volume {name} is a {vol.provider} volume and this offer runs "
                                   f"on {provider}: volumes attach only within their provider")
            if region and vol.region and vol.region != region:
                raise SessionError(f"volume {name} is in {vol.region} and this launch in {region}: "
                                   f"add --region {vol.region} or pick a volume there")
            if provider == "voltage-park" and len(refs) > 1:
                raise SessionError("voltage-park attaches one volume per instance: give one --volume")
            if provider == "voltage-park" and vol.attached_instance_ids:
                raise SessionError(f"voltage-park attaches a volume to one instance at a time: "
                                   f"{name} is attached to {vol.attached_instance_ids[0]}; "
                                   "detach it first")

    def create_volume(self, name: str, *, size_gb: float, provider: str, region: str) -> Volume:
        if size_gb is None or size_gb <= 0:
            raise SessionError("a volume needs a positive --size in GB")
        p = self.parts
        vol = p.client.create_volume(name, size_gb, provider, region)
        p.ledger.record_volume(p.api_url, vol.id, backend=p.backend, name=name, provider=provider,
                               region=region, size_gb=size_gb, notebook=p.notebook)
        return vol

    def attach_volume(self, volume: str, instance: str) -> tuple[Volume, InstanceView]:
        return self._volume_to(volume, instance, "volume-attached", self.parts.client.attach_volume)

    def detach_volume(self, volume: str, instance: str) -> tuple[Volume, InstanceView]:
        return self._volume_to(volume, instance, "volume-detached", self.parts.client.detach_volume)

    def _volume_to(self, volume: str, instance: str, event: str,
                   call: Callable[[str, str], object]) -> tuple[Volume, InstanceView]:
        vol = self.resolve_volume(volume)
        view = self.inventory.resolve(instance)
        call(vol.id, view.id)
        self.parts.event(view.id, event, f"{vol.name} ({vol.id})")
        return vol, view

    def delete_volume(self, volume: str) -> Volume:
        p = self.parts
        vol = self.resolve_volume(volume)
        p.client.delete_volume(vol.id)
        p.ledger.record_volume(p.api_url, vol.id, backend=p.backend, deleted_at=time.time())
        return vol

    # -- ssh keys -----------------------------------------------------------------------------
    def keys(self) -> list[SshKey]:
        return list(self.parts.client.ssh_keys())

    def add_key(self, path: str, name: str | None = None) -> SshKey:
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
        return self.parts.client.add_ssh_key(name or file.stem, text)

    def remove_key(self, key_id: str) -> None:
        self.parts.client.delete_ssh_key(key_id)

    # -- teams --------------------------------------------------------------------------------
    def teams(self) -> list[Team]:
        """Teams with role, balance and which one new resources go to."""
        return list(self.parts.client.teams())

    def current_team(self) -> TeamBalance | None:
        """The team new resources go to: the one ``team use`` chose, else the API's current."""
        balance = self.parts.client.balance()
        pinned = self.parts.settings.team_id
        team = next((t for t in balance.teams if pinned and t.team_id == pinned), None)
        return team or balance.current

    def use_team(self, team: str) -> Team:
        """Make ``team`` (id or name) the team for new resources; kept in settings."""
        teams = self.teams()
        found = [t for t in teams if team in (t.id, t.name)]
        if not found:
            names = ", ".join(str(t.name) for t in teams)
            raise SessionError(f"no team {team!r}: your teams are {names}")
        save_setting("team_id", found[0].id)
        self.parts.drop_client()  # the next request builds a client that carries the new team
        return found[0]
