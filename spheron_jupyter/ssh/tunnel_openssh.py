"""The OpenSSH data plane: one `ssh -M -N` master per target, fed connections over its mux socket.

Why not `ssh -N -L` per tunnel: its listener dies with the ssh process, so a reconnect frees the
port for anyone to grab, a connection that arrives while the remote service is still starting is
reset, and "administratively prohibited" is only a log line. So the agent keeps the listener
(tunnel_forward.py) and, per accepted connection, asks the master for a stdio forward
(MUX_C_NEW_STDIO_FWD, what `ssh -W` does) and passes it the socket itself with SCM_RIGHTS: the
bytes then flow socket <-> master in C, at `ssh -L` speed, and the agent only watches.

Half-closes: our EOF reaches the remote as EOF and its answer still comes back. A remote EOF
ends the whole stdio forward (OpenSSH's `force_drain`, the same as `ssh -W`): the master closes
its copies of the socket and the control connection, and we close ours, so the browser sees EOF
after the last byte. Data sent after that is not delivered (the paramiko plane does deliver it).
"""

from __future__ import annotations

import collections
import hashlib
import logging
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time

from .errors import SshUnreachableError
from .hostkeys import KnownHosts
from .target import SshTarget
from .tunnel_common import ForwardingRefusedError, runtime_dir
from .tunnel_link import BACKOFF_STEPS, forwarding_refused_message, sleep_backoff

log = logging.getLogger(__name__)

MUX_VERSION = 4
MUX_MSG_HELLO = 0x00000001
MUX_C_NEW_STDIO_FWD = 0x10000008
MUX_S_FAILURE = 0x80000003
MUX_S_SESSION_OPENED = 0x80000006


def find_ssh() -> str | None:
    return shutil.which("ssh")


def _control_path(target: SshTarget) -> str:
    """A short, per-target mux socket path (Unix socket paths max out near 108 bytes)."""
    key = f"{target.user}@{target.host}:{target.port}/{target.instance_id}/{os.getpid()}"
    name = f"ssh-{hashlib.sha256(key.encode()).hexdigest()[:16]}.mux"
    path = runtime_dir() / name
    if len(os.fsencode(path)) > 90:
        return tempfile.gettempdir() + f"/spheron-{os.getuid()}-{name}"
    return str(path)


