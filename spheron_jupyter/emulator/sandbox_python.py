"""An emulated instance's own Python: a venv under its root that sees the emulator's packages.

Commands on an emulated instance run on this machine, so without this ``python3 -m pip install``
in a startup script would install into whatever environment runs the emulator (the user's own
venv). Each instance instead gets ``<root>/opt/spheron-python``:

- a venv (no pip of its own: creating one takes milliseconds, not seconds) whose
  ``site-packages`` holds a ``.pth`` that adds the emulator's site-packages *after* its own, so
  jupyter, tensorboard and numpy are importable as on a prepared image, and whatever the
  instance installs lands in (and shadows from) its own site-packages;
- in its ``bin``, a copy of every console script of the emulator's environment (pip, jupyter,
  tensorboard, ...) re-pointed at the venv's interpreter, so ``pip install`` run any way
  (``pip``, ``pip3``, ``python3 -m pip``) installs into the instance, and a Jupyter or kernel
  started there runs on the instance's Python too.

The instance's PATH (sandbox.py) names this ``bin`` and never the emulator's own bin directory.
pip itself comes from the emulator's site-packages; it installs into ``sys.prefix``, the venv.
"""

from __future__ import annotations

import os
import re
import sys
import sysconfig
import venv
from pathlib import Path

PYTHON_DIR = "opt/spheron-python"
_PTH_NAME = "spheron-emulator-packages.pth"
_SKIPPED = ("activate", "python", "Activate")


def emulator_site_dirs() -> list[str]:
    """The emulator's own package directories (its venv's, or the system's and the user's)."""
    dirs = [sysconfig.get_path("purelib"), sysconfig.get_path("platlib")]
    dirs += [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
    return [d for d in dict.fromkeys(dirs) if d and os.path.isdir(d)]


def emulator_bin_dirs() -> list[str]:
    """Where the emulator's interpreter and console scripts live (never on an instance's PATH)."""
    dirs = [os.path.dirname(sys.executable), sysconfig.get_path("scripts")]
    return [d for d in dict.fromkeys(dirs) if d]


def emulator_data_env() -> dict[str, str]:
    """Where a Jupyter started on the instance finds JupyterLab's assets and labextensions,
    which live under the emulator's prefix, not under the venv's (data only: never config)."""
    data = os.path.join(sys.prefix, "share", "jupyter")
    env = {"JUPYTER_PATH": data}
    if os.path.isdir(os.path.join(data, "lab")):
        env["JUPYTERLAB_DIR"] = os.path.join(data, "lab")
    return env


def ensure(root: Path) -> Path:
    """Create (or refresh) the instance's Python under ``root``; returns its ``bin`` dir."""
    home = root / PYTHON_DIR
    bin_dir = home / "bin"
    if not (bin_dir / "python3").exists():
        venv.EnvBuilder(symlinks=os.name != "nt", with_pip=False, clear=False).create(str(home))
    site_packages = _site_packages(home)
    lines = "".join(f"import site; site.addsitedir({d!r})\n" for d in emulator_site_dirs())
    (site_packages / _PTH_NAME).write_text(lines)
    _copy_console_scripts(bin_dir)
    return bin_dir


def _site_packages(home: Path) -> Path:
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    path = home / "lib" / version / "site-packages"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _interpreter_pattern() -> re.Pattern[bytes]:
    """The emulator's interpreter as a script names it: ``<bin dir>/python[3[.11]]`` or the
    real path behind it."""
    names = [re.escape(d.encode()) + rb"/python[0-9.]*" for d in emulator_bin_dirs()]
    names.append(re.escape(os.path.realpath(sys.executable).encode()))
    return re.compile(rb"(?:" + rb"|".join(names) + rb")(?=[\s'\"]|$)")


def _copy_console_scripts(bin_dir: Path) -> None:
    """Copy every script whose first lines name the emulator's interpreter, re-pointed at the
    instance's (the long-path ``#!/bin/sh`` + ``'''exec'`` form included)."""
    target = str(bin_dir / "python3").encode()
    interpreter = _interpreter_pattern()
    for directory in emulator_bin_dirs():
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith(_SKIPPED) or not entry.is_file():
                continue
            try:
                with open(entry.path, "rb") as handle:
                    head = handle.read(2)
                    if head != b"#!":
                        continue
                    text = head + handle.read()
            except OSError:
                continue
            first, _, rest = text.partition(b"\n")
            second, _, tail = rest.partition(b"\n")
            top = first + b"\n" + second
            top, count = interpreter.subn(lambda _: target, top)
            if not count:
                continue
            destination = bin_dir / entry.name
            destination.write_bytes(top + b"\n" + tail)
            destination.chmod(0o755)
