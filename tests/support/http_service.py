"""A small HTTP server on 127.0.0.1 in a thread: "a port on the instance" for tunnel tests.

An emulated instance shares this machine's loopback, so whatever the test serves here is what a
service on the instance would be. ``marker_page()`` serves a page whose ``#marker`` holds a fresh
random text, so a browser test can tell that page arrived (through a tunnel and a proxy) and
not another.
"""

from __future__ import annotations

import contextlib
import http.server
import secrets
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def serve(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[int]:
    """Serve with ``handler`` until the block ends; yields the port."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def marker_page() -> Iterator[tuple[int, str]]:
    """Serve the marker page until the block ends; yields (port, marker text)."""
    marker = f"spheron-marker-{secrets.token_hex(6)}"

    class MarkerPage(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = (f"<!doctype html><title>marker</title><h1 id='marker'>{marker}</h1>"
                    f"<p>path {self.path}</p>").encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    with serve(MarkerPage) as port:
        yield port, marker
