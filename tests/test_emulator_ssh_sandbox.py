"""The SSH sandbox runtime in-process: what one emulated instance offers over SSH.

These drive ``SandboxRuntime`` directly, as the REST app does, so each case takes well under a
second; test_emulator_ssh.py covers the same paths end to end through the emulator process.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import paramiko
import pytest

from spheron_jupyter.emulator.sandbox import create_runtime
from spheron_jupyter.emulator.sandbox_keys import load_host_key
from tests.support.emulator_ssh import (EchoServer, connect, free_port, make_key,
                                        pinned_host_key_cloud_init, port_refuses, process_gone,
                                        public_line, run, run_pty,
                                        send_signal, wait_for)
from tests.support.emulator_ssh import launch_sandbox as launch
from tests.support.tunnels import listener_addresses


def finished_log(runtime, instance) -> str:
    log = runtime._live[instance["id"]].sandbox.startup_log
    return wait_for(lambda: "finished at" in (log.read_text() if log.exists() else "")
                    and log.read_text(), what="cloud-init to finish")


def test_exec_runs_for_real_in_the_instance_home(runtime, keys, state_dir):
    instance = launch(runtime, keys)
    assert instance["ipAddress"] == "127.0.0.1" and instance["user"] == "ubuntu"
    # The instance's SSH server listens on loopback only, as the kernel's table shows.
    assert listener_addresses(instance["sshPort"]) == ["127.0.0.1"]
    with connect(instance["sshPort"], "ubuntu", keys["client"], keys["host"]) as client:
        status, out, err = run(client, 'pwd; echo "$HOME"; python3 -c "print(6*7)"; '
                                       'echo oops >&2; exit 3')
    home = str(state_dir / "instances" / "dep_a" / "root" / "home" / "ubuntu")
    assert (status, out.split(), err) == (3, [home, home, "42"], "oops\n")


def test_root_providers_log_in_as_root_in_slash_root(runtime, keys, state_dir):
    instance = launch(runtime, keys, provider="spheron-ai")
    assert instance["user"] == "root"
    with connect(instance["sshPort"], "root", keys["client"], keys["host"]) as client:
        assert run(client, "pwd")[1].strip() == str(state_dir / "instances/dep_a/root/root")


def test_only_the_authorised_key_and_login_user_get_in(runtime, keys, tmp_path):
    instance = launch(runtime, keys)
    stranger, _ = make_key(tmp_path, "stranger")
    with pytest.raises(paramiko.AuthenticationException):
        connect(instance["sshPort"], "ubuntu", stranger, keys["host"])
    with pytest.raises(paramiko.AuthenticationException):
        connect(instance["sshPort"], "root", keys["client"], keys["host"])


def test_the_provisional_host_key_is_never_presented_once_cloud_init_pinned_one(runtime, keys,
                                                                              state_dir):
    instance = launch(runtime, keys)
    provisional = state_dir / "instances/dep_a/root/etc/ssh/ssh_host_ed25519_key.pub"
    assert provisional.exists()  # generated at provision, then replaced by cloud-init's key
    wrong = load_host_key(state_dir / "instances/dep_a/root/etc/ssh/ssh_host_ed25519_key")
    assert wrong.asbytes() == keys["host"].asbytes()
    other, _ = make_key(state_dir.parent, "other")
    with pytest.raises(paramiko.BadHostKeyException):
        connect(instance["sshPort"], "ubuntu", keys["client"], other)


def test_runcmd_output_lands_in_the_startup_log_the_environment_names(runtime, keys):
    instance = launch(runtime, keys, packages=["htop"],
                      runcmd=["echo hello from runcmd", ["printf", "%s\\n", "a list item"],
                              "systemctl restart nginx", "sudo apt-get install -y nginx",
                              "false"])
    log = finished_log(runtime, instance)
    assert "running 'modules:final'" in log
    assert "would install packages: htop" in log
    assert "would run apt-get install -y nginx" in log  # the host's packages stay untouched
    assert "hello from runcmd\na list item\n" in log
    assert "restart nginx.service" not in log and "restart nginx: no init system" in log
    assert "Failed to run module scripts-user" in log  # `false` fails the script, as on Ubuntu
    with connect(instance["sshPort"], "ubuntu", keys["client"], keys["host"]) as client:
        status, out, _ = run(client, 'cat "${SPHERON_STARTUP_LOG:-/var/log/cloud-init-output.log}";'
                                     ' cloud-init status --wait')
    assert "hello from runcmd" in out and out.rstrip().endswith("status: error")
    assert status == 1


def test_systemctl_restart_ssh_presents_a_key_written_later(runtime, keys, tmp_path):
    later_key, later_path = make_key(tmp_path, "later")
    deferred = {"path": "/etc/ssh/ssh_host_ed25519_key", "permissions": "0600", "defer": True,
                "content": later_path.read_text()}
    instance = launch(runtime, keys, runcmd=["service ssh restart", "echo restarted"])
    runtime.stop(instance)
    instance = launch(runtime, keys, instance_id="dep_b", runcmd=["service ssh restart"])
    instance["cloudInit"]["writeFiles"].append(deferred)
    runtime.stop(instance)
    # Deferred files are written in the final stage; sshd only picks them up on restart.
    spec = {"writeFiles": [deferred], "runcmd": ["sudo systemctl restart sshd.service"]}
    instance = {"id": "dep_c", "providerId": "voltage-park", "cloudInit": spec,
                "sshPublicKey": public_line(keys["client"])}
    ip, port, user = runtime.provision(instance)
    instance.update(sshPort=port, user=user)
    runtime.boot(instance)
    log = finished_log(runtime, instance)
    assert "timed out" not in log
    with connect(port, user, keys["client"], later_key) as client:
        assert run(client, "echo ok")[1] == "ok\n"


def test_output_streams_as_it_comes_and_stdin_reaches_the_command(runtime, keys):
    instance = launch(runtime, keys)
    with connect(instance["sshPort"], "ubuntu", keys["client"], keys["host"]) as client:
        started = time.monotonic()
        _, stdout, _ = client.exec_command("echo first; sleep 9; echo second")
        assert stdout.readline() == "first\n"
        # Not held back until the command ends (9 s): room for a loaded CI machine's exec.
        assert time.monotonic() - started < 7.5
        assert stdout.readline() == "second\n"

        stdin, stdout, _ = client.exec_command("wc -c")
        stdin.write(b"x" * 300_000)
        stdin.channel.shutdown_write()  # EOF for the command
        assert stdout.read().strip() == b"300000"
        assert stdout.channel.recv_exit_status() == 0


def test_session_channels_opened_ahead_stay_open_until_used(runtime, keys):
    """Clients open a channel, then send exec later; meanwhile others may be opened."""
    instance = launch(runtime, keys)
    with connect(instance["sshPort"], "ubuntu", keys["client"], keys["host"]) as client:
        transport = client.get_transport()
        channels = [transport.open_session() for _ in range(4)]
        time.sleep(1.2)  # let the server's accept loop move past every one of them
        for number, channel in enumerate(channels):
            channel.exec_command(f"echo {number}")
        assert [channel.makefile().read() for channel in channels] == [b"0\n", b"1\n",
                                                                         b"2\n", b"3\n"]


def test_env_requests_are_filtered_and_instance_variables_kept(runtime, keys):
    instance = launch(runtime, keys)
    env = {"JUPYTER_TOKEN": "t0ken", "LANG": "en_US.UTF-8", "FOO": "no",
           "SPHERON_STARTUP_LOG": "/elsewhere"}
    with connect(instance["sshPort"], "ubuntu", keys["client"], keys["host"]) as client:
        out = run(client, 'echo "$JUPYTER_TOKEN|$LANG|${FOO:-unset}|$SPHERON_STARTUP_LOG"',
                  environment=env)[1]
    token, lang, foo, log = out.strip().split("|")
    assert (token, lang, foo) == ("t0ken", "en_US.UTF-8", "unset")
    assert log.endswith("/root/var/log/cloud-init-output.log")


def test_closing_the_channel_hangs_up_the_command(runtime, keys):
    instance = launch(runtime, keys)
    with connect(instance["sshPort"], "ubuntu", keys["client"], keys["host"]) as client:
        _, stdout, _ = client.exec_command("echo $$; exec sleep 60")
        pid = int(stdout.readline())
        stdout.channel.close()
        wait_for(lambda: process_gone(pid), timeout=30, what="the command to end")


def test_a_signal_request_reaches_the_process_group(runtime, keys):
    instance = launch(runtime, keys)
    with connect(instance["sshPort"], "ubuntu", keys["client"], keys["host"]) as client:
        _, stdout, _ = client.exec_command("echo started; sleep 60")
        assert stdout.readline() == "started\n"
        send_signal(stdout.channel, "TERM")
        assert stdout.channel.recv_exit_status() == 128 + signal.SIGTERM


def test_a_pty_session_has_a_terminal_and_ctrl_c_interrupts(runtime, keys):
    instance = launch(runtime, keys)
    with connect(instance["sshPort"], "ubuntu", keys["client"], keys["host"]) as client:
        assert run_pty(client, "tty")[1].startswith("/dev/pts/")
        channel = client.get_transport().open_session()
        channel.get_pty()
        channel.exec_command("echo ready; sleep 60")
        wait_for(lambda: b"ready" in channel.recv(1024), what="the command to start")
        channel.send(b"\x03")
        assert channel.recv_exit_status() == 128 + signal.SIGINT


def test_direct_tcpip_reaches_loopback_only(runtime, keys):
    instance = launch(runtime, keys)
    echo = EchoServer()
    try:
        with connect(instance["sshPort"], "ubuntu", keys["client"], keys["host"]) as client:
            transport = client.get_transport()
            channel = transport.open_channel("direct-tcpip", ("localhost", echo.port),
                                             ("127.0.0.1", 0))
            channel.sendall(b"ping through the tunnel")
            channel.shutdown_write()
            received = b""
            while chunk := channel.recv(1024):
                received += chunk
            assert received == b"ping through the tunnel"  # and the half-close came back
            for destination, reason in ((("10.1.2.3", 22), 1), (("127.0.0.1", free_port()), 2)):
                with pytest.raises(paramiko.ChannelException) as refused:
                    transport.open_channel("direct-tcpip", destination, ("127.0.0.1", 0))
                assert refused.value.code == reason  # 1 prohibited, 2 connect failed
    finally:
        echo.close()


def test_drop_connections_cuts_clients_but_keeps_listening(runtime, keys):
    instance = launch(runtime, keys)
    client = connect(instance["sshPort"], "ubuntu", keys["client"], keys["host"])
    runtime.drop_connections(instance)
    wait_for(lambda: not client.get_transport().is_active(), timeout=30, what="the drop")
    client.close()
    with connect(instance["sshPort"], "ubuntu", keys["client"], keys["host"]) as again:
        assert run(again, "echo back")[1] == "back\n"


def test_stop_refuses_connections_and_kills_even_detached_processes(runtime, keys):
    instance = launch(runtime, keys)
    with connect(instance["sshPort"], "ubuntu", keys["client"], keys["host"]) as client:
        out = run(client, "setsid nohup sleep 300 >/dev/null 2>&1 & echo $!")[1]
    daemon = int(out)
    assert not process_gone(daemon)
    runtime.stop(instance)
    assert port_refuses(instance["sshPort"])
    # Power-off returns once no process of the instance is left, so no waiting here; if one
    # survived, say what it was (a CI run once saw this daemon outlive the stop).
    assert process_gone(daemon), _describe(daemon)


def test_stop_also_kills_what_a_daemon_forks_while_the_instance_powers_off(runtime, keys):
    """A detached loop keeps starting detached sleeps; after stop not one of them is left.

    One scan of the process table misses what is forked after it (or is mid-exec while it
    runs); power-off scans until the table is clean.
    """
    instance = launch(runtime, keys)
    root = runtime._live[instance["id"]].sandbox.root
    with connect(instance["sshPort"], "ubuntu", keys["client"], keys["host"]) as client:
        run(client, "setsid sh -c 'for i in $(seq 400); do setsid sleep 300 & sleep 0.005; done'"
                    " >/dev/null 2>&1 </dev/null &")
    wait_for(lambda: len(_instance_processes(root)) > 20, what="the loop to start sleeps")
    runtime.stop(instance)
    left = [pid for pid in _instance_processes(root) if not process_gone(pid)]
    assert not left, [_describe(pid) for pid in left[:3]]


def _instance_processes(root: Path) -> list[int]:
    marker = f"\0SPHERON_INSTANCE_ROOT={root}\0".encode()
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker in b"\0" + (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _describe(pid: int) -> str:
    proc = Path(f"/proc/{pid}")
    try:
        stat = (proc / "stat").read_text().strip()
        marked = b"SPHERON_INSTANCE_ROOT=" in (proc / "environ").read_bytes()
    except OSError as error:
        return f"pid {pid} survived; /proc says {error}"
    return f"pid {pid} survived: stat {stat!r}, instance environment present: {marked}"


def test_volumes_appear_as_directories_and_keep_their_data(runtime, keys, state_dir):
    first = launch(runtime, keys, instance_id="dep_1")
    second = launch(runtime, keys, instance_id="dep_2")
    volume = {"id": "vol_1", "name": "datasets", "dataDir": str(state_dir / "volumes" / "vol_1")}
    runtime.attach(first, volume)
    runtime.attach(second, volume)
    with connect(first["sshPort"], "ubuntu", keys["client"], keys["host"]) as client:
        assert run(client, "echo shared > volumes/datasets/file; ls -d "
                           '"$SPHERON_INSTANCE_ROOT/mnt/datasets"')[0] == 0
    with connect(second["sshPort"], "ubuntu", keys["client"], keys["host"]) as client:
        assert run(client, "cat ~/volumes/datasets/file")[1] == "shared\n"
        runtime.detach(second, volume)
        assert run(client, "ls ~/volumes/datasets")[0] != 0
    runtime.attach(second, volume)
    assert (state_dir / "instances/dep_2/root/home/ubuntu/volumes/datasets/file").read_text() \
        == "shared\n"


def test_a_restarted_runtime_resumes_on_the_same_port_with_the_same_key(state_dir, keys):
    first = create_runtime(state_dir)
    instance = launch(first, keys, runcmd=["echo once"])
    finished_log(first, instance)
    first.close()
    assert port_refuses(instance["sshPort"])
    second = create_runtime(state_dir)
    try:
        second.resume(instance)
        with connect(instance["sshPort"], "ubuntu", keys["client"], keys["host"]) as client:
            log = run(client, 'cat "$SPHERON_STARTUP_LOG"')[1]
        assert log.count("echo once") == 0 and log.count("once\n") == 1  # runcmd ran only once
    finally:
        second.close()


def test_a_client_that_never_speaks_blocks_nobody(runtime, keys):
    instance = launch(runtime, keys)
    silent = socket.create_connection(("127.0.0.1", instance["sshPort"]))
    try:
        started = time.monotonic()
        runtime.drop_connections(instance)
        runtime.stop(instance)
        assert time.monotonic() - started < 2
    finally:
        silent.close()


def test_the_emulator_never_writes_outside_the_instance_root(runtime, keys, state_dir):
    escape = {"path": "/../../../escaped.txt", "content": "nope"}
    instance = {"id": "dep_x", "providerId": "voltage-park",
                "sshPublicKey": public_line(keys["client"]),
                "cloudInit": {"writeFiles": [escape, {"path": "/etc/motd", "content": "hi"}]}}
    _ip, port, user = runtime.provision(instance)
    runtime.boot({**instance, "sshPort": port, "user": user})
    log = finished_log(runtime, instance)
    assert "leaves the instance root" in log
    assert not (state_dir.parent / "escaped.txt").exists() and not os.path.exists("/escaped.txt")
    assert (state_dir / "instances/dep_x/root/etc/motd").read_text() == "hi"


def test_resume_moves_to_a_new_port_when_the_old_one_is_taken(state_dir, keys):
    first = create_runtime(state_dir)
    instance = launch(first, keys)
    first.close()
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", instance["sshPort"]))
    squatter.listen(1)
    second = create_runtime(state_dir)
    try:
        ip, port, user = second.resume(instance)
        assert (ip, user) == ("127.0.0.1", "ubuntu") and port != instance["sshPort"]
        with connect(port, "ubuntu", keys["client"], keys["host"]) as client:
            assert run(client, "echo moved")[1] == "moved\n"
    finally:
        squatter.close()
        second.close()


@pytest.mark.slow
def test_the_venv_jupyter_serves_through_a_forward_with_its_token(runtime, keys):
    """The remote-services path in miniature: started the way a real instance would start it."""
    instance = launch(runtime, keys)
    port = free_port()
    with connect(instance["sshPort"], "ubuntu", keys["client"], keys["host"]) as client:
        started = run(client, f"nohup jupyter server --no-browser --ip=127.0.0.1 --port={port} "
                              "> ~/jupyter.log 2>&1 &", environment={"JUPYTER_TOKEN": "tok3n"})
        assert started[0] == 0

        def status_line(query: str) -> bytes | None:
            try:
                channel = client.get_transport().open_channel(
                    "direct-tcpip", ("127.0.0.1", port), ("127.0.0.1", 0))
            except paramiko.ChannelException:
                return None  # not listening yet
            channel.sendall(f"GET /api/status{query} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                            "Connection: close\r\n\r\n".encode())
            response = b""
            while chunk := channel.recv(65536):
                response += chunk
            return response.split(b"\r\n", 1)[0]

        assert wait_for(lambda: status_line("?token=tok3n"), timeout=60, interval=0.3,
                        what="jupyter to listen") == b"HTTP/1.1 200 OK"
        assert status_line("") == b"HTTP/1.1 403 Forbidden"


def test_a_broken_host_key_from_cloud_init_keeps_the_instance_reachable(runtime, keys, state_dir):
    instance = {"id": "dep_k", "providerId": "voltage-park",
                "sshPublicKey": public_line(keys["client"]),
                "cloudInit": {"writeFiles": [{"path": "/etc/ssh/ssh_host_ed25519_key",
                                              "content": "not a key"}]}}
    _ip, port, user = runtime.provision(instance)
    provisional = load_host_key(state_dir / "instances/dep_k/root/etc/ssh/ssh_host_ed25519_key")
    runtime.boot({**instance, "sshPort": port, "user": user})
    assert "keeps its previous host key" in finished_log(runtime, instance)
    with connect(port, user, keys["client"], provisional) as client:
        assert run(client, "echo reachable")[1] == "reachable\n"


def test_boot_before_provision_still_yields_one_working_endpoint(runtime, keys):
    """With a zero boot time the ticker can boot an instance before its create provisions it."""
    instance = {"id": "dep_r", "providerId": "voltage-park", "status": "running",
                "sshPublicKey": public_line(keys["client"]),
                "cloudInit": pinned_host_key_cloud_init(keys["host_path"])}
    runtime.boot(instance)
    _ip, port, user = runtime.provision(instance)
    with connect(port, user, keys["client"], keys["host"]) as client:
        assert run(client, "echo one endpoint")[1] == "one endpoint\n"


def test_a_boot_that_arrives_after_stop_does_not_revive_the_instance(runtime, keys):
    instance = {"id": "dep_s", "providerId": "voltage-park", "status": "running",
                "sshPublicKey": public_line(keys["client"]), "cloudInit": None}
    _ip, port, _user = runtime.provision(instance)
    runtime.stop(instance)
    runtime.boot({**instance, "sshPort": port})
    assert port_refuses(port) and "dep_s" not in runtime._live
