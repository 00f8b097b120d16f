"""%spheron tensorboard ID [--logdir DIR] [--local-port P]: TensorBoard through a tunnel."""

from __future__ import annotations

from ..display import Progress
from ..parser import port
from ._links import show_service


def build(parser) -> None:
    parser.add_argument("id", metavar="ID", help="instance id, name or unique prefix")
    parser.add_argument("--logdir", default=None, metavar="DIR", help="on the instance (default: ~/runs)")
    parser.add_argument("--local-port", type=port, metavar="P")


def run(context, args, cell=None):
    progress = Progress("TensorBoard").start()
    link = context.session.tensorboard(args.id, logdir=args.logdir, local_port=args.local_port,
                                       progress=progress.update)
    progress.flush()
    return show_service(link, "TensorBoard")
