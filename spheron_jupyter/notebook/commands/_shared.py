"""Small helpers the command modules share: confirmation, instance tables, money lines."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError

from ...ledger import spending_line
from ..display import Table


def confirm(question: str, flag: str = "--yes") -> None:
    """Ask in the notebook (input() works in kernels); refuse cleanly where nobody can answer."""
    try:
        answer = input(f"{question} [y/N] ")
    except Exception:  # StdinNotImplementedError, EOFError: no one to ask
        raise UsageError(f"{question.rstrip('?')}: not confirmed; add {flag} to go ahead") from None
    if answer.strip().lower() not in ("y", "yes"):
        raise UsageError("not confirmed: nothing was changed")


def instance_table(views: list[Any], title: str | None = None, empty: str = "no instances") -> Table:
    rows = [v.row() for v in views]
    footer = spending_line(views) if views else None
    return Table(rows, title=title, empty=empty, footer=footer)
