"""The instance side of remote services: POSIX sh scripts fed on stdin, and their runner.

Scripts arrive on stdin of `sh -s`, so the remote command line (what `ps` shows) is always just
`sh -s`; the one secret, a Jupyter token, is written by a heredoc into a 0600 env file that the
start script sources, so it reaches the server's environment and nothing else.
Paths inside the scripts sit in double quotes; `RemoteServiceHost` refuses any that could break
out of them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from .connection import Connection
from .errors import SshError
from .remote import capture, run

Progress = Callable[[str], None]

# Where our files live on the instance; tests point it at a scratch directory.
DEFAULT_REMOTE_ROOT = "$HOME/.spheron"


class ServiceStartError(SshError):
    """A remote service could not be installed or started, or never became ready."""


_PATH_SETUP = 'export PATH="{extra}$HOME/.local/bin:{venv}/bin:$PATH"\n'

# Found means usable: a `jupyter` without JupyterLab (`jupyter lab` unknown) counts as missing.
_FIND = _PATH_SETUP + """EXE=$(command -v {program}) || exit 3
{check} >/dev/null 2>&1 || exit 3
echo "$EXE"
"""
_USABLE = {"jupyter": '"$EXE" lab --version', "tensorboard": "true"}

_INSTALL = _PATH_SETUP + """set -e
mkdir -p "{root}"
echo "Creating a virtual environment in {venv}"
[ -x "{venv}/bin/pip" ] || python3 -m venv "{venv}"
echo "Installing {packages} (first time only; this takes a minute)"
"{venv}/bin/pip" install --disable-pip-version-check --progress-bar off {packages}
"""

_FREE_PORT = """python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); \
print(s.getsockname()[1])' 2>/dev/null || echo 8888"""

# {secret_block} writes services/<name>.env (0600 via umask) with a heredoc: no argv.
_START = """set -e
umask 077
mkdir -p "{state}" "{logs}"
{secret_block}PORT=$({free_port})
[ -f "{state}/{name}.env" ] && . "{state}/{name}.env"
cd "$HOME"
nohup setsid {command} > "{logs}/{name}.log" 2>&1 < /dev/null &
PID=$!
printf '{{"service": "{name}", "port": %s, "pid": %s, "log": "%s", "started": %s, "config": "%s"}}\\n' \
  "$PORT" "$PID" "{logs}/{name}.log" "$(date +%s)" "{config}" > "{state}/{name}.json"
cat "{state}/{name}.json"
"""

_STATUS = """S="{state}"
[ -f "$S/{name}.json" ] || exit 3
echo "STATE $(cat "$S/{name}.json")"
PID=$(sed -n 's/.*"pid": *\\([0-9]*\\).*/\\1/p' "$S/{name}.json")
if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then echo ALIVE; else echo DEAD; fi
[ -f "$S/{name}.env" ] && sed -n "s/^export JUPYTER_TOKEN='\\(.*\\)'$/TOKEN \\1/p" "$S/{name}.env"
exit 0
"""

_STOP = """S="{state}"
[ -f "$S/{name}.json" ] || exit 0
PID=$(sed -n 's/.*"pid": *\\([0-9]*\\).*/\\1/p' "$S/{name}.json")
[ -n "$PID" ] && kill "$PID" 2>/dev/null
for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$PID" 2>/dev/null || break; sleep 0.5; done
[ -n "$PID" ] && kill -9 "$PID" 2>/dev/null
rm -f "$S/{name}.json" "$S/{name}.env"
exit 0
"""


def _script(template: str, root: str, **values) -> bytes:
    return template.format(state=f"{root}/services", logs=f"{root}/logs", venv=f"{root}/jlab",
                           root=root, **values).encode()


class RemoteServiceHost:
    """The few remote steps a service needs, on one connection."""

    def __init__(self, connection: Connection, extra_path: Sequence[str], progress: Progress,
                 root: str = DEFAULT_REMOTE_ROOT):
        for path in (root, *extra_path):
            # These land inside double quotes in the scripts.
            if any(ch in path for ch in '"`\\\n') or "$(" in path:
                raise ValueError(f"unsafe remote path {path!r}")
        self.connection = connection
        self.root = root
        self.extra = "".join(f"{p}:" for p in extra_path)
        self.progress = progress

    def sh(self, script: bytes, *, timeout: float = 60.0) -> tuple[int, str, str]:
        result = capture(self.connection, "sh -s", stdin=script, timeout=timeout)
        return result.exit_code, result.stdout.decode(errors="replace"), \
            result.stderr.decode(errors="replace")

    def find(self, program: str) -> str | None:
        code, out, _ = self.sh(_script(_FIND, self.root, extra=self.extra, program=program,
                                       check=_USABLE.get(program, "true")))
        return out.strip().splitlines()[-1] if code == 0 and out.strip() else None

    def install(self, packages: str, *, timeout: float = 1800.0) -> None:
        lines: list[str] = []

        def relay(text: str) -> None:
            for line in text.splitlines():
                if line.strip():
                    lines.append(line)
                    self.progress(line)

        code = run(self.connection, "sh -s", stdin=_script(_INSTALL, self.root, extra=self.extra, packages=packages),
                   on_stdout=relay, on_stderr=relay, timeout=timeout)
        if code != 0:
            tail = " / ".join(lines[-3:]) or "no output"
            raise ServiceStartError(f"Installing {packages} on the instance failed ({tail}).")

    def status(self, name: str) -> tuple[dict | None, bool, str | None]:
        code, out, _ = self.sh(_script(_STATUS, self.root, name=name))
        state, alive, token = None, False, None
        for line in out.splitlines():
            if line.startswith("STATE "):
                try:
                    state = json.loads(line[6:])
                except ValueError:
                    state = None
            elif line == "ALIVE":
                alive = True
            elif line.startswith("TOKEN "):
                token = line[6:]
        return state, alive, token

    def start(self, name: str, command: str, token: str | None, config: str) -> dict:
        secret_block = ""
        if token is not None:
            secret_block = (f'cat > "{self.root}/services/{name}.env" <<\'SPHERON_EOF\'\n'
                            f"export JUPYTER_TOKEN='{token}'\nSPHERON_EOF\n")
        else:
            secret_block = f'rm -f "{self.root}/services/{name}.env"\n'
        code, out, err = self.sh(_script(_START, self.root, name=name, command=command,
                                         secret_block=secret_block, free_port=_FREE_PORT,
                                         config=config))
        try:
            return json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise ServiceStartError(
                f"Starting {name} on the instance failed (exit {code}): {redact(err, token)}"
            ) from None

    def stop(self, name: str) -> None:
        self.sh(_script(_STOP, self.root, name=name), timeout=30)

    def log_tail(self, name: str, token: str | None) -> str:
        code, out, _ = self.sh(f'tail -n 5 "{self.root}/logs/{name}.log" 2>/dev/null\n'.encode())
        return redact(out.strip(), token)[-600:]


def redact(text: str, token: str | None) -> str:
    return text.replace(token, "<token>") if token else text
