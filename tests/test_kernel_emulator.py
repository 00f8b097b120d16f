"""`%spheron kernel` against the emulator: a real instance (SSH sandbox), the real tunnel agent,
kernels started and driven by jupyter_client exactly as JupyterLab and nbclient do.

The kernelspec lives in a temporary JUPYTER_DATA_DIR. A "frozen link" is the emulator process
(whose threads are every instance's sshd) stopped with SIGSTOP: the peer stops answering
without closing anything, as on a sleeping laptop's Wi-Fi; the kernel itself is a separate
process of the instance and keeps running.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

from tests.support.emulator_ssh import port_refuses, process_gone, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def box(emulator_shell, tmp_path, monkeypatch):
    """A running instance `kbox` with `%spheron kernel kbox` done; yields (shell, instance id)."""
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter-data"))
    emulator_shell.ok("%%spheron launch --yes\ngpu: rtx-4090\nname: kbox\n")
    installed = emulator_shell.ok("%spheron kernel kbox")
    assert "Spheron: kbox (GPU)" in installed.text and "Change Kernel" in installed.text
    view = emulator_shell.context.session.resolve("kbox")
    yield emulator_shell, view.id


def start(kernel_name="spheron-kbox", **kwargs):
    km = KernelManager(kernel_name=kernel_name)
    km.start_kernel(**kwargs)
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    return km, kc


def run(kc, code, timeout=30):
    """Execute; returns (status, stdout text, error name)."""
    out = []
    reply = kc.execute_interactive(
        code, timeout=timeout,
        output_hook=lambda msg: out.append(msg["content"].get("text", "")))
    content = reply["content"]
    return content["status"], "".join(out), content.get("ename")


def healed(kc, timeout=60.0) -> float:
    """Ask for kernel_info until both the reply (shell) and the kernel's status for it (iopub)
    come through the healed tunnels, as jupyter_client's wait_for_ready does; returns how long
    that took. (A message sent in the very instant a link drops is lost with that SSH
    connection, and iopub output published before the SUB socket reconnected is not replayed.)"""
    began = time.monotonic()
    while True:
        msg_id = kc.kernel_info()
        got = set()
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and got != {"shell", "iopub"}:
            for name, channel in (("shell", kc.shell_channel), ("iopub", kc.iopub_channel)):
                try:
                    msg = channel.get_msg(timeout=0.05)
                except queue.Empty:
                    continue
                if msg["parent_header"].get("msg_id") == msg_id:
                    got.add(name)
        if got == {"shell", "iopub"}:
            return time.monotonic() - began
        assert time.monotonic() - began < timeout, "the kernel did not answer after the link healed"


def stop(km, kc):
    kc.stop_channels()
    km.shutdown_kernel()


def instance_root(emulator, instance_id) -> Path:
    return Path(emulator.state_dir) / "instances" / instance_id / "root"


def test_cells_run_on_the_instance_and_state_survives_drop_and_frozen_link(box):
    shell, instance_id = box
    emulator = shell.emulator
    assert "spheron-kbox" in KernelSpecManager().find_kernel_specs()
    km, kc = start()
    try:
        status, text, _ = run(kc, "import os; print(os.environ['SPHERON_INSTANCE_ID']); x = 41")
        assert (status, text.strip()) == ("ok", instance_id)

        httpx.post(f"{emulator.url}/_emulator/instances/{instance_id}/drop-ssh",
                   headers={"Authorization": f"Bearer {emulator.api_key}"}).raise_for_status()
        healed(kc)
        assert run(kc, "x += 1; print(x)", timeout=60)[:2] == ("ok", "42\n")

        os.kill(emulator.pid, signal.SIGSTOP)  # every sshd of the instance stops answering
        try:
            time.sleep(6)  # past the 3 s dead-peer verdict of the watchdogs
            assert km.is_alive(), "poll() said dead while only the link was frozen"
        finally:
            os.kill(emulator.pid, signal.SIGCONT)
        healed(kc)
        assert run(kc, "x += 1; print(x)", timeout=60)[:2] == ("ok", "43\n")
    finally:
        stop(km, kc)


def test_interrupt_ends_a_sleep_within_15_s_and_the_kernel_lives_on(box):
    km, kc = start()
    try:
        run(kc, "y = 'kept'")
        msg_id = kc.execute(SLEEP)
        wait_for(lambda: _sleeping(kc), timeout=60, what="the sleep to start")
        began = time.monotonic()
        km.interrupt_kernel()
        reply = kc.get_shell_msg(timeout=45)
        assert reply["parent_header"]["msg_id"] == msg_id
        assert reply["content"]["ename"] == "KeyboardInterrupt"
        assert time.monotonic() - began < 15
        assert run(kc, "print(y)")[:2] == ("ok", "kept\n")
    finally:
        stop(km, kc)


# The cell says when it is running: ipykernel ignores SIGINT outside a request's handler, so an
# interrupt sent between the "busy" status and the handler would be lost (locally too).
SLEEP = "import time; print('sleeping', flush=True); time.sleep(60)"


def _sleeping(kc) -> bool:
    try:
        msg = kc.get_iopub_msg(timeout=0.2)
    except queue.Empty:
        return False
    return msg["header"]["msg_type"] == "stream" and "sleeping" in msg["content"]["text"]


def test_argv_only_spec_runs_on_the_instance_and_signal_interrupts_work(box, tmp_path):
    """As VS Code and older frontends use a kernelspec: argv only, interrupts by SIGINT."""
    _shell, instance_id = box
    full = json.loads((Path(os.environ["JUPYTER_DATA_DIR"]) / "kernels" / "spheron-kbox"
                       / "kernel.json").read_text())
    folder = Path(os.environ["JUPYTER_DATA_DIR"]) / "kernels" / "bare-argv"
    folder.mkdir()
    (folder / "kernel.json").write_text(json.dumps({
        "argv": full["argv"], "display_name": "bare", "language": "python"}))
    km, kc = start("bare-argv")
    try:
        assert run(kc, "import os; print(os.environ['SPHERON_INSTANCE_ID'])")[1].strip() \
            == instance_id
        kc.execute(SLEEP)
        wait_for(lambda: _sleeping(kc), timeout=60, what="the sleep to start")
        km.interrupt_kernel()  # interrupt_mode "signal": SIGINT to the launcher
        assert kc.get_shell_msg(timeout=45)["content"]["ename"] == "KeyboardInterrupt"
        assert run(kc, "print(1 + 1)")[:2] == ("ok", "2\n")
    finally:
        stop(km, kc)


def test_restart_restarts_remotely_and_shutdown_leaves_nothing_on_either_side(box, tmp_path):
    shell, instance_id = box
    root = instance_root(shell.emulator, instance_id)
    launcher_log = tmp_path / "launcher.log"
    log = open(launcher_log, "wb")  # what Jupyter logs of the kernel process; restart reuses it
    km, kc = start(stderr=log)
    connection_file = Path(km.connection_file)
    ports = [km.shell_port, km.iopub_port, km.stdin_port, km.control_port, km.hb_port]
    key = km.session.key.decode()
    launcher = km.provisioner.process.pid
    try:
        first_pid = run(kc, "import os; z = 1; print(os.getpid())")[1].strip()
        _assert_no_secret_in_argv_or_files(key, shell.emulator.api_key, root)
        # The kernel's five ports are bound on the instance's loopback only (the emulated
        # instance shares this machine's network, so its listening sockets are visible here).
        remote_file = next((root / "root" / ".spheron" / "kernels").glob("*/connection.json"))
        remote_info = json.loads(remote_file.read_text())
        listening = _listening_tcp()
        for channel in ("shell", "iopub", "stdin", "control", "hb"):
            bound = {host for host, port in listening if port == remote_info[f"{channel}_port"]}
            assert bound == {"0100007F"}, (channel, bound)
        km.restart_kernel()
        kc.wait_for_ready(timeout=60)
        status, text, ename = run(kc, "import os; print(os.getpid()); z")
        assert ename == "NameError", "the restarted kernel kept its variables"
        assert text.strip() != first_pid
    finally:
        stop(km, kc)
        log.close()
    assert not km.is_alive()
    wait_for(lambda: all(port_refuses(p) for p in ports), timeout=30, what="the five ports freed")
    assert not connection_file.exists()
    # By its connection file: other kernels of this machine (another test run) are not ours.
    assert not _pids_matching(str(connection_file).encode()), "a launcher outlived shutdown"
    assert not _pids_matching(str(root).encode() + b"/root/.spheron/kernels"), \
        "a kernel process outlived shutdown on the instance"
    assert not list((root / "root" / ".spheron").glob("kernels/*")), "kernel files left on the instance"
    from spheron_jupyter.ssh.tunnel import TunnelAgentClient

    assert not [t for t in TunnelAgentClient().list() if (t.name or "").startswith("kernel:")]
    assert launcher not in _pids_matching(b"")
    from spheron_jupyter.kernel import detached

    assert not list(detached.records_dir().iterdir()), "a shutdown left a kernel to reattach to"
    logged = launcher_log.read_text()
    assert "tunnels ready" in logged and key not in logged and shell.emulator.api_key not in logged


def _assert_no_secret_in_argv_or_files(key, api_key, root):
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert key not in ps and api_key not in ps
    log = next((root / "root" / ".spheron" / "kernels").glob("*/kernel.log"))
    assert key not in log.read_text()
    connection = next((root / "root" / ".spheron" / "kernels").glob("*/connection.json"))
    assert connection.stat().st_mode & 0o077 == 0


def _listening_tcp() -> set[tuple[str, int]]:
    """(hex IPv4 address, port) of every listening TCP socket of this machine."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A":  # LISTEN
            host, port = fields[1].split(":")
            found.add((host, int(port, 16)))
    return found


