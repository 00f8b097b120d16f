"""%spheron volumes: your volumes, with what they are attached to."""

from __future__ import annotations

from ...session.resources import volume_row
from ..display import Table


def build(parser) -> None:
    pass


def run(context, args, cell=None):
    session = context.session
    names = {v.id: v.name or v.id for v in session.instances(all=True)}
    return Table([volume_row(v, names) for v in session.volumes()], title="Volumes",
                 empty="no volumes (%spheron volume create NAME --size GB --provider P --region R)")
