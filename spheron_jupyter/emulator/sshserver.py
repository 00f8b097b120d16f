"""The sshd of one emulated instance: paramiko's server side on 127.0.0.1.

Threads, not an event loop: the emulator's HTTP side must never wait on an SSH client. The
listening socket has its own accept thread, each connection its own transport thread (plus one
that hands out forwarded channels), and nothing the HTTP side calls (start_serving, stop, drop)
blocks on a client: connections are cut with ``shutdown()`` and their threads left to wind down.

Public-key authentication only, against the login user's ``~/.ssh/authorized_keys`` inside the
instance root, as sshd would read it. The host key is whatever sits at the instance's
``/etc/ssh/ssh_host_ed25519_key`` when the server (re)starts: ``reload_host_key()`` is the
emulated ``systemctl restart ssh``, and existing connections survive it, as with sshd.
"""

from __future__ import annotations

import logging
import socket
import threading

import paramiko
from paramiko.common import (
    AUTH_FAILED,
    AUTH_SUCCESSFUL,
    MSG_CHANNEL_REQUEST,
    OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED,
    OPEN_SUCCEEDED,
    cMSG_CHANNEL_FAILURE,
    cMSG_CHANNEL_SUCCESS,
)
from paramiko.message import Message

from spheron_jupyter.emulator import sshserver_forward
from spheron_jupyter.emulator.sandbox import InstanceSandbox
from spheron_jupyter.emulator.sandbox_keys import authorized_key_blobs
from spheron_jupyter.emulator.sshserver_session import Session

log = logging.getLogger(__name__)
# Clients hanging up mid-packet is routine for a server; paramiko reports it at ERROR level,
# which without this handler would reach the emulator's stderr through logging's last resort.
log.addHandler(logging.NullHandler())


class InstanceSSHServer:
    """Listens for one instance from provision on; the SSH handshake waits until boot.

    Holding early connections (rather than refusing them) closes a race: the REST side may
    report ``running`` a moment before boot has installed cloud-init's host key, and a client
    that connects in that moment must still be shown the pinned key, not the provisional one.
    """

    def __init__(self, sandbox: InstanceSandbox, *, preferred_port: int = 0) -> None:
        self.sandbox = sandbox
        self._listener = _bind_loopback(preferred_port)
        self.port: int = self._listener.getsockname()[1]
        self._host_key = sandbox.load_or_replace_host_key()
        self._connections: set[_Connection] = set()
        self._lock = threading.Lock()
        self._booted = threading.Event()
        self._closed = False
        self._listener.listen(64)
        threading.Thread(target=self._accept_loop, daemon=True,
                         name=f"emulator-sshd-{self.port}").start()

    @property
    def host_key(self) -> paramiko.PKey:
        with self._lock:
            return self._host_key

    def reload_host_key(self) -> str | None:
        """Present the key now at the host-key path; returns why not when that file is broken
        (then the previous key stays, as a real sshd refuses to restart on a bad key)."""
        try:
            key = self.sandbox.load_host_key()
        except Exception as error:
            return f"cannot load {self.sandbox.host_key_path.name}: {error}"
        with self._lock:
            self._host_key = key
        return None

    def start_serving(self) -> None:
        """The instance has booted: let waiting and new connections proceed to the handshake."""
        self._booted.set()

    def wait_until_serving(self) -> bool:
        """Block a connection's thread until boot (True) or stop (False)."""
        while not self._booted.wait(0.5):
            if self._closed:
                return False
        return not self._closed

    def drop_connections(self) -> None:
        """Cut every client off at once; the server keeps listening (a network blip)."""
        with self._lock:
            connections, self._connections = list(self._connections), set()
        for connection in connections:
            connection.cut()

    def stop(self) -> None:
        """Stop listening (new connections are refused at once) and cut every connection."""
        with self._lock:
            self._closed = True
        self._booted.set()  # release connections still waiting for boot; they see _closed
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept thread on Linux
        except OSError:
            pass
        self._listener.close()
        self.drop_connections()

    def _accept_loop(self) -> None:
        while True:
            try:
                sock, address = self._listener.accept()
            except OSError:
                return  # listener closed by stop()
            connection = _Connection(self, sock, address)
            with self._lock:
                if self._closed:
                    sock.close()
                    return
                self._connections.add(connection)
            threading.Thread(target=connection.run, daemon=True,
                             name=f"emulator-sshd-{self.port}-{address[1]}").start()

    def _forget(self, connection: _Connection) -> None:
        with self._lock:
            self._connections.discard(connection)


