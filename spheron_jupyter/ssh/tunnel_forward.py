"""One tunnel's listener: 127.0.0.1 only, owned by the agent for the tunnel's whole life.

The listener is bound once, so the local port never changes when the SSH connection underneath
is replaced. Each accepted connection is handed to the tunnel's link (tunnel_link.py for the
paramiko plane, tunnel_openssh.py for the OpenSSH plane), which carries its bytes until both
sides are done; the link retries while the remote port is not listening yet.
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
import time
from collections.abc import Callable

from .tunnel_common import LocalPortInUseError, check_listen_address

log = logging.getLogger(__name__)


def bind_listener(local_host: str, local_port: int) -> socket.socket:
    """Bind and listen on loopback, refusing any other address and reporting a taken port."""
    address = check_listen_address(local_host)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Lets a closed tunnel's port be reused at once despite TIME_WAIT leftovers of its connections
    # (Linux still refuses a second *listener* on the port, so this never steals a live one).
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((address, local_port))
    except OSError as exc:
        listener.close()
        if exc.errno == errno.EADDRINUSE:
            raise LocalPortInUseError(
                f"Local port {local_port} is already in use on 127.0.0.1; choose another "
                "--local-port or leave it out to get a free one."
            ) from None
        raise
    listener.listen(128)
    return listener


class Forwarder:
    """Accepts local connections on one loopback port and carries them to remote_host:remote_port."""

    def __init__(
        self,
        link,
        listener: socket.socket,
        remote_host: str,
        remote_port: int,
        *,
        remote_wait: float = 20.0,
        link_wait: float = 20.0,
    ) -> None:
        self.link = link
        self._listener = listener
        self.local_host, self.local_port = listener.getsockname()[:2]
        self.remote_host = remote_host
        self.remote_port = remote_port
        self._remote_wait = remote_wait
        self._link_wait = link_wait
        self._lock = threading.Lock()
        # live connections: local socket -> what closes its far side (None until it is open)
        self._live: dict[socket.socket, Callable[[], None] | None] = {}
        self._closed = threading.Event()
        self.last_error: str | None = None
        self._acceptor = threading.Thread(
            target=self._accept_loop, name=f"tunnel-{self.local_port}", daemon=True
        )

    def probe_forwarding(self) -> None:
        """Fail now (ForwardingRefusedError) if the server forbids forwarding at all."""
        self.link.probe(self.remote_host, self.remote_port)

    def start(self) -> None:
        self._acceptor.start()

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self._live)

    def close(self) -> None:
        """Stop listening (the port is free when this returns) and drop live connections."""
        self._closed.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() in the other thread
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            live = list(self._live.items())
        for client, closer in live:
            # shutdown, not just close: it wakes threads blocked in recv() and reaches the copies
            # of this socket that an OpenSSH master holds
            _shutdown_quietly(client)
            if closer is not None:
                closer()

    # ---- internals -------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                client, peer = self._listener.accept()
            except OSError:
                if self._closed.is_set():
                    return
                time.sleep(0.05)  # e.g. EMFILE: back off instead of spinning
                continue
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                if self._closed.is_set():
                    _close_quietly(client)
                    return
                self._live[client] = None
            threading.Thread(
                target=self._serve, args=(client, peer), name="tunnel-conn", daemon=True
            ).start()

    def _serve(self, client: socket.socket, peer) -> None:
        def register(closer) -> None:
            with self._lock:
                if client in self._live:
                    self._live[client] = closer
            if self._closed.is_set():
                closer()

        try:
            error = self.link.carry(
                client, peer[:2], self.remote_host, self.remote_port, register=register,
                stopped=self._closed, remote_wait=self._remote_wait, link_wait=self._link_wait,
            )
            self.last_error = error
        except Exception as exc:
            log.exception("connection through tunnel %d failed", self.local_port)
            self.last_error = str(exc)
        finally:
            with self._lock:
                self._live.pop(client, None)
            _close_quietly(client)


def _shutdown_quietly(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _close_quietly(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass
