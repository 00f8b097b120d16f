"""Background work for the panels: jobs, periodic refresh and coalesced widget updates.

Output from background work: since ipykernel 7 anything a thread *prints* lands in
the most recent cell. So the panels create every widget in the cell's (or the click
handler's) thread, and worker threads only ever set traits on those widgets. A trait update
is a comm message addressed to one widget model, so it reaches that widget wherever it is
shown. Updates go through ``UiUpdates``, which applies them at most ten times a second (the
same coalescer the magics' progress display uses), and nothing here ever prints.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Any
from collections.abc import Callable, Iterator

from ..display import _Coalescer


def one_line(exc: BaseException) -> str:
    """An exception as the one clean, secret-masked line the magics would show."""
    from ..magic import one_line as magic_one_line

    return magic_one_line(exc)


def _quiet(exc: BaseException) -> bool:
    """A stop we asked for (KeyboardInterrupt from "stop", a follow ended): not an error."""
    return isinstance(exc, KeyboardInterrupt) or bool(getattr(exc, "quiet", False))


class UiUpdates:
    """Pending trait updates, keyed by (widget, trait): only the latest value of each is sent."""

    def __init__(self):
        self._lock = threading.RLock()
        self._pending: dict[tuple[int, str], tuple[Any, str, Any]] = {}
        self._coalescer = _Coalescer(self._apply)
        self._depth = 0
        self.applied = 0  # how many batches went out; tests check the rate limit with it

    def set(self, widget: Any, **traits: Any) -> None:
        with self._lock:
            for name, value in traits.items():
                self._pending[(id(widget), name)] = (widget, name, value)
            if self._depth:
                return  # the batch sends it all together
        self._coalescer.changed()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Updates made inside go out together (a row never shows half old, half new)."""
        with self._lock:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
        self._coalescer.changed()

    def _apply(self) -> None:
        with self._lock:
            batch = list(self._pending.values())
            self._pending.clear()
        if batch:
            self.applied += 1
        for widget, name, value in batch:
            setattr(widget, name, value)

    def flush(self) -> None:
        """Apply whatever is pending now (tests, and the end of a job)."""
        self._coalescer.close()


class Background:
    """The daemon threads of one panel. A failed job reports one line through ``on_error``."""

    def __init__(self, on_error: Callable[[str], None]):
        self._on_error = on_error
        self._lock = threading.Lock()
        self._threads: set[threading.Thread] = set()
        self._stop = threading.Event()

    @property
    def stopping(self) -> threading.Event:
        return self._stop

    def run(self, name: str, job: Callable[[], Any],
            on_done: Callable[[Any], None] | None = None,
            on_finally: Callable[[], None] | None = None) -> threading.Thread:
        def work() -> None:
            try:
                try:
                    result = job()
                except (Exception, KeyboardInterrupt) as exc:  # shown in the panel, not printed
                    if not _quiet(exc):
                        self._on_error(one_line(exc))
                else:
                    if on_done is not None:
                        on_done(result)
                finally:
                    if on_finally is not None:
                        on_finally()
            except (Exception, KeyboardInterrupt) as exc:  # from on_done/on_finally, or late
                if not _quiet(exc):
                    self._on_error(one_line(exc))
            finally:
                with self._lock:
                    self._threads.discard(threading.current_thread())

        thread = threading.Thread(target=work, name=f"spheron-panel-{name}", daemon=True)
        with self._lock:
            self._threads.add(thread)
        thread.start()
        return thread

    def every(self, name: str, seconds: Callable[[], float], tick: Callable[[], None],
              *, first_delay: float = 0.0) -> threading.Thread:
        """Call ``tick`` every ``seconds()`` until ``stop()``; a failing tick does not end it."""
        def loop() -> None:
            if self._stop.wait(first_delay):
                return
            while not self._stop.is_set():
                try:
                    tick()
                except Exception as exc:
                    self._on_error(one_line(exc))
                if self._stop.wait(max(0.05, seconds())):
                    return

        thread = threading.Thread(target=loop, name=f"spheron-panel-{name}", daemon=True)
        thread.start()
        return thread

    def busy(self) -> bool:
        with self._lock:
            return any(t.is_alive() for t in self._threads)

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Wait for the one-off jobs (not the periodic ones) to finish; True when they did."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                alive = [t for t in self._threads if t.is_alive()]
            if not alive:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            alive[0].join(min(remaining, 0.5))

    def stop(self) -> None:
        self._stop.set()


def interrupt_thread(thread: threading.Thread, exc_type: type[BaseException]) -> bool:
    """Raise ``exc_type`` inside ``thread`` at its next Python instruction.

    A following log reader sits in a loop that wakes every half second; raising there is
    what the notebook's stop button does to ``%spheron logs --follow`` (KeyboardInterrupt in
    the cell's thread), and it runs the same clean-up: the iterator's ``finally`` stops the
    remote reader. Returns False when the thread had already ended.
    """
    import ctypes

    if not thread.is_alive() or thread.ident is None:
        return False
    done = ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident),
                                                      ctypes.py_object(exc_type))
    return done == 1
