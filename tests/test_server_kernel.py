"""``POST``/``DELETE spheron/api/kernel/<id>`` in a real JupyterLab: the sidebar's Kernel button.

A real Jupyter server (fixture) with our server extension, an instance on the real emulator
launched by this test process (the ledger is shared through SPHERON_JUPYTER_HOME): the route
writes the kernelspec into the server's own Jupyter data dir, Jupyter's kernelspec API lists it,
the sidebar's state says so, DELETE removes it; errors are one line with a status to act on.
"""

from __future__ import annotations

import http.client
import json
import time
from urllib.parse import urlsplit

import pytest

from spheron_jupyter.ledger import InstanceRecord, Ledger
from tests.test_server_extension import _request


def _kernel(lab, method: str, instance_id: str, **kwargs) -> tuple[int, dict, bytes]:
    status, _, body = _request(lab, method, f"/spheron/api/kernel/{instance_id}", body=b"",
                               **kwargs)
    return status, json.loads(body) if body.startswith(b"{") else {}, body


def _state_row(lab, instance_id: str) -> dict:
    status, _, body = _request(lab, "GET", "/spheron/api/state")
    assert status == 200, body[:300]
    return next(r for r in json.loads(body)["instances"] if r["id"] == instance_id)


def _browser_cookies(lab) -> str:
    """The login and _xsrf cookies a browser gets from opening Lab with its token."""
    status, all_headers = 0, []
    parts = urlsplit(lab.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("GET", f"/lab?token={lab.token}")
        response = conn.getresponse()
        status, all_headers = response.status, response.getheaders()
        response.read()
    finally:
        conn.close()
    assert status == 200, status
    jar = [value.split(";")[0] for name, value in all_headers if name.lower() == "set-cookie"]
    assert any(c.startswith("_xsrf=") for c in jar), jar
    return "; ".join(jar)


@pytest.fixture
def lab_kernels(jupyterlab, monkeypatch):
    """The Lab server's kernels dir, also this process's (terminate removes specs from it)."""
    data = jupyterlab.root.parent / "data"
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(data))
    return data / "kernels"


def test_kernel_route_installs_lists_and_removes_the_kernelspec(
        jupyterlab, emulator, emulator_session, lab_kernels):
    session = emulator_session
    view = session.launch(session.plan_launch(gpu="rtx-4090", name="kbtn"))
    launched = time.monotonic()

    # Behind Jupyter's authentication: nothing written without it, nor with a browser's login
    # cookie but no XSRF header (what a page of another site could send).
    status, _, body = _kernel(jupyterlab, "POST", view.id, token=False)
    assert status == 403 and not (lab_kernels / "spheron-kbtn").exists(), body[:200]
    cookies = _browser_cookies(jupyterlab)
    status, _, body = _kernel(jupyterlab, "POST", view.id, token=False,
                              headers={"Cookie": cookies})
    assert status == 403 and b"_xsrf" in body and not (lab_kernels / "spheron-kbtn").exists()
    assert _state_row(jupyterlab, view.id)["kernel"] is None

    # As the sidebar sends it: the login cookie and the XSRF header Jupyter's client adds.
    xsrf = next(c.split("=", 1)[1] for c in cookies.split("; ") if c.startswith("_xsrf="))
    status, answer, body = _kernel(jupyterlab, "POST", view.id, token=False,
                                   headers={"Cookie": cookies, "X-XSRFToken": xsrf})
    assert status == 200, body
    assert answer == {"instance_id": view.id, "name": "spheron-kbtn",
                      "display_name": "Spheron: kbtn (GPU)"}
    spec_file = lab_kernels / "spheron-kbtn" / "kernel.json"
    spec = json.loads(spec_file.read_text())
    assert spec["display_name"] == "Spheron: kbtn (GPU)"
    argv = spec["argv"]
    assert argv[argv.index("--instance") + 1] == view.id and argv[-2:] == ["-f", "{connection_file}"]
    fresh = session.resolve(view.id)
    assert argv[argv.index("--port") + 1] == str(fresh.ssh_port)  # the ledger's SSH address
    # Nothing secret in the file or the answer: not the server's token, not the API key, not
    # our SSH key; and the answer names no address or path either.
    from spheron_jupyter.ssh.keys import user_key_path

    private_key = user_key_path().read_text().strip().splitlines()[1]
    text = spec_file.read_text()
    for secret in (jupyterlab.token, emulator.api_key, private_key):
        assert secret not in text and secret.encode() not in body
    assert str(fresh.ssh_port).encode() not in body and b"kernel.json" not in body
    assert jupyterlab.token not in jupyterlab.log()

    # Jupyter itself offers it (the launcher and picker read this), and the sidebar says so.
    specs = jupyterlab.api("GET", "/api/kernelspecs")["kernelspecs"]
    assert specs["spheron-kbtn"]["spec"]["display_name"] == "Spheron: kbtn (GPU)"
    assert _state_row(jupyterlab, view.id)["kernel"] == {
        "name": "spheron-kbtn", "display_name": "Spheron: kbtn (GPU)"}

    # A second click replaces it (same instance), it does not fail.
    assert _kernel(jupyterlab, "POST", view.id)[0] == 200

    status, answer, body = _kernel(jupyterlab, "DELETE", view.id)
    assert status == 200 and answer["removed"] == ["spheron-kbtn"], body
    assert not spec_file.parent.exists()
    assert _state_row(jupyterlab, view.id)["kernel"] is None
    status, answer, _ = _kernel(jupyterlab, "DELETE", view.id)
    assert status == 404 and "no Spheron kernel" in answer["message"]

    # Terminated: refused with the reason; terminate also removed a spec installed before.
    assert _kernel(jupyterlab, "POST", view.id)[0] == 200
    time.sleep(max(0.0, launched + 3.2 - time.monotonic()))  # the fixture's minimum runtime
    session.terminate(view.id)
    assert not spec_file.parent.exists()
    status, answer, _ = _kernel(jupyterlab, "POST", view.id)
    assert status == 409 and answer["message"].startswith("kbtn is terminated"), answer
    assert not spec_file.parent.exists()


def test_kernel_route_errors_are_one_line_to_act_on(jupyterlab, isolated_home, lab_kernels):
    status, answer, _ = _kernel(jupyterlab, "POST", "i-nowhere")
    assert status == 404 and "no instance 'i-nowhere'" in answer["message"], answer

    # Running in the ledger, but SSH never came up (no address, no login, no pinned key).
    Ledger().record_instance(InstanceRecord("http://emulated.invalid", "i-boot", "local",
                                            name="booting", status="running",
                                            created_at=time.time(), hourly_rate=1.0))
    status, answer, _ = _kernel(jupyterlab, "POST", "i-boot")
    assert status == 409, answer
    assert answer["message"].startswith("booting: SSH is not ready yet"), answer
    assert "\n" not in answer["message"]
    assert not lab_kernels.exists() or not any(lab_kernels.iterdir())
