"""The sidebar's Kernel button in real Chromium: JupyterLab, then Notebook 7.

The test process launches an instance on the emulator (the ledger is shared with the server
through SPHERON_JUPYTER_HOME); no magic runs. In the browser: the instance's row in the Spheron
sidebar, a click on its Kernel button (labextension/src/kernel.ts, which POSTs to
spheron/api/kernel/<id>), the notification, and without a reload the launcher tile
"Spheron: NAME (GPU)"; a notebook made from that tile runs its cell on the instance (the spec
names no Python: the kernel's launcher finds one there at start). The row then says
"Kernel installed" with a Remove button, whose DELETE takes the tile out of an open launcher
and the kernelspec dir off the disk. In Notebook 7 the same button puts the spec in the app's
kernelspecs at once (what Kernel > Change Kernel lists), and its Remove takes it out of them and
off the disk. Screenshots go to test-output/browser/.
"""

from __future__ import annotations

import json

import pytest

from tests.browser.test_browser_kernel import run_on_instance
from tests.fixtures.browser import needs_chromium, shot

pytestmark = [pytest.mark.slow, needs_chromium]

INSTALLED = "Kernel 'Spheron: {name} (GPU)' installed: pick it in the launcher or Kernel > Change Kernel"
REMOVED = "Kernel 'Spheron: {name} (GPU)' removed"
HAS_SPEC = """name => {
  const specs = window.jupyterapp.serviceManager.kernelspecs.specs;
  return !!specs && !!specs.kernelspecs[name];
}"""


def _click_kernel(sidebar, instance_id: str):
    row = sidebar.locator(f".spheron-sidebar-instance[data-instance-id='{instance_id}']")
    row.locator(".spheron-sidebar-status", has_text="running").wait_for()
    button = row.locator(".spheron-sidebar-kernel")
    button.wait_for()
    assert button.inner_text() == "Kernel"
    button.click()
    return row


def _remove(page, row, name: str, spec_dir) -> None:
    """The row's Remove: the notification, the spec gone from the app's kernelspecs (without a
    reload) and from the disk, and the row offering the Kernel button again."""
    remove = row.locator(".spheron-sidebar-kernel-remove")
    assert remove.inner_text() == "Remove"
    remove.click()
    page.get_by_text(REMOVED.format(name=name)).first.wait_for()
    page.wait_for_function(f"() => !({HAS_SPEC})('spheron-{name}')", timeout=30_000)
    assert not spec_dir.exists()
    row.locator(".spheron-sidebar-kernel", has_text="Kernel").wait_for()
    assert row.locator(".spheron-sidebar-kernel-installed").count() == 0


def test_sidebar_kernel_button_puts_the_kernel_in_the_launcher(
        jupyterlab, emulator_session, page):
    session = emulator_session
    view = session.launch(session.plan_launch(gpu="rtx-4090", name="sbk"))
    try:
        page.goto(f"{jupyterlab.url}/lab?token={jupyterlab.token}")
        launcher = page.locator(".jp-Launcher-section .jp-LauncherCard")
        launcher.first.wait_for()
        assert launcher.filter(has_text="Spheron: sbk").count() == 0
        page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id='spheron-sidebar']").click()
        row = _click_kernel(page.locator("#spheron-sidebar"), view.id)
        page.get_by_text(INSTALLED.format(name="sbk")).first.wait_for()
        row.locator(".spheron-sidebar-kernel-installed", has_text="Kernel installed").wait_for()
        assert row.locator(".spheron-sidebar-kernel").count() == 0
        tile = launcher.filter(has_text="Spheron: sbk")
        tile.first.wait_for(timeout=30_000)  # refreshed specs, no page reload
        shot(page, "sidebar-kernel-1-launcher")

        spec = json.loads((jupyterlab.root.parent / "data" / "kernels" / "spheron-sbk"
                           / "kernel.json").read_text())
        assert spec["display_name"] == "Spheron: sbk (GPU)" and "--python" not in spec["argv"]
        run_on_instance(page, tile, "Spheron: sbk (GPU)", view.id)
        shot(page, "sidebar-kernel-2-cell-on-instance")

        # Remove: the tile leaves an open launcher without a reload, the spec dir is gone and
        # the row offers the Kernel button again.
        page.evaluate("() => window.jupyterapp.commands.execute('launcher:create')")
        tile.first.wait_for()
        _remove(page, row, "sbk", jupyterlab.root.parent / "data" / "kernels" / "spheron-sbk")
        tile.first.wait_for(state="detached", timeout=30_000)
        assert launcher.filter(has_text="Spheron: sbk").count() == 0
        shot(page, "sidebar-kernel-3-removed")
    except BaseException:
        shot(page, "sidebar-kernel-failed")
        print("JupyterLab log (end):\n" + jupyterlab.log()[-4000:])
        raise


def test_notebook7_sidebar_kernel_button_refreshes_its_kernelspecs(
        notebook7, emulator_session, notebook7_page):
    page, session = notebook7_page, emulator_session
    view = session.launch(session.plan_launch(gpu="rtx-4090", name="nbk"))
    try:
        page.goto(f"{notebook7.url}/tree?token={notebook7.token}")
        page.wait_for_function("() => !!(window.jupyterapp && window.jupyterapp.serviceManager"
                               ".kernelspecs.specs)")
        assert not page.evaluate(HAS_SPEC, "spheron-nbk")
        page.locator(".lm-MenuBar-item", has_text="View").click()
        page.locator(".lm-Menu-item", has_text="Left Sidebar").hover()
        page.locator(".lm-Menu-item", has_text="Show Spheron: instances and tunnels").click()
        row = _click_kernel(page.locator("#spheron-sidebar"), view.id)
        page.get_by_text(INSTALLED.format(name="nbk")).first.wait_for()
        row.locator(".spheron-sidebar-kernel-installed").wait_for()
        page.wait_for_function(HAS_SPEC, arg="spheron-nbk", timeout=30_000)
        spec_dir = notebook7.root.parent / "data" / "kernels" / "spheron-nbk"
        assert (spec_dir / "kernel.json").is_file()
        shot(page, "sidebar-kernel-4-notebook7")

        # Remove, as in Lab: the spec leaves the app's kernelspecs (Change Kernel's list) without
        # a reload, its dir leaves the data dir, and the row offers the Kernel button again.
        _remove(page, row, "nbk", spec_dir)
        shot(page, "sidebar-kernel-5-notebook7-removed")
    except BaseException:
        shot(page, "sidebar-kernel-nb7-failed")
        print("Notebook 7 log (end):\n" + notebook7.log()[-4000:])
        raise
