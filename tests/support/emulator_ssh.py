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

import paramiko

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
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ", 1)[1].startswith("Z")  # a zombie has ended
    except FileNotFoundError:
        return True


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
