"""The hook between the REST app and whatever makes an instance reachable.

The REST app calls an :class:`InstanceRuntime` on lifecycle events; it never does SSH itself.
The default :class:`NoopRuntime` only invents connection details (127.0.0.1, a free port, the
provider's login user), which is what the REST side needs.  The SSH side replaces it with real
per-instance sandboxes: a module ``spheron_jupyter.emulator.sandbox`` exposing
``create_runtime(state_dir) -> InstanceRuntime`` is picked up by :func:`load_runtime` when the
runtime name is ``auto`` (the default) or ``sandbox``.

Every ``instance`` passed here is a plain dict copy of the stored deployment record: the public
fields plus ``cloudInit`` and ``sshPublicKey`` (the authorised key, inline or from the team's key).
Every ``volume`` is a dict copy of the volume record plus ``dataDir``: a directory under the
state dir that holds the volume's files.  Methods are called **without** the app's lock held, so a
slow runtime delays only the request or ticker that triggered it.
"""

from __future__ import annotations

import importlib
import socket
from pathlib import Path

# Providers whose images refuse root logins (seen on the live service); the rest log in as root.
UBUNTU_USER_PROVIDERS = frozenset({"voltage-park", "data-crunch", "verda", "massed-compute"})
# Providers whose deployment objects carry no `user` field although root is refused there
# (massed-compute, docs/spheron-api.md, "The deployment (instance) object"): clients must know
# the default.
NO_USER_FIELD_PROVIDERS = frozenset({"massed-compute"})


def login_user(provider: str) -> str:
    return "ubuntu" if provider in UBUNTU_USER_PROVIDERS else "root"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class InstanceRuntime:
    """What the REST app needs from instances.  Subclass and override what you implement."""

    def provision(self, instance: dict) -> tuple[str, int, str]:
        """Called right after a create commits; returns ``(ip, ssh_port, user)``."""
        raise NotImplementedError

    def boot(self, instance: dict) -> None:
        """Called when deploying ends (status is already ``running``): apply cloud-init here."""

    def resume(self, instance: dict) -> tuple[str, int, str] | None:
        """Called at emulator start for every instance that is still active after a restart.

        ``instance`` keeps its ``sshPort``/``user`` from before, so an endpoint can come back on
        the same port.  May return a new ``(ip, ssh_port, user)`` when it could not."""
        return None

    def stop(self, instance: dict) -> None:
        """Called once the instance is terminated, failed or reclaimed."""

    def attach(self, instance: dict, volume: dict) -> None:
        """Make ``volume['dataDir']`` visible inside the instance."""

    def detach(self, instance: dict, volume: dict) -> None:
        """Undo :meth:`attach`."""

    def drop_connections(self, instance: dict) -> None:
        """Cut every open SSH connection to the instance (the ``ssh-drop`` fault)."""

    def close(self) -> None:
        """Called once when the emulator shuts down."""


class NoopRuntime(InstanceRuntime):
    """Connection details only: nothing listens on the port it hands out."""

    def provision(self, instance: dict) -> tuple[str, int, str]:
        return "127.0.0.1", free_port(), login_user(instance.get("providerId", ""))


def load_runtime(name: str, state_dir: Path) -> InstanceRuntime:
    """``noop``: :class:`NoopRuntime`; ``sandbox``: the SSH sandboxes (error if missing);
    ``auto``: the sandboxes when their module exists, else no-op."""
    if name == "noop":
        return NoopRuntime()
    if name not in ("auto", "sandbox"):
        raise ValueError(f"unknown runtime {name!r}: choose auto, sandbox or noop")
    try:
        module = importlib.import_module("spheron_jupyter.emulator.sandbox")
        factory = module.create_runtime
    except (ImportError, AttributeError):
        if name == "sandbox":
            raise
        return NoopRuntime()
    return factory(state_dir)
