"""The plain Python API: what the magics, the widgets and scripts call.

    from spheron_jupyter.session import Session
    s = Session("local")                       # or "cloud", or None: cloud when a key is set
    plan = s.plan_launch(gpu="rtx-4090", lease="2h")
    inst = s.launch(plan, progress=print_progress)
    link = s.jupyter(inst.id)                  # link.url, link.url_with_token()
    s.terminate(inst.id, when_allowed=True)

Importing this package is cheap: the client (httpx, pydantic) loads on first use.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Ledger", "Session", "SessionError"]


def __getattr__(name: str) -> Any:
    if name == "Session":
        from .core import Session

        return Session
    if name == "Ledger":
        from ..ledger import Ledger

        return Ledger
    if name == "SessionError":
        from .errors import SessionError

        return SessionError
    raise AttributeError(name)
