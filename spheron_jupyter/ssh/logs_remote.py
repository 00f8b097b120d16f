"""The remote half of log tailing: a POSIX sh script and the framing it speaks.

Why a shell script: python3 is not on every image, while every Linux instance has sh, stat,
tail, head and wc (GNU or busybox). Why our own loop rather than `tail -F`: we need to know
exactly which bytes of which file (inode + offset) reached us, so a follow can resume after a
reconnect without gaps or repeats, and tail's rotation notices come on stderr, unordered
with the data on stdout.

The script writes framed records on stdout:

    O <inode> <offset>\n      reading <inode> from <offset> (first record; the cursor)
    D <n>\n<n raw bytes>      data at the current offset; offset += n
    T <inode>\n               file truncated (copytruncate, `> file`): reading from 0
    R <inode>\n               file replaced (rotated): old file drained, new <inode> from 0
    W\n                       file missing; waiting for it to appear (follow only)
    E\n                       end of a non-follow read
    X <message>\n             error; the script stops

A `D` record's length is fixed before its bytes are read, so if the file shrinks between
the stat and the read, the record is padded with NUL bytes; the next poll then reports the
truncation. The race is the same one `tail -f` has.
"""

from __future__ import annotations

import shlex

# Bytes per D record. Large enough that a 1M-line burst takes few round trips, small enough
# to keep the client's memory per record bounded.
CHUNK_BYTES = 1024 * 1024

STARTUP_LOG_COMMAND = 'printf %s "${SPHERON_STARTUP_LOG:-/var/log/cloud-init-output.log}"'

# Services we start (jupyter, tensorboard, background jobs) log here, one file per name;
# ssh/services.py writes them ($HOME/.spheron/logs/NAME.log).
SERVICE_LOG_DIR = "~/.spheron/logs"

TAIL_SCRIPT = r"""
f=$1; ino=$2; off=$3; follow=$4; tailn=$5; chunk=$6; poll=$7
case $f in "~/"*) f="$HOME/${f#"~/"}";; esac
given=$1; rr=
# An emulated instance's file whose symlinks lead out of its root (checked again whenever the
# file is replaced): its commands run on this machine, so a link there names the host's file.
escaped() { [ -n "$rr" ] && case $(realpath -m -- "$f" 2>/dev/null) in "$rr"/*) false;; *) true;; esac; }
refuse() { printf 'X refused: %s is outside this emulated instance\n' "$given"; exit 0; }
if [ -n "${SPHERON_INSTANCE_ROOT:-}" ]; then
  # An emulated instance (spheron_jupyter/emulator/sandbox.py): its "/" is this directory, so an
  # absolute path is read there, and a path that climbs out of it is refused.
  r=${SPHERON_INSTANCE_ROOT%/}
  case $f in "$r"/*) ;; /*) f="$r$f";; *) f="$PWD/$f";; esac
  n=$(realpath -m -s -- "$f" 2>/dev/null) || n=
  case $n in "$r"/*) f=$n;; *) refuse;; esac
  rr=$(realpath -m -- "$r" 2>/dev/null) || rr=$r
  escaped && refuse
fi
st() { stat -L -c '%i %s' -- "$1" 2>/dev/null; }
nap() { sleep "$poll" 2>/dev/null || sleep 1; }
emit() {  # emit <file> <from> <count>: one D record of exactly <count> bytes
  printf 'D %s\n' "$3"
  { tail -c +"$(($2 + 1))" -- "$1" 2>/dev/null | head -c "$3"; head -c "$3" /dev/zero; } | head -c "$3"
}
drain() {  # drain <file> <from> <to>
  d_off=$2
  while [ "$d_off" -lt "$3" ]; do
    d_n=$(($3 - d_off)); [ "$d_n" -gt "$chunk" ] && d_n=$chunk
    emit "$1" "$d_off" "$d_n"; d_off=$((d_off + d_n))
  done
}
drain_rotated() {  # the rest of inode $ino, if logrotate left it next to $f
  for c in "$f.1" "$f.0" "$f.old" "$f"-[0-9]*; do
    [ -f "$c" ] || continue
    set -- $(st "$c")
    if [ "${1:-}" = "$ino" ]; then [ "$2" -gt "$off" ] && drain "$c" "$off" "$2"; return; fi
  done
}
set -- $(st "$f")
if [ -z "${1:-}" ]; then
  if [ -e "$f" ] || [ "$follow" != 1 ]; then
    if [ -e "$f" ]; then printf 'X cannot read %s\n' "$f"; else printf 'X no such file: %s\n' "$f"; fi
    exit 0
  fi
  printf 'W\n'
  while [ -z "${1:-}" ]; do nap; set -- $(st "$f"); done
  escaped && refuse
  [ "$ino" != 0 ] && [ "$ino" != "$1" ] && drain_rotated
  ino=$1; off=0; printf 'R %s\n' "$ino"
elif [ "$ino" = 0 ]; then
  ino=$1; size=$2
  if [ "$tailn" -ge 0 ]; then
    tries=0
    while :; do
      b=$(tail -n "$tailn" -- "$f" 2>/dev/null | wc -c); set -- $(st "$f")
      [ "$2" = "$size" ] || [ "$tries" -ge 5 ] && break
      size=$2; tries=$((tries + 1))
    done
    off=$((size - b)); [ "$off" -lt 0 ] && off=0
  else
    off=0
  fi
elif [ "$ino" != "$1" ]; then
  drain_rotated; ino=$1; off=0; printf 'R %s\n' "$ino"
elif [ "$2" -lt "$off" ]; then
  off=0; printf 'T %s\n' "$ino"
fi
[ -r "$f" ] || { printf 'X cannot read %s\n' "$f"; exit 0; }
printf 'O %s %s\n' "$ino" "$off"
set -- $(st "$f"); end=${2:-0}
missing=0
while :; do
  set -- $(st "$f")
  if [ -z "${1:-}" ]; then
    [ "$follow" = 1 ] || { printf 'E\n'; exit 0; }
    [ "$missing" = 1 ] || printf 'W\n'
    missing=1; nap; continue
  fi
  missing=0
  if [ "$1" != "$ino" ]; then
    escaped && refuse
    drain_rotated; ino=$1; off=0; printf 'R %s\n' "$ino"
    continue
  fi
  size=$2
  [ "$follow" = 1 ] || { [ "$size" -gt "$end" ] && size=$end; }
  if [ "$size" -lt "$off" ]; then off=0; printf 'T %s\n' "$ino"; continue; fi
  if [ "$size" -gt "$off" ]; then
    n=$((size - off)); [ "$n" -gt "$chunk" ] && n=$chunk
    emit "$f" "$off" "$n"; off=$((off + n))
    continue
  fi
  [ "$follow" = 1 ] || { printf 'E\n'; exit 0; }
  nap
done
"""