def _pids_matching(needle: bytes) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
                state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[-1].split()[0]
            except OSError:
                continue
            if needle in cmdline and state != "Z":
                found.append(int(entry))
    return found


def test_terminate_removes_the_kernelspec_and_a_running_kernel_ends(box):
    shell, _instance_id = box
    km, kc = start()
    try:
        assert run(kc, "print('up')")[:2] == ("ok", "up\n")
        time.sleep(3)  # the emulator's minimum runtime in tests
        shell.ok("%spheron terminate kbox --yes")
        assert "spheron-kbox" not in KernelSpecManager().find_kernel_specs()
        wait_for(lambda: not km.is_alive(), timeout=30, what="the kernel to be reported dead")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_remove_and_bad_input(box):
    shell, _ = box
    bad = shell.run("%spheron kernel kbox --name 'Not Valid'")
    assert bad.failed and "lower-case letters" in bad.error
    missing = shell.run("%spheron kernel nosuch --remove")
    assert missing.failed and "no Spheron kernel" in missing.error
    removed = shell.ok("%spheron kernel kbox --remove")
    assert "Removed the kernel spheron-kbox" in removed.text
    assert "spheron-kbox" not in KernelSpecManager().find_kernel_specs()


def test_a_killed_launchers_kernel_and_tunnels_are_cleaned_by_the_next_start(box):
    """SIGKILL leaves no chance to clean up; the next kernel start on that instance does it."""
    shell, instance_id = box
    root = instance_root(shell.emulator, instance_id)
    from spheron_jupyter.ssh.tunnel import TunnelAgentClient

    km, kc = start()
    orphan = run(kc, "import os; print(os.getpid())")[1].strip()
    kc.stop_channels()
    os.kill(km.provisioner.process.pid, signal.SIGKILL)
    wait_for(lambda: not km.is_alive(), timeout=30, what="the launcher to die")
    assert not process_gone(int(orphan)), "the remote kernel should outlive a killed launcher"
    km2, kc2 = start()
    try:
        wait_for(lambda: process_gone(int(orphan)), timeout=45,
                 what="the orphaned kernel stopped")
        kernel_dirs = list((root / "root" / ".spheron" / "kernels").iterdir())
        assert len(kernel_dirs) == 1, "the orphan's folder was not removed"
        mine = f"kernel:{km2.provisioner.process.pid}:"
        names = [t.name for t in TunnelAgentClient().list() if (t.name or "").startswith("kernel:")]
        assert names and all(name.startswith(mine) for name in names), names
        assert run(kc2, "print('fine')")[:2] == ("ok", "fine\n")
    finally:
        stop(km2, kc2)
        km.cleanup_resources()


