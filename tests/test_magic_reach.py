"""Reaching an instance from the magic: jupyter, tensorboard, forward, tunnels, close, logs."""

from __future__ import annotations

import re
import socket
import threading
import time
import urllib.request

import pytest

from tests.support.magic_shell import interrupt_when_shown


@pytest.fixture
def box(emulator_shell):
    emulator_shell.ok(
        "%%spheron launch --yes\ngpu: rtx-4090\nname: box\nstartup: |\n"
        "  for i in 1 2 3; do echo boot-step-$i; done\n"
    )
    yield emulator_shell
    session = emulator_shell.context.session
    for tunnel in session.tunnels():
        session.close(tunnel.id)


def _fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=20) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def test_jupyter_link_works_and_is_reused(box):
    out = box.ok("%spheron jupyter box")
    # A terminal IPython saves nothing, so it prints the token link itself.
    link = re.search(r"Jupyter: (http://127\.0\.0\.1:(\d+)/lab\?token=(\S+))", out.text)
    assert link, out.text
    _url, port, token = link.group(1), link.group(2), link.group(3)
    status, _ = _fetch(f"http://127.0.0.1:{port}/api/status?token={token}")
    assert status == 200
    assert _fetch(f"http://127.0.0.1:{port}/api/status")[0] == 403  # no token, no entry
    again = box.ok("%spheron jupyter box").text
    assert f"127.0.0.1:{port}" in again and "reused" in again
    tunnels = box.ok("%spheron tunnels").text
    assert "jupyter" in tunnels and f"127.0.0.1:{port}" in tunnels
    assert "jupyter-started" in box.ok("%spheron events box").text
    tunnel_id = box.context.session.tunnels()[0].id
    assert "is free" in box.ok(f"%spheron close {tunnel_id}").text
    with pytest.raises(ConnectionRefusedError):  # nothing listens there any more
        socket.create_connection(("127.0.0.1", int(port)), timeout=5)
    assert "no open tunnels" in box.ok("%spheron tunnels").text


def test_notebook_link_is_a_one_time_redirect_without_the_token():
    from spheron_jupyter.notebook.links import one_time_link

    target = "http://127.0.0.1:9/lab?token=s3cret-token-value"
    link = one_time_link(target)
    assert "s3cret" not in link

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as first:
        opener.open(link, timeout=5)
    assert first.value.code == 302 and first.value.headers["Location"] == target
    with pytest.raises(urllib.error.HTTPError) as second:
        opener.open(link, timeout=5)
    # Spent: later clicks get the page without the token (the browser has the cookie).
    assert second.value.code == 302 and second.value.headers["Location"] == "http://127.0.0.1:9/lab"
    expired = one_time_link(target, ttl=-1)
    with pytest.raises(urllib.error.HTTPError) as late:
        opener.open(expired, timeout=5)
    assert late.value.code == 410


def test_tensorboard_through_a_tunnel(box):
    box.ok("%spheron exec box -- mkdir -p runs")
    out = box.ok("%spheron tensorboard box --logdir runs")
    port = re.search(r"TensorBoard: http://127\.0\.0\.1:(\d+)/", out.text).group(1)
    status, body = _fetch(f"http://127.0.0.1:{port}/")
    assert status == 200 and "TensorBoard" in body


def test_forward_any_port_and_port_in_use(box):
    # An emulated instance shares this machine's loopback, so a service the test listens on is
    # "a port on the instance". (Not port 22: whether a host sshd runs there varies by machine.)
    with socket.socket() as service:
        service.bind(("127.0.0.1", 0))
        service.listen()
        remote = service.getsockname()[1]

        def greet():  # every connection: `forward` may probe the port before handing it out
            while True:
                try:
                    conn, _ = service.accept()
                except OSError:
                    return
                with conn:
                    conn.sendall(b"hello from the instance\n")

        threading.Thread(target=greet, daemon=True).start()
        out = box.ok(f"%spheron forward box {remote}")
        port = int(re.search(rf"127\.0\.0\.1:(\d+) -> .*{remote}", out.text).group(1))
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            assert conn.recv(64) == b"hello from the instance\n"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        line = box.usage_error(f"%spheron forward box 8080 --local-port {busy}")
    assert str(busy) in line and "use" in line.lower()


def test_logs_startup_tail_and_follow_stopped_by_interrupt(box):
    out = box.ok("%spheron logs box --startup")
    assert "boot-step-1\nboot-step-2\nboot-step-3" in out.stdout
    tail = box.ok("%spheron logs box --tail 2").stdout
    assert len([line for line in tail.splitlines() if line.strip()]) == 2
    box.ok("%spheron exec box -- sh -c 'echo first > app.log'")
    writer = threading.Thread(target=lambda: (
        time.sleep(1.0), box.context.session.exec("box", "echo second >> app.log", lambda *a: None)))
    writer.start()
    stop = interrupt_when_shown("second")  # the stop button, once the appended line shows
    try:
        followed = box.ok("%spheron logs box --file app.log --follow")
    finally:
        stop.set()
    writer.join()
    assert "first" in followed.stdout and "second" in followed.stdout
    assert "[stopped]" in followed.stdout and "Traceback" not in followed.text


def test_exec_interrupted_stops_cleanly(box):
    stop = interrupt_when_shown("going")
    started = time.monotonic()
    try:
        out = box.ok("%spheron exec box -- sh -c 'echo $$ > job.pid; echo going; sleep 30; echo never'")
    finally:
        stop.set()
    assert time.monotonic() - started < 15
    assert "going" in out.stdout and "never" not in out.stdout and "interrupted" in out.stdout
    assert "Traceback" not in out.text
    # "stopped" means stopped on the instance too, not just no longer shown here.
    deadline = time.monotonic() + 20
    while True:
        probe = box.ok("%spheron exec box -- sh -c 'kill -0 $(cat job.pid) 2>/dev/null "
                       "&& echo still-running || echo gone'").stdout
        if "gone" in probe or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert "gone" in probe, probe
