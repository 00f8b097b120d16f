"""%%spheron icl --deploy and %spheron deployment ... end to end, through a real IPython shell.

sphnctl is the emulated one (`python -m spheron_jupyter sphnctl`): each deployment's service is
a real local process (a tiny HTTP server answering $GREETING) on a forwarded 127.0.0.1 port.
--follow is stopped the way the notebook's stop button does it: SIGINT to this process, sent by
a helper thread once the follow runs. Every test closes what it creates; the fixture's teardown
stops anything left and checks that no runtime, pod or sphnctl process survives.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from spheron_jupyter.config.processes import pid_alive
from spheron_jupyter.emulator.protocol_state import ProtocolStore, stop_everything
from spheron_jupyter.protocol.sphnctl import Sphnctl
from tests.support import protocol
from tests.support.protocol import poll_until


pytestmark = pytest.mark.slow

#: The service of tests/support/protocol.py, its lines naming neither the port nor the pod.
SERVER = protocol.greeting_server(tells_port_and_pod=False)


def icl(**options) -> str:
    return protocol.icl(profile="magic", server=SERVER, **options)


def sphnctl_children() -> list[int]:
    """Our own `sphnctl ... --follow` children still running (a follow that was not ended)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                ppid = int(handle.read().rsplit(b")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                argv = handle.read().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == os.getpid() and b"sphnctl" in argv and b"--follow" in argv:
            found.append(int(entry))
    return found


@pytest.fixture
def protocol_shell(shell, monkeypatch):
    monkeypatch.setenv("SPHERON_SPHNCTL", f"{sys.executable} -m spheron_jupyter sphnctl")
    yield shell
    store = ProtocolStore()
    leftovers = []
    for record in store.all():
        status = store.status(record["lid"])
        stop_everything(store, record["lid"])
        leftovers += [store.runtime_pid(record["lid"])] + [p["pid"] for p in status.get("pods", [])]
    assert not [pid for pid in leftovers if pid and pid_alive(pid)], "processes survived the test"
    assert poll_until(lambda: not sphnctl_children(), timeout=15), "a --follow sphnctl survived"


def http_get(port, timeout=5.0) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=timeout) as response:
        return response.read().decode()


def deploy(shell, body: str, *flags: str) -> tuple[int, int, str]:
    """Run %%spheron icl --deploy; return the lease id, the mapped port of 8080 and the output."""
    out = shell.ok(f"%%spheron icl --deploy --timeout 30 {' '.join(flags)}\n" + body)
    text = repr(out.result)
    lid = int(re.search(r"^lease id\s+(\d+)$", text, re.M).group(1))
    port = int(re.search(r"web: 127\.0\.0\.1:(\d+) -> 8080 \(TCP\)", text).group(1))
    return lid, port, out.stdout + text


def interrupt_when(ready, then=lambda: None, settle=1.0, timeout=30.0,
                   still_running=sphnctl_children) -> threading.Thread:
    """SIGINT this process (the notebook's stop button) once `ready()` holds and `then()` ran."""
    def act():
        started = False
        try:
            started = bool(poll_until(ready, timeout=timeout))
            then()
            time.sleep(settle)
        finally:
            # A follow that already ended on its own must not turn into a KeyboardInterrupt of
            # pytest; one that never showed up may be hung, so it is interrupted all the same.
            if not started or still_running():
                os.kill(os.getpid(), signal.SIGINT)

    helper = threading.Thread(target=act, daemon=True)
    helper.start()
    return helper


def test_deploy_get_list_logs_events_update_close(protocol_shell, tmp_path):
    sh = protocol_shell
    lid, port, shown = deploy(sh, icl())
    assert f"Deployment {lid} is available" in shown and "agreed price per hour  3 uSPON" in shown
    assert f"lease {lid} with provider 0x" in shown  # the progress lines came first
    assert "SSH tunnel" in shown and f"ssh enable --lid {lid}" in shown
    assert http_get(port) == "hello"

    got = sh.ok(f"%spheron deployment get --lid {lid}").result
    assert f"127.0.0.1:{port} -> 8080 (TCP)" in repr(got) and "Matched" in repr(got)
    assert "Not available yet" not in repr(got) and "Recent logs" not in repr(got)
    assert "<table>" in got._repr_html_()
    listed = repr(sh.ok("%spheron deployment list -a").result)  # sphnctl's -a: the active leases
    assert re.search(rf"^{lid}\s+0x\w+\s+Active", listed, re.M)

    logs = sh.ok(f"%spheron deployment logs --lid {lid} --service web --tail 5").stdout
    assert "[web-" in logs and "greeting is hello" in logs
    as_json = sh.ok(f"%spheron deployment logs --lid {lid} -o json -t 1").stdout
    assert as_json.strip().startswith("{") and len(as_json.strip().splitlines()) == 1
    events = sh.ok(f"%spheron deployment events --lid {lid} --service web").stdout
    for reason in ("Scheduled", "Pulled", "Created", "Started"):
        assert reason in events

    changed = tmp_path / "bonjour.yml"
    changed.write_text(icl(greeting="bonjour"))
    updated = repr(sh.ok(f"%spheron deployment update --lid {lid} {changed}").result)
    assert f"the lease stays {lid}" in updated
    assert poll_until(lambda: http_get(port) == "bonjour"), "the new env never reached the service"
    assert "greeting is bonjour" in sh.ok(f"%spheron deployment logs --lid {lid} --tail 5").stdout
    assert [lid] == [int(m) for m in re.findall(r"^(\d+)\s", repr(sh.ok("%spheron deployment list").result), re.M)]

    store = ProtocolStore()
    pids = [store.runtime_pid(lid), *(p["pid"] for p in store.status(lid)["pods"])]
    assert all(pid_alive(pid) for pid in pids)
    closed = repr(sh.ok(f"%spheron deployment close --lid {lid}").result)
    assert closed.startswith(f"closed deployment {lid} (close request 0x")
    assert poll_until(lambda: not any(pid_alive(pid) for pid in pids), timeout=10), "processes survived close"
    assert re.search(rf"^{lid}\s+0x\w+\s+Closed", repr(sh.ok("%spheron deployment list").result), re.M)
    assert "no active deployments: nothing bills" in repr(sh.ok("%spheron deployment list -a").result)


def test_follow_streams_until_interrupted_and_stops_sphnctl(protocol_shell, tmp_path):
    sh = protocol_shell
    lid, port, _ = deploy(sh, icl())

    def requests():
        for _ in range(3):
            http_get(port)

    interrupt_when(sphnctl_children, then=requests)
    out = sh.ok(f"%spheron deployment logs --lid {lid} --follow --service web")
    assert "greeting is hello" in out.stdout and out.stdout.count("served hello for /") == 3
    assert out.stdout.rstrip().endswith("[stopped]") and "Traceback" not in out.text
    assert poll_until(lambda: not sphnctl_children(), timeout=15), "the follow kept running"

    changed = tmp_path / "bonjour.yml"
    changed.write_text(icl(greeting="bonjour"))
    interrupt_when(sphnctl_children, then=lambda: Sphnctl().update(lid, changed), settle=2.0)
    out = sh.ok(f"%spheron deployment events --lid {lid} --follow --tail 0")
    assert re.search(r"Normal\s+Killing\s+Pod/web-", out.stdout), out.stdout
    assert out.stdout.rstrip().endswith("[stopped]") and "Traceback" not in out.text
    sh.ok(f"%spheron deployment close --lid {lid}")


def test_a_crashing_service_shows_logs_and_events_then_one_line(protocol_shell):
    crash = [sys.executable, "-c", "import sys; print('cannot find model weights', flush=True); sys.exit(3)"]
    out = protocol_shell.run("%%spheron icl --deploy --timeout 4\n" + icl(command=crash))
    assert out.failed and "Traceback" not in out.text
    assert "web 0/1 available" in out.stdout  # replicas at 0: said so, then waited
    assert "cannot find model weights" in out.stdout  # the recent logs
    assert "BackOff" in out.stdout  # the failure events
    lid = int(re.search(r"lease (\d+) with provider", out.stdout).group(1))
    assert out.error.startswith(f"UsageError: Deployment {lid} is still not available after 4s")
    assert f"%spheron deployment close --lid {lid}" in out.error

    # `get` of the lease explains the same way: replicas at 0, wait and recheck, logs and events.
    got = protocol_shell.ok(f"%spheron deployment get --lid {lid}").result
    text = repr(got)
    assert "web 0/1 available" in text and "wait a few minutes and check again" in text
    assert "cannot find model weights" in text and "BackOff" in text and "exit code 3" in text
    assert "cannot find model weights" in got._repr_html_()
    protocol_shell.ok(f"%spheron deployment close --lid {lid}")
    assert "Recent logs" not in repr(protocol_shell.ok(f"%spheron deployment get --lid {lid}").result)


def test_fizz_startup_logs_and_a_node_that_stopped(protocol_shell):
    sh = protocol_shell
    lid, port, _ = deploy(sh, icl(mode="fizz"))
    assert http_get(port) == "hello"
    startup = sh.ok(f"%spheron deployment logs --lid {lid} --startup").stdout
    assert "[Fizz Node] Pulling container image: python:3.11-slim" in startup
    line = sh.usage_error(f"%spheron deployment logs --lid {lid} --startup --follow")
    assert "cannot be followed" in line

    # sphnctl cannot follow fizz logs: the magic polls with --tail, and repeats no line.
    interrupt_when(lambda: "greeting is hello" in getattr(sys.stdout, "getvalue", str)(),
                   then=lambda: http_get(port), settle=2.5, still_running=lambda: True)
    out = sh.ok(f"%spheron deployment logs --lid {lid} --follow")
    assert out.stdout.count("greeting is hello") == 1 and out.stdout.count("served hello") == 2
    assert out.stdout.rstrip().endswith("[stopped]")

    store = ProtocolStore()
    os.kill(store.runtime_pid(lid), signal.SIGTERM)  # the node's owner stops it
    assert poll_until(lambda: not store.runtime_alive(lid))
    got = repr(sh.ok(f"%spheron deployment get --lid {lid}").result)
    assert "No response from host" in got and f"--lid {lid} --startup" in got
    assert "[Fizz Node] Pulling container image: python:3.11-slim" in got  # the start-up logs, shown
    assert got.count("No response from host") == 1
    sh.ok(f"%spheron deployment close --lid {lid}")


def test_interrupting_the_wait_keeps_the_lease_and_says_how_to_close_it(protocol_shell):
    crash = [sys.executable, "-c", "import sys; sys.exit(3)"]  # never available: the cell waits
    store = ProtocolStore()

    def waiting() -> bool:  # the cell's own output so far (IPython captures it in a StringIO)
        return "waiting until it is available" in getattr(sys.stdout, "getvalue", str)()

    interrupt_when(waiting, still_running=lambda: True)
    out = protocol_shell.ok("%%spheron icl --deploy --timeout 60\n" + icl(command=crash))
    (record,) = store.all()
    lid = record["lid"]
    assert f"interrupted: deployment {lid} exists and keeps running" in out.stdout
    assert f"close --lid {lid}" in out.stdout and "Traceback" not in out.text
    protocol_shell.ok(f"%spheron deployment close --lid {lid}")


def test_create_from_a_file_then_follow_json_logs(protocol_shell, tmp_path):
    sh = protocol_shell
    path = tmp_path / "web.yml"
    path.write_text(icl())
    text = repr(sh.ok(f"%spheron deployment create {path}").result)
    lid = int(re.search(r"^lease id\s+(\d+)$", text, re.M).group(1))
    assert text.startswith(f"Created deployment {lid}") and "agreed price per hour  3 uSPON" in text
    assert f"%spheron deployment get --lid {lid}" in text
    assert poll_until(lambda: "1/1" in repr(sh.ok(f"%spheron deployment get --lid {lid}").result))

    interrupt_when(sphnctl_children)
    out = sh.ok(f"%spheron deployment logs --lid {lid} --follow -o json --service web")
    objects = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert objects and all(obj["service"] == "web" and obj["lease_id"]["dseq"] == lid for obj in objects)
    assert "greeting is hello" in objects[0]["message"]
    assert out.stdout.rstrip().endswith("[stopped]") and "Traceback" not in out.text
    sh.ok(f"%spheron deployment close --lid {lid}")


def test_interrupting_a_create_lets_sphnctl_finish_and_says_how_to_find_the_lease(protocol_shell, monkeypatch):
    """Ctrl-C during the on-chain create (slowed down: SPHERON_SPHNCTL_STEP_SECONDS) does not
    kill sphnctl: the lease gets its manifest and runs; the user is told it may exist, how to
    list and close it, and nothing suggests creating again."""
    monkeypatch.setenv("SPHERON_SPHNCTL_STEP_SECONDS", "0.4")
    store = ProtocolStore()

    def lease_printed() -> bool:
        return "sphnctl: Lid:" in getattr(sys.stdout, "getvalue", str)()

    interrupt_when(lease_printed, settle=0, still_running=lambda: True)
    out = protocol_shell.ok("%%spheron icl --deploy --timeout 60\n" + icl())
    (record,) = store.all()
    lid = record["lid"]
    (said,) = [line for line in out.stdout.splitlines() if line.startswith("interrupted")]
    assert f"sphnctl goes on creating lease {lid} in the background, so it may exist and bill" in said
    assert "%spheron deployment list -a" in said and f"%spheron deployment close --lid {lid}" in said
    advice = said.split("sphnctl's output:")[0]
    assert "create" not in advice.replace("creating", "") and "--deploy" not in advice and "Traceback" not in out.text
    log = Path(re.search(r"sphnctl's output: (\S+)", said).group(1))
    assert poll_until(lambda: "Deployment is finished." in log.read_text(), timeout=30), log.read_text()
    assert poll_until(lambda: store.runtime_alive(lid), timeout=10)
    protocol_shell.ok(f"%spheron deployment close --lid {lid}")


def test_a_slow_create_is_not_timed_out_and_its_lines_stream(protocol_shell, monkeypatch, tmp_path):
    monkeypatch.setenv("SPHERON_SPHNCTL_STEP_SECONDS", "0.3")
    arrived: list[tuple[float, str]] = []
    sphnctl = Sphnctl(timeout=1.0)  # shorter than the whole create: create must not use it
    path = tmp_path / "web.yml"
    path.write_text(icl())
    created = sphnctl.create(path, on_line=lambda line: arrived.append((time.monotonic(), line)),
                             log_dir=tmp_path / "logs")
    assert [line for _, line in arrived][-1] == "Deployment is finished."
    assert arrived[-1][0] - arrived[0][0] > 1.0  # lines came as sphnctl printed them, over seconds
    sphnctl.close(created.lid)
