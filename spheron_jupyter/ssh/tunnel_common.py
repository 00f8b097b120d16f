"""What the tunnel agent and its clients share: paths, the wire format, tunnel info and errors.

The agent and the kernel talk JSON lines over a Unix socket in the runtime dir. Only ports, ids,
paths and messages cross it: never key material, never a Jupyter token.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from ..config.paths import runtime_dir
from .errors import (
    HostKeyChangedError,
    HostKeyUnknownError,
    PeerDeadError,
    SshAuthError,
    SshError,
    SshUnreachableError,
)
from .target import SshTarget

# The only address a tunnel ever listens on: a tunnel is a private door for this user.
LOOPBACK = "127.0.0.1"
_LOOPBACK_ALIASES = {"127.0.0.1", "localhost"}


class TunnelError(SshError):
    """Base class for tunnel failures."""


class TunnelBindRefusedError(TunnelError):
    """Someone asked for a listener on an address other than 127.0.0.1."""


class LocalPortInUseError(TunnelError):
    """The requested local port is taken by another program."""


class ForwardingRefusedError(TunnelError):
    """The SSH server does not allow TCP forwarding (AllowTcpForwarding no or similar)."""


class TunnelNotFoundError(TunnelError):
    """No tunnel with that id."""


class TunnelAgentError(TunnelError):
    """The tunnel agent could not be started or reached, or broke the protocol."""


# Errors the agent reports by class name; the client raises the same class again.
ERROR_TYPES: dict[str, type[SshError]] = {
    cls.__name__: cls
    for cls in (
        TunnelError,
        TunnelBindRefusedError,
        LocalPortInUseError,
        ForwardingRefusedError,
        TunnelNotFoundError,
        TunnelAgentError,
        SshError,
        SshAuthError,
        SshUnreachableError,
        PeerDeadError,
        HostKeyUnknownError,
        HostKeyChangedError,
    )
}


def rebuild_error(type_name: str, message: str) -> SshError:
    """Recreate an error the agent reported, keeping its class so callers can catch it."""
    cls = ERROR_TYPES.get(type_name, TunnelError)
    error = cls.__new__(cls)  # some classes build their message from fields we do not carry
    Exception.__init__(error, message)
    return error


def check_listen_address(local_host: str) -> str:
    """Return the loopback address to bind, or refuse anything that would leave this machine."""
    if local_host in _LOOPBACK_ALIASES:
        return LOOPBACK
    raise TunnelBindRefusedError(
        f"Tunnels listen on 127.0.0.1 only; refusing to bind {local_host!r} "
        "(that would expose the instance's service to other machines)."
    )


@dataclass(frozen=True)
class TunnelInfo:
    """One tunnel as the agent reports it. `state` is connecting, up, reconnecting or closed."""

    id: str
    local_port: int
    remote_port: int
    instance_id: str
    state: str
    remote_host: str = LOOPBACK
    local_host: str = LOOPBACK
    name: str | None = None
    connections: int = 0
    last_error: str | None = None
    plane: str = ""

    @property
    def url(self) -> str:
        return f"http://{self.local_host}:{self.local_port}/"

    def to_wire(self) -> dict:
        return asdict(self)

    @classmethod
    def from_wire(cls, data: dict) -> TunnelInfo:
        fields = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in fields})


def target_to_wire(target: SshTarget) -> dict:
    return {
        "host": target.host,
        "port": int(target.port),
        "user": target.user,
        "instance_id": target.instance_id,
        "key_path": str(target.key_path),
        "known_hosts_path": str(target.known_hosts_path) if target.known_hosts_path else None,
    }


def target_from_wire(data: dict) -> SshTarget:
    known = data.get("known_hosts_path")
    return SshTarget(
        host=str(data["host"]),
        port=int(data["port"]),
        user=str(data["user"]),
        instance_id=str(data["instance_id"]),
        key_path=Path(data["key_path"]),
        known_hosts_path=Path(known) if known else None,
    )


def agent_socket_path() -> Path:
    """The control socket; moved to a short temp name when the runtime dir path is too long.

    Unix socket paths are limited to about 108 bytes, and pytest tmp dirs can exceed that.
    """
    path = runtime_dir() / "tunnel-agent.sock"
    if len(os.fsencode(path)) < 100:
        return path
    digest = hashlib.sha256(os.fsencode(path)).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"spheron-jupyter-{os.getuid()}-{digest}.sock"


def agent_lock_path() -> Path:
    """Held by a client while it starts the agent, so two kernels never start two agents."""
    return runtime_dir() / "tunnel-agent.start.lock"


def agent_pid_path() -> Path:
    """Held (flock) by the running agent for its whole life; contains its pid."""
    return runtime_dir() / "tunnel-agent.pid"


def agent_log_path() -> Path:
    return runtime_dir() / "tunnel-agent.log"
