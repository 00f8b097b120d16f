"""Build hook: the JupyterLab extension (labextension/) built fresh for every wheel and sdist.

A release must not depend on the state of the tree it is built from: a tree where ``./dev`` ran
holds the *development* build (unminified, source maps, build_log.json) in
spheron_jupyter/labextension, so a wheel or sdist target always rebuilds it with ``build:prod``
(whose first step cleans that directory). An editable install (``./dev``) gets the development
build. Building from an unpacked sdist (it has PKG-INFO) uses the production build the sdist
ships, so installing from the sdist or the wheel needs no Node.js.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

NEEDS_NODE = ("spheron-jupyter: building from a git checkout builds the JupyterLab extension, which "
              "needs Node.js 20+ on PATH (e.g. `apt-get install nodejs`); the sdist and the wheel "
              "need no Node.")
# What a production build must not ship (development build leftovers).
DEV_ONLY = ("*.js.map", "build_log.json")


class LabExtensionBuildHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict) -> None:
        root = Path(self.root)
        output = root / "spheron_jupyter" / "labextension"
        if self.target_name == "wheel" and version != "editable":
            self._examples(root, build_data)
        if (root / "PKG-INFO").is_file():  # an unpacked sdist: it carries its production build
            if not (output / "package.json").is_file():
                raise SystemExit(f"spheron-jupyter: this sdist lacks the built JupyterLab "
                                 f"extension ({output}); build it from a git checkout with Node.js")
            return
        node = shutil.which("node")
        if node is None:
            raise SystemExit(NEEDS_NODE)
        major = _node_major(node)
        if major is not None and major < 20:
            raise SystemExit(NEEDS_NODE.replace("on PATH", f"on PATH (found Node.js {major})"))
        development = version == "editable"
        self._jlpm(root, "install")
        self._jlpm(root, "run", "build" if development else "build:prod")
        if not development:
            for pattern in DEV_ONLY:  # build:prod cleans first; the log is written by every build
                for leftover in output.rglob(pattern):
                    leftover.unlink()

    def _examples(self, root: Path, build_data: dict) -> None:
        """examples/*.ipynb as package data, for ``spheron-jupyter demo`` from an installed wheel."""
        for notebook in sorted((root / "examples").glob("*.ipynb")):
            if not notebook.name.endswith(".executed.ipynb"):  # ./dev demo's outputs stay here
                build_data["force_include"][str(notebook)] = f"spheron_jupyter/examples/{notebook.name}"

    def _jlpm(self, root: Path, *args: str) -> None:
        scripts = str(Path(sys.executable).parent)  # jlpm and jupyter of the build environment
        env = {**os.environ, "PATH": scripts + os.pathsep + os.environ.get("PATH", "")}
        jlpm = shutil.which("jlpm", path=env["PATH"])
        command = [jlpm] if jlpm else [sys.executable, "-c",
                                       "import sys; from jupyterlab.jlpmapp import main; sys.exit(main())"]
        self.app.display_info(f"labextension: jlpm {' '.join(args)}")
        result = subprocess.run([*command, *args], cwd=root / "labextension", env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if result.returncode:
            tail = "\n".join(result.stdout.strip().splitlines()[-30:])
            raise SystemExit(f"{tail}\nspheron-jupyter: `jlpm {' '.join(args)}` in labextension/ "
                             f"failed (exit {result.returncode}); its last lines are above")


def _node_major(node: str) -> int | None:
    try:
        text = subprocess.run([node, "--version"], capture_output=True, text=True,
                              timeout=30).stdout.strip()
        return int(text.lstrip("v").split(".")[0])
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
