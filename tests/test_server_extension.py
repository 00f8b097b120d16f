"""The Jupyter server extension in a real JupyterLab: the sidebar's state and the tunnel proxy.

Instances come from the real emulator and tunnels from the real tunnel agent; "a port on the
instance" is a server this test runs, since an emulated instance shares this machine's loopback.
"""

from __future__ import annotations

import asyncio
import http.client
import http.server
import json
import re
import threading
import time
from urllib.parse import urlsplit

import pytest

from spheron_jupyter.ledger import InstanceRecord, Ledger, TunnelRecord
from tests.support.http_service import serve

API_URL = "http://emulated.invalid"


def _request(lab, method: str, path: str, *, token: bool = True, body: bytes | None = None,
             headers: dict | None = None) -> tuple[int, dict, bytes]:
    """One request, redirects not followed (a login redirect must not look like the content)."""
    parts = urlsplit(lab.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    all_headers = dict(headers or {})
    if token:
        all_headers["Authorization"] = f"token {lab.token}"
    try:
        conn.request(method, path, body=body, headers=all_headers)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def _state(lab) -> tuple[dict, bytes]:
    status, _, body = _request(lab, "GET", "/spheron/api/state")
    assert status == 200, body
    return json.loads(body), body


class _EchoHandler(http.server.BaseHTTPRequestHandler):
    """Answers with what it was asked: method, path with query, headers and body."""

    def _echo(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = json.dumps({"method": self.command, "path": self.path,
                           "headers": dict(self.headers.items()),
                           "body": self.rfile.read(length).decode()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _echo

    def log_message(self, *args):
        pass


@pytest.fixture
def echo_service():
    with serve(_EchoHandler) as port:
        yield port


@pytest.fixture
def session(emulator_session):
    return emulator_session


def test_state_needs_jupyter_auth(jupyterlab):
    status, _, body = _request(jupyterlab, "GET", "/spheron/api/state", token=False)
    assert status == 403 and b"instances" not in body


def test_state_lists_active_instances_open_tunnels_and_the_burn(jupyterlab):
    assert _state(jupyterlab)[0]["instances"] == []  # no ledger yet: empty, not an error
    ledger, now = Ledger(), time.time()
    ledger.record_instance(InstanceRecord(API_URL, "i-run", "local", name="trainer",
                                          status="running", created_at=now - 3600,
                                          hourly_rate=2.5, lease_seconds=7200))
    ledger.record_instance(InstanceRecord(API_URL, "i-boot", "local", name="booting",
                                          status="deploying", created_at=now, hourly_rate=1.0))
    ledger.record_instance(InstanceRecord(API_URL, "i-gone", "local", name="gone",
                                          status="terminated", created_at=now - 7200,
                                          hourly_rate=9.0, terminated_at=now - 3600))
    ledger.record_tunnel(TunnelRecord("tabc123", API_URL, "i-run", "tensorboard", 41234, 6006,
                                      extra={"token": "service-token-must-not-leak"}))
    ledger.record_tunnel(TunnelRecord("tclosed", API_URL, "i-run", "forward", 41235, 8080))
    ledger.close_tunnel("tclosed")

    state, body = _state(jupyterlab)
    assert state["currency"] == "USD" and abs(state["now"] - time.time()) < 60
    assert state["burn_per_hour"] == pytest.approx(3.5)
    by_id = {row["id"]: row for row in state["instances"]}
    assert set(by_id) == {"i-run", "i-boot"}
    trainer = by_id["i-run"]
    assert (trainer["name"], trainer["backend"], trainer["status"], trainer["hourly_rate"],
            trainer["lease_seconds"], trainer["api_url"]) == (
        "trainer", "local", "running", 2.5, 7200, API_URL)
    assert trainer["cost_so_far"] == pytest.approx(2.5, rel=0.05)
    assert trainer["created_at"] == pytest.approx(now - 3600)
    # The ledger remembers tunnels, but only the tunnel agent serves them, and none runs: a
    # remembered row is no tunnel (the agent's list is the one truth), so nothing to Open.
    assert state["tunnels"] == []
    assert b"service-token-must-not-leak" not in body
    assert jupyterlab.token.encode() not in body


def test_a_launched_instance_and_its_tunnel_reach_the_sidebar_and_the_proxy(
        jupyterlab, emulator, session, echo_service):
    plan = session.plan_launch(gpu="rtx-4090", lease="1h", name="proxied")
    view = session.launch(plan)
    state, body = _state(jupyterlab)
    row = next(r for r in state["instances"] if r["id"] == view.id)
    assert row["status"] == "running" and row["hourly_rate"] == pytest.approx(plan.hourly_rate)
    assert state["burn_per_hour"] == pytest.approx(plan.hourly_rate)
    assert emulator.api_key.encode() not in body and jupyterlab.token.encode() not in body

    tunnel = session.forward(view.id, echo_service)
    state, _ = _state(jupyterlab)
    assert [(t["id"], t["instance_name"], t["kind"]) for t in state["tunnels"]] == [
        (tunnel.id, "proxied", "forward")]
    prefix = f"/spheron/proxy/{tunnel.id}"

    # The entry (Jupyter's auth) sends the browser to the tunnel's capability URL.
    status, headers, _ = _request(jupyterlab, "GET", f"{prefix}/some/path?x=1")
    assert status == 302, headers
    location = headers["Location"]
    assert re.fullmatch(rf"/spheron/tunnel/{tunnel.id}/[0-9a-f]{{32}}/some/path\?x=1", location)
    status, _, body = _request(jupyterlab, "GET", location, token=False)
    assert status == 200, body
    assert json.loads(body)["path"] == "/some/path?x=1"  # prefix stripped, query kept
    base = _tunnel_base(jupyterlab, tunnel.id)
    status, headers, _ = _request(jupyterlab, "GET", prefix)  # relative links need the slash
    assert status == 302 and headers["Location"] == base

    status, _, body = _request(jupyterlab, "POST", f"{base}submit", token=False, body=b"payload",
                               headers={"Content-Type": "text/plain"})
    assert status == 200 and json.loads(body)["body"] == "payload"

    # Without Jupyter's auth the entry gives nothing away, and a wrong MAC is a closed tunnel.
    status, headers, body = _request(jupyterlab, "GET", f"{prefix}/some/path", token=False)
    assert status in (302, 403) and b"/some/path\"" not in body
    assert "spheron/tunnel" not in headers.get("Location", "")
    if status == 302:
        assert "login" in headers["Location"]
    wrong = re.sub(r"/[0-9a-f]{32}/", "/" + "0" * 32 + "/", base)
    status, _, body = _request(jupyterlab, "GET", f"{wrong}some/path")
    assert status == 404 and b"/some/path\"" not in body

    status, _, body = _request(jupyterlab, "GET", "/spheron/proxy/tnosuch/some/path")
    assert status == 404 and "%spheron tensorboard" in json.loads(body)["message"]

    session.close(tunnel.id)
    for path in (f"{prefix}/some/path", f"{base}some/path"):
        status, _, body = _request(jupyterlab, "GET", path)
        assert status == 404 and "forward" in json.loads(body)["message"]
    assert _state(jupyterlab)[0]["tunnels"] == []

    # The agent dies with a tunnel open (its ledger row stays open): no Open, no forwarding.
    import os
    import signal

    from spheron_jupyter.ssh.tunnel import TunnelAgentClient

    again = session.forward(view.id, echo_service)
    assert [t["id"] for t in _state(jupyterlab)[0]["tunnels"]] == [again.id]
    os.kill(TunnelAgentClient().ping(), signal.SIGKILL)
    assert any(t.id == again.id for t in session.ledger.tunnels())
    assert _state(jupyterlab)[0]["tunnels"] == []
    status, _, _ = _request(jupyterlab, "GET", f"/spheron/proxy/{again.id}/x")
    assert status == 404
    assert "Traceback" not in jupyterlab.log()


def _tunnel_base(lab, tunnel_id: str) -> str:
    """The capability URL the authenticated entry redirects to (with its trailing slash)."""
    status, headers, body = _request(lab, "GET", f"/spheron/proxy/{tunnel_id}/")
    assert status == 302, body
    return headers["Location"]


class _WebSocketEcho:
    """A tornado WebSocket echo server on its own loop in a thread."""

    def __init__(self):
        self.port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self._thread.start()
        ready.wait(10)

    def _run(self, ready: threading.Event) -> None:
        import tornado.httpserver
        import tornado.netutil
        import tornado.web
        import tornado.websocket

        class Echo(tornado.websocket.WebSocketHandler):
            def on_message(self, message):
                self.write_message(f"{self.request.path}:{message}")

        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        server = tornado.httpserver.HTTPServer(tornado.web.Application([(r"/.*", Echo)]))
        server.add_sockets(sockets)
        self.port = sockets[0].getsockname()[1]
        ready.set()
        self._loop.run_forever()
        server.stop()

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


async def _ws_roundtrip(url: str, headers: dict) -> str:
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    conn = await asyncio.wait_for(websocket_connect(HTTPRequest(url, headers=headers)), 30)
    try:
        await conn.write_message("ping")
        return await asyncio.wait_for(conn.read_message(), 30)
    finally:
        conn.close()


def test_a_websocket_goes_through_the_proxy_by_its_capability_only(jupyterlab, session):
    from tornado.httpclient import HTTPClientError

    echo = _WebSocketEcho()
    try:
        view = session.launch(session.plan_launch(gpu="rtx-4090", lease="1h", name="ws"))
        tunnel = session.forward(view.id, echo.port)
        base = _tunnel_base(jupyterlab, tunnel.id)
        url = jupyterlab.url.replace("http", "ws", 1) + f"{base}socket"
        # What a sandboxed page sends: no cookie, no token, and an opaque origin.
        assert asyncio.run(_ws_roundtrip(url, {"Origin": "null"})) == "/socket:ping"
        for refused_url in (re.sub(r"/[0-9a-f]{32}/", "/" + "f" * 32 + "/", url),
                            jupyterlab.url.replace("http", "ws", 1)
                            + f"/spheron/proxy/{tunnel.id}/socket"):
            with pytest.raises(HTTPClientError) as refused:
                asyncio.run(_ws_roundtrip(refused_url,
                                          {"Authorization": f"token {jupyterlab.token}"}))
            assert refused.value.code in (400, 404)
    finally:
        echo.stop()
