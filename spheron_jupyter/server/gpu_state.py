"""``GET {base_url}spheron/api/gpu``: the GPU figures the Lab sidebar shows, per instance.

The sidebar asks only while it is visible (every 5 s, labextension/src/model.ts). The server
samples through the same telemetry as the kernel's views (ssh/gpu_telemetry.py: at most every
3 s per instance, history, idle rule), over SSH to the address the ledger recorded when the
instance ran (session/inventory.py), with this user's key and pinned host keys. The watch it holds
is given back once no request came for ``IDLE_CLOSE_SECONDS``, which closes the connections: a
hidden sidebar costs no SSH traffic. No address, key or command leaves this module.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

from jupyter_server.base.handlers import APIHandler
from tornado import web

from ..ledger import InstanceRecord
from ..session.sshbridge import target_for
from ..session.views import InstanceView
from ..ssh.gpu_telemetry import GpuTelemetry, GpuWatch
from .sidebar_state import READER_SETTING, LedgerReader

GPU_SETTING = "spheron_gpu_reader"
IDLE_CLOSE_SECONDS = 30.0


def ledger_view(rec: InstanceRecord) -> InstanceView | None:
    """The ledger's running instance with the SSH address it recorded, or None."""
    ssh = (rec.extra or {}).get("ssh")
    if rec.status != "running" or not isinstance(ssh, list) or len(ssh) != 3 or not ssh[0]:
        return None
    view = InstanceView.from_record(rec)
    view.status = "running"  # from_record keeps the ledger's status; this one is running
    # The API's user when it gave one, else the login that worked when SSH came up (what
    # session/views.py's from_api does): some providers' instances have no `user` field.
    view.ip, view.ssh_port = str(ssh[0]), int(ssh[1] or 22)
    view.user = ssh[2] or (rec.extra or {}).get("ssh_user") or None
    return view


class GpuReader:
    def __init__(self, reader: LedgerReader, telemetry: GpuTelemetry | None = None):
        self.reader = reader
        self.telemetry = telemetry or GpuTelemetry()
        self._watch: GpuWatch | None = None
        self._last_request = 0.0
        self._lock = threading.Lock()

    def state(self) -> dict[str, Any]:
        with self._lock:
            self._last_request = time.monotonic()
            if self._watch is None:
                self._watch = self.telemetry.watch()
                threading.Thread(target=self._close_when_unused, daemon=True,
                                 name="spheron-gpu-idle-close").start()
            watch = self._watch
        ledger = self.reader.ledger()
        rows = []
        for rec in ledger.instances(active_only=True) if ledger else []:
            view = ledger_view(rec)
            if view is not None:
                rows.append(watch.reading(target_for(view), billing=view.active).as_dict())
        return {"now": time.time(), "gpus": rows}

    def _close_when_unused(self) -> None:
        while True:
            time.sleep(IDLE_CLOSE_SECONDS / 3)
            with self._lock:
                if time.monotonic() - self._last_request < IDLE_CLOSE_SECONDS:
                    continue
                watch, self._watch = self._watch, None
            if watch is not None:
                watch.close()
            return


class GpuStateHandler(APIHandler):
    @web.authenticated
    async def get(self) -> None:
        gpu: GpuReader = self.settings[GPU_SETTING]
        # SSH and SQLite: never on the server's event loop.
        state = await asyncio.get_running_loop().run_in_executor(None, gpu.state)
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(state))


def install(settings: dict[str, Any]) -> None:
    settings[GPU_SETTING] = GpuReader(settings[READER_SETTING])
