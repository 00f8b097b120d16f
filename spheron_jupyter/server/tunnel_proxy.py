"""``{base_url}spheron/proxy/<tunnel id>/<path>``: Jupyter's authenticated proxy to one tunnel.

jupyter-server-proxy does the HTTP and WebSocket relaying; this subclass only decides the
port, and only from an open tunnel in the ledger, so an authenticated page can never reach an
arbitrary local port through it. The prefix is stripped (TensorBoard and most UIs use
relative links), and our own server's credentials are kept from the tunnelled service: it runs
on a rented machine, and our token would open this whole Jupyter to it.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import parse_qsl, urlencode

from jupyter_server_proxy.handlers import ProxyHandler
from tornado import web

from .sidebar_state import PROXY_PREFIX, READER_SETTING, LedgerReader

LOOPBACK = "127.0.0.1"  # the tunnel agent binds its listeners there only
NOT_OPEN = ("no open tunnel {id!r}: open one with %spheron tensorboard or %spheron forward "
            "in a notebook")


class TunnelProxyHandler(ProxyHandler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, host_allowlist=[LOOPBACK], **kwargs)
        self._local_port: int | None = None

    async def prepare(self, *args, **kwargs):
        await super().prepare(*args, **kwargs)  # authentication: 403 or the login redirect
        if self._finished:
            return
        tunnel_id = self.path_args[0]
        reader: LedgerReader = self.settings[READER_SETTING]
        tunnel = await asyncio.get_running_loop().run_in_executor(
            None, reader.open_tunnel, tunnel_id)
        if tunnel is None:
            # Answered here, before a WebSocket upgrade could be accepted.
            self.set_status(404)
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps({"message": NOT_OPEN.format(id=tunnel_id)}))
            return
        self._local_port = tunnel.local_port
        # Redirects from the service keep our prefix (see ProxyHandler._get_context_path).
        self.proxy_base = f"{PROXY_PREFIX}/{tunnel_id}"
        self._drop_own_credentials()

    def _drop_own_credentials(self) -> None:
        token = getattr(self.identity_provider, "token", None) or ""
        headers = self.request.headers
        if token and token in headers.get("Authorization", ""):
            del headers["Authorization"]
        if "Cookie" in headers:
            login_cookie = self.identity_provider.get_cookie_name(self)
            # Stripped and re-joined with "; ": tornado refuses a header value that starts
            # with a space, and every browser sends more than one cookie (_xsrf at least).
            kept = [part.strip() for part in headers["Cookie"].split(";")
                    if part.strip() and part.strip().split("=", 1)[0] != login_cookie]
            if kept:
                headers["Cookie"] = "; ".join(kept)
            else:
                del headers["Cookie"]
        if token and f"token={token}" in self.request.query:
            # Re-encoded only when there is a token to drop: other queries pass byte for byte.
            query = [(k, v) for k, v in parse_qsl(self.request.query, keep_blank_values=True)
                     if not (k == "token" and v == token)]
            self.request.query = urlencode(query)

    def _port(self) -> int:
        if self._local_port is None:  # prepare() always sets it or finishes the request
            raise web.HTTPError(404)
        return self._local_port

    async def http_get(self, tunnel_id, proxied_path):
        return await self.proxy(LOOPBACK, self._port(), proxied_path)

    async def open(self, tunnel_id, proxied_path):
        return await self.proxy_open(LOOPBACK, self._port(), proxied_path)

    def _relay(self, tunnel_id, proxied_path):
        return self.proxy(LOOPBACK, self._port(), proxied_path)

    # GET goes through WebSocketHandlerMixin.get, which picks http_get or the upgrade (open).
    post = put = delete = head = patch = options = _relay
