"""What keeps a tunnelled UI (served by a rented, possibly hostile machine) out of this Jupyter.

Three rules, each owned here:

1. **Its pages run in an opaque origin.** Every response under the proxy gets
   ``Content-Security-Policy: sandbox ...`` without ``allow-same-origin`` (:class:`SandboxTransform`),
   in a Lab tab, in a browser tab opened on the proxy URL and in any iframe alike. Such a page
   cannot read this origin's cookies (``document.cookie`` throws), and its requests to this
   server are cross-site: the browser sends no login cookie with them, and Jupyter refuses
   their ``Origin: null``.
2. **Its subresources are authorised by a capability, not a cookie.** Because of (1) the
   browser sends no cookie with a sandboxed page's own requests either, so the page's URL
   carries a per-tunnel MAC (:class:`TunnelCapability`): ``spheron/tunnel/<id>/<mac>/``. The MAC
   is minted only for a Jupyter-authenticated request (the ``spheron/proxy/<id>/`` entry
   redirects to it) and opens that one tunnel, which the instance already owns.
3. **Nothing of ours crosses.** Requests lose every cookie of this origin, our token in any
   spelling (header, query name or value in any case or percent-encoding, form body), and
   ``Origin``/``Referer``; a request whose path or other body still carries it is refused
   (:func:`scrub_query`, :func:`scrub_form`, :func:`carries`). Responses may not set cookies
   here (``Set-Cookie`` is dropped: a ``Path=/`` cookie would land in this Jupyter's origin);
   the instance's own cookies are kept server-side per tunnel instead (:class:`TunnelCookies`).
"""

from __future__ import annotations

import gzip
import hmac
import re
import secrets
import threading
from http.cookies import CookieError, SimpleCookie
from hashlib import sha256
from urllib.parse import quote, unquote_plus

from tornado.web import OutputTransform

#: The sandbox every proxied response gets. No ``allow-same-origin`` (that would cancel it),
#: no ``allow-top-navigation`` (the page cannot replace Lab), no
#: ``allow-popups-to-escape-sandbox`` (its popups stay sandboxed too).
SANDBOX_CSP = "sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads"
#: Request headers that name this server or carry its credentials, never forwarded.
DROPPED_REQUEST_HEADERS = ("Cookie", "Origin", "Referer", "X-Xsrftoken", "X-Csrftoken")
#: Response headers the tunnelled service may not set in this origin.
DROPPED_RESPONSE_HEADERS = ("Set-Cookie", "Access-Control-Allow-Origin",
                            "Access-Control-Allow-Credentials")
_MAC_HEX = 32


class TunnelCapability:
    """Per-server-process MACs over tunnel ids: the URL that opens one tunnel and nothing else.

    The key lives in memory only, so a server restart invalidates every capability URL (the
    sidebar's Open mints a fresh one).
    """

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or secrets.token_bytes(32)

    def mac(self, tunnel_id: str) -> str:
        return hmac.new(self._key, tunnel_id.encode(), sha256).hexdigest()[:_MAC_HEX]

    def valid(self, tunnel_id: str, mac: str) -> bool:
        return hmac.compare_digest(self.mac(tunnel_id), mac or "")


class TunnelCookies:
    """The instance's own cookies, kept by this server per tunnel instead of in the browser.

    A ``Set-Cookie`` from a tunnelled service cannot go to the browser: it would be a cookie of
    this Jupyter's origin (a ``Path=/`` ``_xsrf`` would replace Lab's). So it is remembered here
    and sent back with that tunnel's later requests, which is what the service expects of a
    browser. Bounded, per tunnel id (ids are never reused), in memory only.
    """

    MAX_PER_TUNNEL = 50
    MAX_VALUE = 4096

    def __init__(self) -> None:
        self._jars: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def remember(self, tunnel_id: str, set_cookies: list[str]) -> None:
        for raw in set_cookies:
            parsed = SimpleCookie()
            try:
                parsed.load(raw)
            except CookieError:
                continue
            with self._lock:
                jar = self._jars.setdefault(tunnel_id, {})
                for name, morsel in parsed.items():
                    if morsel["max-age"] in ("0",) or morsel["max-age"].startswith("-"):
                        jar.pop(name, None)
                    elif len(morsel.value) <= self.MAX_VALUE and (
                            name in jar or len(jar) < self.MAX_PER_TUNNEL):
                        jar[name] = morsel.value

    def header(self, tunnel_id: str) -> str:
        with self._lock:
            return "; ".join(f"{k}={v}" for k, v in self._jars.get(tunnel_id, {}).items())


