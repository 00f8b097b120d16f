"""The ICL document and the small service the protocol tests deploy, and their waiting helpers.

The service is a real local process: a tiny HTTP server that answers with $GREETING on $PORT
and prints a line when it starts ("greeting is ...") and for every request ("served ...").
"""

from __future__ import annotations

import sys
import time

import yaml

_SERVER = """
import http.server, os
greeting = os.environ["GREETING"]
print(f"greeting is {greeting}<LISTENING>", flush=True)
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = greeting.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, fmt, *args):
        print(f"served {greeting} for {self.path}<POD>", flush=True)
http.server.ThreadingHTTPServer((os.environ["HOST"], int(os.environ["PORT"])), Handler).serve_forever()
"""


def greeting_server(*, tells_port_and_pod: bool = True) -> str:
    """The server's Python source; with ``tells_port_and_pod`` its lines also name $PORT
    (", listening on 8080") and the pod that served ($SPHERON_POD: " from web-...")."""
    listening, pod = (", listening on {os.environ['PORT']}", " from {os.environ['SPHERON_POD']}") \
        if tells_port_and_pod else ("", "")
    return _SERVER.replace("<LISTENING>", listening).replace("<POD>", pod)


SERVER = greeting_server()


def icl(*, greeting="hello", mode="provider", port=8080, command=None, count=1, profile="e2e",
        server=SERVER) -> str:
    """One service "web" running ``server`` (or ``command``), exposed globally on ``port``."""
    service = {
        "image": "python:3.11-slim",
        "command": command or [sys.executable, "-c"],
        "args": [] if command else [server],
        "env": [f"GREETING={greeting}"],
        "expose": [{"port": port, "as": port, "to": [{"global": True}]}],
    }
    return yaml.safe_dump({
        "version": "1.0",
        "services": {"web": service},
        "profiles": {
            "name": profile, "duration": "1h", "mode": mode, "tiers": ["community"],
            "compute": {"web": {"resources": {"cpu": {"units": 1}, "memory": {"size": "512Mi"},
                                              "storage": [{"size": "1Gi"}]}}},
            "placement": {"west": {"attributes": {"region": "us-west"},
                                   "pricing": {"web": {"token": "uSPON", "amount": 3}}}},
        },
        "deployment": {"web": {"west": {"profile": "web", "count": count}}},
    }, sort_keys=False)


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def poll_until(check, timeout=20.0, interval=0.1):
    """The first truthy result of ``check()`` (an OSError counts as not yet), or None at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
        except OSError:
            pass
        if time.monotonic() > deadline:
            return None
        time.sleep(interval)


def eventually(check, timeout=20.0, interval=0.1):
    """As ``poll_until``, but failing the test at the timeout."""
    result = poll_until(check, timeout, interval)
    if not result:
        raise AssertionError(f"condition not met within {timeout}s")
    return result
