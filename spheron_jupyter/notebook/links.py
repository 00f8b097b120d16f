"""One-time local redirect links, so a saved notebook never holds a Jupyter token.

A display's data is saved with the notebook whatever ``transient`` says (the messaging spec's
``transient`` carries only runtime metadata such as ``display_id``; frontends do not render it).
So the link we show points at ``http://127.0.0.1:PORT/<nonce>`` served from this kernel: the
first visit within ``TTL`` seconds answers with a redirect to the token URL (the browser then
holds Jupyter's login cookie); later visits redirect to the same page without the token. What
gets saved is a spent nonce on a loopback port that leads nowhere once this kernel is gone. The server is a daemon thread: one request per click, no data plane.
"""

from __future__ import annotations

import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TTL = 15 * 60.0

_lock = threading.Lock()
_server: ThreadingHTTPServer | None = None
_targets: dict[str, tuple[str, float]] = {}
_spent: dict[str, str] = {}  # used nonces -> the same URL without its token


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        nonce = self.path.strip("/").split("?")[0]
        with _lock:
            url, expires = _targets.pop(nonce, (None, 0.0))
            if url is not None:
                # Later clicks go to the same page without the token: the browser already
                # holds Jupyter's login cookie from the first visit.
                _spent[nonce] = url.split("?token=")[0].split("&token=")[0]
            elif nonce in _spent:
                url, expires = _spent[nonce], float("inf")
        if url is None or time.time() > expires:
            body = (b"This link was already used or has expired. In the notebook, run "
                    b"%spheron jupyter ID (or tensorboard) again for a fresh one.\n")
            self.send_response(410)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(302)
        self.send_header("Location", url)
        self.send_header("Cache-Control", "no-store")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):  # never print request lines (they hold nonces) into cells
        pass


def _ensure_server() -> int:
    global _server
    with _lock:
        if _server is None:
            _server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
            _server.daemon_threads = True
            threading.Thread(target=_server.serve_forever, name="spheron-links",
                             daemon=True).start()
        return _server.server_address[1]


def one_time_link(target_url: str, ttl: float = TTL) -> str:
    """A loopback URL that redirects once to ``target_url`` (which may carry a token)."""
    port = _ensure_server()
    nonce = secrets.token_urlsafe(18)
    with _lock:
        now = time.time()
        for key in [k for k, (_, exp) in _targets.items() if exp < now]:
            del _targets[key]
        _targets[nonce] = (target_url, now + ttl)
    return f"http://127.0.0.1:{port}/{nonce}"


def shutdown() -> None:
    global _server
    with _lock:
        server, _server = _server, None
        _targets.clear()
        _spent.clear()
    if server is not None:
        server.shutdown()
        server.server_close()
