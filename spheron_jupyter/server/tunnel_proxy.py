"""Jupyter's proxy to open tunnels: ``spheron/proxy/<id>/`` (entry) and ``spheron/tunnel/<id>/<mac>/``.

- ``{base_url}spheron/proxy/<tunnel id>/<path>``: behind Jupyter's authentication. A GET
  redirects to the tunnel's capability URL (below) with the same path and query, our token
  dropped; this is what the sidebar's Open loads and what a user may type.
- ``{base_url}spheron/tunnel/<tunnel id>/<mac>/<path>``: any method and WebSocket, relayed by
  jupyter-server-proxy to that open tunnel's local port only (the port comes from the ledger, so
  no page can reach an arbitrary local port through it). Authorised by the MAC, because the
  pages served here run sandboxed in an opaque origin and the browser sends them no cookie
  (see tunnel_guard.py for why, and for what is scrubbed).

The tunnelled service runs on a rented machine: it must never act on this Jupyter, and nothing of
ours (cookies, token, this server's address) may reach it.
"""

from __future__ import annotations

import asyncio
import json

from jupyter_server.base.handlers import JupyterHandler
from jupyter_server_proxy.handlers import ProxyHandler
from tornado import web

from . import tunnel_guard
from .sidebar_state import READER_SETTING, LedgerReader

try:  # jupyter_server >= 2.13 can refuse handlers not marked as open to anonymous requests
    from jupyter_server.auth.decorator import allow_unauthenticated
except ImportError:  # pragma: no cover - older jupyter_server: everything may be anonymous
    def allow_unauthenticated(method):  # type: ignore[misc]
        return method

LOOPBACK = "127.0.0.1"  # the tunnel agent binds its listeners there only
CAPABILITY_SETTING = "spheron_tunnel_capability"
COOKIES_SETTING = "spheron_tunnel_cookies"
NOT_OPEN = ("no open tunnel {id!r}: open one with %spheron tensorboard or %spheron forward "
            "in a notebook")
REFUSED_IN_PATH = ("refused: the URL carries this Jupyter server's token or cookie; the "
                   "tunnelled service runs on a rented machine and must not get it")
GENERIC_REFUSED = ("jupyter-server-proxy's generic /proxy/<port>/ routes are off while "
                   "spheron_jupyter is loaded (they reach any local port); open tunnels from the "
                   "Spheron sidebar, or set c.SpheronProxy.allow_generic_proxy_routes = True "
                   "to turn them back on")


def _json_error(handler: web.RequestHandler, status: int, message: str) -> None:
    handler.set_status(status)
    handler.set_header("Content-Type", "application/json")
    handler.finish(json.dumps({"message": message}))


async def _open_tunnel(handler: web.RequestHandler, tunnel_id: str):
    reader: LedgerReader = handler.settings[READER_SETTING]
    # SQLite may wait on a writer's lock: never on the server's loop.
    return await asyncio.get_running_loop().run_in_executor(None, reader.open_tunnel, tunnel_id)


def _own_secrets(handler: JupyterHandler) -> list[str]:
    """Our token and the values of every cookie the browser sent this origin."""
    found = [getattr(handler.identity_provider, "token", None) or ""]
    for part in handler.request.headers.get("Cookie", "").split(";"):
        value = part.split("=", 1)[1].strip() if "=" in part else ""
        if len(value) >= 8:  # short values ("dark", "1") would match innocent text
            found.append(value)
    return [s for s in found if s]


class TunnelEntryHandler(JupyterHandler):
    """``spheron/proxy/<id>/<path>``: authenticated; sends the browser to the capability URL."""

    @web.authenticated
    async def get(self, tunnel_id: str, path: str) -> None:
        if self.request.headers.get("Upgrade", "").lower() == "websocket":
            return _json_error(self, 400, "WebSockets go to the URL this entry redirects to")
        if await _open_tunnel(self, tunnel_id) is None:
            return _json_error(self, 404, NOT_OPEN.format(id=tunnel_id))
        capability: tunnel_guard.TunnelCapability = self.settings[CAPABILITY_SETTING]
        target = tunnel_guard.tunnel_path(self.base_url, tunnel_id, capability.mac(tunnel_id))
        target += path.lstrip("/")
        query = tunnel_guard.scrub_query(self.request.query, _own_secrets(self))
        self.redirect(target + ("?" + query if query else ""))

    @web.authenticated
    def post(self, tunnel_id: str, path: str) -> None:
        _json_error(self, 405, "open the tunnel with GET (the sidebar's Open); requests then go "
                               "to the URL it redirects to")

    put = delete = patch = post


