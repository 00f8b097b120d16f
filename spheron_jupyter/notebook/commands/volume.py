"""%spheron volume create|attach|detach|delete: manage one volume."""

from __future__ import annotations

from ..parser import non_negative_float
from ._shared import confirm

DESCRIPTION = """Manage one volume:

  volume create NAME --size GB --provider P --region R
  volume attach VOLUME ID        (voltage-park: one volume per instance;
  volume detach VOLUME ID         data-crunch: several instances in the same region)
  volume delete VOLUME [--yes]
"""


def build(parser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True,
                                parser_class=type(parser))
    create = sub.add_parser("create", help="create a volume", prog="%spheron volume create")
    create.add_argument("name", metavar="NAME")
    create.add_argument("--size", type=non_negative_float, required=True, metavar="GB")
    create.add_argument("--provider", required=True, metavar="P")
    create.add_argument("--region", required=True, metavar="R")
    for action in ("attach", "detach"):
        p = sub.add_parser(action, help=f"{action} a volume", prog=f"%spheron volume {action}")
        p.add_argument("volume", metavar="VOLUME")
        p.add_argument("id", metavar="ID", help="instance id, name or unique prefix")
    delete = sub.add_parser("delete", help="delete a volume", prog="%spheron volume delete")
    delete.add_argument("volume", metavar="VOLUME")
    delete.add_argument("--yes", action="store_true")


def run(context, args, cell=None):
    session = context.session
    if args.action == "create":
        vol = session.create_volume(args.name, size_gb=args.size, provider=args.provider,
                                    region=args.region)
        return f"created volume {args.name} ({getattr(vol, 'id', '?')}), {args.size:g} GB"
    if args.action in ("attach", "detach"):
        method = session.attach_volume if args.action == "attach" else session.detach_volume
        vol, view = method(args.volume, args.id)
        return f"{args.action}ed {getattr(vol, 'name', args.volume)} {'to' if args.action == 'attach' else 'from'} {view.name or view.id}"
    vol = session.resolve_volume(args.volume)
    if not args.yes:
        confirm(f"Delete volume {getattr(vol, 'name', args.volume)} and its data?")
    session.delete_volume(str(vol.id))
    return f"deleted volume {getattr(vol, 'name', args.volume)}"
