"""Planning a launch (what, where, what it can cost) and carrying it out without surprises.

``plan_launch`` only reads: it picks one offer and works out the price, the worst case and the
budget verdict. ``launch`` refuses an over-budget plan unless told ``yes``, writes the launch into
the ledger *before* the create request (by its unique name, so a lost response can be found
again), creates, attaches volumes, and waits: deploying -> running -> SSH ready.
"""

from __future__ import annotations

import secrets
import time
from typing import Any
from collections.abc import Callable, Iterable

from ..client.regions import match_region
from . import backends, sshbridge
from .errors import (LaunchOutcomeUnknownError, LaunchWaitStoppedError, NameInUseError,
                     NoMatchingOfferError, OverBudgetError, SessionError, UnknownGpuError)
from ..client.statuses import is_billing
from .ledger import InstanceRecord
from .money import DEFAULT_MINIMUM_MINUTES, parse_duration
from .views import InstanceView, LaunchPlan, _field

Progress = Callable[[str, str], None]


class LaunchMixin:
    def plan_launch(self, offer_id: str | None = None, *, gpu: str | None = None,
                    count: int | None = None, type: str | None = None,
                    region: str | None = None, provider: str | None = None,
                    os: str | None = None, max_price: float | None = None,
                    name: str | None = None, volumes: Iterable[str] = (),
                    startup: str | None = None, lease: Any = None) -> LaunchPlan:
        """Choose the offer (cheapest match, or ``offer_id``) and price the launch. Creates nothing."""
        lease_seconds = parse_duration(lease)
        if offer_id:
            offer = self._offer_by_id(str(offer_id))
        else:
            offer = self._cheapest(gpu=gpu, count=count, type=type, region=region,
                                   provider=provider, max_price=max_price)
        cloud_init = bool(_field(offer, "supports_cloud_init", "supportsCloudInit"))
        if startup and not cloud_init:
            raise SessionError(
                f"offer {_field(offer, 'offer_id', 'offerId')} has no cloud-init, so it cannot run "
                "a startup script: pick an offer with cloud-init, or run the script with "
                "%spheron exec after launch"
            )
        price = float(getattr(offer, "hourly_price", None) or _field(offer, "price", default=0.0))
        budget = backends.setting("budget_per_launch_usd")
        chosen_region = _pick_region(offer, region)
        volumes = list(volumes or [])
        self._check_volumes(volumes, offer, chosen_region)
        return LaunchPlan(
            offer=offer,
            name=name or self._unfinished_name(str(offer.offer_id))
            or _unique_name(_field(offer, "gpu_type", "gpuType", default="gpu")),
            hourly_rate=price,
            lease_seconds=lease_seconds,
            minimum_minutes=float(_field(offer, "minimum_runtime_minutes",
                                         "minimumRuntimeMinutes", default=DEFAULT_MINIMUM_MINUTES)),
            budget_usd=float(budget) if budget is not None else None,
            region=chosen_region,
            os=_pick_os(offer, os),
            volumes=volumes,
            startup=startup,
            pins_host_key=cloud_init,
        )

    def _unfinished_name(self, offer_id: str) -> str | None:
        """The name of this notebook's unfinished launch of this offer: a re-run of the cell
        keeps it, so launch() attaches to that instance instead of buying another."""
        for rec in self.ledger.instances(self.api_url):
            if (rec.active and rec.extra.get("launch") in ("unknown", "unfinished")
                    and rec.notebook == self.notebook and rec.offer == offer_id):
                return rec.name
        return None

    def _check_volumes(self, refs: list[str], offer: Any, region: str | None) -> None:
        """Refuse now a volume whose attach the API would refuse later.

        The attach happens after the create: a volume that cannot be attached must be found
        out before an instance is created and billing.
        """
        provider = str(_field(offer, "provider", default=""))
        for ref in refs:
            vol = self.resolve_volume(str(ref))
            name = _field(vol, "name", default=ref)
            where = (str(_field(vol, "provider", default="")), _field(vol, "region"))
            if where[0] != provider:
                raise SessionError(f"volume {name} is a {where[0]} volume and this offer runs on "
                                   f"{provider}: volumes attach only within their provider")
            if region and where[1] and where[1] != region:
                raise SessionError(f"volume {name} is in {where[1]} and this launch in {region}: "
                                   f"add --region {where[1]} or pick a volume there")
            attached = list(getattr(vol, "attached_instance_ids", None) or [])
            if provider == "voltage-park" and len(refs) > 1:
                raise SessionError("voltage-park attaches one volume per instance: give one --volume")
            if provider == "voltage-park" and attached:
                raise SessionError(f"voltage-park attaches a volume to one instance at a time: "
                                   f"{name} is attached to {attached[0]}; detach it first")

    def _offer_by_id(self, offer_id: str) -> Any:
        for group in self.client.gpu_offers():
            for offer in _field(group, "offers", default=[]):
                if str(_field(offer, "offer_id", "offerId")) != offer_id:
                    continue
                if not _field(offer, "available", default=True) or _field(offer, "maintenance"):
                    raise NoMatchingOfferError(
                        f"offer {offer_id} is not available right now: %spheron offers lists "
                        "the ones you can launch"
                    )
                return offer
        raise NoMatchingOfferError(f"no offer {offer_id!r}: %spheron offers lists them")

    def _cheapest(self, **filters: Any) -> Any:
        if not filters.get("gpu"):
            raise SessionError("say what to launch: --gpu MODEL or an OFFER_ID from %spheron offers")
        offers = self.offers(**filters, sort="price")
        if offers:
            return offers[0]
        if not self.offers(gpu=filters["gpu"]):
            raise UnknownGpuError(
                f"no GPU model {filters['gpu']!r} in the catalog: %spheron offers lists the models"
            )
        used = ", ".join(f"{k.replace('_', '-')}={v}" for k, v in filters.items() if v is not None)
        raise NoMatchingOfferError(
            f"no available offer matches {used}: loosen a filter (%spheron offers --gpu "
            f"{filters['gpu']} shows what there is)"
        )

    def launch(self, plan: LaunchPlan, *, wait: bool = True, yes: bool = False,
               progress: Progress | None = None) -> InstanceView:
        """Create the planned instance; with ``wait``, return once SSH answers.

        Money rules (issue 10): the name is reserved in the ledger before the create (one
        launch per name across every kernel of this user); a create whose answer is lost stays
        ``unknown`` under that name and a re-run attaches to it instead of creating; the wait
        rides over API outages and, if it stops, names the instance that bills.
        """
        if plan.over_budget and not yes:
            raise OverBudgetError(plan.worst_case_usd, plan.budget_usd, plan.worst_case_basis)
        say = progress or (lambda stage, detail: None)
        team_id = self.client.resolve_team_id()  # the team `team use` chose, else the current
        key_id = sshbridge.ensure_registered(self.client)
        listing = self.client.list_instances()  # the one GET /api/deployments before the POST
        view = self._attach_unfinished(plan, listing, say)
        pinned = view is not None and sshbridge.host_fingerprint(view.id) is not None
        if view is None:
            view, pinned = self._create(plan, listing, team_id, key_id, say, wait)
        if not wait:
            return view
        return self._finish(plan, view, pinned, say)

    def _attach_unfinished(self, plan: LaunchPlan, listing: list[Any],
                           say: Progress) -> InstanceView | None:
        """The instance of an earlier, unfinished launch of this plan (same name, notebook
        and offer), so re-running the cell waits for it instead of buying a second one."""
        rec = next((r for r in self.ledger.instances(self.api_url)
                    if r.name == plan.name and r.active), None)
        if rec is None or rec.extra.get("launch") not in ("unknown", "unfinished") \
                or rec.notebook != self.notebook or rec.offer != plan.offer_id:
            return None  # a different launch holds the name: the reservation refuses it
        if rec.id.startswith("pending:"):
            since = (rec.created_at or 0.0) - 120.0  # clock skew between us and the API
            known = {r.id for r in self.ledger.instances(self.api_url)}
            found = [i for i in listing if i.name == plan.name and is_billing(i.status)
                     and str(i.id) not in known
                     and (i.created_at is None or i.created_at.timestamp() >= since)]
            if not found:
                raise LaunchOutcomeUnknownError(
                    f"the earlier launch of {plan.name} got no answer and the API does not list "
                    "it yet; it may still appear and bill: re-run this in a minute (it attaches "
                    f"instead of creating), %spheron ls shows it, %spheron terminate {plan.name} "
                    "forgets the reservation", name=plan.name)
            inst = max(found, key=lambda i: i.created_at.timestamp() if i.created_at else 0.0)
            self.ledger.rename_instance(self.api_url, rec.id, str(inst.id))
            rec = self.ledger.instance(self.api_url, str(inst.id)) or rec
        else:
            inst = next((i for i in listing if str(i.id) == rec.id), None)
            if inst is None:
                return None
        view = InstanceView.from_api(inst, self.backend, rec)
        self._reconcile(view, rec)
        if not view.active:
            return None
        say("attach", f"attaching to {view.name} ({view.id}, {view.status}) from the earlier "
                      "launch instead of creating another")
        self.ledger.add_event(self.api_url, view.id, "attached", "a re-run of its launch")
        return view

    def _create(self, plan: LaunchPlan, listing: list[Any], team_id: str, key_id: str,
                say: Progress, wait: bool) -> tuple[InstanceView, bool]:
        from ..client import offer_to_create_request

        taken = [i for i in listing if i.name == plan.name and is_billing(i.status)]
        if taken:
            raise NameInUseError(
                f"an instance named {plan.name} is already {taken[0].status} ({taken[0].id}); "
                f"nothing was created: give another --name, or %spheron terminate {taken[0].id}")
        placeholder = f"pending:{plan.name}"
        holder = self.ledger.reserve_name(InstanceRecord(
            self.api_url, placeholder, self.backend, name=plan.name, status="creating",
            notebook=self.notebook, created_at=time.time(), hourly_rate=plan.hourly_rate,
            lease_seconds=plan.lease_seconds, offer=plan.offer_id,
            extra={**self._emulator_extra(), "launch": "creating"},
        ))
        if holder is not None:
            what = ("being launched" if holder.id.startswith("pending:")
                    else f"{holder.status} ({holder.id})")
            where = f" from {holder.notebook}" if holder.notebook else ""
            raise NameInUseError(
                f"{plan.name} is already {what}{where}; nothing was created: give another "
                f"--name, or see it with %spheron status {plan.name}")
        pin = sshbridge.prepare_host_key(plan.name) if plan.pins_host_key else None
        cloud_init = _cloud_init(pin, plan.startup) if plan.pins_host_key else None
        request = offer_to_create_request(
            plan.offer, name=plan.name, team_id=team_id,
            region=plan.region, os=plan.os, ssh_key_id=key_id, cloud_init=cloud_init,
        )
        say("creating", f"creating {plan.name} ({plan.offer_id}, ${plan.hourly_rate:.2f}/h)")
        try:
            inst = self.client.create_instance(
                request, known_ids=[str(i.id) for i in listing if i.name == plan.name])
        except BaseException as exc:
            if _nothing_created(exc):
                self.ledger.forget_instance(self.api_url, placeholder)
                raise
            self.ledger.record_instance(InstanceRecord(
                self.api_url, placeholder, self.backend, status="unknown",
                extra={"launch": "unknown"}))
            reason = getattr(exc, "message", None) or type(exc).__name__
            self.ledger.add_event(self.api_url, placeholder, "create-unknown", reason[:300])
            raise LaunchOutcomeUnknownError(
                f"the create of {plan.name} got no answer, so the instance may exist and bill; "
                f"its name stays reserved: re-run this launch to attach to it once the API lists "
                f"it (nothing new is created), %spheron ls shows it, %spheron terminate "
                f"{plan.name} ends it", name=plan.name) from None
        inst_id = str(inst.id)
        self.ledger.rename_instance(self.api_url, placeholder, inst_id)
        self.ledger.record_instance(InstanceRecord(
            self.api_url, inst_id, self.backend,
            extra={"launch": "unfinished" if wait else "done"}))
        view = InstanceView.from_api(inst, self.backend, self.ledger.instance(self.api_url, inst_id))
        self._reconcile(view, None)
        self.ledger.add_event(self.api_url, inst_id, "launched",
                              f"offer {plan.offer_id} at ${plan.hourly_rate:.2f}/h")
        if pin is not None:
            sshbridge.pin_host_key(pin, inst_id)
        for volume in plan.volumes:
            self.attach_volume(volume, inst_id)
        if plan.lease_seconds:
            from . import reaper

            pid = reaper.spawn(self._conn, inst_id, ledger_path=self.ledger.path,
                               not_before=time.time() + plan.lease_seconds)
            self.ledger.record_instance(InstanceRecord(self.api_url, inst_id, self.backend,
                                                       reaper_pid=pid))
            self.ledger.add_event(self.api_url, inst_id, "lease",
                                  f"terminates after {plan.lease_seconds:.0f} s")
        return view, pin is not None

    def _finish(self, plan: LaunchPlan, view: InstanceView, pinned: bool,
                say: Progress) -> InstanceView:
        inst_id = view.id
        try:
            view = self.await_status(view, ("running",), progress=say)
            fingerprint = sshbridge.wait_ssh_ready(self, view, pinned=pinned)
        except KeyboardInterrupt:
            raise LaunchWaitStoppedError(
                f"stopped waiting for {view.name} ({inst_id}), which is {view.status} and "
                f"billing: re-run this launch to keep waiting, %spheron status {view.name} "
                f"watches it, %spheron terminate {view.name} ends it",
                instance_id=inst_id, name=view.name) from None
        self.ledger.record_instance(InstanceRecord(self.api_url, inst_id, self.backend,
                                                   extra={"launch": "done"}))
        how = "pinned via cloud-init" if pinned else "trusted on first use"
        self.ledger.add_event(self.api_url, inst_id, "ssh-ready", f"host key {fingerprint} ({how})")
        say("ssh", f"SSH ready; host key {fingerprint} ({how})")
        if plan.startup:
            # SSH answers before cloud-init's runcmd ends: wait, so the script's effects exist.
            say("startup", "startup script running (%spheron logs ID --startup shows it)")
            status = sshbridge.wait_startup(sshbridge.target_for(view))
            self.ledger.add_event(self.api_url, inst_id, "startup-finished", f"cloud-init: {status}")
            if status in ("done", "unknown"):
                say("startup", f"startup script finished ({status})")
            else:
                say("startup", f"startup script ended with status {status!r}: "
                               f"%spheron logs {plan.name} --startup shows why")
        return view


