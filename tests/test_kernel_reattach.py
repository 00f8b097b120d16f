"""A kernel on the instance outlives a Jupyter server that was killed (no shutdown), and the next
server reattaches to it through SpheronProvisioner (spheron_jupyter/kernel/provisioner.py).

Each "Jupyter server" is a separate Python process running jupyter_client's KernelManager on
our kernelspec, as jupyter_server does (with the notebook's path in JPY_SESSION_NAME); killing
it with SIGKILL is a server that crashed or was killed: its kernel launcher is left behind,
reparented, with no shutdown request. The last test does the same with a real jupyter_server
process and its REST sessions API. The instance is the emulator's SSH sandbox.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from spheron_jupyter.kernel import detached
from spheron_jupyter.ssh.tunnel import TunnelAgentClient
from tests.support.emulator_ssh import process_gone, wait_for
from tests import test_kernel_emulator as kernel_tests
from tests.test_kernel_emulator import _pids_matching, instance_root

pytestmark = pytest.mark.slow
box = kernel_tests.box  # the fixture: a running instance `kbox` with `%spheron kernel kbox` done

# A stand-in Jupyter server: starts the kernel, says what started it, then runs each JSON line
# of stdin as a cell (or "shutdown") and answers with one JSON line.
SERVER = r"""
import json, os, sys
from jupyter_client.manager import KernelManager
km = KernelManager(kernel_name="spheron-kbox")
km.start_kernel(env={**os.environ, "JPY_SESSION_NAME": sys.argv[1]}, stderr=open(sys.argv[2], "ab"))
kc = km.client()
kc.start_channels()
kc.wait_for_ready(timeout=90)
print(json.dumps({"launcher": km.provisioner.process.pid,
                  "provisioner": type(km.provisioner).__name__}), flush=True)
for line in sys.stdin:
    cell = json.loads(line)
    if cell == "shutdown":
        kc.stop_channels()
        km.shutdown_kernel()
        print(json.dumps({"alive": km.is_alive()}), flush=True)
        break
    out = []
    reply = kc.execute_interactive(cell, timeout=60, output_hook=lambda m: out.append(
        m["content"].get("text", "")))
    print(json.dumps({"status": reply["content"]["status"], "text": "".join(out),
                      "ename": reply["content"].get("ename")}), flush=True)
