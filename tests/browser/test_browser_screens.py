"""The researcher's view in a real browser, at 1600x1000, in JupyterLab's light and dark themes.

JupyterLab (fixture) + Debian's headless Chromium (Playwright). A notebook launches an instance
on the emulator with a lease, lists it (``%spheron ls``), shows its status, its GPUs, the offers
browser and the dashboard; the Spheron sidebar is open. The test fails on:
- money typeset as math: any MathJax element in an output, or the ``ls`` footer not showing
  "burning $X/h now; $Y spent" literally;
- truncated headers: an offers or dashboard header (or button) whose text overflows its box,
  or an offers header cut off by its output area;
- stale tunnels: after the instance ends, any sidebar row (instance or tunnel) of it.
It also checks the GPU figures in the dashboard and the sidebar, the lease's end in both, the
JupyterLab notifications (SSH ready, lease ending within 10 minutes, budget crossed, ended),
a row's TensorBoard link: it stays when the logs open, has a copy button, and "open in a
Lab tab" shows it through Jupyter's proxy; and the sidebar's +1h, Cancel end and Terminate.
Screenshots go to test-output/browser/ (gitignored; CI keeps them); with
SPHERON_DOCS_SCREENSHOTS=1 the light and dark ones are also copied to docs/ for README's Panels
section.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest

from tests.fixtures.browser import LONG, MATH, needs_chromium, open_notebook, shot
from tests.support.http_service import serve

pytestmark = [pytest.mark.slow, needs_chromium]

DOCS = Path(__file__).resolve().parents[2] / "docs"
CELLS = [
    "%load_ext spheron_jupyter\n%spheron use local",
    "%spheron launch --gpu rtx-4090 --name shot-box --lease 45m --yes",
    "%spheron ls",
    "%spheron gpu shot-box",
    "%spheron panel --refresh 1",
    "%spheron offers --browse --gpu h100",
]
# Text cut by its box: an element whose content is wider than the element itself.
TRUNCATED = """selector => [...document.querySelectorAll(selector)]
  .filter(el => el.offsetParent !== null && el.scrollWidth > el.clientWidth + 1)
  .map(el => el.innerText.trim())"""
# Headers that stick out of their output area (cut off by it at this window size).
OUTSIDE = """selector => [...document.querySelectorAll(selector)].filter(el => {
  const area = el.closest('.jp-OutputArea-output').getBoundingClientRect();
  return el.getBoundingClientRect().right > area.right + 1;
}).map(el => el.innerText.trim())"""


def notified(page, text: str) -> None:
    """A JupyterLab notification with ``text``: as a toast (shown 8-10 s), else in the list the
    status bar's bell opens (a toast may have closed before the page got here)."""
    try:
        page.get_by_text(text).first.wait_for(timeout=45_000)
        return
    except Exception:  # playwright's TimeoutError: look in the list instead
        pass
    page.locator(".jp-Notification-Status").click()
    page.get_by_text(text).first.wait_for(timeout=15_000)
    page.keyboard.press("Escape")


