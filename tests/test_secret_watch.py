"""The suite-wide API key watch (tests/fixtures/secret_watch.py) really catches a leak.

An inner pytest run in a subprocess loads only that fixture module and runs tests that leak an
emulator's key (not registered for redaction, so nothing masks it) into a debug log record and
into an error, beside one clean test; the leaking tests must fail at teardown without printing
the key, and the clean one must pass.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

INNER_TESTS = '''
import logging
from pathlib import Path

from spheron_jupyter.client import ServiceUnavailableError
from spheron_jupyter.emulator.process import EmulatorProcess

KEY = "sai_pk_emu_" + "q" * 30


def emulator():
    return EmulatorProcess("http://127.0.0.1:9", KEY, Path("."), 1)


def test_leaks_into_a_debug_record():
    emulator()
    logging.getLogger("spheron_jupyter.client").debug("sending with %s", KEY)


def test_leaks_into_an_error():
    emulator()
    try:
        raise ServiceUnavailableError(f"the server said {KEY}")
    except ServiceUnavailableError:
        pass


def test_clean():
    emulator()
    logging.getLogger("spheron_jupyter.client").debug("sending with %s", "a masked key")
'''


def test_the_watch_fails_a_leaking_test_and_passes_a_clean_one(tmp_path):
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["tests.fixtures.secret_watch"]\n')
    (tmp_path / "test_inner.py").write_text(INNER_TESTS)
    env = {**os.environ, "PYTHONPATH": str(REPO), "SPHERON_JUPYTER_HOME": str(tmp_path / "home")}
    env.pop("PYTEST_ADDOPTS", None)
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "-o", "addopts=", "--show-capture=no", str(tmp_path)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    out = result.stdout + result.stderr
    assert "3 passed, 2 errors" in out, out  # errors: the two leaking teardowns
    assert "log record of spheron_jupyter.client (DEBUG) holds API key sai_pk_…qqqq" in out
    assert "ServiceUnavailableError text holds API key sai_pk_…qqqq" in out
    assert "q" * 30 not in out  # the report names the key masked only
