"""The volumes panel: list, create, attach and detach, with the providers' rules shown up front.

Where volumes exist comes from the API (``volume_regions``); how they attach is each
provider's rule (the same text ``%spheron volume --help`` gives). The attach and create forms
check a choice against those rules as it is made and say what would be refused, so the user
reads the rule before the API answers with an error.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as W

from ...session.resources import volume_row
from ..display import Table
from ..htmltext import text as html_text
from ._base import Panel, button, message_html

# How each provider's volumes attach. Only "same provider, same region" is universal.
ATTACH_RULES = {
    "voltage-park": ("one volume per instance and one instance per volume", False),
    "data-crunch": ("attachable to several instances at once, all in the volume's region", True),
}
NONE = ""


class VolumesPanel(Panel):
    title = "Volumes"

    def __init__(self, session: Any, *, load: bool = True):
        super().__init__(session)
        self.volumes: list[Any] = []
        self.instances: list[Any] = []
        self.regions: dict[str, list[str]] = {}
        self._build()
        if load:
            self.refresh()

    def _build(self) -> None:
        self.listing = W.HTML("loading volumes ...")
        self.listing.add_class("spheron-volumes-list")
        self.rules = W.HTML("")
        self.rules.add_class("spheron-volumes-rules")
        self.reload = button("refresh", css="spheron-volumes-refresh", width="90px")
        self.reload.on_click(lambda _: self.refresh())
        # create
        self.new_name = W.Text(placeholder="name", description="name", layout=W.Layout(width="240px"))
        self.new_size = W.BoundedFloatText(value=100, min=1, max=1_000_000, description="size GB",
                                           layout=W.Layout(width="180px"))
        self.new_provider = W.Dropdown(options=[NONE], description="provider",
                                       layout=W.Layout(width="240px"))
        self.new_region = W.Dropdown(options=[NONE], description="region",
                                     layout=W.Layout(width="200px"))
        self.create_button = button("create", css="spheron-volume-create", style="primary",
                                    width="90px")
        self.create_check = W.HTML("")
        self.new_provider.observe(lambda _: self._provider_changed(), names="value")
        for widget in (self.new_name, self.new_size, self.new_region):
            widget.observe(lambda _: self._check_create(), names="value")
        self.create_button.on_click(lambda _: self.create())
        # attach / detach
        self.volume = W.Dropdown(options=[("-", NONE)], description="volume",
                                 layout=W.Layout(width="300px"))
        self.instance = W.Dropdown(options=[("-", NONE)], description="instance",
                                   layout=W.Layout(width="300px"))
        self.attach_button = button("attach", css="spheron-volume-attach", width="80px")
        self.detach_button = button("detach", css="spheron-volume-detach", width="80px")
        self.attach_check = W.HTML("")
        self.attach_check.add_class("spheron-volume-check")
        for widget in (self.volume, self.instance):
            widget.observe(lambda _: self._check_attach(), names="value")
        self.attach_button.on_click(lambda _: self.attach())
        self.detach_button.on_click(lambda _: self.detach())
        self.root = W.VBox([
            W.HBox([W.HTML("<h4 style='margin:4px 0'>Spheron volumes</h4>"), self.reload]),
            self.listing, self.rules,
            W.HTML("<b>Create</b>"),
            W.HBox([self.new_name, self.new_size, self.new_provider, self.new_region,
                    self.create_button]),
            self.create_check,
            W.HTML("<b>Attach or detach</b>"),
            W.HBox([self.volume, self.instance, self.attach_button, self.detach_button]),
            self.attach_check, self.status,
        ])
        self.root.add_class("spheron-volumes")

    # -- data -------------------------------------------------------------------------------
    def refresh(self) -> None:
        def load() -> tuple[list[Any], list[Any], dict[str, list[str]]]:
            return (self.session.volumes(), self.session.instances(),
                    self.session.client.volume_regions())

        self.jobs.run("volumes", load, on_done=self._loaded)

    def _loaded(self, data: tuple[list[Any], list[Any], dict[str, list[str]]]) -> None:
        self.volumes, self.instances, self.regions = data
        names = {v.id: v.name or v.id for v in self.instances}
        self.ui.set(self.listing, value=Table(
            [volume_row(v, names) for v in self.volumes], empty="no volumes yet")._repr_html_())
        self.ui.set(self.rules, value=self._rules_html())
        providers = sorted(self.regions)
        if list(self.new_provider.options) != [NONE, *providers]:
            self.new_provider.options = [NONE, *providers]
        vol_options = [("-", NONE)] + [(f"{v.name} ({v.provider}, {v.region})", str(v.id))
                                       for v in self.volumes]
        inst_options = [("-", NONE)] + [(f"{v.name or v.id} ({v.provider}, {v.region}, {v.status})",
                                         v.id) for v in self.instances]
        self._keep_choice(self.volume, vol_options)
        self._keep_choice(self.instance, inst_options)
        self._check_attach()

    @staticmethod
    def _keep_choice(dropdown: W.Dropdown, options: list[tuple[str, str]]) -> None:
        chosen = dropdown.value
        dropdown.options = options
        dropdown.value = chosen if chosen in [v for _, v in options] else NONE

    def _rules_html(self) -> str:
        items = []
        for provider, regions in sorted(self.regions.items()):
            rule = ATTACH_RULES.get(provider, ("see the provider's documentation", False))[0]
            items.append(f"<li><b>{html_text(provider)}</b> in {html_text(', '.join(regions))}: "
                         f"{html_text(rule)}</li>")
        return ("<div><small>Volumes exist only with these providers and regions, and attach "
                "only to an instance of the same provider in the same region:<ul style='margin:2px 0'>"
                + "".join(items) + "</ul></small></div>")

    # -- rules before errors ----------------------------------------------------------------
    def _provider_changed(self) -> None:
        regions = self.regions.get(self.new_provider.value, [])
        self.new_region.options = [NONE, *regions] if regions else [NONE]
        self.new_region.value = regions[0] if regions else NONE
        self._check_create()

    def create_problem(self) -> str | None:
        if not self.new_name.value.strip():
            return "give the volume a name"
        if not self.new_provider.value:
            return "choose a provider: " + ", ".join(sorted(self.regions)) if self.regions else \
                "no provider offers volumes"
        if not self.new_region.value:
            return f"choose a region of {self.new_provider.value}"
        return None

    def _check_create(self) -> None:
        problem = self.create_problem()
        self.ui.set(self.create_check, value=message_html(problem or "", "warn"))
        self.ui.set(self.create_button, disabled=problem is not None)

    def attach_problem(self) -> str | None:
        """Why the chosen attach would be refused, in the provider's own terms; None if fine."""
        vol = next((v for v in self.volumes if str(v.id) == self.volume.value), None)
        inst = next((v for v in self.instances if v.id == self.instance.value), None)
        if vol is None or inst is None:
            return "choose a volume and an instance"
        if inst.status != "running" and inst.status != "deploying":
            return f"{inst.name or inst.id} is {inst.status}: volumes attach to active instances"
        if vol.provider != inst.provider:
            return (f"{vol.name} is a {vol.provider} volume; {inst.name or inst.id} runs on "
                    f"{inst.provider}: volumes attach only within their provider")
        if vol.region != inst.region:
            return (f"{vol.name} is in {vol.region} but {inst.name or inst.id} is in "
                    f"{inst.region}: volumes attach only within their region")
        attached = vol.attached_instance_ids
        if inst.id in attached:
            return None  # detach is the useful action here
        rule, multi = ATTACH_RULES.get(vol.provider, ("", True))
        if not multi and attached:
            return f"{vol.provider}: {rule}; {vol.name} is attached to {attached[0]}"
        if not multi and any(inst.id in v.attached_instance_ids for v in self.volumes):
            return f"{vol.provider}: {rule}; {inst.name or inst.id} already has a volume"
        return None

    def _check_attach(self) -> None:
        vol = next((v for v in self.volumes if str(v.id) == self.volume.value), None)
        attached = bool(vol and self.instance.value in vol.attached_instance_ids)
        problem = self.attach_problem()
        self.ui.set(self.attach_check, value=message_html(problem or "", "warn"))
        self.ui.set(self.attach_button, disabled=problem is not None or attached)
        self.ui.set(self.detach_button, disabled=not attached)

    # -- actions ----------------------------------------------------------------------------
    def create(self) -> None:
        problem = self.create_problem()
        if problem:
            self.say(problem, "warn")
            return
        name, size = self.new_name.value.strip(), float(self.new_size.value)
        provider, region = self.new_provider.value, self.new_region.value
        self.say(f"creating {name} ...")
        self.jobs.run("volume-create",
                      lambda: self.session.create_volume(name, size_gb=size, provider=provider,
                                                         region=region),
                      on_done=lambda vol: self._done(f"created {name} ({vol.id}), "
                                                     f"{size:g} GB in {region}"))

    def attach(self) -> None:
        problem = self.attach_problem()
        if problem:  # the rule, not the API's error
            self.say(problem, "warn")
            return
        self._volume_action("attach", self.session.attach_volume)

    def detach(self) -> None:
        self._volume_action("detach", self.session.detach_volume)

    def _volume_action(self, action: str, method: Any) -> None:
        volume, instance = self.volume.value, self.instance.value
        if not volume or not instance:
            self.say("choose a volume and an instance", "warn")
            return
        self.say(f"{action}ing ...")
        word = "to" if action == "attach" else "from"
        self.jobs.run(f"volume-{action}", lambda: method(volume, instance),
                      on_done=lambda pair: self._done(
                          f"{action}ed {pair[0].name} {word} {pair[1].name or pair[1].id}"))

    def _done(self, text: str) -> None:
        self.say(text, "ok")
        self._loaded((self.session.volumes(), self.session.instances(),
                      self.regions or self.session.client.volume_regions()))
