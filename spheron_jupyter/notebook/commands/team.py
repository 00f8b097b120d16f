"""%spheron team use TEAM: the team new instances, keys and volumes belong to."""

from __future__ import annotations

from ...session.views import _field


def build(parser) -> None:
    parser.add_argument("action", choices=["use"])
    parser.add_argument("team", metavar="TEAM", help="team name or id")


def run(context, args, cell=None):
    team = context.session.use_team(args.team)
    return (f"new resources now go to team {_field(team, 'team_name', 'teamName', 'name')} "
            f"({_field(team, 'team_id', 'teamId', 'id')}); saved in your settings")
