"""A real IPython shell with ``%load_ext spheron_jupyter``, and the checks every magic test uses.

The shell is IPython's own ``InteractiveShell`` running cells with ``run_cell``, exactly as a
terminal IPython does; output is captured with ``IPython.utils.capture.capture_output``,
which also collects ``display()`` calls.  The fixtures ``shell`` and ``emulator_shell`` that
hand one out are in tests/fixtures/magic_shell.py.
"""

from __future__ import annotations

import io
import json
import os
import signal
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass

from IPython.utils.capture import capture_output

from spheron_jupyter.notebook import extension


@dataclass
class Outcome:
    stdout: str
    stderr: str
    displays: list[str]
    result: object
    failed: bool

    @property
    def text(self) -> str:
        return "\n".join([self.stdout, self.stderr, *self.displays])

    @property
    def error(self) -> str:
        return self.stderr.strip()


class Shell:
    def __init__(self, ip):
        self.ip = ip
        self.transcript: list[str] = []

    @property
    def context(self):
        return extension._magics.context

    def run(self, source: str) -> Outcome:
        with capture_output() as cap:
            result = self.ip.run_cell(source, store_history=True)
        displays = []
        for out in cap.outputs:
            displays.extend(str(v) for v in out.data.values())
        outcome = Outcome(cap.stdout, cap.stderr, displays, result.result,
                          not result.success)
        self.transcript.append(outcome.text)
        return outcome

    def ok(self, source: str) -> Outcome:
        outcome = self.run(source)
        assert not outcome.failed, f"{source!r} failed: {outcome.text}"
        return outcome

    def usage_error(self, source: str) -> str:
        """Run, expect exactly one clean error line (no traceback); return that line."""
        outcome = self.run(source)
        assert outcome.failed, f"{source!r} should have failed: {outcome.text}"
        assert "Traceback" not in outcome.text, outcome.text
        lines = [line for line in outcome.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("UsageError: "), outcome.stderr
        return lines[0][len("UsageError: "):]


def emulator_counts(emulator) -> tuple[int, int]:
    request = urllib.request.Request(
        emulator.url + "/_emulator/state",
        headers={"Authorization": f"Bearer {emulator.api_key}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        state = json.load(response)
    return state["instancesTotal"], state["volumes"]


def interrupt_when_shown(text: str, *, settle: float = 0.3, timeout: float = 60.0) -> threading.Event:
    """Press the stop button (SIGINT to this process) once the running cell's output shows
    `text`, then `settle` seconds later: a condition, not a fixed delay a loaded machine may not
    meet. Set the returned event when the cell is over; no signal comes after that.
    (Shell.run captures the cell's stdout in an io.StringIO, which this reads.)"""
    done = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + timeout
        while not done.is_set() and time.monotonic() < deadline:
            out = sys.stdout
            if isinstance(out, io.StringIO) and text in out.getvalue():
                break
            time.sleep(0.05)
        if not done.wait(settle):
            os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=watch, name="stop-button", daemon=True).start()
    return done
