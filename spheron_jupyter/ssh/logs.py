"""Reading and following instance logs with a cursor that survives reconnects.

Sources: the startup log (its path comes from the instance: `$SPHERON_STARTUP_LOG`, else
`/var/log/cloud-init-output.log`), a service we started (`~/.spheron/logs/NAME.log`),
or any file. The remote side is the sh script in logs_remote.py; this module turns its
records into lines.

Bounds, so a chatty training log cannot freeze a notebook: long lines are cut, bytes are
decoded per line (logs_lines.py), and `stream()` hands lines over through a bounded
LogBuffer that counts what it drops.

The cursor (path, inode, offset) points at the start of the first line not yet delivered, so
resuming it, in this process after a reconnect or in another one from the ledger, neither
repeats nor skips a line.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from collections.abc import Callable, Iterator

import paramiko

from spheron_jupyter.ssh.connection import Connection
from spheron_jupyter.ssh.errors import (
    HostKeyChangedError,
    HostKeyUnknownError,
    SshAuthError,
    SshError,
)
from spheron_jupyter.ssh.logs_lines import MAX_LINE_BYTES, LineAssembler, LogBuffer
from spheron_jupyter.ssh.logs_remote import (
    STARTUP_LOG_COMMAND,
    RecordParser,
    service_log_path,
    tail_command,
)
from spheron_jupyter.ssh.remote import capture, run
from spheron_jupyter.ssh.target import SshTarget

log = logging.getLogger(__name__)

__all__ = [
    "LineAssembler",
    "LogBuffer",
    "LogCursor",
    "LogReadError",
    "LogReader",
    "LogSource",
    "MAX_LINE_BYTES",
    "read_log",
    "service_log_path",
    "stream",
]

RECONNECT_BACKOFF = (0.5, 1.0, 2.0, 4.0, 8.0)


class LogReadError(SshError):
    """The log cannot be read (missing file in a non-follow read, permission denied)."""


# Reconnecting cannot fix these: they need the user (or a fixed file path).
_NOT_WORTH_RETRYING = (LogReadError, HostKeyChangedError, HostKeyUnknownError, SshAuthError)


@dataclass(frozen=True)
class LogCursor:
    path: str
    inode: int
    offset: int

    def dumps(self) -> str:
        return json.dumps({"path": self.path, "inode": self.inode, "offset": self.offset})

    @classmethod
    def loads(cls, text: str) -> LogCursor:
        data = json.loads(text)
        return cls(str(data["path"]), int(data["inode"]), int(data["offset"]))


@dataclass(frozen=True)
class LogSource:
    kind: str  # "startup" | "service" | "file"
    name: str = ""

    @classmethod
    def parse(cls, source: str, name: str | None = None) -> LogSource:
        if source not in ("startup", "service", "file"):
            raise ValueError(f"unknown log source {source!r}: use startup, service or file")
        name = name or ""
        if source != "startup" and not name:
            raise ValueError(f"a {source} log needs a {'name' if source == 'service' else 'path'}")
        if source == "service":
            service_log_path(name)  # validates the name
        return cls(source, name)

    def resolve(self, conn: Connection | paramiko.Transport) -> str:
        """The path on the instance."""
        if self.kind == "file":
            return self.name
        if self.kind == "service":
            return service_log_path(self.name)
        result = capture(conn, STARTUP_LOG_COMMAND, timeout=30)
        path = result.stdout.decode("utf-8", "replace").strip()
        return path or "/var/log/cloud-init-output.log"


class LogReader:
    """Reads one log; with `follow`, keeps going (and reconnecting) until `stop` is set.

    `connect` is a Connection or paramiko.Transport (used as is, never reopened), an
    SshTarget (we open and reconnect), or a callable returning a fresh Connection.
    """

    def __init__(
        self,
        connect: Connection | paramiko.Transport | SshTarget | Callable[[], Connection],
        source: LogSource,
        *,
        tail: int | None = None,
        follow: bool = False,
        cursor: LogCursor | None = None,
        max_line_bytes: int = MAX_LINE_BYTES,
        poll_seconds: float = 0.1,
        on_cursor: Callable[[LogCursor], None] | None = None,
        on_notice: Callable[[str], None] | None = None,
    ) -> None:
        self.source = source
        self.tail = tail
        self.follow = follow
        self.cursor = cursor
        self.poll_seconds = poll_seconds
        self.on_cursor = on_cursor
        self.on_notice = on_notice
        self._assembler = LineAssembler(max_line_bytes)
        # Exactly one of the two is set: a connection used as is, or a way to open one.
        self._given: Connection | paramiko.Transport | None = None
        self._connect: Callable[[], Connection] | None = None
        if isinstance(connect, (Connection, paramiko.Transport)):
            self._given = connect
        elif isinstance(connect, SshTarget):
            target = connect
            self._connect = lambda: Connection.open(target)
        elif callable(connect):
            self._connect = connect
        else:
            raise TypeError("connect must be a Connection, a Transport, an SshTarget or a callable")
        self._path: str | None = cursor.path if cursor else None
        self._inode = cursor.inode if cursor else 0
        self._offset = cursor.offset if cursor else 0

    def _notice(self, text: str) -> None:
        if self.on_notice is not None:
            self.on_notice(text)

    def read(self, on_lines: Callable[[list[str]], None], stop: threading.Event | None = None) -> LogCursor | None:
        """Deliver lines to `on_lines` until the end (or `stop`); returns the final cursor."""
        stop = stop or threading.Event()
        attempt = 0
        while not stop.is_set():
            conn: Connection | paramiko.Transport | None = None
            try:
                conn = self._given if self._connect is None else self._connect()
                if conn is None:
                    raise TypeError("LogReader has neither a connection nor a way to open one")
                self._read_once(conn, on_lines, stop)
                break
            except _NOT_WORTH_RETRYING:
                raise
            except SshError:
                # A following reader keeps going: through a new connection when it can make
                # one, else on the given one while it is alive (a refused or failed exec on a
                # loaded server is worth another try; a dead connection is not).
                can_retry = self._connect is not None or _alive(conn)
                if not self.follow or not can_retry:
                    raise
                delay = RECONNECT_BACKOFF[min(attempt, len(RECONNECT_BACKOFF) - 1)]
                attempt += 1
                self._notice(f"connection lost; reconnecting in {delay:g} s")
                stop.wait(delay)
            finally:
                if conn is not None and self._given is None:
                    conn.close()
        if not self.follow:
            # A file that does not end with a newline: its last line is still a line.
            last = self._assembler.flush()
            if last:
                on_lines(last)
        return self.current_cursor()

    def current_cursor(self) -> LogCursor | None:
        if self._path is None or not self._inode:
            return None
        return LogCursor(self._path, self._inode, self._offset - self._assembler.pending_bytes)

    def _read_once(
        self, conn: Connection | paramiko.Transport, on_lines: Callable[[list[str]], None], stop: threading.Event,
    ) -> bool:
        if self._path is None:
            self._path = self.source.resolve(conn)
        # Resume from the last line boundary: the unfinished line is read again whole.
        resume = self.current_cursor()
        self._assembler = LineAssembler(self._assembler.max_line_bytes)
        if resume is not None:
            self._inode, self._offset = resume.inode, resume.offset
        command = tail_command(
            self._path,
            inode=self._inode,
            offset=self._offset,
            follow=self.follow,
            tail_lines=self.tail if resume is None else None,
            poll_seconds=self.poll_seconds,
        )
        parser = RecordParser()
        outcome: dict[str, object] = {}

        def handle(data: bytes) -> None:
            for kind, value in parser.feed(data):
                if kind == "D":
                    self._offset += len(value)
                    lines = self._assembler.feed(value)
                    if lines:
                        on_lines(lines)
                        self._cursor_moved()
                elif kind == "O":
                    self._inode, self._offset = value
                    self._cursor_moved()
                elif kind in ("T", "R"):
                    unfinished = self._assembler.flush()
                    if unfinished:
                        on_lines(unfinished)
                    self._inode, self._offset = value, 0
                    self._notice("log truncated; reading it from the start" if kind == "T"
                                 else "log rotated; following the new file")
                    self._cursor_moved()
                elif kind == "W":
                    self._notice(f"waiting for {self._path} to appear")
                elif kind == "E":
                    outcome["end"] = True
                elif kind == "X":
                    outcome["error"] = value

        run(conn, command, on_stdout=handle, text=False, interrupt=stop)
        if "error" in outcome:
            raise LogReadError(f"Cannot read the log: {outcome['error']}.")
        if not outcome.get("end") and not stop.is_set():
            raise SshError("the log reader ended unexpectedly")
        return True

    def _cursor_moved(self) -> None:
        if self.on_cursor is not None:
            cursor = self.current_cursor()
            if cursor is not None:
                self.on_cursor(cursor)


def _alive(conn) -> bool:
    if isinstance(conn, Connection):
        return conn.alive
    return isinstance(conn, paramiko.Transport) and conn.is_active()


def read_log(conn, source: LogSource, *, tail: int | None = None) -> list[str]:
    """All lines (or the last `tail`) of a log, once. For small logs; use stream() for big ones."""
    lines: list[str] = []
    LogReader(conn, source, tail=tail).read(lines.extend)
    return lines


def stream(
    target,
    *,
    source: str = "startup",
    name: str | None = None,
    follow: bool = False,
    tail: int | None = None,
    cursor: str | LogCursor | None = None,
    on_cursor: Callable[[str], None] | None = None,
    max_lines: int = 10_000,
    poll_seconds: float = 0.1,
) -> Iterator[str]:
    """Lines of a log as an iterator, read in a background thread through a LogBuffer.

    Notices (rotation, truncation, waiting, reconnecting) and drops ("[N lines dropped: the
    reader was ahead of the display]") come through as bracketed lines. Closing the iterator
    (or breaking out of the loop) stops the remote reader.
    """
    if isinstance(cursor, str):
        cursor = LogCursor.loads(cursor)
    buffer = LogBuffer(max_lines=max_lines)
    stop = threading.Event()
    reader = LogReader(
        target, LogSource.parse(source, name), tail=tail, follow=follow, cursor=cursor,
        poll_seconds=poll_seconds,
        on_cursor=(lambda c: on_cursor(c.dumps())) if on_cursor else None,
        on_notice=lambda text: buffer.put([f"[{text}]"]),
    )

    def work() -> None:
        try:
            reader.read(buffer.put, stop)
            buffer.close()
        except BaseException as exc:  # handed to the consumer's thread below
            buffer.close(exc)

    thread = threading.Thread(target=work, name="spheron-log-reader", daemon=True)
    thread.start()
    try:
        while True:
            lines, dropped, done = buffer.get(timeout=0.5)
            if dropped:
                yield f"[{dropped} lines dropped: the reader was ahead of the display]"
            yield from lines
            if done:
                break
        if buffer.error is not None:
            raise buffer.error
    finally:
        stop.set()
        thread.join(timeout=10)
