"""The embedded Spheron: a separate program that speaks the Spheron AI REST API on 127.0.0.1.

Run it with ``spheron-jupyter emulator`` (cli.py) or, from Python, with
:func:`spheron_jupyter.emulator.process.start_emulator`.  The rest of the package talks to it only
over HTTP (and SSH, through the instance runtime), never by importing it.

Modules: cli.py (the command), process.py (parent side: start/find/stop), httpserver.py (the
socket), app.py (routing, auth, faults, lifecycle ticker), routes_*.py (one per resource),
create_validation.py, volume_rules.py, catalog.py / catalog_query.py (the deterministic offer
catalog), store.py (state on disk), faults.py (the ``--faults`` grammar), ratelimit.py,
runtime.py (the InstanceRuntime hook the SSH sandboxes implement).
"""
