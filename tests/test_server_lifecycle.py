"""``POST spheron/api/lifecycle/<id>`` in a real JupyterLab: the sidebar's +1h, Cancel end and
Terminate buttons (server/lifecycle_route.py), on the emulator ``%spheron use local`` finds.

The Lab server opens its own ``Session`` from what the ledger recorded (backend, URL; the key
from the managed emulator's state), so this test's instance is launched on ``home_emulator``,
and each answer is checked against the ledger's lifecycle and the API, not only its text.
"""

from __future__ import annotations

import json
import time

from spheron_jupyter.config.processes import pid_alive
from spheron_jupyter.ledger import lifecycle_of
from spheron_jupyter.session.core import Session
from tests.test_server_extension import _request


def _post(lab, instance_id: str, payload: dict) -> tuple[int, dict]:
    status, _, body = _request(lab, "POST", f"/spheron/api/lifecycle/{instance_id}",
                               body=json.dumps(payload).encode(),
                               headers={"Content-Type": "application/json"})
    return status, json.loads(body)


def _life(session, instance_id):
    rec = session.ledger.instance(session.api_url, instance_id)
    return rec, lifecycle_of(rec, session.ledger.events(session.api_url, instance_id))


def test_extend_cancel_and_terminate_through_the_lab_server(jupyterlab, home_emulator):
    session = Session("local")  # the managed emulator of this test home, as the server finds it
    assert session.api_url.rstrip("/") == home_emulator.url.rstrip("/")
    view = session.launch(session.plan_launch(gpu="rtx-4090", name="side-life", lease="30m"))
    _, before = _life(session, view.id)

    status, body = _post(jupyterlab, view.id, {"action": "extend"})
    assert status == 200 and "lease now ends at" in body["message"], body
    rec, after = _life(session, view.id)
    assert after.ends_because == "lease" and 3500 < after.ends_at - before.ends_at < 3700
    reaper = rec.reaper_pid
    assert reaper and pid_alive(reaper)

    status, body = _post(jupyterlab, view.id, {"action": "cancel"})
    assert status == 200 and "now runs until you terminate it" in body["message"], body
    deadline = time.monotonic() + 30
    while pid_alive(reaper) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pid_alive(reaper) and _life(session, view.id)[1].ends_at is None

    assert _post(jupyterlab, view.id, {"action": "reboot"})[0] == 400
    status, body = _post(jupyterlab, "no-such-id", {"action": "extend"})
    assert status == 404 and "ledger" in body["message"]

    status, body = _post(jupyterlab, view.id, {"action": "terminate"})
    assert status == 200 and ("will be terminated" in body["message"]
                              or "terminated side-life" in body["message"]), body
    session.wait_until(view.id, ("terminated",), timeout=120)  # now, or by the reaper
    status, body = _post(jupyterlab, view.id, {"action": "extend"})
    assert status == 409 and "nothing to change" in body["message"]
    status, _, _ = _request(jupyterlab, "POST", f"/spheron/api/lifecycle/{view.id}", token=False,
                            body=b'{"action": "extend"}')
    assert status in (302, 403)  # behind Jupyter's authentication
    assert "Traceback" not in jupyterlab.log()
