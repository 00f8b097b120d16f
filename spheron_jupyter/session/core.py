"""``Session``: the plain Python API behind the magics, the widgets and scripts.

A Session is its parts (parts.py: a ``SpheronClient``, a ``Ledger``, the ``Settings`` and the
backend connection, each injectable) handed to small typed services: ``Inventory`` (listing,
names, waiting, terminating), ``Ends`` (extend or cancel a lease), ``Launcher`` (plan and
launch), ``Reach`` (ssh, tunnels, logs, exec, events) and ``Resources`` (volumes, keys,
teams). Its public names are those services' methods, bound in ``__init__``: the names the
magics, widgets, server extension and kernel call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..ledger import Ledger
from . import backends
from .inventory import Inventory
from .launching import Launcher
from .lifecycle import Ends
from .parts import Parts
from .reach import Reach
from .resources import Resources
from .views import InstanceView

if TYPE_CHECKING:
    from ..client import Offer, OfferQuery, SpheronClient
    from ..config.credentials import ApiKey
    from ..config.settings import Settings

Progress = Callable[[str, str], None]  # (stage, one-line detail)


class Session:
    """``Session(backend=None|"local"|"cloud", url=None, api_key=None, notebook=None)``.

    ``backend=None`` follows the ``backend`` setting; ``auto`` picks cloud when a key is
    configured, else the embedded emulator, and ``note`` says which in one line. ``client``,
    ``ledger`` and ``settings`` replace the parts built from the user's configuration.
    """

    def __init__(self, backend: str | None = None, *, url: str | None = None,
                 api_key: str | ApiKey | None = None, notebook: str | None = None,
                 ledger: Ledger | None = None, emulator_options: dict[str, Any] | None = None,
                 client: SpheronClient | None = None, settings: Settings | None = None,
                 emulator_state: str | None = None):
        # emulator_state: a hand-started emulator's --state dir (backend "local"; its key is there)
        conn = backends.choose(backend, url, api_key, emulator_options, emulator_state)
        self._parts = Parts(conn, ledger or Ledger(), notebook=notebook, client=client,
                            settings=settings)
        # Identity: fixed for the Session's life (a new backend is a new Session).
        self._conn = conn
        self.backend, self.api_url = conn.backend, conn.url
        self.note, self.key_source = conn.note, conn.key_source
        self.ledger, self.notebook = self._parts.ledger, notebook
        inventory = self._inventory = Inventory(self._parts)
        resources = Resources(self._parts, inventory)
        launcher = Launcher(self._parts, inventory, resources)
        reach = Reach(self._parts, inventory)
        ends = Ends(self._parts, inventory)
        # The public names, each one service's method (its docstring is help()'s).
        self.plan_launch = launcher.plan
        self.launch = launcher.launch
        self.instances = inventory.instances
        self.resolve = self.status = inventory.resolve
        self.refresh = inventory.refresh
        self.terminate = inventory.terminate
        self.extend_lease = ends.extend
        self.cancel_lease = ends.cancel
        self.ssh_info = reach.ssh_info
        self.jupyter = reach.jupyter
        self.tensorboard = reach.tensorboard
        self.forward = reach.forward
        self.tunnels = reach.tunnels
        self.close = reach.close  # a tunnel: `disconnect` releases the HTTP connections
        self.logs = reach.logs
        self.exec = reach.exec
        self.events = reach.events
        self.event_rows = reach.event_rows
        self.volumes = resources.volumes
        self.resolve_volume = resources.resolve_volume
        self.create_volume = resources.create_volume
        self.attach_volume = resources.attach_volume
        self.detach_volume = resources.detach_volume
        self.delete_volume = resources.delete_volume
        self.keys = resources.keys
        self.add_key = resources.add_key
        self.remove_key = resources.remove_key
        self.teams = resources.teams
        self.current_team = resources.current_team
        self.use_team = resources.use_team

    # -- identity ---------------------------------------------------------------------------
    @property
    def client(self) -> SpheronClient:
        """The REST client, built on first use (httpx is not imported before)."""
        return self._parts.client

    @property
    def poll_interval(self) -> float:
        return self._parts.poll_interval

    def __repr__(self) -> str:
        return f"Session(backend={self.backend!r}, url={self.api_url!r})"

    def disconnect(self) -> None:
        """Release the HTTP connections (tunnels, the emulator and the ledger stay).

        Not ``close``: that name closes a tunnel (``close(tunnel_id)``, as the magic does).
        """
        self._parts.drop_client()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.disconnect()

    def whoami(self) -> dict[str, str]:
        team = self.current_team()
        return {
            "backend": self.backend,
            "url": self.api_url,
            "key": self.key_source,
            "team": f"{team.team_name} ({team.team_id})" if team else "-",
            "role": (team.role if team else None) or "-",
            "balance": f"${team.balance:,.2f}" if team and team.balance is not None else "-",
        }

    # -- offers ---------------------------------------------------------------------------
    def offers(self, query: OfferQuery | None = None, **filters: Any) -> list[Offer]:
        """Available offers matching ``query`` (an ``OfferQuery``) or keyword filters."""
        from ..client import OfferQuery

        if query is None:
            query = OfferQuery(**{k: v for k, v in filters.items() if v is not None})
        return list(self.client.find_offers(query))

    def wait_until(self, ref: str, statuses: tuple[str, ...] = ("running",), *,
                   timeout: float | None = None,
                   progress: Progress | None = None) -> InstanceView:
        """Poll until the instance reaches one of ``statuses`` (or ends, or times out)."""
        return self._inventory.await_status(self.resolve(ref), statuses, timeout=timeout,
                                            progress=progress)
