"""Lines out of a byte stream, bounded: the pure part of log reading (no SSH here).

`LineAssembler` splits bytes into lines *before* decoding: a UTF-8 multibyte sequence never
contains the byte `\n`, so a character split across two reads is decoded whole, and invalid
bytes become U+FFFD. A line longer than `max_line_bytes` is cut at a character boundary with
a marker saying how many bytes were not shown, and the rest is discarded as it streams (a
10 MB line never sits in memory). Progress-bar redraws (`\r`) keep only what a terminal
would show.

`LogBuffer` hands lines from a reader thread to a slower consumer (a display coalescing its
updates), keeping the newest lines within a line and a character budget and counting the
ones it had to drop.
"""

from __future__ import annotations

import threading
from collections import deque

MAX_LINE_BYTES = 64 * 1024


class LineAssembler:
    """Bytes in, complete decoded lines out; one partial line held, bounded."""

    def __init__(self, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self.max_line_bytes = max_line_bytes
        self._partial = bytearray()
        self._dropped = 0

    @property
    def pending_bytes(self) -> int:
        """Bytes of the unfinished line received so far (held or dropped)."""
        return len(self._partial) + self._dropped

    def feed(self, data: bytes) -> list[str]:
        last = data.rfind(b"\n")
        if last < 0:
            self._hold(data)
            return []
        first = data.find(b"\n")
        self._hold(data[:first])
        lines = [self._take_partial()]
        if last > first:
            middle = data[first + 1:last].decode("utf-8", "replace")
            parts = middle.split("\n")
            if "\r" in middle or "\x00" in middle:
                parts = _clean(parts)
            if len(middle) > self.max_line_bytes:
                parts = [self._cut(part) for part in parts]
            lines.extend(parts)
        self._hold(data[last + 1:])
        return lines

    def flush(self) -> list[str]:
        """The unfinished line as a line of its own (at rotation, truncation or the end)."""
        if not self.pending_bytes:
            return []
        return [self._take_partial()]

    def _hold(self, data: bytes) -> None:
        if not data:
            return
        # A progress bar redraws its line with \r and may not end it for a long time: only
        # what follows the last \r would be on screen, so that is all we keep. A trailing \r
        # may be half of a CRLF and stays until we see what comes next.
        redraw = data.rfind(b"\r", 0, len(data) - 1)
        if redraw >= 0 or (self._partial.endswith(b"\r") and not self._dropped):
            data = data[redraw + 1:]
            self._partial = bytearray()
            self._dropped = 0
        room = self.max_line_bytes - len(self._partial)
        if self._dropped or room <= 0:
            self._dropped += len(data)
            return
        if len(data) <= room:
            self._partial.extend(data)
            return
        keep = room
        # Cut before a UTF-8 continuation byte, so the kept part ends on a whole character.
        while keep > 0 and (data[keep] & 0xC0) == 0x80:
            keep -= 1
        self._partial.extend(data[:keep])
        self._dropped += len(data) - keep

    def _take_partial(self) -> str:
        text = _clean([self._partial.decode("utf-8", "replace")])[0]
        if self._dropped:
            text += f" … [{self._dropped} more bytes of this line not shown]"
        self._partial = bytearray()
        self._dropped = 0
        return text

    def _cut(self, line: str) -> str:
        if len(line) <= self.max_line_bytes:
            return line
        extra = len(line[self.max_line_bytes:].encode("utf-8", "replace"))
        return line[: self.max_line_bytes] + f" … [{extra} more bytes of this line not shown]"


def _clean(lines: list[str]) -> list[str]:
    """What a terminal would show: CRLF endings and progress-bar redraws (\\r) collapsed.

    NUL bytes only appear as padding when the file shrank under a read; they are dropped.
    """
    out = []
    for line in lines:
        if "\r" in line:
            line = line.rstrip("\r")
            line = line.rsplit("\r", 1)[-1]
        if "\x00" in line:
            line = line.replace("\x00", "")
        out.append(line)
    return out


class LogBuffer:
    """Thread-safe, bounded hand-over from a reader to a slower consumer; drops the oldest."""

    def __init__(self, max_lines: int = 10_000, max_chars: int = 8 * 1024 * 1024) -> None:
        self.max_lines = max_lines
        self.max_chars = max_chars
        self._lines: deque[str] = deque()
        self._chars = 0
        self._dropped = 0
        self._total_dropped = 0
        self._closed = False
        self.error: BaseException | None = None
        self._cond = threading.Condition()

    def put(self, lines: list[str]) -> None:
        if not lines:
            return
        with self._cond:
            if len(lines) > self.max_lines:
                self._count_drop(len(lines) - self.max_lines)
                lines = lines[-self.max_lines:]
            self._lines.extend(lines)
            self._chars += sum(map(len, lines))
            while len(self._lines) > self.max_lines or (
                self._chars > self.max_chars and len(self._lines) > 1
            ):
                self._chars -= len(self._lines.popleft())
                self._count_drop(1)
            self._cond.notify_all()

    def _count_drop(self, count: int) -> None:
        self._dropped += count
        self._total_dropped += count

    def close(self, error: BaseException | None = None) -> None:
        with self._cond:
            self._closed = True
            self.error = error
            self._cond.notify_all()

    @property
    def total_dropped(self) -> int:
        return self._total_dropped

    def get(self, timeout: float | None = None) -> tuple[list[str], int, bool]:
        """(lines, dropped since the last get, closed-and-empty). Waits up to `timeout`."""
        with self._cond:
            if not self._lines and not self._closed and not self._dropped:
                self._cond.wait(timeout)
            lines = list(self._lines)
            self._lines.clear()
            self._chars = 0
            dropped, self._dropped = self._dropped, 0
            return lines, dropped, self._closed and not lines
