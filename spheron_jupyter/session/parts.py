"""The parts every session service works with, each injectable: the backend connection, the
REST client, the ledger and the settings.

``Session(client=...)`` hands in a ``SpheronClient`` on a scripted transport (tests run in
milliseconds); ``settings=`` a ``Settings`` object instead of the user's file. Without them the
client is built on first use (httpx is not imported before) and settings are read from the
settings layer (config/settings.py) each time, so a change made by another kernel counts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import reaper
from ..ledger import Ledger
from . import notices
from .backends import Connection, load_settings

if TYPE_CHECKING:
    from ..client import SpheronClient
    from ..config.settings import Settings


class Parts:
    def __init__(self, conn: Connection, ledger: Ledger, *, notebook: str | None = None,
                 client: SpheronClient | None = None, settings: Settings | None = None):
        self.conn = conn
        self.ledger = ledger
        self.notebook = notebook
        if client is not None and client.on_retry is None:
            client.on_retry = notices.tell
        self._client = client
        self._settings = settings

    @property
    def settings(self) -> Settings:
        return self._settings if self._settings is not None else load_settings()

    @property
    def client(self) -> SpheronClient:
        if self._client is None:
            from ..client import SpheronClient

            self._client = SpheronClient(self.conn.url, self.conn.api_key,
                                         team_id=self.settings.team_id or None,
                                         on_retry=notices.tell)
        return self._client

    def drop_client(self) -> None:
        """Release the HTTP connections; the next request builds a client (a new team)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    @property
    def api_url(self) -> str:
        return self.conn.url

    @property
    def backend(self) -> str:
        return self.conn.backend

    @property
    def poll_interval(self) -> float:
        """The emulator may be polled fast; the real service no faster than every 10 s."""
        if self.backend == "local":
            return 0.25
        return self.settings.cloud_poll_interval()

    def event(self, instance_id: str, kind: str, detail: str = "") -> None:
        """One line of the instance's history in the ledger (``%spheron events`` shows them)."""
        self.ledger.add_event(self.api_url, instance_id, kind, detail)

    def spawn_reaper(self, instance_id: str, *, not_before: float | None = None,
                     replace: bool = False) -> int | None:
        """Start the instance's one reaper (reaper.py; ``replace`` stops the one it has first);
        None if it has one, or another kernel is starting one (ledger/store.py)."""
        return self.ledger.start_reaper(self.api_url, instance_id, self.backend, lambda: (
            reaper.spawn(self.conn.url, self.backend, self.conn.api_key, instance_id,
                         ledger_path=self.ledger.path, not_before=not_before)),
            stop=(lambda pid: reaper.stop(pid, instance_id.encode())) if replace else None)

    def emulator_extra(self) -> dict[str, str]:
        """Rows of our managed emulator name its state dir, so %load_ext can tell if it runs."""
        state = self.conn.emulator_state
        return {"emulator_state": state} if state else {}
