"""Helpers shared by the tunnel and services tests (this module holds no tests itself).

A small remote service with a few behaviours the tests need, and checks made on the real
sockets (/proc/net/tcp) rather than on what our code claims.
"""

from __future__ import annotations

import os
import socket
import threading
import time

from spheron_jupyter.config.processes import pid_alive


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_is_free(port: int) -> bool:
    """True when a server could listen on 127.0.0.1:port right now."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
            probe.listen()
        except OSError:
            return False
        return True


def _listening_sockets() -> list[tuple[str, int, str]]:
    """(address, port, inode) of every TCP LISTEN socket, read from the kernel's tables."""
    found = []
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            address_hex, port_hex = local.split(":")
            if state != "0A":
                continue
            raw = bytes.fromhex(address_hex)
            # /proc prints each 32-bit word in host (little-endian) order.
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            found.append((socket.inet_ntop(family, raw), int(port_hex, 16), inode))
    return found


def listener_addresses(port: int) -> list[str]:
    """Addresses of every LISTEN socket on `port`, read from the kernel's tables."""
    return [address for address, listen_port, _ in _listening_sockets() if listen_port == port]


def listeners_of_process_tree(pid: int) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket in LISTEN state held by `pid` or its descendants."""
    pids, children = {pid}, {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as handle:
                    ppid = int(handle.read().decode("ascii", "replace").rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(entry))
    queue = [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            pids.add(child)
            queue.append(child)
    inodes = set()
    for owner in pids:
        try:
            for fd in os.listdir(f"/proc/{owner}/fd"):
                target = os.readlink(f"/proc/{owner}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[len("socket:["):-1])
        except OSError:
            continue
    return [(address, port) for address, port, inode in _listening_sockets() if inode in inodes]


def agent_gone(pid: int, timeout: float) -> bool:
    """Wait for a process to exit; a zombie waiting for init to reap it counts as gone."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.1)
    return False


def echo_once(port: int, payload: bytes, timeout: float = 30.0) -> bytes:
    """Send payload, half-close, and return everything the service sends back until EOF."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        return data


class EchoServer:
    """The "remote" service behind a tunnel, on 127.0.0.1.

    By the first bytes of a connection: `upper:` reads to EOF and answers the rest in upper
    case; `greet:` sends a greeting and half-closes first, then records what still arrives;
    anything else is echoed until EOF.
    """

    def __init__(self, port: int = 0) -> None:
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", port))
        self._listener.listen(256)
        self.port = self._listener.getsockname()[1]
        self.late_data: list[bytes] = []
        self._late_event = threading.Event()
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            first = conn.recv(65536)
            if first.startswith(b"upper:"):
                rest = first[len(b"upper:"):] + _read_to_eof(conn)
                conn.sendall(rest.upper())
            elif first.startswith(b"greet:"):
                conn.sendall(b"hello, then EOF")
                conn.shutdown(socket.SHUT_WR)
                self.late_data.append(first[len(b"greet:"):] + _read_to_eof(conn))
                self._late_event.set()
            else:
                while first:
                    conn.sendall(first)
                    first = conn.recv(65536)
                conn.shutdown(socket.SHUT_WR)

    def wait_for_late_data(self, expected: bytes, timeout: float) -> bool:
        self._late_event.wait(timeout)
        return expected in self.late_data

    def stop(self) -> None:
        self._stopped = True
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()


def _read_to_eof(conn: socket.socket) -> bytes:
    data = b""
    while chunk := conn.recv(65536):
        data += chunk
    return data


def process_args_of_all() -> str:
    """Every process's argv on this machine (what `ps -eo args` shows)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    out.append(handle.read().replace(b"\0", b" ").decode("utf-8", "replace"))
            except OSError:
                continue
    return "\n".join(out)


def close_agent(client) -> bool:
    """Close every tunnel of ``client``'s agent; True when the agent then exits on its own.

    An agent still running 15 s after its last tunnel closed is killed, and False returned.
    """
    pid = client.ping()
    for info in client.list():
        client.close(info.id)
    if pid is not None and not agent_gone(pid, timeout=15):
        os.kill(pid, 9)
        return False
    return True


def assert_no_ssh_master_left(timeout: float = 10.0) -> None:
    """No `ssh -M` of this test's agent outlives it (their control sockets live in its run dir)."""
    from spheron_jupyter.ssh.tunnel_common import runtime_dir

    run_dir = str(runtime_dir())
    deadline = time.monotonic() + timeout
    while any(run_dir in args and " -M " in args for args in process_args_of_all().splitlines()):
        assert time.monotonic() < deadline, "an ssh master outlived the tunnel agent"
        time.sleep(0.1)
