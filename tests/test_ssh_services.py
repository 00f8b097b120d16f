"""Remote services through a real sshd: a real Jupyter and TensorBoard started by services.py.

The sshd fixture runs on this machine, so "the instance" is this host logged into as the test
user; its files go to a scratch remote root, and the test venv's bin dir is put on the remote
PATH so the instance "has" jupyter and tensorboard.
"""

from __future__ import annotations

import logging
import os
import stat
import sys
from pathlib import Path

import httpx
import pytest

from spheron_jupyter.ssh.connection import Connection
from spheron_jupyter.ssh.services import (
    ServiceStartError,
    forward,
    start_jupyter,
    start_tensorboard,
    stop_service,
)
from spheron_jupyter.ssh.tunnel import TunnelAgentClient
from spheron_jupyter.ssh.tunnel_common import agent_log_path
from tests.support.tunnels import (
    close_agent,
    echo_once,
    EchoServer,
    listener_addresses,
    port_is_free,
    process_args_of_all,
)

pytestmark = pytest.mark.slow
VENV_BIN = str(Path(sys.executable).parent)


@pytest.fixture
def agent():
    client = TunnelAgentClient()
    yield client
    close_agent(client)  # unlike tests/fixtures/tunnel_agent.py: one plane, and no failure if it lingers


@pytest.fixture
def remote_root(tmp_path):
    return str(tmp_path / "instance-spheron")


@pytest.fixture
def connection(sshd):
    conn = Connection.open(sshd.target(pin=True))
    yield conn
    conn.close()


def _get(url: str, **kwargs) -> httpx.Response:
    return httpx.get(url, timeout=30, trust_env=False, **kwargs)


def test_jupyter_through_the_tunnel_needs_its_token_which_stays_secret(
    sshd, agent, connection, remote_root, caplog
):
    caplog.set_level(logging.DEBUG)
    target = sshd.target(pin=True)
    progress: list[str] = []
    info = start_jupyter(target, connection=connection, client=agent, extra_path=[VENV_BIN],
                         remote_root=remote_root, progress=progress.append)
    token = info.token
    try:
        assert token and len(token) >= 32 and not info.reused
        status = _get(f"http://127.0.0.1:{info.local_port}/api/status",
                      headers={"Authorization": f"token {token}"})
        assert status.status_code == 200 and "started" in status.json()
        assert _get(f"http://127.0.0.1:{info.local_port}/api/status").status_code == 403
        assert _get(f"http://127.0.0.1:{info.local_port}/api/status",
                    headers={"Authorization": "token wrong"}).status_code == 403
        assert info.url_with_token() == f"http://127.0.0.1:{info.local_port}/lab?token={token}"

        # Jupyter binds the instance's loopback only; the tunnel listens on ours only.
        assert listener_addresses(info.remote_port) == ["127.0.0.1"]
        assert listener_addresses(info.local_port) == ["127.0.0.1"]

        # The token is nowhere it should not be.
        assert token not in process_args_of_all()  # what `ps -eo args` shows
        assert token not in repr(info) and token not in str(info)
        assert not any(token in line for line in progress)
        assert not any(token in record.getMessage() for record in caplog.records)
        log_text = (Path(remote_root) / "logs" / "jupyter.log").read_text()
        assert token not in log_text and "127.0.0.1" in log_text
        state_file = Path(remote_root) / "services" / "jupyter.json"
        assert token not in state_file.read_text()
        env_file = Path(remote_root) / "services" / "jupyter.env"
        assert stat.S_IMODE(env_file.stat().st_mode) == 0o600

        # Asked again: the same server and the same tunnel.
        again = start_jupyter(target, connection=connection, client=agent,
                              extra_path=[VENV_BIN], remote_root=remote_root)
        assert again.reused
        assert (again.remote_port, again.pid, again.tunnel_id, again.local_port, again.token) == \
            (info.remote_port, info.pid, info.tunnel_id, info.local_port, token)
        assert [t.id for t in agent.list()] == [info.tunnel_id]
    finally:
        stop_service(target, "jupyter", connection=connection, client=agent,
                     remote_root=remote_root)
    assert agent.list() == []
    assert port_is_free(info.remote_port)
    # The tunnel agent's own log (every request, the ssh master's complaints) holds neither
    # the token nor the private key.
    agent_log = "".join(path.read_text(errors="replace") for path in
                        (agent_log_path(), agent_log_path().with_suffix(".log.1"))
                        if path.exists())
    assert "opened" in agent_log, "the agent log is empty: the check would prove nothing"
    key_lines = [line for line in sshd.client_key_path.read_text().splitlines()
                 if line and "PRIVATE KEY" not in line]
    assert token not in agent_log
    assert not any(line in agent_log for line in key_lines)