def test_sigterm_to_the_launcher_stops_the_kernel_on_the_instance(box):
    """What jupyter_client sends when a kernel does not answer shutdown_request in time."""
    shell, instance_id = box
    root = instance_root(shell.emulator, instance_id)
    km, kc = start()
    try:
        remote_pid = int(run(kc, "import os; print(os.getpid())")[1])
        km.provisioner.process.send_signal(signal.SIGTERM)
        wait_for(lambda: not km.is_alive(), timeout=60, what="the launcher to exit")
        assert process_gone(remote_pid)
        assert not list((root / "root" / ".spheron").glob("kernels/*"))
    finally:
        kc.stop_channels()
        km.cleanup_resources()


def test_a_python_without_ipykernel_or_none_at_all_is_one_line_and_writes_nothing(box):
    """--python names the interpreter; a missing one is refused before anything is written, and
    one without ipykernel is reported as such (installing needs PyPI: see the next test)."""
    shell, _ = box
    from spheron_jupyter.kernel import remote
    from tests.support.emulator_ssh import connect_when_ready

    shell.ok("%spheron kernel kbox --remove")
    missing = shell.run("%spheron kernel kbox --python /opt/nowhere/bin/python3")
    assert missing.failed and "No Python '/opt/nowhere/bin/python3' on the instance" in missing.error
    assert "spheron-kbox" not in KernelSpecManager().find_kernel_specs()
    view = shell.context.session.resolve("kbox")
    from spheron_jupyter.notebook.commands.kernel import _target

    conn = connect_when_ready(_target(view))
    try:
        bare = "$HOME/bare/bin/python3"
        remote.capture(conn, "python3 -m venv --without-pip $HOME/bare")
        choice = remote.find_python(conn, bare.replace("$HOME", "~"))
        assert choice.state == "missing" and choice.path.endswith("/bare/bin/python3")
    finally:
        conn.close()


