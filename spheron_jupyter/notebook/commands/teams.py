"""%spheron teams: your teams, roles, balances, and which one new resources go to."""

from __future__ import annotations

from ..display import Table


def build(parser) -> None:
    pass


def run(context, args, cell=None):
    session = context.session
    current = session.current_team()
    current_id = current.team_id if current is not None else ""
    rows = []
    for t in session.teams():
        rows.append({"team": t.name or "-", "id": t.id, "role": t.role or "-",
                     "balance": f"${t.balance:,.2f}" if t.balance is not None else "-",
                     "current": "*" if t.id == current_id else ""})
    return Table(rows, title="Teams", empty="no teams", footer="%spheron team use TEAM switches")