def _decoded_forms(text: str) -> list[str]:
    """``text`` and what it becomes under repeated percent-decoding (``%2574`` -> ``%74`` -> ``t``),
    lower-cased, so a secret or a name matches in any spelling."""
    forms = [text]
    for _ in range(3):
        decoded = unquote_plus(forms[-1])
        if decoded == forms[-1]:
            break
        forms.append(decoded)
    return [form.lower() for form in forms]


def carries(text: str | bytes, secrets_: list[str]) -> bool:
    """True when ``text`` holds one of ``secrets_`` in any case or percent-encoding."""
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    wanted = [s.lower() for s in secrets_ if s]
    return any(secret in form for form in _decoded_forms(text) for secret in wanted)


def _scrub_pairs(text: str, secrets_: list[str], names: tuple[str, ...]) -> tuple[str, bool]:
    kept, dropped = [], False
    for pair in text.split("&"):
        name = pair.split("=", 1)[0]
        if carries(pair, secrets_) or any(form in names for form in _decoded_forms(name)):
            dropped = True
            continue
        kept.append(pair)
    # Pairs kept byte for byte: the service gets exactly what the browser sent, minus ours.
    return "&".join(p for p in kept if p), dropped


def scrub_query(query: str, secrets_: list[str]) -> str:
    """The query without our token: a ``token``/``_xsrf`` parameter in any case or encoding
    (``%74oken=``), or any parameter whose name or value carries one of ``secrets_``."""
    return _scrub_pairs(query, secrets_, ("token", "_xsrf"))[0]


def scrub_form(body: bytes, secrets_: list[str]) -> bytes:
    """An ``application/x-www-form-urlencoded`` body, scrubbed like a query."""
    return _scrub_pairs(body.decode("latin-1"), secrets_, ("token", "_xsrf"))[0].encode("latin-1")


def tunnel_path(base_url: str, tunnel_id: str, mac: str) -> str:
    """Where a tunnel's UI is served: ``{base_url}spheron/tunnel/<id>/<mac>/``."""
    return f"{base_url.rstrip('/')}/spheron/tunnel/{quote(tunnel_id, safe='')}/{mac}/"


