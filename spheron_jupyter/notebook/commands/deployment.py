"""%spheron deployment create|get|list|logs|events|update|close: Spheron Protocol leases via sphnctl.

Thin commands over the sphnctl driver (protocol/sphnctl.py). Tabular answers (get, list) are
tables; logs and events are lines, streamed with --follow until the cell is interrupted. create
and update check the ICL document here first, so a document with errors shows its findings
(path, line, rule, fix) and never reaches sphnctl.
"""

from __future__ import annotations


from IPython.core.error import UsageError

from ..display import KeyValues, Progress, StreamPrinter, Table, Text
from ..parser import non_negative_int, positive_int
from ._protocol_shared import (
    Stack,
    check_or_refuse,
    create_lease,
    details_display,
    on_chain,
    price_with_token,
    driver,
    follow_into_cell,
    read_icl_file,
    troubleshooting_display,
)

DESCRIPTION = """Spheron Protocol deployments through sphnctl (SPHERON_SPHNCTL, else sphnctl on PATH):

  deployment create FILE            check the ICL document, then create the lease
  deployment get --lid N            status, price, replicas and mapped ports
  deployment list [-a]              your leases (-a: only the active ones, which bill)
  deployment logs --lid N [--follow] [--tail N] [--service S] [--startup] [-o json]
  deployment events --lid N [--follow] [--tail N] [--service S]
  deployment update --lid N FILE    new env, image or resources on the same lease
  deployment close --lid N          close the lease; its containers stop

%%spheron icl --deploy checks, creates and waits for a deployment in one cell.

create, update and close are on-chain flows that can take minutes: they have no time limit and
their progress lines stream into the cell. Interrupting the cell leaves sphnctl to finish on its
own; after a create the lease may exist and bill: deployment list -a shows the active leases
and deployment close --lid N ends one (do not create again).
"""

LID_HELP = "the lease id that create printed"


def build(parser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True,
                                parser_class=type(parser))

    def action(name: str, text: str):
        return sub.add_parser(name, help=text, description=text, prog=f"%spheron deployment {name}")

    create = action("create", "check an ICL document and create a deployment from it")
    create.add_argument("file", metavar="FILE", help="the ICL document (YAML)")
    action("get", "status, price, replicas and mapped ports of one deployment").add_argument(
        "--lid", type=positive_int, required=True, metavar="N", help=LID_HELP)
    action("list", "your leases, as sphnctl lists them (all of them by default)").add_argument(
        "-a", "--active", action="store_true",
        help="only the active leases, the ones that bill (sphnctl's own -a)")
    logs = action("logs", "the services' output (or a fizz node's start-up steps)")
    _stream_flags(logs)
    logs.add_argument("--startup", action="store_true", help="the fizz node's start-up steps")
    logs.add_argument("-o", "--output", choices=("text", "json"), default="text",
                      help="json: sphnctl's JSON objects, one per line")
    _stream_flags(action("events", "the deployment's events (scheduling, image pulls, starts, failures)"))
    update = action("update", "change env, image or resources; ports, region, tier and token stay")
    update.add_argument("--lid", type=positive_int, required=True, metavar="N", help=LID_HELP)
    update.add_argument("file", metavar="FILE", help="the new ICL document")
    action("close", "close the lease; every container stops").add_argument(
        "--lid", type=positive_int, required=True, metavar="N", help=LID_HELP)


def _stream_flags(parser) -> None:
    parser.add_argument("--lid", type=positive_int, required=True, metavar="N", help=LID_HELP)
    parser.add_argument("-f", "--follow", action="store_true",
                        help="keep streaming until you interrupt the cell")
    parser.add_argument("-t", "--tail", type=non_negative_int, metavar="N",
                        help="only the last N (default all)")
    parser.add_argument("--service", metavar="S", help="only this service")


def run(context, args, cell=None):
    return ACTIONS[args.action](args)


def create(args):
    report = check_or_refuse(read_icl_file(args.file), "%spheron deployment create")
    sphnctl = driver()
    progress = Progress(f"Creating a deployment from {args.file}").start()
    for finding in report.result.warnings:  # shown, never blocking
        progress.update("warning", f"warning: {finding.message}")
    try:
        created = create_lease(sphnctl, args.file, progress)
    finally:
        progress.flush()
    if created is None:
        return None
    facts = {"lease id": created.lid, "provider": created.provider,
             "agreed price per hour": price_with_token(created.price_per_hour, report.document),
             "ICL file": args.file}
    return KeyValues({k: v for k, v in facts.items() if v}, title=f"Created deployment {created.lid}",
                     footer=f"%spheron deployment get --lid {created.lid} shows when it is available")


