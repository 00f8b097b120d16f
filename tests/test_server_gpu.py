"""``GET spheron/api/gpu`` in a real JupyterLab: the sidebar's GPU figures, sampled by the
server over SSH from the address the ledger recorded (server/gpu_state.py), behind Jupyter's
auth, with nothing of the SSH address or key in the body."""

from __future__ import annotations

import json
import time

from tests.test_server_extension import _request


def _gpu(lab) -> tuple[dict, bytes]:
    status, _, body = _request(lab, "GET", "/spheron/api/gpu")
    assert status == 200, body[:300]
    return json.loads(body), body


def test_gpu_figures_of_running_instances_for_the_sidebar(jupyterlab, emulator_session):
    status, _, body = _request(jupyterlab, "GET", "/spheron/api/gpu", token=False)
    assert status == 403 and b"gpus" not in body
    assert _gpu(jupyterlab)[0]["gpus"] == []  # no ledger yet: empty, not an error

    session = emulator_session
    view = session.launch(session.plan_launch(gpu="rtx-4090", name="lab-gpu"))
    session.exec(view.id, 'echo 64 > "$SPHERON_INSTANCE_ROOT/run/emulator-gpu-load"',
                 lambda stream, text: None)
    deadline = time.monotonic() + 60
    while True:
        state, body = _gpu(jupyterlab)
        rows = [g for g in state["gpus"] if g["instance_id"] == view.id]
        if rows and rows[0]["utilization"] is not None or time.monotonic() > deadline:
            break
        time.sleep(1)
    (row,) = rows
    assert row["error"] is None, row["error"]
    assert 54 <= row["utilization"] <= 74 and row["memory_total_mib"] == 24 * 1024 - 488
    assert row["temperature_c"] > 30 and "GiB" in row["summary"] and row["sparkline"]
    fresh = session.resolve(view.id)
    assert str(fresh.ssh_port).encode() not in body and b"id_ed25519" not in body


def test_the_server_logs_in_as_the_user_that_worked_when_the_api_names_none():
    """Some providers' instances have no ``user`` field (docs/spheron-api.md): the ledger then
    keeps the login that worked at SSH-ready, and the server's GPU and kernel views use it
    instead of guessing ``ubuntu`` (a provider that refuses it would show no GPU)."""
    from spheron_jupyter.ledger import InstanceRecord
    from spheron_jupyter.server.gpu_state import ledger_view

    rec = InstanceRecord("http://emulated.invalid", "i-1", "local", name="box", status="running",
                         extra={"ssh": ["10.0.0.7", 2222, ""], "ssh_user": "root"})
    view = ledger_view(rec)
    assert view is not None and (view.ip, view.ssh_port, view.user) == ("10.0.0.7", 2222, "root")
    rec.extra["ssh"] = ["10.0.0.7", 2222, "ubuntu"]  # the API's own user wins, as in session/
    assert ledger_view(rec).user == "ubuntu"
