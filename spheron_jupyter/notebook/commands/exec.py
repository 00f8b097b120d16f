"""%spheron exec ID -- COMMAND ... / %%spheron exec ID: run on the instance, output streams."""

from __future__ import annotations

import argparse

from IPython.core.error import UsageError

from ..display import StreamPrinter
from ..parser import raw_tail

CELL = True
RAW_LINE = True  # the router hands us the line as typed (args.raw_line)
DESCRIPTION = ("Run a command on the instance over SSH; stdout and stderr stream into the cell "
               "as they come, and the exit code is reported. Everything after -- is one command "
               "line for the instance's shell, as with `ssh HOST CMD ...`: it is sent as you "
               "typed it, so &&, ;, pipes, redirections, $VARS and quotes work there (a single "
               "quoted word is the whole command line, as with ssh), e.g. "
               "%spheron exec ID -- cd runs && ls | wc -l. %%spheron exec ID runs the whole "
               "cell as a bash script. Interrupting the cell stops the remote command.")


def build(parser) -> None:
    parser.add_argument("id", metavar="ID", help="instance id, name or unique prefix")
    parser.add_argument("command", nargs=argparse.REMAINDER, metavar="-- COMMAND ...")


def run(context, args, cell=None):
    words = list(args.command)
    if words and words[0] == "--":
        words = words[1:]
    if cell is not None:
        if words:
            raise UsageError("%%spheron exec ID: the cell is the script; put nothing after ID")
        command = "bash -s <<'SPHERON_EOF'\n" + cell.rstrip("\n") + "\nSPHERON_EOF"
    elif words:
        # One remote command line, as ssh joins its words. A single word is that line (like
        # `ssh HOST "ls -la"`); several are taken as typed where the line can be cut (so their
        # quotes reach the remote shell), else joined with spaces as ssh does.
        typed = raw_tail(getattr(args, "raw_line", ""), len(words)) if len(words) > 1 else None
        command = typed if typed is not None else " ".join(words)
    else:
        raise UsageError("%spheron exec ID -- COMMAND: say what to run (or use %%spheron exec ID)")
    out, err = StreamPrinter(), StreamPrinter(stream=_stderr())

    from ...config.redaction import redact

    def on_output(stream: str, text: str) -> None:
        (err if stream == "stderr" else out).write(redact(text))

    try:
        code = context.session.exec(args.id, command, on_output)
    except KeyboardInterrupt:
        out.close()
        err.close()
        print("[interrupted: the remote command was stopped]")
        return None
    out.close()
    err.close()
    if code:
        raise UsageError(f"%spheron exec: the command exited with status {code}")
    return None


def _stderr():
    import sys

    return sys.stderr
