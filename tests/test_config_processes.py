"""config/processes.py: the one "does this pid still run" check, on real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from spheron_jupyter.config.processes import pid_alive


def _zombie(popen: subprocess.Popen) -> None:
    """Wait until ``popen``'s process has exited without collecting its status."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with open(f"/proc/{popen.pid}/stat") as handle:
            if handle.read().rsplit(")", 1)[1].split()[0] == "Z":
                return
        time.sleep(0.02)
    raise AssertionError("the child did not exit")


def test_running_processes_are_alive_whoever_owns_them():
    assert pid_alive(os.getpid())
    assert pid_alive(1)  # init: alive even where it is not ours to signal


def test_no_pid_is_not_alive():
    assert not pid_alive(None) and not pid_alive(0)


def test_an_exited_child_is_ended_before_and_after_it_is_reaped():
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(3)"])
    _zombie(child)
    assert not pid_alive(child.pid)  # a zombie has ended
    assert child.wait(5) == 3  # and pid_alive left its exit status to its parent
    assert not pid_alive(child.pid)  # reaped: no such process


def test_a_sleeping_child_is_alive_until_killed():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert pid_alive(child.pid)
    finally:
        child.kill()
    _zombie(child)
    assert not pid_alive(child.pid)
    child.wait(5)
