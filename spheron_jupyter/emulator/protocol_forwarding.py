"""Forwarded ports of emulated Protocol deployments: 127.0.0.1 listeners relaying to pods.

A real provider gives each globally exposed port a public port on its ingress
(`provider:31068 -> 8080 (TCP)`) that load-balances over the service's pods. The emulator does the
same on the loopback interface only: the listener belongs to the deployment's runtime, so the
port number stays the same while pods restart or an update replaces them.
"""

from __future__ import annotations

import itertools
import socket
import threading
from typing import Any
from collections.abc import Callable

LOOPBACK = "127.0.0.1"  # never 0.0.0.0: emulated deployments are reachable from this machine only


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def port_accepts(port: int, host: str = LOOPBACK, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _relay(source: socket.socket, target: socket.socket) -> None:
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            target.sendall(data)
    except OSError:
        pass
    finally:
        # Half-close so the other direction can finish (HTTP/1.0 style request then response).
        for sock, how in ((target, socket.SHUT_WR), (source, socket.SHUT_RD)):
            try:
                sock.shutdown(how)
            except OSError:
                pass


class PortForwarder:
    """Listens on 127.0.0.1:host_port and relays each connection to one ready backend."""

    def __init__(self, service: str, container_port: int,
                 backends: Callable[[str, int], list[int]], host_port: int = 0, proto: str = "TCP"):
        self.service, self.container_port, self.proto = service, container_port, proto
        self._backends = backends
        self._turn = itertools.count()
        self._listener: socket.socket | None = None
        self.host_port = host_port
        self._closed = threading.Event()

    @classmethod
    def listed_only(cls, service: str, container_port: int, proto: str, host_port: int) -> PortForwarder:
        return cls(service, container_port, lambda *_: [], host_port, proto)

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((LOOPBACK, self.host_port))
        except OSError:  # the previous port was taken meanwhile: take any
            listener.bind((LOOPBACK, 0))
        listener.listen(64)
        self._listener = listener
        self.host_port = listener.getsockname()[1]
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        backends = self._backends(self.service, self.container_port)
        if not backends:
            client.close()  # no ready pod: the caller sees the connection closed, as at an ingress
            return
        start = next(self._turn)
        for offset in range(len(backends)):
            port = backends[(start + offset) % len(backends)]
            try:
                upstream = socket.create_connection((LOOPBACK, port), timeout=5)
                break
            except OSError:
                continue
        else:
            client.close()
            return
        upstream.settimeout(None)
        back = threading.Thread(target=_relay, args=(upstream, client), daemon=True)
        back.start()
        _relay(client, upstream)
        back.join()
        client.close()
        upstream.close()

    def close(self) -> None:
        self._closed.set()
        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()

    def describe(self) -> dict[str, Any]:
        return {"service": self.service, "port": self.container_port, "host_port": self.host_port,
                "proto": self.proto, "relayed": self._listener is not None}
