"""The panels in a real browser: JupyterLab (fixture) + Debian's headless Chromium via Playwright.

The notebook loads the extension, uses the emulator, shows the offers browser and the
dashboard. The test filters and sorts offers, opens the launcher from a row, launches, sees
the instance turn running in the dashboard, opens its logs and terminates it, writing a
screenshot at each step to test-output/browser/ (gitignored; the path is printed).

Robust on a loaded machine: every wait is for a selector or a condition, with long timeouts.
"""

from __future__ import annotations

import json
import time

import nbformat
import pytest

from tests.fixtures.browser import KERNEL_IDLE, LONG, needs_chromium, shot

pytestmark = [pytest.mark.slow, needs_chromium]

CELLS = [
    "%load_ext spheron_jupyter\n%spheron use local",
    "%spheron offers --browse",
    "%spheron panel --refresh 1",
]
SORTED_PER_VRAM = """() => {
  const cells = [...document.querySelectorAll('.spheron-offers-table .spheron-col-vram-gb')];
  const values = cells.map(c => parseFloat(c.innerText.replace('$', '')));
  return values.length > 1 && values.every((v, i) => i === 0 || values[i - 1] <= v);
}"""
FILTERED = """() => {
  const types = [...document.querySelectorAll('.spheron-offers-table .spheron-col-type')];
  const picks = [...document.querySelectorAll('.spheron-offers-table .spheron-offer-pick')];
  return types.length > 0 && types.every(c => c.innerText.trim() === 'dedicated')
    && picks.every(p => p.innerText.includes('RTX4090_PCIE'));
}"""


def test_offers_launch_dashboard_logs_terminate(home_emulator, jupyterlab, page):
    try:
        journey(home_emulator, jupyterlab, page)
    except BaseException:  # what the page showed, for a failure on a CI machine
        shot(page, "failed")
        print("notebook text:\n" + page.locator(".jp-Notebook").inner_text(timeout=10_000))
        print("JupyterLab log (end):\n" + jupyterlab.log()[-4000:])
        raise


def journey(home_emulator, jupyterlab, page) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, jupyterlab.root / "panels.ipynb")

    page.goto(jupyterlab.lab_url("panels.ipynb"))
    page.wait_for_selector(".jp-Notebook .jp-Cell")
    page.wait_for_function(KERNEL_IDLE, timeout=LONG)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")

    # -- the offers browser: filter, sort, pick ----------------------------------------------
    offers = page.locator(".spheron-offers")
    count = offers.locator(".spheron-offers-count")
    count.filter(has_text="offers 1-").wait_for()
    everything = count.inner_text()
    gpu = offers.locator(".spheron-filter-gpu input")
    gpu.fill("rtx-4090")
    gpu.press("Enter")
    offers.locator(".spheron-filter-type select").select_option("dedicated")
    page.wait_for_function(
        "([el, before]) => el.innerText !== before && /offers 1-/.test(el.innerText)",
        arg=[count.element_handle(), everything])
    page.wait_for_function(FILTERED)  # every row shown is a dedicated RTX 4090
    offers.locator(".spheron-sort", has_text="$/VRAM-GB").click()
    offers.locator(".spheron-sort", has_text="$/VRAM-GB ▲").wait_for()
    page.wait_for_function(SORTED_PER_VRAM)  # the rows as shown, not only the header
    first = offers.locator(".spheron-offer-pick").first
    assert "RTX4090_PCIE" in first.inner_text()
    first.scroll_into_view_if_needed()
    shot(page, "1-offers-filtered")

    # -- the launcher -----------------------------------------------------------------------
    first.click()
    launcher = page.locator(".spheron-launcher")
    launcher.locator(".spheron-launch-plan", has_text="worst case").wait_for()  # as a person would
    name = launcher.locator(".spheron-launch-name input")
    name.fill("browser-box")
    name.press("Enter")
    page.wait_for_function("el => el.value === 'browser-box'", arg=name.element_handle())
    lease = launcher.locator(".spheron-launch-lease input")
    lease.fill("")  # no lease: the test terminates it itself
    lease.press("Enter")
    launcher.locator(".spheron-launch-plan", has_text="browser-box").wait_for()
    launcher.locator(".spheron-launch-plan", has_text="no cap without --lease").wait_for()
    confirm = launcher.locator(".spheron-launch-confirm")
    page.wait_for_function("el => !el.disabled && el.innerText.startsWith('Launch at')",
                           arg=confirm.element_handle())
    launcher.scroll_into_view_if_needed()
    shot(page, "2-launcher-plan")
    confirm.click()
    launcher.locator(".spheron-status", has_text="SSH is ready").wait_for()
    progress = launcher.locator(".spheron-launch-progress")
    assert "SSH ready" in progress.inner_text()
    launcher.locator(".spheron-status").scroll_into_view_if_needed()  # the shot shows the stages
    shot(page, "3-launched")

    # -- the dashboard: running, logs, terminate --------------------------------------------
    board = page.locator(".spheron-dashboard")
    row = board.locator(".spheron-dashboard-table .widget-hbox").filter(has_text="browser-box")
    row.locator(".spheron-status-running").wait_for()
    cells = page.locator(".jp-Notebook .jp-CodeCell")
    button = row.locator(".spheron-action-terminate").bounding_box()
    area = cells.nth(2).locator(".jp-OutputArea").bounding_box()
    assert button["x"] + button["width"] <= area["x"] + area["width"] + 1, "terminate is clipped"
    board.scroll_into_view_if_needed()
    shot(page, "4-dashboard-running")
    row.locator(".spheron-action-logs").click()
    output = board.locator(".spheron-logviewer .spheron-log-output")
    output.filter(has_text="Cloud-init").wait_for()
    board.locator(".spheron-logviewer").scroll_into_view_if_needed()
    shot(page, "5-logs")

    row.locator(".spheron-action-terminate").click()
    board.locator(".spheron-terminate-yes").click()
    board.locator(".spheron-status").filter(has_text="browser-box").filter(
        has_text="terminat").wait_for()
    board.locator(".spheron-dashboard-summary", has_text="no instances").wait_for()
    shot(page, "6-terminated")

    from spheron_jupyter.session.core import Session

    session = Session("local", url=home_emulator.url, api_key=home_emulator.api_key)
    deadline = time.monotonic() + 120
    while True:
        (view,) = session.instances(all=True)
        if view.status == "terminated" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert view.name == "browser-box" and view.status == "terminated"

    # Each panel's updates stayed in its own widgets: the launch, the log reader and the
    # terminate ran in threads while the dashboard's cell was the most recent one, where a
    # stray print or warning from them would have landed (ipykernel 7) as another output.
    for index in (1, 2):
        assert cells.nth(index).locator(".jp-OutputArea-child").count() == 1, index
    stderr = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    assert stderr.count() == 0, stderr.all_inner_texts()
    assert cells.nth(1).locator(".spheron-dashboard").count() == 0
    assert cells.nth(2).locator(".spheron-launcher").count() == 0
    assert "Traceback" not in page.locator(".jp-Notebook").inner_text()
    kernels = jupyterlab.kernels()
    assert len(kernels) == 1, json.dumps(kernels)
