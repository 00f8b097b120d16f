"""The instance dashboard (``%spheron panel``): every instance the API or the ledger knows, with
status, uptime, cost so far and the minimum-runtime countdown, and buttons to reach it.

A background loop ticks once a second: uptime, cost and countdowns are worked out locally,
and the API is asked again only every ``refresh_seconds`` (2 s on the emulator, the session's
own 10 s or more on the real service). Rows are a pool of widgets made when the panel is
created, so the loop only sets values; buttons run their work as background jobs.
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import Any

import ipywidgets as W

from ...ledger import format_duration, spending_line, usd
from ...session.sshbridge import target_for
from ...ssh import gpu_telemetry as telemetry
from ..htmltext import attr, copy_button, text as html_text
from ._base import COLORS, Panel, button, message_html

MAX_ROWS = 16
# The widths add up (with the actions cell and the widgets' margins) to what a notebook's output
# area has at 1600 px with the Lab sidebar open, so a row's buttons sit in the row.
CELLS = [("name", "110px"), ("status", "100px"), ("gpu", "100px"), ("GPU use", "150px"),
         ("$/hour", "65px"), ("up", "50px"), ("cost so far", "85px"),
         ("can terminate", "105px"), ("ends", "120px")]
ACTIONS = [("jupyter", "Jupyter"), ("tensorboard", "TensorBoard"), ("logs", "logs"),
           ("exec", "exec"), ("kernel", "kernel"), ("terminate", "terminate"),
           ("extend", "+1h lease"), ("cancel", "cancel end")]
ACTIONS_WIDTH = "230px"  # the last cell: its buttons wrap inside it, never under the row
ROW_CSS = """<style>
.spheron-row-actions .widget-button { height: 22px; line-height: 20px; padding: 0 6px;
  font-size: 12px; margin: 1px; }
