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
