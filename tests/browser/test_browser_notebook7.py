"""Jupyter Notebook 7 in a real browser: money as written, the Spheron sidebar, Open, the dashboard.

Notebook 7 (fixture: ``python -m notebook`` with our server extension and prebuilt Lab extension,
as a user install has them) + Debian's headless Chromium (Playwright) + the embedded emulator.
A notebook loads the extension, uses the emulator, launches a small instance, lists it, shows the
dashboard, and ends with a control cell of real math. The test checks what a user sees:
- money never typeset: the launch plan and the ``ls`` footer show ``$`` amounts literally, and
  no output of ours holds a MathJax/KaTeX element while the control cell does (so MathJax runs
  and the check can see math);
- the dashboard (ipywidgets in Notebook 7): the instance's row running, its buttons; TensorBoard
  from its row gives a plain link (the "open in a Lab tab" link stays hidden: Notebook 7 has no
  Lab tabs) and logs open the log viewer;
- the SSH-ready notification (JupyterLab's notifications work in Notebook 7 too);
- the Spheron sidebar, reached as a user would (View > Left Sidebar > Show Spheron: ...), lists
  the instance; Open on a tunnel opens the tunnelled page in a new browser tab through Jupyter's
  authenticated proxy (URL and content checked; no token in the URL, no handle on the opener);
  a remote Jupyter's tunnel has no Open there but says how to open it (labextension/src/sidebar.ts),
  and its plain link in the dashboard opens it, logged in, in a new tab.
Notebook 7 has no status bar, so no burn meter (the sidebar's summary says the burn instead).
Screenshots go to test-output/browser/nb7-*.png (gitignored; CI keeps test-output/).
"""

from __future__ import annotations

import re

import pytest

from tests.fixtures.browser import LONG, MATH, MATH_ELEMENTS, needs_chromium, open_notebook, shot
from tests.support.http_service import marker_page

pytestmark = [pytest.mark.slow, needs_chromium]

CELLS = [
    "%load_ext spheron_jupyter\n%spheron use local",
    "%spheron launch --gpu rtx-4090 --name nb7-box --lease 45m --yes",
    "%spheron ls",
    "%spheron panel --refresh 1",
    "from IPython.display import Markdown\nMarkdown('control: $x^2$ is math')",
]
TOAST_WAIT = 45_000  # ms
MONEY = r"<?\$\d+\.\d{2,4}"  # "<$0.0001": a cost under that (ledger/figures.py usd)
# The origin a page runs in and the cookies it can read (the proxy's shim may make the
# sandbox's throwing document.cookie read "", spheron_jupyter/server/tunnel_guard.py).
ORIGIN_AND_COOKIES = """() => {
  let cookie;
  try { cookie = document.cookie; } catch (e) { cookie = ''; }
  return [window.origin, cookie];
}"""


@pytest.fixture
def marker_service():
    """A page on "the instance" (an emulated instance shares this machine's loopback)."""
    with marker_page() as served:
        yield served


def test_notebook7_money_sidebar_open_and_dashboard(home_emulator, notebook7, notebook7_page,
                                                     marker_service):
    page = notebook7_page
    try:
        journey(home_emulator, notebook7, page, marker_service)
    except BaseException:  # what the page showed, for a failure on a CI machine
        shot(page, "nb7-failed")
        print("Notebook 7 log (end):\n" + notebook7.log()[-4000:])
        raise


def notified(page, text: str) -> None:
    """A JupyterLab notification in Notebook 7: as a toast (shown 8 s; the sidebar's model polls
    every 30 s while hidden, labextension/src/model.ts), else in the notification list. Notebook 7
    has no status bar for that list to open from (View > Show Notifications shows nothing), so
    the fallback only finds the item in the page, for a toast this test came too late for."""
    try:
        page.get_by_text(text).first.wait_for(timeout=TOAST_WAIT)
        return
    except Exception:  # playwright's TimeoutError: look in the list instead
        pass
    page.evaluate("() => window.jupyterapp.commands.execute('apputils:display-notifications')")
    page.locator(".jp-Notification-List-Item", has_text=text).first.wait_for(
        state="attached", timeout=60_000)


