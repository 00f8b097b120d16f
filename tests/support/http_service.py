"""A small HTTP server on 127.0.0.1 in a thread: "a port on the instance" for tunnel tests.

An emulated instance shares this machine's loopback, so whatever the test serves here is what a
service on the instance would be.
"""

from __future__ import annotations

import contextlib
import http.server
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
