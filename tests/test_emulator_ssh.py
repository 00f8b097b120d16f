"""Emulated instances are real SSH endpoints, end to end through the emulator process.

Everything goes through the REST API a client uses (create with an inline key and cloud-init,
poll until running, attach, terminate) and through SSH with the host key pinned by cloud-init
before the first connection: never trust on first use here.
"""

from __future__ import annotations

import time

import paramiko
import pytest

from tests.support.emulator_ssh import (Api, EchoServer, connect, make_key,
                                             pinned_host_key_cloud_init, port_refuses,
                                             public_line, run, wait_for)


@pytest.fixture
def keys(tmp_path):
    client_key, _ = make_key(tmp_path, "client")
    host_key, host_key_path = make_key(tmp_path, "pinned_host")
    return {"client": client_key, "host": host_key, "host_path": host_key_path}


def launch(api: Api, keys, *, provider="data-crunch", name="ssh-test", **cloud_init) -> dict:
    cloud = pinned_host_key_cloud_init(keys["host_path"], **cloud_init)
    created = api.create(api.offer(provider), name,
                         {"ssh_public_key": public_line(keys["client"])}, cloud)
    assert created["status"] == "deploying" and created["ipAddress"] == "127.0.0.1"
    return api.wait_running(created["id"])


def test_an_instance_runs_commands_logs_startup_mounts_volumes_and_forwards(emulator, keys):
    api = Api(emulator)
    instance = launch(api, keys, runcmd=["echo training data ready", "mkdir -p ~/from-runcmd"])
    assert instance["user"] == "ubuntu"
    port = instance["sshPort"]
    with connect(port, "ubuntu", keys["client"], keys["host"]) as client:
        status, out, err = run(client, 'pwd; echo "$HOME"; echo to-stderr >&2; exit 7')
        cwd, home = out.split()
        assert (status, err) == (7, "to-stderr\n") and cwd == home
        assert home.endswith(f"/instances/{instance['id']}/root/home/ubuntu")

        log = wait_for(lambda: (lambda text: "finished at" in text and text)(
            run(client, 'cat "${SPHERON_STARTUP_LOG:-/var/log/cloud-init-output.log}"')[1]),
            what="cloud-init to finish")
        assert "training data ready" in log and "running 'modules:final'" in log

        volume = api.call("POST", "/api/volumes", json={
            "provider": "data-crunch", "region": instance["region"], "sizeInGb": 10,
            "name": "datasets"})
        api.call("POST", f"/api/volumes/{volume['id']}/attach",
                 json={"deploymentId": instance["id"]})
        assert run(client, "echo kept > ~/volumes/datasets/notes.txt && "
                           'ls "$SPHERON_INSTANCE_ROOT/mnt/datasets"')[1] == "notes.txt\n"
        api.call("POST", f"/api/volumes/{volume['id']}/detach",
                 json={"deploymentId": instance["id"]})
        assert run(client, "test -e ~/volumes/datasets")[0] == 1
        api.call("POST", f"/api/volumes/{volume['id']}/attach",
                 json={"deploymentId": instance["id"]})
        assert run(client, "cat ~/volumes/datasets/notes.txt")[1] == "kept\n"

        echo = EchoServer()
        try:
            channel = client.get_transport().open_channel(
                "direct-tcpip", ("127.0.0.1", echo.port), ("127.0.0.1", 0))
            channel.sendall(b"hello through ssh")
            assert wait_for(lambda: channel.recv(100), what="the echo") == b"hello through ssh"
            channel.close()
        finally:
            echo.close()

        api.terminate(instance["id"])
        assert port_refuses(port)
        wait_for(lambda: not client.get_transport().is_active(), what="the connection to end")


def test_the_drop_ssh_fault_cuts_connections_and_the_instance_stays_reachable(emulator, keys):
    api = Api(emulator)
    instance = launch(api, keys)
    client = connect(instance["sshPort"], "ubuntu", keys["client"], keys["host"])
    try:
        api.call("POST", f"/_emulator/instances/{instance['id']}/drop-ssh")
        wait_for(lambda: not client.get_transport().is_active(), timeout=30, what="the drop")
    finally:
        client.close()
    with connect(instance["sshPort"], "ubuntu", keys["client"], keys["host"]) as again:
        assert run(again, "echo still here")[1] == "still here\n"


def test_a_registered_team_key_logs_in_and_reclaim_stops_the_server(emulator, keys):
    api = Api(emulator)
    key = api.call("POST", "/api/ssh-keys", json={"name": "laptop",
                                                  "publicKey": public_line(keys["client"])})
    cloud = pinned_host_key_cloud_init(keys["host_path"])
    created = api.create(api.offer("spheron-ai"), "root-login",
                         {"sshKeyId": key.get("id") or key["data"]["id"]}, cloud)
    instance = api.wait_running(created["id"])
    assert instance["user"] == "root"
    with connect(instance["sshPort"], "root", keys["client"], keys["host"]) as client:
        assert run(client, "whoami >/dev/null; echo $HOME")[1].strip().endswith("/root/root")
        api.call("POST", f"/_emulator/instances/{instance['id']}/reclaim")
        assert port_refuses(instance["sshPort"])


def test_an_emulator_restart_brings_instances_back_with_the_same_host_key(emulator_factory,
                                                                          keys):
    first = emulator_factory()
    instance = launch(Api(first), keys, runcmd=["echo ran once"])
    with connect(instance["sshPort"], "ubuntu", keys["client"], keys["host"]) as client:
        wait_for(lambda: run(client, "cloud-init status")[1] == "status: done\n",
                 what="cloud-init to finish")
    first.stop()
    assert port_refuses(instance["sshPort"])

    second = emulator_factory(state_dir=first.state_dir)
    again = Api(second).wait_running(instance["id"])
    started = time.monotonic()
    with connect(again["sshPort"], "ubuntu", keys["client"], keys["host"]) as client:
        log = run(client, 'cat "$SPHERON_STARTUP_LOG"')[1]
    assert log.count("ran once\n") == 1  # runcmd runs once per instance, not once per boot
    assert time.monotonic() - started < 10


def test_no_unauthorised_key_gets_in(emulator, keys, tmp_path):
    api = Api(emulator)
    instance = launch(api, keys)
    stranger, _ = make_key(tmp_path, "stranger")
    with pytest.raises(paramiko.AuthenticationException):
        connect(instance["sshPort"], "ubuntu", stranger, keys["host"])
