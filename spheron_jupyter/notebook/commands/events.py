"""%spheron events ID [--follow]: status changes seen by polling and our own actions, timed."""

from __future__ import annotations

import time

from ..display import StreamPrinter, Table


def build(parser) -> None:
    parser.add_argument("id", metavar="ID", help="instance id, name or unique prefix")
    parser.add_argument("--follow", "-f", action="store_true", help="keep polling until interrupted")


def _line(e) -> str:
    return f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(e.ts))}  {e.kind:<20} {e.detail}"


def run(context, args, cell=None):
    session = context.session
    if not args.follow:
        events = list(session.events(args.id))
        return Table(session.event_rows(events), title="Events", empty="no events recorded")
    printer = StreamPrinter()
    stream = session.events(args.id, follow=True)
    try:
        for event in stream:
            printer.line(_line(event))
            printer.flush()
    except KeyboardInterrupt:
        printer.close()
        print("[stopped]")
        return None
    finally:
        stream.close()
    printer.close()
    return None
