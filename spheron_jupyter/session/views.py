"""What the session hands back: plain dataclasses that merge what the API says with the ledger.

They read the client's models by attribute with tolerance (``_field``): the client accepts
several live shapes, and a listing must not break because one optional field is missing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..client.statuses import is_billing
from .ledger import InstanceRecord
from .money import format_duration, usd, worst_case


def _field(obj: Any, *names: str, default: Any = None) -> Any:
    for name in names:
        if obj is None:
            break
        value = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
        if value is not None:
            return value
    return default


def _epoch(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return float(value) / (1000.0 if value > 1e12 else 1.0)
    if isinstance(value, datetime):
        return value.timestamp()
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


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
    termination_scheduled: bool = False
    raw: Any = field(default=None, repr=False)

    @property
    def active(self) -> bool:
        return is_billing(self.status)

    @property
    def cost_so_far(self) -> float | None:
        """The API's figure when it has one, else rate x time run (whichever is larger)."""
        estimate = None
        if self.hourly_rate is not None and self.created_at is not None:
            end = self.stopped_at or time.time()
            estimate = max(0.0, end - self.created_at) / 3600.0 * self.hourly_rate
        if self.api_cost is None:
            return estimate
        return max(self.api_cost, estimate or 0.0)

    @property
    def runtime_seconds(self) -> float | None:
        if self.created_at is None:
            return None
        return max(0.0, (self.stopped_at or time.time()) - self.created_at)

    def row(self) -> dict[str, str]:
        """One listing row, already formatted: what both the HTML and the text table show."""
        gpu = f"{self.gpu_count}x {self.gpu}" if self.gpu_count and self.gpu else (self.gpu or "-")
        status = self.status + (" (terminate scheduled)" if self.termination_scheduled else "")
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
        }

    @classmethod
    def from_api(cls, inst: Any, backend: str, record: InstanceRecord | None = None) -> InstanceView:
        rate = _field(inst, "hourly_rate", "hourlyRate")
        return cls(
            id=str(_field(inst, "id")),
            name=_field(inst, "name"),
            status=str(_field(inst, "status", default="unknown")),
            backend=backend,
            gpu=_field(inst, "gpu_model_id", "gpuModelId", "gpu_type", "gpuType"),
            gpu_count=_field(inst, "gpu_count", "gpuCount"),
            provider=_field(inst, "provider_id", "providerId", "provider"),
            region=_field(inst, "region"),
            instance_type=_field(inst, "instance_type", "instanceType"),
            hourly_rate=float(rate) if rate is not None else (record.hourly_rate if record else None),
            created_at=_epoch(_field(inst, "started_at", "startedAt", "created_at", "createdAt"))
            or (record.created_at if record else None),
            stopped_at=_epoch(_field(inst, "stopped_at", "stoppedAt")),
            api_cost=_field(inst, "total_cost", "totalCost"),
            lease_seconds=record.lease_seconds if record else None,
            ip=_field(inst, "ip_address", "ipAddress"),
            ssh_port=_field(inst, "ssh_port", "sshPort"),
            user=_field(inst, "user"),
            notebook=record.notebook if record else None,
            termination_scheduled=bool(record and record.reaper_pid)
            and is_billing(str(_field(inst, "status"))),
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
            termination_scheduled=bool(rec.reaper_pid),
        )


@dataclass
class LaunchPlan:
    """Everything decided before money is spent; ``Session.launch`` only carries it out."""

    offer: Any = field(repr=False)
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
        return str(_field(self.offer, "offer_id", "offerId"))

    def rows(self) -> dict[str, str]:
        o = self.offer
        gpu = _field(o, "gpu_type", "gpuType", default="?")
        count = _field(o, "gpu_count", "gpuCount")
        per_gpu = (f" ({usd(self.hourly_rate / count)} per GPU)"
                   if isinstance(count, int) and count > 1 else "")
        spot = str(_field(o, "kind", "instance_type", "instanceType", default="")).lower() == "spot"
        return {
            "offer": self.offer_id,
            "gpu": f"{_field(o, 'gpu_count', 'gpuCount', default='?')}x {gpu}",
            "provider": str(_field(o, "provider", default="-")),
            "region": self.region or "-",
            "type": str(_field(o, "instance_type", "instanceType", default="-")),
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
