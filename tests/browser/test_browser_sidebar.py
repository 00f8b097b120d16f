"""The JupyterLab sidebar and burn meter in a real browser, with no kernel at all.

JupyterLab (fixture, with our server extension and prebuilt Lab extension) + Debian's headless
Chromium via Playwright. The test process launches an instance on the emulator (the ledger is
shared with the Lab server through SPHERON_JUPYTER_HOME) and forwards a port of it to a page the
test serves. In the browser: the sidebar goes from its empty state to listing the instance
(status, rate) by its own refresh, the status bar shows the burn (its tooltip the lease's end),
GPU figures are asked for only while the sidebar is shown, the SSH-ready notification comes
once (not again on refreshes or after a reload), and Open on the tunnel shows the page in a Lab
tab through Jupyter's authenticated proxy (one tab per tunnel); an instance its provider
reclaims is notified as reclaimed, once. Screenshots go to test-output/browser/ (gitignored; the
paths are printed).

Robust on a loaded machine: every wait is for a selector or a condition, with long timeouts.
"""

from __future__ import annotations

import contextlib
import re
import time
import urllib.request

import pytest

from tests.fixtures.browser import needs_chromium, shot
from tests.support.http_service import marker_page

EMPTY = "No instances. Launch one with %spheron launch --gpu h100"

pytestmark = [pytest.mark.slow, needs_chromium]

CURRENT_IS = """prefix => {
  const w = window.jupyterapp.shell.currentWidget;
  return !!w && w.id.startsWith(prefix);
}"""


NOTE = ".jp-Notification-List-Item"


@contextlib.contextmanager
def notification_center(page):
    """The list JupyterLab's status-bar bell opens (every notification of this page load)."""
    page.locator(".jp-Notification-Status").click()
    center = page.locator(".jp-Notification-Center")
    center.wait_for()
    try:
        yield center
    finally:
        page.locator(".jp-Notification-Status").click()
        center.wait_for(state="hidden")


def _count(page, text: str) -> int:
    with notification_center(page) as center:
        return center.locator(NOTE, has_text=text).count()


@pytest.fixture
def marker_service():
    """A page on "the instance" (an emulated instance shares this machine's loopback)."""
    with marker_page() as served:
        yield served


@pytest.fixture
def session(emulator_session):
    return emulator_session


def test_sidebar_lists_the_instance_and_opens_its_tunnel_in_a_tab(
        jupyterlab, emulator, session, marker_service, page):
    try:
        journey(jupyterlab, emulator, session, marker_service, page)
    except BaseException:  # what the page showed, for a failure on a CI machine
        shot(page, "sidebar-failed")
        sidebar = page.locator("#spheron-sidebar")
        if sidebar.count():
            print("sidebar text:\n" + sidebar.inner_text(timeout=10_000))
        print("JupyterLab log (end):\n" + jupyterlab.log()[-4000:])
        raise


