"""An emulated instance is an instance: its own Python, HOME, TMPDIR, PATH, files and signals.

Drives ``SandboxRuntime`` in-process (as test_emulator_ssh_sandbox.py does) over real SSH. The
"user's environment" is this test's own interpreter (the venv ``./dev`` made): after an
instance pip-installs a package, every way, its ``pip freeze`` is unchanged. A tiny wheel is
built here (a wheel is a zip with a dist-info), so nothing comes from the network.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from spheron_jupyter.emulator import sandbox_python
from spheron_jupyter.ssh.logs import LogReadError, LogSource, read_log
from tests.support.emulator_ssh import (connect, launch_sandbox, make_key, process_gone,
                                        public_line, run, wait_for)


def sandbox_of(runtime, instance):
    return runtime._live[instance["id"]].sandbox


def tiny_wheel(directory: Path, name: str) -> Path:
    """A pure-Python wheel of one module, ``name.VALUE == 'installed'``."""
    wheel = directory / f"{name}-0.1-py3-none-any.whl"
    info = f"{name}-0.1.dist-info"
    files = {f"{name}/__init__.py": "VALUE = 'installed'\n",
             f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n",
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                              "Tag: py3-none-any\n"}
    record = "".join(f"{path},,\n" for path in files) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in {**files, f"{info}/RECORD": record}.items():
            archive.writestr(path, text)
    return wheel


def user_freeze() -> str:
    return subprocess.run([sys.executable, "-m", "pip", "freeze", "--all"], check=True,
                          capture_output=True, text=True, timeout=120).stdout


def test_pip_install_on_an_instance_never_touches_the_users_environment(runtime, keys, tmp_path):
    wheels = [tiny_wheel(tmp_path, f"spheron_iso_{n}") for n in ("boot", "pip", "pip3", "m")]
    before = user_freeze()
    # The startup script (cloud-init runcmd, as root) installs the way the demo's does ...
    instance = launch_sandbox(runtime, keys, instance_id="iso", runcmd=[
        f"python3 -m pip install --no-index --disable-pip-version-check {wheels[0]}"])
    sandbox = sandbox_of(runtime, instance)
    log = sandbox.startup_log
    wait_for(lambda: log.exists() and "finished at" in log.read_text(), timeout=120,
             what="cloud-init to finish")
    assert "Successfully installed spheron_iso_boot" in log.read_text().replace("-", "_"), \
        log.read_text()
    # ... and a login user every other way.
    with connect(instance["sshPort"], "ubuntu", keys["client"], keys["host"]) as client:
        for command, wheel in (("pip", wheels[1]), ("pip3", wheels[2]),
                               ("python3 -m pip", wheels[3])):
            status, out, err = run(client, f"{command} install --no-index "
                                           f"--disable-pip-version-check {wheel}", timeout=120)
            assert status == 0, (command, out, err)
        status, out, err = run(client, "python3 -c 'import sys, spheron_iso_boot, spheron_iso_m; "
                                       "print(sys.prefix, spheron_iso_m.VALUE)'")
        assert status == 0, err
        # The instance's environment sees its packages and still the emulator's (prepared image).
        status, found, _ = run(client, "python3 -c 'import jupyterlab, tensorboard' && echo ok")
        assert found.strip() == "ok"
    prefix, value = out.split()
    assert Path(prefix) == sandbox.root / sandbox_python.PYTHON_DIR and value == "installed"
    assert user_freeze() == before
    for wheel in wheels:
        name = wheel.name.split("-")[0]
        assert subprocess.run([sys.executable, "-c", f"import {name}"],
                              capture_output=True).returncode != 0, name


def test_home_tmpdir_and_path_belong_to_the_instance(runtime, keys):
    instance = launch_sandbox(runtime, keys)
    root = sandbox_of(runtime, instance).root
    with connect(instance["sshPort"], "ubuntu", keys["client"], keys["host"]) as client:
        status, out, err = run(client, 'echo "$HOME"; echo "$TMPDIR"; echo "$PATH"; '
                                       "python3 -c 'import tempfile; print(tempfile.gettempdir())'; "
                                       "command -v python3 pip jupyter tensorboard")
    assert status == 0, err
    home, tmpdir, path, tempdir, *found = out.split()
    assert Path(home) == root / "home" / "ubuntu"
    assert Path(tmpdir) == Path(tempdir) == root / "tmp"
    for directory in sandbox_python.emulator_bin_dirs():
        assert directory not in path.split(":"), path
    assert len(found) == 4 and all(Path(p).is_relative_to(root) for p in found), found


def test_logs_file_reads_the_instances_own_files_and_refuses_the_rest(runtime, keys):
    instance = launch_sandbox(runtime, keys)
    root = sandbox_of(runtime, instance).root
    (root / "etc" / "motd").write_text("the instance's own motd\n")
    with connect(instance["sshPort"], "ubuntu", keys["client"], keys["host"]) as client:
        conn = client.get_transport()
        assert read_log(conn, LogSource.parse("file", "/etc/motd")) == ["the instance's own motd"]
        with pytest.raises(LogReadError) as missing:
            read_log(conn, LogSource.parse("file", "/etc/shadow"))
        assert f"no such file: {root}/etc/shadow" in str(missing.value)
        for escape in ("../../../../../../../../etc/passwd", "/../../../../../../etc/passwd",
                       "/tmp/../../../../../../../etc/passwd"):
            with pytest.raises(LogReadError) as refused:
                read_log(conn, LogSource.parse("file", escape))
            assert "outside this emulated instance" in str(refused.value), escape
        status, out, _ = run(client, "head -c 0 /etc/passwd && echo host-files-reachable")
    # Commands themselves still run on the host (docs/emulator-isolation.md says so): not a jail.
    assert out.strip() == "host-files-reachable"


def test_logs_file_refuses_a_symlink_out_of_the_instance_even_one_swapped_in_later(
        runtime, keys, tmp_path):
    """The instance's commands run on this machine, so a link in its root names the host's
    file: read through it, nothing of that file may come back, also when a followed log is
    replaced by such a link. A link that stays inside the root is read as usual."""
    import threading

    from spheron_jupyter.ssh.logs import LogReader

    host_file = tmp_path / "host-secret.txt"
    host_file.write_text("host-only-secret\n")
    instance = launch_sandbox(runtime, keys)
    root = sandbox_of(runtime, instance).root
    logs = root / "var" / "log"
    logs.mkdir(parents=True, exist_ok=True)
    (logs / "planted.log").symlink_to(host_file)
    (root / "etc" / "motd").write_text("the instance's own motd\n")
    (logs / "motd.log").symlink_to(root / "etc" / "motd")
    (logs / "app.log").write_text("first line\n")
    with connect(instance["sshPort"], "ubuntu", keys["client"], keys["host"]) as client:
        conn = client.get_transport()
        with pytest.raises(LogReadError) as refused:
            read_log(conn, LogSource.parse("file", "/var/log/planted.log"))
        assert "outside this emulated instance" in str(refused.value)
        assert read_log(conn, LogSource.parse("file", "/var/log/motd.log")) == [
            "the instance's own motd"]

        seen: list[str] = []
        ended: list[BaseException] = []
        stop = threading.Event()

        def follow() -> None:
            try:
                LogReader(conn, LogSource.parse("file", "/var/log/app.log"), follow=True,
                          poll_seconds=0.05).read(seen.extend, stop)
            except BaseException as exc:  # the test reads it below
                ended.append(exc)

        worker = threading.Thread(target=follow)
        worker.start()
        try:
            wait_for(lambda: seen == ["first line"], what="the followed log's first line")
            (logs / "app.log").unlink()
            (logs / "app.log").symlink_to(host_file)
            worker.join(30)
        finally:
            stop.set()
            worker.join(10)
    assert seen == ["first line"]
    assert len(ended) == 1 and isinstance(ended[0], LogReadError), ended
    assert "outside this emulated instance" in str(ended[0])


@pytest.fixture
def sighup_ignored():
    """The emulator runs under ``nohup`` (or a CI runner that ignores SIGHUP)."""
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGHUP, previous)


def _ignored_signals(client) -> int:
    status, out, _ = run(client, "sed -n 's/^SigIgn:\\s*//p' /proc/self/status")
    assert status == 0
    return int(out.strip(), 16)


def test_commands_start_with_default_signals_under_nohup(sighup_ignored, runtime, keys):
    assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN  # what children would inherit
    instance = launch_sandbox(runtime, keys)
    with connect(instance["sshPort"], "ubuntu", keys["client"], keys["host"]) as client:
        ignored = _ignored_signals(client)
        for signum in (signal.SIGHUP, signal.SIGINT, signal.SIGPIPE, signal.SIGTERM):
            assert not ignored & (1 << (signum - 1)), (signum, hex(ignored))
        # test_emulator_ssh_sandbox.py's hang-up case, under nohup: the command still ends.
        _, stdout, _ = client.exec_command("echo $$; exec sleep 60")
        pid = int(stdout.readline())
        stdout.channel.close()
        wait_for(lambda: process_gone(pid), timeout=30, what="the command to end on hang-up")


def test_an_emulator_process_started_under_nohup_hangs_up_commands(emulator_factory, tmp_path):
    """The whole emulator as a process that inherited an ignored SIGHUP, as `nohup` leaves it."""
    import httpx
    import paramiko

    from tests.fixtures.emulator import create_body, current_team_id, pick_offer, wait_for_status

    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:  # Popen keeps an ignored SIGHUP across exec, exactly as nohup's exec does
        emulator = emulator_factory()
    finally:
        signal.signal(signal.SIGHUP, previous)
    status = Path(f"/proc/{emulator.pid}/status").read_text().splitlines()
    ignored = int(next(line for line in status if line.startswith("SigIgn:")).split()[1], 16)
    assert ignored & (1 << (signal.SIGHUP - 1))  # the emulator really runs with SIGHUP ignored
    key, _ = make_key(tmp_path, "nohup-client")
    with httpx.Client(base_url=emulator.url, timeout=30,
                      headers={"Authorization": f"Bearer {emulator.api_key}"}) as api:
        offer = pick_offer(api, cloud_init=True)
        created = api.post("/api/deployments", json=create_body(
            offer, current_team_id(api), name="nohup", ssh_public_key=public_line(key)))
        assert created.status_code in (200, 201), created.text
        body = created.json()
        deployment_id = body.get("id") or body.get("deploymentId") or body["data"]["id"]
        instance = wait_for_status(api, deployment_id, "running", timeout=60)
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect(instance["ipAddress"], port=instance["sshPort"], username=instance["user"],
                   pkey=key, allow_agent=False, look_for_keys=False, timeout=30)
    try:
        assert not _ignored_signals(client) & (1 << (signal.SIGHUP - 1))
        _, stdout, _ = client.exec_command("echo $$; exec sleep 60")
        pid = int(stdout.readline())
        stdout.channel.close()
        wait_for(lambda: process_gone(pid), timeout=30, what="the command to end on hang-up")
    finally:
        client.close()


def test_the_logs_magic_reads_the_instances_etc_not_the_hosts(emulator_shell):
    shell = emulator_shell
    shell.ok("%%spheron launch --yes\ngpu: rtx-4090\nname: shadow-box\n")
    shell.ok("%spheron exec shadow-box -- sh -c 'mkdir -p \"$SPHERON_INSTANCE_ROOT/etc\" && "
             "echo instance-hosts-file > \"$SPHERON_INSTANCE_ROOT/etc/hosts\"'")
    assert "instance-hosts-file" in shell.ok("%spheron logs shadow-box --file /etc/hosts").stdout
    shadow = shell.run("%spheron logs shadow-box --file /etc/shadow")
    assert shadow.failed and "Traceback" not in shadow.text, shadow.text
    assert "no such file" in shadow.text and "/instances/" in shadow.text, shadow.text
    assert "root:" not in shadow.text  # nothing of the host's /etc/shadow
    climbed = shell.run("%spheron logs shadow-box --file ../../../../../../../../etc/shadow")
    assert climbed.failed and "outside this emulated instance" in climbed.text, climbed.text
