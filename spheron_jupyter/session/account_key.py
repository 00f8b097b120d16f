"""Our SSH key on the account: registered once per API URL and team, remembered locally.

The key itself (generated once, 0600) is ssh/keys.py's; putting it on the account is an API
matter, so it lives here above the client. Teams share keys, so a teammate's kernel may already
have added ours: one GET finds it; one POST adds it only when it is not there. The id found is
remembered per URL and team in ``registrations.json`` beside the key.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ..client import InvalidRequestError, SpheronClient
from ..config.files import write_private_file
from ..ssh.keys import UserKey, default_key_comment, ensure_user_key, keys_dir

log = logging.getLogger(__name__)

REGISTRATIONS_FILENAME = "registrations.json"


def ensure_registered(client: SpheronClient, name: str | None = None, *,
                      key: UserKey | None = None) -> str:
    """Make sure our public key is registered with the account; return its key id."""
    key = key or ensure_user_key()
    found = _find(client, key)
    if found is not None:
        return found
    try:
        created = client.add_ssh_key(name or default_key_comment(), key.public_key)
    except InvalidRequestError:
        # Another kernel of ours added it a moment ago (the API refuses a key twice).
        found = _find(client, key)
        if found is None:
            raise
        return found
    _remember(_scope(client), created.id, key)
    log.info("Registered SSH key %s as %s.", key.fingerprint, created.id)
    return created.id


def _find(client: SpheronClient, key: UserKey) -> str | None:
    remembered = remembered_key_id(client, key)
    for entry in client.ssh_keys():
        if _same_key(entry.public_key, key.public_line) or (
            entry.public_key is None and remembered is not None and entry.id == remembered
        ):
            if entry.id != remembered:
                _remember(_scope(client), entry.id, key)
            return entry.id
    return None


def remembered_key_id(client: SpheronClient, key: UserKey | None = None) -> str | None:
    """The key id recorded for this client's URL and team, without asking the API."""
    key = key or ensure_user_key()
    record = _load().get(_scope(client))
    if record and record.get("fingerprint") == key.fingerprint:
        return str(record["key_id"])
    return None


def _same_key(a: str | None, b: str) -> bool:
    return bool(a) and str(a).split()[:2] == b.split()[:2]


def _scope(client: SpheronClient) -> str:
    return f"{client.base_url.rstrip('/')}#{client.team_id or ''}"


def _path() -> Path:
    return keys_dir() / REGISTRATIONS_FILENAME


def _load() -> dict[str, dict[str, str]]:
    try:
        data = json.loads(_path().read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _remember(scope: str, key_id: str, key: UserKey) -> None:
    records = _load()
    records[scope] = {"key_id": key_id, "fingerprint": key.fingerprint}
    write_private_file(_path(), json.dumps(records, indent=2, sort_keys=True) + "\n")
