"""Test doubles shared by the client tests (this module holds no tests itself).

fake: ``ScriptedApi`` stands in for the live Spheron service (app.spheron.ai), which cannot
run here.  It is used only for the live service's documented variants that the emulator does
not produce on purpose (alternative envelopes, header-only Retry-After, lost answers at exact
moments); everything else is tested against the real emulator in test_client_emulator.py.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict, deque
from typing import Any

import httpx

from spheron_jupyter.client import SpheronClient

KEY = "sai_pk_live_0c1d2e3f4a5b6c7d8e9f0a1b9f2c"
BASE = "https://api.spheron.test"

BALANCE = {
    "teams": [
        {"teamId": "team-personal", "teamName": "Personal", "balance": 250.0,
         "isCurrentTeam": True, "role": "owner"},
        {"teamId": "team-lab", "teamName": "Research Lab", "balance": 1000.0,
         "isCurrentTeam": False, "role": "member"},
    ],
    "currency": "USD",
}


class FakeClock:
    """Time that moves only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def reply(status: int = 200, body: Any = None, headers: dict[str, str] | None = None,
          text: str | None = None) -> httpx.Response:
    if text is not None:
        return httpx.Response(status, text=text, headers=headers)
    if body is None:
        return httpx.Response(status, headers=headers)
    return httpx.Response(status, json=body, headers=headers)


class ScriptedApi:
    """fake: stands in for the live service; answers each (method, path) from a script.

    A script entry is an ``httpx.Response``, an exception to raise, or a callable taking the
    request.  The last entry of a script repeats.  ``/api/balance`` answers by default.
    """

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self._scripts: dict[tuple[str, str], deque] = defaultdict(deque)
        self.on("GET", "/api/balance", reply(200, BALANCE))

    def on(self, method: str, path: str, *entries: Any) -> ScriptedApi:
        self._scripts[(method, path)] = deque(entries)
        return self

    def calls(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and r.url.path == path]

    def body(self, request: httpx.Request) -> Any:
        return json.loads(request.content) if request.content else None

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        script = self._scripts.get((request.method, request.url.path))
        if not script:
            return reply(404, {"error": "Not Found", "message": f"No route for {request.url.path}."})
        entry = script.popleft() if len(script) > 1 else script[0]
        if isinstance(entry, BaseException):
            raise entry
        if callable(entry):
            entry = entry(request)
        # A Response object can be read only once; hand out a copy each time.
        return httpx.Response(entry.status_code, headers=entry.headers, content=entry.content)

    def client(self, **kwargs: Any) -> SpheronClient:
        kwargs.setdefault("clock", FakeClock())
        kwargs.setdefault("rng", random.Random(7))
        return SpheronClient(BASE, KEY, transport=httpx.MockTransport(self.handle), **kwargs)


def offer(offer_id: str, **fields: Any) -> dict[str, Any]:
    """An offer entry in the API's spelling, with overridable defaults."""
    base = {
        "provider": "spheron-ai", "offerId": offer_id, "name": f"offer {offer_id}",
        "vcpus": 16, "memory": 128, "storage": 500, "gpuCount": 1, "gpu_memory": 80,
        "price": 2.0, "available": True, "maintenance": False, "clusters": ["us-east-1"],
        "os_options": ["ubuntu-22.04", "ubuntu-24.04"], "interconnectType": "PCIe",
        "instanceType": "DEDICATED", "supportsCloudInit": True, "extras": {},
    }
    base.update(fields)
    return base


def group(gpu_type: str, display: str, *offers: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"gpuType": gpu_type, "gpuModel": display, "baseGpuType": gpu_type,
            "displayName": display, "offers": list(offers), **fields}


def instance(instance_id: str, name: str, status: str = "deploying", **fields: Any) -> dict:
    return {"id": instance_id, "name": name, "status": status, "gpuCount": 1,
            "providerId": "spheron-ai", "region": "us-east-1", "ipAddress": "203.0.113.7",
            "user": "ubuntu", "sshPort": 22, "createdAt": "2026-11-22T10:00:00Z",
            "hourlyRate": 2.0, **fields}
