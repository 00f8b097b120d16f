"""``Session``: the plain Python API behind the magics and the widgets.

One Session talks to one backend (the embedded emulator or the real API) through one
``SpheronClient`` and keeps the ledger in step: every instance and volume it creates is written
down before and after the request, and every listing reconciles the ledger with the API (the API
wins). Reaching instances (ssh, tunnels, logs, exec) lives in ``reach.ReachMixin``; volumes,
keys and teams in ``resources.ResourcesMixin``; planning and launching in ``launching``.
"""

from __future__ import annotations

import time
from typing import Any
from collections.abc import Callable

from . import backends
from .errors import (AmbiguousReferenceError, LaunchWaitStoppedError, SessionError,
                     UnknownInstanceError)
from .launching import LaunchMixin
from .ledger import InstanceRecord, Ledger
from .reach import ReachMixin
from .resources import ResourcesMixin
from .views import InstanceView, TerminateResult

Progress = Callable[[str, str], None]  # (stage, one-line detail)


class Session(LaunchMixin, ReachMixin, ResourcesMixin):
    """``Session(backend=None|"local"|"cloud", url=None, api_key=None, notebook=None)``.

    ``backend=None`` picks cloud when a key is configured, else the embedded emulator, and
    ``note`` says which in one line.
    """

    def __init__(self, backend: str | None = None, *, url: str | None = None,
                 api_key: Any = None, notebook: str | None = None,
                 ledger: Ledger | None = None, emulator_options: dict | None = None,
                 client: Any = None, emulator_state: str | None = None):
        # emulator_state: a hand-started emulator's --state dir (backend "local"; its key is there)
        self._conn = backends.choose(backend, url, api_key, emulator_options, emulator_state)
        self.ledger = ledger or Ledger()
        self.notebook = notebook
        self._client = client  # injectable: a SpheronClient on a scripted transport

    # -- identity ---------------------------------------------------------------------------
    @property
    def backend(self) -> str:
        return self._conn.backend

    @property
    def api_url(self) -> str:
        return self._conn.url

    @property
    def note(self) -> str | None:
        return self._conn.note

    @property
    def key_source(self) -> str:
        return self._conn.key_source

    def __repr__(self) -> str:
        return f"Session(backend={self.backend!r}, url={self.api_url!r})"

    def disconnect(self) -> None:
        """Release the HTTP connections (tunnels, the emulator and the ledger stay).

        Not ``close``: that name closes a tunnel (``close(tunnel_id)``, as the magic does).
        """
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc_info) -> None:
        self.disconnect()

    @property
    def client(self):
        """The REST client, built on first use (httpx is not imported before)."""
        if self._client is None:
            team = backends.setting("team_id") or backends.setting("team")
            self._client = backends.make_client(self._conn, team_id=team or None)
        return self._client

    @property
    def poll_interval(self) -> float:
        """The emulator may be polled fast; the real service no faster than every 10 s."""
        if self.backend == "local":
            return 0.25
        return max(10.0, float(backends.setting("poll_interval_seconds", 15.0)))

    def current_team(self) -> Any:
        """The team new resources go to: the one ``team use`` chose, else the API's current."""
        balance = self.client.balance()
        pinned = backends.setting("team_id")
        team = next((t for t in balance.teams if pinned and t.team_id == pinned), None)
        return team or balance.current

    def whoami(self) -> dict[str, Any]:
        team = self.current_team()
        return {
            "backend": self.backend,
            "url": self.api_url,
            "key": self.key_source,
            "team": f"{team.team_name} ({team.team_id})" if team else "-",
            "role": getattr(team, "role", None) or "-",
            "balance": f"${team.balance:,.2f}" if team and team.balance is not None else "-",
        }

    # -- offers -----------------------------------------------------------------------------
    def offers(self, query: Any = None, **filters: Any) -> list[Any]:
        """Available offers matching ``query`` (an ``OfferQuery``) or keyword filters."""
        from ..client import OfferQuery

        if query is None:
            query = OfferQuery(**{k: v for k, v in filters.items() if v is not None})
        return list(self.client.find_offers(query))

    # -- instances --------------------------------------------------------------------------
    def instances(self, *, all: bool = False) -> list[InstanceView]:
        """Every instance the API lists, plus ledger entries it no longer knows (marked).

        Reconciles as it goes: a status the API reports is written to the ledger (with an
        event when it changed), so a restarted kernel, the reaper and the sidebar agree.
        """
        records = {r.id: r for r in self.ledger.instances(self.api_url)}
        views: dict[str, InstanceView] = {}
        for inst in self.client.list_instances():
            view = InstanceView.from_api(inst, self.backend, records.get(str(inst.id)))
            self._reconcile(view, records.get(view.id))
            views[view.id] = view
        def newer_named(rec: InstanceRecord) -> InstanceView | None:
            # Older instances may carry the same (user-chosen) name: only one created after
            # the launch began can be its answer (2 minutes' grace for clock skew).
            # An instance the ledger already knows is some other launch's answer.
            return next((v for v in views.values() if v.name == rec.name
                         and v.id not in records and (
                v.created_at is None or rec.created_at is None
                or v.created_at >= rec.created_at - 120)), None)

        for rec in records.values():
            if rec.id in views or not rec.active:
                continue
            if rec.id.startswith("pending:"):
                # A launch whose create answer never came: the unique name tells if it exists.
                found = newer_named(rec)
                if found is not None:
                    self.ledger.rename_instance(self.api_url, rec.id, found.id)
                else:
                    views[rec.id] = InstanceView.from_record(rec)
                continue
            # The listing may page or filter terminated ones away: ask for this one directly.
            view = self._fetch(rec)
            if view is not None:
                views[view.id] = view
        out = sorted(views.values(), key=lambda v: v.created_at or 0)
        return out if all else [v for v in out if v.active]

    def _fetch(self, rec: InstanceRecord) -> InstanceView | None:
        from ..client import NotFoundError

        try:
            inst = self.client.get_instance(rec.id)
        except NotFoundError:
            if rec.status == "creating":
                return None  # a launch that never got an id; launch() cleans these up
            self.ledger.record_instance(InstanceRecord(self.api_url, rec.id, self.backend,
                                                       status="gone", terminated_at=time.time()))
            self.ledger.add_event(self.api_url, rec.id, "gone", "the API no longer knows it")
            return None
        view = InstanceView.from_api(inst, self.backend, rec)
        self._reconcile(view, rec)
        return view

    def _reconcile(self, view: InstanceView, rec: InstanceRecord | None) -> None:
        if rec is not None and rec.status == view.status:
            return
        if rec is not None:
            self.ledger.add_event(self.api_url, view.id, "status",
                                  f"{rec.status or '?'} -> {view.status}")
        self.ledger.record_instance(InstanceRecord(
            self.api_url, view.id, self.backend, name=view.name, status=view.status,
            created_at=view.created_at or (None if rec else time.time()),
            hourly_rate=view.hourly_rate,
            terminated_at=view.stopped_at if not view.active else None,
            extra={"gpu": view.gpu, "gpu_count": view.gpu_count, "provider": view.provider,
                   "region": view.region, **self._emulator_extra(),
                   # where the Lab server's GPU read-out reaches it (server/gpu_state.py)
                   **({"ssh": [view.ip, view.ssh_port, view.user]} if view.ip else {})},
        ))

    def _emulator_extra(self) -> dict[str, str]:
        """Rows of our managed emulator name its state dir, so %load_ext can tell if it runs."""
        state = self._conn.emulator_state
        return {"emulator_state": state} if state else {}

    def resolve(self, ref: str, *, all: bool = False) -> InstanceView:
        """An instance by API id, name, or a unique prefix of either.

        A name means the billing instance of that name: an ended one only by its id or with
        ``all`` (names are reused: yesterday's ``my-run`` must not answer for today's), and
        two billing ones of one name are ambiguous (listed, never picked silently).
        """
        ref = (ref or "").strip()
        if not ref:
            raise UnknownInstanceError("name an instance: its id, its name or a unique prefix")
        candidates = self.instances(all=True)
        exact = [v for v in candidates if v.id == ref]
        if exact:
            return exact[0]
        for pool in ([v for v in candidates if v.name == ref],
                     [v for v in candidates
                      if v.id.startswith(ref) or (v.name or "").startswith(ref)]):
            active = [v for v in pool if v.active]
            if len(active) > 1:
                raise AmbiguousReferenceError(ref, [f"{v.id} ({v.name}, {v.status})"
                                                    for v in active])
            if active:
                return active[0]
            if pool and all:
                return max(pool, key=lambda v: v.created_at or 0.0)
            if pool:
                ended = max(pool, key=lambda v: v.created_at or 0.0)
                raise UnknownInstanceError(
                    f"no billing instance {ref!r}: {ended.name or ended.id} ({ended.id}) is "
                    f"{ended.status}; use its id or --all to mean it")
        raise UnknownInstanceError(
            f"no instance {ref!r} on the {self.backend} backend: %spheron ls --all lists them")

    def status(self, ref: str, *, all: bool = False) -> InstanceView:
        return self.resolve(ref, all=all)

    def wait_until(self, ref: str, statuses: tuple[str, ...] = ("running",), *,
                   timeout: float | None = None,
                   progress: Progress | None = None) -> InstanceView:
        """Poll until the instance reaches one of ``statuses`` (or ends, or times out)."""
        return self.await_status(self.resolve(ref), statuses, timeout=timeout, progress=progress)

    def await_status(self, view: InstanceView, statuses: tuple[str, ...], *,
                     timeout: float | None = None,
                     progress: Progress | None = None) -> InstanceView:
        """Poll one instance until it reaches ``statuses``, riding over API outages.

        An outage (5xx, unreachable, 429) is one line when it starts and one when it ends,
        with backoff in between; the wait stops only at ``timeout`` (the setting
        ``launch_timeout_minutes``, 60 by default), naming the instance that bills.
        """
        from ..client import ApiUnreachableError, RateLimitedError, ServiceUnavailableError

        say = progress or (lambda stage, detail: None)
        budget = timeout if timeout is not None else 60.0 * float(
            backends.setting("launch_timeout_minutes", 60.0))
        deadline = time.monotonic() + budget
        label = f"{view.name or view.id} ({view.id})"
        say("waiting", f"waiting up to {budget / 60:.0f} min for {label} to be "
                       f"{' or '.join(statuses)}")
        last, outage, failures = None, None, 0
        while True:
            if view.status != last:
                say(view.status, f"{view.name or view.id} is {view.status}")
            last = view.status
            if view.status in statuses:
                return view
            if not view.active:
                raise SessionError(f"instance {label} is {view.status}, so it no longer bills: "
                                   f"%spheron events {view.id} says why")
            if time.monotonic() > deadline:
                raise LaunchWaitStoppedError(
                    f"{label} is still {view.status} after {budget / 60:.0f} min and may be "
                    f"billing: re-run the launch to keep waiting, %spheron status {view.id} "
                    f"watches it, %spheron terminate {view.id} ends it",
                    instance_id=view.id, name=view.name)
            delay = self.poll_interval
            if outage is not None:
                delay = min(30.0, self.poll_interval * 2 ** min(failures, 6))
            time.sleep(delay)
            try:
                view = self.refresh(view)
            except (ServiceUnavailableError, ApiUnreachableError, RateLimitedError) as exc:
                failures += 1
                if outage is None:
                    outage = time.monotonic()
                    say("api", f"API slow/unavailable ({exc.message.rstrip('.')}); still waiting "
                               f"for {label}, which may be billing")
                if isinstance(exc, RateLimitedError) and exc.retry_after:
                    time.sleep(min(float(exc.retry_after), max(0.0, deadline - time.monotonic())))
                continue
            if outage is not None:
                say("api", f"the API answers again after {time.monotonic() - outage:.0f} s")
                outage, failures = None, 0

    def refresh(self, view: InstanceView) -> InstanceView:
        """One GET for one instance (not a whole listing: the API's rate limit is small)."""
        rec = self.ledger.instance(self.api_url, view.id) or InstanceRecord(
            self.api_url, view.id, self.backend, status=view.status)
        return self._fetch(rec) or view

    # -- terminate --------------------------------------------------------------------------
    def terminate(self, ref: str, *, when_allowed: bool = False) -> TerminateResult:
        """Terminate now, or explain the minimum runtime; ``when_allowed`` schedules it.

        The schedule is a detached ``python -m spheron_jupyter.session.reaper`` process, so it
        runs even if this kernel dies first.
        """
        from ..client import AlreadyTerminatedError, MinimumRuntimeError
        from .money import minimum_runtime_text

        view = self.resolve(ref)
        if view.id.startswith("pending:"):
            # A launch whose create was never confirmed and that the API never listed.
            self.ledger.forget_instance(self.api_url, view.id)
            return TerminateResult(view, terminated=False, message=(
                f"forgot the unconfirmed launch {view.name}: the API has no instance by that name"))
        if not view.active:
            raise SessionError(f"instance {view.name or view.id} is already {view.status}")
        check = self.client.can_terminate(view.id)
        if not check.can_terminate:
            remaining = getattr(check, "time_remaining", None)
            minimum = getattr(check, "minimum_runtime", None)
            if not when_allowed:
                raise SessionError(minimum_runtime_text(remaining, minimum))
            return self._schedule_termination(view, remaining)
        try:
            self.client.terminate(view.id)
        except MinimumRuntimeError as exc:  # raced the clock: the API has the last word
            if not when_allowed:
                raise SessionError(minimum_runtime_text(exc.minutes_remaining)) from None
            return self._schedule_termination(view, exc.minutes_remaining)
        except AlreadyTerminatedError:
            pass
        self.ledger.record_instance(InstanceRecord(self.api_url, view.id, self.backend,
                                                   status="terminated",
                                                   terminated_at=time.time()))
        self.ledger.add_event(self.api_url, view.id, "terminated", "terminated by you")
        self._after_terminate(view)
        view.status = "terminated"
        return TerminateResult(view, terminated=True,
                               message=f"terminated {view.name or view.id}; "
                               f"cost so far {_usd(view.cost_so_far)}")

    def _schedule_termination(self, view: InstanceView, remaining: float | None) -> TerminateResult:
        from . import reaper

        pid = reaper.spawn(self._conn, view.id, ledger_path=self.ledger.path)
        self.ledger.record_instance(InstanceRecord(self.api_url, view.id, self.backend,
                                                   reaper_pid=pid))
        self.ledger.add_event(self.api_url, view.id, "terminate-scheduled",
                              f"reaper pid {pid}, {remaining if remaining is not None else '?'} min left")
        when = (f"in about {remaining:g} minute{'s' if remaining != 1 else ''}"
                if remaining is not None else "as soon as allowed")
        return TerminateResult(
            view, terminated=False, scheduled=True, minutes_remaining=remaining,
            message=f"{view.name or view.id} will be terminated {when}, by a helper process "
            f"(pid {pid}) that outlives this kernel",
        )

    def _after_terminate(self, view: InstanceView) -> None:
        """Close its tunnels and forget a trust-on-first-use host key (ids are never reused)."""
        for tunnel in self.ledger.tunnels(self.api_url):
            if tunnel.instance_id == view.id:
                try:
                    self.close(tunnel.id)
                except Exception:  # the tunnel may already be gone with the instance
                    self.ledger.close_tunnel(tunnel.id)
        from . import sshbridge

        sshbridge.forget_host_key(view.id)
        _remove_kernelspecs(view.id)


def _remove_kernelspecs(instance_id: str) -> None:
    """Its `%spheron kernel` kernelspecs go with it (kernel/spec.py owns them)."""
    try:
        from ..kernel.spec import remove_for_instance

        remove_for_instance(instance_id)
    except Exception:  # a leftover kernelspec must not fail a terminate
        pass


def _usd(amount):
    from .money import usd

    return usd(amount)
