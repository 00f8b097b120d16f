"""The session's door into ssh/ for what needs an instance view: the pin lookup, login users,
targets (``target_for``, which the GPU views outside session/ use too), readiness and the tunnel
agent. paramiko loads only when one of these runs (each imports its ssh module on first use);
other calls go to ssh/ directly, lazily.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from .errors import InstanceNotRunningError
from .views import InstanceView

if TYPE_CHECKING:
    from ..ssh.target import SshTarget
    from ..ssh.tunnel import TunnelAgentClient


# -- host keys -------------------------------------------------------------------------------
def host_fingerprint(instance_id: str) -> str | None:
    from ..ssh.hostkeys import KnownHosts

    return KnownHosts().lookup_fingerprint(instance_id)


# -- targets and readiness -------------------------------------------------------------------
def login_users(view: InstanceView) -> list[str]:
    """Who to log in as, in order: the one that worked before, else client/providers.py's
    candidates (the deployment's ``user``, the provider's default, ``ubuntu``, ``root``)."""
    from ..client.providers import ssh_users

    if view.user:
        return [view.user]
    return ssh_users(view.raw) if view.raw is not None else ["ubuntu", "root"]


def target_for(view: InstanceView, user: str | None = None) -> SshTarget:
    if view.status != "running":
        raise InstanceNotRunningError(
            f"instance {view.name or view.id} is {view.status}, not running"
            + (": wait for it (%spheron status)" if view.status == "deploying" else "")
        )
    if not view.ip:
        raise InstanceNotRunningError(f"instance {view.name or view.id} has no address yet")
    from ..ssh.keys import ensure_user_key
    from ..ssh.target import SshTarget

    return SshTarget(host=view.ip, port=int(view.ssh_port or 22),
                     user=user or login_users(view)[0], instance_id=view.id,
                     key_path=ensure_user_key().path)


def wait_ssh_ready(view: InstanceView, *, pinned: bool, poll: float,
                   timeout: float = 180.0) -> tuple[str, str]:
    """Log in once (the first connection pins a TOFU key): (host key fingerprint, the user
    that logged in). A refused user costs one attempt, then the next candidate is tried."""
    from ..ssh.connection import open_transport
    from ..ssh.errors import SshAuthError, SshUnreachableError

    users = login_users(view)
    deadline = time.monotonic() + timeout
    while True:
        for user in users:
            try:
                open_transport(target_for(view, user), tofu_consent=not pinned,
                               timeout=10.0).close()
                return host_fingerprint(view.id) or "?", user
            except SshAuthError as exc:
                error: Exception = exc  # the next user may be the one (massed-compute: ubuntu)
            except SshUnreachableError as exc:
                error = exc  # sshd restarts with our host key during boot: keep trying
                break
        if time.monotonic() > deadline:
            raise InstanceNotRunningError(f"SSH to {view.name or view.id} did not come up "
                               f"(tried {', '.join(users)}): {error}") from None
        time.sleep(min(2.0, poll))


# -- tunnels and services --------------------------------------------------------------------
def tunnel_client() -> TunnelAgentClient:
    from ..ssh.tunnel import TunnelAgentClient

    return TunnelAgentClient()
