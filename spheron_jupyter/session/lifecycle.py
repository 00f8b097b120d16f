"""An instance's lifecycle as every view shows it: status, what will end it and when, whether
SSH is ready — and the controls: cancel a scheduled termination, extend or cancel a lease.

The facts come from the ledger (records and events written by session/launching.py,
session/core.py and the reaper), so the Lab sidebar (no kernel) and the kernel's views agree.
What ends an instance is a reaper process (session/reaper.py); cancelling or moving the end
means stopping that process by its recorded pid — after checking that the pid still is that
reaper (pids are reused) — and, for a new end, starting another.
"""

from __future__ import annotations

import os
import re
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import SessionError
from .ledger import EventRecord, InstanceRecord
from .money import format_duration

LEASE_WARNING_SECONDS = 600.0  # "ending in 10 minutes"
_MINUTES_LEFT = re.compile(r"(\d+(?:\.\d+)?) min left")  # session/core.py's event detail


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
        if self.ends_at is None or self.status not in ("running", "deploying", "creating"):
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
    if not rec.reaper_pid or status not in ("running", "deploying", "creating"):
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


def _is_reaper_of(pid: int, instance_id: str) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"spheron_jupyter.session.reaper" in argv and instance_id.encode() in argv


def stop_reaper(session: Any, rec: InstanceRecord) -> bool:
    """Stop the instance's reaper (if it is still that process); True when one was stopped."""
    pid = rec.reaper_pid or 0
    stopped = False
    if pid > 0 and _is_reaper_of(pid, rec.id):
        try:
            os.kill(pid, signal.SIGTERM)
            stopped = True
        except ProcessLookupError:
            pass
    session.ledger.record_instance(InstanceRecord(session.api_url, rec.id, session.backend,
                                                  reaper_pid=0))
    return stopped


def _record(session: Any, ref: str) -> InstanceRecord:
    view = session.resolve(ref)
    if not view.active:
        raise SessionError(f"instance {view.name or view.id} is {view.status}: nothing to change")
    rec = session.ledger.instance(session.api_url, view.id)
    if rec is None:
        raise SessionError(f"instance {view.name or view.id} is not in this ledger: it was not "
                           "launched from here, so no lease or schedule of ours applies")
    return rec


def cancel(session: Any, ref: str) -> str:
    """Cancel the lease or the scheduled termination: the instance runs (and bills) on."""
    rec = _record(session, ref)
    name = rec.name or rec.id
    if not rec.reaper_pid:
        return f"{name} has no lease and no scheduled termination: nothing to cancel"
    stop_reaper(session, rec)
    session.ledger.add_event(session.api_url, rec.id, "lease-cancelled",
                             "lease or scheduled termination cancelled")
    return (f"cancelled: {name} now runs until you terminate it "
            f"(%spheron terminate {name}), billing every hour")


def extend(session: Any, ref: str, seconds: float) -> str:
    """Move the end ``seconds`` later (from the lease's end, or from now without one)."""
    from . import reaper

    rec = _record(session, ref)
    name = rec.name or rec.id
    now = time.time()
    life = lifecycle_of(rec, session.ledger.events(session.api_url, rec.id))
    base = life.ends_at if life.ends_at and life.ends_at > now else now
    new_end = base + seconds
    stop_reaper(session, rec)
    pid = reaper.spawn(session._conn, rec.id, ledger_path=session.ledger.path,
                       not_before=new_end)
    created = rec.created_at or now
    session.ledger.record_instance(InstanceRecord(session.api_url, rec.id, session.backend,
                                                  reaper_pid=pid,
                                                  lease_seconds=new_end - created))
    session.ledger.add_event(session.api_url, rec.id, "lease",
                             f"lease ends {time.strftime('%H:%M', time.localtime(new_end))}")
    clock = time.strftime("%H:%M", time.localtime(new_end))
    return f"{name}: lease now ends at {clock} (in {format_duration(new_end - now)})"