@pytest.mark.skipif(not os.environ.get("SPHERON_TEST_NETWORK"),
                    reason="installs ipykernel from PyPI; set SPHERON_TEST_NETWORK=1 to run")
def test_ipykernel_is_installed_into_the_python_you_name_with_progress(box):
    shell, _ = box
    view = shell.context.session.resolve("kbox")
    from spheron_jupyter.notebook.commands.kernel import _target
    from tests.support.emulator_ssh import connect_when_ready

    conn = connect_when_ready(_target(view))
    try:
        from spheron_jupyter.kernel import remote

        remote.capture(conn, "python3 -m venv $HOME/chosen", timeout=300)
    finally:
        conn.close()
    installed = shell.ok("%spheron kernel kbox --python ~/chosen/bin/python3")
    assert "Installing ipykernel into" in installed.text and "Spheron: kbox (GPU)" in installed.text
    km, kc = start()
    try:
        assert run(kc, "import sys; print(sys.prefix)")[1].strip().endswith("chosen")
    finally:
        stop(km, kc)


def test_when_the_jupyter_process_dies_the_launcher_detaches_the_kernel_for_a_grace_period(
        box, tmp_path, monkeypatch):
    """A Jupyter server killed outright (no shutdown_request), as a frontend that runs the argv
    alone sees it: its launcher, reparented, closes its tunnels and exits, leaving the kernel on
    the instance for a new server to reattach to (test_kernel_reattach.py); the instance stops
    it by itself when the grace period is over."""
    import sys

    from jupyter_client.connect import write_connection_file

    from spheron_jupyter.kernel import detached

    shell, instance_id = box
    monkeypatch.setenv(detached.GRACE_ENV, "3")
    root = instance_root(shell.emulator, instance_id)
    argv = json.loads((Path(os.environ["JUPYTER_DATA_DIR"]) / "kernels" / "spheron-kbox"
                       / "kernel.json").read_text())["argv"]
    connection_file, _ = write_connection_file(str(tmp_path / "kernel.json"))
    argv = [connection_file if a == "{connection_file}" else a for a in argv]
    # The stand-in for the Jupyter server: starts the launcher, prints its pid, then waits.
    server = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys, time; "
         "p = subprocess.Popen(sys.argv[1:], stderr=subprocess.DEVNULL); print(p.pid, flush=True); "
         "time.sleep(600)", *argv], stdout=subprocess.PIPE, text=True)
    launcher = int(server.stdout.readline())
    kernels = root / "root" / ".spheron" / "kernels"
    wait_for(lambda: list(kernels.glob("*/ready")), timeout=60, what="the remote kernel")
    remote_pid = int(next(kernels.glob("*/pid")).read_text())
    server.kill()
    server.wait()
    wait_for(lambda: process_gone(launcher), timeout=60, what="the launcher to exit")
    assert not process_gone(remote_pid) and list(kernels.glob("*/detached"))
    assert [r.pid for r in detached.pending(instance_id)] == [remote_pid]
    from spheron_jupyter.ssh.tunnel import TunnelAgentClient

    assert not [t for t in TunnelAgentClient().list() if (t.name or "").startswith("kernel:")]
    wait_for(lambda: process_gone(remote_pid), timeout=30, what="the instance to stop the kernel")
    wait_for(lambda: not list(kernels.glob("*")), timeout=30, what="its files removed")
    assert not _pids_matching(str(kernels).encode()), "the instance's timer outlived the kernel"


def test_a_reclaim_of_a_leased_instance_ends_its_kernel_while_nobody_lists(
        emulator_shell, tmp_path, monkeypatch):
    """The limits README states: the instance ends, so does its kernel. No cell lists: the
    lease's reaper sees the reclaim and removes the kernelspec, and the launcher, its SSH gone,
    exits, so Jupyter reports the kernel dead instead of a kernel reconnecting for ever."""
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter-data"))
    emulator_shell.ok("%%spheron launch --yes\ngpu: rtx-4090\nname: kspot\nlease: 1h\n")
    emulator_shell.ok("%spheron kernel kspot")
    instance_id = emulator_shell.context.session.resolve("kspot").id
    emulator = emulator_shell.emulator
    km, kc = start("spheron-kspot")
    try:
        assert run(kc, "print('up')")[:2] == ("ok", "up\n")
        httpx.post(f"{emulator.url}/_emulator/instances/{instance_id}/reclaim",
                   headers={"Authorization": f"Bearer {emulator.api_key}"}).raise_for_status()
        wait_for(lambda: not km.is_alive(), timeout=60, what="the kernel reported dead")
        assert "spheron-kspot" not in KernelSpecManager().find_kernel_specs()
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
