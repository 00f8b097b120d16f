"""The log viewer: follow on/off, tail N, a filter box, highlighted tracebacks, CUDA
out-of-memory and NCCL errors, a count of dropped lines, and the full log as a download.

Lines come from ``Session.logs`` in a background job into a bounded buffer (older lines are
dropped from the view and counted; the download fetches the whole log again). The view is
re-rendered at most ten times a second, as one trait update of one HTML widget.
"""

from __future__ import annotations

import base64
import re
import tempfile
import threading
from collections import deque
from pathlib import Path
from typing import Any

import ipywidgets as W

from ..display import _Coalescer
from ._background import interrupt_thread
from ..htmltext import attr, text as html_text
from ._base import Panel, button, message_html

VIEW_LINES = 1000          # lines kept for the view; the download has them all
DOWNLOAD_INLINE_BYTES = 20 * 1024 * 1024  # bigger logs: the file path only, no data link
SOURCES = {"startup log": ("startup", None), "jupyter": ("service", "jupyter"),
           "tensorboard": ("service", "tensorboard")}

CUDA_OOM = re.compile(r"CUDA out of memory|OutOfMemoryError|CUDA error: out of memory|"
                      r"cudaErrorMemoryAllocation|CUBLAS_STATUS_ALLOC_FAILED", re.IGNORECASE)
NCCL = re.compile(r"\bNCCL (WARN|ERROR)\b|nccl\w*Error|NCCL error|ProcessGroupNCCL.*"
                  r"(timeout|timed out|error)|NCCL_.*failed", re.IGNORECASE)
DROPPED = re.compile(r"^\[(\d+) lines dropped")
STYLES = {"traceback": "background:#ffebe9;color:#82071e",
          "oom": "background:#fff1c2;color:#7a4d00;font-weight:bold",
          "nccl": "background:#e6e0ff;color:#3e1f8c;font-weight:bold",
          "notice": "color:#888"}


class StopFollowing(Exception):
    """Raised in the reader thread to end a follow (see ``interrupt_thread``)."""

    quiet = True  # an ordinary end, not an error to show


def classify(line: str, in_traceback: bool) -> tuple[str, bool]:
    """(kind, still in a traceback) for one line; a traceback ends at its unindented last line."""
    if CUDA_OOM.search(line):
        return "oom", in_traceback and line[:1].isspace()
    if NCCL.search(line):
        return "nccl", in_traceback and line[:1].isspace()
    if line.startswith("Traceback (most recent call last)"):
        return "traceback", True
    if in_traceback:
        if line[:1].isspace() or not line.strip():
            return "traceback", True
        return "traceback", False  # "ValueError: ..." closes it
    if line.startswith("[") and line.endswith("]"):
        return "notice", False
    return "plain", False