#: Loaded by every HTML page of a tunnel, first thing in its <head>. The sandbox makes
#: ``localStorage``, ``sessionStorage`` and ``document.cookie`` throw (they would be this
#: origin's) and ``new Worker(url)`` fail (a script URL is never same-origin with an opaque
#: origin); apps such as TensorBoard stop at those errors. The page gets per-page, in-memory
#: storage and cookies instead, and a worker that imports its script from a blob URL the page
#: itself created; no OffscreenCanvas, so charts draw on the main thread. Nothing here reaches this origin's real storage or cookies. Served as a
#: script of this server (``STORAGE_SHIM_ROUTE``), not inline: a page's own CSP usually allows
#: 'self' scripts only.
STORAGE_SHIM_JS = """/* spheron-jupyter: this page runs sandboxed (spheron_jupyter/server/tunnel_guard.py) */
(function () {
  function store() {
    var d = new Map();
    return {
      get length() { return d.size; },
      key: function (i) { var k = Array.from(d.keys())[i]; return k === undefined ? null : k; },
      getItem: function (k) { k = String(k); return d.has(k) ? d.get(k) : null; },
      setItem: function (k, v) { d.set(String(k), String(v)); },
      removeItem: function (k) { d.delete(String(k)); },
      clear: function () { d.clear(); }
    };
  }
  ['localStorage', 'sessionStorage'].forEach(function (name) {
    try { window[name]; } catch (e) {
      try { Object.defineProperty(window, name, {value: store(), configurable: true}); } catch (e2) {}
    }
  });
  try { document.cookie; } catch (e) {
    var jar = new Map();
    try {
      Object.defineProperty(document, 'cookie', {configurable: true,
        get: function () {
          return Array.from(jar, function (kv) { return kv[0] + '=' + kv[1]; }).join('; ');
        },
        set: function (v) {
          var pair = String(v).split(';')[0], at = pair.indexOf('=');
          if (at > 0) { jar.set(pair.slice(0, at).trim(), pair.slice(at + 1).trim()); }
        }});
    } catch (e2) {}
  }
  var NativeWorker = window.Worker;
  if (NativeWorker) {
    var Sandboxed = function (url, options) {
      try { return new NativeWorker(url, options); } catch (e) {
        var src = new URL(String(url), document.baseURI).href;
        var body = options && options.type === 'module'
          ? 'import ' + JSON.stringify(src) + ';' : 'importScripts(' + JSON.stringify(src) + ');';
        var blob = new Blob([body], {type: 'text/javascript'});
        return new NativeWorker(URL.createObjectURL(blob), options);
      }
    };
    Sandboxed.prototype = NativeWorker.prototype;
    window.Worker = Sandboxed;
  }
  // The page's own CSP may forbid blob: workers too (TensorBoard's does), and that is only
  // reported once the worker fails: without OffscreenCanvas, charting code draws on the main
  // thread instead of handing its canvas to a worker that never starts.
  try { delete window.OffscreenCanvas; } catch (e) {}
})();
"""
STORAGE_SHIM_ROUTE = "spheron/sandbox/storage.js"
_HEAD = re.compile(rb"<head(?:\s[^>]*)?>", re.IGNORECASE)
_DOCTYPE = re.compile(rb"^\s*<!doctype[^>]*>", re.IGNORECASE)


def storage_shim_rewriter(base_url: str):
    """A jupyter-server-proxy ``rewrite_response`` that loads :data:`STORAGE_SHIM_JS` in HTML
    pages (a plain function: jupyter-server-proxy reads its argument names)."""
    tag = f'<script src="{base_url.rstrip("/")}/{STORAGE_SHIM_ROUTE}"></script>'.encode()

    def rewrite(response):
        add_storage_shim(response, tag)

    return rewrite


def add_storage_shim(response, tag: bytes) -> None:
    content_type = str(response.headers.get("Content-Type", "")).lower()
    if response.code != 200 or not content_type.startswith("text/html") or not response.body:
        return
    body = response.body
    encoding = str(response.headers.get("Content-Encoding", "")).strip().lower()
    if encoding == "gzip":
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError):
            return
    elif encoding not in ("", "identity"):
        return  # br, deflate: left as they came
    anchor = _HEAD.search(body[:4096]) or _DOCTYPE.search(body[:4096])
    at = anchor.end() if anchor else 0
    response.body = body[:at] + tag + body[at:]
    if encoding:
        del response.headers["Content-Encoding"]


class SandboxTransform(OutputTransform):
    """Applied by tornado to every response of the app; acts on proxy paths only, so errors,
    redirects, streamed answers and WebSocket handshakes of the proxy get it too."""

    #: URL prefixes (with base_url) it acts on; set once at load by the server extension.
    prefixes: tuple[str, ...] = ()
    #: Prefixes whose responses may be read by the sandboxed page's own fetch()es.
    cors_prefixes: tuple[str, ...] = ()

    def __init__(self, request) -> None:
        super().__init__(request)
        path = request.path or ""
        self._guard = any(path.startswith(p) for p in self.prefixes)
        self._cors = any(path.startswith(p) for p in self.cors_prefixes)

    def transform_first_chunk(self, status_code, headers, chunk, finishing):
        if self._guard:
            for name in DROPPED_RESPONSE_HEADERS:
                headers.pop(name, None)
            # Added, not set: a policy the service sends stays enforced as well.
            headers.add("Content-Security-Policy", SANDBOX_CSP)
            headers["Referrer-Policy"] = "no-referrer"
            headers["X-Content-Type-Options"] = "nosniff"
            if self._cors:
                # The page's origin is opaque ("null"): without this even its own relative
                # fetch()es fail. No credentials are involved, the MAC in the URL is the key.
                headers["Access-Control-Allow-Origin"] = "*"
        return status_code, headers, chunk
