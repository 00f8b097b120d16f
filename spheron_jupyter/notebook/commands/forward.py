"""%spheron forward ID REMOTE_PORT [--local-port P]: any remote port, on 127.0.0.1 only."""

from __future__ import annotations

from ..parser import port


def build(parser) -> None:
    parser.add_argument("id", metavar="ID", help="instance id, name or unique prefix")
    parser.add_argument("remote_port", type=port, metavar="REMOTE_PORT")
    parser.add_argument("--local-port", type=port, metavar="P")


def run(context, args, cell=None):
    t = context.session.forward(args.id, args.remote_port, local_port=args.local_port)
    return (f"127.0.0.1:{t.local_port} -> {t.instance_name or t.instance_id}:{t.remote_port} "
            f"(tunnel {t.id}; %spheron close {t.id} frees the port)")
