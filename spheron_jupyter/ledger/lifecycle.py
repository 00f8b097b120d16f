"""An instance's lifecycle as every view shows it: its status, what will end it and when,
whether SSH is ready.

Facts derived from the ledger (records and events written by session/launching.py,
session/inventory.py and the reaper), so the Lab sidebar (no kernel) and the kernel's views
agree. Changing the end (cancel, extend) is session/lifecycle.py's.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from .figures import format_duration
from .records import EventRecord, InstanceRecord, is_billing

LEASE_WARNING_SECONDS = 600.0  # "ending in 10 minutes"
_MINUTES_LEFT = re.compile(r"(\d+(?:\.\d+)?) min left")  # session/inventory.py's event detail


@dataclass(frozen=True)
class Lifecycle:
    status: str
    ends_at: float | None = None  # epoch seconds
    ends_because: str | None = None  # "lease" or "scheduled terminate"
    ssh_ready: bool = False

    @property
    def scheduled(self) -> bool:
        return self.ends_because is not None

    def countdown(self, now: float | None = None) -> str:
        """``"lease ends in 1h05m (14:30)"``, ``"terminates in 12m"`` or ``""``."""
        if self.ends_at is None or not is_billing(self.status):
            return ""
        left = self.ends_at - (time.time() if now is None else now)
        what = "lease ends" if self.ends_because == "lease" else "terminates"
        clock = time.strftime("%H:%M", time.localtime(self.ends_at))
        if left <= 0:
            return f"{what} now (due {clock})"
        return f"{what} in {format_duration(left)} ({clock})"


def status_text(status: str, life: Lifecycle | None) -> str:
    """The status as every view words it: a lease shows only in "ends" (``countdown``); a
    scheduled terminate also marks the status, as the user asked for it."""
    terminating = life is not None and life.ends_because == "scheduled terminate"
    return status + (" (terminate scheduled)" if terminating else "")


def lifecycle_of(rec: InstanceRecord, events: list[EventRecord]) -> Lifecycle:
    """What the ledger knows of ``rec``'s end; ``events`` are its events, oldest first."""
    status = rec.status or "unknown"
    ssh_ready = any(e.kind == "ssh-ready" for e in events)
    # A pid <= 0 is no reaper: none, or one being started (store.py ``starting_mark``).
    # Any status that bills has an end to show, one the API does not document (stopped) too:
    # its lease's reaper still ends it.
    if (rec.reaper_pid or 0) <= 0 or not is_billing(status):
        return Lifecycle(status, ssh_ready=ssh_ready)
    ends_at, because = None, None
    for event in events:
        if event.kind == "lease-cancelled":
            ends_at, because = None, None
        elif event.kind == "lease" and rec.lease_seconds and rec.created_at:
            ends_at, because = rec.created_at + rec.lease_seconds, "lease"
        elif event.kind == "terminate-scheduled":
            match = _MINUTES_LEFT.search(event.detail or "")
            ends_at = event.ts + 60.0 * float(match.group(1)) if match else None
            because = "scheduled terminate"
    if because is None:
        return Lifecycle(status, ssh_ready=ssh_ready)
    return Lifecycle(status, ends_at, because, ssh_ready)
