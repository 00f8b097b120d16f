"""The kernel process a frontend starts: `python -m spheron_jupyter.kernel ... -f CONNECTION_FILE`.

From jupyter_client's point of view this process *is* the kernel: it lives exactly as long as
the ipykernel on the instance, so `poll()` says dead only when the instance says so. It

1. reads the connection file jupyter_client wrote (ports here, key, signature scheme);
2. over SSH (pinned host key, our key) starts ipykernel on the instance, bound to its
   127.0.0.1, with the key fed through stdin into a 0600 file (remote.py), never argv;
3. asks the tunnel agent (ssh/tunnel.py; out of this process, healing on the same local ports)
   for five tunnels: 127.0.0.1:<port from the file> here -> the port the kernel bound there;
4. watches the remote kernel over its own SSH connection. A dropped or frozen link only means
   reconnecting (with backoff); ZeroMQ reconnects through the healed tunnels by itself and the
   kernel keeps its state. It exits when the remote kernel ends (shutdown, restart, crash),
   after SIGTERM — then it stops the remote kernel first —, when its parent is gone (5.) and
   when the instance was terminated (its kernelspec removed, SSH dead).
5. when its parent (the Jupyter server) is gone without having asked for a shutdown (killed,
   crashed), it does not stop the remote kernel: it detaches it (detached.py: the instance
   stops it by itself after a grace period, 10 minutes by default) and records it, so the next
   Jupyter server's provisioner (provisioner.py) can have a new launcher adopt it — this same
   code, told which record through ``detached.ADOPT_ENV``; it then skips step 2. A shutdown
   (the kernel ends on request) or SIGTERM stops the remote kernel as before.

Interrupts are messages on the control channel (the kernelspec says interrupt_mode "message");
a frontend that signals instead sends SIGINT here, which becomes SIGINT to the remote kernel.
Progress and errors go to stderr, which Jupyter logs; never a secret.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import sys
import threading
import time
from pathlib import Path

from . import detached, remote, spec, tunnels

BACKOFF = (0.25, 0.5, 1.0, 2.0, 4.0)


def log(text: str) -> None:
    try:
        print(f"[spheron kernel {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)
    except (OSError, ValueError):  # the Jupyter server that read our stderr is gone
        pass


class Launcher:
    def __init__(self, target, connection_file: Path, python: str | None) -> None:
        self.target = target
        self.connection_file = connection_file
        self.python = python
        self.stop = threading.Event()      # SIGTERM or parent gone: stop supervising
        self.detach = False                # parent gone: leave the remote kernel for a new one
        self.info: dict = {}
        self.parent = os.getppid()
        self.kernel: remote.RemoteKernel | None = None
        self.tunnels: list[str] = []
        self.had_spec = bool(spec.find_for_instance(target.instance_id))

    # -- start --------------------------------------------------------------------------------
    def start(self) -> None:
        info = self.info = json.loads(self.connection_file.read_text())
        claimed = self._claimed(info)
        conn = self._connect(first=True)
        try:
            if claimed is not None:
                self.kernel = self._adopt(conn, claimed)
            if self.kernel is None:
                self.kernel = self._start_new(conn, info)
        finally:
            conn.close()
        self.tunnels = tunnels.open_kernel_tunnels(self.target, info, self.kernel.ports)
        log("tunnels ready: " + ", ".join(f"{name} 127.0.0.1:{info[name + '_port']}"
                                          for name in remote.CHANNELS))

    def _start_new(self, conn, info: dict) -> remote.RemoteKernel:
        python = self.python
        if python is None:
            python = remote.ensure_python(conn, None, progress=log)
        machine = tunnels.machine_id()
        kid = secrets.token_hex(6)
        try:
            kernel = self._start(conn, kid, python, info, machine)
        except remote.KernelStartError as exc:
            if "ipykernel" not in str(exc):
                raise
            # The kernelspec's Python lost ipykernel (or never had it): install, retry once.
            python = remote.ensure_python(conn, python, progress=log)
            kernel = self._start(conn, secrets.token_hex(6), python, info, machine)
        log(f"kernel started on instance {self.target.instance_id} (pid {kernel.pid})")
        return kernel

    def _claimed(self, info: dict) -> remote.RemoteKernel | None:
        """The detached kernel the provisioner chose for us, if any (its key is already in
        our connection file: the provisioner wrote it there)."""
        path = os.environ.pop(detached.ADOPT_ENV, "")
        if not path:
            return None
        record = detached.take(Path(path))
        if record is None or record.instance_id != self.target.instance_id \
                or record.key != info.get("key"):
            log("the detached kernel named for reattaching is not usable; starting a new one")
            return None
        return remote.RemoteKernel(record.kid, record.pid, record.ports)

    def _adopt(self, conn, kernel: remote.RemoteKernel) -> remote.RemoteKernel | None:
        owner = f"{tunnels.machine_id()}:{os.getpid()}"
        if remote.adopt_kernel(conn, kernel, owner):
            log(f"reattached to the kernel left running on instance {self.target.instance_id} "
                f"(pid {kernel.pid}); its variables are kept")
            return kernel
        log("the detached kernel has ended on the instance meanwhile; starting a new one")
        return None

    def _start(self, conn, kid, python, info, machine) -> remote.RemoteKernel:
        local = {int(info[f"{name}_port"]) for name in remote.CHANNELS}
        for _attempt in range(3):
            kernel = remote.start_kernel(conn, kid=kid, python=python, connection=info,
                                         machine=machine, owner=f"{machine}:{os.getpid()}",
                                         alive_owners=tunnels.alive_launchers(machine))
            if not local & set(kernel.ports.values()):
                return kernel
            # An "instance" sharing this machine's loopback (the emulator) picked a port Jupyter
            # chose for this side and the agent must bind: start it again elsewhere.
            remote.stop_kernel(conn, kernel.kid)
            kid = secrets.token_hex(6)
        return kernel

    # -- supervise ----------------------------------------------------------------------------
    def supervise(self) -> None:
        """Until the remote kernel ends or we are told to stop; network trouble only retries."""
        threading.Thread(target=self._watch_parent, daemon=True, name="parent-watch").start()
        attempt = 0
        lost_since: float | None = None
        while not self.stop.is_set() and self.kernel is not None:
            try:
                conn = self._connect(first=False)
            except Exception as exc:  # any failure to reach it is a retry
                if lost_since is None:
                    lost_since = time.monotonic()
                    log(f"instance unreachable ({type(exc).__name__}); retrying, the kernel keeps "
                        "running there")
                if self.had_spec and not spec.find_for_instance(self.target.instance_id):
                    log("the instance's kernelspec was removed (instance terminated): exiting")
                    return
                self.stop.wait(BACKOFF[min(attempt, len(BACKOFF) - 1)])
                attempt += 1
                continue
            if lost_since is not None:
                log(f"reconnected after {time.monotonic() - lost_since:.1f} s")
                lost_since = None
            attempt = 0
            try:
                if remote.watch(conn, self.kernel.pid, self.stop):
                    log("the kernel ended on the instance")
                    self.kernel = None
                    return
            except Exception as exc:  # PeerDeadError and friends: reconnect
                lost_since = time.monotonic()
                log(f"SSH link lost ({type(exc).__name__}); reconnecting, the kernel keeps running")
            finally:
                conn.close()

    def _watch_parent(self) -> None:
        while not self.stop.wait(1.0):
            if os.getppid() != self.parent:
                log("the Jupyter process that started this kernel is gone without a shutdown: "
                    "leaving the kernel running on the instance for a new Jupyter server")
                self.detach = True
                self.stop.set()

    def forward_interrupt(self) -> None:
        """SIGINT from a frontend: signal the remote kernel, from a thread (we are in a handler)."""
        kernel = self.kernel
        if kernel is None:
            return

        def send() -> None:
            try:
                conn = self._connect(first=False, timeout=10.0)
                try:
                    remote.interrupt_kernel(conn, kernel.pid)
                finally:
                    conn.close()
            except Exception as exc:
                log(f"could not interrupt the kernel on the instance ({type(exc).__name__})")

        threading.Thread(target=send, daemon=True, name="interrupt").start()

    # -- stop ---------------------------------------------------------------------------------
    def cleanup(self) -> None:
        """Close our tunnels, and stop the remote kernel if it still runs (best effort, bounded)."""
        tunnels.close_all(self.tunnels)
        self.tunnels = []
        if self.kernel is None:
            return
        if self.detach:
            self._detach(self.kernel)
            return
        try:
            conn = self._connect(first=False, timeout=5.0)
            try:
                remote.stop_kernel(conn, self.kernel.kid)
            finally:
                conn.close()
            log("stopped the kernel on the instance")
        except Exception as exc:
            log(f"could not stop the kernel on the instance ({type(exc).__name__}); "
                "the next kernel start there stops it")

    def _detach(self, kernel: remote.RemoteKernel) -> None:
        """Arm the instance's timer and record the kernel for adoption (detached.py)."""
        grace = detached.grace_seconds()
        try:
            conn = self._connect(first=False, timeout=5.0)
            try:
                running = remote.detach_kernel(conn, kernel.kid, grace)
            finally:
                conn.close()
        except Exception as exc:
            log(f"could not reach the instance to keep the kernel ({type(exc).__name__}); "
                "the next kernel start there stops it")
            return
        if not running:
            log("the kernel ended on the instance")
            return
        detached.save(detached.Detached(
            self.target.instance_id, kernel.kid, kernel.pid, kernel.ports, str(self.info["key"]),
            str(self.info.get("signature_scheme", "hmac-sha256")),
            os.environ.get(detached.SESSION_ENV, ""), time.time() + grace))
        log(f"the kernel keeps running on the instance for {grace:.0f} s: a Jupyter server that "
            "starts this kernel again meanwhile reattaches to it, else the instance stops it")

    def _connect(self, *, first: bool, timeout: float = 10.0):
        from ..ssh.connection import Connection

        if not first:
            return Connection.open(self.target, timeout=timeout)
        deadline = time.monotonic() + 30.0
        while True:  # the instance's sshd may still be restarting with its pinned key
            try:
                return Connection.open(self.target, timeout=timeout)
            except Exception as exc:
                from ..ssh.errors import HostKeyChangedError, HostKeyUnknownError, SshAuthError

                if isinstance(exc, (HostKeyChangedError, HostKeyUnknownError, SshAuthError)) \
                        or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m spheron_jupyter.kernel",
        description="Run a Jupyter kernel on a Spheron instance (started by Jupyter from the "
                    "kernelspec `%spheron kernel NAME` installs).")
    parser.add_argument("--instance", required=True, help="instance id (its host-key pin)")
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, default=22)
    parser.add_argument("--user", required=True)
    parser.add_argument("--python", help="interpreter on the instance (default: one with "
                        "ipykernel, else ~/.spheron/kernel-venv, made on first use)")
    parser.add_argument("-f", dest="connection_file", required=True,
                        help="the connection file Jupyter wrote")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    from ..ssh.keys import user_key_path
    from ..ssh.target import SshTarget

    target = SshTarget(host=args.host, port=args.port, user=args.user,
                       instance_id=args.instance, key_path=user_key_path())
    launcher = Launcher(target, Path(args.connection_file), args.python)
    # A frontend that signals (a kernelspec without interrupt_mode "message") sends SIGINT here.
    signal.signal(signal.SIGINT, lambda *_: launcher.forward_interrupt())
    signal.signal(signal.SIGTERM, lambda *_: launcher.stop.set())
    signal.signal(signal.SIGHUP, lambda *_: launcher.stop.set())
    code = 0
    try:
        launcher.start()
        launcher.supervise()
    except Exception as exc:  # one line in Jupyter's log, no traceback of secrets
        from ..config.redaction import redact

        log(f"error: {redact(str(exc))}")
        code = 1
    finally:
        launcher.cleanup()
    return code


__all__ = ["Launcher", "main"]
