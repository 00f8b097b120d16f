"""Remote services on an instance: Jupyter and TensorBoard started once, reached through a tunnel.

Everything lives under ~/.spheron on the instance: the JupyterLab venv (`jlab/`) when the
instance has no `jupyter` of its own, logs (`logs/<name>.log`) and per-service state
(`services/<name>.json` with port and pid; `services/<name>.env`, mode 0600, with the token).

The Jupyter token is fresh per start and travels only through channels' stdin and the server's
environment: the start script arrives on stdin of `sh -s`, writes the env file with a heredoc and
sources it, so no command line (what `ps` shows) ever contains it. Servers bind 127.0.0.1 on the
instance and are reached only through the tunnel agent.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx

from .connection import Connection
from .errors import SshError
from .remote import capture, run
from .target import SshTarget
from .tunnel import TunnelAgentClient, TunnelInfo

Progress = Callable[[str], None]

# Where our files live on the instance; tests point it at a scratch directory.
DEFAULT_REMOTE_ROOT = "$HOME/.spheron"


class ServiceStartError(SshError):
    """A remote service could not be installed or started, or never became ready."""


@dataclass(frozen=True)
class ServiceInfo:
    """A running remote service and the tunnel to it. The token is left out of the repr."""

    name: str
    instance_id: str
    remote_port: int
    local_port: int
    tunnel_id: str
    pid: int | None
    reused: bool
    path: str = "/"
    token: str | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The local address, without the token."""
        return f"http://127.0.0.1:{self.local_port}{self.path}"

    @property
    def link(self) -> str:
        """The URL a browser opens; for Jupyter it carries the token (the only place it shows)."""
        return f"{self.url}?token={self.token}" if self.token else self.url


# ---- remote scripts (POSIX sh, fed on stdin) --------------------------------------------------

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


class _Remote:
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
                f"Starting {name} on the instance failed (exit {code}): {_redact(err, token)}"
            ) from None

    def stop(self, name: str) -> None:
        self.sh(_script(_STOP, self.root, name=name), timeout=30)

    def log_tail(self, name: str, token: str | None) -> str:
        code, out, _ = self.sh(f'tail -n 5 "{self.root}/logs/{name}.log" 2>/dev/null\n'.encode())
        return _redact(out.strip(), token)[-600:]


def _redact(text: str, token: str | None) -> str:
    return text.replace(token, "<token>") if token else text


# ---- public API ----------------------------------------------------------------------------

def start_jupyter(
    target: SshTarget,
    *,
    local_port: int | None = None,
    progress: Progress | None = None,
    connection: Connection | None = None,
    client: TunnelAgentClient | None = None,
    extra_path: Sequence[str] = (),
    ready_timeout: float = 180.0,
    remote_root: str = DEFAULT_REMOTE_ROOT,
) -> ServiceInfo:
    """Token-protected Jupyter on the instance's 127.0.0.1, tunnelled; reused when running."""
    return _ensure_service(
        target, "jupyter", local_port=local_port, progress=progress, connection=connection,
        client=client, extra_path=extra_path, ready_timeout=ready_timeout, root=remote_root,
        program="jupyter", packages="jupyterlab", with_token=True, path="/lab",
        build_command=lambda exe, as_root: (
            f"{shlex.quote(exe)} lab --no-browser --ip=127.0.0.1 --port=$PORT "
            f"--ServerApp.port_retries=0 --ServerApp.open_browser=False"
            + (" --allow-root" if as_root else "")
        ),
    )


def start_tensorboard(
    target: SshTarget,
    *,
    logdir: str = "~/logs",
    local_port: int | None = None,
    progress: Progress | None = None,
    connection: Connection | None = None,
    client: TunnelAgentClient | None = None,
    extra_path: Sequence[str] = (),
    ready_timeout: float = 180.0,
    remote_root: str = DEFAULT_REMOTE_ROOT,
) -> ServiceInfo:
    """TensorBoard for `logdir` on the instance's 127.0.0.1, tunnelled; reused when running."""
    quoted = shlex.quote(logdir) if not logdir.startswith("~/") else \
        '"$HOME"/' + shlex.quote(logdir[2:])
    return _ensure_service(
        target, "tensorboard", local_port=local_port, progress=progress, connection=connection,
        client=client, extra_path=extra_path, ready_timeout=ready_timeout, root=remote_root,
        program="tensorboard", packages="tensorboard", with_token=False, path="/",
        build_command=lambda exe, as_root: (
            f"{shlex.quote(exe)} --logdir {quoted} --host 127.0.0.1 --port $PORT"
        ),
    )


def forward(
    target: SshTarget,
    remote_port: int,
    *,
    local_port: int | None = None,
    name: str | None = None,
    client: TunnelAgentClient | None = None,
) -> TunnelInfo:
    """Any remote port on the instance's loopback, reusing an open tunnel to the same port."""
    client = client or TunnelAgentClient()
    for info in client.list():
        if (info.instance_id == target.instance_id and info.remote_port == remote_port
                and local_port in (None, info.local_port)):
            return info
    return client.open(target, remote_port, local_port=local_port, name=name or f"port-{remote_port}")


