"""The ledger's rows as Python sees them, and the one rule for which of them still bill.

A row bills until the API says it ended: "creating" (a create in flight), "unknown" (its answer
was lost) and any status the API reports that we do not know all count as billing. The terminal
statuses are client/statuses.py's, the one list; the ledger adds only "gone" (the API no longer
knows the instance, written by session/inventory.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..client.statuses import TERMINAL_STATUSES, normalize_status
from .figures import cost_so_far

GONE = "gone"
ENDED_STATUSES = (*sorted(TERMINAL_STATUSES), GONE)


def is_billing(status: str | None) -> bool:
    return normalize_status(status) not in ENDED_STATUSES


@dataclass
class InstanceRecord:
    api_url: str
    id: str
    backend: str
    name: str | None = None
    status: str | None = None
    notebook: str | None = None
    created_at: float | None = None
    hourly_rate: float | None = None
    lease_seconds: float | None = None
    offer: str | None = None
    terminated_at: float | None = None
    reaper_pid: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        """Billing, or may be: every status but the ended ones (see ENDED_STATUSES)."""
        return is_billing(self.status)

    def cost_so_far(self, now: float | None = None) -> float | None:
        """Hourly rate times the time it has run (until termination): figures.py's formula."""
        return cost_so_far(self.hourly_rate, self.created_at, self.terminated_at, now=now)


@dataclass
class TunnelRecord:
    id: str
    api_url: str
    instance_id: str
    kind: str
    local_port: int
    remote_port: int | None = None
    notebook: str | None = None
    created_at: float | None = None
    closed_at: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class EventRecord:
    seq: int
    instance_id: str
    ts: float
    kind: str
    detail: str
