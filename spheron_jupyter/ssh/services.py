"""Remote services on an instance: Jupyter and TensorBoard started once, reached through a tunnel.

Everything lives under ~/.spheron on the instance: the JupyterLab venv (`jlab/`) when the
instance has no `jupyter` of its own, logs (`logs/<name>.log`) and per-service state
(`services/<name>.json` with port and pid; `services/<name>.env`, mode 0600, with the token).

The Jupyter token is fresh per start and travels only through channels' stdin and the server's
environment: the start script arrives on stdin of `sh -s`, writes the env file with a heredoc and
sources it, so no command line (what `ps` shows) ever contains it. Servers bind 127.0.0.1 on the
instance and are reached only through the tunnel agent.
"""

from __future__ import annotations

import hashlib
import secrets
import shlex
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx

from .connection import Connection
from .services_remote import (
    DEFAULT_REMOTE_ROOT,
    Progress,
    RemoteServiceHost,
    ServiceStartError,
)
from .target import SshTarget
from .tunnel import TunnelAgentClient, TunnelInfo


@dataclass(frozen=True)
class ServiceInfo:
    """A running remote service and the tunnel to it. The token is left out of the repr."""

    name: str
    instance_id: str
    remote_port: int
    local_port: int
    tunnel_id: str
    pid: int | None
    reused: bool
    path: str = "/"
    token: str | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The local address, without the token."""
        return f"http://127.0.0.1:{self.local_port}{self.path}"

    def url_with_token(self) -> str:
        """The URL a browser opens; for Jupyter it carries the token (the only place it shows)."""
        if not self.token:
            return self.url
        sep = "&" if "?" in self.path else "?"
        return f"{self.url}{sep}token={self.token}"


# ---- public API ----------------------------------------------------------------------------

def start_jupyter(
    target: SshTarget,
    *,
    local_port: int | None = None,
    progress: Progress | None = None,
    connection: Connection | None = None,
    client: TunnelAgentClient | None = None,
    extra_path: Sequence[str] = (),
    ready_timeout: float = 180.0,
    remote_root: str = DEFAULT_REMOTE_ROOT,
) -> ServiceInfo:
    """Token-protected Jupyter on the instance's 127.0.0.1, tunnelled; reused when running."""
    return _ensure_service(
        target, "jupyter", local_port=local_port, progress=progress, connection=connection,
        client=client, extra_path=extra_path, ready_timeout=ready_timeout, root=remote_root,
        program="jupyter", packages="jupyterlab", with_token=True, path="/lab",
        build_command=lambda exe, as_root: (
            f"{shlex.quote(exe)} lab --no-browser --ip=127.0.0.1 --port=$PORT "
            f"--ServerApp.port_retries=0 --ServerApp.open_browser=False"
            + (" --allow-root" if as_root else "")
        ),
    )


def start_tensorboard(
    target: SshTarget,
    *,
    logdir: str | None = None,
    local_port: int | None = None,
    progress: Progress | None = None,
    connection: Connection | None = None,
    client: TunnelAgentClient | None = None,
    extra_path: Sequence[str] = (),
    ready_timeout: float = 180.0,
    remote_root: str = DEFAULT_REMOTE_ROOT,
) -> ServiceInfo:
    """TensorBoard for `logdir` (default ~/logs) on the instance's 127.0.0.1, tunnelled; reused
    when running."""
    logdir = logdir or "~/logs"
    quoted = shlex.quote(logdir) if not logdir.startswith("~/") else \
        '"$HOME"/' + shlex.quote(logdir[2:])
    return _ensure_service(
        target, "tensorboard", local_port=local_port, progress=progress, connection=connection,
        client=client, extra_path=extra_path, ready_timeout=ready_timeout, root=remote_root,
        program="tensorboard", packages="tensorboard", with_token=False, path="/",
        build_command=lambda exe, as_root: (
            f"{shlex.quote(exe)} --logdir {quoted} --host 127.0.0.1 --port $PORT"
        ),
    )


def forward(
    target: SshTarget,
    remote_port: int,
    *,
    local_port: int | None = None,
    name: str | None = None,
    client: TunnelAgentClient | None = None,
) -> TunnelInfo:
    """Any remote port on the instance's loopback, reusing an open tunnel to the same port."""
    client = client or TunnelAgentClient()
    for info in client.list():
        if (info.instance_id == target.instance_id and info.remote_port == remote_port
                and info.state != "closed" and local_port in (None, info.local_port)):
            return info
    return client.open(target, remote_port, local_port=local_port, name=name or f"port-{remote_port}")


