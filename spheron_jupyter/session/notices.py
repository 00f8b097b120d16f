"""Where the client's retry notices go: the sink of the code that made the request, or nowhere.

The client tells each retry worth a line to its ``on_retry`` hook (client/_retry.py); one
client serves the magic in the cell's thread and the panels' background threads alike, so the
hook looks up a sink in a ``ContextVar``. The magic dispatcher (notebook/magic.py) sets one that
prints into the running cell, a launch one that goes to its progress; threads start with an
empty context, so a panel's background refresh never prints into whichever cell is running.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..client import RetryNotice

_sink: ContextVar[Callable[[str], None] | None] = ContextVar("spheron_retry_sink", default=None)


@contextmanager
def notices_to(sink: Callable[[str], None] | None) -> Iterator[None]:
    """Send this context's retry notices (one line each) to ``sink`` while the block runs."""
    token = _sink.set(sink)
    try:
        yield
    finally:
        _sink.reset(token)


def tell(notice: RetryNotice) -> None:
    """The client's ``on_retry`` hook."""
    sink = _sink.get()
    if sink is not None:
        sink(notice.text)