def journey(home_emulator, notebook7, page, marker_service) -> None:
    page.set_viewport_size({"width": 1600, "height": 1000})
    open_notebook(page, notebook7.notebook_url("nb7.ipynb"), notebook7.root / "nb7.ipynb", CELLS)
    assert page.evaluate("() => window.jupyterapp.name") == "Jupyter Notebook"
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    cells = page.locator(".jp-Notebook .jp-CodeCell")

    # -- money as written, never math ----------------------------------------------------------
    plan = cells.nth(1).locator(".jp-OutputArea-output", has_text="Launch plan").first
    plan.wait_for()
    cells.nth(1).locator(".jp-OutputArea-output", has_text="SSH ready").first.wait_for(timeout=LONG)
    notified(page, "Spheron: nb7-box is running and SSH is ready")
    plan_text = plan.inner_text()
    for label in ("$/hour", "minimum charge", "worst case"):
        assert re.search(rf"{re.escape(label)}\s+{MONEY}", plan_text), (label, plan_text)
    footer = cells.nth(2).locator(".jp-OutputArea-output", has_text="burning").first
    footer.wait_for()
    assert re.search(rf"burning {MONEY}/h now; {MONEY} spent", footer.inner_text()), footer.inner_text()
    # The control cell is typeset (MathJax runs here and leaves these elements), ours are not.
    cells.nth(4).locator(MATH_ELEMENTS).first.wait_for(timeout=LONG)
    for index in range(4):
        assert cells.nth(index).locator(MATH_ELEMENTS).count() == 0, f"cell {index} has math"
    assert page.evaluate(MATH) == cells.nth(4).locator(MATH_ELEMENTS).count()
    plan.scroll_into_view_if_needed()
    shot(page, "nb7-1-plan-and-ls")

    # -- the dashboard: its row, buttons, TensorBoard's plain link, logs -----------------------
    board = page.locator(".spheron-dashboard")
    row = board.locator(".spheron-dashboard-table .widget-hbox").filter(has_text="nb7-box")
    row.locator(".spheron-status-running").wait_for()
    for key in ("jupyter", "tensorboard", "logs", "exec", "kernel", "terminate"):
        assert row.locator(f".spheron-action-{key}").is_visible(), key
    summary = board.locator(".spheron-dashboard-summary", has_text="burning")
    assert re.search(rf"burning {MONEY}/h now; {MONEY} spent", summary.inner_text()), summary.inner_text()
    row.locator(".spheron-action-tensorboard").click()
    tb_link = board.locator(".spheron-dashboard-links .spheron-tensorboard-link")
    tb_link.locator("a[target='_blank']").first.wait_for(timeout=LONG)
    lab_tab = tb_link.locator("a.spheron-open-tab")
    assert lab_tab.count() == 1 and lab_tab.is_hidden(), "a Lab-tab link shows in Notebook 7"
    row.locator(".spheron-action-logs").click()
    board.locator(".spheron-logviewer").wait_for()
    assert cells.nth(3).locator(MATH_ELEMENTS).count() == 0, "the dashboard has math"
    board.evaluate("el => el.scrollIntoView({block: 'start'})")
    shot(page, "nb7-2-dashboard")

    # -- the sidebar, from the View menu as a user finds it ------------------------------------
    page.locator(".lm-MenuBar-item", has_text="View").click()
    page.locator(".lm-Menu-item", has_text="Left Sidebar").hover()
    page.locator(".lm-Menu-item", has_text="Show Spheron: instances and tunnels").click()
    sidebar = page.locator("#spheron-sidebar")
    sidebar.wait_for(state="visible")
    srow = sidebar.locator(".spheron-sidebar-instance", has_text="nb7-box")
    srow.locator(".spheron-sidebar-status", has_text="running").wait_for()
    assert re.search(rf"{MONEY}/h · {MONEY} so far", srow.inner_text()), srow.inner_text()
    assert "lease ends in" in srow.inner_text()
    assert re.search(rf"Burning {MONEY}/h", sidebar.locator(".spheron-sidebar-summary").inner_text())

    # -- Open on a tunnel: a new browser tab through Jupyter's proxy ----------------------------
    from spheron_jupyter.session.core import Session

    session = Session("local", url=home_emulator.url, api_key=home_emulator.api_key)
    view = session.resolve("nb7-box")
    marker_port, marker = marker_service
    tunnel = session.forward(view.id, marker_port)
    trow = sidebar.locator(f".spheron-sidebar-tunnel[data-tunnel-id='{tunnel.id}']")
    trow.wait_for()
    shot(page, "nb7-3-sidebar")
    notebook_url = page.url
    with page.context.expect_page() as opened:
        trow.locator(".spheron-sidebar-open").click()
    tab = opened.value
    tab.locator("#marker", has_text=marker).wait_for()
    # The entry spheron/proxy/<id>/ (behind Jupyter's login) redirects to the tunnel's own
    # capability URL (spheron_jupyter/server/tunnel_proxy.py).
    assert f"GET /spheron/proxy/{tunnel.id}/ " in notebook7.log()
    assert re.fullmatch(rf"{notebook7.url}/spheron/tunnel/{tunnel.id}/[^/]+/", tab.url), tab.url
    assert notebook7.token not in tab.url and str(tunnel.local_port) not in tab.url, tab.url
    # The page runs sandboxed in an opaque origin (no Jupyter cookies) with no handle on us.
    assert tab.evaluate(ORIGIN_AND_COOKIES) == ["null", ""]
    assert tab.evaluate("() => window.opener") is None
    shot(tab, "nb7-4-open-in-browser-tab")
    tab.close()
    assert page.url == notebook_url  # the notebook stayed where it was

    # -- a remote Jupyter: no Open in the sidebar, its way in said; its link opens it ----------
    row.locator(".spheron-action-jupyter").click()
    jlink = board.locator(".spheron-dashboard-links .spheron-jupyter-link a[target='_blank']").first
    jlink.wait_for(timeout=LONG)
    jtunnel = next(t for t in session.tunnels() if t.kind == "jupyter")
    jrow = sidebar.locator(f".spheron-sidebar-tunnel[data-tunnel-id='{jtunnel.id}']")
    jrow.locator(".spheron-sidebar-tunnel-note", has_text="%spheron jupyter nb7-box").wait_for()
    assert jrow.locator(".spheron-sidebar-open").count() == 0
    shot(page, "nb7-5-jupyter-tunnel")
    with page.context.expect_page() as opened:
        jlink.click()
    remote = opened.value
    remote.wait_for_url(re.compile(rf"^http://127\.0\.0\.1:{jtunnel.local_port}/(lab|tree)"))
    remote.locator(".jp-LabShell").wait_for(timeout=LONG)  # the remote JupyterLab, logged in
    remote.locator("#jupyterlab-splash").wait_for(state="detached", timeout=LONG)
    assert "/login" not in remote.url, remote.url
    shot(remote, "nb7-6-remote-jupyter")
    remote.close()
