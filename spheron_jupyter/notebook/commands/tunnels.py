"""%spheron tunnels: open tunnels, from the tunnel agent, labelled from the ledger."""

from __future__ import annotations

from ..display import Table


def build(parser) -> None:
    pass


def run(context, args, cell=None):
    return Table([t.row() for t in context.session.tunnels()], title="Tunnels",
                 empty="no open tunnels")
