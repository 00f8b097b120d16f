"""%spheron logs ID [--startup | --service NAME | --file PATH] [--follow] [--tail N]."""

from __future__ import annotations

from ..display import StreamPrinter
from ..parser import positive_int

DESCRIPTION = ("Show the instance's startup (cloud-init) log, a service's log (jupyter, "
               "tensorboard) or any file. --follow streams new lines until you interrupt the "
               "cell; a later --follow resumes where the last one stopped.")


def build(parser) -> None:
    parser.add_argument("id", metavar="ID", help="instance id, name or unique prefix")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--startup", action="store_true", help="the startup log (default)")
    which.add_argument("--service", metavar="NAME")
    which.add_argument("--file", metavar="PATH")
    parser.add_argument("--follow", "-f", action="store_true")
    parser.add_argument("--tail", type=positive_int, metavar="N", help="the last N lines")


def run(context, args, cell=None):
    if args.service:
        source, name = "service", args.service
    elif args.file:
        source, name = "file", args.file
    else:
        source, name = "startup", None
    lines = context.session.logs(args.id, source=source, name=name, follow=args.follow,
                                 tail=args.tail)
    stream_lines(lines)
    return None


def stream_lines(lines) -> None:
    """Print as lines come, coalesced; the notebook's interrupt ends it cleanly."""
    from ...config.redaction import redact

    printer = StreamPrinter()
    try:
        for line in lines:
            printer.line(redact(line))  # a secret of ours in a log still stays out of the cell
    except KeyboardInterrupt:
        printer.close()
        print("[stopped]")
        return
    finally:
        close = getattr(lines, "close", None)
        if close:
            close()
    printer.close()
