"""Changing how an instance ends: cancel a scheduled termination, extend or cancel a lease.

What ends an instance is a reaper process (spheron_jupyter/reaper.py); cancelling or moving the
end means stopping that process by its recorded pid — after checking that the pid still is that
reaper (pids are reused) — and, for a new end, starting another. What the end is, as every
view shows it, is read from the ledger (ledger/lifecycle.py).
"""

from __future__ import annotations

import time

from .. import reaper
from ..ledger import InstanceRecord, format_duration, lifecycle_of
from .errors import SessionError
from .inventory import Inventory
from .parts import Parts


class Ends:
    def __init__(self, parts: Parts, inventory: Inventory):
        self.parts = parts
        self.inventory = inventory

    def cancel(self, ref: str) -> str:
        """Cancel the lease or the scheduled termination: the instance runs (and bills) on."""
        rec = self._record(ref)
        name = rec.name or rec.id
        if not rec.reaper_pid:
            return f"{name} has no lease and no scheduled termination: nothing to cancel"
        self._stop_reaper(rec)
        self.parts.event(rec.id, "lease-cancelled", "lease or scheduled termination cancelled")
        return (f"cancelled: {name} now runs until you terminate it "
                f"(%spheron terminate {name}), billing every hour")

    def extend(self, ref: str, seconds: float) -> str:
        """Move the end ``seconds`` later (from the lease's end, or from now without one)."""
        p = self.parts
        rec = self._record(ref)
        name = rec.name or rec.id
        now = time.time()
        life = lifecycle_of(rec, p.ledger.events(p.api_url, rec.id))
        base = life.ends_at if life.ends_at and life.ends_at > now else now
        new_end = base + seconds
        p.spawn_reaper(rec.id, not_before=new_end, replace=True)
        created = rec.created_at or now
        p.ledger.record_instance(InstanceRecord(p.api_url, rec.id, p.backend,
                                                lease_seconds=new_end - created))
        clock = time.strftime("%H:%M", time.localtime(new_end))
        p.event(rec.id, "lease", f"lease ends {clock}")
        return f"{name}: lease now ends at {clock} (in {format_duration(new_end - now)})"

    def _stop_reaper(self, rec: InstanceRecord) -> None:
        """Stop the instance's reaper (if it is still that process) and clear its pid."""
        reaper.stop(rec.reaper_pid or 0, rec.id.encode())
        p = self.parts
        p.ledger.record_instance(InstanceRecord(p.api_url, rec.id, p.backend, reaper_pid=0))

    def _record(self, ref: str) -> InstanceRecord:
        view = self.inventory.resolve(ref)
        if not view.active:
            raise SessionError(f"instance {view.name or view.id} is {view.status}: "
                               "nothing to change")
        rec = self.parts.ledger.instance(self.parts.api_url, view.id)
        if rec is None:
            raise SessionError(f"instance {view.name or view.id} is not in this ledger: it was "
                               "not launched from here, so no lease or schedule of ours applies")
        return rec
