"""`spheron-jupyter tunnel-agent`: the per-user process that owns every tunnel.

Why a process of its own: a paramiko pump in the kernel collapses to a few MB/s as soon as the
user's training loop holds the GIL (bench/README.md), and tunnels must outlive a kernel restart. The
agent runs in its own session, listens for JSON-line requests on a Unix socket in the runtime
dir, and exits shortly after its last tunnel closes. If it dies, the kernel frees its listeners,
so no port is ever held by nobody's tunnel.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import secrets
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .errors import SshError
from .tunnel_common import (
    LOOPBACK,
    TunnelError,
    TunnelInfo,
    TunnelNotFoundError,
    agent_log_path,
    agent_pid_path,
    agent_socket_path,
    target_from_wire,
)
from .tunnel_forward import Forwarder, bind_listener
from .tunnel_link import TargetLink

if TYPE_CHECKING:
    from .target import SshTarget
    from .tunnel_openssh import OpenSshLink

HELP = "run the per-user tunnel agent (started on demand by the notebook)"
log = logging.getLogger("spheron_jupyter.tunnel_agent")

# Which data plane carries the bytes: "openssh" (the default when an `ssh` client is installed;
# as fast as `ssh -L`, see bench/README.md) or "paramiko" (needs nothing but pip).
PLANE_ENV = "SPHERON_JUPYTER_TUNNEL_PLANE"


def choose_plane() -> str:
    from .tunnel_openssh import find_ssh

    wanted = os.environ.get(PLANE_ENV, "").strip().lower()
    if wanted in ("openssh", "paramiko"):
        return wanted
    return "openssh" if find_ssh() else "paramiko"


def default_link_factory(target: SshTarget) -> TargetLink | OpenSshLink:
    if choose_plane() == "openssh":
        from .tunnel_openssh import OpenSshLink

        return OpenSshLink(target)
    return TargetLink(target)


class _Tunnel:
    def __init__(self, tunnel_id, forwarder: Forwarder, link_key, instance_id, name) -> None:
        self.id = tunnel_id
        self.forwarder = forwarder
        self.link_key = link_key
        self.instance_id = instance_id
        self.name = name

    def info(self, state: str | None = None) -> TunnelInfo:
        fwd = self.forwarder
        return TunnelInfo(
            id=self.id,
            local_port=fwd.local_port,
            remote_port=fwd.remote_port,
            remote_host=fwd.remote_host,
            instance_id=self.instance_id,
            state=state or fwd.link.state,
            name=self.name,
            connections=fwd.connections,
            last_error=fwd.last_error or fwd.link.last_error,
            plane="openssh" if type(fwd.link).__name__ == "OpenSshLink" else "paramiko",
        )


class TunnelAgent:
    """The tunnel registry and its request handlers; one SSH link per target, shared."""

    def __init__(
        self, *, link_factory: Callable[[SshTarget], TargetLink | OpenSshLink] = default_link_factory,
    ) -> None:
        self._lock = threading.RLock()
        self._tunnels: dict[str, _Tunnel] = {}
        self._links: dict[tuple, TargetLink | OpenSshLink] = {}
        self._target_locks: dict[tuple, threading.Lock] = {}
        self._link_factory = link_factory
        self._busy = 0  # requests in flight: never exit in the middle of an open
        self._idle_since = time.monotonic()

    # ---- requests --------------------------------------------------------------------------

    def handle(self, request: dict) -> dict:
        with self._lock:
            self._busy += 1
        try:
            op = request.get("op")
            if op == "ping":
                return {"ok": True, "pid": os.getpid(), "tunnels": len(self._tunnels)}
            if op == "open":
                return {"ok": True, "tunnel": self._open(request).to_wire()}
            if op == "list":
                with self._lock:
                    tunnels = [t.info().to_wire() for t in self._tunnels.values()]
                return {"ok": True, "tunnels": tunnels}
            if op == "close":
                return {"ok": True, "tunnels": [self._close(str(request["id"])).to_wire()]}
            if op == "close_instance":
                with self._lock:
                    ids = [t.id for t in self._tunnels.values()
                           if t.instance_id == request["instance_id"]]
                return {"ok": True, "tunnels": [self._close(i).to_wire() for i in ids]}
            raise TunnelError(f"Unknown request {op!r}.")
        except SshError as exc:
            return {"ok": False, "error": {"type": type(exc).__name__, "message": str(exc)}}
        except Exception as exc:
            log.exception("request failed")
            return {"ok": False, "error": {"type": "TunnelAgentError",
                                           "message": f"The tunnel agent failed: {exc}"}}
        finally:
            with self._lock:
                self._busy -= 1
                self._idle_since = time.monotonic()

    def _open(self, request: dict) -> TunnelInfo:
        target = target_from_wire(request["target"])
        remote_port = int(request["remote_port"])
        remote_host = str(request.get("remote_host") or LOOPBACK)
        # Bind first: a taken port or a forbidden address fails before any SSH work is done.
        listener = bind_listener(str(request.get("local_host") or LOOPBACK),
                                 int(request.get("local_port") or 0))
        link_key = (target.host, target.port, target.user, target.instance_id,
                    str(target.key_path), str(target.known_hosts_path))
        # One open or link teardown per target at a time: two kernels opening tunnels to the
        # same instance share one link, and a closing tunnel cannot drop the link under us.
        with self._target_lock(link_key):
            try:
                link = self._link_for(link_key, target)
                forwarder = Forwarder(link, listener, remote_host, remote_port)
                forwarder.probe_forwarding()
            except BaseException:
                listener.close()
                self._drop_link_if_unused(link_key, locked=True)
                raise
            tunnel = _Tunnel(f"t{secrets.token_hex(3)}", forwarder, link_key,
                             target.instance_id, request.get("name"))
            with self._lock:
                self._tunnels[tunnel.id] = tunnel
        forwarder.start()
        log.info("opened %s: 127.0.0.1:%d -> %s %s:%d", tunnel.id, forwarder.local_port,
                 target.instance_id, remote_host, remote_port)
        return tunnel.info()

    def _target_lock(self, key: tuple) -> threading.Lock:
        with self._lock:
            return self._target_locks.setdefault(key, threading.Lock())

    def _link_for(self, key: tuple, target: SshTarget) -> TargetLink | OpenSshLink:
        """The live link to this target, or a new one (connected before it is shared)."""
        with self._lock:
            link = self._links.get(key)
        if link is not None and link.state != "closed":
            return link
        link = self._link_factory(target)
        link.connect_now()  # raises a typed error (host key, auth, unreachable) on failure
        with self._lock:
            self._links[key] = link
        return link

    def _close(self, tunnel_id: str) -> TunnelInfo:
        with self._lock:
            tunnel = self._tunnels.pop(tunnel_id, None)
        if tunnel is None:
            raise TunnelNotFoundError(f"No tunnel {tunnel_id!r}; `%spheron tunnels` lists them.")
        info = tunnel.info(state="closed")
        tunnel.forwarder.close()
        self._drop_link_if_unused(tunnel.link_key)
        log.info("closed %s (port %d)", tunnel.id, info.local_port)
        return info

    def _drop_link_if_unused(self, key: tuple, *, locked: bool = False) -> None:
        if not locked:
            with self._target_lock(key):
                return self._drop_link_if_unused(key, locked=True)
        with self._lock:
            if any(t.link_key == key for t in self._tunnels.values()):
                return
            link = self._links.pop(key, None)
        if link is not None:
            link.close()

    def close_all(self) -> None:
        with self._lock:
            ids = list(self._tunnels)
        for tunnel_id in ids:
            self._close(tunnel_id)

    def touch(self) -> None:
        """A client just connected: restart the idle clock so its request is not cut off."""
        with self._lock:
            self._idle_since = time.monotonic()

    def idle_for(self) -> float:
        with self._lock:
            if self._tunnels or self._busy:
                return 0.0
            return time.monotonic() - self._idle_since


def _serve_client(agent: TunnelAgent, conn: socket.socket) -> None:
    with conn, conn.makefile("rb") as stream:
        for line in stream:
            try:
                request = json.loads(line)
            except ValueError:
                reply = {"ok": False, "error": {"type": "TunnelAgentError",
                                                "message": "Malformed request."}}
            else:
                reply = agent.handle(request)
            try:
                conn.sendall(json.dumps(reply).encode() + b"\n")
            except OSError:
                # The opener died before hearing the id of its new tunnel: nobody could ever
                # close it, so close it now instead of leaving its port held.
                tunnel = reply.get("tunnel")
                if reply.get("ok") and isinstance(tunnel, dict):
                    agent.handle({"op": "close", "id": tunnel["id"]})
                return


def serve(*, idle_exit: float = 2.0, first_request_wait: float = 20.0) -> int:
    """Run the agent until it has served nothing for `idle_exit` seconds."""
    pid_file = open(agent_pid_path(), "a+")
    try:
        fcntl.flock(pid_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return 0  # another agent already serves this user
    pid_file.seek(0)
    pid_file.truncate()
    pid_file.write(str(os.getpid()))
    pid_file.flush()

    path = agent_socket_path()
    path.unlink(missing_ok=True)  # stale: we hold the pid lock, so no live agent owns it
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)  # the socket is for this user only
    try:
        server.bind(str(path))
    finally:
        os.umask(old_umask)
    server.listen(64)
    server.settimeout(0.2)
    our_socket = path.stat().st_ino

    agent = TunnelAgent()
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    started = time.monotonic()
    ever_served = False
    try:
        while not stopping.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                conn = None
            if conn is not None:
                ever_served = True
                agent.touch()
                conn.settimeout(None)
                threading.Thread(target=_serve_client, args=(agent, conn), daemon=True).start()
            grace = idle_exit if ever_served else first_request_wait
            if agent.idle_for() > grace and time.monotonic() - started > grace:
                break
            if not _still_ours(path, our_socket):
                # Our runtime dir was wiped (logout, a tmp cleaner): nobody can reach us to close
                # these tunnels any more, so close them now rather than hold ports forever.
                log.warning("control socket %s is gone; closing every tunnel", path)
                break
    finally:
        # Unlink before closing, so a client either reaches a live agent or starts a new one.
        if _still_ours(path, our_socket):
            path.unlink(missing_ok=True)
        server.close()
        agent.close_all()
        log.info("tunnel agent %d exits", os.getpid())
    return 0


def _still_ours(path, inode: int) -> bool:
    try:
        return path.stat().st_ino == inode
    except OSError:
        return False


def add_arguments(parser) -> None:
    parser.add_argument("--idle-exit", type=float, default=2.0,
                        help="seconds without tunnels before the agent exits (default 2)")
    parser.add_argument("--detach", action="store_true",
                        help="fork into a new session and return at once (used by the notebook)")


def run(args) -> int:
    if args.detach:
        # Double fork: the starter reaps the intermediate child at once, so the agent is never
        # left as a zombie of a kernel, and the agent itself belongs to no kernel's session.
        if os.fork() > 0:
            return 0
        os.setsid()
        if os.fork() > 0:
            os._exit(0)
    log_path = agent_log_path()
    if log_path.exists() and log_path.stat().st_size > 5_000_000:
        log_path.replace(log_path.with_suffix(".log.1"))  # keep one old log, bounded
    logging.basicConfig(
        filename=str(log_path), level=logging.INFO,
        format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("paramiko").setLevel(logging.WARNING)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        os.dup2(null, fd)
    try:
        return serve(idle_exit=args.idle_exit)
    except Exception:
        log.exception("tunnel agent crashed")
        sys.stderr.flush()
        return 1
