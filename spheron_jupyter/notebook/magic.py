"""The one ``%spheron`` / ``%%spheron`` magic and its router.

The router splits the line, imports the subcommand's module from ``commands/`` on first use
(so ``%load_ext`` stays cheap), parses with ``CommandParser`` and runs it. Every failure becomes
a single ``UsageError`` line, with any known secret masked; nothing raises a traceback at a
user. Set ``SPHERON_JUPYTER_DEBUG=1`` to see the traceback of an unexpected error.
"""

from __future__ import annotations

import difflib
import importlib
import os
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class

from .parser import CommandParser, HelpRequested, split_line

# subcommand -> (module in commands/, one-line help). The order is the order `help` shows.
COMMANDS: dict[str, tuple[str, str]] = {
    "help": ("help", "this list, or one command's help"),
    "use": ("use", "choose the backend: local (embedded emulator) or cloud"),
    "login": ("login", "store your Spheron API key (never shown)"),
    "whoami": ("whoami", "backend, URL, key source (masked), team, balance"),
    "doctor": ("doctor", "check the backend read-only; name each answer that differs from our models"),
    "offers": ("offers", "browse GPU offers with filters and sorting"),
    "launch": ("launch", "launch an instance (price and worst case first)"),
    "ls": ("ls", "your instances with $/hour and cost so far"),
    "panel": ("panel", "clickable panels: instances dashboard, offers browser, volumes"),
    "status": ("status", "one instance in detail"),
    "ssh": ("ssh", "the ssh command and an ssh_config block"),
    "jupyter": ("jupyter", "Jupyter on the instance through a private tunnel"),
    "tensorboard": ("tensorboard", "TensorBoard on the instance through a private tunnel"),
    "forward": ("forward", "forward any remote port to 127.0.0.1"),
    "tunnels": ("tunnels", "open tunnels"),
    "close": ("close", "close a tunnel"),
    "logs": ("logs", "startup, service or file logs; --follow streams"),
    "events": ("events", "status changes and our actions, with times"),
    "exec": ("exec", "run a command on the instance, output streams"),
    "kernel": ("kernel", "a Jupyter kernel whose cells run on the instance"),
    "gpu": ("gpu", "GPU utilisation, memory and temperature (--watch), idle warning"),
    "volumes": ("volumes", "your volumes"),
    "volume": ("volume", "create, attach, detach or delete a volume"),
    "keys": ("keys", "SSH keys: list, add PATH, rm ID"),
    "teams": ("teams", "your teams, roles and balances"),
    "team": ("team", "team use TEAM: the team for new resources"),
    "lease": ("lease", "lease ID +2h | --cancel: extend or cancel what ends an instance"),
    "terminate": ("terminate", "terminate an instance (explains the 20-minute minimum)"),
    "icl": ("icl", "%%spheron icl: check an ICL document, or --deploy it (Spheron Protocol)"),
    "deployment": ("deployment", "Spheron Protocol deployments: create, get, list, logs, events, update, close"),
}


def load_command(name: str):
    if name not in COMMANDS:
        close = difflib.get_close_matches(name, COMMANDS, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise UsageError(f"%spheron: unknown subcommand {name!r}: {hint}%spheron help lists them")
    return importlib.import_module(f"{__package__}.commands.{COMMANDS[name][0]}")


def build_parser(name: str, module) -> CommandParser:
    parser = CommandParser(prog=f"%spheron {name}", description=getattr(module, "DESCRIPTION",
                                                                       COMMANDS[name][1]))
    module.build(parser)
    return parser


def dispatch(context: Any, line: str, cell: str | None = None) -> Any:
    argv = split_line(line)
    if argv[:1] == ["--version"]:
        from .. import __version__
        from .display import Text

        return Text(f"spheron-jupyter {__version__}")
    if not argv or argv[0] in ("-h", "--help"):
        argv = ["help", *argv[1:2]] if argv[1:2] else ["help"]
    name, rest = argv[0], argv[1:]
    module = load_command(name)
    parser = build_parser(name, module)
    try:
        args = parser.parse_args(rest)
    except HelpRequested as shown:
        from .display import Text

        return Text(shown.text.rstrip())
    if getattr(module, "RAW_LINE", False):  # exec: the command's words as typed, quotes kept
        args.raw_line = line
    if cell is not None and not getattr(module, "CELL", False):
        raise UsageError(f"%%spheron {name} takes no cell body: use the line form %spheron {name}")
    from ..session.notices import notices_to

    # A request of this command that retries says so in this cell, one line per notice; a
    # panel's background thread has no sink, so its retries never print here.
    with notices_to(_print_notice):
        result = module.run(context, args, cell)
    if isinstance(result, str):
        print(result)  # a message, not a value: no Out[n] and no quotes around it
        return None
    return result


def _print_notice(text: str) -> None:
    print(text, flush=True)


def one_line(exc: BaseException) -> str:
    """The exception as one clean line, secrets masked."""
    from ..config.redaction import redact

    text = " ".join(str(exc).split()) or type(exc).__name__
    ours = type(exc).__module__.startswith("spheron_jupyter")
    if not ours and not isinstance(exc, (OSError, ValueError)):
        text = f"unexpected {type(exc).__name__}: {text} (SPHERON_JUPYTER_DEBUG=1 shows where)"
    return redact(text)


@magics_class
class SpheronMagics(Magics):
    def __init__(self, shell):
        super().__init__(shell)
        from .context import Context

        self.context = Context(shell)

    @line_cell_magic
    def spheron(self, line: str, cell: str | None = None):
        """Rent Spheron GPUs from this notebook. ``%spheron help`` lists the commands."""
        try:
            result = dispatch(self.context, line, cell)
            if result is not None and _nobody_shows_results(self.shell):
                from IPython.display import display

                display(result)  # `ipython file.ipy`: the result would be dropped unseen
                return None
            return result
        except UsageError:
            raise
        except KeyboardInterrupt:
            print("interrupted")  # the notebook's stop button: a clean end, not a traceback
            return None
        except Exception as exc:
            if os.environ.get("SPHERON_JUPYTER_DEBUG"):
                raise
            raise UsageError(one_line(exc)) from None


def _nobody_shows_results(shell) -> bool:
    """True where IPython will not display what the magic returns.

    That is a silent cell, which is how ``ipython file.ipy`` and ``%run file.ipy`` run a script
    (``InteractiveShell.safe_execfile_ipy``), or no cell at all. IPython sets
    ``displayhook.exec_result`` for the cell it is running; its ``info.silent`` says which.
    """
    running = getattr(getattr(shell, "displayhook", None), "exec_result", None)
    info = getattr(running, "info", None)
    return info is None or bool(getattr(info, "silent", False))
