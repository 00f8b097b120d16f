"""%spheron close TUNNEL: close a tunnel; its local port is free when this returns."""

from __future__ import annotations


def build(parser) -> None:
    parser.add_argument("tunnel", metavar="TUNNEL", help="tunnel id or unique prefix (%%spheron tunnels)")


def run(context, args, cell=None):
    t = context.session.close(args.tunnel)
    return f"closed tunnel {t.id} (127.0.0.1:{t.local_port} is free)"
