"""Pinned host keys, keyed by instance id, in a known-hosts file of our own.

Why our own file: IPs of cloud instances are reused, so a pin must belong to the instance id,
not the address; and paramiko raises on `@cert-authority` lines that a user's
`~/.ssh/known_hosts` may contain.

The file is in OpenSSH known_hosts format with the instance id in the host field, so OpenSSH
can use the same pins: `ssh -o HostKeyAlias=<id> -o UserKnownHostsFile=<file>
-o StrictHostKeyChecking=yes ...`. One line per instance id.

Nothing here ever auto-accepts a key: an unknown key is refused unless the caller passes the
user's explicit trust-on-first-use consent, and a changed key is always refused.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import logging
import os
import re
import threading
from contextlib import contextmanager
from pathlib import Path
from collections.abc import Callable, Iterator

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from spheron_jupyter.config.files import write_private_file
from spheron_jupyter.config.paths import data_dir
from spheron_jupyter.ssh.errors import HostKeyChangedError, HostKeyUnknownError

log = logging.getLogger(__name__)

KNOWN_HOSTS_FILENAME = "known_hosts"

# Host field of a known_hosts line: our instance ids. Anything with whitespace, commas or
# wildcards would change the meaning of the line for OpenSSH.
_SAFE_ALIAS = re.compile(r"^[A-Za-z0-9._:@\-]+$")

# One lock per process for read-modify-write of the file; flock covers other processes
# (the tunnel agent pins through the same file).
_thread_lock = threading.Lock()


def default_known_hosts_path() -> Path:
    return data_dir() / KNOWN_HOSTS_FILENAME


def fingerprint(key: paramiko.PKey | str) -> str:
    """OpenSSH-style SHA256 fingerprint of a key object or a public key line."""
    blob = key.asbytes() if isinstance(key, paramiko.PKey) else _blob_of_line(key)
    digest = hashlib.sha256(blob).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def public_line(key: paramiko.PKey) -> str:
    """`<type> <base64>` for a key object."""
    return f"{key.get_name()} {key.get_base64()}"


def _blob_of_line(line: str) -> bytes:
    parts = line.split()
    if len(parts) < 2:
        raise ValueError("not an OpenSSH public key line")
    return base64.b64decode(parts[1])


def _key_type_of_line(line: str) -> str:
    return line.split()[0]


class KnownHosts:
    """Our pin store: instance id -> public key line (`<type> <base64>`)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_known_hosts_path()

    # -- reading -----------------------------------------------------------------------------
    def _read(self) -> dict[str, str]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        pins: dict[str, str] = {}
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith(("#", "@")):
                continue
            parts = line.split()
            if len(parts) >= 3:
                pins[parts[0]] = f"{parts[1]} {parts[2]}"
        return pins

    def lookup(self, instance_id: str) -> str | None:
        """The pinned public key line for this instance, or None."""
        return self._read().get(instance_id)

    def lookup_fingerprint(self, instance_id: str) -> str | None:
        line = self.lookup(instance_id)
        return fingerprint(line) if line else None

    def all(self) -> dict[str, str]:
        return self._read()

    # -- writing -----------------------------------------------------------------------------
    def pin(self, instance_id: str, key: paramiko.PKey | str) -> str:
        """Pin `key` for `instance_id`, replacing any earlier pin. Returns its fingerprint.

        Replacing is deliberate here: `pin` is what the cloud-init path and an explicit user
        action call. Connections never call it for a key that differs from the pin.
        """
        _check_alias(instance_id)
        line = public_line(key) if isinstance(key, paramiko.PKey) else _normalise_line(key)
        with self._locked():
            pins = self._read()
            pins[instance_id] = line
            self._write(pins)
        return fingerprint(line)

    def forget(self, instance_id: str) -> bool:
        """Drop the pin (the instance was terminated). True if there was one."""
        with self._locked():
            pins = self._read()
            if instance_id not in pins:
                return False
            del pins[instance_id]
            self._write(pins)
        return True

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        with _thread_lock:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)

    def _write(self, pins: dict[str, str]) -> None:
        body = "".join(f"{alias} {line}\n" for alias, line in sorted(pins.items()))
        # Atomic replace, so a reader in another process never sees half a file.
        write_private_file(self.path, body)

    def openssh_options(self, instance_id: str) -> list[str]:
        """`-o` options that make OpenSSH check this instance against our pins only."""
        return [
            "-o", f"HostKeyAlias={instance_id}",
            "-o", f"UserKnownHostsFile={self.path}",
            "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=yes",
        ]