@pytest.fixture
def instance_port():
    """A port on "the instance" to tunnel to (an emulated instance shares this loopback)."""
    import http.server

    class Ok(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    with serve(Ok) as port:
        yield port


def test_panels_in_light_and_dark_with_no_math_no_cut_headers_no_stale_tunnels(
        home_emulator, jupyterlab, page, instance_port):
    try:
        journey(home_emulator, jupyterlab, page, instance_port)
    except BaseException:
        shot(page, "screens-failed")
        print("JupyterLab log (end):\n" + jupyterlab.log()[-4000:])
        raise


def journey(home_emulator, jupyterlab, page, instance_port) -> None:
    page.set_viewport_size({"width": 1600, "height": 1000})
    open_notebook(page, jupyterlab.lab_url("screens.ipynb"), jupyterlab.root / "screens.ipynb", CELLS)
    page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id='spheron-sidebar']").click()
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")

    cells = page.locator(".jp-Notebook .jp-CodeCell")
    # -- money as written, never math ----------------------------------------------------------
    footer = cells.nth(2).locator(".jp-OutputArea-output", has_text="burning")
    footer.wait_for()
    text = footer.inner_text()
    assert re.search(r"burning \$\d+\.\d{2}/h now; <?\$\d+\.\d{2,4} spent", text), text
    notified(page, "shot-box is running and SSH is ready")
    cells.nth(3).locator(".jp-OutputArea-output", has_text="GPUs of shot-box").wait_for()
    assert "°C" in cells.nth(3).inner_text() and "GiB" in cells.nth(3).inner_text()

    # -- the offers browser: headers whole, with the sort arrow ----------------------------------
    offers = page.locator(".spheron-offers")
    offers.locator(".spheron-offers-count", has_text="offers 1-").wait_for()
    offers.locator(".spheron-sort", has_text="$/hour ▲").wait_for()
    assert page.evaluate(TRUNCATED, ".spheron-offers .spheron-sort") == []
    assert page.evaluate(TRUNCATED, ".spheron-offers button") == []
    assert page.evaluate(OUTSIDE, ".spheron-offers .spheron-sort") == []
    assert all("cpu" not in t.lower() for t in offers.locator(".spheron-offer-pick").all_inner_texts())

    # -- the dashboard: running, GPU use, the lease's end ---------------------------------------
    board = page.locator(".spheron-dashboard")
    row = board.locator(".spheron-dashboard-table .widget-hbox").filter(has_text="shot-box")
    row.locator(".spheron-status-running").wait_for()
    row.locator(".spheron-gpu-use", has_text="GiB").wait_for()
    assert "lease ends in" in row.inner_text()
    assert page.evaluate(TRUNCATED, ".spheron-dashboard-table .widget-html b") == []
    assert page.evaluate(TRUNCATED, ".spheron-dashboard-table button") == []
    # The row's buttons are its last cell, beside the status, not on a line of their own.
    actions_top = row.locator(".spheron-row-actions").bounding_box()["y"]
    status_top = row.locator(".spheron-status-running").bounding_box()["y"]
    assert abs(actions_top - status_top) < 20, (actions_top, status_top)

    # -- TensorBoard from its row: the link stays when logs open; "open in a Lab tab" ----------
    row.locator(".spheron-action-tensorboard").click()
    link = board.locator(".spheron-dashboard-links .spheron-tensorboard-link a.spheron-open-tab")
    link.wait_for(timeout=LONG)
    row.locator(".spheron-action-logs").click()
    board.locator(".spheron-logviewer").wait_for()
    assert link.is_visible(), "opening the logs erased the TensorBoard link"
    assert board.locator(".spheron-tensorboard-link button.spheron-copy").count() == 1
    link.click()
    page.locator(".spheron-tunnel-tab").wait_for()
    src = page.locator(".spheron-tunnel-tab iframe").get_attribute("src")
    assert "/spheron/proxy/" in src and jupyterlab.token not in src, src
    page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="screens.ipynb").click()

    # -- the sidebar: GPU line and the lease's end; the SSH-ready notification -----------------
    sidebar = page.locator("#spheron-sidebar")
    srow = sidebar.locator(".spheron-sidebar-instance", has_text="shot-box")
    srow.locator(".spheron-sidebar-gpu", has_text="GiB").wait_for()
    assert "lease ends in" in srow.inner_text()
    assert page.evaluate(MATH) == 0, "an output was typeset as math"

    from spheron_jupyter.session.core import Session

    session = Session("local", url=home_emulator.url, api_key=home_emulator.api_key)
    view = session.resolve("shot-box")
    tunnel = session.forward(view.id, instance_port)
    sidebar.locator(f".spheron-sidebar-tunnel[data-tunnel-id='{tunnel.id}']").wait_for()

    top = "el => el.scrollIntoView({block: 'start'})"
    board.evaluate(top)
    light = shot(page, "screens-light")
    page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme', "
                  "{theme: 'JupyterLab Dark'})")
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'")
    time.sleep(1)  # the theme's stylesheet applies after the attribute flips
    board.evaluate(top)
    dark = shot(page, "screens-dark")
    assert page.evaluate(MATH) == 0, "an output was typeset as math (dark theme)"
    if os.environ.get("SPHERON_DOCS_SCREENSHOTS"):
        shutil.copy(light, DOCS / "panels-light.png")
        shutil.copy(dark, DOCS / "panels-dark.png")

    # -- the other notifications: a lease ending within 10 minutes, the budget crossed ----------
    from spheron_jupyter.session.backends import save_setting
    from spheron_jupyter.ledger import InstanceRecord

    rec = session.ledger.instance(session.api_url, view.id)
    session.ledger.record_instance(InstanceRecord(  # as if launched with a lease ending in 5 min
        session.api_url, view.id, "local", lease_seconds=time.time() - rec.created_at + 300))
    notified(page, "shot-box: lease ends in")
    save_setting("budget_per_launch_usd", 0.0001)  # the Lab server reads the same settings
    notified(page, "over your budget")

    # -- the sidebar's lifecycle buttons: +1h, Cancel end, Terminate (after a confirmation) ------
    ends = srow.locator(".spheron-sidebar-ends")
    srow.locator(".spheron-sidebar-extend").click()
    notified(page, "shot-box: lease now ends at")
    ends.filter(has_text=re.compile(r"lease ends in 1h \d+m")).wait_for()
    srow.locator(".spheron-sidebar-cancel").click()
    notified(page, "shot-box now runs until you terminate it")
    ends.filter(has_text="no lease: runs until terminated").wait_for()
    assert srow.locator(".spheron-sidebar-cancel").count() == 0  # nothing left to cancel
    srow.locator(".spheron-sidebar-terminate").click()
    page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept", has_text="Terminate").click()

    # -- the instance ends: its rows and its tunnel leave every live view ------------------------
    notified(page, "shot-box ended")
    sidebar.locator(".spheron-sidebar-instance", has_text="shot-box").wait_for(state="detached")
    assert sidebar.locator(f".spheron-sidebar-tunnel[data-instance-id='{view.id}']").count() == 0
    board.locator(".spheron-dashboard-summary", has_text="no instances").wait_for()
    shot(page, "screens-ended")
