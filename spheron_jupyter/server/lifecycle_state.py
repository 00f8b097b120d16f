"""What the sidebar, the burn meter and the Lab notifications add to ``spheron/api/state``:
each instance's lifecycle (ledger/lifecycle.py: what ends it and when, SSH ready), the
instances that ended lately (for the "ended" notification), the per-launch budget, and which
instances have a kernelspec of ours (the sidebar's "Kernel installed", kernel_route.py).

A terminated instance leaves the live views with its tunnels: a tunnel row is kept only under
an instance the state lists (the agent may still hold a forward for a moment).
"""

from __future__ import annotations

from typing import Any

from ..ledger import LEASE_WARNING_SECONDS, InstanceRecord, Ledger, lifecycle_of, usd

ENDED_WINDOW_SECONDS = 900.0  # ended this recently: still worth one notification


def add_lifecycle(state: dict[str, Any], ledger: Ledger, instances: list[InstanceRecord],
                  now: float) -> dict[str, Any]:
    by_id = {rec.id: rec for rec in instances}
    for row in state["instances"]:
        rec = by_id.get(row["id"])
        if rec is None:
            continue
        life = lifecycle_of(rec, ledger.events(rec.api_url, rec.id))
        row.update(ssh_ready=life.ssh_ready, ends_at=life.ends_at,
                   ends_because=life.ends_because, ends_text=life.countdown(now),
                   ending_soon=bool(life.ends_at and 0 < life.ends_at - now
                                    <= LEASE_WARNING_SECONDS))
    listed = set(by_id)
    state["tunnels"] = [t for t in state["tunnels"] if t["instance_id"] in listed]
    state["ended"] = [
        {"id": rec.id, "name": rec.name, "status": rec.status, "at": rec.terminated_at}
        for rec in ledger.instances()
        if not rec.active and rec.terminated_at and now - rec.terminated_at < ENDED_WINDOW_SECONDS
    ]
    budget = _budget()
    state["budget_usd"] = budget
    state["budget_text"] = usd(budget) if budget is not None else None
    return state


def _budget() -> float | None:
    from ..config.settings import load_settings

    try:
        return float(load_settings().budget_per_launch_usd)
    except Exception:  # a broken settings file must not blank the sidebar
        return None


def add_kernels(state: dict[str, Any]) -> dict[str, Any]:
    """Each instance row of the sidebar's state says whether a kernelspec of ours runs on it
    (``kernel``: its name and display name, or None), so the sidebar can show it is there."""
    from ..kernel import spec

    try:
        found = {info.instance_id: info for info in spec.installed()}
    except OSError:  # an unreadable data dir must not blank the sidebar
        found = {}
    for row in state["instances"]:
        info = found.get(row["id"])
        row["kernel"] = ({"name": info.name, "display_name": info.display_name}
                         if info is not None else None)
    return state
