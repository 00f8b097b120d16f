"""%spheron terminate ID [--yes] [--when-allowed]: stop paying, or schedule it."""

from __future__ import annotations

from ...ledger import usd
from ._shared import confirm

DESCRIPTION = ("Terminate an instance. Spheron bills a minimum runtime (20 minutes, more on some "
               "offers) and refuses earlier termination; --when-allowed schedules it for the "
               "first allowed moment, carried out by a helper process that outlives this kernel. Works "
               "on any status that bills, also one the API does not document (stopped); when the "
               "can-terminate check fails or is missing, DELETE's own answer decides.")


def build(parser) -> None:
    parser.add_argument("id", metavar="ID", help="instance id, name or unique prefix")
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    parser.add_argument("--when-allowed", action="store_true",
                        help="if the minimum runtime is not over, terminate as soon as it is")


def run(context, args, cell=None):
    session = context.session
    view = session.resolve(args.id)
    if not args.yes:
        confirm(f"Terminate {view.name or view.id} ({view.status}, {usd(view.cost_so_far)} so far)?")
    result = session.terminate(view.id, when_allowed=args.when_allowed)
    return result.message
