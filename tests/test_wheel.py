"""The wheel a packager builds, and a fresh venv that installs it.

- From a copy of this tree in which the editable (development) build of the Lab extension exists,
  ``pip wheel`` must ship the production build, once (shared data, not package data too): no
  source map, no build_log.json. Built with ``--no-build-isolation`` (this venv has hatchling and
  jupyterlab) so the test needs no download; hatch_build.py runs exactly as in an isolated build.
- Without Node.js on PATH, building from a checkout fails with one line saying what to install.
- A fresh venv (no system site-packages) installs that wheel and runs ``spheron-jupyter demo``
  from the current directory: the executed copy lands there and is named, and ``pip freeze`` of
  the venv is the same before and after (what an instance installs stays in the instance).
"""

from __future__ import annotations

import email
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import spheron_jupyter

REPO = Path(__file__).resolve().parent.parent
BUILT = REPO / "spheron_jupyter" / "labextension"
DEV_ONLY = (".js.map", "build_log.json")
NEEDS_NODE = "needs Node.js 20+ on PATH"
SHARE = f"spheron_jupyter-{spheron_jupyter.__version__}.data/data/share/jupyter/labextensions/spheron-jupyter/"


def _copy_checkout(dest: Path) -> Path:
    """The files of this checkout (tracked and new, not ignored), as a packager's clone has."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO, capture_output=True, check=True, timeout=60).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = REPO / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


def _build_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def _pip_wheel(tree: Path, dist: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "--no-cache-dir", "-w", str(dist), str(tree)],
                          env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    """A copy of this checkout with ./dev's state: node_modules and the development build."""
    if shutil.which("git") is None or shutil.which("node") is None:
        pytest.skip("needs git and Node.js (building the Lab extension)")
    tree = _copy_checkout(tmp_path_factory.mktemp("checkout"))
    for folder in ("node_modules", ".yarn"):  # what ./dev's install left: no download needed
        if (REPO / "labextension" / folder).is_dir():
            shutil.copytree(REPO / "labextension" / folder, tree / "labextension" / folder,
                            symlinks=True)
    env = _build_env()
    # The state a developer's tree is in after ./dev: the development build in place.
    if BUILT.is_dir() and any(BUILT.rglob("*.js.map")):
        shutil.copytree(BUILT, tree / "spheron_jupyter" / "labextension")
    else:
        subprocess.run(["jlpm", "install"], cwd=tree / "labextension", env=env, check=True,
                       capture_output=True, timeout=600)
        subprocess.run(["jlpm", "run", "build"], cwd=tree / "labextension", env=env, check=True,
                       capture_output=True, timeout=600)
    dev_build = tree / "spheron_jupyter" / "labextension"
    assert any(dev_build.rglob("*.js.map")) and (dev_build / "build_log.json").is_file()
    return tree


