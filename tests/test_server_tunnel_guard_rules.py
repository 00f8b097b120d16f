"""tunnel_guard's rules on their own (no server): what is scrubbed, what a MAC opens, the shim.

The same rules run end to end in test_server_tunnel_guard.py (real Lab) and
tests/browser/test_browser_hostile.py (real Chromium); these pin each spelling cheaply.
"""

from __future__ import annotations

import gzip

import pytest
from tornado.httputil import HTTPHeaders

from spheron_jupyter.server import tunnel_guard as guard

TOKEN = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize("pair", [
    f"token={TOKEN}", f"TOKEN={TOKEN}", f"%74oken={TOKEN}", f"%2574oken={TOKEN}",
    f"t%6Fken={TOKEN}", f"token={TOKEN.upper()}", f"x={TOKEN}", f"next=%2Flab%3Ftoken%3D{TOKEN}",
    "token=something-else", "_xsrf=2|abc|def", "_XSRF=1",
])
def test_a_query_loses_every_spelling_of_ours_and_keeps_the_rest(pair):
    assert guard.scrub_query(f"a=1&{pair}&b=%20two", [TOKEN]) == "a=1&b=%20two"


def test_a_query_without_ours_passes_byte_for_byte():
    query = "q=a%2Fb&empty=&flag&tokens=3&mytoken=x"
    assert guard.scrub_query(query, [TOKEN]) == query


def test_a_form_body_is_scrubbed_like_a_query():
    body = f"user=me&%74oken={TOKEN}&note=hi".encode()
    assert guard.scrub_form(body, [TOKEN]) == b"user=me&note=hi"


def test_carries_finds_a_secret_in_any_case_or_encoding():
    quoted = "".join(f"%{b:02x}" for b in TOKEN.encode())
    for text in (TOKEN, TOKEN.upper(), f"/files/{quoted}/x", f"Bearer {TOKEN}",
                 f"%25{quoted[1:]}".replace("%25", "%2525", 1), TOKEN.encode()):
        assert guard.carries(text, [TOKEN]), text
    assert not guard.carries("/files/0123456789abcdef/x", [TOKEN])
    assert not guard.carries("anything", [""])


def test_a_mac_opens_its_own_tunnel_only_and_dies_with_the_server():
    capability = guard.TunnelCapability()
    mac = capability.mac("t1")
    assert len(mac) == 32 and capability.valid("t1", mac)
    assert not capability.valid("t2", mac) and not capability.valid("t1", "")
    assert not guard.TunnelCapability().valid("t1", mac)  # another server process, another key
    assert guard.tunnel_path("/user/a/", "t1", mac) == f"/user/a/spheron/tunnel/t1/{mac}/"


class _Response:
    def __init__(self, body: bytes, content_type: str, encoding: str = "", code: int = 200):
        self.body, self.code = body, code
        self.headers = HTTPHeaders({"Content-Type": content_type})
        if encoding:
            self.headers["Content-Encoding"] = encoding


def test_html_pages_load_the_shim_first_in_their_head_even_gzipped():
    rewrite = guard.storage_shim_rewriter("/base/")
    tag = b'<script src="/base/spheron/sandbox/storage.js"></script>'
    page = _Response(b"<!doctype html><html><head lang=en><title>x</title></head></html>",
                     "text/html; charset=utf-8")
    rewrite(page)
    assert page.body == b"<!doctype html><html><head lang=en>" + tag + b"<title>x</title></head></html>"
    zipped = _Response(gzip.compress(b"<!DOCTYPE html><p>no head"), "text/html", "gzip")
    rewrite(zipped)
    assert zipped.body == b"<!DOCTYPE html>" + tag + b"<p>no head"
    assert "Content-Encoding" not in zipped.headers
    for untouched in (_Response(b"{}", "application/json"), _Response(b"<p>", "text/html", "br"),
                      _Response(b"<p>gone", "text/html", code=404)):
        before = untouched.body
        rewrite(untouched)
        assert untouched.body == before


def test_the_instances_cookies_are_kept_per_tunnel_and_expire():
    jar = guard.TunnelCookies()
    jar.remember("t1", ["session=abc; Path=/; HttpOnly", "_xsrf=planted; Path=/", "bad cookie"])
    jar.remember("t2", ["other=1"])
    assert jar.header("t1") == "session=abc; _xsrf=planted" and jar.header("t2") == "other=1"
    jar.remember("t1", ["session=gone; Max-Age=0"])
    assert jar.header("t1") == "_xsrf=planted" and jar.header("t3") == ""
