"""argparse for magics: errors become one-line ``UsageError``s, ``--help`` becomes the result.

argparse's habit of printing to stderr and calling ``sys.exit`` would kill a kernel's cell with
a SystemExit traceback. Here ``error`` raises ``UsageError`` (IPython prints just its message)
and ``--help`` raises ``HelpRequested`` carrying the text, which the router shows as output.
"""

from __future__ import annotations

import argparse
import shlex

from IPython.core.error import UsageError


class HelpRequested(Exception):
    def __init__(self, text: str):
        super().__init__(text)
        self.text = text


class CommandParser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("add_help", True)
        kwargs.setdefault("allow_abbrev", False)  # `--y` must not silently mean `--yes`
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")

    def exit(self, status: int = 0, message: str | None = None):
        if status:
            raise UsageError((message or f"{self.prog}: invalid arguments").strip())
        raise HelpRequested(self.format_help())

    def print_help(self, file=None):
        raise HelpRequested(self.format_help())

    def print_usage(self, file=None):
        raise HelpRequested(self.format_usage())


def split_line(line: str) -> list[str]:
    """shlex, with a clean error for an unclosed quote."""
    try:
        return shlex.split(line, posix=True)
    except ValueError as exc:
        raise UsageError(f"%spheron: cannot parse the line ({exc}): check the quotes") from None


def raw_tail(line: str, count: int) -> str | None:
    """The text of the last ``count`` words of ``line`` exactly as typed (quotes kept).

    ``exec ID -- CMD ...`` sends this to the remote shell, so what the user quoted stays quoted
    there and ``&&``, pipes and redirections keep their meaning. None when the line cannot be
    cut into words the way ``split_line`` does (the caller then joins the words itself).
    """
    starts: list[int] = []
    i, n = 0, len(line)
    while i < n:
        if line[i].isspace():
            i += 1
            continue
        starts.append(i)
        while i < n and not line[i].isspace():
            if line[i] == "\\":
                i += 2
            elif line[i] in "'\"":
                quote, i = line[i], i + 1
                while i < n and line[i] != quote:
                    i += 2 if quote == '"' and line[i] == "\\" else 1
                i += 1
            else:
                i += 1
    if count <= 0 or len(starts) != len(split_line(line)) or count > len(starts):
        return None
    return line[starts[-count]:].strip()


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more")
    return value


def port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"{text} is not a TCP port (1-65535)")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value
