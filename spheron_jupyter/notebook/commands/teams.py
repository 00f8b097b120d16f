"""%spheron teams: your teams, roles, balances, and which one new resources go to."""

from __future__ import annotations

from ...session.views import _field
from ..display import Table


def build(parser) -> None:
    pass


def run(context, args, cell=None):
    session = context.session
    current = session.current_team()
    current_id = str(_field(current, "team_id", "teamId", default=""))
    rows = []
    for t in session.teams():
        tid = str(_field(t, "team_id", "teamId", "id"))
        balance = _field(t, "balance")
        rows.append({"team": str(_field(t, "team_name", "teamName", "name")), "id": tid,
                     "role": str(_field(t, "role", default="-")),
                     "balance": f"${balance:,.2f}" if isinstance(balance, (int, float)) else "-",
                     "current": "*" if tid == current_id else ""})
    return Table(rows, title="Teams", empty="no teams", footer="%spheron team use TEAM switches")
