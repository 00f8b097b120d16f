"""The kernel's side of tunnels: `TunnelAgentClient` sends requests to the per-user tunnel agent.

The kernel never carries tunnel bytes (see tunnel_agent.py for why). The client starts the agent
on demand under a file lock, so two kernels opening tunnels at once share one agent.

    client = TunnelAgentClient()
    info = client.open(target, remote_port=8888)      # TunnelInfo(id, local_port, ...)
    client.close(info.id)
"""

from __future__ import annotations

import builtins
import fcntl
import json
import os
import socket
import subprocess
import sys
import time

from .target import SshTarget
from .tunnel_common import (
    LOOPBACK,
    ForwardingRefusedError,
    LocalPortInUseError,
    TunnelAgentError,
    TunnelBindRefusedError,
    TunnelError,
    TunnelInfo,
    TunnelNotFoundError,
    agent_lock_path,
    agent_log_path,
    agent_socket_path,
    check_listen_address,
    rebuild_error,
    target_to_wire,
)

__all__ = [
    "ForwardingRefusedError",
    "LocalPortInUseError",
    "TunnelAgentClient",
    "TunnelAgentError",
    "TunnelBindRefusedError",
    "TunnelError",
    "TunnelInfo",
    "TunnelNotFoundError",
]


class TunnelAgentClient:
    """Talks to the tunnel agent, starting it when none runs.

    `request_timeout` bounds one request; an open includes the SSH handshake, so it is generous.
    """

    def __init__(self, *, request_timeout: float = 60.0, start_timeout: float = 20.0) -> None:
        self.request_timeout = request_timeout
        self.start_timeout = start_timeout

    # ---- public API ------------------------------------------------------------------------

    def open(
        self,
        target: SshTarget,
        remote_port: int,
        remote_host: str = LOOPBACK,
        local_port: int | None = None,
        name: str | None = None,
        *,
        local_host: str = LOOPBACK,
    ) -> TunnelInfo:
        """Forward 127.0.0.1:local_port (free port when None) to remote_host:remote_port."""
        check_listen_address(local_host)  # refuse early; the agent checks again
        if not 0 < int(remote_port) < 65536:
            raise TunnelError(f"Remote port {remote_port} is not a TCP port (1-65535).")
        if local_port is not None and not 0 <= int(local_port) < 65536:
            raise TunnelError(f"Local port {local_port} is not a TCP port (1-65535).")
        reply = self._call({
            "op": "open",
            "target": target_to_wire(target),
            "remote_port": int(remote_port),
            "remote_host": remote_host,
            "local_host": local_host,
            "local_port": int(local_port or 0),
            "name": name,
        })
        assert reply is not None  # start=True: an agent was started to answer
        return TunnelInfo.from_wire(reply["tunnel"])

    def list(self) -> list[TunnelInfo]:
        """Every tunnel the agent serves; empty (without starting an agent) when none runs."""
        reply = self._call({"op": "list"}, start=False)
        return [TunnelInfo.from_wire(t) for t in (reply or {}).get("tunnels", [])]

    def get(self, tunnel_id: str) -> TunnelInfo:
        for info in self.list():
            if info.id == tunnel_id:
                return info
        raise TunnelNotFoundError(f"No tunnel {tunnel_id!r}; `%spheron tunnels` lists them.")

    def close(self, tunnel_id: str) -> TunnelInfo:
        """Close one tunnel; its local port is free when this returns."""
        reply = self._call({"op": "close", "id": tunnel_id}, start=False)
        if reply is None:
            raise TunnelNotFoundError(f"No tunnel {tunnel_id!r}: the tunnel agent is not running.")
        return TunnelInfo.from_wire(reply["tunnels"][0])

    def close_instance(self, instance_id: str) -> builtins.list[TunnelInfo]:
        """Close every tunnel to one instance (on terminate)."""
        reply = self._call({"op": "close_instance", "instance_id": instance_id}, start=False)
        return [TunnelInfo.from_wire(t) for t in (reply or {}).get("tunnels", [])]

    def ping(self) -> int | None:
        """The agent's pid, or None when no agent runs (never starts one)."""
        reply = self._call({"op": "ping"}, start=False)
        return None if reply is None else int(reply["pid"])

    # ---- transport -------------------------------------------------------------------------

    def _call(self, request: dict, *, start: bool = True) -> dict | None:
        """One request/reply. Returns None when no agent runs and `start` is False."""
        for attempt in range(3):
            sock = self._connect()
            if sock is None:
                if not start:
                    return None
                sock = self._start_agent()
            try:
                reply = self._exchange(sock, request)
            except (ConnectionError, EOFError):
                # The agent was exiting (idle) as we connected: start a fresh one and retry.
                if attempt == 2:
                    raise TunnelAgentError("The tunnel agent closed the connection.") from None
                time.sleep(0.1)
                continue
            finally:
                sock.close()
            if not reply.get("ok"):
                error = reply.get("error") or {}
                raise rebuild_error(error.get("type", "TunnelError"),
                                    error.get("message", "The tunnel agent refused."))
            return reply
        raise TunnelAgentError("The tunnel agent could not be reached.")

    def _exchange(self, sock: socket.socket, request: dict) -> dict:
        sock.settimeout(self.request_timeout)
        sock.sendall(json.dumps(request).encode() + b"\n")
        with sock.makefile("rb") as stream:
            line = stream.readline()
        if not line:
            raise EOFError
        return json.loads(line)

    @staticmethod
    def _connect() -> socket.socket | None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(str(agent_socket_path()))
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            return None
        return sock

    def _start_agent(self) -> socket.socket:
        """Start the agent (unless another kernel just did) and return a connection to it."""
        with open(agent_lock_path(), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # whoever holds this is starting the agent
            sock = self._connect()
            if sock is not None:
                return sock
            with open(agent_log_path(), "ab") as log_file:
                # --detach double-forks, so this child exits at once and we reap it here.
                subprocess.run(
                    [sys.executable, "-m", "spheron_jupyter", "tunnel-agent", "--detach"],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log_file,
                    env=os.environ.copy(), check=False, timeout=self.start_timeout,
                    start_new_session=True,
                )
            deadline = time.monotonic() + self.start_timeout
            while time.monotonic() < deadline:
                sock = self._connect()
                if sock is not None:
                    return sock
                time.sleep(0.05)
        raise TunnelAgentError(
            f"The tunnel agent did not start within {self.start_timeout:.0f} s; "
            f"see {agent_log_path()}."
        )
