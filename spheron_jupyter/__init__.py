"""Rent Spheron GPUs from a Jupyter notebook.

``%load_ext spheron_jupyter`` registers the ``%spheron`` magic.  Importing this package is
cheap on purpose: heavy modules (httpx, paramiko, ipywidgets) load on first use.
"""

__version__ = "0.1.0"


def _jupyter_labextension_paths():
    """The prebuilt JupyterLab extension (sidebar, burn meter), built from labextension/."""
    return [{"src": "labextension", "dest": "spheron-jupyter"}]


def _jupyter_server_extension_points():  # the Lab sidebar's REST and the tunnel proxy
    return [{"module": "spheron_jupyter.server"}]


def load_ipython_extension(ipython):  # pragma: no cover - thin shim, tested via notebook/
    from .notebook.extension import load_ipython_extension as _load

    _load(ipython)


def unload_ipython_extension(ipython):  # pragma: no cover
    from .notebook.extension import unload_ipython_extension as _unload

    _unload(ipython)
