"""Errors raised by the ssh/ layer.

Every message is one sentence a researcher can act on. None of them ever carries private key
material, a token or the API key: they name the instance, the address and fingerprints only.
"""

from __future__ import annotations


class SshError(Exception):
    """Base class for everything the ssh/ layer raises."""


class HostKeyUnknownError(SshError):
    """The server presented a host key we have not pinned, and the user did not consent to TOFU."""

    def __init__(self, fingerprint: str, instance_id: str = "") -> None:
        self.fingerprint = fingerprint
        self.instance_id = instance_id
        who = f"instance {instance_id}" if instance_id else "this server"
        super().__init__(
            f"Unknown host key for {who} ({fingerprint}); verify the fingerprint and connect again "
            "with trust-on-first-use consent to pin it."
        )


class HostKeyChangedError(SshError):
    """The server presented a key different from the one pinned for this instance id."""

    def __init__(self, instance_id: str, expected_fp: str, got_fp: str) -> None:
        self.instance_id = instance_id
        self.expected_fp = expected_fp
        self.got_fp = got_fp
        super().__init__(
            f"Host key for instance {instance_id} changed: pinned {expected_fp}, server sent "
            f"{got_fp}; refusing to connect (possible man-in-the-middle; forget the pin only if "
            "you know the instance was rebuilt)."
        )


class SshAuthError(SshError):
    """The server refused our key."""


class SshUnreachableError(SshError):
    """TCP connect or the SSH handshake failed or timed out."""


class PeerDeadError(SshError):
    """The watchdog saw the peer stop answering; the connection was closed."""


class RemoteCommandError(SshError):
    """A remote helper command (not a user command) failed in a way we cannot recover from."""
