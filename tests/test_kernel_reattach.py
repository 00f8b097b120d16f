"""A kernel on the instance outlives a Jupyter server that was killed (no shutdown), and the next
server reattaches to it through SpheronProvisioner (spheron_jupyter/kernel/provisioner.py).

Each "Jupyter server" is a separate Python process running jupyter_client's KernelManager on
our kernelspec, as jupyter_server does (with the notebook's path in JPY_SESSION_NAME); killing
it with SIGKILL is a server that crashed or was killed: its kernel launcher is left behind,
reparented, with no shutdown request. The instance is the emulator's SSH sandbox.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
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
    wait_for(lambda: not list(kernels.glob("*")), timeout=10, what="the kernel's files removed")
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
    wait_for(lambda: not list(kernels.glob("*")), timeout=10, what="the kernel's files removed")
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

