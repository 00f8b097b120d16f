"""%spheron panel [instances|offers|volumes]: the clickable panels (ipywidgets)."""

from __future__ import annotations

DESCRIPTION = ("Show a panel: 'instances' (the default) is the dashboard of every instance with "
               "status, uptime, cost so far, the minimum-runtime countdown and buttons for "
               "Jupyter, TensorBoard, logs, exec and terminate, refreshed in the background; "
               "'offers' is the offers browser (also %spheron offers --browse); 'volumes' lists, "
               "creates, attaches and detaches volumes.")


def require_notebook(what: str, instead: str) -> None:
    """Widgets need a Jupyter frontend; a terminal IPython would only print a repr."""
    from ..display import in_notebook

    if not in_notebook():
        from IPython.core.error import UsageError

        raise UsageError(f"{what} needs Jupyter (a notebook or JupyterLab) to show its widgets; "
                         f"in a terminal, {instead}")


def build(parser) -> None:
    parser.add_argument("which", nargs="?", default="instances",
                        choices=["instances", "offers", "volumes"])
    parser.add_argument("--refresh", type=float, metavar="SECONDS",
                        help="how often the dashboard asks the API (default: 2 s on the "
                        "emulator, 10 s or more on the real service)")


def run(context, args, cell=None):
    require_notebook(f"%spheron panel {args.which}",
                     {"instances": "%spheron ls and %spheron status show the same",
                      "offers": "%spheron offers filters and sorts",
                      "volumes": "%spheron volumes and %spheron volume do the same"}[args.which])
    session = context.session
    if args.which == "offers":
        from ..widgets.offers import OffersBrowser

        return OffersBrowser(session)
    if args.which == "volumes":
        from ..widgets.volumes import VolumesPanel

        return VolumesPanel(session)
    from ..widgets.dashboard import Dashboard

    refresh = args.refresh
    if refresh is not None and session.backend == "cloud":
        refresh = max(refresh, session.poll_interval)  # never poll the real API faster
    return Dashboard(session, refresh_seconds=refresh)