def _check_alias(instance_id: str) -> None:
    if not _SAFE_ALIAS.match(instance_id or ""):
        raise ValueError(f"instance id {instance_id!r} cannot be used as a host key alias")


def _normalise_line(line: str) -> str:
    parts = line.split()
    if len(parts) < 2:
        raise ValueError("not an OpenSSH public key line")
    base64.b64decode(parts[1], validate=True)
    return f"{parts[0]} {parts[1]}"


# -- verification ------------------------------------------------------------------------------

def verify_host_key(
    store: KnownHosts,
    instance_id: str,
    key: paramiko.PKey,
    *,
    tofu_consent: bool = False,
    on_pinned: Callable[[str, str], None] | None = None,
) -> None:
    """Accept `key` for `instance_id` or raise.

    Pinned and equal: accept. Pinned and different: HostKeyChangedError, always. Not pinned:
    HostKeyUnknownError unless `tofu_consent`, in which case pin it, log the fingerprint and
    call `on_pinned(instance_id, fingerprint)` so the caller can show it to the user.
    """
    got_line = public_line(key)
    got_fp = fingerprint(key)
    pinned = store.lookup(instance_id)
    if pinned is not None:
        if _blob_of_line(pinned) == key.asbytes():
            return
        raise HostKeyChangedError(instance_id, fingerprint(pinned), got_fp)
    if not tofu_consent:
        raise HostKeyUnknownError(got_fp, instance_id)
    store.pin(instance_id, got_line)
    log.info("Pinned host key %s for instance %s (trust on first use).", got_fp, instance_id)
    if on_pinned is not None:
        on_pinned(instance_id, got_fp)


def preferred_key_types(store: KnownHosts, instance_id: str) -> tuple[str, ...] | None:
    """Host key algorithms to offer so the server presents the key type we pinned.

    A server with several host keys (rsa, ecdsa, ed25519) would otherwise be free to present
    one we have not pinned, which would look like a changed key.
    """
    pinned = store.lookup(instance_id)
    if pinned is None:
        return None
    key_type = _key_type_of_line(pinned)
    if key_type == "ssh-rsa":
        return ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")
    return (key_type,)


class PinnedHostKeyPolicy(paramiko.MissingHostKeyPolicy):
    """For code that uses paramiko.SSHClient: check against our pins by instance id.

    Use with an SSHClient whose own host-key table is empty (do not call load_system_host_keys),
    so paramiko hands every key to this policy.
    """

    def __init__(
        self,
        instance_id: str,
        store: KnownHosts | None = None,
        *,
        tofu_consent: bool = False,
        on_pinned: Callable[[str, str], None] | None = None,
    ) -> None:
        self.instance_id = instance_id
        self.store = store or KnownHosts()
        self.tofu_consent = tofu_consent
        self.on_pinned = on_pinned

    def missing_host_key(self, client, hostname, key) -> None:
        verify_host_key(
            self.store,
            self.instance_id,
            key,
            tofu_consent=self.tofu_consent,
            on_pinned=self.on_pinned,
        )


# -- cloud-init pinning --------------------------------------------------------------------------

SSHD_HOST_KEY_PATH = "/etc/ssh/ssh_host_ed25519_key"


def make_host_key() -> tuple[str, str]:
    """A fresh ed25519 host key: (private key in OpenSSH PEM text, public key line)."""
    private = Ed25519PrivateKey.generate()
    private_text = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode("ascii")
    public_text = private.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode("ascii")
    return private_text, public_text


def host_key_cloud_init(private_key_text: str, public_key_line: str) -> dict:
    """The cloud-init fragment that installs our host key and restarts sshd to present it.

    Merge it into the launch's `cloudInit`; pin the public half before the first connection.
    The private text goes to the provider in the create request and nowhere else.
    """
    return {
        "writeFiles": [
            {
                "path": SSHD_HOST_KEY_PATH,
                "content": private_key_text,
                "owner": "root:root",
                "permissions": "0600",
            },
            {
                "path": SSHD_HOST_KEY_PATH + ".pub",
                "content": public_key_line.strip() + "\n",
                "owner": "root:root",
                "permissions": "0644",
            },
        ],
        "runcmd": ["systemctl restart ssh || service ssh restart"],
    }


def pin_for_cloud_init(instance_id: str, store: KnownHosts | None = None) -> tuple[str, dict]:
    """Convenience when the instance id is already known: pin and return (fingerprint, fragment).

    When the id is only known after the create call, use make_host_key() first, then
    KnownHosts().pin(id, public_line) as soon as the create returns.
    """
    private_text, public_text = make_host_key()
    fp = (store or KnownHosts()).pin(instance_id, public_text)
    return fp, host_key_cloud_init(private_text, public_text)
