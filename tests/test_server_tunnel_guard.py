"""Nothing of ours crosses the tunnel proxy, and its pages run sandboxed: against a real JupyterLab.

"The instance" is a recording HTTP server this test runs behind a real tunnel of an emulated
instance (which shares this machine's loopback). Every spelling of our token, every cookie of
the local origin, ``Origin`` and ``Referer`` are sent by the test the way a browser or a hostile
page could, and the service's record of what reached it is checked. jupyter-server-proxy's
generic ``proxy/<port>/`` routes are refused, and come back with the documented setting.
"""

from __future__ import annotations

import http.client
import http.server
import json
import re
import threading
from urllib.parse import quote, urlsplit

import pytest

from tests.support.http_service import serve

SANDBOX = "sandbox allow-scripts"


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Answers with what it got and records it; tries to set a cookie in the browser."""

    seen: list[dict] = []
    lock = threading.Lock()

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        record = {"method": self.command, "path": self.path,
                  "headers": dict(self.headers.items()),
                  "body": self.rfile.read(length).decode("latin-1")}
        with self.lock:
            self.seen.append(record)
        body = json.dumps(record).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Set-Cookie", "_xsrf=planted-by-the-instance; Path=/")
        self.send_header("Access-Control-Allow-Credentials", "true")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def recorder():
    _Recorder.seen = []
    with serve(_Recorder) as port:
        yield port


def _request(lab, method, path, *, body=None, headers=None):
    parts = urlsplit(lab.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


@pytest.fixture
def tunnel_base(jupyterlab, emulator_session, recorder):
    session = emulator_session
    view = session.launch(session.plan_launch(gpu="rtx-4090", lease="1h", name="hostile"))
    tunnel = session.forward(view.id, recorder)
    status, headers, body = _request(jupyterlab, "GET", f"/spheron/proxy/{tunnel.id}/",
                                     headers={"Authorization": f"token {jupyterlab.token}"})
    assert status == 302, body
    assert _sandboxed(headers)  # the redirect is sandboxed too
    return headers["Location"]


def _sandboxed(headers) -> bool:
    """Every policy is enforced: one with the sandbox, none re-allowing the same origin."""
    policies = headers.get_all("Content-Security-Policy") or []
    return (any(SANDBOX in policy for policy in policies)
            and not any("allow-same-origin" in policy for policy in policies))


def _only_record(status, body) -> dict:
    assert status == 200, body
    assert len(_Recorder.seen) == 1, _Recorder.seen
    return _Recorder.seen.pop()


def test_our_token_never_reaches_the_service_in_any_spelling(jupyterlab, tunnel_base):
    token = jupyterlab.token
    enc = "".join(f"%{b:02X}" for b in token.encode())  # the whole value percent-encoded
    spellings = [f"token={token}", f"TOKEN={token}", f"Token={token}", f"%74oken={token}",
                 f"%54%4F%4B%45%4E={token}", f"tok%65n={token}", f"token={enc}",
                 f"%2574oken={token}", f"other={token}", f"next=/lab%3Ftoken%3D{token}",
                 f"token={token.upper()}"]
    for spelling in spellings:
        status, _, body = _request(jupyterlab, "GET", f"{tunnel_base}q?a=1&{spelling}&b=2")
        seen = _only_record(status, body)
        assert seen["path"] == "/q?a=1&b=2", (spelling, seen["path"])
        assert token not in json.dumps(seen).lower(), spelling

    for header in (f"token {token}", f"Token {token}", f"Bearer {token}", f"TOKEN {token}"):
        status, _, body = _request(jupyterlab, "GET", f"{tunnel_base}h",
                                   headers={"Authorization": header})
        seen = _only_record(status, body)
        assert "Authorization" not in seen["headers"], header

    # A form body loses the pair; any other body or a path that carries it is refused whole.
    status, _, body = _request(jupyterlab, "POST", f"{tunnel_base}form",
                               body=f"a=1&%74oken={token}&b=2",
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert _only_record(status, body)["body"] == "a=1&b=2"
    for method, path, payload, kind in (
            ("GET", f"{tunnel_base}files/{token}/x", None, None),
            ("GET", f"{tunnel_base}files/{quote(quote(token))}/x", None, None),
            ("POST", f"{tunnel_base}json", json.dumps({"t": token}), "application/json"),
            ("PUT", f"{tunnel_base}raw", f"pre{token.upper()}post", "text/plain")):
        status, headers, body = _request(jupyterlab, method, path, body=payload,
                                         headers={"Content-Type": kind} if kind else {})
        assert status == 403 and b"token" in body, (path, body)
        assert _Recorder.seen == []
        assert _sandboxed(headers)

    # Referer and Origin name this server (and a Referer may carry the token): never sent.
    status, _, body = _request(jupyterlab, "GET", f"{tunnel_base}r", headers={
        "Referer": f"{jupyterlab.url}/lab?token={token}", "Origin": jupyterlab.url})
    seen = _only_record(status, body)
    assert not {"Referer", "Origin"} & set(seen["headers"]), seen["headers"]
    port = urlsplit(jupyterlab.url).port
    assert str(port) not in json.dumps(seen["headers"]), seen["headers"]  # Host is the service's
    assert "Traceback" not in jupyterlab.log()


def test_the_entry_url_drops_our_token_from_where_it_sends_the_browser(jupyterlab, tunnel_base):
    """A link to {base_url}spheron/proxy/<id>/... may carry ?token= (a URL copied from Lab): the
    capability URL the entry redirects to, and so the page and its service, never see it."""
    token = jupyterlab.token
    tunnel_id = tunnel_base.strip("/").split("/")[-2]
    for spelling in (f"token={token}", f"%74oken={token}", f"TOKEN={token}"):
        status, headers, body = _request(
            jupyterlab, "GET", f"/spheron/proxy/{tunnel_id}/page?a=1&{spelling}&b=2",
            headers={"Authorization": f"token {token}"})
        assert status == 302, body
        assert headers["Location"] == f"{tunnel_base}page?a=1&b=2", spelling
        status, _, body = _request(jupyterlab, "GET", headers["Location"])
        assert _only_record(status, body)["path"] == "/page?a=1&b=2"


def test_no_cookie_of_this_origin_crosses_and_the_service_sets_none(jupyterlab, tunnel_base):
    login = "username-" + re.sub(r"[^A-Za-z0-9]", "-", jupyterlab.url.split("//", 1)[1])
    cookies = (f"{login}=secret-login-value; _xsrf=2|xsrf-value-123|456; "
               "other-app-login=another-servers-session; theme=dark")
    status, headers, body = _request(jupyterlab, "POST", f"{tunnel_base}c", body=b"{}", headers={
        "Cookie": cookies, "X-XSRFToken": "2|xsrf-value-123|456",
        "Content-Type": "application/json"})
    seen = _only_record(status, body)
    assert "Cookie" not in seen["headers"] and "X-Xsrftoken" not in seen["headers"], seen
    for value in ("secret-login-value", "xsrf-value-123", "another-servers-session"):
        assert value not in json.dumps(seen)
    # What the service answers cannot plant cookies in this origin or open it to credentials.
    assert headers.get("Set-Cookie") is None and "planted" not in str(headers)
    assert headers.get("Access-Control-Allow-Credentials") is None
    # The instance's own cookie is kept for it, per tunnel, and comes back on its next request.
    status, _, body = _request(jupyterlab, "GET", f"{tunnel_base}again",
                               headers={"Cookie": cookies})
    assert _only_record(status, body)["headers"]["Cookie"] == "_xsrf=planted-by-the-instance"
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert _sandboxed(headers)
    assert headers["Referrer-Policy"] == "no-referrer"

    # The sandboxed page's own CORS preflight is answered here; the service never sees it.
    status, headers, _ = _request(jupyterlab, "OPTIONS", f"{tunnel_base}data", headers={
        "Origin": "null", "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "content-type"})
    assert status == 204 and headers["Access-Control-Allow-Methods"] == "PUT"
    assert headers["Access-Control-Allow-Origin"] == "*" and _Recorder.seen == []


def test_a_websocket_upgrade_carries_nothing_of_ours_either(jupyterlab, tunnel_base):
    """The upgrade is relayed by another path of jupyter-server-proxy (proxy_open): it too
    reaches the service without our token, cookies, Origin or Referer."""
    import base64
    import os
    import socket

    from tests.support.emulator_ssh import wait_for

    token = jupyterlab.token
    parts = urlsplit(jupyterlab.url)
    request = (f"GET {tunnel_base}ws?a=1&%74oken={token}&b=2 HTTP/1.1\r\n"
               f"Host: {parts.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
               "Sec-WebSocket-Version: 13\r\n"
               f"Origin: {jupyterlab.url}\r\nReferer: {jupyterlab.url}/lab?token={token}\r\n"
               f"Authorization: token {token}\r\n"
               "Cookie: _xsrf=2|xsrf-value-123|456; other-app-login=another-servers-session\r\n"
               "\r\n")
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as browser:
        browser.sendall(request.encode())
        assert browser.recv(4096).startswith(b"HTTP/1.1 101"), "the upgrade was not accepted"
        wait_for(lambda: _Recorder.seen, timeout=30, what="the upgrade to reach the service")
    (seen,) = _Recorder.seen
    assert seen["headers"].get("Upgrade", "").lower() == "websocket", seen  # it was the upgrade
    assert seen["path"] == "/ws?a=1&b=2", seen["path"]
    assert not {"Cookie", "Authorization", "Origin", "Referer"} & set(seen["headers"]), seen
    for value in (token, "xsrf-value-123", "another-servers-session", str(parts.port)):
        assert value not in json.dumps(seen), value


def test_generic_proxy_routes_are_refused(jupyterlab, recorder):
    auth = {"Authorization": f"token {jupyterlab.token}"}
    for path in (f"/proxy/{recorder}/x", f"/proxy/absolute/{recorder}/x",
                 f"/proxy/127.0.0.1:{recorder}/x", f"/proxy/absolute/localhost:{recorder}/x"):
        for method in ("GET", "POST"):
            status, _, body = _request(jupyterlab, method, path, headers=auth,
                                       body=b"" if method == "POST" else None)
            assert status == 403, (path, body)
            assert "allow_generic_proxy_routes" in json.loads(body)["message"]
    assert _Recorder.seen == []


@pytest.mark.parametrize("jupyterlab", [["--SpheronProxy.allow_generic_proxy_routes=True"]],
                         indirect=True)
def test_the_documented_setting_turns_the_generic_routes_back_on(jupyterlab, recorder):
    # Also shows the refusal above is ours: jupyter-server-proxy is loaded and would answer.
    status, _, body = _request(jupyterlab, "GET", f"/proxy/{recorder}/x",
                               headers={"Authorization": f"token {jupyterlab.token}"})
    assert status == 200 and _only_record(status, body)["path"] == "/x"
