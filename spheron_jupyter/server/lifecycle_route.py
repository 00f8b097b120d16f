"""``POST {base_url}spheron/api/lifecycle/<instance id>`` with ``{"action": A}``: the sidebar's
lifecycle buttons, the same as ``%spheron lease ID +1h`` (``extend``), ``%spheron lease ID
--cancel`` (``cancel``) and ``%spheron terminate ID --yes --when-allowed`` (``terminate``: now
when the minimum runtime allows, else scheduled).

Unlike the Kernel button (kernel_route.py) these reach the Spheron API and start or stop the
instance's reaper, so the server opens a ``Session`` on the backend and URL the ledger recorded
for the instance, with the key that backend would use in a notebook (the managed emulator's
own, or the stored credentials). Behind Jupyter's authentication and XSRF check (APIHandler).
The answer is the session's own one-line message, or one line saying why nothing changed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from jupyter_server.base.handlers import APIHandler
from tornado import web

from .kernel_route import KernelRouteError, ledger_record
from .sidebar_state import READER_SETTING, LedgerReader

log = logging.getLogger(__name__)

EXTEND_SECONDS = 3600.0  # the "+1h" button
ACTIONS = ("extend", "cancel", "terminate")


def act(reader: LedgerReader, instance_id: str, action: str) -> dict[str, Any]:
    from ..session.core import Session
    from ..session.errors import SessionError

    if action not in ACTIONS:
        raise KernelRouteError(400, f"unknown action {action!r}: one of {', '.join(ACTIONS)}")
    rec = ledger_record(reader, instance_id)
    label = rec.name or rec.id
    if not rec.active:
        raise KernelRouteError(409, f"{label} is {rec.status or 'ended'}: nothing to change")
    try:
        session = Session(rec.backend, url=rec.api_url)
        try:
            if action == "extend":
                message = session.extend_lease(rec.id, EXTEND_SECONDS)
            elif action == "cancel":
                message = session.cancel_lease(rec.id)
            else:
                message = session.terminate(rec.id, when_allowed=True).message
        finally:
            session.disconnect()
    except SessionError as exc:
        raise KernelRouteError(409, f"{label}: {str(exc).splitlines()[0]}") from None
    except Exception as exc:  # the API unreachable, a refused request: one line, no traceback
        log.warning("spheron_jupyter: %s on %s failed: %s", action, rec.id, exc)
        raise KernelRouteError(502, f"{label}: {action} failed: {str(exc).splitlines()[0]}") from None
    log.info("spheron_jupyter: %s on instance %s: %s", action, rec.id, message)
    return {"instance_id": rec.id, "message": message}


class LifecycleHandler(APIHandler):
    @web.authenticated
    async def post(self, instance_id: str) -> None:
        reader: LedgerReader = self.settings[READER_SETTING]
        self.set_header("Cache-Control", "no-store")
        self.set_header("Content-Type", "application/json")
        try:
            action = str((json.loads(self.request.body or b"{}") or {}).get("action", ""))
        except (ValueError, AttributeError):
            action = ""
        try:
            # HTTP to the API and a reaper process to start or stop: off the event loop.
            body = await asyncio.get_running_loop().run_in_executor(
                None, act, reader, instance_id, action)
        except KernelRouteError as exc:
            self.set_status(exc.status)
            body = {"message": str(exc)}
        self.finish(json.dumps(body))