def stop_service(
    target: SshTarget,
    name: str,
    *,
    connection: Connection | None = None,
    client: TunnelAgentClient | None = None,
    remote_root: str = DEFAULT_REMOTE_ROOT,
) -> None:
    """Stop a service we started (jupyter, tensorboard) and close its tunnels."""
    client = client or TunnelAgentClient()
    for info in client.list():
        if info.instance_id == target.instance_id and info.name == name:
            client.close(info.id)
    with _connection(target, connection) as conn:
        RemoteServiceHost(conn, (), lambda _line: None, remote_root).stop(name)


class _connection:
    """Use the caller's connection, or open (and later close) one of our own."""

    def __init__(self, target: SshTarget, given: Connection | None) -> None:
        self.target, self.given = target, given
        self.owned: Connection | None = None

    def __enter__(self) -> Connection:
        if self.given is not None:
            return self.given
        self.owned = Connection.open(self.target)
        return self.owned

    def __exit__(self, *exc_info) -> None:
        if self.owned is not None:
            self.owned.close()


def _ensure_service(target, name, *, local_port, progress, connection, client, extra_path,
                    ready_timeout, root, program, packages, with_token, path, build_command):
    say = progress or (lambda _line: None)
    client = client or TunnelAgentClient()
    with _connection(target, connection) as conn:
        remote = RemoteServiceHost(conn, extra_path, say, root)
        # What the caller asked for (e.g. TensorBoard's logdir), hashed so it is safe to store.
        config = hashlib.sha256(build_command("", False).encode()).hexdigest()[:16]
        state, alive, token = remote.status(name)
        if state and alive and (token or not with_token) and state.get("config") == config:
            tunnel = _tunnel_for(client, target, name, int(state["port"]), local_port)
            if _ready(tunnel.local_port, path, token, deadline=time.monotonic() + 10):
                say(f"{name} is already running on the instance (port {state['port']}); reusing it")
                return _info(name, target, state, tunnel, token, path, reused=True)
            client.close(tunnel.id)
        if state:
            # Stale, unresponsive or started with other settings: replace it, tunnel and all.
            for info in client.list():
                if (info.instance_id == target.instance_id and info.name == name
                        and info.remote_port == int(state.get("port") or 0)):
                    client.close(info.id)
            remote.stop(name)
        say(f"Looking for {program} on the instance")
        exe = remote.find(program)
        if exe is None:
            say(f"{program} is not installed on the instance; installing it into {root}/jlab")
            remote.install(packages)
            exe = remote.find(program)
            if exe is None:
                raise ServiceStartError(f"{program} is still missing after installing {packages}.")
        code, out, _ = remote.sh(b"id -u\n")
        token = secrets.token_urlsafe(32) if with_token else None
        state = remote.start(name, build_command(exe, out.strip() == "0"), token, config)
        say(f"Started {name} on the instance at 127.0.0.1:{state['port']}; waiting for it")
        tunnel = _tunnel_for(client, target, name, int(state["port"]), local_port)
        deadline = time.monotonic() + ready_timeout
        while not _ready(tunnel.local_port, path, token, deadline=min(deadline, time.monotonic() + 5)):
            if time.monotonic() > deadline or not remote.status(name)[1]:
                client.close(tunnel.id)
                tail = remote.log_tail(name, token)
                remote.stop(name)
                raise ServiceStartError(
                    f"{name} on instance {target.instance_id} did not become ready "
                    f"(log {root}/logs/{name}.log ends: {tail or 'empty'})."
                )
        say(f"{name} is ready at http://127.0.0.1:{tunnel.local_port}{path}")
        return _info(name, target, state, tunnel, token, path, reused=False)


def _tunnel_for(client, target, name, remote_port, local_port) -> TunnelInfo:
    for info in client.list():
        if (info.instance_id == target.instance_id and info.remote_port == remote_port
                and info.name == name and local_port in (None, info.local_port)):
            return info
    return client.open(target, remote_port, local_port=local_port, name=name)


def _ready(local_port: int, path: str, token: str | None, *, deadline: float) -> bool:
    """Poll the service through the tunnel until it answers (Jupyter: /api/status with token)."""
    url = f"http://127.0.0.1:{local_port}" + ("/api/status" if token else "/")
    headers = {"Authorization": f"token {token}"} if token else {}
    while True:
        try:
            response = httpx.get(url, headers=headers, timeout=5.0, trust_env=False)
            if response.status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.3)


def _info(name, target, state, tunnel, token, path, *, reused) -> ServiceInfo:
    return ServiceInfo(
        name=name, instance_id=target.instance_id, remote_port=int(state["port"]),
        local_port=tunnel.local_port, tunnel_id=tunnel.id, pid=state.get("pid"),
        reused=reused, path=path, token=token,
    )


__all__ = [
    "ServiceInfo",
    "ServiceStartError",
    "forward",
    "start_jupyter",
    "start_tensorboard",
    "stop_service",
]
