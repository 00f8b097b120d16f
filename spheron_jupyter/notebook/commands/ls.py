"""%spheron ls [--all]: your instances, the API's view merged with the ledger's memory."""

from __future__ import annotations

from ._shared import instance_table


def build(parser) -> None:
    parser.add_argument("--all", action="store_true", help="include terminated and failed ones")


def run(context, args, cell=None):
    session = context.session
    views = session.instances(all=args.all)
    return instance_table(views, title=f"Instances ({session.backend} backend)",
                          empty="no instances" + ("" if args.all else " running (--all shows ended ones)"))
