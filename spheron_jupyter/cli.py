"""The ``spheron-jupyter`` console script: a router over small subcommand modules.

Each subcommand module exposes ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``; it is imported only when its subcommand runs, so
``spheron-jupyter --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__

SUBCOMMANDS = {
    # name: (module, one-line help)
    "emulator": ("spheron_jupyter.emulator.cli", "run the embedded Spheron emulator until stopped"),
    "sphnctl": ("spheron_jupyter.emulator.protocol_cli", "an offline sphnctl: Protocol deployments run as local processes"),
    "doctor": ("spheron_jupyter.doctor", "check the configured backend read-only; name each answer that differs from our models"),
    "demo": ("spheron_jupyter.demo", "run the main job: the example against the embedded emulator"),
    "tunnel-agent": ("spheron_jupyter.ssh.tunnel_agent", "run the per-user tunnel agent (started on demand)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spheron-jupyter",
        description="Spheron GPUs from Jupyter: tools that run outside the notebook.",
    )
    parser.add_argument("--version", action="version", version=f"spheron-jupyter {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_module, help_text) in SUBCOMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or argv[0] not in SUBCOMMANDS:
        if argv and not argv[0].startswith("-"):
            parser.error(f"unknown command {argv[0]!r}: choose one of {', '.join(SUBCOMMANDS)}")
        parser.parse_args(argv)  # prints help for -h, errors for anything else
        parser.print_help()
        return 2
    name, rest = argv[0], argv[1:]
    module = importlib.import_module(SUBCOMMANDS[name][0])
    sub = argparse.ArgumentParser(prog=f"spheron-jupyter {name}", description=SUBCOMMANDS[name][1])
    module.add_arguments(sub)
    return int(module.run(sub.parse_args(rest)) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
