"""%spheron status ID: one instance in detail, including its money."""

from __future__ import annotations

from ...ledger import format_duration, usd
from ..display import KeyValues


def build(parser) -> None:
    parser.add_argument("id", metavar="ID", help="instance id, name or unique prefix (a name "
                        "means the billing instance of that name)")
    parser.add_argument("--all", action="store_true",
                        help="let a name mean its newest instance even if it has ended")


def run(context, args, cell=None):
    v = context.session.status(args.id, all=args.all)
    facts = {
        "id": v.id, "name": v.name or "-", "status": v.status,
        "gpu": f"{v.gpu_count or '?'}x {v.gpu or '?'}", "provider": v.provider or "-",
        "region": v.region or "-", "type": v.instance_type or "-",
        "ssh": f"{v.user}@{v.ip}:{v.ssh_port}" if v.ip else "-",
        "$/hour": usd(v.hourly_rate), "cost so far": usd(v.cost_so_far),
        "running for": format_duration(v.runtime_seconds),
        "lease": format_duration(v.lease_seconds) if v.lease_seconds else "none",
        "termination": "scheduled" if v.termination_scheduled else "-",
        "ends": v.ends or ("no lease: runs (and bills) until terminated" if v.active else "-"),
        "notebook": v.notebook or "-",
    }
    return KeyValues(facts, title=f"Instance {v.name or v.id}")

