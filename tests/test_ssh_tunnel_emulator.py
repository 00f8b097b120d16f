"""Tunnels and remote Jupyter against the emulator's instances (pure-Python SSH servers).

The same agent and the same services code as against OpenSSH: the emulator's instances must be
reachable through both data planes without special cases.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import httpx
import pytest

from spheron_jupyter.ssh.services import start_jupyter, stop_service
from spheron_jupyter.ssh.tunnel_agent import PLANE_ENV
from tests.support.emulator_ssh import connect_when_ready
from tests.support.tunnels import (
    EchoServer,
    echo_once,
    listener_addresses,
    process_args_of_all,
)

pytestmark = pytest.mark.slow  # `agent`: tests/fixtures/tunnel_agent.py


def test_tunnel_to_an_emulator_instance(instance, agent):
    connect_when_ready(instance).close()
    server = EchoServer()
    try:
        info = agent.open(instance, server.port)
        assert info.plane == os.environ[PLANE_ENV] and info.state == "up"
        assert listener_addresses(info.local_port) == ["127.0.0.1"]
        payload = b"through the emulator " * 5000
        assert echo_once(info.local_port, payload) == payload
        agent.close(info.id)
    finally:
        server.stop()


def test_jupyter_on_an_emulator_instance(instance, agent):
    conn = connect_when_ready(instance)
    try:
        info = start_jupyter(instance, connection=conn, client=agent,
                             extra_path=[str(Path(sys.executable).parent)])
        try:
            url = f"http://127.0.0.1:{info.local_port}/api/status"
            with_token = httpx.get(url, headers={"Authorization": f"token {info.token}"},
                                   timeout=30, trust_env=False)
            assert with_token.status_code == 200
            assert httpx.get(url, timeout=30, trust_env=False).status_code == 403
            # Jupyter on the instance binds its loopback only; our end listens on ours only.
            assert listener_addresses(info.remote_port) == ["127.0.0.1"]
            assert listener_addresses(info.local_port) == ["127.0.0.1"]
            assert info.token not in process_args_of_all()
            again = start_jupyter(instance, connection=conn, client=agent,
                                  extra_path=[str(Path(sys.executable).parent)])
            assert again.reused and again.tunnel_id == info.tunnel_id and again.pid == info.pid
        finally:
            stop_service(instance, "jupyter", connection=conn, client=agent)
    finally:
        conn.close()