def _nothing_created(exc: BaseException) -> bool:
    """True only when the API surely did not create: it refused (4xx) or never got the request."""
    from ..client import ApiUnreachableError, CreateOutcomeUnknownError, SpheronError

    if not isinstance(exc, SpheronError) or isinstance(exc, CreateOutcomeUnknownError):
        return False
    if isinstance(exc, ApiUnreachableError):
        return not exc.request_sent
    return exc.status is not None and 400 <= exc.status < 500


def _cloud_init(pin: Any, startup: str | None) -> dict[str, Any]:
    """Host-key files and sshd restart from the ssh layer, then the user's startup script."""
    init = sshbridge.host_key_cloud_init(pin) if pin is not None else {}
    init = {"writeFiles": list(init.get("writeFiles", [])), "runcmd": list(init.get("runcmd", []))}
    if startup:
        # One runcmd entry keeps the script's lines together, as cloud-init writes it verbatim.
        init["runcmd"].append(startup)
    return init


def _pick_region(offer: Any, region: str | None) -> str | None:
    clusters = list(_field(offer, "clusters", default=[]) or [])
    single = _field(offer, "region")
    choices = clusters or ([single] if single else [])
    if region is None:
        return choices[0] if choices else None
    if not choices:
        return region
    # Live ids may carry a routing prefix or be free text: match loosely, send the verbatim id.
    found = match_region(region, map(str, choices))
    if found is None:
        raise NoMatchingOfferError(
            f"offer {_field(offer, 'offer_id', 'offerId')} is not in region {region!r}; "
            f"it offers {', '.join(map(str, choices))}"
        )
    return found


def _pick_os(offer: Any, os: str | None) -> str | None:
    options = list(_field(offer, "os_options", "osOptions", default=[]) or [])
    if os is None:
        ubuntu = [o for o in options if "ubuntu" in str(o).lower()]
        return (ubuntu or options or [None])[0]
    if options and os not in options:
        raise SessionError(f"this offer has no OS {os!r}; choose one of: {', '.join(options)}")
    return os


def _unique_name(gpu: str) -> str:
    # Unique before the request: a lost create response is found again by this name.
    slug = "".join(c if c.isalnum() else "-" for c in str(gpu).lower()).strip("-")[:16]
    return f"nb-{slug}-{secrets.token_hex(3)}"
