"""Every instance-side subcommand through a real IPython shell against the real emulator."""

from __future__ import annotations

import time

from spheron_jupyter.notebook.htmltext import attr
from tests.support.magic_shell import emulator_counts


def _launched_id(sh) -> str:
    views = sh.context.session.instances()
    assert len(views) == 1
    return views[0].id


def test_whoami_offers_teams_keys(emulator_shell):
    sh = emulator_shell
    who = sh.ok("%spheron whoami").text
    assert "local" in who and "Personal" in who and "$250.00" in who
    offers = sh.ok("%spheron offers --gpu 'RTX 4090' --sort price --limit 3").text
    assert "RTX4090_PCIE" in offers and "$/hour" in offers and "offers" in offers
    html = sh.context.session  # the same rows render as HTML in a notebook
    from spheron_jupyter.notebook.commands.offers import offer_row
    from spheron_jupyter.notebook.display import Table

    table = Table([offer_row(o) for o in html.offers(gpu="h100")[:2]])
    markup = table._repr_html_()
    assert "<table>" in markup and "/VRAM-GB/h" in markup and "tex2jax_ignore" in markup
    teams = sh.ok("%spheron teams").text
    assert "Personal" in teams and "Research Lab" in teams
    assert "Research Lab" in sh.ok("%spheron team use 'Research Lab'").text
    assert "Research Lab" in sh.ok("%spheron whoami").text
    sh.ok("%spheron team use Personal")
    assert "no SSH keys" in sh.ok("%spheron keys").text or "SSH keys" in sh.ok("%spheron keys").text


def test_keys_add_and_remove(emulator_shell, tmp_path):
    from spheron_jupyter.ssh.hostkeys import make_host_key

    private, public = make_host_key()
    (tmp_path / "extra.pub").write_text(public + "\n")
    (tmp_path / "extra").write_text(private)
    sh = emulator_shell
    added = sh.ok(f"%spheron keys add {tmp_path / 'extra.pub'} --name extra").text
    assert "added key extra" in added
    assert "private key" in sh.usage_error(f"%spheron keys add {tmp_path / 'extra'}")
    key_id = next(k.id for k in sh.context.session.keys() if k.name == "extra")
    sh.ok(f"%spheron keys rm {key_id}")
    assert all(k.name != "extra" for k in sh.context.session.keys())


def test_launch_ls_status_ssh_exec_events_terminate(emulator_shell):
    sh = emulator_shell
    out = sh.ok("%spheron launch --gpu rtx-4090 --name trainer --lease 30m")
    assert "Launch plan" in out.text and "worst case" in out.text and "$/hour" in out.text
    assert "running, SSH ready" in out.text and "SSH ready; host key SHA256:" in out.text
    inst = _launched_id(sh)
    from spheron_jupyter.ssh.hostkeys import KnownHosts

    assert KnownHosts().lookup_fingerprint(inst) in out.text  # pinned under the instance id
    listing = sh.ok("%spheron ls").text
    assert "trainer" in listing and "cost so far" in listing and "running" in listing
    status = sh.ok(f"%spheron status {inst[:6]}").text  # a unique prefix of the id
    assert "trainer" in status and "30m" in status
    assert "trainer" in sh.ok("%spheron status tra").text  # a unique prefix of the name
    ssh_out = sh.ok("%spheron ssh trainer")
    ssh = ssh_out.text
    assert "HostKeyAlias=" + inst in ssh and "StrictHostKeyChecking yes" in ssh
    command = sh.context.session.ssh_info("trainer").command  # it has its own copy button
    assert command in ssh and f"data-copy='{attr(command)}'" in ssh_out.result._repr_html_()
    assert "UserKnownHostsFile" in ssh and "Host spheron-trainer" in ssh
    run = sh.ok("%spheron exec trainer -- echo hello from the GPU box")
    assert "hello from the GPU box" in run.text
    cell = sh.ok("%%spheron exec trainer\nfor i in 1 2 3; do echo line $i; done\necho oops >&2")
    assert "line 1\nline 2\nline 3" in cell.stdout and "oops" in cell.stderr
    assert "exited with status 4" in sh.usage_error("%spheron exec trainer -- sh -c 'exit 4'")
    events = sh.ok("%spheron events trainer").text
    for kind in ("launched", "deploying -> running", "ssh-ready", "exec", "lease"):
        assert kind in events
    # The emulator's minimum runtime is 3 s (reported as 1 minute): too early to terminate.
    early = sh.usage_error("%spheron terminate trainer --yes")
    assert "minimum runtime" in early and "--when-allowed" in early
    assert sh.context.session.resolve("trainer").status == "running"
    time.sleep(3.5)
    done = sh.ok("%spheron terminate trainer --yes").text
    assert "terminated trainer" in done
    assert KnownHosts().lookup(inst) is None  # ids are never reused: the pin goes with it
    assert "no instances running" in sh.ok("%spheron ls").text
    assert "terminated" in sh.ok("%spheron ls --all").text
    assert emulator_api_key_absent(sh)


