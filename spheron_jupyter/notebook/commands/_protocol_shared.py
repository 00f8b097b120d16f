"""What the protocol magics (``icl``, ``deployment``) share: the driver, checks, displays, streams.

The sphnctl driver and the ICL checker live in ``protocol/``; this module only adapts them to a
cell: a report that renders as HTML in a notebook and text in a terminal, a refusal that shows
the findings before the one-line error, and following a log or event stream into the cell.
"""

from __future__ import annotations

import html
import threading
from dataclasses import replace
from pathlib import Path
from queue import Empty, Full, Queue
from collections.abc import Callable, Iterator

from IPython.core.error import UsageError

from ..display import KeyValues, StreamPrinter, Table, Text, in_notebook
from ..htmltext import DOLLAR, block

# How many streamed lines may wait between the sphnctl reader and the cell; beyond this the
# reader waits (and sphnctl with it), so a chatty log cannot grow the kernel's memory.
MAX_WAITING_LINES = 2000
IDLE_FLUSH_SECONDS = 0.1


def driver():
    """The sphnctl driver; a missing sphnctl raises its one-line install hint (the router turns
    it into a UsageError line, with no traceback)."""
    from ...protocol.sphnctl import Sphnctl

    return Sphnctl()


class Rendered:
    """Something that already knows its text and HTML forms (an ``IclReport``)."""

    def __init__(self, text: str, html_text: str):
        self.text, self.html = text, html_text

    def __repr__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        return self.html


class Stack:
    """Several displays shown as one output, in order."""

    def __init__(self, *parts):
        self.parts = [part for part in parts if part is not None]

    def __repr__(self) -> str:
        return "\n\n".join(repr(part) for part in self.parts)

    def _repr_html_(self) -> str:
        return "\n".join(part._repr_html_() if hasattr(part, "_repr_html_") else
                         f"<pre>{html.escape(repr(part))}</pre>" for part in self.parts)


def report_display(report) -> Rendered:
    # protocol/summary.py escapes the document's text (html.escape) but cannot know MathJax: an
    # unexpanded "$TAG-$REV" would show as math. Its tags carry no "$", so every "$" here is
    # text and goes in its own element, as htmltext.text does for the notebook's own outputs.
    return Rendered(report.to_text(), block(report.to_html().replace("$", DOLLAR)))


def show(obj) -> None:
    """Display now (before a refusal or a long wait), the way a cell result would be shown."""
    if in_notebook():
        from IPython.display import display

        display(obj)
    else:
        print(repr(obj), flush=True)


def checked(text: str, mode: str | None = None, *, in_cell: bool = False):
    """``check_report`` of the ICL text. For a cell, findings give the cell's line numbers (the
    ``%%spheron`` line is line 1), as a notebook's editor counts them and as the other YAML cells
    (``%%spheron launch``) report them."""
    from ...protocol.summary import check_report

    report = check_report(text, mode)
    if in_cell:
        def shift(findings):
            return [replace(f, line=f.line + 1) if f.line is not None else f for f in findings]

        report.result.errors = shift(report.result.errors)
        report.result.warnings = shift(report.result.warnings)
    return report


def check_or_refuse(text: str, what: str, mode: str | None = None, *, in_cell: bool = False):
    """Check ICL text; on errors show the full report (path, line, rule, fix of each finding)
    and refuse in one line, so nothing is created from a document sphnctl would reject."""
    report = checked(text, mode, in_cell=in_cell)
    if not report.ok:
        show(report_display(report))
        errors = len(report.result.errors)
        raise UsageError(f"{what}: the ICL document has {errors} error{'s' * (errors != 1)} "
                         "(listed above): fix them; nothing was created or changed")
    return report


def interrupted_message(stopped) -> str:
    """What an interrupted on-chain command means (protocol/create.py): sphnctl goes on by
    itself, so say what may happen and how to look; never suggest running it again."""
    lid = stopped.lid
    lease = f"lease {lid}" if lid else "the lease"
    by_lid = f"--lid {lid}" if lid else "--lid N"
    if stopped.verb == "create":
        advice = (f"so it may exist and bill. %spheron deployment list -a shows the active leases; "
                  f"%spheron deployment close {by_lid} ends it.")
    elif stopped.verb == "close":
        advice = ("until the close request is sent it keeps billing: %spheron deployment list -a shows "
                  "whether it is still active.")
    else:
        advice = f"%spheron deployment get {by_lid} shows when its new containers are available."
    doing = {"create": "creating", "update": "updating", "close": "closing"}.get(stopped.verb, stopped.verb)
    return (f"interrupted: sphnctl goes on {doing} {lease} in the background, {advice} "
            f"sphnctl's output: {stopped.log_path}")


def on_chain(run, progress=None):
    """Run an on-chain sphnctl command (create, update, close); if interrupted, say so in the
    cell and return None. ``run(on_line)`` runs it, each progress line going to ``on_line``."""
    from ...protocol.create import OnChainInterrupted

    def on_line(line: str) -> None:
        if progress is not None and line.strip():
            progress.update("sphnctl", f"sphnctl: {line.strip()}")

    try:
        return run(on_line)
    except OnChainInterrupted as stopped:
        if progress is not None:
            progress.flush()
        print(interrupted_message(stopped), flush=True)
        return None


