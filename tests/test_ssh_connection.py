"""Connections to a real OpenSSH sshd: host-key pinning, auth errors, the watchdog."""

from __future__ import annotations

import threading
import time

import pytest

from spheron_jupyter.ssh.connection import Connection, open_transport
from spheron_jupyter.ssh.errors import (
    HostKeyChangedError,
    HostKeyUnknownError,
    SshAuthError,
    SshUnreachableError,
)
from spheron_jupyter.ssh.hostkeys import KnownHosts, fingerprint


def _run(transport, command: str) -> tuple[int, bytes]:
    channel = transport.open_session(timeout=10)
    channel.exec_command(command)
    out = channel.makefile("rb").read()
    return channel.recv_exit_status(), out


def test_prepinned_key_is_accepted_on_first_connection(sshd):
    transport = open_transport(sshd.target("inst-1", pin=True))
    try:
        assert _run(transport, "echo hello") == (0, b"hello\n")
    finally:
        transport.close()


def test_unknown_key_is_refused_without_consent(sshd):
    with pytest.raises(HostKeyUnknownError) as caught:
        open_transport(sshd.target("inst-unknown"))
    assert fingerprint(sshd.host_key_public) in str(caught.value)
    assert KnownHosts().lookup("inst-unknown") is None


def test_tofu_pins_and_reports_fingerprint(sshd):
    reported = []
    transport = open_transport(
        sshd.target("inst-tofu"), tofu_consent=True,
        on_host_key_pinned=lambda iid, fp: reported.append((iid, fp)),
    )
    transport.close()
    fp = fingerprint(sshd.host_key_public)
    assert reported == [("inst-tofu", fp)]
    assert KnownHosts().lookup_fingerprint("inst-tofu") == fp
    # The second connection needs no consent.
    open_transport(sshd.target("inst-tofu")).close()


def test_changed_key_is_refused_even_with_consent(sshd, sshd_factory):
    other = sshd_factory()
    sshd.pin("inst-x")
    target = other.target("inst-x")
    with pytest.raises(HostKeyChangedError) as caught:
        open_transport(target, tofu_consent=True)
    message = str(caught.value)
    assert "\n" not in message and "inst-x" in message and "changed" in message
    assert fingerprint(sshd.host_key_public) in message
    assert fingerprint(other.host_key_public) in message
    # The pin is untouched.
    assert KnownHosts().lookup_fingerprint("inst-x") == fingerprint(sshd.host_key_public)


def test_wrong_client_key_is_an_auth_error(sshd, tmp_path):
    from tests.fixtures.sshd import _write_ed25519

    stranger = tmp_path / "stranger"
    _write_ed25519(stranger, "stranger")
    private_text = stranger.read_text()
    with pytest.raises(SshAuthError) as caught:
        open_transport(sshd.target("inst-a", pin=True, key_path=stranger))
    assert private_text.splitlines()[1] not in str(caught.value)


def test_closed_port_is_unreachable(sshd):
    target = sshd.target("inst-gone", pin=True)
    sshd.stop()
    with pytest.raises(SshUnreachableError):
        open_transport(target, timeout=3)


def test_frozen_peer_is_declared_dead_within_5_seconds(sshd):
    died = threading.Event()
    reasons = []
    connection = Connection.open(
        sshd.target("inst-frozen", pin=True),
        on_dead=lambda reason: (reasons.append(reason), died.set()),
    )
    try:
        assert _run(connection.transport, "true")[0] == 0
        time.sleep(1.5)  # a few healthy keepalive rounds first
        assert connection.alive and not died.is_set()
        sshd.freeze()
        frozen_at = time.monotonic()
        assert died.wait(10), "watchdog never fired"
        elapsed = time.monotonic() - frozen_at
        assert elapsed < 5.0, f"took {elapsed:.1f} s"
        assert not connection.alive
        assert "no answer" in reasons[0]
    finally:
        sshd.thaw()
        connection.close()


def test_healthy_idle_connection_stays_alive(sshd):
    died = threading.Event()
    with Connection.open(sshd.target("inst-idle", pin=True), on_dead=lambda r: died.set()) as conn:
        assert not died.wait(4.5)
        assert conn.alive
    assert not conn.alive


def test_server_restart_is_noticed(sshd):
    died = threading.Event()
    conn = Connection.open(sshd.target("inst-r", pin=True), on_dead=lambda r: died.set())
    sshd.restart()
    assert died.wait(5)
    conn.close()
    # Same port, same host key: a new connection just works.
    Connection.open(sshd.target("inst-r")).close()


def test_watchdog_with_a_busy_python_thread_in_the_process(sshd):
    """A training loop in the kernel must neither hide a frozen peer nor fake a dead one."""
    stop_busy = threading.Event()

    def busy():
        total = 0
        while not stop_busy.is_set():
            total += 1

    spinner = threading.Thread(target=busy, daemon=True)
    spinner.start()
    died = threading.Event()
    connection = Connection.open(sshd.target("inst-busy", pin=True), on_dead=lambda r: died.set())
    try:
        assert not died.wait(4.0), "a healthy peer was declared dead"
        sshd.freeze()
        frozen_at = time.monotonic()
        assert died.wait(10)
        assert time.monotonic() - frozen_at < 5.0
    finally:
        stop_busy.set()
        sshd.thaw()
        connection.close()
