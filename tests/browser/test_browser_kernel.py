"""`%spheron kernel` in a real JupyterLab and browser: the launcher offers "Spheron: kbox (GPU)",
and a notebook made from that tile runs its cell on the emulated instance.

The test process launches the instance and runs `%spheron kernel kbox` (the magic, through a
real IPython shell) with JUPYTER_DATA_DIR set to the Lab server's data dir, before the page
loads, as a user would in another notebook. Then, in headless Chromium: the launcher tile,
click, kernel idle, a cell printing SPHERON_INSTANCE_ID, its output. Screenshots go to
test-output/browser/.
"""

from __future__ import annotations

import pytest

from tests.fixtures.browser import KERNEL_IDLE, LONG, needs_chromium, shot

pytestmark = [pytest.mark.slow, needs_chromium]

SET_CELL = """source => {
  const w = window.jupyterapp.shell.currentWidget;
  w.content.activeCellIndex = 0;
  w.content.activeCell.model.sharedModel.setSource(source);
}"""


@pytest.fixture
def kbox(jupyterlab, emulator_shell, monkeypatch):
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(jupyterlab.root.parent / "data"))
    emulator_shell.ok("%%spheron launch --yes\ngpu: rtx-4090\nname: kbox\n")
    emulator_shell.ok("%spheron kernel kbox")
    return emulator_shell.context.session.resolve("kbox").id


def test_launcher_shows_the_spheron_kernel_and_its_notebook_runs_on_the_instance(
        jupyterlab, kbox, page):
    try:
        page.goto(f"{jupyterlab.url}/lab?token={jupyterlab.token}")
        tile = page.locator(".jp-Launcher-section .jp-LauncherCard", has_text="Spheron: kbox")
        tile.first.wait_for()
        shot(page, "kernel-1-launcher")
        run_on_instance(page, tile, "Spheron: kbox (GPU)", kbox)
        shot(page, "kernel-2-cell-on-instance")
    except BaseException:
        shot(page, "kernel-failed")
        print("JupyterLab log (end):\n" + jupyterlab.log()[-4000:])
        raise


def run_on_instance(page, tile, display_name: str, instance_id: str) -> None:
    """A notebook from the launcher tile of our kernel: idle, named so, a cell runs there."""
    tile.first.click()
    page.wait_for_selector(".jp-Notebook .jp-Cell")
    page.wait_for_function(KERNEL_IDLE, timeout=LONG)
    page.locator(".jp-Toolbar-kernelName", has_text=display_name).first.wait_for()
    page.evaluate(SET_CELL, "import os\nprint('on', os.environ['SPHERON_INSTANCE_ID'])")
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-cell')")
    page.locator(".jp-OutputArea-output", has_text=f"on {instance_id}").wait_for()
