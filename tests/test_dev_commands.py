"""README's two commands (`./dev demo`, `./dev test`), `.ci/run` and the console script.

The fresh-clone tests `git clone` this repository's HEAD into a temporary directory and run
README's test command there, exactly as typed.  Only the package download is spared: the
clone's `.venv` is a thin venv over this checkout's installed dependencies (its own
`pyvenv.cfg`, its `.installed` stamp matching the clone's pyproject.toml and labextension
sources), so `./dev` finds its environment ready and imports the clone's own code.  `./dev demo` itself is run end to end by
test_demo.py (the same `spheron_jupyter.demo` entry point).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def fresh_clone(tmp_path_factory):
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs git and a git checkout")
    missing = [p for p in ("/usr/sbin/sshd", "/usr/bin/chromium") if not Path(p).exists()]
    if missing:  # ./dev test would try to apt-get them: not from inside a test run
        pytest.skip(f"./dev test would install {missing} first")
    clone = tmp_path_factory.mktemp("fresh") / "spheron-jupyter"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True, timeout=120)
    venv = Path(sys.prefix)
    (clone / ".venv" / "bin").mkdir(parents=True)
    (clone / ".venv" / "bin" / "python").symlink_to(Path(sys.executable))
    (clone / ".venv" / "lib").symlink_to(venv / "lib")
    shutil.copy(venv / "pyvenv.cfg", clone / ".venv" / "pyvenv.cfg")
    stamped = [clone / name for name in ("pyproject.toml", "labextension/package.json",
                                         "labextension/yarn.lock", "labextension/tsconfig.json")]
    stamped += sorted((p for d in ("src", "style") for p in (clone / "labextension" / d).rglob("*")
                       if p.is_file()), key=lambda p: str(p.relative_to(clone)))
    stamp = hashlib.sha256(b"".join(p.read_bytes() for p in stamped)).hexdigest()  # as ./dev
    (clone / ".venv" / ".installed").write_text(stamp + "\n")
    return clone


def run_in(clone: Path, *argv: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTHONPATH")}
    return subprocess.run(list(argv), cwd=clone, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_ci_runs_exactly_readme_test_command():
    ci = REPO / ".ci" / "run"
    assert os.access(ci, os.X_OK) and os.access(REPO / "dev", os.X_OK)
    commands = [line.strip() for line in ci.read_text().splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    assert commands[-2:] == ["./dev lint", "./dev test"]  # the linters first, then README's command
    assert not [c for c in commands[:-2] if "pytest" in c or "dev" in c.split()]
    readme = (REPO / "README.md").read_text()
    assert "./dev demo" in readme and "./dev test" in readme


def test_fresh_clone_collects_the_whole_suite_with_readme_command(fresh_clone):
    result = run_in(fresh_clone, "./dev", "test", "--collect-only", "-q", "-p", "no:cacheprovider")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    collected = [line for line in result.stdout.splitlines() if "::" in line]
    assert len(collected) > 500
    assert {line.split("::")[0] for line in collected} >= {
        "tests/test_client_emulator.py", "tests/test_emulator_deployments.py",
        "tests/test_demo.py", "tests/test_config_credentials.py"}
    assert "tests collected" in result.stdout.strip().splitlines()[-1]


def test_fresh_clone_passes_readme_test_command(fresh_clone):
    """A slice of the suite through `./dev test ARGS` in the clone, on the clone's own code."""
    result = run_in(fresh_clone, "./dev", "test", "tests/test_public_names.py",
                    "tests/test_cli.py", "tests/test_emulator_persistence.py", "-q",
                    "-p", "no:cacheprovider")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout and "failed" not in result.stdout
    where = run_in(fresh_clone, ".venv/bin/python", "-c",
                   "import spheron_jupyter; print(spheron_jupyter.__file__)")
    assert where.stdout.strip() == str(fresh_clone / "spheron_jupyter" / "__init__.py")


def test_dev_without_a_command_says_how_to_use_it(fresh_clone):
    result = run_in(fresh_clone, "./dev")
    assert result.returncode == 2
    assert result.stderr.strip() == "usage: ./dev demo | ./dev test [pytest args] | ./dev lint [--fix]"


def test_console_script_is_installed_and_routes():
    scripts = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="console_scripts")}
    assert scripts.get("spheron-jupyter") == "spheron_jupyter.cli:main"
    script = Path(sys.executable).parent / "spheron-jupyter"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for name in ("emulator", "demo", "sphnctl", "tunnel-agent"):
        assert name in result.stdout
