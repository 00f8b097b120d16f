"""The paramiko data plane: one SSH transport per target in the agent, watched and reconnected.

paramiko's own keepalive never notices a frozen peer (docs/architecture.md, SSH), so the ssh/ watchdog probes
with requests that need a reply and closes the transport after `misses` silent intervals; the
supervisor here then reconnects with backoff. Every tunnel to the same target shares the link,
so the local listeners (owned by the forwarders) never move when the transport is replaced.
Each local connection gets a direct-tcpip channel and two pump threads; half-closes travel as
EOF both ways. This plane needs no `ssh` binary; the OpenSSH plane (tunnel_openssh.py) is faster.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable

import paramiko

from .errors import SshError
from .target import SshTarget
from .tunnel_common import ForwardingRefusedError
from .watchdog import Watchdog

log = logging.getLogger(__name__)

BACKOFF_STEPS = (0.25, 0.5, 1.0, 2.0, 4.0)
# While a local connection waits for the link, longer backoff steps shrink to this (never less,
# so a server that is gone for good costs at most one attempt per second).
HURRIED_STEP = 1.0


def sleep_backoff(cond: threading.Condition, delay: float, closed, hurried) -> None:
    """Wait `delay` seconds (at most HURRIED_STEP once `hurried()`), or until `closed()`."""
    start = time.monotonic()
    with cond:
        while not closed():
            limit = min(delay, HURRIED_STEP) if hurried() else delay
            waited = time.monotonic() - start
            if waited >= limit:
                return
            cond.wait(limit - waited)

# SSH_MSG_CHANNEL_OPEN_FAILURE reason codes (RFC 4254 section 5.1).
ADMINISTRATIVELY_PROHIBITED = 1

_CHUNK = 256 * 1024
_WINDOW = 8 * 1024 * 1024
_MAX_PACKET = 32 * 1024


def forwarding_refused_message(detail: str) -> str:
    return (
        f"The SSH server refuses port forwarding ({detail}); enable AllowTcpForwarding in its "
        "sshd_config to reach services on the instance."
    )


def _default_connect(target: SshTarget) -> paramiko.Transport:
    from .connection import open_transport  # owned by the connection module; imported late

    # The agent never pins an unknown key: the kernel-side connect already asked for consent.
    return open_transport(target, tofu_consent=False, timeout=10.0)


class TargetLink:
    """A self-healing SSH transport to one target.

    `connect_now()` makes the first connection and raises its error (bad host key, refused auth)
    so `open` fails clearly; later drops are healed in the background.
    """

    def __init__(
        self,
        target: SshTarget,
        *,
        connect: Callable[[SshTarget], paramiko.Transport] = _default_connect,
        probe_interval: float = 1.0,
        misses: int = 3,
    ) -> None:
        self.target = target
        self._connect = connect
        self._probe_interval = probe_interval
        self._misses = misses
        self._cond = threading.Condition()
        self._transport: paramiko.Transport | None = None
        self._closed = False
        self._retry_now = False
        self.state = "connecting"
        self.last_error: str | None = None
        self._supervisor: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------------------------

    def connect_now(self) -> None:
        transport = self._connect(self.target)
        with self._cond:
            self._install(transport)
        self._supervisor = threading.Thread(
            target=self._supervise, name=f"link-{self.target.instance_id}", daemon=True
        )
        self._supervisor.start()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            transport, self._transport = self._transport, None
            self.state = "closed"
            self._cond.notify_all()
        if transport is not None:
            transport.close()

    # ---- used by forwarders ----------------------------------------------------------------

    def wait_transport(self, timeout: float) -> paramiko.Transport | None:
        """The live transport, waiting up to `timeout` for a reconnect (and hurrying it up)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._closed:
                transport = self._transport
                if transport is not None and transport.is_active():
                    return transport
                # A user is waiting: cut long backoff steps short (see sleep_backoff).
                self._retry_now = True
                self._cond.notify_all()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(min(remaining, 0.25))
        return None

    def mark_dead(self, transport: paramiko.Transport) -> None:
        """Called when a channel open fails because the transport broke under it."""
        with self._cond:
            if self._transport is transport:
                self._transport = None
                self.state = "reconnecting"
                self._cond.notify_all()
        transport.close()

    # ---- internals -------------------------------------------------------------------------

    def _install(self, transport: paramiko.Transport) -> None:
        self._transport = transport
        self.state = "up"
        self.last_error = None
        self._cond.notify_all()
        Watchdog(
            transport,
            interval=self._probe_interval,
            misses=self._misses,
            on_dead=lambda reason: self._on_dead(transport, reason),
            name=self.target.instance_id,
        ).start()
        threading.Thread(target=_turn_off_nagle, args=(transport,), daemon=True,
                         name=f"nodelay-{self.target.instance_id}").start()

    def _on_dead(self, transport: paramiko.Transport, reason: str) -> None:
        log.warning("instance %s: %s; reconnecting", self.target.instance_id, reason)
        self.last_error = f"SSH connection lost: {reason}"
        self.mark_dead(transport)

    def _supervise(self) -> None:
        """Reconnect whenever the transport is gone, with backoff between failed attempts."""
        step = 0
        while True:
            with self._cond:
                while not self._closed and self._transport is not None:
                    self._cond.wait(1.0)
                    if self._transport is not None and not self._transport.is_active():
                        self._transport = None
                if self._closed:
                    return
                self.state = "reconnecting"
                self._retry_now = False
            try:
                transport = self._connect(self.target)
            except (SshError, OSError, paramiko.SSHException, EOFError) as exc:
                self.last_error = str(exc)
                delay = BACKOFF_STEPS[min(step, len(BACKOFF_STEPS) - 1)]
                step += 1
                self._sleep_backoff(delay)
                continue
            with self._cond:
                if self._closed:
                    transport.close()
                    return
                self._install(transport)
            step = 0

    def _sleep_backoff(self, delay: float) -> None:
        sleep_backoff(self._cond, delay, lambda: self._closed, lambda: self._retry_now)

    # ---- the data plane --------------------------------------------------------------------

    def probe(self, remote_host: str, remote_port: int) -> None:
        """Open one channel now to learn whether the server forbids forwarding."""
        transport = self.wait_transport(timeout=10.0)
        if transport is None:
            return
        try:
            channel = transport.open_channel(
                "direct-tcpip", (remote_host, remote_port), ("127.0.0.1", 0), timeout=10.0
            )
        except paramiko.ChannelException as exc:
            if exc.code == ADMINISTRATIVELY_PROHIBITED:
                raise ForwardingRefusedError(forwarding_refused_message(
                    f"it answered {exc.text or 'administratively prohibited'!r}")) from None
            return  # connect failed: the service is not up yet, which is allowed
        except (paramiko.SSHException, EOFError, OSError):
            return
        channel.close()

    def carry(self, client, peer, remote_host, remote_port, *, register, stopped,
              remote_wait, link_wait) -> str | None:
        """Carry one local connection; returns why it could not be opened, or None."""
        channel, error = self._open_channel(peer, remote_host, remote_port, stopped,
                                            remote_wait, link_wait)
        if channel is None:
            return error
        register(channel.close)
        downstream = threading.Thread(target=_pump_channel_to_socket, args=(channel, client),
                                      daemon=True)
        downstream.start()
        _pump_socket_to_channel(client, channel)
        downstream.join()
        channel.close()
        return None

    def _open_channel(self, peer, remote_host, remote_port, stopped, remote_wait, link_wait):
        """A channel to the remote port, retrying while the link reconnects or the port is shut."""
        deadline = time.monotonic() + remote_wait
        delay = 0.05
        error = None
        while not stopped.is_set():
            transport = self.wait_transport(timeout=link_wait)
            if transport is None:
                return None, "the SSH connection is down"
            try:
                return transport.open_channel(
                    "direct-tcpip", (remote_host, remote_port), peer,
                    window_size=_WINDOW, max_packet_size=_MAX_PACKET, timeout=10.0,
                ), None
            except paramiko.ChannelException as exc:
                if exc.code == ADMINISTRATIVELY_PROHIBITED:
                    return None, forwarding_refused_message(f"it answered {exc.text!r}")
                error = f"remote port {remote_port} refused the connection"
            except (paramiko.SSHException, EOFError, OSError):
                self.mark_dead(transport)
            if time.monotonic() + delay > deadline:
                return None, error
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
        return None, None


def _turn_off_nagle(transport: paramiko.Transport) -> None:
    """TCP_NODELAY here, and one pty session (`true`) so that OpenSSH's sshd sets it on its end
    too (it does so only for sessions with a pty; see tunnel_openssh.py's _turn_off_nagle)."""
    try:
        sock = transport.sock
        if isinstance(sock, socket.socket):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        time.sleep(1.0)  # as the OpenSSH plane: only for a connection that stays up
        if not transport.is_active():
            return
        channel = transport.open_session(timeout=10)
        try:
            channel.get_pty()
            channel.exec_command("true")
            channel.status_event.wait(10)
        finally:
            channel.close()
    except Exception:  # best effort: a refused pty only costs latency
        pass


def _pump_socket_to_channel(client, channel: paramiko.Channel) -> None:
    try:
        while True:
            data = client.recv(_CHUNK)
            if not data:
                channel.shutdown_write()  # half-close: the remote side sees EOF, can still answer
                return
            channel.sendall(data)
    except (OSError, EOFError, paramiko.SSHException):
        channel.close()


def _pump_channel_to_socket(channel: paramiko.Channel, client) -> None:
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
