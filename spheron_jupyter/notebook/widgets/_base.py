"""What every panel shares: a root box, a one-line status, background jobs, coalesced updates.

A panel is a plain object holding stock ipywidgets; it shows itself by handing Jupyter its
root widget's mime bundle, so a magic can simply return it. ipywidgets is imported here, and
this module is only imported when a panel is created (``%load_ext`` stays cheap).
"""

from __future__ import annotations

from typing import Any

import ipywidgets as W

from ..htmltext import text as html_text
from ._background import Background, UiUpdates

# JupyterLab's theme colours (light and dark), with fallbacks for frontends without them.
COLORS = {"info": "var(--jp-ui-font-color2, #555)", "ok": "var(--jp-success-color1, #1a7f37)",
          "warn": "var(--jp-warn-color1, #9a6700)", "error": "var(--jp-error-color1, #cf222e)"}


def message_html(text: str, kind: str = "info") -> str:
    color = COLORS.get(kind, COLORS["info"])
    return f"<span style='color:{color}'>{html_text(text)}</span>" if text else ""


def label_html(text: str, *, bold: bool = False, mono: bool = False) -> str:
    body = html_text(text)
    if mono:
        body = f"<code>{body}</code>"
    return f"<b>{body}</b>" if bold else body


class Panel:
    """Subclasses build ``self.root`` (created in the caller's thread) and call ``self.say``."""

    title = "Spheron"

    def __init__(self, session: Any):
        self.session = session
        self.ui = UiUpdates()
        self.status = W.HTML(value="")
        self.status.add_class("spheron-status")
        self.jobs = Background(on_error=lambda text: self.say(text, "error"))
        self.root: W.Box = W.VBox()
        self.last_message = ("", "info")

    # -- messages ---------------------------------------------------------------------------
    def say(self, text: str, kind: str = "info") -> None:
        """The panel's one status line; safe from any thread (it is only a trait update)."""
        self.last_message = (text, kind)
        self.ui.set(self.status, value=message_html(text, kind))

    # -- display ----------------------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.root._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.last_message[0] or self.title}>"

    # -- lifecycle --------------------------------------------------------------------------
    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Let running jobs finish and apply pending updates (for tests and scripts)."""
        done = self.jobs.wait_idle(timeout)
        self.ui.flush()
        return done

    def close(self) -> None:
        """Stop background work and close the widgets (their views go blank)."""
        self.jobs.stop()
        self.ui.flush()
        self.root.close()


def button(description: str, *, css: str | None = None, style: str = "",
           tooltip: str = "", width: str | None = None) -> W.Button:
    b = W.Button(description=description, button_style=style, tooltip=tooltip or description)
    if width:
        b.layout.width = width
        b.layout.flex = "0 0 auto"  # a crowded row must not squeeze the label into "..."
    if css:
        b.add_class(css)
    return b


def titled(title: str, *children: W.Widget) -> W.VBox:
    return W.VBox([W.HTML(f"<h4 style='margin:4px 0'>{html_text(title)}</h4>"), *children])
