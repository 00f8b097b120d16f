"""Kernel restart: what one real kernel launched and tunnelled, the next one finds and reuses.

Two notebooks run one after the other in real ipykernel kernels (nbclient), sharing only
SPHERON_JUPYTER_HOME: the first uses the embedded emulator (`%spheron use local` starts it as
its own process), launches and opens Jupyter; the second, a new kernel, is warned at
`%load_ext`, lists the instance and gets the *same* tunnel to the *same* server. The saved
notebooks are then searched for the API key, the Jupyter token and private key material.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.slow


def _run(cells: list[str], path) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, timeout=240, kernel_name="python3").execute()
    nbformat.write(nb, path)
    return nb


def _text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        parts.append(out.get("text", ""))
        parts.extend(str(v) for v in out.get("data", {}).values())
    return "\n".join(parts)


@pytest.fixture
def fast_local_emulator(monkeypatch, isolated_home):
    monkeypatch.setenv("SPHERON_EMULATOR_BOOT_SECONDS", "0.3")
    monkeypatch.setenv("SPHERON_EMULATOR_MINIMUM_RUNTIME", "3s")
    yield isolated_home
    from spheron_jupyter.emulator.process import find_running
    from spheron_jupyter.session.backends import emulator_state_dir
    from spheron_jupyter.session.core import Session

    try:
        session = Session("local")
        for tunnel in session.tunnels():
            session.close(tunnel.id)
    finally:
        running = find_running(emulator_state_dir())
        if running is not None:
            running.stop()


def test_new_kernel_lists_the_instance_and_reuses_the_tunnel(fast_local_emulator, tmp_path):
    first = _run([
        "%load_ext spheron_jupyter",
        "%spheron use local",
        "%spheron launch --gpu rtx-4090 --name restart-box --yes",
        "%spheron jupyter restart-box",
    ], tmp_path / "first.ipynb")
    opened = _text(first.cells[3])
    port = re.search(r"http://127\.0\.0\.1:(\d+)/lab", opened).group(1)
    assert "carries no token" in opened

    second = _run([
        "%load_ext spheron_jupyter",
        "%spheron use local",
        "%spheron ls",
        "%spheron jupyter restart-box",
    ], tmp_path / "second.ipynb")
    assert "may still be billing" in _text(second.cells[0]) and "restart-box" in _text(second.cells[0])
    assert "restart-box" in _text(second.cells[2]) and "running" in _text(second.cells[2])
    reopened = _text(second.cells[3])
    assert f"http://127.0.0.1:{port}/lab" in reopened and "reused" in reopened

    # The tunnel works, and the instance runs one Jupyter server, started once.
    from spheron_jupyter.session.core import Session

    session = Session("local")
    link = session.jupyter("restart-box")
    assert link.reused and str(link.local_port) == port
    with urllib.request.urlopen(link.url_with_token().replace("/lab?", "/api/status?"), timeout=20) as r:
        assert r.status == 200
    started = [e for e in session.events("restart-box") if e.kind == "jupyter-started"]
    assert len(started) == 1
    assert len(_jupyter_servers_of(fast_local_emulator)) == 1  # on the instance, for real

    # Secrets: nothing of the key, the token or a private key in either saved notebook.
    from spheron_jupyter.session.backends import emulator_state_dir

    api_key = json.loads((emulator_state_dir() / "emulator.json").read_text())["api_key"]
    for saved in (tmp_path / "first.ipynb", tmp_path / "second.ipynb"):
        text = saved.read_text()
        assert api_key not in text
        assert link.token not in text
        assert "PRIVATE KEY" not in text

    time.sleep(1.0)
    session.terminate("restart-box")


def _jupyter_servers_of(home) -> list[int]:
    """Jupyter servers running on this test's emulated instances (real local processes)."""
    from pathlib import Path

    # The sandbox gives its processes a clean environment that names the instance's root.
    marker = f"SPHERON_INSTANCE_ROOT={home}/".encode()
    found = []
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            env = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        is_lab = any(a.endswith(b"jupyter-lab") for a in argv) or b"lab" in argv
        if is_lab and b"--no-browser" in argv and any(e.startswith(marker) for e in env):
            found.append(int(proc.name))
    return found