class TunnelProxyHandler(ProxyHandler):
    """``spheron/tunnel/<id>/<mac>/<path>``: one open tunnel, relayed with nothing of ours."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, host_allowlist=[LOOPBACK], **kwargs)
        self._tunnel_id = ""
        self._local_port: int | None = None
        self._remote_port: int | None = None
        self._secrets: list[str] = []

    async def prepare(self, *args, **kwargs):
        # Not ProxyHandler.prepare: it demands Jupyter's login, which the browser never sends
        # for a sandboxed page (see tunnel_guard.py). The MAC is checked instead; JupyterHandler's
        # own checks (Host) still run.
        await JupyterHandler.prepare(self)
        # The response is the instance's: no cookie of this origin is written with it (Jupyter
        # would clear a stale login cookie here, or set one for a ?token= in the URL).
        self.__dict__.pop("_new_cookie", None)
        if self._finished:
            return
        tunnel_id, mac = self.path_args[0], self.path_args[1]
        capability: tunnel_guard.TunnelCapability = self.settings[CAPABILITY_SETTING]
        tunnel = await _open_tunnel(self, tunnel_id) if capability.valid(tunnel_id, mac) else None
        if tunnel is None:
            # Answered here, before a WebSocket upgrade could be accepted; a bad MAC looks
            # like a closed tunnel, so it tells a guesser nothing.
            return _json_error(self, 404, NOT_OPEN.format(id=tunnel_id))
        self._local_port, self._remote_port = tunnel.local_port, tunnel.remote_port
        self._tunnel_id = tunnel_id
        cookies: tunnel_guard.TunnelCookies = self.settings[COOKIES_SETTING]

        def keep_cookies(response):  # before SandboxTransform drops them from the response
            get_list = getattr(response.headers, "get_list", None)
            cookies.remember(tunnel_id, get_list("Set-Cookie") if get_list else [])

        self.rewrite_response = (keep_cookies,
                                 tunnel_guard.storage_shim_rewriter(self.base_url))
        # Redirects from the service keep our prefix (see ProxyHandler._get_context_path).
        self.proxy_base = tunnel_guard.tunnel_path("", tunnel_id, mac).strip("/")
        self._secrets = _own_secrets(self)
        if self._scrub_request() is False:
            return _json_error(self, 403, REFUSED_IN_PATH)
        if self.request.method == "OPTIONS" and "Access-Control-Request-Method" in self.request.headers:
            self._answer_preflight()

    def _scrub_request(self) -> bool:
        request = self.request
        if tunnel_guard.carries(request.path, self._secrets):
            return False
        request.query = tunnel_guard.scrub_query(request.query, self._secrets)
        if request.body and tunnel_guard.carries(request.body, self._secrets):
            kind = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if kind != "application/x-www-form-urlencoded":
                return False
            request.body = tunnel_guard.scrub_form(request.body, self._secrets)
            request.headers["Content-Length"] = str(len(request.body))
        return True

    def _answer_preflight(self) -> None:
        """CORS preflight of the sandboxed page's own requests (its origin is "null", so even
        relative ones are cross-origin); answered here, the service never sees it."""
        headers = self.request.headers
        self.set_status(204)
        self.set_header("Access-Control-Allow-Methods",
                        headers.get("Access-Control-Request-Method", "GET"))
        if "Access-Control-Request-Headers" in headers:
            self.set_header("Access-Control-Allow-Headers",
                            headers["Access-Control-Request-Headers"])
        self.set_header("Access-Control-Max-Age", "600")
        self.finish()

    def proxy_request_headers(self):
        """What the service sees: the browser's headers minus everything of this server."""
        headers = super().proxy_request_headers()
        for name in tunnel_guard.DROPPED_REQUEST_HEADERS:
            headers.pop(name, None)
        kept = self.settings[COOKIES_SETTING].header(self._tunnel_id)
        if kept:  # the instance's own cookies, never the browser's
            headers["Cookie"] = kept
        for name in list(headers):
            if tunnel_guard.carries(headers[name], self._secrets):
                headers.pop(name, None)  # Authorization: token ..., or anything else of ours
        # The service's own view of itself, not this Jupyter's host:port.
        headers["Host"] = f"{LOOPBACK}:{self._remote_port or self._port()}"
        return headers

    def check_origin(self, origin=None):
        # WebSockets of a sandboxed page say "Origin: null"; the MAC already authorised them.
        return True

    def _port(self) -> int:
        if self._local_port is None:  # prepare() always sets it or finishes the request
            raise web.HTTPError(404)
        return self._local_port

    @allow_unauthenticated
    async def http_get(self, tunnel_id, mac, proxied_path):
        return await self.proxy(LOOPBACK, self._port(), proxied_path)

    async def open(self, tunnel_id, mac, proxied_path):
        return await self.proxy_open(LOOPBACK, self._port(), proxied_path)

    @allow_unauthenticated
    def _relay(self, tunnel_id, mac, proxied_path):
        return self.proxy(LOOPBACK, self._port(), proxied_path)

    # GET goes through WebSocketHandlerMixin.get, which picks http_get or the upgrade (open).
    post = put = delete = head = patch = options = _relay
    get = allow_unauthenticated(ProxyHandler.get)


class StorageShimHandler(JupyterHandler):
    """The in-memory storage script sandboxed pages load (public, static, no credentials)."""

    @allow_unauthenticated
    def get(self) -> None:
        self.set_header("Content-Type", "application/javascript; charset=utf-8")
        self.set_header("Cache-Control", "max-age=3600")
        self.finish(tunnel_guard.STORAGE_SHIM_JS)


class GenericProxyRefused(JupyterHandler):
    """Stands in front of jupyter-server-proxy's ``{base_url}proxy/<port>/`` routes."""

    @allow_unauthenticated
    def get(self, *args) -> None:
        _json_error(self, 403, GENERIC_REFUSED)

    post = put = delete = head = patch = options = get

    def check_xsrf_cookie(self) -> None:
        pass  # refused anyway, with the message rather than an XSRF error
