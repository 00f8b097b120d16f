"""Helpers shared by the emulator SSH tests: keys, strict clients, waiting. (No tests here.)

Host keys are always verified against the key the test expects (RejectPolicy plus that one
key): a client that would accept an unknown key could not catch a wrong one.
"""

from __future__ import annotations

import base64
import socket
import threading
import time
from pathlib import Path

import httpx
import paramiko

from spheron_jupyter.config.processes import pid_alive
from spheron_jupyter.emulator.sandbox_keys import ensure_host_key, load_host_key


def make_key(directory: Path, name: str) -> tuple[paramiko.PKey, Path]:
    """A fresh ed25519 key pair on disk (OpenSSH format, as cloud-init expects it)."""
    path = directory / name
    ensure_host_key(path)
    return load_host_key(path), path


def public_line(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.get_base64()} test@spheron"


def pinned_host_key_cloud_init(host_key_path: Path, **extra) -> dict:
    """The cloud-init a client sends to pin its own host key before the first connection."""
    private = host_key_path.read_bytes()
    return {
        "writeFiles": [{"path": "/etc/ssh/ssh_host_ed25519_key", "permissions": "0600",
                        "encoding": "b64", "content": base64.b64encode(private).decode()}],
        "runcmd": ["systemctl restart ssh", *extra.pop("runcmd", [])],
        **extra,
    }


def connect(port: int, user: str, client_key: paramiko.PKey, expected_host_key: paramiko.PKey,
            *, timeout: float = 20) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.get_host_keys().add(f"[127.0.0.1]:{port}", expected_host_key.get_name(),
                               expected_host_key)
    client.connect("127.0.0.1", port, username=user, pkey=client_key, look_for_keys=False,
                   allow_agent=False, timeout=timeout, banner_timeout=timeout,
                   auth_timeout=timeout)
    return client


def run(client: paramiko.SSHClient, command: str, *, timeout: float = 30,
        environment: dict | None = None) -> tuple[int, str, str]:
    _stdin, stdout, stderr = client.exec_command(command, timeout=timeout,
                                                 environment=environment)
    out, err = stdout.read().decode(), stderr.read().decode()
    return stdout.channel.recv_exit_status(), out, err


def run_pty(client, command):
    _stdin, stdout, _ = client.exec_command(command, get_pty=True, timeout=20)
    out = stdout.read().decode()
    return stdout.channel.recv_exit_status(), out


def send_signal(channel: paramiko.Channel, name: str) -> None:
    """RFC 4254 6.9; paramiko has no client call for it (OpenSSH's sshd honours it)."""
    message = paramiko.Message()
    message.add_byte(paramiko.common.cMSG_CHANNEL_REQUEST)
    message.add_int(channel.remote_chanid)
    message.add_string("signal")
    message.add_boolean(False)
    message.add_string(name)
    channel.transport._send_user_message(message)


def wait_for(predicate, *, timeout: float = 30, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def port_refuses(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


def process_gone(pid: int) -> bool:
    return not pid_alive(pid)  # a zombie has ended


class EchoServer:
    """A TCP echo server on 127.0.0.1: the thing a forwarded port reaches on the instance."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)

    def close(self) -> None:
        self.sock.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Api:
    """The few REST calls these tests make, with the emulator's key."""

    def __init__(self, emulator) -> None:
        self.http = httpx.Client(base_url=emulator.url, timeout=30,
                                 headers={"Authorization": f"Bearer {emulator.api_key}"})

    def call(self, method: str, path: str, **kwargs) -> dict:
        response = self.http.request(method, path, **kwargs)
        assert response.status_code < 300, response.text
        return response.json() if response.content else {}

    def team_id(self) -> str:
        teams = self.call("GET", "/api/balance")["teams"]
        return next(team["teamId"] for team in teams if team["isCurrentTeam"])

    def offer(self, provider: str) -> dict:
        """A dedicated (never reclaimed) offer with cloud-init, in a region with volumes."""
        groups = self.call("GET", "/api/gpu-offers", params={"limit": 200})["data"]
        offers = [offer for group in groups for offer in group["offers"]
                  if offer["provider"] == provider and offer["supportsCloudInit"]
                  and offer["available"] and not offer["maintenance"]
                  and offer["instanceType"] == "DEDICATED"]
        return min(offers, key=lambda offer: offer["price"])

    def create(self, offer: dict, name: str, login: dict, cloud_init: dict | None) -> dict:
        body = {"provider": offer["provider"], "offerId": offer["offerId"],
                "gpuType": offer["gpuType"], "gpuCount": offer["gpuCount"],
                "region": offer["clusters"][0], "operatingSystem": offer["os_options"][0],
                "instanceType": offer["instanceType"], "teamId": self.team_id(), "name": name,
                **login}
        if cloud_init is not None:
            body["cloudInit"] = cloud_init
        return self.call("POST", "/api/deployments", json=body)

    def wait_running(self, instance_id: str) -> dict:
        return wait_for(lambda: (lambda d: d if d["status"] == "running" else None)(
            self.call("GET", f"/api/deployments/{instance_id}")), what="status running")

    def terminate(self, instance_id: str) -> None:
        wait_for(lambda: self.call("GET", f"/api/deployments/{instance_id}/can-terminate")
                 ["canTerminate"], timeout=30, interval=0.2, what="the minimum runtime")
        self.call("DELETE", f"/api/deployments/{instance_id}")


def connect_when_ready(target, seconds=20.0):
    """``Connection.open(target)`` (the ssh/ layer), retried until the instance's sshd answers."""
    from spheron_jupyter.ssh.connection import Connection

    deadline = time.monotonic() + seconds
    while True:
        try:
            return Connection.open(target)
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def launch_sandbox(runtime, keys, *, instance_id: str = "dep_a", provider: str = "voltage-park",
                   **cloud_init) -> dict:
    """provision + boot on a ``SandboxRuntime``, as the REST app would; returns the instance
    dict with its endpoint (fixtures: tests/fixtures/sandbox_runtime.py)."""
    instance = {"id": instance_id, "providerId": provider, "status": "deploying",
                "sshPublicKey": public_line(keys["client"]),
                "cloudInit": pinned_host_key_cloud_init(keys["host_path"], **cloud_init)}
    ip, port, user = runtime.provision(instance)
    instance.update(ipAddress=ip, sshPort=port, user=user, status="running")
    runtime.boot(instance)
    return instance
