"""Our user key: generated once (0600), reused, never shown (registering it with the account:
tests/test_session_keys.py)."""

from __future__ import annotations

import logging
import stat
import threading

from spheron_jupyter.ssh.connection import open_transport
from spheron_jupyter.ssh.keys import ensure_user_key, user_key_path


def test_key_is_generated_once_with_mode_0600():
    key = ensure_user_key()
    assert key.path == user_key_path()
    assert stat.S_IMODE(key.path.stat().st_mode) == 0o600
    assert key.public_line.startswith("ssh-ed25519 ")
    assert key.fingerprint.startswith("SHA256:")
    first_bytes = key.path.read_bytes()
    again = ensure_user_key()
    assert again == key and key.path.read_bytes() == first_bytes


def test_concurrent_generation_yields_one_key():
    results = []
    threads = [threading.Thread(target=lambda: results.append(ensure_user_key())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({r.public_line for r in results}) == 1
    assert list(user_key_path().parent.glob(".id_ed25519.*")) == []


def test_loose_mode_is_tightened():
    key = ensure_user_key()
    key.path.chmod(0o644)
    ensure_user_key()
    assert stat.S_IMODE(key.path.stat().st_mode) == 0o600


def test_missing_pub_file_is_derived():
    key = ensure_user_key()
    pub = key.path.with_name(key.path.name + ".pub")
    pub.unlink()
    assert ensure_user_key().public_key == key.public_key
    assert pub.exists()


def test_generated_key_logs_in_and_never_leaks(sshd, caplog):
    caplog.set_level(logging.DEBUG)
    key = ensure_user_key()
    sshd.authorize(key.public_line)
    transport = open_transport(sshd.target("inst-k", pin=True, key_path=key.path))
    transport.close()
    secret_body = "".join(key.path.read_text().splitlines()[1:-1])
    for record in caplog.records:
        text = record.getMessage()
        assert secret_body not in text
        for line in key.path.read_text().splitlines()[1:-1]:
            assert line not in text
    assert secret_body not in repr(key)
