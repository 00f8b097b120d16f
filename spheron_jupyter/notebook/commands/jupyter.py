"""%spheron jupyter ID [--local-port P]: Jupyter on the instance, private, through a tunnel."""

from __future__ import annotations

from ..display import Progress
from ..parser import port
from ._links import show_service

DESCRIPTION = ("Start JupyterLab on the instance bound to 127.0.0.1 with a fresh token (or reuse "
               "the one already running), tunnel it to 127.0.0.1 here, and show the link. Nothing "
               "is opened on the instance's public IP.")


def build(parser) -> None:
    parser.add_argument("id", metavar="ID", help="instance id, name or unique prefix")
    parser.add_argument("--local-port", type=port, metavar="P")


def run(context, args, cell=None):
    progress = Progress("Jupyter").start()
    link = context.session.jupyter(args.id, local_port=args.local_port, progress=progress.update)
    progress.flush()
    return show_service(link, "Jupyter")
