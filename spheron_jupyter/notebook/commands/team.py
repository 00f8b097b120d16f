"""%spheron team use TEAM: the team new instances, keys and volumes belong to."""

from __future__ import annotations



def build(parser) -> None:
    parser.add_argument("action", choices=["use"])
    parser.add_argument("team", metavar="TEAM", help="team name or id")


def run(context, args, cell=None):
    team = context.session.use_team(args.team)
    return (f"new resources now go to team {team.name} "
            f"({team.id}); saved in your settings")
