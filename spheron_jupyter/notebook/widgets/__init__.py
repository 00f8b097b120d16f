"""ipywidgets panels over the session API: offers browser, launcher, instance dashboard, log
viewer and volumes.

Nothing here is imported by ``%load_ext``: a panel module (and ipywidgets with it) loads when a
panel is first created. Panels call ``Session`` methods, never the magics.
"""