def test_cell_launch_with_yaml_and_startup_script(emulator_shell):
    sh = emulator_shell
    out = sh.ok(
        "%%spheron launch --yes\n"
        "gpu: rtx-4090\n"
        "name: yaml-box\n"
        "lease: 1h\n"
        "startup: |\n"
        "  echo started-by-cloud-init > ~/startup-marker\n"
    )
    assert "yaml-box" in out.text and "startup script finished (done)" in out.text
    # launch waited for cloud-init, so the script's effects are there right away.
    marker = sh.ok("%spheron exec yaml-box -- cat startup-marker")
    assert "started-by-cloud-init" in marker.text
    assert "startup-finished" in sh.ok("%spheron events yaml-box").text


def test_no_wait_then_status_progresses(emulator_shell):
    sh = emulator_shell
    out = sh.ok("%spheron launch --gpu rtx-4090 --name quick --no-wait")
    assert "created (not waiting)" in out.text
    deadline = time.monotonic() + 30
    while sh.context.session.resolve("quick").status != "running":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert "deploying -> running" in sh.ok("%spheron events quick").text


def test_volumes_create_attach_detach_delete(emulator_shell):
    sh = emulator_shell
    sh.ok("%spheron launch --provider data-crunch --gpu h100 --name vbox --yes")
    vbox = sh.context.session.resolve("vbox")
    created = sh.ok(f"%spheron volume create data --size 50 --provider data-crunch --region {vbox.region}")
    assert "created volume data" in created.text
    ledger = sh.context.session.ledger  # volumes too are remembered across kernels
    assert [(v["name"], v["deleted_at"]) for v in ledger.volumes()] == [("data", None)]
    assert "data" in sh.ok("%spheron volumes").text
    sh.ok("%spheron volume attach data vbox")
    assert "vbox" in sh.ok("%spheron volumes").text
    sh.ok("%spheron volume detach data vbox")
    assert "not confirmed" in sh.usage_error("%spheron volume delete data")
    sh.ok("%spheron volume delete data --yes")
    assert emulator_counts(sh.emulator)[1] == 0
    assert ledger.volumes()[0]["deleted_at"]


def test_terminate_when_allowed_survives_the_kernel(emulator_factory, shell):
    """The schedule is carried out by a detached process: kill nothing of ours and it still runs."""
    from spheron_jupyter.session.core import Session

    emu = emulator_factory(minimum_runtime="4s")
    shell.context.session = Session("local", url=emu.url, api_key=emu.api_key)
    shell.ok("%spheron launch --gpu rtx-4090 --name later --yes")
    from spheron_jupyter.ssh.hostkeys import KnownHosts

    later = shell.context.session.resolve("later").id
    assert KnownHosts().lookup(later)
    out = shell.ok("%spheron terminate later --yes --when-allowed").text
    assert "will be terminated" in out and "outlives this kernel" in out
    assert "terminate scheduled" in shell.ok("%spheron ls").text
    # A fresh session (as after a kernel restart) watches it happen.
    fresh = Session("local", url=emu.url, api_key=emu.api_key)
    deadline = time.monotonic() + 30
    while fresh.resolve("later", all=True).status != "terminated":
        assert time.monotonic() < deadline, "the reaper did not terminate the instance"
        time.sleep(0.5)
    kinds = [e.kind for e in fresh.events(later)]
    assert "terminate-scheduled" in kinds and kinds[-1] == "terminated"
    while KnownHosts().lookup(later) is not None:  # the reaper cleans up as terminate does
        assert time.monotonic() < deadline, "the reaper did not forget the host key"
        time.sleep(0.2)


