"""Whether a process still runs, by pid: the one check every layer uses.

A zombie counts as ended: it has exited and only waits for its parent to collect its status
(a launcher killed before it cleaned up, a reaper whose parent kernel is busy). Nothing is
reaped here, so a parent that holds a ``subprocess.Popen`` for the pid still gets its exit code.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["pid_alive"]


def pid_alive(pid: int | None) -> bool:
    """True while ``pid`` runs (a process of another user counts); False for none or 0."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, it is only not ours to signal
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:  # ended between the two looks
        return False
    except (OSError, IndexError):  # no /proc to ask: the signal check stands
        return True
    return state != "Z"
