"""Our user key: generated once (0600), reused, registered once, never shown."""

from __future__ import annotations

import logging
import stat
import threading

from spheron_jupyter.ssh.connection import open_transport
from spheron_jupyter.ssh.keys import (
    ensure_registered,
    ensure_user_key,
    remembered_key_id,
    user_key_path,
)


class FakeKeysClient:
    """Stands in for SpheronClient's ssh_keys/add_ssh_key (dict entries, camelCase)."""

    base_url = "http://emulator.test"
    team_id = None

    def __init__(self, entries=None):
        self.entries = list(entries or [])
        self.added = []

    def ssh_keys(self):
        return list(self.entries)

    def add_ssh_key(self, name, public_key):
        entry = {"id": f"key-{len(self.entries) + 1}", "name": name, "publicKey": public_key}
        self.entries.append(entry)
        self.added.append(entry)
        return entry


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


def test_registered_once_and_remembered():
    client = FakeKeysClient()
    key_id = ensure_registered(client, "my-laptop")
    assert key_id == "key-1" and len(client.added) == 1
    assert client.added[0]["name"] == "my-laptop"
    assert client.added[0]["publicKey"] == ensure_user_key().public_key
    assert ensure_registered(client) == "key-1"
    assert len(client.added) == 1
    assert remembered_key_id(client) == "key-1"


def test_key_already_on_account_is_reused():
    public = ensure_user_key().public_line
    client = FakeKeysClient([{"id": "other", "publicKey": "ssh-ed25519 AAAAother x"},
                             {"id": "teammate-added", "publicKey": public}])
    assert ensure_registered(client) == "teammate-added"
    assert client.added == []


def test_deleted_registration_is_added_again():
    client = FakeKeysClient()
    ensure_registered(client)
    client.entries.clear()
    assert ensure_registered(client) == "key-1"
    assert len(client.added) == 2


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
