"""Run a shell command on an instance from the dashboard; output streams into this box only.

``Session.exec`` runs in a background job; its output goes into a bounded buffer that is
rendered at most ten times a second. "stop" interrupts the job the way the notebook's stop
button interrupts ``%spheron exec`` (KeyboardInterrupt), which stops the remote process group.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

import ipywidgets as W

from ..display import _Coalescer
from ._background import interrupt_thread
from ..htmltext import text as html_text
from ._base import Panel, button, message_html

KEEP_CHUNKS = 2000
SUBMIT_SETTLE_SECONDS = 0.2  # lets a value synced just after Enter's submit arrive first


class ExecBox(Panel):
    title = "Exec"

    def __init__(self, session: Any, ref: str, *, title: str | None = None):
        super().__init__(session)
        self.ref = ref
        self.chunks: deque[tuple[str, str]] = deque(maxlen=KEEP_CHUNKS)
        self.dropped = 0
        self.exit_code: int | None = None
        self._lock = threading.Lock()
        self._runner: threading.Thread | None = None
        self._render_soon = _Coalescer(self.render)
        self.command = W.Text(placeholder="shell command, e.g. nvidia-smi", continuous_update=False,
                              layout=W.Layout(width="420px"))
        self.command.add_class("spheron-exec-command")
        self.run_button = button("run", css="spheron-exec-run", style="primary", width="70px")
        self.stop_button = button("stop", css="spheron-exec-stop", width="70px")
        self.stop_button.disabled = True
        self.output = W.HTML("", layout=W.Layout(max_height="300px", overflow="auto"))
        self.output.add_class("spheron-exec-output")
        self.run_button.on_click(lambda _: self.run())
        # Enter runs it. The frontend sends a "submit" message on Enter (what the deprecated
        # on_submit listened to); the value it submits may be synced just after it, so the run
        # starts a moment later, in a background job.
        self.command.on_msg(self._on_command_msg)
        self.stop_button.on_click(lambda _: self.stop())
        self.root = W.VBox([
            W.HTML(f"<b>Run on {html_text(title or ref)}</b>"),
            W.HBox([self.command, self.run_button, self.stop_button]),
            self.output, self.status,
        ])
        self.root.add_class("spheron-execbox")

    def _on_command_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("event") == "submit":
            self.jobs.run("submit", lambda: time.sleep(SUBMIT_SETTLE_SECONDS),
                          on_done=lambda _: self.run())

    def run(self, command: str | None = None) -> None:
        command = (command if command is not None else self.command.value).strip()
        if not command or (self._runner is not None and self._runner.is_alive()):
            return
        with self._lock:
            self.chunks.clear()
            self.dropped = 0
            self.exit_code = None
        self.ui.set(self.run_button, disabled=True)
        self.ui.set(self.stop_button, disabled=False)
        self.say(f"running: {command}")
        self._runner = self.jobs.run(
            "exec", lambda: self.session.exec(self.ref, command, self._output),
            on_done=self._finished, on_finally=self._ended)

    def _output(self, stream: str, text: str) -> None:
        with self._lock:
            if len(self.chunks) == self.chunks.maxlen:
                self.dropped += 1
            self.chunks.append((stream, text))
        self._render_soon.changed()

    def _finished(self, code: int) -> None:
        self.exit_code = code
        self.say(f"exited with status {code}", "ok" if code == 0 else "warn")

    def _ended(self) -> None:
        self._render_soon.close()
        self.ui.set(self.run_button, disabled=False)
        self.ui.set(self.stop_button, disabled=True)

    def stop(self) -> None:
        runner = self._runner
        if runner is not None and runner.is_alive():
            interrupt_thread(runner, KeyboardInterrupt)
            self.say("stopped", "warn")

    @property
    def text(self) -> str:
        with self._lock:
            return "".join(text for _, text in self.chunks)

    def render(self) -> None:
        with self._lock:
            chunks, dropped = list(self.chunks), self.dropped
        body = "".join(
            f"<span style='color:#cf222e'>{html_text(t)}</span>" if s == "stderr"
            else html_text(t) for s, t in chunks)
        note = message_html(f"[{dropped} earlier chunks dropped]", "warn") if dropped else ""
        self.ui.set(self.output, value=f"{note}<pre style='margin:0'>{body}</pre>")