def tail_command(
    path: str,
    *,
    inode: int = 0,
    offset: int = 0,
    follow: bool = False,
    tail_lines: int | None = None,
    chunk_bytes: int = CHUNK_BYTES,
    poll_seconds: float = 0.1,
) -> str:
    """The command line that runs TAIL_SCRIPT for one file.

    `inode`/`offset` resume a cursor (inode 0: start fresh). `tail_lines` None reads from
    the start of the file; N starts N lines before the end (0: at the end).
    """
    args = [
        path,
        str(int(inode)),
        str(int(offset)),
        "1" if follow else "0",
        str(-1 if tail_lines is None else int(tail_lines)),
        str(int(chunk_bytes)),
        f"{poll_seconds:g}",
    ]
    return "exec /bin/sh -c " + shlex.quote(TAIL_SCRIPT) + " sh " + " ".join(
        shlex.quote(a) for a in args
    )


def service_log_path(name: str) -> str:
    """Where a service we started on the instance writes its log (`~` expanded remotely)."""
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"{name!r} is not a service name")
    return f"{SERVICE_LOG_DIR}/{name}.log"


class RecordParser:
    """Turns the script's stdout bytes into (kind, value) records, data as memoryviews."""

    def __init__(self) -> None:
        self._pending = bytearray()
        self._data_left = 0

    def feed(self, data: bytes):
        """Yield ("O", (ino, off)), ("D", bytes), ("T", ino), ("R", ino), ("W", None),
        ("E", None) and ("X", message) in order."""
        view = memoryview(data)
        while view:
            if self._data_left:
                take = min(self._data_left, len(view))
                self._data_left -= take
                yield "D", view[:take].tobytes()
                view = view[take:]
                continue
            newline = bytes(view[:4096]).find(b"\n")
            if newline < 0:
                self._pending.extend(view)
                if len(self._pending) > 4096:
                    raise ValueError("log stream lost its framing")
                return
            header = bytes(self._pending) + bytes(view[:newline])
            self._pending.clear()
            view = view[newline + 1:]
            yield from self._header(header.decode("utf-8", "replace"))

    def _header(self, line: str):
        kind, _, rest = line.partition(" ")
        if kind == "D":
            self._data_left = int(rest)
        elif kind == "O":
            ino, off = rest.split()
            yield "O", (int(ino), int(off))
        elif kind in ("T", "R"):
            yield kind, int(rest)
        elif kind in ("W", "E"):
            yield kind, None
        elif kind == "X":
            yield "X", rest
        elif line.strip():
            raise ValueError("log stream lost its framing")
