"""The Jupyter server extension: REST for the Lab sidebar and the proxy to tunnelled UIs.

Routes (under the server's base_url, all behind Jupyter's authentication):
``spheron/api/state`` (GET, see ``sidebar_state.sidebar_state``), ``spheron/api/gpu`` (GET, the
GPU figures of running instances, see ``gpu_state``) and
``spheron/proxy/<tunnel id>/<path>`` (any method and WebSocket, to that open tunnel only).
Enabled by ``jupyter-config/server-config/spheron_jupyter.json`` (the package's
``_jupyter_server_extension_points`` names this module).
"""

from __future__ import annotations

from jupyter_server.utils import url_path_join

from .sidebar_state import PROXY_PREFIX, READER_SETTING, LedgerReader, SidebarStateHandler

STATE_ROUTE = "spheron/api/state"
GPU_ROUTE = "spheron/api/gpu"
TUNNEL_ID = r"([^/?#]+)"


def _load_jupyter_server_extension(serverapp) -> None:
    # Imported here: jupyter-server-proxy pulls in aiohttp, only worth it in a running server.
    from jupyter_server_proxy.handlers import AddSlashHandler

    from . import gpu_state
    from .tunnel_proxy import TunnelProxyHandler

    web_app = serverapp.web_app
    base_url = web_app.settings["base_url"]
    web_app.settings[READER_SETTING] = LedgerReader()
    gpu_state.install(web_app.settings)
    web_app.add_handlers(".*$", [
        (url_path_join(base_url, STATE_ROUTE), SidebarStateHandler),
        (url_path_join(base_url, GPU_ROUTE), gpu_state.GpuStateHandler),
        (url_path_join(base_url, PROXY_PREFIX, TUNNEL_ID) + r"(/.*)", TunnelProxyHandler),
        # Relative links in a tunnelled UI need the trailing slash.
        (url_path_join(base_url, PROXY_PREFIX, TUNNEL_ID), AddSlashHandler),
    ])
    serverapp.log.info("spheron_jupyter: sidebar state at %s, tunnel proxy at %s/<tunnel>/",
                       url_path_join(base_url, STATE_ROUTE), url_path_join(base_url, PROXY_PREFIX))
