"""The session's only door into ssh/: keys, host-key pins, readiness, tunnels, services, exec, logs.

Everything that depends on the exact shape of the ssh layer is here, so the rest of session/
speaks in instances and views. paramiko is imported only when one of these runs.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from collections.abc import Callable, Iterator

from .errors import InstanceNotRunningError, LayerMissingError, SessionError


def _ssh(module: str):
    import importlib

    try:
        return importlib.import_module(f"spheron_jupyter.ssh.{module}")
    except ImportError as exc:
        raise LayerMissingError(
            f"this build has no ssh.{module} yet ({exc.name}): the command cannot run"
        ) from None


# -- keys ------------------------------------------------------------------------------------
def ensure_registered(client: Any) -> str:
    """Our ed25519 user key, registered once with the API; returns its key id."""
    keys = _ssh("keys")
    registered = keys.ensure_registered(client)
    return str(getattr(registered, "id", registered))


def user_key_path() -> Path:
    keys = _ssh("keys")
    found = keys.ensure_user_key()
    return Path(getattr(found, "private_path", None) or getattr(found, "path", None) or found)


# -- host keys -------------------------------------------------------------------------------
def prepare_host_key(name: str) -> tuple[str, str]:
    """A fresh host key for a cloud-init offer: (private text, public line). Pinned after create."""
    return _ssh("hostkeys").make_host_key()


def host_key_cloud_init(pin: tuple[str, str]) -> dict:
    return _ssh("hostkeys").host_key_cloud_init(*pin)


def pin_host_key(pin: tuple[str, str], instance_id: str) -> str:
    return _ssh("hostkeys").KnownHosts().pin(instance_id, pin[1])


def discard_host_key(pin: tuple[str, str]) -> None:
    """Nothing was pinned before the create; the private half simply goes out of scope."""


def forget_host_key(instance_id: str) -> None:
    try:
        _ssh("hostkeys").KnownHosts().forget(instance_id)
    except LayerMissingError:
        pass


def known_hosts_path() -> Path:
    return Path(_ssh("hostkeys").default_known_hosts_path())


def host_fingerprint(instance_id: str) -> str | None:
    return _ssh("hostkeys").KnownHosts().lookup_fingerprint(instance_id)


# -- targets and readiness -------------------------------------------------------------------
def target_for(view: Any) -> Any:
    if view.status != "running":
        raise InstanceNotRunningError(
            f"instance {view.name or view.id} is {view.status}, not running"
            + (": wait for it (%spheron status)" if view.status == "deploying" else "")
        )
    if not view.ip:
        raise InstanceNotRunningError(f"instance {view.name or view.id} has no address yet")
    from ..ssh.target import SshTarget

    return SshTarget(host=view.ip, port=int(view.ssh_port or 22), user=view.user or "root",
                     instance_id=view.id, key_path=user_key_path())


def wait_ssh_ready(session: Any, view: Any, *, pinned: bool, timeout: float = 180.0) -> str:
    """Log in once (the first connection pins a TOFU key); returns the host key fingerprint."""
    connection = _ssh("connection")
    errors = _ssh("errors")
    target = target_for(view)
    deadline = time.monotonic() + timeout
    while True:
        try:
            transport = connection.open_transport(target, tofu_consent=not pinned, timeout=10.0)
            transport.close()
            return host_fingerprint(view.id) or "?"
        except (errors.SshUnreachableError, errors.SshAuthError) as exc:
            # sshd restarts with our host key during boot, and keys land late: keep trying.
            if time.monotonic() > deadline:
                raise SessionError(f"SSH to {view.name or view.id} did not come up: {exc}") from None
            time.sleep(min(2.0, session.poll_interval))


def wait_startup(target: Any, *, timeout: float = 3600.0) -> str:
    """Wait for cloud-init (and so the startup script) to finish; returns its status word.

    ``cloud-init status --wait`` exists on Ubuntu images and on the emulator's instances;
    where it does not, "unknown" (the launch goes on: the script's log still tells).
    """
    remote = _ssh("remote")
    conn = _ssh("connection").Connection.open(target, tofu_consent=False, timeout=15.0)
    try:
        result = remote.capture(conn, "cloud-init status --wait 2>/dev/null || true",
                                timeout=timeout)
    finally:
        conn.close()
    text = result.stdout.decode("utf-8", "replace")
    for line in text.splitlines():
        if line.strip().startswith("status:"):
            return line.split(":", 1)[1].strip() or "unknown"
    return "unknown"


# -- tunnels and services --------------------------------------------------------------------
def tunnel_client() -> Any:
    return _ssh("tunnel").TunnelAgentClient()


def start_service(kind: str, target: Any, *, local_port: int | None = None,
                  logdir: str | None = None,
                  progress: Callable[[str, str], None] | None = None) -> Any:
    """Jupyter/TensorBoard on the instance's 127.0.0.1 plus its tunnel; reused when running.

    Returns ssh.services.ServiceInfo (remote_port, local_port, tunnel_id, reused, path, token).
    """
    services = _ssh("services")
    say = (lambda line: progress(kind, line)) if progress else None
    if kind == "jupyter":
        return services.start_jupyter(target, local_port=local_port, progress=say)
    extra = {"logdir": logdir} if logdir else {}
    return services.start_tensorboard(target, local_port=local_port, progress=say, **extra)


# -- exec and logs ---------------------------------------------------------------------------
def run_command(target: Any, command: str, on_output: Callable[[str, str], None]) -> int:
    """Run ``command`` on the instance, streaming (stream, text) pairs; returns the exit code.

    A KeyboardInterrupt (the notebook's stop button) stops the remote process group and
    propagates, so the caller can end the cell cleanly.
    """
    remote = _ssh("remote")
    conn = _ssh("connection").Connection.open(target, tofu_consent=False, timeout=15.0)
    try:
        return remote.run(conn, command,
                          on_stdout=lambda text: on_output("stdout", text),
                          on_stderr=lambda text: on_output("stderr", text))
    finally:
        conn.close()


def log_lines(target: Any, *, source: str, name: str | None, follow: bool, tail: int | None,
              cursor: str | None, on_cursor: Callable[[str], None]) -> Iterator[str]:
    logs = _ssh("logs")
    return logs.stream(target, source=source, name=name, follow=follow, tail=tail,
                       cursor=cursor, on_cursor=on_cursor)
