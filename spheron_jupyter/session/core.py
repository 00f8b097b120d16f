"""``Session``: the plain Python API behind the magics, the widgets and scripts.

A Session is its parts (parts.py: a ``SpheronClient``, a ``Ledger``, the ``Settings`` and the
backend connection, each injectable) handed to small typed services: ``Inventory`` (listing,
names, waiting, terminating), ``Launcher`` (plan and launch), ``Reach`` (ssh, tunnels, logs,
exec, events) and ``Resources`` (volumes, keys, teams). This class only forwards to them, so
its public names stay what the magics, widgets, server extension and kernel call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from . import backends
from .inventory import Inventory
from .launching import Launcher
from .ledger import EventRecord, Ledger
from .parts import Parts
from .reach import Reach, ServiceLink, SshInfo, TunnelView
from .resources import Resources
from .views import InstanceView, LaunchPlan, TerminateResult

if TYPE_CHECKING:
    from ..client import Offer, OfferQuery, SpheronClient, SshKey, Team, TeamBalance, Volume
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
        self._inventory = Inventory(self._parts)
        self._resources = Resources(self._parts, self._inventory)
        self._launcher = Launcher(self._parts, self._inventory, self._resources)
        self._reach = Reach(self._parts, self._inventory)

    # -- identity ---------------------------------------------------------------------------
    @property
    def _conn(self) -> backends.Connection:
        return self._parts.conn

    @property
    def backend(self) -> str:
        return self._parts.backend

    @property
    def api_url(self) -> str:
        return self._parts.api_url

    @property
    def note(self) -> str | None:
        return self._parts.conn.note

    @property
    def key_source(self) -> str:
        return self._parts.conn.key_source

    @property
    def ledger(self) -> Ledger:
        return self._parts.ledger

    @property
    def notebook(self) -> str | None:
        return self._parts.notebook

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

    # -- offers and launching ---------------------------------------------------------------
    def offers(self, query: OfferQuery | None = None, **filters: Any) -> list[Offer]:
        """Available offers matching ``query`` (an ``OfferQuery``) or keyword filters."""
        from ..client import OfferQuery

        if query is None:
            query = OfferQuery(**{k: v for k, v in filters.items() if v is not None})
        return list(self.client.find_offers(query))

    def plan_launch(self, offer_id: str | None = None, *, gpu: str | None = None,
                    count: int | None = None, type: str | None = None,
                    region: str | None = None, provider: str | None = None,
                    os: str | None = None, max_price: float | None = None,
                    name: str | None = None, volumes: Iterable[str] = (),
                    startup: str | None = None,
                    lease: str | timedelta | None = None) -> LaunchPlan:
        """Choose the offer (cheapest match, or ``offer_id``) and price the launch. Creates nothing."""
        return self._launcher.plan(offer_id, gpu=gpu, count=count, type=type, region=region,
                                   provider=provider, os=os, max_price=max_price, name=name,
                                   volumes=volumes, startup=startup, lease=lease)

    def launch(self, plan: LaunchPlan, *, wait: bool = True, yes: bool = False,
               progress: Progress | None = None) -> InstanceView:
        """Create the planned instance; with ``wait``, return once SSH answers."""
        return self._launcher.launch(plan, wait=wait, yes=yes, progress=progress)

    # -- instances --------------------------------------------------------------------------
    def instances(self, *, all: bool = False) -> list[InstanceView]:
        return self._inventory.instances(all=all)

    def resolve(self, ref: str, *, all: bool = False) -> InstanceView:
        return self._inventory.resolve(ref, all=all)

    def status(self, ref: str, *, all: bool = False) -> InstanceView:
        return self._inventory.resolve(ref, all=all)

    def refresh(self, view: InstanceView) -> InstanceView:
        return self._inventory.refresh(view)

    def wait_until(self, ref: str, statuses: tuple[str, ...] = ("running",), *,
                   timeout: float | None = None,
                   progress: Progress | None = None) -> InstanceView:
        """Poll until the instance reaches one of ``statuses`` (or ends, or times out)."""
        return self._inventory.await_status(self.resolve(ref), statuses, timeout=timeout,
                                            progress=progress)

    def terminate(self, ref: str, *, when_allowed: bool = False) -> TerminateResult:
        return self._inventory.terminate(ref, when_allowed=when_allowed)

    # -- reach ------------------------------------------------------------------------------
    def ssh_info(self, ref: str) -> SshInfo:
        return self._reach.ssh_info(ref)

    def jupyter(self, ref: str, *, local_port: int | None = None,
                progress: Progress | None = None) -> ServiceLink:
        return self._reach.jupyter(ref, local_port=local_port, progress=progress)

    def tensorboard(self, ref: str, *, logdir: str | None = None, local_port: int | None = None,
                    progress: Progress | None = None) -> ServiceLink:
        return self._reach.tensorboard(ref, logdir=logdir, local_port=local_port,
                                       progress=progress)

    def forward(self, ref: str, remote_port: int, *, local_port: int | None = None) -> TunnelView:
        return self._reach.forward(ref, remote_port, local_port=local_port)

    def tunnels(self) -> list[TunnelView]:
        return self._reach.tunnels()

    def close(self, tunnel: str) -> TunnelView:
        return self._reach.close(tunnel)

    def logs(self, ref: str, *, source: str = "startup", name: str | None = None,
             follow: bool = False, tail: int | None = None) -> Iterator[str]:
        return self._reach.logs(ref, source=source, name=name, follow=follow, tail=tail)

    def exec(self, ref: str, command: str, on_output: Callable[[str, str], None]) -> int:
        return self._reach.exec(ref, command, on_output)

    def events(self, ref: str, *, follow: bool = False,
               should_stop: Callable[[], bool] = lambda: False) -> Iterator[EventRecord]:
        return self._reach.events(ref, follow=follow, should_stop=should_stop)

    def event_rows(self, events: list[EventRecord]) -> list[dict[str, str]]:
        return self._reach.event_rows(events)

    # -- account resources ------------------------------------------------------------------
    def volumes(self) -> list[Volume]:
        return self._resources.volumes()

    def resolve_volume(self, ref: str) -> Volume:
        return self._resources.resolve_volume(ref)

    def create_volume(self, name: str, *, size_gb: float, provider: str, region: str) -> Volume:
        return self._resources.create_volume(name, size_gb=size_gb, provider=provider,
                                             region=region)

    def attach_volume(self, volume: str, instance: str) -> tuple[Volume, InstanceView]:
        return self._resources.attach_volume(volume, instance)

    def detach_volume(self, volume: str, instance: str) -> tuple[Volume, InstanceView]:
        return self._resources.detach_volume(volume, instance)

    def delete_volume(self, volume: str) -> Volume:
        return self._resources.delete_volume(volume)

    def keys(self) -> list[SshKey]:
        return self._resources.keys()

    def add_key(self, path: str, name: str | None = None) -> SshKey:
        return self._resources.add_key(path, name)

    def remove_key(self, key_id: str) -> None:
        self._resources.remove_key(key_id)

    def teams(self) -> list[Team]:
        return self._resources.teams()

    def current_team(self) -> TeamBalance | None:
        return self._resources.current_team()

    def use_team(self, team: str) -> Team:
        return self._resources.use_team(team)
