"""One version everywhere: the installed distribution's metadata (read by hatch from
spheron_jupyter/__init__.py), ``spheron-jupyter --version`` and ``%spheron --version``."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import spheron_jupyter


def test_package_metadata_and_module_agree():
    assert importlib.metadata.version("spheron-jupyter") == spheron_jupyter.__version__
    assert spheron_jupyter.__version__.count(".") >= 2


def test_console_script_prints_its_version():
    script = Path(sys.executable).parent / "spheron-jupyter"
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"spheron-jupyter {spheron_jupyter.__version__}"
    assert "--version" in subprocess.run([str(script), "--help"], capture_output=True, text=True,
                                         timeout=60).stdout


def test_magic_prints_its_version(shell):
    out = shell.ok("%spheron --version")
    assert repr(out.result) == f"spheron-jupyter {spheron_jupyter.__version__}"
    assert "--version" in repr(shell.ok("%spheron help").result)
