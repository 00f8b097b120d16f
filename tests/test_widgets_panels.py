"""Each panel driven against the real emulator: set values, click buttons, check the API's answer.

Clicks are ``button.click()`` (what a frontend's click message runs); the work they start runs
in background jobs, so each check waits for the panel (``wait_idle``) or for a condition.
"""

from __future__ import annotations

import time

import pytest

from spheron_jupyter.notebook.htmltext import DOLLAR
from spheron_jupyter.session.core import Session
from tests.support.magic_shell import emulator_counts


def wait_for(check, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture
def session(emulator):
    return Session("local", url=emulator.url, api_key=emulator.api_key)


def test_offers_region_cells_break_only_at_separators(session, closing):
    """A long region id ("166e655a:culpeper-usa-1", emulator/catalog.py) may wrap in its narrow
    cell only after "," "-" ":" or a space, never mid-word; the tooltip has every region."""
    import ipywidgets as W

    from spheron_jupyter.notebook.widgets.offers import COLUMNS, TABLE_CSS, OffersBrowser

    browser = OffersBrowser(session)
    closing(browser)
    assert browser.wait_idle()
    browser.provider.value = "sesterce"
    browser.ui.flush()
    assert browser.matches
    column = next(i for i, c in enumerate(COLUMNS) if c.title == "region")
    cell, offer = browser.rows[0][column], browser.matches[0]
    assert isinstance(cell, W.HTML) and "culpeper" in cell.value, cell.value
    assert "166e655a:<wbr>culpeper-<wbr>usa-<wbr>1" in cell.value
    # Every break opportunity follows a separator, and none is inside a word.
    pieces = cell.value.split("<wbr>")
    assert all(piece[-1] in ",-: " for piece in pieces[:-1]), pieces
    assert cell.value.replace("<wbr>", "") == COLUMNS[column].cell(offer)
    assert cell.tooltip == ", ".join(offer.regions)
    assert "overflow-wrap: normal" in TABLE_CSS and "anywhere" not in TABLE_CSS


def test_offers_browser_filters_sorts_and_pages(session, closing):
    from spheron_jupyter.notebook.widgets.offers import COLUMNS, PAGE_ROWS, OffersBrowser

    browser = OffersBrowser(session)
    closing(browser)
    assert browser.wait_idle()
    everything = len(browser.matches)
    assert everything > PAGE_ROWS and f"of {everything}" in browser.count_label.value
    # The same answer as the API-side selection `%spheron offers` uses.
    # (CPU-only machines are behind their own filter in this GPU browser.)
    assert [o.offer_id for o in browser.matches] == [o.offer_id for o in session.offers()
                                                    if o.gpu_count]
    prices = [float(o.hourly_price) for o in browser.matches]
    assert prices == sorted(prices)  # cheapest first by default

    browser.gpu.value = "RTX 4090"  # any spelling the client understands
    browser.type.value = "spot"
    browser.ui.flush()
    assert browser.matches and all(o.gpu_type == "RTX4090_PCIE" and o.kind == "spot"
                                   for o in browser.matches)
    browser.type.value = "any"
    browser.min_vram.value = "20"
    browser.max_price.value = "1.5"
    browser.ui.flush()
    assert all(o.gpu_memory >= 20 and o.hourly_price <= 1.5 for o in browser.matches)
    browser.max_price.value = "cheap"
    assert browser.last_message == ("max $/h: 'cheap' is not a number", "warn")
    assert browser.matches == []
    browser.max_price.value = ""

    vram = next(i for i, c in enumerate(COLUMNS) if c.title == "VRAM")
    browser.headers[vram].click()  # most VRAM first
    browser.ui.flush()
    totals = [o.total_vram_gb for o in browser.matches]
    assert totals == sorted(totals, reverse=True) and browser.headers[vram].description == "VRAM ▼"
    browser.headers[vram].click()  # and the other way round
    assert [o.total_vram_gb for o in browser.matches] == sorted(totals)
    per_gb = next(i for i, c in enumerate(COLUMNS) if c.title == "$/VRAM-GB")
    browser.headers[per_gb].click()
    browser.ui.flush()
    ratios = [o.hourly_price / o.total_vram_gb for o in browser.matches]
    assert ratios == sorted(ratios)
    first = browser.rows[0]
    assert first[0].description == f"{browser.matches[0].gpu_count}x RTX4090_PCIE"
    best = browser.matches[0]
    assert [c.value for c in first[4:7]] == [f"${best.hourly_price:,.2f}",
                                             f"${best.hourly_price / best.gpu_count:,.2f}",
                                             f"${ratios[0]:.4f}"]

    browser.gpu.value = ""
    browser.min_vram.value = ""
    browser.region.value = "dallas-tx-1"
    browser.ui.flush()
    assert browser.matches and all("dallas-tx-1" in o.regions for o in browser.matches)
    browser.region.value = "any"
    browser.provider.value = "tensordock"
    browser.count.value = 2
    browser.ui.flush()
    assert browser.matches and all(o.provider == "tensordock" and o.gpu_count == 2
                                   for o in browser.matches)
    shown = browser.matches[0]  # every column of the row shows this offer
    assert [c.value for c in browser.rows[0][7:]] == [
        f"{shown.total_vram_gb:g} GB", f"{shown.vcpus:g}", f"{shown.memory:g} GB",
        shown.interconnect_type or "-", "available"]
    browser.provider.value = browser.count.value = "any"
    browser.gpu.value = "cpu"  # CPU-only offers: the API's interconnect "None" reads "-"
    browser.ui.flush()
    assert browser.matches and browser.rows[0][10].value == "-"
    browser.gpu.value = ""
    browser.ui.flush()  # a GPU browser: CPU-only offers only behind their filter
    assert browser.matches and not any(o.gpu_count == 0 for o in browser.matches)
    browser.cpu_only.value = True
    browser.ui.flush()
    assert any(o.gpu_count == 0 for o in browser.matches)
    browser.cpu_only.value = False
    available = len(browser.matches)
    browser.unavailable.value = True
    browser.ui.flush()
    assert len(browser.matches) > available
    assert {"unavailable", "maintenance"} & {c.cell(o) for o in browser.matches
                                             for c in COLUMNS if c.title == "availability"}
    browser.unavailable.value = False
    browser.ui.flush()
    browser.next.click()
    browser.ui.flush()
    assert browser.page == 1 and f"offers {PAGE_ROWS + 1}-" in browser.count_label.value


def test_browser_selection_opens_the_launcher_which_launches(session, emulator, closing):
    from spheron_jupyter.notebook.widgets.offers import OffersBrowser

    browser = OffersBrowser(session, gpu="rtx-4090")
    closing(browser)
    browser.wait_idle()
    browser.rows[0][0].click()
    launcher = browser.launcher
    assert launcher is not None and browser.launcher_box.children == (launcher.root,)
    assert launcher.offer.offer_id == browser.matches[0].offer_id
    launcher.name.value = "widget-box"
    launcher.lease.value = "30m"
    launcher.wait_idle()
    plan = launcher.plan
    assert plan.name == "widget-box" and plan.lease_seconds == 1800
    assert "worst case" in launcher.plan_view.value and "lease 30m" in launcher.plan_view.value
    assert launcher.confirm.disabled is False
    assert launcher.confirm.description == (f"Launch at ${plan.hourly_rate:,.2f}/h "
                                            f"(worst case ${plan.worst_case_usd:,.2f})")
    launcher.lease.value = "soon"  # a bad lease is one line in the panel, not a traceback
    launcher.wait_idle()
    assert "cannot read the duration 'soon'" in launcher.last_message[0]
    launcher.lease.value = ""  # no lease: no helper process outliving this test
    launcher.wait_idle()
    assert "no cap without --lease" in launcher.plan.worst_case_basis
    assert "no cap without --lease" in launcher.plan_view.value
    assert "minimum charge" in launcher.plan_view.value

    launcher.confirm.click()
    launcher.confirm.click()  # a second click while launching changes nothing
    assert launcher.wait_idle(120)
    assert launcher.instance is not None and launcher.last_message[1] == "ok"
    assert launcher.stages_done == ["creating", "deploying", "running", "ssh"]
    assert "SSH ready" in launcher.progress.value and launcher.confirm.disabled
    assert emulator_counts(emulator)[0] == 1
    (view,) = session.instances()
    assert view.name == "widget-box" and view.status == "running"


def test_launcher_budget_check_needs_an_explicit_yes(session, emulator, closing, monkeypatch):
    from spheron_jupyter.notebook.widgets.launcher import Launcher

    from spheron_jupyter.session.backends import save_setting

    save_setting("budget_per_launch_usd", 0.01)
    offer = session.offers(gpu="rtx-4090")[0]
    launcher = Launcher(session, offer, lease="2h")
    closing(launcher)
    launcher.wait_idle()
    assert launcher.plan.over_budget
    assert launcher.confirm.disabled and launcher.over_budget_ok.layout.display == "flex"
    assert "over your budget" in launcher.last_message[0]
    launcher.launch()  # even called directly: refused without the tick
    assert emulator_counts(emulator)[0] == 0
    launcher.over_budget_ok.value = True
    launcher.ui.flush()
    assert not launcher.confirm.disabled


def test_dashboard_rows_countdown_actions_and_terminate(session, emulator, closing):
    from spheron_jupyter.notebook.widgets.dashboard import Dashboard

    plan = session.plan_launch(gpu="rtx-4090", name="dash-box")
    session.launch(plan)
    board = Dashboard(session, refresh_seconds=0.5)
    closing(board)
    wait_for(lambda: board.refreshes >= 1, what="the first refresh")
    row = board.rows[board.row_of("dash-box")]
    wait_for(lambda: (board.ui.flush(), "running" in row["cells"]["status"].value)[1])
    assert "dash-box" in row["cells"]["name"].value and row["cells"]["$/hour"].value.startswith(DOLLAR)
    # The id has a copy button; the row's buttons are its last cell, under an "actions" header.
    view = next(v for v in board.views if v.name == "dash-box")
    assert f"data-copy='{view.id}'" in row["cells"]["name"].value
    assert row["box"].children[-1] is row["buttons"] and "row wrap" in row["buttons"].layout.flex_flow
    assert "actions" in board.table.children[0].children[-1].value
    assert row["buttons"].layout.width == board.table.children[0].children[-1].layout.width
    assert row["cells"]["can terminate"].value.startswith("in ")
    assert row["actions"]["terminate"].description == "terminate when allowed"
    assert not row["actions"]["logs"].disabled and "1 active of 1" in board.summary.value
    seen = board.refreshes
    wait_for(lambda: board.refreshes >= seen + 2, what="background refreshes")

    board.act(board.row_of("dash-box"), "exec")
    box = board.detail_panel
    box.command.value = "echo from-the-dashboard; echo oops >&2"
    box.run_button.click()
    assert box.wait_idle(60)
    assert box.exit_code == 0 and "from-the-dashboard" in box.text and "oops" in box.text
    box.ui.flush()
    assert "from-the-dashboard" in box.output.value

    board.act(board.row_of("dash-box"), "logs")
    viewer = board.detail_panel
    assert board.detail.children == (viewer.root,) and box.root.comm is None  # old one closed
    wait_for(lambda: (viewer.ui.flush(), viewer.lines)[1], what="log lines")
    viewer.close()

    # Terminate before the minimum runtime: scheduled, by a helper that outlives the kernel.
    board.act(board.row_of("dash-box"), "terminate")
    question, yes, no = board.detail.children[0].children
    assert "Terminate dash-box" in question.value
    yes.click()
    assert board.wait_idle(60)
    text, kind = board.last_message
    assert kind == "ok" and ("will be terminated" in text or "terminated dash-box" in text)
    wait_for(lambda: session.client.get_instance(board.views[0].id).status == "terminated"
             if board.views else True, timeout=90, what="the scheduled termination")
    # Once it has ended, "will be terminated ..." leaves the panel (a live view, not a log).
    wait_for(lambda: "will be terminated" not in board.last_message[0], timeout=30,
             what="the stale message to go")
    board.show_all.value = True
    wait_for(lambda: any(v.status == "terminated" for v in board.views), what="terminated row")
    board.ui.flush()
    row = board.rows[board.row_of("dash-box")]
    assert row["actions"]["terminate"].disabled and row["actions"]["logs"].disabled
    assert row["buttons"].layout.visibility == "hidden"  # an ended row keeps no greyed buttons


def test_dashboard_jupyter_button_opens_a_tunnel(session, closing):
    from spheron_jupyter.notebook.widgets.dashboard import Dashboard

    session.launch(session.plan_launch(gpu="rtx-4090", name="lab-box"))
    board = Dashboard(session, start=False)
    closing(board)
    board.fetch()
    board.act(board.row_of("lab-box"), "jupyter")
    assert board.wait_idle(180), "Jupyter did not start"
    link = board.links.children[0]
    assert "Jupyter" in link.value and "127.0.0.1:" in link.value, link.value
    tunnels = session.tunnels()
    assert [t.kind for t in tunnels] == ["jupyter"] and tunnels[0].state != "closed"


def test_volumes_panel_shows_rules_before_the_api_refuses(session, emulator, closing):
    from spheron_jupyter.notebook.widgets.volumes import VolumesPanel

    plan = session.plan_launch(gpu="h100", provider="voltage-park", region="dallas-tx-1",
                               name="vp-box")
    box = session.launch(plan)
    panel = VolumesPanel(session)
    closing(panel)
    panel.wait_idle()
    assert "voltage-park</b> in dallas-tx-1: one volume per instance" in panel.rules.value
    assert "data-crunch</b> in FIN-01, FIN-02, FIN-03" in panel.rules.value
    assert "no volumes yet" in panel.listing.value

    panel.new_name.value = "data"
    panel.ui.flush()
    assert "choose a provider" in panel.create_check.value and panel.create_button.disabled
    panel.new_provider.value = "voltage-park"
    panel.new_size.value = 200
    panel.ui.flush()
    assert panel.new_region.value == "dallas-tx-1" and not panel.create_button.disabled
    panel.create_button.click()
    panel.wait_idle()
    assert panel.last_message[1] == "ok" and emulator_counts(emulator)[1] == 1
    panel.new_name.value = "finnish"
    panel.new_provider.value = "data-crunch"
    panel.new_region.value = "FIN-02"
    panel.create_button.click()
    panel.wait_idle()
    assert emulator_counts(emulator)[1] == 2 and "finnish" in panel.listing.value

    by_name = {v.name: str(v.id) for v in panel.volumes}
    panel.instance.value = box.id
    panel.volume.value = by_name["finnish"]
    panel.ui.flush()
    assert "data-crunch volume" in panel.attach_check.value and panel.attach_button.disabled
    panel.attach()  # refused by the rule, before any request
    assert "volumes attach only within their provider" in panel.last_message[0]

    panel.volume.value = by_name["data"]
    panel.ui.flush()
    assert panel.attach_check.value == "" and not panel.attach_button.disabled
    panel.attach_button.click()
    panel.wait_idle()
    assert panel.last_message == ("attached data to vp-box", "ok")
    assert box.id in next(v for v in session.volumes() if v.name == "data").attached_instance_ids
    assert "vp-box" in panel.listing.value
    panel.volume.value = by_name["data"]
    panel.ui.flush()
    assert panel.attach_button.disabled and not panel.detach_button.disabled
    panel.detach_button.click()
    panel.wait_idle()
    assert panel.last_message == ("detached data from vp-box", "ok")
    assert not next(v for v in session.volumes() if v.name == "data").attached_instance_ids


def test_panels_need_a_notebook_frontend(emulator_shell):
    error = emulator_shell.usage_error("%spheron panel")
    assert "needs Jupyter" in error and "%spheron ls" in error


def test_panel_magic_and_offers_browse(emulator_shell, monkeypatch):
    from spheron_jupyter.notebook import display
    from spheron_jupyter.notebook.widgets.dashboard import Dashboard
    from spheron_jupyter.notebook.widgets.offers import OffersBrowser
    from spheron_jupyter.notebook.widgets.volumes import VolumesPanel

    monkeypatch.setattr(display, "in_notebook", lambda: True)  # as in a kernel with a frontend
    browse = emulator_shell.ok("%spheron offers --browse --gpu h100 --type spot").result
    assert isinstance(browse, OffersBrowser)
    browse.wait_idle()
    assert browse.matches and all(o.kind == "spot" for o in browse.matches)
    board = emulator_shell.ok("%spheron panel --refresh 5").result
    assert isinstance(board, Dashboard) and board.refresh_seconds == 5
    volumes = emulator_shell.ok("%spheron panel volumes").result
    assert isinstance(volumes, VolumesPanel)
    for panel in (browse, board, volumes):
        panel.wait_idle()
        panel.close()
    assert board.jobs.stopping.is_set()


def test_load_ext_does_not_import_ipywidgets():
    import subprocess
    import sys

    code = ("import sys; from IPython.core.interactiveshell import InteractiveShell; "
            "ip = InteractiveShell.instance(); ip.run_line_magic('load_ext', 'spheron_jupyter'); "
            "print('ipywidgets' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip().splitlines()[-1] == "False", out.stdout + out.stderr


def test_launcher_startup_script_volume_and_os(session, emulator, closing):
    from spheron_jupyter.notebook.widgets.launcher import NO_VOLUME, Launcher

    offer = next(o for o in session.offers(provider="data-crunch", region="FIN-01")
                 if o.supports_cloud_init and len(o.os_options) > 1)
    session.create_volume("scratch", size_gb=50, provider="data-crunch", region="FIN-01")
    session.create_volume("elsewhere", size_gb=50, provider="voltage-park", region="dallas-tx-1")
    launcher = Launcher(session, offer, lease="")
    closing(launcher)
    launcher.wait_idle()
    # Only a volume this instance can take is offered; the other one is explained.
    assert list(launcher.volume.options) == [NO_VOLUME, "scratch"]
    assert "1 other volume(s)" in launcher.volume.tooltip
    assert not launcher.startup.disabled
    launcher.region.value = "FIN-01"
    launcher.os.value = offer.os_options[1]
    launcher.volume.value = "scratch"
    launcher.startup.value = "echo from-the-launcher"
    launcher.name.value = "fin-box"
    launcher.wait_idle()
    assert launcher.plan.os == offer.os_options[1] and launcher.plan.volumes == ["scratch"]
    assert launcher.plan.startup == "echo from-the-launcher"
    launcher.confirm.click()
    assert launcher.wait_idle(120) and launcher.instance is not None, launcher.last_message
    view = launcher.instance
    assert view.region == "FIN-01"
    scratch = next(v for v in session.volumes() if v.name == "scratch")
    assert scratch.attached_instance_ids == [view.id]
    assert "from-the-launcher" in list(session.logs(view.id))
    # The launch waited for the script, and the panel says how it ended.
    assert launcher.last_message[1] == "ok", launcher.last_message
    assert "startup script finished" in launcher.last_message[0]
    launcher.ui.flush()
    assert "startup script finished" in launcher.progress.value


def test_launcher_without_cloud_init_disables_the_startup_script(session, closing):
    from spheron_jupyter.notebook.widgets.launcher import Launcher

    offer = next(o for o in session.offers() if not o.supports_cloud_init)
    launcher = Launcher(session, offer, load=False)
    closing(launcher)
    assert launcher.startup.disabled and "no cloud-init" in launcher.startup.placeholder
