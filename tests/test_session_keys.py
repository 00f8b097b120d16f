"""Our SSH key on the account (session/account_key.py), against the emulator's /api/ssh-keys:
registered once and remembered, reused when a teammate already added it, added again when
deleted from the dashboard."""

from __future__ import annotations

import json
import urllib.request

from spheron_jupyter.client import SpheronClient
from spheron_jupyter.session.account_key import ensure_registered, remembered_key_id
from spheron_jupyter.ssh.keys import ensure_user_key


def key_count(emulator) -> int:
    request = urllib.request.Request(f"{emulator.url}/_emulator/state",
                                     headers={"Authorization": f"Bearer {emulator.api_key}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(json.load(response)["sshKeys"])


def test_registered_once_and_remembered(emulator):
    client = SpheronClient(emulator.url, emulator.api_key)
    before = key_count(emulator)
    key_id = ensure_registered(client, "my-laptop")
    assert key_count(emulator) == before + 1
    entry = next(k for k in client.ssh_keys() if k.id == key_id)
    assert entry.name == "my-laptop" and entry.public_key == ensure_user_key().public_key
    assert ensure_registered(client) == key_id and key_count(emulator) == before + 1
    assert remembered_key_id(client) == key_id


def test_key_already_on_the_account_is_reused(emulator):
    client = SpheronClient(emulator.url, emulator.api_key)
    added = client.add_ssh_key("teammate-added", ensure_user_key().public_line)
    before = key_count(emulator)
    assert ensure_registered(client) == added.id and key_count(emulator) == before


def test_deleted_registration_is_added_again(emulator):
    client = SpheronClient(emulator.url, emulator.api_key)
    first = ensure_registered(client)
    client.delete_ssh_key(first)
    again = ensure_registered(client)
    assert again != first and any(k.id == again for k in client.ssh_keys())
