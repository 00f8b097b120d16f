"""The launcher: name, OS, region, volume, startup script and lease for one offer; the plan with
its price, worst case and budget verdict; a confirm button; progress to SSH ready.

Every figure comes from ``Session.plan_launch`` (the same plan ``%spheron launch`` shows), and
the launch itself is ``Session.launch`` in a background job, so the kernel stays free while
the instance deploys and the progress lands in this launcher only.
"""

from __future__ import annotations

import threading
from typing import Any

import ipywidgets as W

from ..display import KeyValues
from ..htmltext import text as html_text
from ._base import Panel, button, message_html

STAGES = [("creating", "creating"), ("deploying", "deploying"), ("running", "running"),
          ("ssh", "SSH ready")]
NO_VOLUME = "none"


class LaunchUnfinished(Exception):
    """A launch failed after its create: says so, and that the instance may be billing."""


class Launcher(Panel):
    title = "Launcher"

    def __init__(self, session: Any, offer: Any, *, lease: str = "1h", load: bool = True):
        super().__init__(session)
        self.offer = offer
        self.plan = None
        self.instance = None  # the InstanceView once launched
        self.all_volumes: list[Any] = []  # every volume; those this offer can take are offered
        self.created = None  # the ledger's record when a launch failed after its create
        self.startup_note = ""
        self.stages_done: list[str] = []
        self._generation = 0
        self._lock = threading.Lock()
        self._launching = False
        self._build(lease)
        if load:
            self.jobs.run("volumes", self.session.volumes, on_done=self._volumes_loaded)
            self.replan()

    def _build(self, lease: str) -> None:
        o = self.offer
        wide = W.Layout(width="330px")
        self.name = W.Text(placeholder="automatic (sj-...)", description="name",
                           continuous_update=False, layout=wide)
        os_options = list(o.os_options or []) or ["default"]
        ubuntu = [x for x in os_options if "ubuntu" in x.lower()]
        self.os = W.Dropdown(options=os_options, value=(ubuntu or os_options)[0],
                             description="OS", layout=wide)
        regions = list(o.regions or []) or ["default"]
        self.region = W.Dropdown(options=regions, value=regions[0], description="region",
                                 layout=wide)
        self.volume = W.Dropdown(options=[NO_VOLUME], value=NO_VOLUME, description="volume",
                                 layout=wide)
        self.lease = W.Text(value=lease, placeholder="e.g. 30m, 2h; empty: no lease",
                            description="lease", continuous_update=False, layout=wide)
        self.startup = W.Textarea(placeholder="shell script run at boot (cloud-init)",
                                  description="startup", continuous_update=False,
                                  layout=W.Layout(width="500px", height="70px"))
        if not o.supports_cloud_init:
            self.startup.disabled = True
            self.startup.placeholder = ("this offer has no cloud-init: run setup with "
                                        "%spheron exec once it is up")
        self.over_budget_ok = W.Checkbox(value=False, description="launch even though the "
                                         "worst case is over my budget", indent=False,
                                         layout=W.Layout(display="none", width="400px"))
        self.plan_view = W.HTML("working out the plan ...")
        self.plan_view.add_class("spheron-launch-plan")
        self.confirm = button("Launch", css="spheron-launch-confirm", style="success",
                              width="340px")
        self.confirm.disabled = True
        self.confirm.on_click(lambda _: self.launch())
        self.progress = W.HTML("")
        self.progress.add_class("spheron-launch-progress")
        for widget, css in ((self.name, "name"), (self.os, "os"), (self.region, "region"),
                            (self.volume, "volume"), (self.lease, "lease"),
                            (self.startup, "startup")):
            widget.add_class(f"spheron-launch-{css}")
            widget.observe(lambda change: self.replan(), names="value")
        self.region.observe(lambda change: self._offer_volumes(), names="value")
        self.over_budget_ok.observe(lambda change: self._update_confirm(), names="value")
        title = f"Launch {o.gpu_count}x {o.gpu_type} from {o.provider} ({o.offer_id})"
        self.root = W.VBox([
            W.HTML(f"<h4 style='margin:6px 0'>{html_text(title)}</h4>"),
            W.HBox([W.VBox([self.name, self.os, self.region]),
                    W.VBox([self.volume, self.lease])]),
            self.startup, self.plan_view, self.over_budget_ok, self.confirm, self.progress,
            self.status,
        ])
        self.root.add_class("spheron-launcher")

    # -- volumes ----------------------------------------------------------------------------
    def _volumes_loaded(self, volumes: list[Any]) -> None:
        self.all_volumes = volumes
        self._offer_volumes()

    def _offer_volumes(self) -> None:
        """Offer only volumes this instance can take: same provider and region (the API's rule).

        Again whenever the region changes; a chosen volume of another region falls back to none.
        """
        volumes = self.all_volumes
        here = [v for v in volumes if v.provider == self.offer.provider
                and v.region == self.region.value]
        names = [NO_VOLUME, *[str(v.name or v.id) for v in here]]
        chosen = self.volume.value if self.volume.value in names else NO_VOLUME
        elsewhere = len(volumes) - len(here)
        tooltip = (f"{elsewhere} other volume(s) are with another provider or region and "
                   "cannot attach to this instance" if elsewhere else "")
        with self.ui.batch():
            self.ui.set(self.volume, options=names, value=chosen, tooltip=tooltip)

    # -- the plan ---------------------------------------------------------------------------
    def inputs(self) -> dict[str, Any]:
        return {
            "name": self.name.value.strip() or (self.plan.name if self.plan else None),
            "os": self.os.value if self.os.value != "default" else None,
            "region": self.region.value if self.region.value != "default" else None,
            "volumes": [] if self.volume.value == NO_VOLUME else [self.volume.value],
            "startup": self.startup.value if self.startup.value.strip() else None,
            "lease": self.lease.value.strip() or None,
        }

    def replan(self) -> None:
        """Work the plan out again in the background; only the newest answer is shown."""
        if self._launching or self.instance is not None or self.created is not None:
            return
        with self._lock:
            self._generation += 1
            generation = self._generation
        self.ui.set(self.confirm, disabled=True)
        inputs = self.inputs()
        self.jobs.run("plan", lambda: self.session.plan_launch(self.offer.offer_id, **inputs),
                      on_done=lambda plan: self._show_plan(plan, generation))

    def _show_plan(self, plan: Any, generation: int) -> None:
        if generation != self._generation:
            return  # a newer change is being planned
        self.plan = plan
        # The automatic name shows in the plan, never as the name box's placeholder: any trait
        # sent to a Text widget re-renders it from the model, wiping what the user is typing
        # (continuous_update=False holds keystrokes in the page until Enter or blur).
        self.ui.set(self.plan_view, value=KeyValues(plan.rows(), title="Plan")._repr_html_())
        self.ui.set(self.over_budget_ok.layout, display="flex" if plan.over_budget else "none")
        if plan.over_budget:
            self.say(f"the worst case {plan.worst_case_usd:,.2f} USD is over your budget of "
                     f"{plan.budget_usd:,.2f} USD ({plan.worst_case_basis})", "warn")
        else:
            self.say("")
        self._update_confirm()

    def _update_confirm(self) -> None:
        plan = self.plan
        blocked = (plan is None or self._launching or self.instance is not None
                   or self.created is not None
                   or (plan.over_budget and not self.over_budget_ok.value))
        if plan is not None:
            self.ui.set(self.confirm, description=f"Launch at ${plan.hourly_rate:,.2f}/h "
                        f"(worst case ${plan.worst_case_usd:,.2f})")
        self.ui.set(self.confirm, disabled=blocked)

    # -- launching --------------------------------------------------------------------------
    def launch(self) -> None:
        """Create the planned instance in the background and show each stage as it comes."""
        with self._lock:
            if (self._launching or self.plan is None or self.instance is not None
                    or self.created is not None):
                return
            plan = self.plan
            if plan.over_budget and not self.over_budget_ok.value:
                self.say("the plan is over budget: tick the box to launch anyway", "warn")
                return
            self._launching = True
        self.ui.set(self.confirm, disabled=True, description="launching ...")
        for widget in (self.name, self.os, self.region, self.volume, self.lease, self.startup):
            self.ui.set(widget, disabled=True)
        self.say(f"launching {plan.name} ...")
        self.stages_done = []  # a retry after a refused create starts over
        self.startup_note = ""
        self._stage("creating", "")
        self.jobs.run("launch", lambda: self._launch(plan), on_done=self._launched,
                      on_finally=self._launch_ended)

    def _launch(self, plan: Any) -> Any:
        def named() -> list[Any]:
            return [r for r in self.session.ledger.instances(self.session.api_url)
                    if r.name == plan.name]

        earlier = {r.id for r in named()}  # an older instance may carry a name the user chose
        try:
            return self.session.launch(plan, yes=self.over_budget_ok.value, progress=self._stage)
        except Exception as exc:
            # Failed after the create (the wait, SSH): the instance may exist and bill. The
            # ledger knows (written before the request); the form stays locked so a second
            # click cannot create a second one.
            self.created = next((r for r in named() if r.active and r.id not in earlier), None)
            if self.created is None:
                raise
            from ._background import one_line

            where = ("its create was never confirmed" if self.created.id.startswith("pending:")
                     else f"it was created as {self.created.id}")
            raise LaunchUnfinished(f"{one_line(exc)}; {plan.name} may be billing: {where}; "
                                   "%spheron panel shows it and can terminate it") from None

    def _stage(self, stage: str, detail: str) -> None:
        if stage == "startup":  # after SSH: the startup script running, then how it ended
            self.startup_note = detail
        names = [s for s, _ in STAGES]
        if stage in names and stage not in self.stages_done:
            # deploying is skipped by a fast boot: everything before the stage seen is done
            for earlier in names[: names.index(stage) + 1]:
                if earlier not in self.stages_done:
                    self.stages_done.append(earlier)
        parts = []
        for key, label in STAGES:
            mark = "&#10003;" if key in self.stages_done else "&#8230;"
            parts.append(f"<span class='spheron-stage-{key}'>{mark} {label}</span>")
        line = " &rarr; ".join(parts)
        if detail:
            line += f"<br>{message_html(detail)}"
        self.ui.set(self.progress, value=line)

    def _launched(self, view: Any) -> None:
        self.instance = view
        note = self.startup_note  # how the startup script ended, if there was one
        self._stage("ssh", note)
        failed = bool(note) and "finished" not in note
        self.say(f"{view.name} ({view.id}) is running and SSH is ready: see it in "
                 "%spheron panel" + (f"; {note}" if note else ""), "warn" if failed else "ok")
        self.ui.set(self.confirm, description="launched")

    def _launch_ended(self) -> None:
        self._launching = False
        if self.created is not None and self.instance is None:
            self.ui.set(self.confirm, disabled=True, description="launch failed after create")
        elif self.instance is None:  # failed: let the user change something and try again
            for widget in (self.name, self.os, self.region, self.volume, self.lease):
                self.ui.set(widget, disabled=False)
            self.ui.set(self.startup, disabled=not self.offer.supports_cloud_init)
            self._update_confirm()