.spheron-dashboard-table .spheron-id-copy .spheron-copy { margin-left: 0; }
</style>"""

_live: weakref.WeakKeyDictionary[Any, Dashboard] = weakref.WeakKeyDictionary()


class Dashboard(Panel):
    title = "Instances"

    def __init__(self, session: Any, *, refresh_seconds: float | None = None,
                 start: bool = True):
        super().__init__(session)
        self.refresh_seconds = refresh_seconds or (
            2.0 if session.backend == "local" else max(10.0, session.poll_interval))
        self.views: list[Any] = []
        self._shown: list[Any] = []  # the views the rows show, as last rendered
        self.refreshes = 0
        self.detail_panel: Panel | None = None
        self._allowed_at: dict[str, float] = {}  # instance id -> epoch when terminate is allowed
        self._last_fetch = 0.0
        self._fetched_at: float | None = None  # wall clock of the last answer, for the summary
        self._render_lock = threading.Lock()
        self._fetch_lock = threading.Lock()
        self._gpu = telemetry.for_session(session).watch()  # GPU figures while this is open
        self.gpu_readings: dict[str, Any] = {}  # instance id -> the latest GpuReading
        self._message_about: str | None = None  # the instance the status line talks about
        self._build()
        if start:
            previous = _live.get(session)
            if previous is not None and previous is not self:
                # A re-run cell leaves the old panel's thread behind: one poller per session.
                previous.stop_refreshing("a newer panel took over the refresh")
            _live[session] = self
            self.jobs.every("dashboard", lambda: 1.0, self.tick)
            # GPU figures in a loop of their own: a slow SSH answer never holds up the API's.
            self.jobs.every("dashboard-gpu", lambda: telemetry.MIN_INTERVAL, self.sample_gpus)

    # -- widgets ----------------------------------------------------------------------------
    def _build(self) -> None:
        head = W.HBox([W.HTML(f"<b>{html_text(title)}</b>", layout=W.Layout(width=width, flex="0 0 auto"))
                       for title, width in [*CELLS, ("actions", ACTIONS_WIDTH)]])
        self.rows = [self._make_row(i) for i in range(MAX_ROWS)]
        self.table = W.VBox([head])
        self.table.add_class("spheron-dashboard-table")
        self.auto = W.Checkbox(value=True, description="refresh in the background", indent=False,
                               layout=W.Layout(width="220px"))
        self.show_all = W.Checkbox(value=False, description="show terminated", indent=False,
                                   layout=W.Layout(width="150px"))
        self.show_all.observe(lambda _: self.refresh_now(), names="value")
        self.reload = button("refresh now", css="spheron-dashboard-refresh", width="110px")
        self.reload.on_click(lambda _: self.refresh_now())
        self.summary = W.HTML("loading instances ...")
        self.summary.add_class("spheron-dashboard-summary")
        self.links = W.VBox()  # the service links opened from rows, one per instance and kind
        self.links.add_class("spheron-dashboard-links")
        self._links: dict[tuple[str, str], W.HTML] = {}
        self.detail = W.VBox()
        self.detail.add_class("spheron-dashboard-detail")
        self.root = W.VBox([
            W.HTML("<h4 style='margin:4px 0'>Spheron instances</h4>" + ROW_CSS),
            W.HBox([self.auto, self.show_all, self.reload]),
            self.table, self.summary, self.status, self.links, self.detail,
        ])
        self.root.add_class("spheron-dashboard")

    def _make_row(self, index: int) -> dict[str, Any]:
        cells = {title: W.HTML("", layout=W.Layout(width=width, flex="0 0 auto"))
                 for title, width in CELLS}
        actions = {}
        for key, label in ACTIONS:
            b = button(label, css=f"spheron-action-{key}", width="auto")
            b.on_click(lambda _, i=index, k=key: self.act(i, k))
            actions[key] = b
        # The buttons are the row's last cell, wrapping inside it; the cell itself moves under
        # the others only when the output area is narrower than the row (a clipped row would
        # hide "terminate").
        buttons = W.HBox(list(actions.values()), layout=W.Layout(
            width=ACTIONS_WIDTH, flex="0 0 auto", flex_flow="row wrap", align_content="flex-start"))
        buttons.add_class("spheron-row-actions")
        box = W.HBox([*cells.values(), buttons], layout=W.Layout(flex_flow="row wrap"))
        box.add_class(f"spheron-row-{index}")
        return {"box": box, "cells": cells, "actions": actions, "buttons": buttons}

    # -- the loop ---------------------------------------------------------------------------
    def tick(self) -> None:
        if self.root.comm is None:  # the panel was closed: end the loop with it
            self.jobs.stop()
            self._gpu.close()
            return
        due = time.monotonic() - self._last_fetch >= self.refresh_seconds
        if self.auto.value and due:
            self.fetch()
        self.render()

    def sample_gpus(self) -> None:
        """Each running instance's GPUs (the telemetry keeps to its own minimum interval)."""
        if not self.auto.value or self.root.comm is None:
            return
        for view in list(self.views):
            if view.status == "running" and view.ip and not self._gpu.closed:
                self.gpu_readings[view.id] = self._gpu.reading(target_for(view),
                                                               billing=view.active)

    def fetch(self) -> None:
        """Ask the API (and the ledger) for every instance; the rows follow."""
        with self._fetch_lock:
            self._last_fetch = time.monotonic()
            views = self.session.instances(all=self.show_all.value)
            self._update_countdowns(views)
            self.views = views
            self.refreshes += 1
            self._fetched_at = time.time()
        self.render()

    def refresh_now(self) -> None:
        self.jobs.run("dashboard-refresh", self.fetch)

    def _update_countdowns(self, views: list[Any]) -> None:
        now = time.time()
        for view in views:
            if view.status != "running":
                continue
            allowed = self._allowed_at.get(view.id)
            if allowed is not None and (allowed == 0 or allowed > now):
                continue  # known; asked again only once the countdown has run out
            check = self.session.client.can_terminate(view.id)
            remaining = getattr(check, "time_remaining", None)
            self._allowed_at[view.id] = (0.0 if check.can_terminate
                                         else now + 60.0 * float(remaining or 1.0))

    def stop_refreshing(self, why: str) -> None:
        self.jobs.stop()
        self._gpu.close()
        self.ui.set(self.auto, value=False, disabled=True)
        self.say(why)

    # -- rendering --------------------------------------------------------------------------
    def render(self) -> None:
        with self._render_lock, self.ui.batch():
            views = list(self.views)
            visible = views[:MAX_ROWS]
            for view, row in zip(visible, self.rows):
                self._render_row(view, row)
            self._shown = visible  # a click acts on the instance its row shows
            boxes = [self.table.children[0], *(row["box"] for row in self.rows[:len(visible)])]
            self.ui.set(self.table, children=tuple(boxes))
            active = [v for v in views if v.active]
            self._forget_ended({v.id for v in active}, fetched=self._fetched_at is not None)
            more = f"; {len(views) - MAX_ROWS} more: %spheron ls" if len(views) > MAX_ROWS else ""
            text = (f"{len(active)} active of {len(views)}; {spending_line(views)}{more}"
                    if views else "no instances")
            fetched = self._fetched_at
            stamp = time.strftime("%H:%M:%S", time.localtime(fetched)) if fetched else "-"
            idle = [f"{v.name or v.id}: {self.gpu_readings[v.id].idle_warning}" for v in active
                    if v.id in self.gpu_readings and self.gpu_readings[v.id].idle_warning]
            summary = message_html(f"{text} (checked {stamp})")
            if idle:
                summary += "<br>" + message_html("; ".join(idle), "warn")
            self.ui.set(self.summary, value=summary)

    def _render_row(self, view: Any, row: dict[str, Any]) -> None:
        cells, actions = row["cells"], row["actions"]
        life = view.lifecycle  # attached by the session's listing (ledger/lifecycle.py)
        # A lease is shown in "ends"; only a scheduled terminate changes the status text.
        terminating = view.termination_scheduled
        texts = view.row()  # status, GPU, money and uptime worded as ls words them
        values = {
            "name": (f"<span title='{attr(view.id)}'>{html_text(view.name or view.id)}</span>"
                     f"<br><span class='spheron-id-copy'>{copy_button(view.id, 'instance id')}"
                     "</span>"),
            "status": (f"<span class='spheron-status-{attr(view.status)}'>"
                       f"{html_text(texts['status'])}</span>"),
            "gpu": html_text(texts["gpu"]), "GPU use": self._gpu_cell(view),
            "$/hour": html_text(texts["$/hour"]),
            "up": texts["up"],
            "cost so far": html_text(texts["cost so far"]),
            "can terminate": html_text(self._countdown(view)),
            "ends": self._ends_cell(view),
        }
        for title, value in values.items():
            self.ui.set(cells[title], value=value)
        running = view.status == "running"
        for key in ("jupyter", "tensorboard", "logs", "exec", "kernel"):
            self.ui.set(actions[key], disabled=not running)
        allowed = self._terminate_allowed(view)
        label = "terminate now" if allowed or not view.active else "terminate when allowed"
        scheduled = bool(life and life.scheduled)
        self.ui.set(actions["terminate"], description=label,
                    disabled=not view.active or (terminating and not allowed))
        self.ui.set(actions["extend"], disabled=not view.active)
        self.ui.set(actions["cancel"], disabled=not scheduled)
        # An ended row keeps no (greyed) buttons: there is nothing left to do with it.
        self.ui.set(row["buttons"].layout, visibility="visible" if view.active else "hidden")

    def _gpu_cell(self, view: Any) -> str:
        reading = self.gpu_readings.get(view.id) if view.status == "running" else None
        if reading is None:
            return "-"
        warning = reading.idle_warning
        line = html_text(reading.summary())
        if warning:
            return (f"<span class='spheron-gpu-idle' title='{attr(warning)}' "
                    f"style='color:{COLORS['warn']}'>{line}<br>idle while billing</span>")
        return f"<span class='spheron-gpu-use'>{line}</span>"

    def _forget_ended(self, active_ids: set[str], *, fetched: bool) -> None:
        """An ended instance's links and "will be terminated ..." line leave the live view."""
        if not fetched:
            return
        gone = [key for key in self._links if key[0] not in active_ids]
        for key in gone:
            del self._links[key]
        if gone:
            self.ui.set(self.links, children=tuple(self._links.values()))
        if self._message_about and self._message_about not in active_ids:
            self._message_about = None
            self.say("")

    def _ends_cell(self, view: Any) -> str:
        if not view.active:
            return "-"
        text = view.ends
        if not text:
            return html_text("no lease")
        css = "spheron-ends-scheduled"
        return f"<span class='{css}' title='{attr(text)}'>{html_text(text)}</span>"

    def _terminate_allowed(self, view: Any) -> bool:
        allowed = self._allowed_at.get(view.id)
        return allowed is not None and allowed <= time.time()

    def _countdown(self, view: Any) -> str:
        if not view.active:
            return "-"
        allowed = self._allowed_at.get(view.id)
        if allowed is None:
            return "?" if view.status == "running" else "after boot"
        left = allowed - time.time()
        return "now" if left <= 0 else f"in {format_duration(left)}"

    # -- actions ----------------------------------------------------------------------------
    def view_at(self, index: int) -> Any | None:
        """The instance row ``index`` shows (not the newest listing's, which may have shifted)."""
        shown = self._shown
        return shown[index] if index < len(shown) else None

    def row_of(self, ref: str) -> int:
        """The row showing instance ``ref`` (id or name); for tests and scripts."""
        for index, view in enumerate(self._shown):
            if ref in (view.id, view.name):
                return index
        raise LookupError(f"no row for {ref!r}")

    def act(self, index: int, action: str) -> None:
        view = self.view_at(index)
        if view is None:
            return
        if action in ("jupyter", "tensorboard"):
            self._open_service(view, action)
        elif action == "logs":
            from .logviewer import LogViewer

            self._show_detail(LogViewer(self.session, view.id, title=view.name or view.id))
        elif action == "exec":
            from .execbox import ExecBox

            self._show_detail(ExecBox(self.session, view.id, title=view.name or view.id))
        elif action == "kernel":
            self._install_kernel(view)
        elif action == "terminate":
            self._confirm_terminate(view)
        elif action in ("extend", "cancel"):
            work = ((lambda: self.session.extend_lease(view.id, 3600.0)) if action == "extend"
                    else (lambda: self.session.cancel_lease(view.id)))
            self.jobs.run(action, work, on_done=self._lifecycle_changed)

    def _show_detail(self, panel: Panel | None, *extra: W.Widget) -> None:
        if self.detail_panel is not None:
            self.detail_panel.close()
        self.detail_panel = panel
        self.detail.children = tuple(([panel.root] if panel else []) + list(extra))

    def _open_service(self, view: Any, kind: str) -> None:
        label = "Jupyter" if kind == "jupyter" else "TensorBoard"
        link_view = W.HTML(message_html(f"starting {label} on {view.name or view.id} ..."))
        link_view.add_class(f"spheron-{kind}-link")
        # Links stay above the detail area: opening logs or exec next must not erase them.
        key = (view.id, kind)
        self._links[key] = link_view
        self.links.children = tuple(self._links.values())
        start = self.session.jupyter if kind == "jupyter" else self.session.tensorboard

        def shown(link: Any) -> None:
            from ..commands._links import show_service

            self.ui.set(link_view, value=show_service(link, label)._repr_html_())

        self.jobs.run(kind, lambda: start(view.id), on_done=shown)

    def _install_kernel(self, view: Any) -> None:
        """%spheron kernel NAME from a button: the kernelspec, then how to switch to it."""
        note = W.HTML(message_html(f"installing the kernel for {view.name or view.id} ..."))
        note.add_class("spheron-kernel-note")
        self._show_detail(None, note)

        def install() -> str:
            from ..commands.kernel import install_kernel, switch_text

            return switch_text(install_kernel(self.session, view.id))

        self.jobs.run("kernel", install, on_done=lambda text: self.ui.set(
            note, value="<br>".join(message_html(line, "ok") for line in text.splitlines())))

    def _confirm_terminate(self, view: Any) -> None:
        allowed = self._terminate_allowed(view)
        when = "now" if allowed else "as soon as its minimum runtime is over"
        question = W.HTML(message_html(
            f"Terminate {view.name or view.id} ({view.status}, {usd(view.cost_so_far)} so far) "
            f"{when}?", "warn"))
        yes = button("yes, terminate", css="spheron-terminate-yes", style="danger", width="140px")
        no = button("cancel", css="spheron-terminate-no", width="80px")
        no.on_click(lambda _: self._show_detail(None))

        def go(_: Any) -> None:
            yes.disabled = no.disabled = True
            self.say(f"terminating {view.name or view.id} ...")
            self.jobs.run("terminate",
                          lambda: self.session.terminate(view.id, when_allowed=True),
                          on_done=lambda result: self._terminated(result))

        yes.on_click(go)
        self._show_detail(None, W.HBox([question, yes, no]))

    def _lifecycle_changed(self, message: str) -> None:
        self.say(message, "ok")
        self.fetch()

    def _terminated(self, result: Any) -> None:
        self.say(result.message, "ok")
        if result.scheduled:  # "will be terminated in ...": stale once it has ended
            self._message_about = result.instance.id
        self.ui.set(self.detail, children=())  # the question is answered
        self.fetch()

    def close(self) -> None:
        if self.detail_panel is not None:
            self.detail_panel.close()
        if _live.get(self.session) is self:
            del _live[self.session]
        super().close()
        self._gpu.close()
