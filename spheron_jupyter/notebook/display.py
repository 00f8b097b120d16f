"""Output that fits where it runs: HTML in notebooks, aligned text in a terminal IPython.

Every object here has both ``_repr_html_`` and a plain-text ``__repr__``; IPython picks. Progress
and streams update in place at most ten times a second (a chatty log must not flood the
frontend: docs/architecture.md), from the cell's own thread, with bounded buffers that count what they drop.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from typing import Any
from collections.abc import Iterable

from .htmltext import attr, block, copy_button, text

MAX_UPDATES_PER_SECOND = 10


def in_notebook() -> bool:
    """True in a kernel with a rich frontend; False in terminal IPython and plain Python."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


class Table:
    """Rows of already formatted strings; the first row's keys are the columns."""

    def __init__(self, rows: Iterable[dict[str, Any]], *, title: str | None = None,
                 empty: str = "nothing to show", footer: str | None = None):
        self.rows = [{k: "" if v is None else str(v) for k, v in r.items()} for r in rows]
        self.title, self.empty, self.footer = title, empty, footer

    @property
    def columns(self) -> list[str]:
        return list(self.rows[0]) if self.rows else []

    def __repr__(self) -> str:
        lines = [self.title] if self.title else []
        if not self.rows:
            lines.append(self.empty)
        else:
            cols = self.columns
            widths = [max(len(c), *(len(r.get(c, "")) for r in self.rows)) for c in cols]
            lines.append("  ".join(c.ljust(w) for c, w in zip(cols, widths)).rstrip())
            lines.append("  ".join("-" * w for w in widths))
            for r in self.rows:
                lines.append("  ".join(r.get(c, "").ljust(w) for c, w in zip(cols, widths)).rstrip())
        if self.footer:
            lines.append(self.footer)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        parts = []
        if self.title:
            parts.append(f"<b>{text(self.title)}</b>")
        if not self.rows:
            parts.append(f"<p><i>{text(self.empty)}</i></p>")
        else:
            head = "".join(f"<th style='text-align:left'>{text(c)}</th>" for c in self.columns)
            body = "".join(
                "<tr>" + "".join(f"<td style='text-align:left'>{text(r.get(c, ''))}</td>"
                                 for c in self.columns) + "</tr>"
                for r in self.rows
            )
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        if self.footer:
            parts.append(f"<p>{text(self.footer)}</p>")
        return block("\n".join(parts))


class KeyValues(Table):
    """A two-column table of facts about one thing."""

    def __init__(self, facts: dict[str, Any], *, title: str | None = None, footer: str | None = None):
        super().__init__([{"": k, " ": v} for k, v in facts.items()], title=title, footer=footer)

    def __repr__(self) -> str:
        lines = [self.title] if self.title else []
        width = max((len(r[""]) for r in self.rows), default=0)
        lines += [f"{r[''].ljust(width)}  {r[' ']}" for r in self.rows]
        if self.footer:
            lines.append(self.footer)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><th style='text-align:left'>{text(r[''])}</th>"
            f"<td style='text-align:left'>{text(r[' '])}</td></tr>" for r in self.rows
        )
        title = f"<b>{text(self.title)}</b>\n" if self.title else ""
        footer = f"\n<p>{text(self.footer)}</p>" if self.footer else ""
        return block(f"{title}<table><tbody>{rows}</tbody></table>{footer}")


class Text:
    """Preformatted text (an ssh_config block, a help page) that stays monospace in HTML.

    ``copy``: (label, value) pairs shown as copy buttons above it in HTML (the SSH command).
    """

    def __init__(self, text: str, copy: list[tuple[str, str]] | None = None):
        self.text = text
        self.copy = copy or []

    def __repr__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        buttons = "".join(f"<span>{text(label)}{copy_button(value, label)}</span> "
                          for label, value in self.copy)
        head = f"<div>{buttons}</div>" if buttons else ""
        return block(f"{head}<pre>{text(self.text)}</pre>")


