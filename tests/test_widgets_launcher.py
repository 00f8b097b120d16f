"""The launcher's progress on an emulator whose instances take a while to boot: the click
returns at once (the kernel stays free) and the widget shows deploying, then running, then
SSH ready, each as it happens."""

from __future__ import annotations

import time

from spheron_jupyter.session.core import Session

BOOT_SECONDS = 2.0


def test_launch_click_returns_at_once_and_progress_shows_each_stage(emulator_factory, closing):
    from spheron_jupyter.notebook.widgets.launcher import Launcher

    emulator = emulator_factory(boot_seconds=f"{BOOT_SECONDS}s")
    session = Session("local", url=emulator.url, api_key=emulator.api_key)
    offer = session.offers(gpu="rtx-4090")[0]
    launcher = Launcher(session, offer, lease="")
    closing(launcher)
    launcher.name.value = "slow-box"
    assert launcher.wait_idle(60) and not launcher.confirm.disabled

    stages, shown = [], []
    own_stage = launcher._stage
    launcher._stage = lambda stage, detail: (stages.append(stage), own_stage(stage, detail))
    launcher.progress.observe(lambda change: shown.append(change.new), names="value")
    started = time.monotonic()
    launcher.confirm.click()
    clicked = time.monotonic() - started
    assert clicked < BOOT_SECONDS / 2, f"the click took {clicked:.2f} s: it waited for the launch"
    launcher.ui.flush()
    assert launcher.confirm.disabled and launcher.instance is None

    assert launcher.wait_idle(120) and launcher.instance is not None, launcher.last_message
    assert stages[0] == "creating" and stages[-1] == "ssh"
    assert stages.index("deploying") < stages.index("running") < stages.index("ssh")

    def done(value: str, stage: str) -> bool:
        return f"spheron-stage-{stage}'>&#10003;" in value

    # The instance was seen deploying (and not yet running) in the widget itself.
    assert any(done(v, "deploying") and not done(v, "running") for v in shown), shown
    assert all(done(shown[-1], s) for s in ("creating", "deploying", "running", "ssh"))
    assert launcher.last_message[1] == "ok" and "slow-box" in launcher.last_message[0]
    (view,) = session.instances()
    assert view.name == "slow-box" and view.status == "running"


def test_volume_choices_follow_the_chosen_region(emulator, closing):
    from spheron_jupyter.notebook.widgets.launcher import NO_VOLUME, Launcher

    session = Session("local", url=emulator.url, api_key=emulator.api_key)
    offer = next(o for o in session.offers(provider="data-crunch") if len(o.regions) > 1)
    first, second = offer.regions[:2]
    session.create_volume("far", size_gb=20, provider="data-crunch", region=second)
    launcher = Launcher(session, offer, lease="")
    closing(launcher)
    assert launcher.wait_idle(60) and launcher.region.value == first
    assert list(launcher.volume.options) == [NO_VOLUME]
    assert "1 other volume(s)" in launcher.volume.tooltip

    launcher.region.value = second  # now the volume can attach: it is offered
    launcher.ui.flush()
    assert list(launcher.volume.options) == [NO_VOLUME, "far"] and launcher.volume.tooltip == ""
    launcher.volume.value = "far"
    assert launcher.wait_idle(60) and launcher.plan.volumes == ["far"]
    assert launcher.plan.region == second

    launcher.region.value = first  # and no longer: the choice goes back to none
    launcher.ui.flush()
    assert list(launcher.volume.options) == [NO_VOLUME] and launcher.volume.value == NO_VOLUME
    assert launcher.wait_idle(60) and launcher.plan.volumes == [] and launcher.plan.region == first


def _credit(emulator, team_id: str, amount: float) -> None:
    import json
    import urllib.request

    request = urllib.request.Request(
        f"{emulator.url}/_emulator/teams/{team_id}/credit", data=json.dumps({"amount": amount}).encode(),
        headers={"Authorization": f"Bearer {emulator.api_key}", "Content-Type": "application/json"},
        method="POST")
    urllib.request.urlopen(request, timeout=10).close()


def test_a_launch_failing_after_its_create_keeps_the_form_locked(emulator_factory, closing):
    from spheron_jupyter.notebook.widgets.launcher import Launcher
    from tests.support.magic_shell import emulator_counts
    from tests.test_widgets_kernel import _faults

    emulator = emulator_factory(boot_seconds=f"{BOOT_SECONDS}s")
    session = Session("local", url=emulator.url, api_key=emulator.api_key)
    launcher = Launcher(session, session.offers(gpu="rtx-4090")[0], lease="")
    closing(launcher)
    launcher.name.value = "half-box"
    assert launcher.wait_idle(60) and not launcher.confirm.disabled
    # Refused before anything exists: the team's credit is gone (a 5xx on the create would be
    # an unknown outcome: the server may have committed it).
    team = session.client.resolve_team_id()
    _credit(emulator, team, -1_000_000)
    launcher.confirm.click()
    assert launcher.wait_idle(60) and "nothing was created" not in launcher.last_message[0]
    assert "balance" in launcher.last_message[0].lower(), launcher.last_message
    _credit(emulator, team, 1_000_000)
    launcher.ui.flush()  # the form is free again: nothing bills
    assert not launcher.confirm.disabled and launcher.created is None
    assert emulator_counts(emulator)[0] == 0
    own_stage = launcher._stage

    def stage(name: str, detail: str) -> None:
        if name == "deploying":  # created: from now on the API fails the wait
            _faults(emulator, "503@GET /api/deployments*")
        own_stage(name, detail)

    from spheron_jupyter.session.backends import save_setting

    save_setting("launch_timeout_minutes", 0.1)  # the wait rides over the outage for 6 s only
    launcher._stage = stage
    launcher.confirm.click()
    assert launcher.wait_idle(60)
    text, kind = launcher.last_message
    assert kind == "error" and "still deploying" in text, text
    assert "half-box may be billing: it was created as " in text and "%spheron panel" in text
    launcher.ui.flush()
    assert launcher.confirm.disabled and launcher.confirm.description == "launch failed after create"
    assert launcher.name.disabled and launcher.instance is None
    launcher.launch()  # another try would create a second instance: refused
    assert launcher.wait_idle(10) and emulator_counts(emulator)[0] == 1
    _faults(emulator, "")
    (view,) = session.instances()
    assert view.name == "half-box" and view.id == launcher.created.id


def test_a_failing_startup_script_is_reported_when_the_launch_ends(emulator, closing):
    from spheron_jupyter.notebook.widgets.launcher import Launcher

    session = Session("local", url=emulator.url, api_key=emulator.api_key)
    offer = next(o for o in session.offers(gpu="rtx-4090") if o.supports_cloud_init)
    launcher = Launcher(session, offer, lease="")
    closing(launcher)
    launcher.name.value = "bad-script-box"
    launcher.startup.value = "echo about-to-fail\nexit 3"
    assert launcher.wait_idle(60) and launcher.plan.startup
    launcher.confirm.click()
    assert launcher.wait_idle(120) and launcher.instance is not None, launcher.last_message
    text, kind = launcher.last_message
    assert kind == "warn" and "running and SSH is ready" in text, launcher.last_message
    assert "startup script ended with status" in text and "--startup shows why" in text
    launcher.ui.flush()
    assert "startup script ended with status" in launcher.progress.value
