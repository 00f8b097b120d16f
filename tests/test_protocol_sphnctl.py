"""The sphnctl driver against a scripted stand-in that prints the documented sample outputs.

The stand-in and its `fake` fixture: tests/fixtures/sphnctl_fake.py.
"""

import sys
import threading
import time

import pytest

from spheron_jupyter.config.processes import pid_alive
from spheron_jupyter.protocol.sphnctl import (
    INSTALL_HINT,
    Sphnctl,
    SphnctlCommandError,
    SphnctlNotFoundError,
    SphnctlTimeoutError,
    TailDeduplicator,
    find_sphnctl,
)


def wait_gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_missing_sphnctl_is_one_line_with_the_install_hint(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SphnctlNotFoundError) as error:
        Sphnctl()
    message = str(error.value)
    assert "\n" not in message
    assert "curl -sL1 https://sphnctl.sh | bash" in message
    assert "SPHERON_SPHNCTL" in message and "spheron-jupyter sphnctl" in message
    assert message == INSTALL_HINT


def test_a_configured_but_missing_command_says_which(monkeypatch):
    monkeypatch.setenv("SPHERON_SPHNCTL", "/no/such/sphnctl --flag")
    with pytest.raises(SphnctlNotFoundError, match="SPHERON_SPHNCTL='/no/such/sphnctl --flag' was not found: install it"):
        find_sphnctl()


def test_a_program_that_cannot_be_run_is_the_one_line_hint(tmp_path, monkeypatch):
    broken = tmp_path / "sphnctl"
    broken.write_bytes(b"\x00\x01 not a program")
    broken.chmod(0o755)
    monkeypatch.setenv("SPHERON_SPHNCTL", str(broken))
    driver = Sphnctl()
    for attempt in (driver.list, lambda: list(driver.stream("deployment", "logs", "--lid", "1"))):
        with pytest.raises(SphnctlNotFoundError) as error:
            attempt()
        message = str(error.value)
        assert "\n" not in message and message.startswith(f"sphnctl could not be started ({broken}: ")
        assert "curl -sL1 https://sphnctl.sh | bash" in message


def test_multi_word_command_is_split_with_shlex(monkeypatch):
    monkeypatch.setenv("SPHERON_SPHNCTL", f"{sys.executable} -m 'spheron_jupyter' sphnctl")
    assert find_sphnctl() == [sys.executable, "-m", "spheron_jupyter", "sphnctl"]


def test_typed_results_from_the_documented_outputs(fake):
    """create/get/list/close print what Spheron's docs print (tests/data/sphnctl/README.md)."""
    driver = Sphnctl()
    created = driver.create("deploy.yml", log_dir=fake / "logs")
    assert (created.lid, created.provider) == (44, "0x6634d41cccBD1E1576Ed4c6226832521A66bF874")
    assert created.price_per_hour == "0.1232434"
    details = driver.get(44)
    (service,) = details.services
    assert service.name == "ollama-test" and str(service.ports[0]) == "provider.abc.com:31068 -> 8080 (TCP)"
    assert [(row.lid, row.state) for row in driver.list(active_only=True)] == [(171, "Active")]
    assert driver.close(44) == "[Tx Hash]"
    assert [e.reason for e in driver.events(44)] == ["Scheduled", "Pulling", "Failed"]
    calls = (fake / "calls").read_text().splitlines()
    assert calls[:3] == ["deployment create deploy.yml", "deployment get --lid 44", "deployment list -a"]
    driver.list()
    assert (fake / "calls").read_text().splitlines()[-1] == "deployment list"  # all leases: no -a


def test_a_failing_command_gives_one_line(fake):
    with pytest.raises(SphnctlCommandError) as error:
        Sphnctl().run("deployment", "frobnicate", "--lid", "99")
    assert str(error.value) == "sphnctl deployment frobnicate failed: lease 99 not found"
    assert error.value.returncode == 1


def test_timeout_kills_the_whole_process_group(fake):
    with pytest.raises(SphnctlTimeoutError, match="did not finish within 0.5s"):
        Sphnctl().run("sleep", timeout=0.5)
    pid = int((fake / "hanging.pid").read_text())
    assert wait_gone(pid)


def test_follow_streams_until_cancelled_and_kills_the_child(fake):
    cancel = threading.Event()
    lines = []
    for line in Sphnctl().follow_logs(44, service="web", cancel=cancel):
        lines.append(line)
        if len(lines) == 4:
            cancel.set()
    assert [ln.service for ln in lines] == ["web", "web", "worker", "db"]
    assert "--follow" in (fake / "calls").read_text()
    assert wait_gone(int((fake / "hanging.pid").read_text()))


def test_follow_events_decodes_objects_split_across_lines(fake):
    cancel = threading.Event()
    reasons = []
    for event in Sphnctl().follow_events(44, cancel=cancel):
        reasons.append(event.reason)
        if len(reasons) == 3:
            cancel.set()
    assert reasons == ["Scheduled", "Pulling", "Failed"]


def test_fizz_follow_polls_with_tail_and_never_repeats(fake):
    log = fake / "growing.log"
    log.write_text("one\ntwo\n")
    cancel = threading.Event()
    rounds = iter([["three", "four"], ["four"], [], ["five"]])

    def grow(_interval):
        try:
            extra = next(rounds)
        except StopIteration:
            return True  # stop polling
        log.write_text(log.read_text() + "".join(ln + "\n" for ln in extra))
        return False

    seen = [ln.text for ln in Sphnctl().follow_logs(7, mode="fizz", cancel=cancel, poll_tail=3, sleep=grow)]
    assert seen == ["one", "two", "three", "four", "four", "five"]
    assert "deployment logs --lid 7 --tail 3" in (fake / "calls").read_text()


def test_fizz_follow_with_tail_starts_with_that_many_lines(fake):
    (fake / "growing.log").write_text("a\nb\nc\nd\n")
    seen = [ln.text for ln in Sphnctl().follow_logs(7, mode="fizz", tail=2, sleep=lambda _s: True)]
    assert seen == ["c", "d"]


def test_follow_falls_back_to_polling_when_sphnctl_refuses(fake, monkeypatch):
    monkeypatch.setenv("FAKE_NO_FOLLOW", "1")
    (fake / "growing.log").write_text("alpha\nbeta\n")
    cancel = threading.Event()
    seen = [ln.text for ln in Sphnctl().follow_logs(7, cancel=cancel, sleep=lambda _s: True)]
    assert seen == ["alpha", "beta"]


def test_tail_deduplicator_with_full_windows():
    dedupe = TailDeduplicator()
    assert dedupe.new_lines(["a", "b", "c"], 3) == ["a", "b", "c"]
    assert dedupe.new_lines(["b", "c", "d"], 3) == ["d"]
    assert dedupe.new_lines(["b", "c", "d"], 3) == []
    assert dedupe.new_lines(["x", "y", "z"], 3) == ["x", "y", "z"]  # grew by more than a window
    # Whole-log snapshots count repeated identical lines exactly.
    exact = TailDeduplicator()
    assert exact.new_lines(["tick", "tick"], 10) == ["tick", "tick"]
    assert exact.new_lines(["tick", "tick", "tick"], 10) == ["tick"]


def test_a_chatty_command_is_read_through_a_bounded_queue(fake, monkeypatch):
    import spheron_jupyter.protocol.sphnctl as driver_module

    monkeypatch.setattr(driver_module, "MAX_QUEUED_LINES", 5)
    stream = Sphnctl().stream("deployment", "chatty", "2000")
    time.sleep(0.5)  # the command has written everything; we have read nothing
    assert stream._lines.qsize() <= 5
    lines = list(stream)
    assert len(lines) == 2000 and lines[-1] == "line 1999"
    assert stream.returncode == 0
