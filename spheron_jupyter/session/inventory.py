"""Instances: listing (the ledger reconciled with the API, the API wins), names, waiting and
terminating.

A name means the billing instance of that name; an ended one is reached only by its id or with
``all``. A ledger row ``pending:<name>`` is a launch whose create answer never came: listings
resolve it by name and creation time, and it stays until they do (it may be billing).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from ..client import (AlreadyTerminatedError, ApiUnreachableError, MinimumRuntimeError,
                      NotFoundError, RateLimitedError, ServiceUnavailableError)
from ..ledger import InstanceRecord, format_duration, lifecycle_of, usd
from .. import reaper
from .errors import (AmbiguousReferenceError, LaunchWaitStoppedError, SessionError,
                     UnknownInstanceError)
from .money import minimum_runtime_text
from .parts import Parts
from .views import InstanceView, TerminateResult

Progress = Callable[[str, str], None]
# Clock skew between us and the API when matching a lost create to a listed instance.
CREATE_SKEW_SECONDS = 120.0


class Inventory:
    def __init__(self, parts: Parts):
        self.parts = parts

    # -- listing ----------------------------------------------------------------------------
    def instances(self, *, all: bool = False) -> list[InstanceView]:
        """Every instance the API lists, plus ledger rows it does not list (marked).

        Reconciles as it goes: a status the API reports is written to the ledger (with an
        event when it changed), so a restarted kernel, the reaper and the sidebar agree.
        """
        p = self.parts
        records = {r.id: r for r in p.ledger.instances(p.api_url)}
        views: dict[str, InstanceView] = {}
        for inst in p.client.list_instances():
            view = InstanceView.from_api(inst, p.backend, records.get(inst.id))
            self.reconcile(view, records.get(view.id))
            views[view.id] = view
        for rec in list(records.values()):
            if rec.id in views or not rec.active:
                continue
            if rec.id.startswith("pending:"):
                found = self.answer_of(rec, views.values(), set(records))
                if found is None:
                    views[rec.id] = InstanceView.from_record(rec)
                    continue
                # Its view was built before the row had its id: build it again from the row,
                # so this very listing shows the launch's lease (its "ends").
                adopted = self.adopt(rec, found.id)
                if adopted is not None and found.raw is not None:
                    records[found.id] = adopted
                    views[found.id] = InstanceView.from_api(found.raw, p.backend, adopted)
                continue
            # The listing may page or filter ended ones away: ask for this one directly.
            fetched = self.fetch(rec)
            if fetched is not None:
                views[fetched.id] = fetched
        out = sorted(views.values(), key=lambda v: v.created_at or 0)
        for view in out:
            self._add_lifecycle(view, records.get(view.id))
        return out if all else [v for v in out if v.active]

    def _add_lifecycle(self, view: InstanceView, rec: InstanceRecord | None) -> None:
        """What ends a billing instance and when, from the ledger (one wording in every view)."""
        if rec is not None and view.active:
            p = self.parts
            view.lifecycle = lifecycle_of(rec, p.ledger.events(p.api_url, view.id))

    @staticmethod
    def answer_of(rec: InstanceRecord, views: Iterable[InstanceView],
                  known: set[str]) -> InstanceView | None:
        """The listed instance a lost create (a ``pending:`` row) made: its name, created after
        the launch began, not already some other ledger row's; the newest when several are."""
        since = (rec.created_at or 0.0) - CREATE_SKEW_SECONDS
        found = [view for view in views if view.name == rec.name and view.id not in known
                 and (view.created_at is None or view.created_at >= since)]
        return max(found, key=lambda view: view.created_at or 0.0, default=None)

    def adopt(self, pending: InstanceRecord, instance_id: str) -> InstanceRecord | None:
        """A lost create found (``answer_of``): its ``pending:`` row takes the API's id, and
        the lease asked for at launch starts, since the create's answer that starts it never
        came (session/launching.py ``_create``). Returns the row under its id."""
        p = self.parts
        p.ledger.rename_instance(p.api_url, pending.id, instance_id)
        rec = p.ledger.instance(p.api_url, instance_id)
        if rec is None or not rec.lease_seconds:
            return rec
        # The countdown runs from its creation (ledger/lifecycle.py): the reaper ends it then.
        self.start_lease(instance_id, rec.lease_seconds,
                         (rec.created_at or time.time()) + rec.lease_seconds)
        return p.ledger.instance(p.api_url, instance_id)

    def start_lease(self, instance_id: str, lease_seconds: float, ends_at: float) -> None:
        """The reaper that ends a leased instance at ``ends_at`` and the event every view
        reads the countdown from (ledger/lifecycle.py); nothing if a reaper is already on it."""
        if self.parts.spawn_reaper(instance_id, not_before=ends_at) is not None:
            self.parts.event(instance_id, "lease", f"terminates after {lease_seconds:.0f} s")

    def fetch(self, rec: InstanceRecord) -> InstanceView | None:
        p = self.parts
        try:
            inst = p.client.get_instance(rec.id)
        except NotFoundError:
            p.ledger.record_end(p.api_url, rec.id, p.backend, "gone", "the API no longer knows it")
            reaper.clean_up_after(rec.id)
            return None
        view = InstanceView.from_api(inst, p.backend, rec)
        self.reconcile(view, rec)
        self._add_lifecycle(view, rec)
        return view

    def refresh(self, view: InstanceView) -> InstanceView:
        """One GET for one instance (not a whole listing: the API's rate limit is small)."""
        p = self.parts
        rec = p.ledger.instance(p.api_url, view.id) or InstanceRecord(
            p.api_url, view.id, p.backend, status=view.status)
        return self.fetch(rec) or view

    def reconcile(self, view: InstanceView, rec: InstanceRecord | None) -> None:
        """Write what the API says; an instance seen ending loses its tunnels and pins."""
        p = self.parts
        if rec is not None and rec.status == view.status:
            return
        if rec is not None:
            p.event(view.id, "status", f"{rec.status or '?'} -> {view.status}")
        p.ledger.record_instance(InstanceRecord(
            p.api_url, view.id, p.backend, name=view.name, status=view.status,
            created_at=view.created_at or (None if rec else time.time()),
            hourly_rate=view.hourly_rate,
            terminated_at=view.stopped_at if not view.active else None,
            extra={"gpu": view.gpu, "gpu_count": view.gpu_count, "provider": view.provider,
                   "region": view.region, **p.emulator_extra(),
                   # where the Lab server's GPU read-out reaches it (server/gpu_state.py)
                   **({"ssh": [view.ip, view.ssh_port, view.user]} if view.ip else {})},
        ))
        if rec is not None and rec.active and not view.active:
            self.after_end(view.id)

    def after_end(self, instance_id: str) -> None:
        """Reclaimed, failed or terminated elsewhere: its tunnels close (rows too), its pinned
        host key and kernelspecs go, as on our own terminate (reaper.py does the same)."""
        reaper.clean_up_after(instance_id)
        self.parts.ledger.close_tunnels_of(self.parts.api_url, instance_id)

    # -- names ------------------------------------------------------------------------------
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
            if pool:
                newest = max(pool, key=lambda v: v.created_at or 0.0)
                if all:
                    return newest
                raise UnknownInstanceError(
                    f"no billing instance {ref!r}: {newest.name or newest.id} ({newest.id}) is "
                    f"{newest.status}; use its id or --all to mean it")
        raise UnknownInstanceError(
            f"no instance {ref!r} on the {self.parts.backend} backend: %spheron ls --all "
            "lists them")

    # -- waiting ----------------------------------------------------------------------------
    def await_status(self, view: InstanceView, statuses: tuple[str, ...], *,
                     timeout: float | None = None,
                     progress: Progress | None = None) -> InstanceView:
        """Poll one instance until it reaches ``statuses``, riding over API outages.

        An outage (5xx, unreachable, 429) is one line when it starts and one when it ends,
        with backoff in between; the wait stops only at ``timeout`` (the setting
        ``launch_timeout_minutes``, 60 by default), naming the instance that bills.
        """
        p = self.parts
        say = progress or (lambda stage, detail: None)
        budget = timeout if timeout is not None else 60.0 * p.settings.launch_timeout_minutes
        deadline = time.monotonic() + budget
        label = f"{view.name or view.id} ({view.id})"
        say("waiting", f"waiting up to {format_duration(budget)} for {label} to be "
                       f"{' or '.join(statuses)}")
        last: str | None = None
        outage: float | None = None
        failures = 0
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
                    f"{label} is still {view.status} after {format_duration(budget)} and may be "
                    f"billing: re-run the launch to keep waiting, %spheron status {view.id} "
                    f"watches it, %spheron terminate {view.id} ends it",
                    instance_id=view.id, name=view.name)
            delay = p.poll_interval
            if outage is not None:
                delay = min(30.0, p.poll_interval * 2 ** min(failures, 6))
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

    # -- terminate --------------------------------------------------------------------------
    def terminate(self, ref: str, *, when_allowed: bool = False) -> TerminateResult:
        """Terminate now, or explain the minimum runtime; ``when_allowed`` schedules it.

        The schedule is a detached ``python -m spheron_jupyter.reaper`` process, so it
        runs even if this kernel dies first. Works on any billing status, unknown ones too.
        """
        p = self.parts
        view = self.resolve(ref)
        if view.id.startswith("pending:"):
            # A launch whose create was never confirmed and that the API does not list.
            p.ledger.forget_instance(p.api_url, view.id)
            return TerminateResult(view, terminated=False, message=(
                f"forgot the unconfirmed launch {view.name}: the API has no instance by that name"))
        if not view.active:
            raise SessionError(f"instance {view.name or view.id} is already {view.status}")
        check = p.client.can_terminate(view.id)  # a failing check says go: DELETE decides
        if not check.can_terminate:
            if not when_allowed:
                raise SessionError(minimum_runtime_text(check.time_remaining,
                                                        check.minimum_runtime))
            return self._schedule(view, check.time_remaining)
        try:
            p.client.terminate(view.id)
        except MinimumRuntimeError as exc:  # raced the clock: the API has the last word
            if not when_allowed:
                raise SessionError(minimum_runtime_text(exc.minutes_remaining)) from None
            return self._schedule(view, exc.minutes_remaining)
        except AlreadyTerminatedError:
            pass
        p.ledger.record_end(p.api_url, view.id, p.backend, "terminated", "terminated by you")
        reaper.clean_up_after(view.id)
        view.status = "terminated"
        return TerminateResult(view, terminated=True, message=(
            f"terminated {view.name or view.id}; cost so far {usd(view.cost_so_far)}"))

    def _schedule(self, view: InstanceView, remaining: float | None) -> TerminateResult:
        p = self.parts
        pid = p.spawn_reaper(view.id, replace=True)  # a lease's reaper would end it later
        if pid is None:  # one reaper per instance (ledger/store.py ``start_reaper``)
            raise SessionError(f"another kernel is scheduling {view.name or view.id}'s end now")
        p.event(view.id, "terminate-scheduled",
                f"reaper pid {pid}, {remaining if remaining is not None else '?'} min left")
        when = (f"in about {remaining:g} minute{'s' if remaining != 1 else ''}"
                if remaining is not None else "as soon as allowed")
        return TerminateResult(
            view, terminated=False, scheduled=True, minutes_remaining=remaining,
            message=f"{view.name or view.id} will be terminated {when}, by a helper process "
            "that outlives this kernel (%spheron lease ID --cancel cancels it)",
        )
