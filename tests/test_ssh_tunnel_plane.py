"""Which data plane the tunnel agent picks: OpenSSH when an `ssh` client is installed, else
paramiko, so tunnels work with `pip install` alone (a real agent process, a real sshd)."""

from __future__ import annotations

import os
import shutil

import pytest

from spheron_jupyter.ssh.tunnel import TunnelAgentClient
from spheron_jupyter.ssh.tunnel_agent import PLANE_ENV
from tests.support.tunnels import EchoServer, agent_gone, echo_once, listener_addresses

pytestmark = pytest.mark.slow


def _open_and_check(sshd, expected_plane: str) -> None:
    server = EchoServer()
    client = TunnelAgentClient()
    try:
        info = client.open(sshd.target(pin=True), server.port)
        assert info.plane == expected_plane
        assert listener_addresses(info.local_port) == ["127.0.0.1"]
        assert echo_once(info.local_port, b"which plane?") == b"which plane?"
        pid = client.ping()
        client.close(info.id)
        assert agent_gone(pid, timeout=15)
    finally:
        server.stop()


def test_without_an_ssh_client_the_agent_carries_bytes_with_paramiko(sshd, monkeypatch, tmp_path):
    monkeypatch.delenv(PLANE_ENV, raising=False)
    empty = tmp_path / "bin-without-ssh"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # the agent inherits this environment
    assert shutil.which("ssh") is None
    _open_and_check(sshd, "paramiko")


def test_with_an_ssh_client_openssh_is_the_default(sshd, monkeypatch):
    monkeypatch.delenv(PLANE_ENV, raising=False)
    if shutil.which("ssh") is None:
        pytest.skip("no OpenSSH client installed")
    assert os.environ.get(PLANE_ENV) is None
    _open_and_check(sshd, "openssh")
