"""``POST``/``DELETE {base_url}spheron/api/kernel/<instance id>``: the sidebar's Kernel button.

POST writes the kernelspec "Spheron: NAME (GPU)" for a running instance of the ledger (the same
file ``%spheron kernel NAME`` writes, through kernel/spec.py) into this server's Jupyter data
dir, where its launcher and kernel picker find it; DELETE removes that instance's kernelspecs.
Both sit behind Jupyter's authentication and XSRF check (APIHandler), like the other routes.

No kernel is needed: the SSH target comes from what the ledger recorded when the instance ran
(``gpu_state.ledger_view``), as for the sidebar's GPU figures. Nothing connects to the instance
here; the kernel's launcher (kernel/launcher.py) finds or installs ipykernel there when the
kernel starts, so the button answers at once. Answers carry the kernelspec's name and display
name or one line to act on, never an address, a key path or the spec's argv.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from jupyter_server.base.handlers import APIHandler
from tornado import web

from ..ledger import InstanceRecord
from .gpu_state import ledger_view
from .sidebar_state import READER_SETTING, LedgerReader

log = logging.getLogger(__name__)


class KernelRouteError(Exception):
    """One line for the user, with the HTTP status it goes out with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def install_for(reader: LedgerReader, instance_id: str) -> dict[str, Any]:
    """Write the kernelspec of one running instance; what the sidebar shows of it."""
    from ..kernel import spec
    from ..session.sshbridge import host_fingerprint, target_for

    rec = ledger_record(reader, instance_id)
    label = rec.name or rec.id
    if not rec.active or rec.status != "running":
        raise KernelRouteError(409, f"{label} is {rec.status or 'not running'}: a kernel needs a "
                                    "running instance")
    view = ledger_view(rec)
    if view is None or not view.user or host_fingerprint(rec.id) is None:
        raise KernelRouteError(409, f"{label}: SSH is not ready yet; try again once the sidebar "
                                    f"says so (or run %spheron kernel {label} in a notebook)")
    try:
        info = spec.install(target_for(view), label=label)
    except spec.KernelSpecError as exc:
        raise KernelRouteError(409, str(exc)) from None
    except OSError as exc:
        raise KernelRouteError(500, f"could not write the kernelspec: {exc.strerror or exc}") from None
    log.info("spheron_jupyter: installed kernel %s for instance %s", info.name, rec.id)
    return {"instance_id": rec.id, "name": info.name, "display_name": info.display_name}


def remove_for(reader: LedgerReader, instance_id: str) -> dict[str, Any]:
    """Remove the kernelspecs of one instance (ended ones too: the specs are ours)."""
    from ..kernel import spec

    removed = spec.remove_for_instance(instance_id)
    if not removed:
        raise KernelRouteError(404, f"no Spheron kernel for {instance_id}: `jupyter kernelspec "
                                    "list` shows the installed ones")
    log.info("spheron_jupyter: removed kernel %s of instance %s", ", ".join(removed), instance_id)
    return {"instance_id": instance_id, "removed": removed}


def ledger_record(reader: LedgerReader, instance_id: str) -> InstanceRecord:
    ledger = reader.ledger()
    records = [rec for rec in (ledger.instances() if ledger else []) if rec.id == instance_id]
    if not records:
        raise KernelRouteError(404, f"no instance {instance_id!r} in this machine's ledger: the "
                                    "sidebar lists the ones you can pick")
    # The same id under two API URLs (emulator and live) is unlikely; a running one wins.
    return next((rec for rec in records if rec.active), records[0])


class KernelHandler(APIHandler):
    @web.authenticated
    async def post(self, instance_id: str) -> None:
        await self._answer(install_for, instance_id)

    @web.authenticated
    async def delete(self, instance_id: str) -> None:
        await self._answer(remove_for, instance_id)

    async def _answer(self, action, instance_id: str) -> None:
        reader: LedgerReader = self.settings[READER_SETTING]
        self.set_header("Cache-Control", "no-store")
        self.set_header("Content-Type", "application/json")
        try:
            # SQLite and the data dir: never on the server's event loop.
            body = await asyncio.get_running_loop().run_in_executor(
                None, action, reader, instance_id)
        except KernelRouteError as exc:
            self.set_status(exc.status)
            body = {"message": str(exc)}
        self.finish(json.dumps(body))
