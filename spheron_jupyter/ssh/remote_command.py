"""The command line of a remote command and the decoding of its output (used by remote.py).

`build_command` puts non-secret `env` into the command line and feeds `secret_env` through
stdin (see remote.py's docstring for why); it first announces the session's process-group id
on stderr, which `_PgidSniffer` takes back out so `run` can signal the whole group.
`_StreamDecoder` delivers a stream as bytes or as UTF-8 text decoded incrementally (a
multibyte character split across packets is kept whole; invalid bytes become U+FFFD).
"""

from __future__ import annotations

import codecs
import re
import shlex
from collections.abc import Callable, Mapping

TextCallback = Callable[[str], None]
BytesCallback = Callable[[bytes], None]

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# An ASCII record separator starts the marker so no ordinary output is mistaken for it.
PGID_MARKER = b"\x1espheron-pgid="
PGID_ANNOUNCEMENT = "printf '\\036spheron-pgid=%s\\n' \"$$\" >&2; "
# Stderr held back while looking for the marker (shell start-up noise may come first).
_MARKER_SEARCH_LIMIT = 64 * 1024


def build_command(
    command: str,
    env: Mapping[str, str] | None = None,
    secret_env: Mapping[str, str] | None = None,
) -> tuple[str, bytes]:
    """The command line to exec and the bytes to write to stdin first."""
    prefix = PGID_ANNOUNCEMENT
    for name, value in (env or {}).items():
        _check_env_name(name)
        prefix += f"export {name}={shlex.quote(str(value))}; "
    if not secret_env:
        return prefix + command, b""
    reads = []
    stdin_lines = []
    for name, value in secret_env.items():
        _check_env_name(name)
        value = str(value)
        if "\n" in value or "\0" in value or "\r" in value:
            raise ValueError(f"secret value for {name} contains a line break or NUL byte")
        reads.append(f"IFS= read -r {name} && export {name}")
        stdin_lines.append(value)
    script = " && ".join(reads) + ' && exec "${SHELL:-/bin/sh}" -c "$1"'
    line = prefix + f"exec /bin/sh -c {shlex.quote(script)} sh {shlex.quote(command)}"
    return line, ("\n".join(stdin_lines) + "\n").encode("utf-8")


def _check_env_name(name: str) -> None:
    if not _ENV_NAME.match(name):
        raise ValueError(f"{name!r} is not a valid environment variable name")


class _StreamDecoder:
    """Delivers one stream's bytes to its callback, decoded incrementally when asked."""

    def __init__(self, on_text: TextCallback | None = None, on_bytes: BytesCallback | None = None) -> None:
        self.on_text = on_text
        self.on_bytes = on_bytes
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace") if on_text else None

    def feed(self, data: bytes) -> None:
        if not data:
            return
        if self.on_bytes is not None:
            self.on_bytes(data)
        elif self.on_text is not None and self.decoder is not None:
            decoded = self.decoder.decode(data)
            if decoded:
                self.on_text(decoded)

    def finish(self) -> None:
        if self.on_text is not None and self.decoder is not None:
            tail = self.decoder.decode(b"", final=True)
            if tail:
                self.on_text(tail)


class _PgidSniffer:
    """Takes our process-group marker line out of stderr and remembers the id."""

    def __init__(self, downstream: _StreamDecoder) -> None:
        self.downstream = downstream
        self.pgid: int | None = None
        self._held = bytearray()
        self._searching = True

    def feed(self, data: bytes) -> None:
        if not self._searching:
            self.downstream.feed(data)
            return
        self._held.extend(data)
        start = self._held.find(PGID_MARKER)
        if start >= 0:
            end = self._held.find(b"\n", start)
            if end < 0:
                return  # the rest of the marker line is still on its way
            number = bytes(self._held[start + len(PGID_MARKER):end])
            if number.isdigit():
                self.pgid = int(number)
            before, after = bytes(self._held[:start]), bytes(self._held[end + 1:])
            self._release(before + after)
        elif len(self._held) > _MARKER_SEARCH_LIMIT:
            self._release(bytes(self._held))

    def _release(self, data: bytes) -> None:
        self._searching = False
        self._held = bytearray()
        self.downstream.feed(data)

    def finish(self) -> None:
        if self._held:
            self._release(bytes(self._held))
        self.downstream.finish()