def test_tensorboard_for_a_logdir_is_tunnelled_and_reused(
    sshd, agent, connection, remote_root, tmp_path
):
    pytest.importorskip("tensorboard", reason="tensorboard is not installed in the test env")
    logdir = tmp_path / "runs"
    logdir.mkdir()
    target = sshd.target(pin=True)
    info = start_tensorboard(target, logdir=str(logdir), connection=connection, client=agent,
                             extra_path=[VENV_BIN], remote_root=remote_root)
    try:
        assert info.token is None and info.url_with_token() == info.url
        page = _get(info.url)
        assert page.status_code == 200 and "tensorboard" in page.text.lower()
        assert listener_addresses(info.remote_port) == ["127.0.0.1"]
        args = [a for a in process_args_of_all().splitlines() if f"tensorboard --logdir {logdir}" in a]
        assert args and all("--host 127.0.0.1" in a for a in args)
        again = start_tensorboard(target, logdir=str(logdir), connection=connection,
                                  client=agent, extra_path=[VENV_BIN], remote_root=remote_root)
        assert again.reused and again.pid == info.pid and again.tunnel_id == info.tunnel_id
        other = tmp_path / "other-runs"
        other.mkdir()
        moved = start_tensorboard(target, logdir=str(other), connection=connection,
                                  client=agent, extra_path=[VENV_BIN], remote_root=remote_root)
        assert not moved.reused and moved.pid != info.pid  # another logdir: restarted
        assert [t.id for t in agent.list()] == [moved.tunnel_id]  # the old tunnel went with it
        assert _get(moved.url).status_code == 200
    finally:
        stop_service(target, "tensorboard", connection=connection, client=agent,
                     remote_root=remote_root)


def test_forward_any_port_reuses_an_open_tunnel(sshd, agent):
    server = EchoServer()
    try:
        target = sshd.target(pin=True)
        first = forward(target, server.port, client=agent)
        assert echo_once(first.local_port, b"ping") == b"ping"
        assert forward(target, server.port, client=agent).id == first.id
    finally:
        server.stop()


def test_a_service_that_cannot_start_is_a_clear_error(sshd, agent, connection, remote_root):
    """An instance without jupyter, where installing it cannot work: a clear error, no tunnel."""
    fake_bin = Path(remote_root).parent / "fake-bin"
    fake_bin.mkdir(parents=True)
    # A python3 whose venv step fails: the install path must report it, not hang or pass.
    (fake_bin / "python3").write_text("#!/bin/sh\necho 'No module named venv' >&2\nexit 1\n")
    (fake_bin / "python3").chmod(0o755)
    lines: list[str] = []
    try:
        with pytest.raises(ServiceStartError, match="Installing jupyterlab on the instance failed"):
            start_jupyter(sshd.target(pin=True), connection=connection, client=agent,
                          extra_path=[str(fake_bin)], remote_root=remote_root,
                          progress=lines.append)
    finally:
        stop_service(sshd.target(pin=True), "jupyter", connection=connection, client=agent,
                     remote_root=remote_root)
    assert any("installing it into" in line for line in lines)
    assert agent.list() == []


@pytest.mark.skipif(os.environ.get("SPHERON_TEST_NETWORK") != "1",
                    reason="installs from PyPI; set SPHERON_TEST_NETWORK=1 to run")
def test_tensorboard_missing_on_the_instance_is_installed_into_the_venv(
    sshd, agent, connection, remote_root, tmp_path
):
    lines: list[str] = []
    target = sshd.target(pin=True)
    info = start_tensorboard(target, logdir=str(tmp_path), connection=connection, client=agent,
                             remote_root=remote_root, progress=lines.append)
    try:
        assert (Path(remote_root) / "jlab" / "bin" / "tensorboard").exists()
        assert any("Successfully installed" in line for line in lines)
        assert _get(info.url).status_code == 200
    finally:
        stop_service(target, "tensorboard", connection=connection, client=agent,
                     remote_root=remote_root)