@pytest.fixture(scope="module")
def wheel(checkout, tmp_path_factory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    result = _pip_wheel(checkout, dist, _build_env())
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (built,) = dist.glob("spheron_jupyter-*.whl")
    return built


@pytest.mark.slow
def test_the_wheel_ships_the_production_extension_once(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert not [n for n in names if n.endswith(DEV_ONLY)]
    static = [n for n in names if n.startswith(SHARE + "static/")]
    assert any("/remoteEntry." in n for n in static) and SHARE + "package.json" in names
    assert SHARE + "install.json" in names
    assert not [n for n in names if n.startswith("spheron_jupyter/labextension/")]  # once
    with zipfile.ZipFile(wheel) as archive:
        for name in static:
            if name.endswith(".js"):
                assert not re.search(rb"//# sourceMappingURL=\S+\.map", archive.read(name)), name
        entry = next(n for n in static if "/remoteEntry." in n)
        assert archive.read(entry).count(b"\n") < 20  # minified, not the development build
        meta = email.message_from_bytes(archive.read(
            f"spheron_jupyter-{spheron_jupyter.__version__}.dist-info/METADATA"))
    assert meta["License-Expression"] == "Apache-2.0"
    assert "Framework :: Jupyter :: JupyterLab :: Extensions :: Prebuilt" in meta.get_all("Classifier")
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "spheron_jupyter/py.typed" in names
    assert "spheron_jupyter/examples/quickstart.ipynb" in names
    assert not [n for n in names if n.endswith(".executed.ipynb")]
    assert any(n.endswith("etc/jupyter/jupyter_server_config.d/spheron_jupyter.json") for n in names)


@pytest.mark.slow  # a pip build: seconds, not the fast tier
def test_building_from_a_checkout_without_node_is_one_line(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("needs git")
    tree = _copy_checkout(tmp_path / "checkout")
    env = _build_env()
    env["PATH"] = str(Path(sys.executable).parent)  # python, pip, jlpm: but no node
    assert shutil.which("node", path=env["PATH"]) is None
    result = _pip_wheel(tree, tmp_path / "dist", env)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    ours = [line for line in output.splitlines() if NEEDS_NODE in line]
    assert len(ours) == 1 and "apt-get install nodejs" in ours[0], output[-3000:]
    assert "Traceback" not in output and "CalledProcessError" not in output
    assert not list((tmp_path / "dist").glob("*.whl"))


@pytest.mark.slow
def test_a_fresh_venv_runs_the_demo_from_the_wheel_and_keeps_its_packages(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTEST_ADDOPTS", "VIRTUAL_ENV", "SPHERON_JUPYTER_HOME")}
    env["PATH"] = str(venv / "bin") + os.pathsep + env.get("PATH", "")
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", str(wheel)], env=env,
                             capture_output=True, text=True, timeout=1200)
    assert install.returncode == 0, install.stderr[-3000:]

    def freeze() -> list[str]:
        return subprocess.run([str(python), "-m", "pip", "freeze", "--all"], env=env, check=True,
                              capture_output=True, text=True, timeout=120).stdout.splitlines()

    before = freeze()
    assert any(line.startswith("spheron-jupyter") for line in before)
    labext = subprocess.run([str(venv / "bin" / "jupyter"), "labextension", "list"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert "spheron-jupyter" in labext.stdout + labext.stderr
    user_dir = tmp_path / "work"
    user_dir.mkdir()
    demo = subprocess.run([str(venv / "bin" / "spheron-jupyter"), "demo"], cwd=user_dir, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=1200)
    assert demo.returncode == 0, demo.stdout[-4000:] + demo.stderr[-4000:]
    executed = user_dir / "quickstart.executed.ipynb"
    assert f"Executed notebook: {executed}" in demo.stdout and executed.is_file()
    assert "without encryption" not in demo.stdout + demo.stderr
    assert freeze() == before  # what the instance installed (tensorboard...) stayed in the instance


@pytest.mark.slow
def test_the_sdist_carries_the_production_build_and_its_wheel_needs_no_node(checkout, wheel, tmp_path):
    """hatchling's own sdist entry point on the checkout (the dev build restored first), then
    `pip wheel` of the unpacked sdist with no Node on PATH."""
    if BUILT.is_dir() and any(BUILT.rglob("*.js.map")):
        shutil.rmtree(checkout / "spheron_jupyter" / "labextension")
        shutil.copytree(BUILT, checkout / "spheron_jupyter" / "labextension")
    env = _build_env()
    made = subprocess.run([sys.executable, "-c", "from hatchling.build import build_sdist; "
                           f"print(build_sdist({str(tmp_path / 'sdist')!r}))"],
                          cwd=checkout, env=env, capture_output=True, text=True, timeout=900)
    assert made.returncode == 0, made.stdout[-3000:] + made.stderr[-3000:]
    (sdist,) = (tmp_path / "sdist").glob("spheron_jupyter-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
        archive.extractall(tmp_path / "unpacked")  # our own archive, just built
    root = names[0].split("/")[0]
    assert f"{root}/spheron_jupyter/labextension/package.json" in names
    assert not [n for n in names if n.endswith(DEV_ONLY) or "/node_modules/" in n]
    env["PATH"] = str(Path(sys.executable).parent)  # no node
    result = _pip_wheel(tmp_path / "unpacked" / root, tmp_path / "dist", env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (built,) = (tmp_path / "dist").glob("*.whl")
    from_sdist = zipfile.ZipFile(built).namelist()
    assert sorted(n for n in from_sdist if n.startswith(SHARE)) == sorted(
        n for n in zipfile.ZipFile(wheel).namelist() if n.startswith(SHARE))