class OpenSshLink:
    """A supervised OpenSSH master for one target, restarted with backoff when it dies."""

    def __init__(self, target: SshTarget, *, ssh_path: str | None = None) -> None:
        self.target = target
        self.ssh_path = ssh_path or find_ssh() or "ssh"
        self.control_path = _control_path(target)
        self.state = "connecting"
        self.last_error: str | None = None
        self._cond = threading.Condition()
        self._process: subprocess.Popen | None = None
        self._ready = False
        self._closed = False
        self._retry_now = False
        self._stderr: collections.deque[tuple[float, str]] = collections.deque(maxlen=50)
        self._first_result: list[BaseException | None] = []

    # ---- lifecycle -------------------------------------------------------------------------

    def connect_now(self) -> None:
        """Start the supervisor and wait for the first master; raise its error if it fails."""
        threading.Thread(target=self._supervise, name=f"ssh-master-{self.target.instance_id}",
                         daemon=True).start()
        with self._cond:
            while not self._first_result:
                self._cond.wait()
        if self._first_result[0] is not None:
            self.close()
            raise self._first_result[0]

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self.state = "closed"
            process = self._process
            self._cond.notify_all()
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
        try:
            os.unlink(self.control_path)
        except OSError:
            pass

    def wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._closed:
                if self._ready:
                    return True
                self._retry_now = True  # someone waits: cut long backoff steps short
                self._cond.notify_all()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.25))
        return False

    # ---- the master process ----------------------------------------------------------------

    def _command(self) -> list[str]:
        target = self.target
        return [
            self.ssh_path, "-M", "-N", "-S", self.control_path, "-F", "/dev/null",
            "-o", "ControlPersist=no", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
            "-o", "ExitOnForwardFailure=yes", "-o", "ServerAliveInterval=1",
            "-o", "ServerAliveCountMax=3", "-o", "ConnectTimeout=10",
            "-o", "UpdateHostKeys=no", "-o", "CheckHostIP=no",
            *KnownHosts(target.known_hosts_path).openssh_options(target.instance_id),
            "-i", str(target.key_path), "-p", str(target.port), "-l", target.user, target.host,
        ]

    def _spawn(self) -> subprocess.Popen:
        try:
            os.unlink(self.control_path)  # a stale socket from a master that died
        except OSError:
            pass
        process = subprocess.Popen(
            self._command(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, preexec_fn=_die_with_parent, close_fds=True,
        )
        threading.Thread(target=self._read_stderr, args=(process,), daemon=True).start()
        return process

    def _read_stderr(self, process: subprocess.Popen) -> None:
        assert process.stderr is not None  # started with stderr=PIPE
        for raw in process.stderr:
            line = raw.decode(errors="replace").strip()
            if line:
                self._stderr.append((time.monotonic(), line))
                log.info("ssh %s: %s", self.target.instance_id, line)

    def _wait_master_ready(self, process: subprocess.Popen, timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self._closed:
            if process.poll() is not None:
                return False
            try:
                with socket.socket(socket.AF_UNIX) as ctl:
                    ctl.settimeout(5)
                    ctl.connect(self.control_path)
                    _hello(ctl)
                return True
            except OSError:
                time.sleep(0.02)
        return False

    def _supervise(self) -> None:
        step = 0
        while not self._closed:
            with self._cond:
                self.state = "connecting" if not self._first_result else "reconnecting"
                self._retry_now = False
            process = self._spawn()
            with self._cond:
                self._process = process
            ok = self._wait_master_ready(process)
            if ok:
                step = 0
                with self._cond:
                    self._ready, self.state, self.last_error = True, "up", None
                    if not self._first_result:
                        self._first_result.append(None)
                    self._cond.notify_all()
                try:
                    process.wait(timeout=1.0)  # a master that dies at once needs no tuning
                except subprocess.TimeoutExpired:
                    self._turn_off_nagle()
                    process.wait()  # until the peer stops answering or the link is closed
            if process.poll() is None:
                process.kill()
                process.wait()
            with self._cond:
                self._ready = False
                if self._closed:
                    return
                self.last_error = self._last_stderr() or "the SSH master exited"
                if not self._first_result:
                    self._first_result.append(self._diagnose())
                    self._cond.notify_all()
                    return
                self.state = "reconnecting"
                log.warning("instance %s: %s; reconnecting", self.target.instance_id,
                            self.last_error)
            if not ok:
                delay = BACKOFF_STEPS[min(step, len(BACKOFF_STEPS) - 1)]
                step += 1
                sleep_backoff(self._cond, delay, lambda: self._closed, lambda: self._retry_now)

    def _turn_off_nagle(self) -> None:
        """Run one pty session (`true`) through the master. OpenSSH sets TCP_NODELAY on a
        connection, both ends and for good, only once a session there gets a pty; without it
        small packets in a row (a kernel's reply, then its iopub status) wait for delayed ACKs,
        about 40 ms each (bench/kernel.py). Best effort: a server refusing ptys changes nothing."""
        try:
            subprocess.run(
                [self.ssh_path, "-S", self.control_path, "-tt", "-o", "BatchMode=yes",
                 "-o", "LogLevel=QUIET", "-F", "/dev/null", "instance", "true"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                timeout=10, check=False,
            )
        except (OSError, subprocess.SubprocessError):
            pass

    def _last_stderr(self) -> str | None:
        """The master's last complaint about the connection (not about a forwarded channel)."""
        for _stamp, line in reversed(list(self._stderr)):
            if "open failed" not in line:
                return line
        return None

    def _diagnose(self) -> BaseException:
        """Why the first master failed, as the typed error our own client would raise."""
        from .connection import open_transport

        try:
            open_transport(self.target, tofu_consent=False, timeout=10.0).close()
        except Exception as exc:
            return exc
        return SshUnreachableError(
            f"OpenSSH could not connect to {self.target.address} for instance "
            f"{self.target.instance_id}: {self._last_stderr() or 'no message'}."
        )

    # ---- the data plane --------------------------------------------------------------------

    def _refused_reason(self, since: float) -> str | None:
        """Whether the server prohibited the last failed open.

        The master logs "open failed: <reason>" just before it replies; the line may reach us
        a moment after the reply, so wait briefly for it.
        """
        deadline = time.monotonic() + 0.3
        while True:
            lines = [line for stamp, line in list(self._stderr)
                     if stamp >= since and "open failed" in line]
            if lines or time.monotonic() > deadline:
                return next((ln for ln in lines if "administratively prohibited" in ln), None)
            time.sleep(0.01)

    def probe(self, remote_host: str, remote_port: int) -> None:
        a, b = socket.socketpair()
        with a, b:
            started = time.monotonic() - 0.01
            opened = self._stdio_forward(remote_host, remote_port, a.fileno(), b.fileno())
            if opened is None and self._refused_reason(started):
                raise ForwardingRefusedError(forwarding_refused_message(
                    "it answered 'administratively prohibited'"))
            if opened is not None:
                opened.close()

    def carry(self, client, peer, remote_host, remote_port, *, register, stopped,
              remote_wait, link_wait) -> str | None:
        deadline = time.monotonic() + remote_wait
        delay = 0.05
        while not stopped.is_set():
            if not self.wait_ready(link_wait):
                return "the SSH connection is down"
            started = time.monotonic() - 0.01
            fd = client.fileno()
            ctl = self._stdio_forward(remote_host, remote_port, fd, fd)
            if ctl is not None:
                register(lambda ctl=ctl: _shutdown(ctl))
                _wait_until_closed(ctl)
                try:
                    client.shutdown(socket.SHUT_WR)  # the FIN after the master's last byte
                except OSError:
                    pass
                return None
            if self._refused_reason(started):
                return forwarding_refused_message("it answered 'administratively prohibited'")
            if time.monotonic() + delay > deadline:
                return f"remote port {remote_port} refused the connection"
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
        return None

    def _stdio_forward(self, host: str, port: int, read_fd: int, write_fd: int):
        """Ask the master to connect host:port to these fds; the control socket, or None."""
        ctl = socket.socket(socket.AF_UNIX)
        try:
            ctl.settimeout(15)
            ctl.connect(self.control_path)
            # Pipelined: the master handles our hello before the request, and reads a request
            # packet exactly, so the one-byte messages carrying the fds are not swallowed.
            ctl.sendall(_packet(struct.pack(">II", MUX_MSG_HELLO, MUX_VERSION))
                        + _packet(struct.pack(">II", MUX_C_NEW_STDIO_FWD, 1), _string(b""),
                                  _string(host.encode()), struct.pack(">I", port)))
            socket.send_fds(ctl, [b"\0"], [read_fd])
            socket.send_fds(ctl, [b"\0"], [write_fd])
            if struct.unpack(">I", _read_packet(ctl)[:4])[0] != MUX_MSG_HELLO:
                raise ConnectionError("the SSH master did not greet")
            reply = _read_packet(ctl)
        except OSError:
            ctl.close()
            return None
        if struct.unpack(">I", reply[:4])[0] != MUX_S_SESSION_OPENED:
            ctl.close()
            return None
        ctl.settimeout(None)
        return ctl


def _wait_until_closed(ctl: socket.socket) -> None:
    """The master closes the control connection when the forwarded session ends."""
    try:
        while ctl.recv(4096):
            pass
    except OSError:
        pass
    finally:
        ctl.close()


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _packet(*parts: bytes) -> bytes:
    body = b"".join(parts)
    return struct.pack(">I", len(body)) + body


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("the SSH master closed the control socket")
        data += chunk
    return data


def _read_packet(sock: socket.socket) -> bytes:
    (length,) = struct.unpack(">I", _recv_exact(sock, 4))
    return _recv_exact(sock, length)


def _hello(ctl: socket.socket) -> None:
    ctl.sendall(_packet(struct.pack(">II", MUX_MSG_HELLO, MUX_VERSION)))
    reply = _read_packet(ctl)
    if struct.unpack(">I", reply[:4])[0] != MUX_MSG_HELLO:
        raise ConnectionError("the SSH master did not greet")


def _load_prctl():
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()  # resolved before any fork: the child only calls it


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the agent dies, so no master outlives its listeners."""
    if _PRCTL is not None:
        _PRCTL(1, 15)  # PR_SET_PDEATHSIG, SIGTERM
