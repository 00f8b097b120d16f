"""One module per ``%spheron`` subcommand.

Each module has ``build(parser)`` (its flags; ``--help`` comes free), ``run(context, args,
cell)`` returning something to display (or None), optionally ``CELL = True`` when it accepts a
``%%spheron`` body, and ``DESCRIPTION`` for a longer help text. The router in ``magic.py``
imports a module only when its subcommand runs.
"""
