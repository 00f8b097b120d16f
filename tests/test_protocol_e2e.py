"""End to end through the sphnctl driver against the emulated sphnctl (`spheron-jupyter sphnctl`).

The services are real local processes: a tiny HTTP server that answers with $GREETING on $PORT.
Every test closes what it creates; the fixture's teardown stops anything left over and checks
that no runtime or pod process survives (tests/fixtures/protocol_driver.py; the service and
the ICL document: tests/support/protocol.py).
"""

import os
import queue
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from spheron_jupyter.config.processes import pid_alive
from spheron_jupyter.emulator.protocol_state import ProtocolStore
from spheron_jupyter.protocol.deployments import DeploymentNotAvailableError, wait_until_available
from spheron_jupyter.protocol.sphnctl import Sphnctl, SphnctlCommandError, SphnctlNotFoundError
from tests.support.protocol import eventually, icl, write

pytestmark = pytest.mark.slow


def http_get(port, timeout=5.0):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=timeout) as response:
        return response.read().decode()


def process_ids(lid):
    store = ProtocolStore()
    status = store.status(lid)
    return [store.runtime_pid(lid), *(p["pid"] for p in status.get("pods", []) if p["pid"])]


class Follower:
    """Runs a follow iterator in a thread so the test can act while lines stream in."""

    def __init__(self, iterator_factory):
        self.cancel = threading.Event()
        self.lines = queue.Queue()
        self.error = None
        self.thread = threading.Thread(target=self._run, args=(iterator_factory,), daemon=True)
        self.thread.start()

    def _run(self, factory):
        try:
            for item in factory(self.cancel):
                self.lines.put(item)
        except Exception as error:  # surfaced by wait_for
            self.error = error

    def wait_for(self, predicate, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                item = self.lines.get(timeout=0.1)
            except queue.Empty:
                assert self.error is None, self.error
                continue
            if predicate(item):
                return item
        raise AssertionError("expected line never came")

    def stop(self):
        self.cancel.set()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive()


def test_create_get_request_follow_events_update_close(driver, tmp_path):
    created = driver.create(write(tmp_path, "web.yml", icl()))
    assert created.price_per_hour == "3" and created.provider.startswith("0x")
    lid = created.lid

    details = wait_until_available(driver, lid, interval=0.2, timeout=30)
    web = details.service("web")
    (port,) = web.ports
    assert (port.host, port.container_port, port.proto) == ("127.0.0.1", 8080, "TCP")
    assert (web.available, web.total) == (1, 1)
    assert details.status == "Matched" and details.region == "us-west"
    assert http_get(port.host_port) == "hello"

    follower = Follower(lambda cancel: driver.follow_logs(lid, service="web", cancel=cancel))
    first = follower.wait_for(lambda line: "greeting is hello" in line.text)
    assert (first.service, first.dseq) == ("web", lid)
    http_get(port.host_port)
    follower.wait_for(lambda line: "served hello for /" in line.text)

    reasons = [event.reason for event in driver.events(lid)]
    for reason in ("Scheduled", "Pulled", "Created", "Started"):
        assert reason in reasons
    assert all(event.lease_id["dseq"] == lid for event in driver.events(lid, service="web"))

    as_json = driver.logs(lid, json=True, service="web", tail=1)
    assert len(as_json) == 1 and as_json[0].service == "web" and as_json[0].dseq == lid

    event_follower = Follower(lambda cancel: driver.follow_events(lid, cancel=cancel, tail=0))
    driver.update(lid, write(tmp_path, "web2.yml", icl(greeting="bonjour")))
    assert eventually(lambda: http_get(port.host_port) == "bonjour")  # same forwarded port
    follower.wait_for(lambda line: "greeting is bonjour" in line.text)  # the new pod, same stream
    follower.stop()
    killed = event_follower.wait_for(lambda event: event.reason == "Killing")
    assert killed.service == "web" and killed.kind == "Pod"
    event_follower.stop()
    assert [row.lid for row in driver.list()] == [lid]
    assert driver.get(lid).service("web").ports == [port]

    pids = process_ids(lid)
    assert len(pids) == 2 and all(pid_alive(pid) for pid in pids)
    assert driver.close(lid).startswith("0x")
    assert eventually(lambda: not any(pid_alive(pid) for pid in pids), timeout=10)
    assert [(row.lid, row.state) for row in driver.list()] == [(lid, "Closed")]  # all leases
    assert driver.list(active_only=True) == []  # sphnctl's -a: the active ones only
    with pytest.raises(OSError):
        http_get(port.host_port, timeout=2)


def test_update_refuses_port_changes_and_keeps_the_lease(driver, tmp_path):
    lid = driver.create(write(tmp_path, "web.yml", icl())).lid
    with pytest.raises(SphnctlCommandError) as error:
        driver.update(lid, write(tmp_path, "moved.yml", icl(port=9090)))
    message = str(error.value)
    assert "\n" not in message and "ports cannot change" in message and "8080/tcp -> 9090/tcp" in message
    assert driver.get(lid).status == "Matched"
    driver.close(lid)


def test_replicas_share_the_forwarded_port(driver, tmp_path):
    lid = driver.create(write(tmp_path, "pair.yml", icl(count=2))).lid
    details = wait_until_available(driver, lid, interval=0.2, timeout=30)
    web = details.service("web")
    assert (web.available, web.total, len(web.ports)) == (2, 2, 1)
    for _ in range(4):
        assert http_get(web.ports[0].host_port) == "hello"

    def served_lines():
        lines = [line for line in driver.logs(lid) if "served" in line.text]
        return lines if len(lines) >= 4 else None

    served = eventually(served_lines)
    assert len({line.pod for line in served}) == 2  # both pods took requests
    driver.close(lid)


def test_invalid_icl_is_refused_with_path_rule_and_fix(driver, tmp_path):
    with pytest.raises(SphnctlCommandError) as error:
        driver.create(write(tmp_path, "bad.yml", icl(mode="fizz", port=443)))
    message = str(error.value)
    assert "\n" not in message and "services.web.expose[0]" in message and "443" in message
    assert driver.list() == []


def test_fizz_startup_logs_polling_follow_and_node_gone(driver, tmp_path):
    lid = driver.create(write(tmp_path, "fizz.yml", icl(mode="fizz"))).lid
    wait_until_available(driver, lid, mode="fizz", interval=0.2, timeout=30)
    startup = [line.text for line in driver.logs(lid, startup=True)]
    assert "Pulling container image: python:3.11-slim" in startup
    assert all(line.kind == "startup" for line in driver.logs(lid, startup=True))
    # The raw text opens like the docs' example (tests/data/sphnctl/docs_logs_startup.txt).
    raw = driver.run("deployment", "logs", "--lid", str(lid), "--startup").stdout.splitlines()
    assert raw[:2] == [f"Startup logs for Lease ID: {lid}", ""] and raw[2].startswith("[Fizz Node] ")

    # sphnctl refuses --follow here, so the driver polls with --tail and never repeats a line.
    follower = Follower(lambda cancel: driver.follow_logs(lid, cancel=cancel, poll_interval=0.2))
    follower.wait_for(lambda line: "greeting is hello" in line.text)
    port = driver.get(lid).service("web").ports[0].host_port
    for _ in range(3):
        http_get(port)
    served = [follower.wait_for(lambda line: "served" in line.text) for _ in range(3)]
    time.sleep(0.6)  # a few more polls: nothing is repeated
    assert follower.lines.empty()
    follower.stop()
    assert len(served) == 3

    # The node's owner stops it: get says "No response from host", the flow shows start-up logs.
    store = ProtocolStore()
    os.kill(store.runtime_pid(lid), 15)
    eventually(lambda: not store.runtime_alive(lid))
    reports = []
    with pytest.raises(DeploymentNotAvailableError):
        wait_until_available(driver, lid, mode="fizz", interval=0.1, timeout=0.3, on_report=reports.append)
    assert [r.kind for r in reports][:2] == ["no-response", "startup-logs"]
    assert any("Pulling container image" in line for line in reports[1].lines)
    driver.close(lid)


def test_a_crashing_command_shows_backoff_events_and_logs(driver, tmp_path):
    crash = [sys.executable, "-c", "import sys; print('cannot find model weights', flush=True); sys.exit(3)"]
    lid = driver.create(write(tmp_path, "crash.yml", icl(command=crash))).lid
    reports = []
    with pytest.raises(DeploymentNotAvailableError, match="still not available after 3s"):
        wait_until_available(driver, lid, interval=0.5, timeout=3, diagnose_after=1.5, on_report=reports.append)
    kinds = [r.kind for r in reports]
    assert kinds[0] == "waiting" and "web 0/1 available" in reports[0].text
    failures = next(r for r in reports if r.kind == "failures")
    assert any("BackOff" in line and "exit code 3" in line for line in failures.lines)
    logs = next(r for r in reports if r.kind == "logs")
    assert any("cannot find model weights" in line for line in logs.lines)
    driver.close(lid)


def test_missing_sphnctl_is_a_one_line_hint_not_a_traceback(tmp_path):
    code = ("from spheron_jupyter.protocol.sphnctl import Sphnctl, SphnctlError\n"
            "try:\n    Sphnctl()\nexcept SphnctlError as error:\n    print(error)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PATH": str(tmp_path), "SPHERON_SPHNCTL": ""})
    assert result.stdout.count("\n") == 1 and "Traceback" not in result.stderr
    assert "curl -sL1 https://sphnctl.sh | bash" in result.stdout
    with pytest.raises(SphnctlNotFoundError):
        Sphnctl(env={"PATH": str(tmp_path)})
