"""``GET {base_url}spheron/api/state`` and what the sidebar and proxy may know of the ledger.

The ledger lives outside any kernel (dask-labextension style: state owned by the server side),
so the sidebar works with no kernel running. Only named fields leave this module: ``extra``
columns may hold a service's token, so they are never copied out.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

from jupyter_server.base.handlers import APIHandler
from tornado import web

from ..ledger import InstanceRecord, Ledger, TunnelRecord, default_path, usd

CURRENCY = "USD"
PROXY_PREFIX = "spheron/proxy"
READER_SETTING = "spheron_ledger_reader"  # the LedgerReader in the web app's settings


class LedgerReader:
    """Opens the ledger only once it exists: a Jupyter user who never rented a GPU gets an
    empty sidebar, not a database created in their data dir by merely starting Lab."""

    def __init__(self, ledger: Ledger | None = None):
        self._ledger = ledger
        self._lock = threading.Lock()  # reads run in executor threads

    def ledger(self) -> Ledger | None:
        with self._lock:
            if self._ledger is None:
                path = default_path()
                if path.exists():
                    self._ledger = Ledger(path)
            return self._ledger

    def state(self, now: float | None = None) -> dict[str, Any]:
        now = time.time() if now is None else now
        ledger = self.ledger()
        if ledger is None:
            return sidebar_state([], [], now)
        from .lifecycle_state import add_kernels, add_lifecycle

        instances = ledger.instances(active_only=True)
        state = sidebar_state(instances, self.live_tunnels(ledger), now)
        return add_kernels(add_lifecycle(state, ledger, instances, now))

    def open_tunnel(self, tunnel_id: str) -> TunnelRecord | None:
        ledger = self.ledger()
        if ledger is None:
            return None
        return next((t for t in self.live_tunnels(ledger) if t.id == tunnel_id), None)

    @staticmethod
    def live_tunnels(ledger: Ledger) -> list[TunnelRecord]:
        """The ledger's tunnel rows that the tunnel agent serves right now, with the agent's
        port: the agent is the one truth (issue 10). Asking never starts an agent; with none
        running there is no tunnel, whatever the ledger remembers, so the sidebar offers no
        Open and the proxy never forwards to whatever now holds a dead tunnel's port."""
        from ..ssh.tunnel import TunnelAgentClient

        try:
            live = {t.id: t for t in TunnelAgentClient().list() if t.state != "closed"}
        except Exception:  # an agent that does not answer serves nothing
            return []
        out = []
        for rec in ledger.tunnels(open_only=True):
            info = live.get(rec.id)
            if info is not None:
                rec.local_port = info.local_port
                out.append(rec)
        return out


class SidebarStateHandler(APIHandler):
    @web.authenticated
    async def get(self) -> None:
        reader: LedgerReader = self.settings[READER_SETTING]
        # SQLite may wait on a writer's lock (up to its timeout): never on the server's loop,
        # which also carries every kernel's messages.
        state = await asyncio.get_running_loop().run_in_executor(None, reader.state)
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(state))


def sidebar_state(instances: list[InstanceRecord], tunnels: list[TunnelRecord],
                  now: float) -> dict[str, Any]:
    """The body of ``GET spheron/api/state`` (the labextension's contract)."""
    names = {(rec.api_url, rec.id): rec.name for rec in instances}
    burn = sum(rec.hourly_rate or 0.0 for rec in instances if rec.active)
    return {
        "now": now,
        "currency": CURRENCY,
        "burn_per_hour": burn,
        "burn_text": usd(burn),  # money is formatted once, by ledger/figures.py, for every view
        "instances": [_instance_row(rec, now) for rec in instances],
        "tunnels": [_tunnel_row(t, names.get((t.api_url, t.instance_id))) for t in tunnels],
    }


def proxy_path(tunnel_id: str) -> str:
    """Relative to the server's base_url, with the trailing slash relative links need."""
    return f"{PROXY_PREFIX}/{tunnel_id}/"


def _instance_row(rec: InstanceRecord, now: float) -> dict[str, Any]:
    return {
        "id": rec.id, "name": rec.name, "backend": rec.backend, "status": rec.status,
        "hourly_rate": rec.hourly_rate, "cost_so_far": rec.cost_so_far(now),
        "hourly_rate_text": usd(rec.hourly_rate), "cost_so_far_text": usd(rec.cost_so_far(now)),
        "created_at": rec.created_at, "lease_seconds": rec.lease_seconds,
        "api_url": rec.api_url,
    }


def _tunnel_row(rec: TunnelRecord, instance_name: str | None) -> dict[str, Any]:
    return {
        "id": rec.id, "instance_id": rec.instance_id, "instance_name": instance_name,
        "kind": rec.kind, "local_port": rec.local_port, "remote_port": rec.remote_port,
        "proxy_path": proxy_path(rec.id),
    }
