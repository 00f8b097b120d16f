"""direct-tcpip for emulated instances: ``ssh -L`` style forwarding to the instance's loopback.

An emulated instance shares this machine's loopback, so "127.0.0.1:8888 on the instance" is
127.0.0.1:8888 here. Anything beyond loopback is refused: the emulator must not become a
general-purpose proxy into the host's network.
"""

from __future__ import annotations

import select
import socket
import threading

import paramiko
from paramiko.common import OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED, OPEN_FAILED_CONNECT_FAILED, OPEN_SUCCEEDED

LOOPBACK_NAMES = {"127.0.0.1": "127.0.0.1", "localhost": "127.0.0.1", "::1": "::1",
                  "ip6-localhost": "::1"}
_CHUNK = 256 * 1024


def open_destination(host: str, port: int) -> tuple[int, socket.socket | None]:
    """Connect to the forward's destination; returns a paramiko open-channel code and socket.

    Connecting here (in the transport thread) is fine because it is loopback only: it either
    connects or is refused at once. A refusal is reported to the client as "connect failed",
    exactly as sshd does when nothing listens on the remote port yet.
    """
    address = LOOPBACK_NAMES.get(str(host).strip("[]").lower())
    if address is None or not 0 < int(port) < 65536:
        return OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED, None
    try:
        sock = socket.create_connection((address, int(port)), timeout=5)
    except OSError:
        return OPEN_FAILED_CONNECT_FAILED, None
    sock.settimeout(None)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return OPEN_SUCCEEDED, sock


def start_pump(channel: paramiko.Channel, sock: socket.socket) -> threading.Thread:
    thread = threading.Thread(target=_pump, args=(channel, sock), daemon=True,
                              name=f"emulator-forward-{sock.getpeername()[1]}")
    thread.start()
    return thread


def _pump(channel: paramiko.Channel, sock: socket.socket) -> None:
    """Copy both ways, passing half-closes along, until both directions are done."""
    reading_channel = reading_socket = True
    try:
        while reading_channel or reading_socket:
            if channel.closed:
                break
            watched = [s for s, alive in ((channel, reading_channel), (sock, reading_socket))
                       if alive]
            readable, _, _ = select.select(watched, [], [], 1.0)
            if channel in readable:
                data = channel.recv(_CHUNK)
                if data:
                    sock.sendall(data)
                else:
                    reading_channel = False
                    _shutdown_write(sock)
            if sock in readable:
                data = sock.recv(_CHUNK)
                if data:
                    channel.sendall(data)
                else:
                    reading_socket = False
                    channel.shutdown_write()
    except (OSError, ValueError, EOFError, paramiko.SSHException):
        # Either side went away. ValueError: a stop on another thread closed a socket between
        # our check and select() (fd -1). Closing both below is all that is left to do.
        pass
    finally:
        sock.close()
        try:
            channel.close()  # tells the client; its transport may already be gone
        except (OSError, EOFError, paramiko.SSHException):
            pass


def _shutdown_write(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass
