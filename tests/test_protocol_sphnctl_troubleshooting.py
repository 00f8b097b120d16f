"""Seed 000's troubleshooting advice as behaviour: wait_until_available and troubleshoot."""

from pathlib import Path

import pytest

from spheron_jupyter.protocol.deployments import (
    DeploymentNotAvailableError,
    troubleshoot,
    wait_until_available,
)
from spheron_jupyter.protocol.parsers import parse_events, parse_get, parse_logs

DATA = Path(__file__).parent / "data" / "sphnctl"


def sample(name):
    return (DATA / name).read_text()


class ScriptedDriver:
    """Answers get/logs/events from the sample outputs, one `get` answer per check."""

    def __init__(self, gets):
        self.gets = list(gets)
        self.calls = []

    def get(self, lid):
        self.calls.append(("get", lid))
        text = self.gets.pop(0) if len(self.gets) > 1 else self.gets[0]
        return parse_get(text)

    def logs(self, lid, *, tail=None, service=None, startup=False, json=False):
        self.calls.append(("logs", lid, tail, startup))
        return parse_logs(sample("logs_startup.txt" if startup else "logs.txt"))

    def events(self, lid, *, tail=None, service=None):
        self.calls.append(("events", lid, tail))
        return parse_events(sample("events_pretty.txt"))


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds
        return False


def available_text():
    return sample("get_zero_replicas.txt").replace("0/1 available, 0 ready", "1/1 available, 1 ready")


def test_available_at_once_says_so_with_ports():
    reports = []
    details = wait_until_available(ScriptedDriver([available_text()]), 45, on_report=reports.append)
    assert details.available
    assert [r.kind for r in reports] == ["available"]
    assert "lab 1/1 available" in reports[0].text
    assert "provider.gpufarm.xyz:31068 -> 8888 (TCP)" in reports[0].text


def test_zero_replicas_waits_rechecks_then_shows_logs_and_events():
    clock = FakeClock()
    driver = ScriptedDriver([sample("get_zero_replicas.txt")] * 4 + [available_text()])
    reports = []
    wait_until_available(driver, 45, interval=10, diagnose_after=20, on_report=reports.append,
                         clock=clock, sleep=clock.sleep)
    kinds = [r.kind for r in reports]
    assert kinds == ["waiting", "logs", "failures", "events", "available"]
    assert "lab 0/1 available" in reports[0].text and "checking again every 10s" in reports[0].text
    assert any("Serving HTTP" in line for line in reports[1].lines)
    assert reports[2].lines == ['Warning Failed Pod/web-5d8f7c9b4-x2x7p: Failed to pull image "python:3.11-slimm": not found']
    assert [c[0] for c in driver.calls].count("get") == 5
    # The diagnosis is shown once, not at every recheck, since no new failure appeared.
    assert kinds.count("logs") == 1


def test_gives_up_after_the_timeout_with_a_one_line_error():
    clock = FakeClock()
    reports = []
    with pytest.raises(DeploymentNotAvailableError) as error:
        wait_until_available(ScriptedDriver([sample("get_zero_replicas.txt")]), 45, timeout=30,
                             interval=10, diagnose_after=10, on_report=reports.append,
                             clock=clock, sleep=clock.sleep)
    assert str(error.value) == "Deployment 45 is still not available after 30s (lab 0/1 available)."
    assert reports[-1].kind == "timeout"


def test_fizz_no_response_shows_the_startup_logs_once():
    clock = FakeClock()
    driver = ScriptedDriver([sample("get_fizz_no_response.txt")] * 3 + [available_text()])
    reports = []
    wait_until_available(driver, 46, mode="fizz", interval=5, on_report=reports.append,
                         clock=clock, sleep=clock.sleep)
    assert [r.kind for r in reports] == ["no-response", "startup-logs", "available"]
    assert "No response from host" in reports[0].text
    assert "[Fizz Node] Pulling container image: python:3.11-slim" in reports[1].lines
    assert ("logs", 46, 50, True) in driver.calls


def test_troubleshoot_once():
    reports = troubleshoot(ScriptedDriver([sample("get_zero_replicas.txt")]), 45)
    assert [r.kind for r in reports] == ["logs", "failures", "events"]
    fizz = troubleshoot(ScriptedDriver([sample("get_fizz_no_response.txt")]), 46)
    assert [r.kind for r in fizz] == ["no-response", "startup-logs"]
    assert "owner stopped the node" in str(fizz[0])


def test_no_response_for_a_lease_without_startup_logs_keeps_waiting():
    """A provider-mode lease whose host does not answer: sphnctl refuses --startup there, which is
    said, and the wait goes on instead of ending in that error."""
    from spheron_jupyter.protocol.sphnctl import SphnctlCommandError

    class ProviderDriver(ScriptedDriver):
        def logs(self, lid, *, tail=None, service=None, startup=False, json=False):
            if startup:
                raise SphnctlCommandError("sphnctl deployment logs failed: --startup is only available for "
                                          "fizz mode deployments", returncode=1)
            return super().logs(lid, tail=tail, service=service)

    clock = FakeClock()
    reports = []
    driver = ProviderDriver([sample("get_fizz_no_response.txt")] * 2 + [available_text()])
    wait_until_available(driver, 46, mode="provider", interval=5, on_report=reports.append,
                         clock=clock, sleep=clock.sleep)
    assert [r.kind for r in reports] == ["no-response", "startup-logs", "available"]
    assert "--startup is only available for fizz mode" in reports[1].text and reports[1].lines == []
