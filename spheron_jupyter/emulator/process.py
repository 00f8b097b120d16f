"""Start and find emulator processes from the parent side (notebook, tests, demo).

Imports nothing of the app but ``config.processes`` (standard library only), so it is cheap to
import anywhere.  The emulator runs as its own process (``python -m spheron_jupyter emulator``)
because a busy kernel thread would starve it.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from ..config.processes import pid_alive

READY_URL_PREFIX = "Spheron emulator at "
READY_KEY_PREFIX = "API key: "


class EmulatorError(RuntimeError):
    pass


class EmulatorProcess:
    """A running emulator: ``url``, ``api_key``, ``state_dir``, ``pid``; ``stop()`` ends it."""

    def __init__(self, url: str, api_key: str, state_dir: Path, pid: int,
                 popen: subprocess.Popen | None = None):
        self.url = url
        self.api_key = api_key
        self.state_dir = Path(state_dir)
        self.pid = pid
        self._popen = popen

    def __repr__(self) -> str:  # never show the key
        return f"EmulatorProcess(url={self.url!r}, pid={self.pid}, state_dir={str(self.state_dir)!r})"

    @property
    def running(self) -> bool:
        if self._popen is not None:
            return self._popen.poll() is None
        return pid_alive(self.pid)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, wait, then SIGKILL if it did not stop.  Safe to call twice."""
        if not self.running:
            return
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        if self._popen is not None:
            try:
                self._popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self._popen.kill()
                self._popen.wait(5)
            return
        deadline = time.monotonic() + timeout
        while pid_alive(self.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid_alive(self.pid):
            os.kill(self.pid, signal.SIGKILL)

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _duration_arg(value) -> str:
    return f"{value:g}s" if isinstance(value, (int, float)) else str(value)


def start_emulator(state_dir, *, boot_seconds=2.0, minimum_runtime="20m", faults=None, port=0,
                   timeout=30, host="127.0.0.1", runtime="auto", verbose=False,
                   rate_limit=None) -> EmulatorProcess:
    """Start ``spheron-jupyter emulator`` on ``state_dir`` and wait for its two ready lines.

    ``rate_limit``: the general limit as ``N/DURATION`` or ``off`` (default: the live figure,
    100/15m).  Its stderr goes to ``STATE/emulator.log``."""
    state_dir = Path(state_dir).resolve()
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    command = [sys.executable, "-m", "spheron_jupyter", "emulator", "--host", host,
               "--port", str(port), "--state", str(state_dir),
               "--boot-seconds", _duration_arg(boot_seconds),
               "--minimum-runtime", _duration_arg(minimum_runtime), "--runtime", runtime]
    if faults:
        command += ["--faults", faults]
    if rate_limit:
        command += ["--rate-limit", str(rate_limit)]
    if verbose:
        command.append("--verbose")
    with open(state_dir / "emulator.log", "ab") as log:
        popen = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        url, api_key = _read_ready_lines(popen, timeout, state_dir)
    except BaseException:
        popen.kill()
        popen.wait(5)
        raise
    return EmulatorProcess(url, api_key, state_dir, popen.pid, popen)


def _read_ready_lines(popen: subprocess.Popen, timeout: float, state_dir: Path) -> tuple[str, str]:
    deadline = time.monotonic() + timeout
    buffer = b""
    assert popen.stdout is not None  # started with stdout=PIPE
    fd = popen.stdout.fileno()
    while buffer.count(b"\n") < 2:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise EmulatorError(f"the emulator did not become ready within {timeout} s "
                                f"(see {state_dir / 'emulator.log'})")
        readable, _, _ = select.select([fd], [], [], remaining)
        if not readable:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            log = (state_dir / "emulator.log").read_text(errors="replace").strip().splitlines()
            reason = log[-1] if log else f"exit status {popen.wait(5)}"
            raise EmulatorError(f"the emulator exited before it was ready: {reason}")
        buffer += chunk
    first, second = buffer.decode().splitlines()[:2]
    if not (first.startswith(READY_URL_PREFIX) and second.startswith(READY_KEY_PREFIX)):
        raise EmulatorError("the emulator printed something unexpected instead of its ready lines")
    return first[len(READY_URL_PREFIX):].strip(), second[len(READY_KEY_PREFIX):].strip()


def find_running(state_dir) -> EmulatorProcess | None:
    """The emulator serving ``state_dir``, if its info file names a live, answering process."""
    state_dir = Path(state_dir).resolve()
    try:
        info = json.loads((state_dir / "emulator.json").read_text())
        url, api_key, pid = info["url"], info["api_key"], int(info["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not pid_alive(pid):
        return None
    try:
        with urllib.request.urlopen(url + "/api/providers", timeout=2) as response:
            if response.status != 200:
                return None
    except OSError:
        return None
    return EmulatorProcess(url, api_key, state_dir, pid)