def get(args):
    sphnctl = driver()
    details = sphnctl.get(args.lid)
    shown = details_display(details, args.lid)
    why = troubleshooting_display(sphnctl, details, args.lid)
    return shown if why is None else Stack(shown, why)


def list_(args):
    rows = [{"lid": row.lid, "provider": row.provider, "state": row.state, "started": row.start_time}
            for row in driver().list(active_only=args.active)]
    title = "Active deployments (billing)" if args.active else "Deployments"
    empty = "no active deployments: nothing bills" if args.active else "no deployments"
    return Table(rows, title=title, empty=empty)


def logs(args):
    sphnctl = driver()
    as_json = args.output == "json"
    if args.startup and args.follow:
        raise _usage("logs", "--startup shows the node's finished start-up steps; it cannot be "
                     "followed: drop --follow")
    if not args.follow:
        lines = sphnctl.logs(args.lid, tail=args.tail, service=args.service, startup=args.startup,
                             json=as_json)
        return _print_all([line.raw for line in lines], f"no log lines for deployment {args.lid}")
    if as_json:
        # sphnctl's own --follow, raw: the JSON objects are shown exactly as sphnctl prints them.
        argv = ["deployment", "logs", "--lid", str(args.lid), "-o", "json", "--follow"]
        argv += (["--tail", str(args.tail)] if args.tail is not None else [])
        argv += (["--service", args.service] if args.service else [])
        follow_into_cell(lambda cancel: iter(sphnctl.stream(*argv, cancel=cancel)))
        return None
    # follow_logs falls back to polling with --tail where sphnctl cannot follow (fizz mode).
    follow_into_cell(lambda cancel: (line.raw for line in sphnctl.follow_logs(
        args.lid, service=args.service, tail=args.tail, cancel=cancel)))
    return None


def events(args):
    sphnctl = driver()
    if not args.follow:
        found = sphnctl.events(args.lid, tail=args.tail, service=args.service)
        return _print_all([event_line(event) for event in found], f"no events for deployment {args.lid}")
    follow_into_cell(lambda cancel: (event_line(event) for event in sphnctl.follow_events(
        args.lid, tail=args.tail, service=args.service, cancel=cancel)))
    return None


def event_line(event) -> str:
    where = f"{event.kind}/{event.name}" if event.kind else (event.name or "")
    return f"{event.type or '?':<8} {event.reason or '?':<12} {where}: {event.note or ''}".rstrip()


def update(args):
    check_or_refuse(read_icl_file(args.file), "%spheron deployment update")
    sphnctl = driver()
    progress = Progress(f"Updating deployment {args.lid} from {args.file}").start()
    try:
        output = on_chain(lambda on_line: sphnctl.update(args.lid, args.file, on_line=on_line), progress)
    finally:
        progress.flush()
    if output is None:
        return None
    said = [line.strip() for line in output.splitlines() if line.strip()]
    return KeyValues({"lease id": args.lid, "ICL file": args.file, "sphnctl": said[-1] if said else "ok"},
                     title=f"Updated deployment {args.lid}",
                     footer=f"the lease stays {args.lid}; %spheron deployment get --lid {args.lid} "
                            "shows when the new containers are available")


def close(args):
    sphnctl = driver()
    transaction = on_chain(lambda on_line: sphnctl.close(args.lid, on_line=on_line) or "")
    if transaction is None:
        return None
    detail = f" (close request {transaction})" if transaction else ""
    return Text(f"closed deployment {args.lid}{detail}: its containers stop and billing ends")


def _print_all(lines: list[str], empty: str) -> None:
    printer = StreamPrinter()
    for line in lines or [f"[{empty}]"]:
        printer.line(line)
    printer.close()
    return None


def _usage(action: str, message: str) -> UsageError:
    return UsageError(f"%spheron deployment {action}: {message}")


ACTIONS = {"create": create, "get": get, "list": list_, "logs": logs, "events": events,
           "update": update, "close": close}
