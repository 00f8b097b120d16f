"""Where spheron-jupyter keeps its files.

Everything we write lives under platformdirs' per-user directories for the app
``spheron-jupyter``.  Setting ``SPHERON_JUPYTER_HOME`` moves all four directories under one
root (``config``, ``data``, ``state``, ``run``); the test suite always sets it so no test can
touch a real user's key, ledger or known-hosts file.

Each function creates its directory (mode 0700: these hold keys, tokens and sockets) and
returns it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import platformdirs

APP_NAME = "spheron-jupyter"
HOME_ENV = "SPHERON_JUPYTER_HOME"

__all__ = [
    "APP_NAME",
    "HOME_ENV",
    "config_dir",
    "data_dir",
    "ensure_private_dir",
    "runtime_dir",
    "state_dir",
]


def config_dir() -> Path:
    """Settings and the API key file."""
    return _resolve("config", platformdirs.user_config_dir)


def data_dir() -> Path:
    """Durable records: the ledger, our known-hosts file, generated SSH keys."""
    return _resolve("data", platformdirs.user_data_dir)


def state_dir() -> Path:
    """Things worth keeping but cheap to lose: log cursors, caches."""
    return _resolve("state", platformdirs.user_state_dir)


def runtime_dir() -> Path:
    """Sockets and pid files of helper processes (the tunnel agent)."""
    if os.environ.get(HOME_ENV) or os.environ.get("XDG_RUNTIME_DIR") or os.name != "posix" \
            or _is_macos():
        return _resolve("run", platformdirs.user_runtime_dir)
    # Headless Linux (ssh sessions, containers, JupyterHub) often has no XDG_RUNTIME_DIR, where
    # platformdirs warns (into the notebook cell) and falls back to /tmp/runtime-UID, a path any
    # local user could have created first. Our own state dir is private and always there.
    return ensure_private_dir(state_dir() / "run")


def _is_macos() -> bool:
    import sys

    return sys.platform == "darwin"


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) and make sure only the owner can enter it."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        # mkdir's mode is filtered by the umask and ignored for existing dirs; this dir is
        # ours alone, so tightening it is always right.
        path.chmod(0o700)
    return path


def _resolve(kind: str, platform_func) -> Path:
    root = os.environ.get(HOME_ENV)
    if root:
        path = Path(root).expanduser() / kind
    else:
        path = Path(platform_func(APP_NAME, appauthor=False))
    return ensure_private_dir(path)
