"""%spheron doctor: read-only checks of the backend, every answer compared with our models."""

from __future__ import annotations

import json

from ..display import Text

DESCRIPTION = (
    "Read-only checks of the current backend: auth, team, balance, one page of offers, your "
    "instances, SSH keys and providers. Each way an answer differs from our models (an unknown "
    "field, an unknown status or other value, a missing or mistyped field) is one line naming "
    "the route and the field; then a summary. Creates and spends nothing; the key is never "
    "shown. --json gives a report to attach to a bug.")


def build(parser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="the report as JSON (secrets masked), to attach to a bug report")


def run(context, args, cell=None):
    from ...doctor import run_doctor

    session = context.session
    report = run_doctor(session.client, backend=session.backend)
    if args.json:
        return Text(json.dumps(report.as_dict(), indent=2))
    return Text("\n".join(report.lines()))