class _Connection:
    """One client connection: its transport and the threads serving it."""

    def __init__(self, server: InstanceSSHServer, sock: socket.socket, address) -> None:
        self.server = server
        self.sock = sock
        self.address = address
        self.transport: paramiko.Transport | None = None

    def run(self) -> None:
        sock, server = self.sock, self.server
        try:
            if not server.wait_until_serving():
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            transport = _SignalAwareTransport(sock)
            transport.set_log_channel(f"{__name__}.transport")
            self.transport = transport
            transport.add_server_key(server.host_key)
            interface = _InstanceInterface(server.sandbox, self._connection_env())
            transport.start_server(server=interface)  # handshake; bounded by paramiko's timeouts
            while transport.is_active():
                channel = transport.accept(timeout=1.0)
                if channel is not None:
                    interface.channel_accepted(channel)
        except (OSError, EOFError, paramiko.SSHException) as error:
            log.debug("ssh connection from %s ended: %s", self.address, error)
        finally:
            if self.transport is not None:
                self.transport.close()
            sock.close()
            server._forget(self)

    def cut(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _connection_env(self) -> dict[str, str]:
        client = f"{self.address[0]} {self.address[1]}"
        return {"SSH_CLIENT": f"{client} {self.server.port}",
                "SSH_CONNECTION": f"{client} 127.0.0.1 {self.server.port}"}


class _InstanceInterface(paramiko.ServerInterface):
    """What this instance's sshd allows: public keys, sessions, loopback forwards."""

    def __init__(self, sandbox: InstanceSandbox, connection_env: dict[str, str]) -> None:
        self.sandbox = sandbox
        self.connection_env = connection_env
        self.sessions: dict[int, Session] = {}
        self.pending_forwards: dict[int, socket.socket] = {}

    # -- authentication ---------------------------------------------------------------------

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        if username == self.sandbox.user and key.asbytes() in self._authorized():
            return AUTH_SUCCESSFUL
        return AUTH_FAILED

    def _authorized(self) -> set[bytes]:
        path = self.sandbox.home / ".ssh" / "authorized_keys"
        try:
            return authorized_key_blobs(path.read_text().splitlines())
        except OSError:
            return set()

    # -- channels ---------------------------------------------------------------------------

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return OPEN_SUCCEEDED
        return OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_direct_tcpip_request(self, chanid: int, origin, destination) -> int:
        code, sock = sshserver_forward.open_destination(*destination)
        if sock is not None:
            self.pending_forwards[chanid] = sock
        return code

    def channel_accepted(self, channel: paramiko.Channel) -> None:
        sock = self.pending_forwards.pop(channel.get_id(), None)
        if sock is not None:
            sshserver_forward.start_pump(channel, sock)
        else:
            # paramiko keeps channels in a weak map and closes one when it is garbage
            # collected: the session must hold it before the accept loop lets go of it.
            self._session(channel)

    def check_port_forward_request(self, address: str, port: int) -> bool:
        return False  # remote forwarding (ssh -R) is not offered by emulated instances

    def _session(self, channel: paramiko.Channel) -> Session:
        session = self.sessions.get(channel.get_id())
        # paramiko reuses a closed channel's id, so an entry may belong to an earlier channel.
        if session is None or session.channel is not channel:
            session = Session(self.sandbox, channel, self.connection_env)
            self.sessions[channel.get_id()] = session
        return session

    def check_channel_env_request(self, channel, name, value) -> bool:
        return self._session(channel).set_env(_text(name), _text(value))

    def check_channel_pty_request(self, channel, term, width, height, pixelwidth, pixelheight,
                                  modes) -> bool:
        return self._session(channel).request_pty(_text(term), width, height)

    def check_channel_window_change_request(self, channel, width, height, pixelwidth,
                                            pixelheight) -> bool:
        return self._session(channel).resize(width, height)

    def check_channel_shell_request(self, channel) -> bool:
        return self._session(channel).start(None)

    def check_channel_exec_request(self, channel, command) -> bool:
        return self._session(channel).start(_text(command))

    def request_answered(self, channel) -> None:
        session = self.sessions.get(channel.get_id())
        if session is not None and session.channel is channel:
            session.launch()

    def check_channel_signal_request(self, channel, name: str) -> bool:
        session = self.sessions.get(channel.get_id())
        return session is not None and session.channel is channel and session.deliver_signal(name)


def _handle_channel_request(channel: paramiko.Channel, message: Message) -> None:
    """Channel requests, with two additions to paramiko's handling: ``signal`` (RFC 4254 6.9,
    which paramiko ignores) reaches the interface, and a session's command starts only after
    its exec/shell request has been answered."""
    start = message.packet.tell()
    transport = channel.transport
    server = transport.server_object if transport is not None else None
    if message.get_text() != "signal":
        message.packet.seek(start)
        # paramiko's own handler, private (types-paramiko declares only the public surface).
        paramiko.Channel._handle_request(channel, message)  # type: ignore[attr-defined]
        if isinstance(server, _InstanceInterface):
            server.request_answered(channel)
        return
    want_reply = message.get_boolean()
    name = message.get_text()
    ok = isinstance(server, _InstanceInterface) and server.check_channel_signal_request(channel, name)
    if want_reply and transport is not None:
        reply = Message()
        reply.add_byte(cMSG_CHANNEL_SUCCESS if ok else cMSG_CHANNEL_FAILURE)
        reply.add_int(channel.remote_chanid)
        # The call paramiko's own replies use; private, so not in types-paramiko.
        transport._send_user_message(reply)  # type: ignore[attr-defined]


class _SignalAwareTransport(paramiko.Transport):
    # paramiko dispatches channel messages through this private class table (not in its stubs).
    _channel_handler_table = {**paramiko.Transport._channel_handler_table,  # type: ignore[attr-defined]
                              MSG_CHANNEL_REQUEST: _handle_channel_request}


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _bind_loopback(preferred_port: int) -> socket.socket:
    """Bind 127.0.0.1 (never a wider address), on the previous port when it is still free."""
    for port in ([preferred_port, 0] if preferred_port else [0]):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if port:
            # Re-taking our own port after a restart may meet TIME_WAIT leftovers. Only then:
            # two SO_REUSEADDR sockets that are not yet listening may share a port on Linux.
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind(("127.0.0.1", port))
            return listener
        except OSError:
            listener.close()
    raise OSError("could not bind an SSH port on 127.0.0.1")
