"""Changing how an instance ends: cancel a scheduled termination, extend or cancel a lease.

What ends an instance is a reaper process (session/reaper.py); cancelling or moving the end
means stopping that process by its recorded pid — after checking that the pid still is that
reaper (pids are reused) — and, for a new end, starting another. What the end is, as every
view shows it, is read from the ledger (ledger/lifecycle.py).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from ..ledger import InstanceRecord, format_duration, lifecycle_of
from .errors import SessionError


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
