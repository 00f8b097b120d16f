"""Kernelspecs for instances: written to, found in and removed from the user's Jupyter data dir.

One kernelspec per (instance, kernel name), in ``jupyter_data_dir()/kernels/<name>/kernel.json``
(``JUPYTER_DATA_DIR`` moves it, so tests stay isolated), which every frontend reads: JupyterLab's
launcher and picker, Notebook 7, nbclient/papermill, VS Code. The ``argv`` alone starts a working
kernel (``python -m spheron_jupyter.kernel --instance ID --host H --port P --user U -f FILE``),
so no frontend needs our metadata; ``metadata.spheron`` lets us find a spec again by
instance (for ``--remove`` and terminate) and ``metadata.kernel_provisioner`` has jupyter_client
frontends start it through provisioner.py, which adds reattaching after a server restart. Nothing secret goes in: the connection key reaches
the instance over SSH stdin at start (launcher.py), our SSH key is named by path only.

This module imports no session code: session/ calls ``remove_for_instance`` after a terminate.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from ..ssh.target import SshTarget

KERNEL_PREFIX = "spheron-"
# Jupyter accepts kernel names of ASCII letters, digits, '.', '_' and '-' (kernelspec.py).
_NAME_OK = re.compile(r"^[a-z0-9._-]+$")
_NAME_BAD_CHARS = re.compile(r"[^a-z0-9._-]+")
HOME_ENV = "SPHERON_JUPYTER_HOME"
PROVISIONER = "spheron-provisioner"  # provisioner.py, registered under this name in pyproject.toml


class KernelSpecError(ValueError):
    """A kernel name or spec that cannot be used; the message says what to do."""


@dataclass(frozen=True)
class KernelSpecInfo:
    """An installed kernelspec of ours."""

    name: str
    display_name: str
    instance_id: str
    instance_name: str | None
    path: Path
    python: str | None = None


def kernels_dir() -> Path:
    """Where user kernelspecs live (``$JUPYTER_DATA_DIR/kernels`` when that is set)."""
    from jupyter_core.paths import jupyter_data_dir

    return Path(jupyter_data_dir()) / "kernels"


def default_kernel_name(label: str) -> str:
    """``spheron-<label>`` made safe for Jupyter (lower case, [a-z0-9._-])."""
    cleaned = _NAME_BAD_CHARS.sub("-", label.lower()).strip("-.") or "instance"
    return (KERNEL_PREFIX + cleaned)[:64]


def check_kernel_name(name: str) -> str:
    if not _NAME_OK.match(name) or len(name) > 64:
        raise KernelSpecError(
            f"--name {name!r}: a kernel name may use only lower-case letters, digits, '.', '_' "
            "and '-' (at most 64); for example --name spheron-h100")
    return name


def display_name(label: str) -> str:
    return f"Spheron: {label} (GPU)"


def launcher_argv(target: SshTarget, python: str | None) -> list[str]:
    """The command a frontend runs; everything the launcher needs, nothing secret."""
    argv = [sys.executable, "-m", "spheron_jupyter.kernel",
            "--instance", target.instance_id, "--host", target.host,
            "--port", str(target.port), "--user", target.user]
    if python:
        argv += ["--python", python]
    return argv + ["-f", "{connection_file}"]


def install(target: SshTarget, *, label: str, kernel_name: str | None = None,
            python: str | None = None) -> KernelSpecInfo:
    """Write (or replace) the kernelspec for this instance; returns what was written."""
    name = check_kernel_name(kernel_name) if kernel_name else default_kernel_name(label)
    folder = kernels_dir() / name
    existing = _read(folder)
    if existing is not None and existing.instance_id != target.instance_id:
        raise KernelSpecError(
            f"kernel {name!r} already runs on instance {existing.instance_name or existing.instance_id}; "
            f"choose another --name, or remove it first with %spheron kernel "
            f"{existing.instance_name or existing.instance_id} --remove")
    spec = {
        "argv": launcher_argv(target, python),
        "display_name": display_name(label),
        "language": "python",
        # Interrupts travel as a message on the control channel (through the tunnel), so a
        # frontend never needs to signal a process on another machine.
        "interrupt_mode": "message",
        "env": _env(),
        "metadata": {"spheron": {"instance_id": target.instance_id, "instance_name": label,
                                 "python": python, "version": 1},
                     # JupyterLab, Notebook 7 and nbclient start it through our provisioner,
                     # which can reattach to a kernel a killed server left running
                     # (provisioner.py); frontends that run only the argv skip it.
                     "kernel_provisioner": {"provisioner_name": PROVISIONER, "config": {}}},
    }
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "kernel.json.tmp"
    tmp.write_text(json.dumps(spec, indent=1) + "\n")
    os.replace(tmp, folder / "kernel.json")
    _copy_logos(folder)
    return KernelSpecInfo(name, display_name(label), target.instance_id, label, folder, python)


def installed() -> list[KernelSpecInfo]:
    """Every kernelspec of ours in the user's kernels dir."""
    base = kernels_dir()
    if not base.is_dir():
        return []
    found = [_read(folder) for folder in sorted(base.iterdir())]
    return [info for info in found if info is not None]


def find_for_instance(instance_id: str) -> list[KernelSpecInfo]:
    return [info for info in installed() if info.instance_id == instance_id]


def remove(name: str) -> bool:
    """Remove one of our kernelspecs by name; False when there is none (others' are refused)."""
    folder = kernels_dir() / name
    if not folder.exists():
        return False
    if _read(folder) is None:
        raise KernelSpecError(f"kernel {name!r} was not made by %spheron kernel; leaving it alone")
    shutil.rmtree(folder)
    return True


def remove_for_instance(instance_id: str) -> list[str]:
    """Remove every kernelspec pointing at this instance (after it was terminated), and the
    records of kernels waiting there for a new Jupyter server (they hold keys)."""
    from . import detached

    detached.forget(instance_id)
    removed = []
    for info in find_for_instance(instance_id):
        shutil.rmtree(info.path, ignore_errors=True)
        removed.append(info.name)
    return removed


def _read(folder: Path) -> KernelSpecInfo | None:
    try:
        spec = json.loads((folder / "kernel.json").read_text())
        ours = spec["metadata"]["spheron"]
        return KernelSpecInfo(folder.name, spec.get("display_name", folder.name),
                              str(ours["instance_id"]), ours.get("instance_name"), folder,
                              ours.get("python"))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _env() -> dict[str, str]:
    """Our home dir (keys, pins, tunnel agent) when the user moved it, so the kernel finds them."""
    home = os.environ.get(HOME_ENV)
    return {HOME_ENV: home} if home else {}


def _copy_logos(folder: Path) -> None:
    """ipykernel's Python logos, so the launcher tile looks like a Python kernel's."""
    try:
        from ipykernel.kernelspec import RESOURCES
    except Exception:  # a missing logo is cosmetic
        return
    for logo in ("logo-32x32.png", "logo-64x64.png", "logo-svg.svg"):
        source = Path(RESOURCES) / logo
        if source.exists():
            shutil.copyfile(source, folder / logo)
