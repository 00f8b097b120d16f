"""Host keys and authorised keys of emulated instances.

paramiko can load but not generate ed25519 keys, so generation goes through ``cryptography``
(already a dependency of paramiko) and the key is stored in OpenSSH format, exactly as
``ssh-keygen -t ed25519`` would write ``/etc/ssh/ssh_host_ed25519_key`` on a real machine.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def ensure_host_key(path: Path) -> None:
    """Generate an ed25519 host key at ``path`` (and ``path.pub``) unless one is there."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH)
    # Written under a temporary name first so a crash never leaves half a key behind.
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private)
    os.replace(partial, path)
    path.with_name(path.name + ".pub").write_bytes(public + b" root@spheron-emulator\n")


def load_host_key(path: Path) -> paramiko.PKey:
    """Load whichever key type sits at ``path`` (cloud-init may install RSA or ECDSA too)."""
    return paramiko.PKey.from_path(str(path))


def parse_public_key(line: str) -> paramiko.PKey | None:
    """An ``authorized_keys``-style line (``ssh-ed25519 AAAA... comment``) as a key, or None."""
    parts = line.strip().split()
    for index in range(len(parts) - 1):
        # Tolerate leading options (``from="..." ssh-ed25519 AAAA``) by finding the type field.
        key_type, blob = parts[index], parts[index + 1]
        if key_type.startswith(("ssh-", "ecdsa-", "sk-")):
            try:
                return paramiko.PKey.from_type_string(key_type, base64.b64decode(blob))
            except Exception:
                return None
    return None


def authorized_key_blobs(public_keys: list[str]) -> set[bytes]:
    """The wire form of each parseable key, for comparing against what a client offers."""
    blobs = set()
    for line in public_keys:
        for single in (line or "").splitlines():
            key = parse_public_key(single)
            if key is not None:
                blobs.add(key.asbytes())
    return blobs
