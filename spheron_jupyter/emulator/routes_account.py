"""Account routes: GET /api/balance, GET /api/teams, and /api/ssh-keys (list, add, get, delete).

Scoping: every resource belongs to a team.  A request names its team with ``teamId`` (query or
body); without one, the current team (``isCurrentTeam``) is used.  A team the user is not in is
a 403.  Members (the ``Research Lab`` team) may use everything except billing, which in the
emulator means ``POST /_emulator/teams/{id}/credit`` (see routes_admin.py).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import struct
import time

from .errors import ApiError

KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
             "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com")


def resolve_team(app, team_id) -> dict:
    """The team ``team_id`` names, or the current team when it is empty.  Caller holds the lock."""
    if team_id in (None, ""):
        return app.store.current_team()
    team = app.store.team(str(team_id))
    if team is None:
        raise ApiError.forbidden(f"You are not a member of team {team_id}.")
    return team


def _wire_strings(blob: bytes) -> list[bytes]:
    """Split an SSH wire-format key blob into its length-prefixed strings; a truncated or
    padded blob raises ValueError."""
    parts, offset = [], 0
    while offset < len(blob):
        (length,) = struct.unpack(">I", blob[offset:offset + 4])
        if offset + 4 + length > len(blob):
            raise ValueError("truncated key blob")
        parts.append(blob[offset + 4:offset + 4 + length])
        offset += 4 + length
    return parts


def parse_public_key(text) -> tuple[str, str]:
    """Return ``(normalised key, SHA256 fingerprint)`` for an OpenSSH public key line."""
    if not isinstance(text, str) or not text.strip():
        raise ApiError.bad_request("publicKey must be an OpenSSH public key line.")
    fields = text.strip().split()
    if len(fields) < 2 or fields[0] not in KEY_TYPES:
        raise ApiError.bad_request(
            "publicKey must look like 'ssh-ed25519 AAAA... comment' "
            f"(supported types: {', '.join(KEY_TYPES)}).")
    try:
        blob = base64.b64decode(fields[1], validate=True)
        parts = _wire_strings(blob)
        embedded_type = parts[0].decode()
    except (binascii.Error, struct.error, UnicodeDecodeError, ValueError, IndexError):
        raise ApiError.bad_request("publicKey is not a valid OpenSSH public key.") from None
    if embedded_type != fields[0] or len(parts) < 2:
        raise ApiError.bad_request("publicKey is not a valid OpenSSH public key.")
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return " ".join(fields[:3]), f"SHA256:{digest}"


def balance(app, request):
    now = time.time()
    with app.store.lock:
        teams = [app.store.team_view(team, now) for team in app.store.teams]
    return 200, {"teams": teams, "currency": "USD"}


def teams(app, request):
    # A bare list: the live service has been seen answering both ways; the client takes either.
    now = time.time()
    with app.store.lock:
        views = [app.store.team_view(team, now) for team in app.store.teams]
    return 200, [dict(view, id=view["teamId"], name=view["teamName"]) for view in views]


def list_keys(app, request):
    with app.store.lock:
        team = resolve_team(app, request.query.get("teamId"))
        keys = [dict(k) for k in app.store.ssh_keys.values() if k["teamId"] == team["teamId"]]
    return 200, sorted(keys, key=lambda k: k["createdAt"])


def add_key(app, request):
    body = request.json()
    name = body.get("name")
    public_key = body.get("publicKey", body.get("public_key"))
    missing = [field for field, value in (("name", name), ("publicKey", public_key)) if not value]
    if missing:
        raise ApiError.bad_request(f"Missing required fields: {', '.join(missing)}.")
    if not isinstance(name, str):
        raise ApiError.bad_request("name must be a string.")
    key_line, fingerprint = parse_public_key(public_key)
    with app.store.lock:
        team = resolve_team(app, body.get("teamId"))
        for existing in app.store.ssh_keys.values():
            if existing["teamId"] == team["teamId"] and existing["fingerprint"] == fingerprint:
                raise ApiError.bad_request(
                    f"This key is already registered in team {team['teamName']} "
                    f"as {existing['name']!r} ({existing['id']}).")
        key = {"id": "key_" + secrets.token_hex(10), "name": name, "publicKey": key_line,
               "fingerprint": fingerprint, "teamId": team["teamId"],
               "createdAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        app.store.ssh_keys[key["id"]] = key
        app.store.save()
    return 201, dict(key)


def _key(app, key_id: str) -> dict:
    key = app.store.ssh_keys.get(key_id)
    if key is None:
        raise ApiError.not_found("SSH key", key_id)
    return key


def get_key(app, request):
    with app.store.lock:
        return 200, dict(_key(app, request.params["id"]))


def delete_key(app, request):
    with app.store.lock:
        key = _key(app, request.params["id"])
        del app.store.ssh_keys[key["id"]]
        app.store.save()
    return 200, {"message": "SSH key deleted.", "id": key["id"]}


def register(app) -> None:
    app.route("GET", "/api/balance", balance)
    app.route("GET", "/api/teams", teams)
    app.route("GET", "/api/ssh-keys", list_keys)
    app.route("POST", "/api/ssh-keys", add_key)
    app.route("GET", "/api/ssh-keys/{id}", get_key)
    app.route("DELETE", "/api/ssh-keys/{id}", delete_key)
