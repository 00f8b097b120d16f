"""What the session hands back: plain dataclasses that merge what the API says with the ledger.

Built from the client's typed models (``Instance``, ``Offer``): the client already accepts the
API's several spellings, so nothing here reads a field by more than one name.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..client import Instance, Offer
from ..client.statuses import is_billing
from ..ledger import InstanceRecord, Lifecycle, cost_so_far, format_duration, status_text, usd
from .money import worst_case


@dataclass
class InstanceView:
    id: str
    name: str | None
    status: str
    backend: str
    gpu: str | None = None
    gpu_count: int | None = None
    provider: str | None = None
    region: str | None = None
    instance_type: str | None = None
    hourly_rate: float | None = None
    created_at: float | None = None
    stopped_at: float | None = None
    api_cost: float | None = None
    lease_seconds: float | None = None
    ip: str | None = None
    ssh_port: int | None = None
    user: str | None = None
    notebook: str | None = None
    source: str = "api"  # "api", or "ledger" when the API no longer lists it
    # What ends it and when (ledger/lifecycle.py), set by the inventory from the ledger.
    lifecycle: Lifecycle | None = None
    raw: Instance | None = field(default=None, repr=False)

    @property
    def active(self) -> bool:
        """Billing: every status but the known terminal ones (client/statuses.py)."""
        return is_billing(self.status)

    @property
    def termination_scheduled(self) -> bool:
        return bool(self.lifecycle and self.lifecycle.ends_because == "scheduled terminate")

    @property
    def ends(self) -> str:
        """``"lease ends in 1h05m (14:30)"``, ``"terminates in 12m (..)"`` or ``""``."""
        return self.lifecycle.countdown() if self.lifecycle and self.active else ""

    @property
    def cost_so_far(self) -> float | None:
        return cost_so_far(self.hourly_rate, self.created_at, self.stopped_at, self.api_cost)

    @property
    def runtime_seconds(self) -> float | None:
        if self.created_at is None:
            return None
        return max(0.0, (self.stopped_at or time.time()) - self.created_at)

    def row(self) -> dict[str, str]:
        """One listing row, already formatted: what both the HTML and the text table show."""
        gpu = f"{self.gpu_count}x {self.gpu}" if self.gpu_count and self.gpu else (self.gpu or "-")
        status = status_text(self.status, self.lifecycle)
        if self.source == "ledger":
            status += " (ledger)"
        return {
            "id": self.id,
            "name": self.name or "-",
            "status": status,
            "gpu": gpu,
            "provider": self.provider or "-",
            "region": self.region or "-",
            "$/hour": usd(self.hourly_rate),
            "cost so far": usd(self.cost_so_far),
            "up": format_duration(self.runtime_seconds),
            "ends": self.ends or "-",
        }

    @classmethod
    def from_api(cls, inst: Instance, backend: str,
                 record: InstanceRecord | None = None) -> InstanceView:
        started = inst.started_at or inst.created_at
        return cls(
            id=inst.id,
            name=inst.name,
            status=inst.status,
            backend=backend,
            gpu=inst.gpu_model_id,
            gpu_count=inst.gpu_count,
            provider=inst.provider_id,
            region=inst.region,
            instance_type=inst.instance_type,
            hourly_rate=inst.hourly_rate if inst.hourly_rate is not None
            else (record.hourly_rate if record else None),
            created_at=started.timestamp() if started else (record.created_at if record else None),
            stopped_at=inst.stopped_at.timestamp() if inst.stopped_at else None,
            api_cost=inst.total_cost,
            lease_seconds=record.lease_seconds if record else None,
            ip=inst.ip_address,
            ssh_port=inst.ssh_port,
            # The login user that worked (launch records it) when the API names none.
            user=inst.user or (record.extra.get("ssh_user") if record else None),
            notebook=record.notebook if record else None,
            raw=inst,
        )

    @classmethod
    def from_record(cls, rec: InstanceRecord) -> InstanceView:
        extra = rec.extra or {}
        return cls(
            id=rec.id, name=rec.name, status=rec.status or "unknown", backend=rec.backend,
            gpu=extra.get("gpu"), gpu_count=extra.get("gpu_count"),
            provider=extra.get("provider"), region=extra.get("region"),
            hourly_rate=rec.hourly_rate, created_at=rec.created_at,
            stopped_at=rec.terminated_at, lease_seconds=rec.lease_seconds,
            notebook=rec.notebook, source="ledger",
        )


@dataclass
class LaunchPlan:
    """Everything decided before money is spent; ``Session.launch`` only carries it out."""

    offer: Offer = field(repr=False)
    name: str
    hourly_rate: float
    lease_seconds: float | None
    minimum_minutes: float
    budget_usd: float | None
    region: str | None = None
    os: str | None = None
    volumes: list[str] = field(default_factory=list)
    startup: str | None = None
    pins_host_key: bool = False

    @property
    def worst_case_usd(self) -> float:
        return worst_case(self.hourly_rate, self.lease_seconds, self.minimum_minutes)

    @property
    def worst_case_basis(self) -> str:
        if self.lease_seconds is None:
            return "no cap without --lease; the budget counts 1 hour"
        if self.lease_seconds < self.minimum_minutes * 60:
            return f"the {self.minimum_minutes:g}-minute minimum"
        return f"lease {format_duration(self.lease_seconds)}"

    @property
    def minimum_charge_usd(self) -> float:
        return self.hourly_rate * self.minimum_minutes / 60.0

    @property
    def over_budget(self) -> bool:
        return self.budget_usd is not None and self.worst_case_usd > self.budget_usd

    @property
    def offer_id(self) -> str:
        return str(self.offer.offer_id)

    def rows(self) -> dict[str, str]:
        o = self.offer
        count = o.gpu_count
        per_gpu = f" ({usd(self.hourly_rate / count)} per GPU)" if count > 1 else ""
        spot = o.kind == "spot"
        return {
            "offer": self.offer_id,
            "gpu": f"{count}x {o.gpu_type or '?'}",
            "provider": o.provider or "-",
            "region": self.region or "-",
            "type": o.instance_type or "-",
            "name": self.name,
            "$/hour": usd(self.hourly_rate) + per_gpu,
            "minimum charge": f"{usd(self.minimum_charge_usd)} (the {self.minimum_minutes:g}-minute "
                              "minimum runtime, billed even if terminated sooner)",
            "worst case": (f"no cap without --lease: {usd(self.hourly_rate)} every hour until "
                           "terminated" if self.lease_seconds is None
                           else f"{usd(self.worst_case_usd)} ({self.worst_case_basis})"),
            "budget": usd(self.budget_usd) if self.budget_usd is not None else "none set",
            "host key": "pinned via cloud-init" if self.pins_host_key
            else "trust on first use (offer has no cloud-init)",
        } | ({"spot": "the provider can reclaim a spot instance at any time"} if spot else {})


@dataclass
class TerminateResult:
    instance: InstanceView
    terminated: bool
    scheduled: bool = False
    minutes_remaining: float | None = None
    message: str = ""
