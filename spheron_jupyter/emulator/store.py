"""The emulator's state: one JSON document under the state dir, rewritten atomically on change.

Everything a restart must keep lives here: the API key, teams and their credit, SSH keys,
deployments (with wall-clock timestamps, so billing and boot timers continue across a restart),
volumes and the create rate-limit window.  Costs and balances are derived from timestamps when
read, so a balance falls while instances run without any write.

All access goes through :attr:`Store.lock`; the HTTP threads and the ticker share one Store.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from .runtime import NO_USER_FIELD_PROVIDERS

STATE_FILE = "state.json"
# Terminal statuses end billing; every other status (also one the admin route set) bills.
INACTIVE = ("terminated", "terminated-provider", "failed")
STARTING_CREDIT = {"Personal": 250.00, "Research Lab": 1000.00}


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def write_private_json(path: Path, document: dict) -> None:
    """Write atomically (temp file + rename) with mode 0600: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(document, handle, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _new_state() -> dict:
    now = time.time()
    teams = [
        {"teamId": "team_" + secrets.token_hex(8), "teamName": "Personal", "role": "owner",
         "isCurrentTeam": True, "credit": STARTING_CREDIT["Personal"], "createdTs": now,
         "spentOnDeleted": 0.0},
        {"teamId": "team_" + secrets.token_hex(8), "teamName": "Research Lab", "role": "member",
         "isCurrentTeam": False, "credit": STARTING_CREDIT["Research Lab"], "createdTs": now,
         "spentOnDeleted": 0.0},
    ]
    return {"version": 1, "apiKey": "sai_pk_emu_" + secrets.token_urlsafe(24), "teams": teams,
            "sshKeys": {}, "deployments": {}, "volumes": {}, "createTimes": []}


class Store:
    def __init__(self, state_dir: Path):
        self.state_dir = Path(state_dir)
        self.path = self.state_dir / STATE_FILE
        self.lock = threading.RLock()
        if self.path.exists():
            self.data = json.loads(self.path.read_text())
        else:
            self.data = _new_state()
            self.save()

    def save(self) -> None:
        with self.lock:
            write_private_json(self.path, self.data)

    @property
    def api_key(self) -> str:
        return self.data["apiKey"]

    def volume_dir(self, volume_id: str) -> Path:
        return self.state_dir / "volumes" / volume_id

    # --- teams and money -------------------------------------------------------------------
    @property
    def teams(self) -> list[dict]:
        return self.data["teams"]

    def team(self, team_id: str | None) -> dict | None:
        return next((t for t in self.teams if t["teamId"] == team_id), None)

    def current_team(self) -> dict:
        return next(t for t in self.teams if t["isCurrentTeam"])

    def deployment_cost(self, dep: dict, now: float) -> float:
        end = dep["stoppedTs"] if dep["stoppedTs"] is not None else now
        return round(dep["hourlyRate"] * max(0.0, end - dep["createdTs"]) / 3600.0, 6)

    def volume_cost(self, vol: dict, now: float) -> float:
        return round(vol["hourlyRate"] * max(0.0, now - vol["createdTs"]) / 3600.0, 6)

    def team_balance(self, team: dict, now: float) -> float:
        spent = team["spentOnDeleted"]
        spent += sum(self.deployment_cost(d, now) for d in self.deployments_of(team["teamId"]))
        spent += sum(self.volume_cost(v, now) for v in self.volumes.values()
                     if v["teamId"] == team["teamId"])
        return round(team["credit"] - spent, 4)

    def team_view(self, team: dict, now: float) -> dict:
        return {"teamId": team["teamId"], "teamName": team["teamName"],
                "balance": self.team_balance(team, now), "isCurrentTeam": team["isCurrentTeam"],
                "role": team["role"]}

    # --- collections ------------------------------------------------------------------------
    @property
    def deployments(self) -> dict[str, dict]:
        return self.data["deployments"]

    @property
    def ssh_keys(self) -> dict[str, dict]:
        return self.data["sshKeys"]

    @property
    def volumes(self) -> dict[str, dict]:
        return self.data["volumes"]

    def deployments_of(self, team_id: str) -> list[dict]:
        return [d for d in self.deployments.values() if d["teamId"] == team_id]

    def deployment_view(self, dep: dict, now: float) -> dict:
        """The public deployment object; internal fields (cloud-init, timers) stay inside."""
        cost = self.deployment_cost(dep, now)
        ip, port, user = dep["ipAddress"], dep["sshPort"], dep["user"]
        view = {
            "id": dep["id"], "name": dep["name"], "teamId": dep["teamId"],
            "offerId": dep["offerId"], "providerId": dep["providerId"],
            "provider": dep["providerId"], "gpuModelId": dep["gpuModelId"],
            "gpuType": dep["gpuModelId"], "gpuCount": dep["gpuCount"], "region": dep["region"],
            "instanceType": dep["instanceType"], "operatingSystem": dep["operatingSystem"],
            "sshKeyId": dep["sshKeyId"], "sshKeyName": dep["sshKeyName"],
            "sshKeyFingerprint": dep["sshKeyFingerprint"], "ipAddress": ip, "user": user,
            # No `sshCommand`: documented, but absent from live answers (docs/spheron-api.md).
            "sshPort": port,
            "status": dep["status"], "startedAt": iso(dep["startedTs"]),
            "stoppedAt": iso(dep["stoppedTs"]), "createdAt": iso(dep["createdTs"]),
            "lastCreditDeduction": iso(dep["stoppedTs"] if dep["stoppedTs"] is not None else now),
            "totalCost": cost, "hourlyRate": dep["hourlyRate"],
            "originalHourlyRate": dep["hourlyRate"], "discountPercentage": 0, "hasDiscount": False,
            "vcpus": dep["vcpus"], "memory": dep["memory"], "storage": dep["storage"],
            "portForwards": [], "volumes": list(dep["volumeIds"]),
            "supportsCloudInit": dep["supportsCloudInit"],
            "minimumRuntime": dep["minimumRuntimeMinutes"],
        }
        if dep["providerId"] in NO_USER_FIELD_PROVIDERS:
            del view["user"]
        if dep.get("kubernetesAddon") is not None:
            view["kubernetesAddon"] = dict(dep["kubernetesAddon"])
        if dep.get("statusReason"):
            view["statusReason"] = dep["statusReason"]
        return view

    def runtime_instance(self, dep: dict, now: float) -> dict:
        """What the InstanceRuntime sees: the public view plus cloud-init and the login key."""
        view = self.deployment_view(dep, now)
        view["user"] = dep["user"]  # the runtime knows the login user even where the API hides it
        view["cloudInit"] = dep.get("cloudInit")
        view["sshPublicKey"] = dep.get("sshPublicKey")
        return view

    def volume_view(self, vol: dict, now: float) -> dict:
        view = {k: v for k, v in vol.items() if not k.endswith("Ts")}
        view["attachedTo"] = list(vol["attachedTo"])
        view["status"] = "attached" if vol["attachedTo"] else "available"
        view["createdAt"] = iso(vol["createdTs"])
        view["totalCost"] = self.volume_cost(vol, now)
        return view

    def runtime_volume(self, vol: dict, now: float) -> dict:
        view = self.volume_view(vol, now)
        view["dataDir"] = str(self.volume_dir(vol["id"]))
        return view
