"""Put :class:`EmulatorApp` on a socket: the stdlib threading HTTP server, HTTP/1.1 keep-alive.

The stdlib server is enough here (a handful of clients on loopback) and makes the ``drop`` fault
trivial: shut the socket down without writing a byte.
"""

from __future__ import annotations

import json
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .app import DROP, EmulatorApp

REASONS = {429: "Too Many Requests"}


class EmulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # an idle keep-alive connection must not block shutdown
    allow_reuse_address = True

    def __init__(self, address, app: EmulatorApp, verbose: bool = False):
        super().__init__(address, _Handler)
        self.app = app
        self.verbose = verbose

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SpheronEmulator/1"
    server: EmulatorHTTPServer

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            result = self.server.app.handle(self.command, self.path, dict(self.headers), body,
                                            client=self.client_address[0])
        except Exception as exc:  # a bug in a handler is a 500, never a hung client
            print(f"emulator: {self.command} {self.path} failed: {exc!r}", file=sys.stderr,
                  flush=True)
            result = None
            payload: object = {"error": "Internal Server Error",
                               "message": "The emulator hit an internal error."}
            status, headers = 500, {}
        if result is DROP:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if result is not None:
            status, payload, headers = result.status, result.body, result.headers
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status, REASONS.get(status))
        if payload is not None:
            self.send_header("Content-Type", "application/json")
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    def log_message(self, format, *args) -> None:
        if self.server.verbose:
            sys.stderr.write(f"emulator: {self.address_string()} {format % args}\n")