def stop_service(
    target: SshTarget,
    name: str,
    *,
    connection: Connection | None = None,
    client: TunnelAgentClient | None = None,
    remote_root: str = DEFAULT_REMOTE_ROOT,
) -> None:
    """Stop a service we started (jupyter, tensorboard) and close its tunnels."""
    client = client or TunnelAgentClient()
    for info in client.list():
        if info.instance_id == target.instance_id and info.name == name:
            client.close(info.id)
    with _connection(target, connection) as conn:
        _Remote(conn, (), lambda _line: None, remote_root).stop(name)


class _connection:
    """Use the caller's connection, or open (and later close) one of our own."""

    def __init__(self, target: SshTarget, given: Connection | None) -> None:
        self.target, self.given, self.owned = target, given, None

    def __enter__(self) -> Connection:
        if self.given is not None:
            return self.given
        self.owned = Connection.open(self.target)
        return self.owned

    def __exit__(self, *exc_info) -> None:
        if self.owned is not None:
            self.owned.close()


def _ensure_service(target, name, *, local_port, progress, connection, client, extra_path,
                    ready_timeout, root, program, packages, with_token, path, build_command):
    say = progress or (lambda _line: None)
    client = client or TunnelAgentClient()
    with _connection(target, connection) as conn:
        remote = _Remote(conn, extra_path, say, root)
        # What the caller asked for (e.g. TensorBoard's logdir), hashed so it is safe to store.
        config = hashlib.sha256(build_command("", False).encode()).hexdigest()[:16]
        state, alive, token = remote.status(name)
        if state and alive and (token or not with_token) and state.get("config") == config:
            tunnel = _tunnel_for(client, target, name, int(state["port"]), local_port)
            if _ready(tunnel.local_port, path, token, deadline=time.monotonic() + 10):
                say(f"{name} is already running on the instance (port {state['port']}); reusing it")
                return _info(name, target, state, tunnel, token, path, reused=True)
            client.close(tunnel.id)
        if state:
            # Stale, unresponsive or started with other settings: replace it, tunnel and all.
            for info in client.list():
                if (info.instance_id == target.instance_id and info.name == name
                        and info.remote_port == int(state.get("port") or 0)):
                    client.close(info.id)
            remote.stop(name)
        say(f"Looking for {program} on the instance")
        exe = remote.find(program)
        if exe is None:
            say(f"{program} is not installed on the instance; installing it into {root}/jlab")
            remote.install(packages)
            exe = remote.find(program)
            if exe is None:
                raise ServiceStartError(f"{program} is still missing after installing {packages}.")
        code, out, _ = remote.sh(b"id -u\n")
        token = secrets.token_urlsafe(32) if with_token else None
        state = remote.start(name, build_command(exe, out.strip() == "0"), token, config)
        say(f"Started {name} on the instance at 127.0.0.1:{state['port']}; waiting for it")
        tunnel = _tunnel_for(client, target, name, int(state["port"]), local_port)
        deadline = time.monotonic() + ready_timeout
        while not _ready(tunnel.local_port, path, token, deadline=min(deadline, time.monotonic() + 5)):
            if time.monotonic() > deadline or not remote.status(name)[1]:
                client.close(tunnel.id)
                tail = remote.log_tail(name, token)
                remote.stop(name)
                raise ServiceStartError(
                    f"{name} on instance {target.instance_id} did not become ready "
                    f"(log {root}/logs/{name}.log ends: {tail or 'empty'})."
                )
        say(f"{name} is ready at http://127.0.0.1:{tunnel.local_port}{path}")
        return _info(name, target, state, tunnel, token, path, reused=False)


def _tunnel_for(client, target, name, remote_port, local_port) -> TunnelInfo:
    for info in client.list():
        if (info.instance_id == target.instance_id and info.remote_port == remote_port
                and info.name == name and local_port in (None, info.local_port)):
            return info
    return client.open(target, remote_port, local_port=local_port, name=name)


def _ready(local_port: int, path: str, token: str | None, *, deadline: float) -> bool:
    """Poll the service through the tunnel until it answers (Jupyter: /api/status with token)."""
    url = f"http://127.0.0.1:{local_port}" + ("/api/status" if token else "/")
    headers = {"Authorization": f"token {token}"} if token else {}
    while True:
        try:
            response = httpx.get(url, headers=headers, timeout=5.0, trust_env=False)
            if response.status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.3)


def _info(name, target, state, tunnel, token, path, *, reused) -> ServiceInfo:
    return ServiceInfo(
        name=name, instance_id=target.instance_id, remote_port=int(state["port"]),
        local_port=tunnel.local_port, tunnel_id=tunnel.id, pid=state.get("pid"),
        reused=reused, path=path, token=token,
    )


__all__ = [
    "ServiceInfo",
    "ServiceStartError",
    "forward",
    "start_jupyter",
    "start_tensorboard",
    "stop_service",
]