def journey(jupyterlab, emulator, session, marker_service, page) -> None:
    marker_port, marker = marker_service
    gpu_asked: list[str] = []  # the sidebar's requests for GPU figures (sampled over SSH)
    page.on("request", lambda r: gpu_asked.append(r.url) if "/spheron/api/gpu" in r.url else None)
    page.goto(f"{jupyterlab.url}/lab?token={jupyterlab.token}")
    page.wait_for_selector("#jp-main-statusbar")

    # -- the sidebar's tab, as a person would click it; empty before any launch ---------------
    tab = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id='spheron-sidebar']")
    tab.click()
    sidebar = page.locator("#spheron-sidebar")
    sidebar.locator(".spheron-sidebar-empty", has_text=EMPTY).wait_for()
    assert sidebar.locator(".spheron-sidebar-error").is_hidden()
    assert page.locator(".spheron-burn").is_hidden()  # nothing bills: no meter
    shot(page, "sidebar-1-empty")

    # -- a launch from outside the browser (no kernel): the sidebar's own refresh shows it ---
    plan = session.plan_launch(gpu="rtx-4090", lease="2h", name="sidebar-box")
    view = session.launch(plan)
    rate = f"${plan.hourly_rate:.2f}/h"
    row = sidebar.locator(f".spheron-sidebar-instance[data-instance-id='{view.id}']")
    row.locator(".spheron-sidebar-status", has_text="running").wait_for()
    text = row.inner_text()
    assert "sidebar-box" in text and rate in text and "so far" in text, text
    assert re.search(r"lease ends in (1h \d+m|2h 0m)", text), text
    assert sidebar.locator(".spheron-sidebar-empty").count() == 0

    # -- the status bar's burn meter; a click on it shows the sidebar ------------------------
    burn = page.locator(".spheron-burn")
    burn.filter(has_text=f"Spheron: {rate}").wait_for()
    title = burn.get_attribute("title")  # the lifecycle again: status, money, what ends it when
    assert title.startswith("sidebar-box: running, ") and "so far; lease ends in" in title, title
    assert re.search(r"lease ends in (1h \d+m|2h 0m)", title), title
    tab.click()  # collapse the sidebar ...
    sidebar.wait_for(state="hidden")
    asked = len(gpu_asked)
    assert asked > 0  # shown, with an instance running: its GPU figures were asked for
    page.wait_for_timeout(7000)  # longer than the shown sidebar's 5 s poll (events still arrive)
    assert len(gpu_asked) == asked  # hidden: no GPU sampling at all
    burn.click()  # ... and the meter opens it again
    sidebar.wait_for(state="visible")
    deadline = time.monotonic() + 30
    while len(gpu_asked) == asked:  # shown again: sampled again
        assert time.monotonic() < deadline, "the shown sidebar never asked for GPU figures"
        page.wait_for_timeout(200)

    # -- the SSH-ready notification comes once: not again on refreshes, nor after a reload ---
    ready = "sidebar-box is running and SSH is ready"
    deadline = time.monotonic() + 60  # a toast closes; the bell's list keeps it
    while not _count(page, ready):
        assert time.monotonic() < deadline, "no SSH-ready notification"
        page.wait_for_timeout(1000)
    for _ in range(2):
        sidebar.locator(".spheron-sidebar-refresh").click()
        time.sleep(1)
    time.sleep(6)  # and one refresh of the sidebar's own (every 5 s while shown)
    assert _count(page, ready) == 1
    page.reload()
    page.wait_for_selector("#jp-main-statusbar")
    # Once Lab has restored its layout (the sidebar may come back open), open it if it is not.
    page.evaluate("() => window.jupyterapp.restored.then(() => true)")
    if not sidebar.is_visible():
        tab.click()
    row.locator(".spheron-sidebar-status", has_text="running").wait_for()
    page.wait_for_timeout(6000)
    assert _count(page, ready) == 0  # a fresh page's list: only what is notified again

    # -- a tunnel to the page the test serves; Open shows it through Jupyter's proxy --------
    tunnel = session.forward(view.id, marker_port)
    trow = sidebar.locator(f".spheron-sidebar-tunnel[data-tunnel-id='{tunnel.id}']")
    trow.wait_for()
    assert trow.get_attribute("data-instance-id") == view.id
    ttext = trow.inner_text()
    assert "forward" in ttext and f"127.0.0.1:{tunnel.local_port} -> {marker_port}" in ttext, ttext
    shot(page, "sidebar-2-instance-and-tunnel")

    trow.locator(".spheron-sidebar-open").click()
    tab_widget = page.locator(f"#spheron-tunnel-{tunnel.id}")
    tab_widget.wait_for()
    frame = page.frame_locator(f"#spheron-tunnel-{tunnel.id} iframe")
    frame.locator("#marker", has_text=marker).wait_for()
    src = tab_widget.locator("iframe").get_attribute("src")
    assert f"/spheron/proxy/{tunnel.id}/" in src and str(tunnel.local_port) not in src, src
    assert jupyterlab.token not in src  # the proxy is authenticated by Lab's cookie, not a URL
    sandbox = tab_widget.locator("iframe").get_attribute("sandbox") or ""
    # Sandboxed without allow-same-origin (which would cancel it): test_browser_hostile.py.
    assert "allow-scripts" in sandbox.split() and "allow-same-origin" not in sandbox, sandbox
    current = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current")
    assert current.inner_text().strip() == "forward: sidebar-box"
    shot(page, "sidebar-3-tunnel-tab")

    # Open again: the same tab comes back to the front, no second one.
    page.evaluate("() => window.jupyterapp.commands.execute('launcher:create')")
    page.wait_for_function(CURRENT_IS, arg="launcher")
    trow.locator(".spheron-sidebar-open").click()
    page.wait_for_function(CURRENT_IS, arg=f"spheron-tunnel-{tunnel.id}")
    assert page.locator(".spheron-tunnel-tab").count() == 1

    # -- the refresh button: a closed tunnel and a terminated instance leave the panel -------
    session.close(tunnel.id)
    session.terminate(view.id)
    session.wait_until(view.id, ("terminated",), timeout=120)  # the ledger learns it
    sidebar.locator(".spheron-sidebar-refresh").click()
    sidebar.locator(".spheron-sidebar-empty", has_text=EMPTY).wait_for()
    page.locator(".spheron-burn").wait_for(state="hidden")
    assert "Traceback" not in sidebar.inner_text()
    shot(page, "sidebar-4-after-terminate")

    # -- one its provider reclaims: the notification says so (not only "ended"), once --------
    spot = session.launch(session.plan_launch(gpu="rtx-4090", name="reclaimed-box"))
    sidebar.locator(f".spheron-sidebar-instance[data-instance-id='{spot.id}']").wait_for()
    request = urllib.request.Request(f"{emulator.url}/_emulator/instances/{spot.id}/reclaim",
                                     method="POST",
                                     headers={"Authorization": f"Bearer {emulator.api_key}"})
    urllib.request.urlopen(request, timeout=30).close()
    assert session.instances() == []  # the ledger learns it from the API
    reclaimed = "reclaimed-box was reclaimed by its provider (terminated-provider)"
    deadline = time.monotonic() + 60  # the bell's list, not the toast (it closes after 10 s)
    while not _count(page, reclaimed):
        assert time.monotonic() < deadline, "no notification of the reclaim"
        page.wait_for_timeout(1000)
    sidebar.locator(".spheron-sidebar-refresh").click()
    page.wait_for_timeout(6000)  # and a refresh of its own: still one
    with notification_center(page) as center:
        assert center.locator(NOTE, has_text=reclaimed).count() == 1
        assert center.locator(NOTE, has_text="reclaimed-box ended").count() == 0
