"""Showing a tunnelled UI: the token never lands in saved output (see notebook/links.py)."""

from __future__ import annotations

from ..display import Link, in_notebook


def show_service(link, label: str):
    reused = " (reused the running server and tunnel)" if link.reused else ""
    plain = link.url
    if in_notebook():
        from ..links import one_time_link

        click = one_time_link(link.url_with_token())
        note = (f"{plain} through tunnel {link.tunnel_id}{reused}. The link carries no token: "
                f"it logs your browser in on the first click (within 15 minutes; run the "
                f"command again after that) and opens the page directly afterwards.")
    else:
        click = link.url_with_token()  # a terminal saves nothing
        note = f"tunnel {link.tunnel_id}{reused}"
    # A remote JupyterLab cannot run in the sandboxed Lab tab (labextension/src/tabs.ts), so
    # only other services get "open in a Lab tab".
    tab = link.tunnel_id if label != "Jupyter" else None
    return Link(label, plain, click, note, tunnel_id=tab)
