"""The instance side of a remote kernel: POSIX sh scripts fed on stdin of `sh -s`, and their runner.

Layout on the instance (``$HOME/.spheron``): ``kernel-venv/`` (our own virtual environment,
made only when no Python with ipykernel was found and the user named none; it sees the image's
packages, e.g. torch, through ``--system-site-packages``) and ``kernels/<kid>/`` per running
kernel: ``connection.json`` (mode 0600, with the key), ``kernel.log``, ``pid`` (the kernel's
wrapper shell, its process-group leader), ``owner`` (which local launcher started it); while
detached (its Jupyter server went away, detached.py) also ``detached`` (deadline and token) and
``reaper`` (the pid of the timer that stops it at the deadline unless a launcher adopts it).

The connection key is written by a heredoc in a script that arrives on stdin, so no command line
(what ``ps`` shows) ever holds it; the kernel gets only the file's path. The kernel binds the
instance's 127.0.0.1 on ports it picks (0 in the file) and writes them back into the file, from
which the start script reads only the ports. When the kernel exits, its wrapper removes the
kernel's folder, so a clean shutdown leaves no file behind.
"""

from __future__ import annotations

import json
import secrets
import shlex
import threading
from collections.abc import Callable
from dataclasses import dataclass

from ..ssh.connection import Connection
from ..ssh.errors import SshError
from ..ssh.remote import capture, run

Progress = Callable[[str], None]
CHANNELS = ("shell", "iopub", "stdin", "control", "hb")
VENV = "$HOME/.spheron/kernel-venv"
KERNELS = "$HOME/.spheron/kernels"


class KernelStartError(SshError):
    """The remote kernel could not be installed or started; the message says why."""


@dataclass(frozen=True)
class PythonChoice:
    """What the instance offers: a ready interpreter, one lacking ipykernel, or nothing yet."""

    state: str  # "ready", "missing" (a Python the user chose, without ipykernel), "venv" (make ours)
    path: str


@dataclass(frozen=True)
class RemoteKernel:
    kid: str
    pid: int
    ports: dict[str, int]


_CHECK = "\"$1\" -c 'import ipykernel' >/dev/null 2>&1"

_FIND = """export PATH="$HOME/.local/bin:$PATH"
ok() { %(check)s; }
REQ=%(requested)s
case "$REQ" in "~/"*) REQ="$HOME/${REQ#??}" ;; esac
if [ -n "$REQ" ]; then
  P=$(command -v "$REQ") || { echo "NOPYTHON $REQ"; exit 0; }
  if ok "$P"; then echo "READY $P"; else echo "MISSING $P"; fi; exit 0
fi
V="%(venv)s/bin/python"
[ -x "$V" ] && ok "$V" && { echo "READY $V"; exit 0; }
for c in python3 python; do P=$(command -v $c) && ok "$P" && { echo "READY $P"; exit 0; }; done
P=$(command -v python3) || { echo "NOPYTHON python3"; exit 0; }
echo "VENV $P"
"""

_MAKE_VENV = """set -e
V="%(venv)s"
echo "Creating a virtual environment for the kernel in ~/.spheron/kernel-venv (sees the image's packages)"
[ -x "$V/bin/python" ] || %(base)s -m venv --system-site-packages "$V"
echo "Installing ipykernel into it (first time only)"
"$V/bin/python" -m pip install --disable-pip-version-check --progress-bar off ipykernel
echo "READY $V/bin/python"
"""

_INTO_CHOSEN = """set -e
echo "Installing ipykernel into %(python)s, the Python you chose"
%(python)s -m pip install --disable-pip-version-check --progress-bar off ipykernel
echo "READY %(python)s"
"""

# Ports of the five channels, read back from the connection file without printing the key.
_PORTS_PY = ("import json,sys;c=json.load(open(sys.argv[1]));"
             "p=[int(c[k+'_port']) for k in ('shell','iopub','stdin','control','hb')];"
             "assert all(p);print(json.dumps(p))")