class LogViewer(Panel):
    title = "Logs"

    def __init__(self, session: Any, ref: str, *, title: str | None = None,
                 follow: bool = True, tail: int = 200, start: bool = True):
        super().__init__(session)
        self.ref = ref
        self.lines: deque[tuple[str, str]] = deque(maxlen=VIEW_LINES)
        self.dropped = 0   # lines that fell out of the view or the reader's own buffer
        self.counts = {"traceback": 0, "oom": 0, "nccl": 0}
        self.download_path: Path | None = None
        self._in_traceback = False
        self._lines_lock = threading.Lock()
        self._reader: threading.Thread | None = None
        self._render_soon = _Coalescer(self.render)
        self._build(title or ref, follow, tail)
        if start:
            self.restart()

    def _build(self, title: str, follow: bool, tail: int) -> None:
        self.source = W.Dropdown(options=list(SOURCES), value="startup log",
                                 layout=W.Layout(width="140px"))
        self.follow = W.ToggleButton(value=follow, description="follow", icon="play",
                                     tooltip="keep reading new lines", layout=W.Layout(width="90px"))
        self.tail = W.BoundedIntText(value=tail, min=1, max=100_000, description="tail",
                                     layout=W.Layout(width="140px"))
        self.filter = W.Text(placeholder="filter lines", continuous_update=True,
                             layout=W.Layout(width="200px"))
        self.download = button("download full log", css="spheron-log-download", width="150px")
        self.counter = W.HTML("")
        self.output = W.HTML("<pre></pre>", layout=W.Layout(max_height="360px",
                                                            overflow="auto", width="100%"))
        self.link = W.HTML("")
        for widget, css in ((self.follow, "follow"), (self.tail, "tail"),
                            (self.filter, "filter"), (self.output, "output"),
                            (self.counter, "counter"), (self.link, "link")):
            widget.add_class(f"spheron-log-{css}")
        self.follow.observe(lambda _: self.restart(), names="value")
        self.source.observe(lambda _: self.restart(), names="value")
        self.tail.observe(lambda _: self.restart(), names="value")
        self.filter.observe(lambda _: self._render_soon.changed(), names="value")
        self.download.on_click(lambda _: self.prepare_download())
        self.root = W.VBox([
            W.HTML(f"<b>Logs of {html_text(title)}</b>"),
            W.HBox([self.source, self.follow, self.tail, self.filter, self.download]),
            self.counter, self.output, self.link, self.status,
        ])
        self.root.add_class("spheron-logviewer")

    # -- reading ----------------------------------------------------------------------------
    def restart(self) -> None:
        """(Re)start reading with the current source, tail and follow settings."""
        self.stop()
        with self._lines_lock:
            self.lines.clear()
            self.dropped = 0
            self.counts = dict.fromkeys(self.counts, 0)
            self._in_traceback = False
        source, name = SOURCES[self.source.value]
        follow, tail = self.follow.value, self.tail.value
        self.say("following ..." if follow else "reading ...")
        self._reader = self.jobs.run(
            "logs", lambda: self._read(source, name, follow, tail),
            on_done=lambda _: self.say("" if not follow else "follow stopped"))
        self._render_soon.changed()

    def _read(self, source: str, name: str | None, follow: bool, tail: int) -> None:
        lines = self.session.logs(self.ref, source=source, name=name, follow=follow, tail=tail)
        try:
            for line in lines:
                self.add(line)
        except StopFollowing:
            pass
        finally:
            try:
                close = getattr(lines, "close", None)
                if close:
                    close()
            except StopFollowing:
                pass
        self._render_soon.close()

    def add(self, line: str) -> None:
        """One line into the bounded view buffer (also what tests feed directly)."""
        line = line.rstrip("\n")
        with self._lines_lock:
            found = DROPPED.match(line)
            if found:
                self.dropped += int(found.group(1))
            kind, self._in_traceback = classify(line, self._in_traceback)
            if kind in self.counts and (kind != "traceback" or line.startswith("Traceback")):
                self.counts[kind] += 1
            if len(self.lines) == self.lines.maxlen:
                self.dropped += 1
            self.lines.append((line, kind))
        self._render_soon.changed()

    def stop(self) -> None:
        """End a running follow; the remote reader stops with it."""
        reader, self._reader = self._reader, None
        if reader is not None and reader.is_alive():
            interrupt_thread(reader, StopFollowing)
            reader.join(timeout=5)

    # -- rendering --------------------------------------------------------------------------
    def render(self) -> None:
        needle = self.filter.value.strip().lower()
        with self._lines_lock:
            lines = list(self.lines)
            dropped, counts = self.dropped, dict(self.counts)
        shown = [(t, k) for t, k in lines if needle in t.lower()] if needle else lines
        body = "\n".join(_line_html(text, kind) for text, kind in shown)
        self.ui.set(self.output, value=f"<pre style='margin:0;font-size:12px'>{body}</pre>")
        parts = [f"{len(shown)} of {len(lines)} lines shown" if needle else f"{len(lines)} lines",
                 f"{dropped} dropped", f"{counts['traceback']} tracebacks",
                 f"{counts['oom']} CUDA out-of-memory", f"{counts['nccl']} NCCL errors"]
        kind = "error" if counts["oom"] or counts["nccl"] or counts["traceback"] else "info"
        self.ui.set(self.counter, value=message_html(" | ".join(parts), kind))

    # -- download ---------------------------------------------------------------------------
    def prepare_download(self) -> None:
        """Fetch the whole log (not only the view) into a file and offer it as a download."""
        source, name = SOURCES[self.source.value]
        self.ui.set(self.link, value=message_html("fetching the full log ..."))
        self.jobs.run("log-download", lambda: self._fetch_full(source, name),
                      on_done=self._offer_download)

    def _fetch_full(self, source: str, name: str | None) -> Path:
        folder = Path(tempfile.mkdtemp(prefix="spheron-log-"))
        label = "".join(c if c.isalnum() or c in "-_" else "-" for c in f"{self.ref}-{name or source}")
        path = folder / f"{label}.log"
        with path.open("w", encoding="utf-8") as out:
            for line in self.session.logs(self.ref, source=source, name=name, follow=False):
                out.write(line.rstrip("\n") + "\n")
        return path

    def _offer_download(self, path: Path) -> None:
        self.download_path = path
        size = path.stat().st_size
        where = f"saved to {path} ({size:,} bytes)"
        if size > DOWNLOAD_INLINE_BYTES:
            self.ui.set(self.link, value=message_html(where + ": too big for a browser link"))
            return
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        self.ui.set(self.link, value=(
            f"<a download='{attr(path.name)}' href='data:text/plain;charset=utf-8;base64,"
            f"{data}'>save {html_text(path.name)}</a> <small>{html_text(where)}</small>"))

    def close(self) -> None:
        self.stop()
        super().close()


def _line_html(text: str, kind: str) -> str:
    escaped = html_text(text)
    style = STYLES.get(kind)
    return f"<span class='log-{kind}' style='{style}'>{escaped}</span>" if style else escaped
