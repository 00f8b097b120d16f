"""%spheron lease ID +2h | --cancel: move or cancel what ends an instance (lease or schedule)."""

from __future__ import annotations

from ...session.errors import SessionError
from ...session.money import parse_duration

DESCRIPTION = """Change when an instance ends. `+DURATION` (e.g. +2h, +30m) extends the lease by
that much from its current end (from now if it has none), by a helper process that outlives
the kernel; --cancel cancels the lease or a scheduled termination, so the instance runs (and
bills) until you terminate it. `%spheron status ID` shows the current end and its countdown."""


def build(parser) -> None:
    parser.add_argument("id", metavar="ID", help="instance id, name or unique prefix")
    parser.add_argument("extra", metavar="+DURATION", nargs="?", default=None,
                        help="extend by this much, e.g. +2h or +30m")
    parser.add_argument("--cancel", action="store_true",
                        help="cancel the lease or scheduled termination")


def run(context, args, cell=None):
    if args.cancel == (args.extra is not None):
        raise SessionError("say either +DURATION (e.g. %spheron lease my-run +2h) or --cancel")
    if args.cancel:
        return context.session.cancel_lease(args.id)
    text = args.extra.strip()
    if not text.startswith("+"):
        raise SessionError(f"write the extension with a plus sign, e.g. +{text or '2h'}: "
                           "it is added to the current end")
    return context.session.extend_lease(args.id, parse_duration(text[1:]))
