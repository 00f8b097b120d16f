"""Reaching instances over SSH: keys, pinned host keys, watched connections, exec, logs.

Modules: target (SshTarget), errors, keys (our ed25519 user key and its registration),
hostkeys (pins by instance id, cloud-init host keys), connection (open_transport,
Connection), watchdog (dead-peer detection), remote (streaming exec), logs (tail/follow with
a resumable cursor). The tunnel agent and remote services build on these.

paramiko logs its own warnings and tracebacks (e.g. "Socket exception" when a peer vanishes)
through the "paramiko" logger. In a notebook the root logger often has a handler that prints
into the current cell, so those records would land in a user's saved notebook. We give the
"paramiko" logger a NullHandler and stop propagation; our own modules report what matters
as exceptions and through our own loggers ("spheron_jupyter.ssh.*"). Set
SPHERON_JUPYTER_DEBUG_PARAMIKO=1 to let paramiko's records through while debugging.
"""

from __future__ import annotations

import logging
import os

_paramiko_logger = logging.getLogger("paramiko")
if not os.environ.get("SPHERON_JUPYTER_DEBUG_PARAMIKO"):
    _paramiko_logger.addHandler(logging.NullHandler())
    _paramiko_logger.propagate = False

from spheron_jupyter.ssh.errors import (  # noqa: E402  (logging is set up first on purpose)
    HostKeyChangedError,
    HostKeyUnknownError,
    PeerDeadError,
    SshAuthError,
    SshError,
    SshUnreachableError,
)
from spheron_jupyter.ssh.target import SshTarget  # noqa: E402

__all__ = [
    "HostKeyChangedError",
    "HostKeyUnknownError",
    "PeerDeadError",
    "SshAuthError",
    "SshError",
    "SshTarget",
    "SshUnreachableError",
]