_START = """set -e
umask 077
R="%(kernels)s"
mkdir -p "$R"
# Kernels a launcher of this machine started and that launcher is gone (killed): stop them.
for d in "$R"/*/; do
  [ -f "$d/owner" ] || continue
  o=$(cat "$d/owner")
  case "$o" in %(machine)s:*) ;; *) continue ;; esac
  case " %(alive)s " in *" $o "*) continue ;; esac
  # Detached (its Jupyter server went away): it waits for a new one until its deadline.
  dl=$(cut -d' ' -f1 "$d/detached" 2>/dev/null || true)
  [ -n "$dl" ] && [ "$(date +%%s)" -lt "$dl" ] && continue
  p=$(cat "$d/pid" 2>/dev/null || true)
  [ -n "$p" ] && kill -KILL "-$p" 2>/dev/null || true
  rm -rf "$d"
done
D="$R/%(kid)s"
mkdir -p "$D"
cat > "$D/connection.json" <<'SPHERON_EOF'
%(connection)s
SPHERON_EOF
echo %(owner)s > "$D/owner"
cd "$HOME"
nohup setsid sh -c '"$1" -m ipykernel_launcher -f "$2/connection.json" >"$2/kernel.log" 2>&1
[ -f "$2/ready" ] && rm -rf "$2" && rmdir "${2%%/*}" 2>/dev/null' sh %(python)s "$D" </dev/null >/dev/null 2>&1 &
P=$!
echo "$P" > "$D/pid"
i=0
while :; do
  if ! kill -0 "$P" 2>/dev/null; then
    echo "DEAD"; tail -n 8 "$D/kernel.log" 2>/dev/null; rm -rf "$D"; exit 0
  fi
  if grep -q '"hb_port": [1-9]' "$D/connection.json" 2>/dev/null; then
    PORTS=$(%(python)s -c %(ports_py)s "$D/connection.json" 2>/dev/null) && break
  fi
  i=$((i+1)); [ "$i" -lt 1200 ] || { echo "TIMEOUT"; exit 0; }
  sleep 0.05
done
: > "$D/ready"
echo "STARTED $P $PORTS"
"""

# The instance's own timer for a detached kernel: unless adopted (which removes `detached` and
# ends this timer) or detached again (another token), the kernel stops when the grace is over.
_DETACH = """D="%(kernels)s/%(kid)s"
P=$(cat "$D/pid" 2>/dev/null) && kill -0 "$P" 2>/dev/null || { echo GONE; exit 0; }
R=$(cat "$D/reaper" 2>/dev/null) && kill -TERM "-$R" 2>/dev/null
T="$(( $(date +%%s) + %(grace)d )) %(token)s"
echo "$T" > "$D/detached"
nohup setsid sh -c 'sleep "$1"; [ "$(cat "$2/detached" 2>/dev/null)" = "$3" ] || exit 0
P=$(cat "$2/pid") && kill -TERM "-$P"; sleep 5; kill -KILL "-$P"; rm -rf "$2"' \
  sh %(grace)d "$D" "$T" </dev/null >/dev/null 2>&1 &
echo $! > "$D/reaper"
echo DETACHED
"""

_ADOPT = """D="%(kernels)s/%(kid)s"
P=$(cat "$D/pid" 2>/dev/null) && kill -0 "$P" 2>/dev/null && [ "$P" = %(pid)d ] \
  && [ -f "$D/detached" ] || { echo GONE; exit 0; }
rm -f "$D/detached"
R=$(cat "$D/reaper" 2>/dev/null) && kill -TERM "-$R" 2>/dev/null
rm -f "$D/reaper"
echo %(owner)s > "$D/owner"
echo ADOPTED
"""

_WATCH = """while kill -0 %(pid)d 2>/dev/null; do sleep 0.2; done
echo GONE
"""

_STOP = """D="%(kernels)s/%(kid)s"
P=$(cat "$D/pid" 2>/dev/null) || exit 0
kill -TERM "-$P" 2>/dev/null
i=0
while kill -0 "$P" 2>/dev/null && [ "$i" -lt 20 ]; do sleep 0.25; i=$((i+1)); done
kill -KILL "-$P" 2>/dev/null
rm -rf "$D"
echo STOPPED
"""


def _sh(conn: Connection, script: str, *, timeout: float = 60.0) -> str:
    result = capture(conn, "sh -s", stdin=script.encode(), timeout=timeout)
    return result.stdout.decode("utf-8", "replace")


def find_python(conn: Connection, requested: str | None = None) -> PythonChoice:
    """Which interpreter would run the kernel; installs nothing."""
    out = _sh(conn, _FIND % {"check": _CHECK, "venv": VENV,
                             "requested": shlex.quote(requested or "")})
    for line in reversed(out.splitlines()):
        word, _, path = line.partition(" ")
        if word == "READY":
            return PythonChoice("ready", path)
        if word == "MISSING":
            return PythonChoice("missing", path)
        if word == "VENV":
            return PythonChoice("venv", path)
        if word == "NOPYTHON":
            raise KernelStartError(
                f"No Python {path!r} on the instance; pass --python with the path of one "
                "(e.g. --python /usr/bin/python3)")
    raise KernelStartError("Could not look for Python on the instance (no answer from sh).")


