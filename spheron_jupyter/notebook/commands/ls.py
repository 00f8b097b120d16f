"""%spheron ls [--all]: your instances, the API's view merged with the ledger's memory."""

from __future__ import annotations

from ._shared import instance_table

DESCRIPTION = """Your instances with their status, $/hour and cost so far: the API's view merged
with the ledger's memory (a launch whose answer was lost shows as `unknown`).

A status the API does not document (`stopped`, or anything new) is shown as it is and counted
as billing, here, in the burn meter, the sidebar and %load_ext's warning; only terminated,
terminated-provider and failed end billing. --all adds the ended ones."""


def build(parser) -> None:
    parser.add_argument("--all", action="store_true", help="include terminated and failed ones")


def run(context, args, cell=None):
    session = context.session
    views = session.instances(all=args.all)
    return instance_table(views, title=f"Instances ({session.backend} backend)",
                          empty="no instances" + ("" if args.all else " running (--all shows ended ones)"))
