"""The data plane of one tunnel: a 127.0.0.1 listener owned by the agent and a pump per connection.

The listener is bound once and kept for the tunnel's life, so the local port never changes when
the SSH transport underneath is replaced. Each accepted connection gets a direct-tcpip channel;
if the remote port is not listening yet, the open is retried for a while (a service still
starting), and half-closes travel both ways as EOF.
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
import time

import paramiko

from .tunnel_common import ForwardingRefusedError, LocalPortInUseError, check_listen_address
from .tunnel_link import TargetLink

log = logging.getLogger(__name__)

# SSH_MSG_CHANNEL_OPEN_FAILURE reason codes (RFC 4254 section 5.1).
_ADMINISTRATIVELY_PROHIBITED = 1
_CONNECT_FAILED = 2

_CHUNK = 256 * 1024
_WINDOW = 8 * 1024 * 1024
_MAX_PACKET = 32 * 1024


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


def forwarding_refused_message(code: int, text: str) -> str:
    return (
        "The SSH server refuses port forwarding (it answered "
        f"{text or 'administratively prohibited'!r}, code {code}); enable AllowTcpForwarding "
        "in its sshd_config to reach services on the instance."
    )


class Forwarder:
    """Accepts local connections on one loopback port and carries them to remote_host:remote_port."""

    def __init__(
        self,
        link: TargetLink,
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
        # live connections: local socket -> its channel (None while the channel is being opened)
        self._live: dict[socket.socket, paramiko.Channel | None] = {}
        self._closed = threading.Event()
        self.last_error: str | None = None
        self._acceptor = threading.Thread(
            target=self._accept_loop, name=f"tunnel-{self.local_port}", daemon=True
        )

    def probe_forwarding(self) -> None:
        """Open one channel to find out now whether the server forbids forwarding."""
        transport = self.link.wait_transport(timeout=10.0)
        if transport is None:
            return
        try:
            channel = transport.open_channel(
                "direct-tcpip", (self.remote_host, self.remote_port), (self.local_host, 0),
                timeout=10.0,
            )
        except paramiko.ChannelException as exc:
            if exc.code == _ADMINISTRATIVELY_PROHIBITED:
                raise ForwardingRefusedError(forwarding_refused_message(exc.code, exc.text)) from None
            return  # connect failed: the remote service is not up yet, which is allowed
        except (paramiko.SSHException, EOFError, OSError):
            return
        channel.close()

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
        for client, channel in live:
            # shutdown, not just close: it wakes the pump threads blocked in recv()
            _shutdown_quietly(client)
            if channel is not None:
                channel.close()

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

    def _open_channel(self, peer) -> paramiko.Channel | None:
        """A channel to the remote port, retrying while the link reconnects or the port is shut."""
        deadline = time.monotonic() + self._remote_wait
        delay = 0.05
        while not self._closed.is_set():
            transport = self.link.wait_transport(timeout=self._link_wait)
            if transport is None:
                self.last_error = "the SSH connection is down"
                return None
            try:
                return transport.open_channel(
                    "direct-tcpip", (self.remote_host, self.remote_port), peer,
                    window_size=_WINDOW, max_packet_size=_MAX_PACKET, timeout=10.0,
                )
            except paramiko.ChannelException as exc:
                if exc.code == _ADMINISTRATIVELY_PROHIBITED:
                    self.last_error = forwarding_refused_message(exc.code, exc.text)
                    return None
                self.last_error = f"remote port {self.remote_port} refused the connection"
            except (paramiko.SSHException, EOFError, OSError):
                self.link.mark_dead(transport)
            if time.monotonic() + delay > deadline:
                return None
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
        return None

    def _serve(self, client: socket.socket, peer) -> None:
        channel = None
        try:
            channel = self._open_channel(peer[:2])
            if channel is None:
                return
            with self._lock:
                if self._closed.is_set():
                    return
                self._live[client] = channel
            self.last_error = None
            downstream = threading.Thread(
                target=_pump_channel_to_socket, args=(channel, client), daemon=True
            )
            downstream.start()
            _pump_socket_to_channel(client, channel)
            downstream.join()
        finally:
            if channel is not None:
                channel.close()
            with self._lock:
                self._live.pop(client, None)
            _close_quietly(client)


def _pump_socket_to_channel(client: socket.socket, channel: paramiko.Channel) -> None:
    try:
        while True:
            data = client.recv(_CHUNK)
            if not data:
                channel.shutdown_write()  # half-close: the remote side sees EOF, can still answer
                return
            channel.sendall(data)
    except (OSError, EOFError, paramiko.SSHException):
        channel.close()


def _pump_channel_to_socket(channel: paramiko.Channel, client: socket.socket) -> None:
    try:
        while True:
            data = channel.recv(_CHUNK)
            if not data:
                client.shutdown(socket.SHUT_WR)
                return
            client.sendall(data)
    except (OSError, EOFError, paramiko.SSHException):
        try:
            client.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


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
