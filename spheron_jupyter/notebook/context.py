"""What the magic remembers between cells: the shell and the current Session (built lazily)."""

from __future__ import annotations

import os
from typing import Any


class Context:
    def __init__(self, shell: Any):
        self.shell = shell
        self._session: Any = None  # a session.core.Session, imported on first use

    @property
    def session(self):
        """The Session for this kernel; the first use picks the backend (and says which)."""
        if self._session is None:
            from ..config.settings import load_settings

            preferred = load_settings().backend
            self.use(None if preferred == "auto" else preferred)
        return self._session

    @session.setter
    def session(self, value) -> None:
        self._session = value

    def use(self, backend: str | None, url: str | None = None, state: str | None = None):
        from ..session.core import Session

        session = Session(backend, url=url, notebook=self.notebook_path(), emulator_state=state)
        if self._session is not None:
            self._session.disconnect()
        self._session = session
        if session.note:
            print(session.note)
        return session

    def notebook_path(self) -> str | None:
        """The notebook this kernel runs, when the frontend tells us (for the ledger)."""
        ns = getattr(self.shell, "user_ns", {}) or {}
        return ns.get("__session__") or os.environ.get("JPY_SESSION_NAME") or None