def create_lease(sphnctl, path, progress):
    """Run `sphnctl deployment create`, each progress line into ``progress``, with no timeout
    (protocol/create.py: a create killed half-way can leave a funded lease without its manifest).
    Interrupted, sphnctl goes on in the background and None is returned."""
    return on_chain(lambda on_line: sphnctl.create(path, on_line=on_line), progress)


def price_with_token(price: str | None, document) -> str | None:
    """sphnctl prints prices as bare numbers (docs/spheron-protocol.md); the document's pricing
    token tells what they count."""
    if not price or not price.replace(".", "", 1).isdigit() or document is None:
        return price
    tokens = {entry.token for placement in document.profiles.placement.values()
              for entry in placement.pricing.values()}
    return f"{price} {tokens.pop()}" if len(tokens) == 1 else price


def read_icl_file(path: str) -> str:
    file = Path(path).expanduser()
    if not file.is_file():
        raise UsageError(f"{path}: no such ICL file: give the path of a YAML document")
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"{path}: cannot read it ({error})") from None


def details_display(details, lid: int):
    """`deployment get` as facts about the lease plus one row per service."""
    from ...protocol.parsers import NO_RESPONSE_FROM_HOST

    facts = {"lease id": details.lid or lid, "status": details.status, "provider": details.provider,
             "price per hour": details.price_per_hour, "started": details.start_time,
             "remaining": details.remaining_time, "region": details.region,
             "host uri": details.host_uri}
    facts = {key: value for key, value in facts.items() if value not in (None, "")}
    footer = None
    if details.no_response_from_host:
        footer = (f"{NO_RESPONSE_FROM_HOST} The fizz node may still be starting it, or its owner "
                  f"stopped it: %spheron deployment logs --lid {lid} --startup shows which.")
    head = KeyValues(facts, title=f"Deployment {lid}", footer=footer)
    if not details.services:
        return head
    rows = [{"service": s.name, "available": f"{s.available}/{s.total}", "ready": s.ready,
             "ports": ", ".join(str(port) for port in s.ports) or "-",
             "host uri": s.host_uri or details.host_uri or ""} for s in details.services]
    return Stack(head, Table(rows, title="Services"))


def troubleshooting_display(sphnctl, details, lid: int):
    """Seed 000's advice, shown under `get` for a lease that is not available: replicas short ->
    say so, wait and recheck, and here are the recent logs and events (pull or start failures);
    a fizz node that does not answer -> its start-up logs. None when there is nothing to explain."""
    from ...protocol.deployments import describe_replicas, troubleshoot
    from ...protocol.sphnctl import SphnctlError

    if details.available or not (details.no_response_from_host or details.services):
        return None  # available, or a closed lease (no services to wait for)
    parts = []
    if not details.no_response_from_host:
        parts.append(f"Not available yet ({describe_replicas(details)}): the provider may still be pulling "
                     "the image and starting the containers; wait a few minutes and check again with "
                     f"%spheron deployment get --lid {lid}; %spheron deployment logs --lid {lid} --follow "
                     "keeps watching. Recent logs and events:")
    try:
        reports = troubleshoot(sphnctl, lid, details=details, log_tail=10, event_tail=10)
    except SphnctlError as error:
        reports, parts = [], parts + [f"(the logs and events could not be read: {error})"]
    parts += [str(report) for report in reports if report.kind != "no-response"]  # the footer says it
    return Text("\n".join(parts))


def follow_into_cell(open_stream: Callable[[threading.Event], Iterator[str]]) -> None:
    """Stream lines into the cell until the stream ends or the notebook interrupts the cell.

    The stream is read in a worker thread so the cell's thread can flush pending output while
    the stream is silent (a coalescing printer otherwise keeps the last lines until the next one
    comes) and can stop at once on KeyboardInterrupt: the cancel event ends the sphnctl
    process group inside the driver.
    """
    cancel = threading.Event()
    lines: Queue = Queue(maxsize=MAX_WAITING_LINES)
    finished = object()
    failure: list[BaseException] = []

    def pump() -> None:
        try:
            for line in open_stream(cancel):
                while not cancel.is_set():
                    try:
                        lines.put(line, timeout=0.1)
                        break
                    except Full:
                        continue
                if cancel.is_set():
                    return
        except BaseException as error:  # shown in the cell's thread, as one line
            failure.append(error)
        finally:
            put_end_marker()

    def put_end_marker() -> None:
        while True:  # the end marker must get through even into a full queue
            try:
                lines.put(finished, timeout=0.1)
                return
            except Full:
                if cancel.is_set():
                    return

    printer = StreamPrinter()
    worker = threading.Thread(target=pump, name="spheron-follow", daemon=True)
    worker.start()
    try:
        while True:
            try:
                item = lines.get(timeout=IDLE_FLUSH_SECONDS)
            except Empty:
                printer.flush()
                continue
            if item is finished:
                break
            printer.line(item)
    except KeyboardInterrupt:
        cancel.set()
        worker.join(timeout=10)
        printer.close()
        print("[stopped]")
        return
    printer.close()
    worker.join(timeout=10)
    if failure:
        raise failure[0]