class _Coalescer:
    """Runs ``flush`` at most ten times a second, and always soon after the last change.

    A change inside the 100 ms window arms a one-shot timer instead of being held until the
    next change, which may never come (``echo going; sleep 600``). Timer flushes write to the
    stream or display handle captured in the cell's own thread, so they land in that cell.
    """

    def __init__(self, flush):
        self._flush = flush
        self._lock = threading.RLock()
        self._last = 0.0
        self._timer: threading.Timer | None = None

    def changed(self) -> None:
        with self._lock:
            wait = self._last + 1 / MAX_UPDATES_PER_SECOND - time.monotonic()
            if wait <= 0:
                self._cancel_locked()  # a late timer would flush a second time
                self._run_locked()
            elif self._timer is None:
                timer = threading.Timer(wait, self._on_timer)
                timer.args = (timer,)
                timer.daemon = True
                self._timer = timer
                timer.start()

    def _on_timer(self, timer: threading.Timer) -> None:
        with self._lock:
            if self._timer is not timer:
                return  # cancelled while it waited for the lock
            self._timer = None
            self._run_locked()

    def _cancel_locked(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _run_locked(self) -> None:
        self._last = time.monotonic()
        self._flush()

    def close(self) -> None:
        with self._lock:
            self._cancel_locked()
            self._run_locked()


class Progress:
    """Stages of long work shown in one place, updated in place (a display handle) in notebooks.

    Create it in the cell's thread; ``update`` may then come from anywhere and is coalesced.
    """

    def __init__(self, title: str):
        self.title = title
        self.lines: list[str] = []
        self._notebook = in_notebook()
        self._handle = None
        self._coalescer = _Coalescer(self._push)
        if self._notebook:
            from IPython.display import display

            self._handle = display(Text(self._render()), display_id=True)

    def _render(self) -> str:
        return "\n".join([self.title, *("  " + line for line in self.lines)])

    def _push(self) -> None:
        if self._handle is not None:
            self._handle.update(Text(self._render()))

    def update(self, stage: str, detail: str) -> None:
        if self.lines and self.lines[-1].split("  ", 1)[-1] == detail:
            return
        line = f"{time.strftime('%H:%M:%S')}  {detail}"
        self.lines.append(line)
        if not self._notebook:
            print("  " + line, flush=True)  # a terminal scrolls; each stage is one line
            return
        self._coalescer.changed()

    def flush(self) -> None:
        self._coalescer.close()

    def start(self) -> Progress:
        if not self._notebook:
            print(self.title, flush=True)
        return self


class StreamPrinter:
    """Writes streamed text to the cell in batches (≤ 10 per second) from a bounded buffer.

    If lines arrive faster than a frontend can take, the oldest pending ones are dropped and
    counted, and the count is reported: memory stays bounded whatever the remote side does.
    """

    def __init__(self, max_pending_lines: int = 5000, stream=None):
        self._pending: deque[str] = deque(maxlen=max_pending_lines)
        self._stream = stream or sys.stdout  # captured in the cell's thread
        self._lock = threading.Lock()
        self.dropped = 0
        self._coalescer = _Coalescer(self._write_pending)

    def write(self, text: str) -> None:
        if not text:
            return
        with self._lock:
            if len(self._pending) == self._pending.maxlen:
                self.dropped += 1
            self._pending.append(text)
        self._coalescer.changed()

    def line(self, text: str) -> None:
        self.write(text if text.endswith("\n") else text + "\n")

    def _write_pending(self) -> None:
        with self._lock:
            chunk = "".join(self._pending)
            self._pending.clear()
        if chunk:
            self._stream.write(chunk)
            self._stream.flush()

    def flush(self) -> None:
        self._coalescer.changed()

    def close(self) -> None:
        self._coalescer.close()
        if self.dropped:
            self._stream.write(
                f"[{self.dropped} lines dropped: output came faster than the display can show]\n"
            )
            self._stream.flush()


class Link:
    """A tunnelled UI. The text shown and saved never contains the token.

    In a notebook the clickable link is a one-time local redirect (``links.py``) that hands the
    browser the token URL; in a terminal IPython nothing is saved, so the token URL is printed.
    """

    def __init__(self, label: str, plain_url: str, click_url: str, note: str = "",
                 tunnel_id: str | None = None):
        self.label, self.plain_url, self.click_url, self.note = label, plain_url, click_url, note
        self.tunnel_id = tunnel_id

    @property
    def url(self) -> str:
        """The local address without any token (what a script fetches with its own auth)."""
        return self.plain_url

    def __repr__(self) -> str:
        return f"{self.label}: {self.click_url}" + (f"\n{self.note}" if self.note else "")

    def _repr_html_(self) -> str:
        note = f"<br><small>{text(self.note)}</small>" if self.note else ""
        # "open in a Lab tab": hidden unless our Lab extension runs (it shows these and opens
        # the tunnel in a tab through Jupyter's proxy, labextension/src/links.ts).
        tab = (f" <a class='spheron-open-tab' data-spheron-tunnel='{attr(self.tunnel_id)}' "
               "href='#' style='display:none'>open in a Lab tab</a>" if self.tunnel_id else "")
        return block(f"{text(self.label)}: <a href='{attr(self.click_url)}' "
                     f"target='_blank'>{text(self.plain_url)}</a>"
                     f"{copy_button(self.plain_url, 'the URL')}{tab}{note}")
