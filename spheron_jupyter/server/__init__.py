"""The Jupyter server extension: REST for the Lab sidebar and the proxy to tunnelled UIs.

Routes (under the server's base_url):
``spheron/api/state`` (GET, behind Jupyter's authentication, see ``sidebar_state``),
``spheron/api/gpu`` (GET, behind Jupyter's authentication: the GPU figures of running
instances, see ``gpu_state``),
``spheron/api/kernel/<instance id>`` (POST installs the instance's kernelspec, DELETE removes
it; behind Jupyter's authentication and XSRF check, see ``kernel_route``),
``spheron/api/lifecycle/<instance id>`` (POST ``{"action": "extend"|"cancel"|"terminate"}``: the
sidebar's lifecycle buttons; the same checks, see ``lifecycle_route``),
``spheron/proxy/<tunnel id>/<path>`` (behind Jupyter's authentication: redirects to the next one)
and ``spheron/tunnel/<tunnel id>/<mac>/<path>`` (any method and WebSocket, to that open tunnel
only, sandboxed; see ``tunnel_proxy`` and ``tunnel_guard``). jupyter-server-proxy's generic
``proxy/<port>/`` routes are refused unless ``SpheronProxy.allow_generic_proxy_routes`` is set.
Enabled by ``jupyter-config/server-config/spheron_jupyter.json`` (the package's
``_jupyter_server_extension_points`` names this module).
"""

from __future__ import annotations

from jupyter_server.utils import url_path_join
from traitlets import Bool
from traitlets.config import Configurable

from .sidebar_state import PROXY_PREFIX, READER_SETTING, LedgerReader, SidebarStateHandler

STATE_ROUTE = "spheron/api/state"
GPU_ROUTE = "spheron/api/gpu"
KERNEL_ROUTE = "spheron/api/kernel"
LIFECYCLE_ROUTE = "spheron/api/lifecycle"
TUNNEL_ROUTE = "spheron/tunnel"
TUNNEL_ID = r"([^/?#]+)"
INSTANCE_ID = r"([^/?#]+)"
MAC = r"([0-9a-f]{32})"


class SpheronProxy(Configurable):
    """Settings of spheron_jupyter's server extension (``c.SpheronProxy.<name>``)."""

    allow_generic_proxy_routes = Bool(False, config=True, help=(
        "Let jupyter-server-proxy's generic {base_url}proxy/<port>/ and "
        "proxy/absolute/<port>/ routes answer. Off by default: they reach any port of this "
        "machine, and a page a rented instance serves through a tunnel could use them."))


def _load_jupyter_server_extension(serverapp) -> None:
    # Imported here: jupyter-server-proxy pulls in aiohttp, only worth it in a running server.
    from . import gpu_state, tunnel_guard
    from .kernel_route import KernelHandler
    from .lifecycle_route import LifecycleHandler
    from .tunnel_proxy import (CAPABILITY_SETTING, COOKIES_SETTING, GenericProxyRefused,
                               StorageShimHandler, TunnelEntryHandler, TunnelProxyHandler)

    web_app = serverapp.web_app
    base_url = web_app.settings["base_url"]
    config = SpheronProxy(parent=serverapp)
    web_app.settings[READER_SETTING] = LedgerReader()
    gpu_state.install(web_app.settings)
    web_app.settings[CAPABILITY_SETTING] = tunnel_guard.TunnelCapability()
    web_app.settings[COOKIES_SETTING] = tunnel_guard.TunnelCookies()
    entry = url_path_join(base_url, PROXY_PREFIX)
    tunnels = url_path_join(base_url, TUNNEL_ROUTE)
    web_app.add_handlers(".*$", [
        (url_path_join(base_url, STATE_ROUTE), SidebarStateHandler),
        (url_path_join(base_url, GPU_ROUTE), gpu_state.GpuStateHandler),
        (url_path_join(base_url, KERNEL_ROUTE) + f"/{INSTANCE_ID}", KernelHandler),
        (url_path_join(base_url, LIFECYCLE_ROUTE) + f"/{INSTANCE_ID}", LifecycleHandler),
        (f"{entry}/{TUNNEL_ID}(/.*|)", TunnelEntryHandler),
        (f"{tunnels}/{TUNNEL_ID}/{MAC}(/.*|)", TunnelProxyHandler),
        (url_path_join(base_url, tunnel_guard.STORAGE_SHIM_ROUTE), StorageShimHandler),
    ])
    web_app.add_transform(type("SpheronSandboxTransform", (tunnel_guard.SandboxTransform,), {
        "prefixes": (entry + "/", tunnels + "/"), "cors_prefixes": (tunnels + "/",)}))
    if not config.allow_generic_proxy_routes:
        _refuse_first(web_app, url_path_join(base_url, "proxy") + r"(/.*|)", GenericProxyRefused)
    serverapp.log.info("spheron_jupyter: sidebar state at %s, tunnel proxy at %s/<tunnel>/%s",
                       url_path_join(base_url, STATE_ROUTE), entry,
                       "" if config.allow_generic_proxy_routes
                       else " (jupyter-server-proxy's generic proxy/<port>/ routes refused)")


def _refuse_first(web_app, pattern: str, handler) -> None:
    """Route ``pattern`` to ``handler`` ahead of every other extension's rules.

    Extensions load alphabetically, so jupyter_server_proxy's handlers exist before ours, and
    tornado tries rules in the order they were added (web.Application.add_handlers inserts each
    before the server's own catch-all). Ours goes to the front instead.
    """
    web_app.add_handlers(".*$", [(pattern, handler)])
    rules = web_app.default_router.rules
    rules.insert(0, rules.pop(len(rules) - 2))