def emulator_api_key_absent(sh) -> bool:
    key = sh.emulator.api_key
    return all(key not in text for text in sh.transcript)


def test_load_ext_warns_about_instances_still_billing(emulator_shell, capsys):
    from spheron_jupyter.notebook import extension

    emulator_shell.ok("%spheron launch --gpu rtx-4090 --name billing --yes")
    extension.load_ipython_extension(emulator_shell.ip)  # as a new kernel's %load_ext would
    line = capsys.readouterr().out.strip()
    assert line.startswith("spheron: 1 instance may still be billing") and "billing" in line
    assert "\n" not in line


def test_events_follow_stops_on_interrupt(emulator_shell):
    from tests.support.magic_shell import interrupt_when_shown

    sh = emulator_shell
    sh.ok("%spheron launch --gpu rtx-4090 --name watched --yes")
    stop = interrupt_when_shown("ssh-ready")  # the stop button, once the follow has shown it
    try:
        out = sh.ok("%spheron events watched --follow")
    finally:
        stop.set()
    assert "launched" in out.stdout and "ssh-ready" in out.stdout and "[stopped]" in out.stdout


def test_offers_browse_opens_the_widget_with_the_filters(emulator_shell, monkeypatch):
    from spheron_jupyter.notebook import display

    # A terminal IPython would only print the widget's repr: one line says what to use instead.
    error = emulator_shell.usage_error("%spheron offers --browse --gpu h100")
    assert "needs Jupyter" in error and "%spheron offers" in error
    monkeypatch.setattr(display, "in_notebook", lambda: True)  # as in a kernel with a frontend
    out = emulator_shell.ok("%spheron offers --browse --gpu h100 --max-price 5")
    browser = out.result
    assert type(browser).__name__ == "OffersBrowser"
    assert browser.gpu.value == "h100" and browser.max_price.value == "5"
    browser.wait_idle()
    browser.close()


def test_use_cloud_with_a_configured_key_talks_the_same_routes(shell, emulator, monkeypatch):
    """The cloud backend is the same code path: pointed at the emulator, it just works."""
    monkeypatch.setenv("SPHERON_API_KEY", emulator.api_key)
    out = shell.ok(f"%spheron use cloud --url {emulator.url}")
    assert f"using the cloud backend at {emulator.url}" in out.text
    who = shell.ok("%spheron whoami").text
    assert "cloud" in who and "env SPHERON_API_KEY" in who and emulator.api_key not in who
    assert shell.context.session.poll_interval >= 10  # never poll the real service faster
    assert "no instances" in shell.ok("%spheron ls").text


def test_interrupting_a_launch_says_the_instance_keeps_billing(emulator_factory, shell):
    import os
    import signal
    import threading
    import time

    from spheron_jupyter.session.core import Session

    from tests.support.magic_shell import emulator_counts

    emu = emulator_factory(boot_seconds=10)
    shell.context.session = Session("local", url=emu.url, api_key=emu.api_key)
    done = threading.Event()

    def stop_mid_deploy():
        # Once the instance exists (not after a fixed 3 s, which a loaded machine may not reach
        # the create in), and well inside its 10 s boot.
        deadline = time.monotonic() + 60
        while emulator_counts(emu)[0] < 1 and time.monotonic() < deadline and not done.is_set():
            time.sleep(0.1)
        if not done.wait(1.0):
            os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=stop_mid_deploy, daemon=True).start()
    try:
        out = shell.ok("%spheron launch --gpu rtx-4090 --name impatient --yes")
    finally:
        done.set()
    assert "is deploying and billing" in out.text and "Traceback" not in out.text
    assert "re-run this launch to keep waiting" in out.text
    assert shell.context.session.resolve("impatient").status in ("deploying", "running")
