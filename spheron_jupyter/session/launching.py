"""Planning a launch (what, where, what it can cost) and carrying it out without surprises.

``plan`` only reads: the client chooses the offer (cheapest match or the id given, its region
and OS, the unknown-GPU error) and this works out the price, the worst case and the budget
verdict. ``launch`` refuses an over-budget plan unless told ``yes``, reserves the name in the
ledger *before* the create (one launch per name across this user's kernels), creates exactly
once, attaches volumes, and waits: deploying -> running -> SSH ready -> startup finished.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import timedelta

from ..client import (ApiUnreachableError, CloudInit, CreateOutcomeUnknownError, Instance, Offer,
                      OfferQuery, SpheronError, offer_to_create_request, pick_os, pick_region,
                      unique_instance_name)
from ..client.statuses import is_billing
from ..ledger import InstanceRecord
from . import sshbridge
from .account_key import ensure_registered
from .errors import (InstanceNotRunningError, LaunchOutcomeUnknownError, LaunchWaitStoppedError,
                     NameInUseError, NoMatchingOfferError, OverBudgetError, SessionError)
from .inventory import Inventory
from .money import DEFAULT_MINIMUM_MINUTES, parse_duration
from .notices import notices_to
from .parts import Parts
from .resources import Resources
from .views import InstanceView, LaunchPlan

Progress = Callable[[str, str], None]
# A create in flight longer than this was left by a kernel that stopped mid-create (the client
# gives up on an answer within a few minutes): its outcome is unknown, like a lost answer.
STALE_CREATE_SECONDS = 900.0


class Launcher:
    def __init__(self, parts: Parts, inventory: Inventory, resources: Resources):
        self.parts = parts
        self.inventory = inventory
        self.resources = resources

    def plan(self, offer_id: str | None = None, *, gpu: str | None = None,
             count: int | None = None, type: str | None = None, region: str | None = None,
             provider: str | None = None, os: str | None = None,
             max_price: float | None = None, name: str | None = None,
             volumes: Iterable[str] = (), startup: str | None = None,
             lease: str | timedelta | None = None) -> LaunchPlan:
        """Choose the offer (cheapest match, or ``offer_id``) and price the launch. Creates nothing."""
        lease_seconds = parse_duration(lease)
        settings = self.parts.settings
        if offer_id:
            offer = self._offer_by_id(str(offer_id))
        else:
            offer = self._cheapest(OfferQuery(
                gpu=gpu, count=count, type=type, region=region or settings.default_region,
                provider=provider, max_price=max_price), default_region=region is None)
        if startup and not offer.supports_cloud_init:
            raise SessionError(
                f"offer {offer.offer_id} has no cloud-init, so it cannot run a startup script: "
                "pick an offer with cloud-init, or run the script with %spheron exec after launch"
            )
        chosen_region = pick_region(offer, region)
        refs = [str(v) for v in volumes or []]
        self.resources.check_volumes(refs, offer, chosen_region)
        return LaunchPlan(
            offer=offer,
            name=name or self._unfinished_name(str(offer.offer_id))
            or unique_instance_name(offer.gpu_type),
            hourly_rate=offer.hourly_price or 0.0,
            lease_seconds=lease_seconds,
            minimum_minutes=offer.minimum_runtime_minutes or DEFAULT_MINIMUM_MINUTES,
            budget_usd=settings.budget_per_launch_usd,
            region=chosen_region,
            os=pick_os(offer, os) if offer.os_options or os else None,
            volumes=refs,
            startup=startup,
            pins_host_key=offer.supports_cloud_init,
        )

    def _unfinished_name(self, offer_id: str) -> str | None:
        """The name of this notebook's unfinished launch of this offer: a re-run of the cell
        keeps it, so launch() attaches to that instance instead of buying another."""
        records = self.parts.ledger.instances(self.parts.api_url)
        return next((rec.name for rec in records if self._resumable(rec, offer_id)), None)

    def _resumable(self, rec: InstanceRecord, offer_id: str) -> bool:
        """This notebook's launch of this offer, billing and unfinished: its answer was lost,
        its wait stopped, or the kernel that sent it stopped mid-create."""
        state = rec.extra.get("launch")
        stale = state == "creating" and time.time() - (rec.created_at or 0.0) > STALE_CREATE_SECONDS
        return (rec.active and (state in ("unknown", "unfinished") or stale)
                and rec.notebook == self.parts.notebook and rec.offer == offer_id)

    def _offer_by_id(self, offer_id: str) -> Offer:
        offer = next((o for o in self.parts.client.offers() if o.offer_id == offer_id), None)
        if offer is None:
            raise NoMatchingOfferError(f"no offer {offer_id!r}: %spheron offers lists them")
        if not offer.usable:
            raise NoMatchingOfferError(f"offer {offer_id} is not available right now: "
                                       "%spheron offers lists the ones you can launch")
        return offer

    def _cheapest(self, query: OfferQuery, *, default_region: bool) -> Offer:
        if not query.gpu:
            raise SessionError("say what to launch: --gpu MODEL or an OFFER_ID from %spheron offers")
        # One catalog download; an unknown model is the client's UnknownGpuError from it.
        offers = self.parts.client.find_offers(query)
        if offers:
            return offers[0]
        used = ", ".join(f"{k.replace('_', '-')}={v}" for k, v in (
            ("gpu", query.gpu), ("count", query.count), ("type", query.type),
            ("region", query.region), ("provider", query.provider),
            ("max_price", query.max_price)) if v is not None)
        where = " (region from the default_region setting)" if default_region and query.region \
            else ""
        raise NoMatchingOfferError(
            f"no available offer matches {used}{where}: loosen a filter (%spheron offers --gpu "
            f"{query.gpu} shows what there is)"
        )

    def launch(self, plan: LaunchPlan, *, wait: bool = True, yes: bool = False,
               progress: Progress | None = None) -> InstanceView:
        """Create the planned instance; with ``wait``, return once SSH answers.

        Money rules (issue 10): the name is reserved in the ledger before the create (one
        launch per name across every kernel of this user); a create whose answer is lost stays
        ``unknown`` under that name and a re-run attaches to it instead of creating; the wait
        rides over API outages and, if it stops, names the instance that bills.
        """
        if plan.over_budget and not yes and plan.budget_usd is not None:
            raise OverBudgetError(plan.worst_case_usd, plan.budget_usd, plan.worst_case_basis)
        say = progress or (lambda stage, detail: None)
        # Retries and rate-limit waits longer than a blip are told (client/_retry.py decides)
        # in the launch's progress, for this thread only (session/notices.py).
        with notices_to(lambda text: say("api", text)):
            return self._launch(plan, wait, say)

    def _launch(self, plan: LaunchPlan, wait: bool, say: Progress) -> InstanceView:
        team_id = self.parts.client.resolve_team_id()  # the team `team use` chose, else the current
        key_id = ensure_registered(self.parts.client)
        listing = self.parts.client.list_instances()  # the one GET /api/deployments before the POST
        view = self._attach_unfinished(plan, listing, say)
        pinned = view is not None and sshbridge.host_fingerprint(view.id) is not None
        if view is None:
            view, pinned = self._create(plan, listing, team_id, key_id, say, wait)
        if not wait:
            return view
        return self._finish(plan, view, pinned, say)

    def _attach_unfinished(self, plan: LaunchPlan, listing: list[Instance],
                           say: Progress) -> InstanceView | None:
        """The instance of an earlier, unfinished launch of this plan (same name, notebook
        and offer), so re-running the cell waits for it instead of buying a second one."""
        records = self.parts.ledger.instances(self.parts.api_url)
        rec = next((r for r in records if r.name == plan.name and r.active), None)
        if rec is None or not self._resumable(rec, plan.offer_id):
            return None  # a different launch holds the name: the reservation refuses it
        key = rec.id
        if rec.id.startswith("pending:"):
            billing = [InstanceView.from_api(i, self.parts.backend) for i in listing
                       if is_billing(i.status)]
            found = self.inventory.answer_of(rec, billing, {r.id for r in records})
            if found is None:
                raise LaunchOutcomeUnknownError(
                    f"the earlier launch of {plan.name} got no answer and the API does not list "
                    "it yet; it may still appear and bill: re-run this in a minute (it attaches "
                    f"instead of creating), %spheron ls shows it, %spheron terminate {plan.name} "
                    "forgets the reservation", name=plan.name)
            key = found.id
            rec = self.inventory.adopt(rec, key) or rec
        inst = next((i for i in listing if str(i.id) == key), None)
        if inst is None:
            return None
        view = InstanceView.from_api(inst, self.parts.backend, rec)
        self.inventory.reconcile(view, rec)
        if not view.active:
            return None
        say("attach", f"attaching to {view.name} ({view.id}, {view.status}) from the earlier "
                      "launch instead of creating another")
        self.parts.event(view.id, "attached", "a re-run of its launch")
        return view

    def _create(self, plan: LaunchPlan, listing: list[Instance], team_id: str, key_id: str,
                say: Progress, wait: bool) -> tuple[InstanceView, bool]:

        taken = [i for i in listing if i.name == plan.name and is_billing(i.status)]
        if taken:
            raise NameInUseError(
                f"an instance named {plan.name} is already {taken[0].status} ({taken[0].id}); "
                f"nothing was created: give another --name, or %spheron terminate {taken[0].id}")
        placeholder = f"pending:{plan.name}"
        holder = self.parts.ledger.reserve_name(InstanceRecord(
            self.parts.api_url, placeholder, self.parts.backend, name=plan.name, status="creating",
            notebook=self.parts.notebook, created_at=time.time(), hourly_rate=plan.hourly_rate,
            lease_seconds=plan.lease_seconds, offer=plan.offer_id,
            extra={**self.parts.emulator_extra(), "launch": "creating"},
        ))
        if holder is not None:
            what = ("being launched" if holder.id.startswith("pending:")
                    else f"{holder.status} ({holder.id})")
            where = f" from {holder.notebook}" if holder.notebook else ""
            raise NameInUseError(
                f"{plan.name} is already {what}{where}; nothing was created: give another "
                f"--name, or see it with %spheron status {plan.name}")
        from ..ssh import hostkeys  # paramiko: first used here

        pin = hostkeys.make_host_key() if plan.pins_host_key else None
        cloud_init = _cloud_init(pin, plan.startup) if plan.pins_host_key else None
        request = offer_to_create_request(
            plan.offer, name=plan.name, team_id=team_id,
            region=plan.region, os=plan.os, ssh_key_id=key_id, cloud_init=cloud_init,
        )
        say("creating", f"creating {plan.name} ({plan.offer_id}, ${plan.hourly_rate:.2f}/h)")
        try:
            inst = self.parts.client.create_instance(
                request, known_ids=[str(i.id) for i in listing if i.name == plan.name])
        except BaseException as exc:
            if _nothing_created(exc):
                self.parts.ledger.forget_instance(self.parts.api_url, placeholder)
                raise
            self.parts.ledger.record_instance(InstanceRecord(
                self.parts.api_url, placeholder, self.parts.backend, status="unknown",
                extra={"launch": "unknown"}))
            reason = getattr(exc, "message", None) or type(exc).__name__
            self.parts.event(placeholder, "create-unknown", reason[:300])
            raise LaunchOutcomeUnknownError(
                f"the create of {plan.name} got no answer, so the instance may exist and bill; "
                f"its name stays reserved: re-run this launch to attach to it once the API lists "
                f"it (nothing new is created), %spheron ls shows it, %spheron terminate "
                f"{plan.name} ends it", name=plan.name) from None
        inst_id = str(inst.id)
        self.parts.ledger.rename_instance(self.parts.api_url, placeholder, inst_id)
        self.parts.ledger.record_instance(InstanceRecord(
            self.parts.api_url, inst_id, self.parts.backend,
            extra={"launch": "unfinished" if wait else "done"}))
        view = InstanceView.from_api(inst, self.parts.backend, self.parts.ledger.instance(self.parts.api_url, inst_id))
        self.inventory.reconcile(view, None)
        self.parts.event(inst_id, "launched", f"offer {plan.offer_id} at ${plan.hourly_rate:.2f}/h")
        if pin is not None:
            hostkeys.KnownHosts().pin(inst_id, pin[1])  # the public half, before it answers
        for volume in plan.volumes:
            self.resources.attach_volume(volume, inst_id)
        if plan.lease_seconds:
            self.inventory.start_lease(inst_id, plan.lease_seconds,
                                       time.time() + plan.lease_seconds)
        return view, pin is not None

    def _finish(self, plan: LaunchPlan, view: InstanceView, pinned: bool,
                say: Progress) -> InstanceView:
        inst_id = view.id
        try:
            view = self.inventory.await_status(view, ("running",), progress=say)
            fingerprint, user = sshbridge.wait_ssh_ready(view, pinned=pinned,
                                                         poll=self.parts.poll_interval)
        except (KeyboardInterrupt, InstanceNotRunningError) as exc:  # interrupted, or no SSH
            raise LaunchWaitStoppedError(
                (f"{exc}; " if isinstance(exc, SessionError) else "") +
                f"stopped waiting for {view.name} ({inst_id}), which is {view.status} and "
                f"billing: re-run this launch to keep waiting, %spheron status {view.name} "
                f"watches it, %spheron terminate {view.name} ends it",
                instance_id=inst_id, name=view.name) from None
        view.user = user
        self.parts.ledger.record_instance(InstanceRecord(
            self.parts.api_url, inst_id, self.parts.backend,
            extra={"launch": "done", "ssh_user": user}))
        how = "pinned via cloud-init" if pinned else "trusted on first use"
        self.parts.event(inst_id, "ssh-ready", f"host key {fingerprint} ({how})")
        say("ssh", f"SSH ready; host key {fingerprint} ({how})")
        if plan.startup:
            # SSH answers before cloud-init's runcmd ends: wait, so the script's effects exist.
            say("startup", "startup script running (%spheron logs ID --startup shows it)")
            from ..ssh.remote import cloud_init_status

            status = cloud_init_status(sshbridge.target_for(view))
            self.parts.event(inst_id, "startup-finished", f"cloud-init: {status}")
            if status in ("done", "unknown"):
                say("startup", f"startup script finished ({status})")
            else:
                say("startup", f"startup script ended with status {status!r}: "
                               f"%spheron logs {plan.name} --startup shows why")
        return view


def _nothing_created(exc: BaseException) -> bool:
    """True only when the API surely did not create: it refused (4xx) or never got the request."""
    if not isinstance(exc, SpheronError) or isinstance(exc, CreateOutcomeUnknownError):
        return False
    if isinstance(exc, ApiUnreachableError):
        return not exc.request_sent
    return exc.status is not None and 400 <= exc.status < 500


def _cloud_init(pin: tuple[str, str] | None, startup: str | None) -> CloudInit:
    """Host-key files and sshd restart from the ssh layer, then the user's startup script."""
    from ..ssh.hostkeys import host_key_cloud_init

    init = host_key_cloud_init(*pin) if pin is not None else {}
    runcmd = list(init.get("runcmd", []))
    if startup:
        # One runcmd entry keeps the script's lines together, as cloud-init writes it verbatim.
        runcmd.append(startup)
    return CloudInit.model_validate({"writeFiles": list(init.get("writeFiles", [])),
                                     "runcmd": runcmd})