"""


class Server:
    def __init__(self, notebook: str, log: Path) -> None:
        self.log = log
        self.process = subprocess.Popen([sys.executable, "-c", SERVER, notebook, str(log)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        hello = self._answer()
        self.launcher, self.provisioner = hello["launcher"], hello["provisioner"]

    def _answer(self) -> dict:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, f"the server stand-in died; its kernel log: {self.log.read_text()[-2000:]}"
        return json.loads(line)

    def run(self, code: str) -> dict:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(code) + "\n")
        self.process.stdin.flush()
        return self._answer()

    def shutdown(self) -> None:
        assert self.run("shutdown") == {"alive": False}
        self.process.wait(timeout=30)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


def _kernel_tunnels() -> list[str]:
    return [t.name for t in TunnelAgentClient().list() if (t.name or "").startswith("kernel:")]


def _record_files() -> list[Path]:
    return list(detached.records_dir().iterdir())


def test_a_killed_servers_kernel_keeps_its_variables_and_the_next_server_reattaches(box, tmp_path):
    shell, instance_id = box
    kernels = instance_root(shell.emulator, instance_id) / "root" / ".spheron" / "kernels"
    first = Server("analysis.ipynb", tmp_path / "first.log")
    assert first.provisioner == "SpheronProvisioner"
    started = first.run("import os; x = 'kept'; print(os.getpid())")
    assert started["status"] == "ok"
    remote_pid = int(started["text"])

    first.kill()
    wait_for(lambda: process_gone(first.launcher), timeout=30, what="the orphaned launcher to exit")
    assert not process_gone(remote_pid), "the kernel should keep running on the instance"
    [record] = detached.pending(instance_id)
    [path] = _record_files()
    assert path.stat().st_mode & 0o077 == 0 and record.session_name == "analysis.ipynb"
    assert list(kernels.glob("*/detached")) and not _kernel_tunnels()
    assert "leaving the kernel running" in first.log.read_text()

    # Another notebook on the same instance gets a new kernel, not this one.
    other = Server("other.ipynb", tmp_path / "other.log")
    try:
        assert other.run("x")["ename"] == "NameError"
        assert len(detached.pending(instance_id)) == 1
    finally:
        other.shutdown()

    second = Server("analysis.ipynb", tmp_path / "second.log")
    try:
        again = second.run("print(x, os.getpid())")
        assert (again["status"], again["text"].split()) == ("ok", ["kept", str(remote_pid)])
        assert not _record_files(), "the record outlived its adoption"
        assert not list(kernels.glob("*/detached")) and not list(kernels.glob("*/reaper"))
        assert "reattached to the kernel left running" in second.log.read_text()
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        assert record.key not in ps
        assert detached.ADOPT_ENV not in ps
    finally:
        second.shutdown()
    assert process_gone(remote_pid)
    assert not _record_files(), "a shutdown left a record to reattach to"
    wait_for(lambda: not list(kernels.glob("*")), timeout=30, what="the kernel's files removed")
    assert not _pids_matching(str(kernels).encode()), "a process (kernel or timer) outlived shutdown on the instance"
    assert not _kernel_tunnels()
    for log in ("first.log", "other.log", "second.log"):
        assert record.key not in (tmp_path / log).read_text()


def test_a_detached_kernel_is_stopped_by_the_instance_after_the_grace_period(box, tmp_path,
                                                                            monkeypatch):
    """Nothing runs on forever: with nobody reattaching, the instance ends the kernel itself;
    a server started afterwards gets a fresh kernel."""
    shell, instance_id = box
    kernels = instance_root(shell.emulator, instance_id) / "root" / ".spheron" / "kernels"
    monkeypatch.setenv(detached.GRACE_ENV, "4")
    first = Server("late.ipynb", tmp_path / "first.log")
    remote_pid = int(first.run("import os; y = 1; print(os.getpid())")["text"])
    first.kill()
    wait_for(lambda: process_gone(first.launcher), timeout=30, what="the orphaned launcher to exit")
    assert not process_gone(remote_pid) and detached.pending(instance_id)
    wait_for(lambda: process_gone(remote_pid), timeout=30, what="the instance to stop the kernel")
    wait_for(lambda: not list(kernels.glob("*")), timeout=30, what="the kernel's files removed")
    assert not detached.pending(instance_id) and not _record_files()
    late = Server("late.ipynb", tmp_path / "late.log")
    try:
        assert late.run("y")["ename"] == "NameError"
    finally:
        late.shutdown()


def test_shutdown_and_sigterm_leave_nothing_to_reattach_to(box, tmp_path):
    """A real shutdown (also the SIGTERM jupyter_client sends a kernel that ignores it) stops
    the kernel on the instance; only a vanished parent detaches."""
    shell, instance_id = box
    kernels = instance_root(shell.emulator, instance_id) / "root" / ".spheron" / "kernels"
    server = Server("nb.ipynb", tmp_path / "one.log")
    remote_pid = int(server.run("import os; print(os.getpid())")["text"])
    server.shutdown()
    assert process_gone(remote_pid) and not _record_files()
    server = Server("nb.ipynb", tmp_path / "two.log")
    try:
        remote_pid = int(server.run("import os; print(os.getpid())")["text"])
        os.kill(server.launcher, signal.SIGTERM)
        wait_for(lambda: process_gone(server.launcher), timeout=30, what="the launcher to exit")
        assert process_gone(remote_pid) and not _record_files()
        assert not list(kernels.glob("*"))
    finally:
        server.kill()



def test_a_killed_jupyter_server_restarted_on_the_same_root_reattaches_the_notebooks_kernel(
        box, tmp_path):
    """The real thing: jupyter_server (AsyncKernelManager, sessions with JPY_SESSION_NAME) killed
    with SIGKILL and started again on the same root; the notebook's new session gets the old
    kernel back. Cells go through the server's own connection file, as a frontend's would."""
    from jupyter_client import BlockingKernelClient

    from tests.fixtures.jupyterlab import JupyterLab, _free_port, _stop, _wait_ready

    shell, instance_id = box
    root = tmp_path / "root"
    root.mkdir()

    def serve(name: str) -> JupyterLab:
        base = tmp_path / name
        env = {**os.environ, "JUPYTER_CONFIG_DIR": str(base / "config"),
               "JUPYTER_RUNTIME_DIR": str(base / "runtime"), "JUPYTER_PLATFORM_DIRS": "1"}
        port, token = _free_port(), secrets.token_hex(16)
        argv = [sys.executable, "-m", "jupyter_server", "--no-browser",
                "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
                "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
                f"--ServerApp.root_dir={root}", "--ServerApp.terminals_enabled=False"]
        if os.geteuid() == 0:
            argv.append("--allow-root")
        base.mkdir()
        log = base / "server.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(argv, cwd=root, env=env, stdin=subprocess.DEVNULL,
                                       stdout=out, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        lab = JupyterLab(f"http://127.0.0.1:{port}", token, root, process, log)
        _wait_ready(lab)
        return lab

    def open_notebook(lab: JupyterLab) -> BlockingKernelClient:
        body = json.dumps({"path": "analysis.ipynb", "name": "analysis.ipynb",
                           "type": "notebook", "kernel": {"name": "spheron-kbox"}}).encode()
        request = urllib.request.Request(
            f"{lab.url}/api/sessions", data=body, method="POST",
            headers={"Authorization": f"token {lab.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as response:
            kernel_id = json.loads(response.read())["kernel"]["id"]
        client = BlockingKernelClient()
        client.load_connection_file(str(lab.log_path.parent / "runtime" / f"kernel-{kernel_id}.json"))
        # A client without a KernelManager calls the kernel dead once a heartbeat is 1 s late;
        # through a tunnel on a loaded machine one can be (a CI run failed with "Kernel died
        # before replying"), and whether the kernel died is the server's call, not the client's.
        client.hb_channel.time_to_dead = 10.0
        client.start_channels()
        try:
            client.wait_for_ready(timeout=90)
        except RuntimeError as error:
            raise AssertionError(f"{error}; the server logged:\n{lab.log()[-3000:]}") from None
        return client

    def cell(client: BlockingKernelClient, code: str) -> str:
        out: list[str] = []
        client.execute_interactive(code, timeout=60, output_hook=lambda m: out.append(
            m["content"].get("text", "")))
        return "".join(out)

    first = serve("first")
    try:
        client = open_notebook(first)
        remote_pid = int(cell(client, "import os; x = 'kept'; print(os.getpid())"))
        client.stop_channels()
        first.process.kill()  # the server only: its kernels' launchers live in their own sessions
        first.process.wait()
        runtime = str(first.log_path.parent / "runtime").encode()  # in its launcher's argv
        wait_for(lambda: not _pids_matching(runtime), timeout=30,
                 what="the orphaned launcher to exit")
        [record] = detached.pending(instance_id)
        assert record.session_name == str(root / "analysis.ipynb")
    finally:
        _stop(first)
    second = serve("second")
    try:
        client = open_notebook(second)
        assert cell(client, "print(x, os.getpid())").split() == ["kept", str(remote_pid)]
        client.stop_channels()
        assert "reattached to the kernel left running" in second.log()
    finally:
        _stop(second)  # shuts the kernel down through the REST API
    wait_for(lambda: process_gone(remote_pid), timeout=30, what="the kernel stopped on shutdown")
    assert not _record_files()
    assert record.key not in first.log() + second.log()