def ensure_python(conn: Connection, requested: str | None = None,
                  progress: Progress | None = None) -> str:
    """An interpreter with ipykernel, installing it with progress where we may: into our own
    venv, or into the Python the user named. Never into a system Python nobody chose."""
    say = progress or (lambda _line: None)
    choice = find_python(conn, requested)
    if choice.state == "ready":
        return choice.path
    quoted = shlex.quote(choice.path)
    if choice.state == "venv":
        say(f"No Python with ipykernel on the instance; making one from {choice.path}")
        script = _MAKE_VENV % {"venv": VENV, "base": quoted}
    else:
        say(f"{choice.path} has no ipykernel")
        script = _INTO_CHOSEN % {"python": quoted}
    lines: list[str] = []

    def relay(text: str | bytes) -> None:
        for line in str(text).splitlines():
            if line.strip():
                lines.append(line)
                if not line.startswith("READY "):
                    say(line)

    code = run(conn, "sh -s", stdin=script.encode(), on_stdout=relay, on_stderr=relay,
               timeout=1800.0)
    ready = [line[6:] for line in lines if line.startswith("READY ")]
    if code != 0 or not ready:
        tail = " / ".join(lines[-3:]) or "no output"
        hint = (" (on Debian/Ubuntu: apt-get install python3-venv, or pass --python)"
                if choice.state == "venv" else "")
        raise KernelStartError(f"Installing ipykernel on the instance failed: {tail}{hint}.")
    return ready[-1]


def start_kernel(conn: Connection, *, kid: str, python: str, connection: dict,
                 machine: str, owner: str, alive_owners: list[str],
                 timeout: float = 90.0) -> RemoteKernel:
    """Start ipykernel bound to the instance's loopback with `connection`'s key (via stdin);
    returns its wrapper pid and the five ports it bound."""
    remote_info = {
        "ip": "127.0.0.1", "transport": "tcp",
        "signature_scheme": connection.get("signature_scheme", "hmac-sha256"),
        "key": connection["key"],
        **{f"{name}_port": 0 for name in CHANNELS},
    }
    script = _START % {
        "kernels": KERNELS, "kid": kid, "connection": json.dumps(remote_info),
        "python": shlex.quote(python), "ports_py": shlex.quote(_PORTS_PY),
        "machine": _case_word(machine), "owner": shlex.quote(_case_word(owner)),
        "alive": " ".join(_case_word(o) for o in alive_owners),
    }
    out = _sh(conn, script, timeout=timeout)
    lines = out.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("STARTED "):
            _, pid, ports = line.split(" ", 2)
            return RemoteKernel(kid, int(pid), dict(zip(CHANNELS, json.loads(ports))))
        if line == "DEAD":
            log = " / ".join(rest for rest in lines[index + 1:] if rest.strip())[-500:]
            raise KernelStartError(f"The kernel exited at start on the instance: {log or 'no log'}.")
        if line == "TIMEOUT":
            raise KernelStartError("The kernel did not bind its ports within 60 s on the instance.")
    raise KernelStartError("Starting the kernel on the instance gave no answer.")


def watch(conn: Connection, pid: int, stop: threading.Event) -> bool:
    """Block until the remote kernel ends (True) or `stop` is set (False). Raises SshError
    (PeerDeadError) when the connection is lost: the kernel may well still run."""
    seen: list[str | bytes] = []
    run(conn, "sh -s", stdin=(_WATCH % {"pid": pid}).encode(), on_stdout=seen.append,
        interrupt=stop, grace=0.2)
    return "GONE" in "".join(map(str, seen))


_INTERRUPT = """P=%(pid)d
pkill -INT -P "$P" 2>/dev/null && exit 0
for c in $(ps -o pid= --ppid "$P" 2>/dev/null); do kill -INT "$c"; done
"""


def interrupt_kernel(conn: Connection, pid: int) -> None:
    """SIGINT to the kernel (the wrapper's child; the wrapper shell itself must not get it),
    for frontends that signal instead of sending interrupt_request."""
    _sh(conn, _INTERRUPT % {"pid": pid}, timeout=15.0)


def detach_kernel(conn: Connection, kid: str, grace: float) -> bool:
    """Leave the kernel running for `grace` seconds, after which the instance stops it unless a
    launcher adopted it; False when it is no longer running."""
    out = _sh(conn, _DETACH % {"kernels": KERNELS, "kid": kid, "grace": int(grace),
                               "token": secrets.token_hex(4)}, timeout=30.0)
    return "DETACHED" in out


def adopt_kernel(conn: Connection, kernel: RemoteKernel, owner: str) -> bool:
    """Take over a detached kernel (ends its timer, names us its owner); False when it is gone
    or not detached (then it is not ours to take)."""
    out = _sh(conn, _ADOPT % {"kernels": KERNELS, "kid": _case_word(kernel.kid),
                              "pid": kernel.pid, "owner": shlex.quote(_case_word(owner))},
              timeout=30.0)
    return "ADOPTED" in out


def stop_kernel(conn: Connection, kid: str) -> None:
    """Stop the kernel (TERM, then KILL after 5 s) and remove its folder."""
    _sh(conn, _STOP % {"kernels": KERNELS, "kid": kid}, timeout=30.0)


def _case_word(text: str) -> str:
    """Owner ids are [A-Za-z0-9:._-]; anything else would break the sh `case` pattern."""
    return "".join(ch for ch in text if ch.isalnum() or ch in ":._-")
