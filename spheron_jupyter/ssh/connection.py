"""Opening verified, authenticated SSH transports, and a Connection that watches its peer.

`open_transport` does the whole dance on a raw paramiko.Transport (no SSHClient, so no
paramiko host-key policy and no reading of ~/.ssh/known_hosts): TCP connect with a timeout,
key exchange offering the key type we pinned, host key check against our pins by instance
id, public-key auth with our key file. Every failure becomes one of the ssh/errors.py types
with a one-sentence message that never contains key material.
"""

from __future__ import annotations

import logging
import socket
import threading
from pathlib import Path
from collections.abc import Callable

import paramiko

from spheron_jupyter.ssh.errors import (
    PeerDeadError,
    SshAuthError,
    SshError,
    SshUnreachableError,
)
from spheron_jupyter.ssh.hostkeys import KnownHosts, preferred_key_types, verify_host_key
from spheron_jupyter.ssh.target import SshTarget
from spheron_jupyter.ssh.watchdog import Watchdog

log = logging.getLogger(__name__)

__all__ = ["Connection", "load_private_key", "open_transport"]


def load_private_key(path: Path) -> paramiko.PKey:
    """Load an unencrypted private key file (any type paramiko knows)."""
    try:
        return paramiko.PKey.from_path(Path(path))
    except FileNotFoundError:
        raise SshAuthError(f"SSH key file {path} does not exist.") from None
    except (paramiko.SSHException, ValueError, TypeError) as exc:
        # The exception text of a key parser can quote file contents; keep only its type.
        raise SshAuthError(
            f"SSH key file {path} could not be read ({type(exc).__name__})."
        ) from None


def open_transport(
    target: SshTarget,
    *,
    tofu_consent: bool = False,
    timeout: float = 10.0,
    on_host_key_pinned: Callable[[str, str], None] | None = None,
) -> paramiko.Transport:
    """A connected, host-key-verified, authenticated transport to `target`.

    Raises SshUnreachableError, HostKeyUnknownError, HostKeyChangedError or SshAuthError.
    With `tofu_consent` an unknown key is pinned for `target.instance_id` and
    `on_host_key_pinned(instance_id, fingerprint)` is called so the caller can show it.
    """
    store = KnownHosts(target.known_hosts_path)
    pkey = load_private_key(target.key_path)
    try:
        sock = socket.create_connection((target.host, target.port), timeout=timeout)
    except OSError as exc:
        raise SshUnreachableError(
            f"Cannot reach {target.address} for instance {target.instance_id}: "
            f"{exc.strerror or type(exc).__name__}."
        ) from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    transport = paramiko.Transport(sock)
    transport.banner_timeout = timeout
    transport.handshake_timeout = timeout
    transport.auth_timeout = timeout
    key_types = preferred_key_types(store, target.instance_id)
    if key_types:
        transport.get_security_options().key_types = key_types
    try:
        try:
            transport.start_client(timeout=timeout)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise SshUnreachableError(
                f"SSH handshake with {target.address} for instance {target.instance_id} "
                f"failed: {_short(exc)}."
            ) from None
        verify_host_key(
            store,
            target.instance_id,
            transport.get_remote_server_key(),
            tofu_consent=tofu_consent,
            on_pinned=on_host_key_pinned,
        )
        try:
            transport.auth_publickey(target.user, pkey)
        except paramiko.AuthenticationException:
            raise SshAuthError(
                f"The server at {target.address} refused our key for user {target.user!r} "
                f"(instance {target.instance_id})."
            ) from None
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise SshUnreachableError(
                f"SSH connection to {target.address} dropped during login: {_short(exc)}."
            ) from None
        if not transport.is_authenticated():
            raise SshAuthError(f"Login to {target.address} as {target.user!r} did not complete.")
    except BaseException:
        transport.close()
        raise
    return transport


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return text[:200] or type(exc).__name__


class Connection:
    """A transport plus its watchdog. Thread-safe to share; `close()` is idempotent.

    `on_dead(reason)` runs (in the watchdog's thread) when the peer stops answering or the
    connection drops by itself; after that `alive` is False and `check()` raises PeerDeadError.
    """

    def __init__(
        self,
        transport: paramiko.Transport,
        target: SshTarget,
        *,
        on_dead: Callable[[str], None] | None = None,
        watchdog_interval: float = 1.0,
        watchdog_misses: int = 3,
    ) -> None:
        self.transport = transport
        self.target = target
        self._user_on_dead = on_dead
        self._closed = threading.Event()
        self.watchdog = Watchdog(
            transport,
            interval=watchdog_interval,
            misses=watchdog_misses,
            on_dead=self._peer_died,
            name=target.instance_id,
        ).start()

    @classmethod
    def open(
        cls,
        target: SshTarget,
        *,
        tofu_consent: bool = False,
        timeout: float = 10.0,
        on_dead: Callable[[str], None] | None = None,
        on_host_key_pinned: Callable[[str, str], None] | None = None,
        watchdog_interval: float = 1.0,
        watchdog_misses: int = 3,
    ) -> Connection:
        transport = open_transport(
            target,
            tofu_consent=tofu_consent,
            timeout=timeout,
            on_host_key_pinned=on_host_key_pinned,
        )
        return cls(
            transport,
            target,
            on_dead=on_dead,
            watchdog_interval=watchdog_interval,
            watchdog_misses=watchdog_misses,
        )

    @property
    def alive(self) -> bool:
        return not self._closed.is_set() and self.transport.is_active()

    @property
    def dead_reason(self) -> str | None:
        return self.watchdog.dead_reason

    def check(self) -> None:
        """Raise PeerDeadError if the connection is no longer usable."""
        if not self.alive:
            reason = self.watchdog.dead_reason or "the connection is closed"
            raise PeerDeadError(f"SSH connection to instance {self.target.instance_id} lost: {reason}.")

    def open_session(self, timeout: float | None = 10.0) -> paramiko.Channel:
        self.check()
        try:
            return self.transport.open_session(timeout=timeout)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            self.check()
            raise SshError(
                f"Could not open a session on instance {self.target.instance_id}: {_short(exc)}."
            ) from None

    def _peer_died(self, reason: str) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        if self._user_on_dead is not None:
            self._user_on_dead(reason)

    def close(self) -> None:
        if self._closed.is_set() and not self.transport.is_active():
            self.watchdog.stop()
            return
        self._closed.set()
        self.watchdog.stop()
        self.transport.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "alive" if self.alive else "closed"
        return f"<Connection {self.target.user}@{self.target.address} {self.target.instance_id} {state}>"
