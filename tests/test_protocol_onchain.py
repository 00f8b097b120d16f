"""On-chain sphnctl commands (create, update, close) are never killed half-way.

A stand-in program plays sphnctl: it prints lines slowly and ends with a last line written after
the caller stopped watching. The caller's interrupt is a KeyboardInterrupt raised from its line
callback, where the notebook's stop button would land (the cell's thread, mid-wait).
"""

from __future__ import annotations

import sys
import textwrap
import time

import pytest

from spheron_jupyter.notebook.commands._protocol_shared import interrupted_message
from spheron_jupyter.protocol.create import CreateInterrupted, OnChainInterrupted, run_onchain
from spheron_jupyter.protocol.sphnctl import Sphnctl, SphnctlCommandError

SLOW = textwrap.dedent("""
    import sys, time
    for line in sys.argv[1:]:
        print(line, flush=True)
        time.sleep(0.3)
""")


def program(tmp_path):
    script = tmp_path / "slow_sphnctl.py"
    script.write_text(SLOW)
    return [sys.executable, str(script)]


def failed(args, returncode, stdout, stderr):
    return SphnctlCommandError(f"failed {returncode}", returncode=returncode, stdout=stdout, stderr=stderr)


def interrupt_at(marker):
    def on_line(line):
        if marker in line:
            raise KeyboardInterrupt
    return on_line


def wait_for(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_an_interrupted_create_names_the_lease_and_sphnctl_finishes(tmp_path):
    args = ["deployment", "create", "Order matched successfully.", " Lid: 44", "Sending manifest to Provider...",
            "Deployment is finished."]
    with pytest.raises(CreateInterrupted) as caught:
        run_onchain(program(tmp_path), args, env=None, on_line=interrupt_at("Lid:"), log_dir=tmp_path, error=failed)
    stopped = caught.value
    assert (stopped.verb, stopped.lid) == ("create", 44)
    # Nobody reads its output any more, and it goes on to the end all the same.
    assert wait_for(lambda: "Deployment is finished." in stopped.log_path.read_text())
    said = interrupted_message(stopped)
    assert "lease 44" in said and "may exist and bill" in said and "deployment list -a" in said
    assert "close --lid 44" in said and "create" not in said.split("sphnctl's output")[0].replace("creating", "")


def test_an_interrupt_before_the_lease_id_says_the_lease_may_exist(tmp_path):
    args = ["deployment", "create", "Waiting for Provider to bid on the deployment order...", " Lid: 45"]
    with pytest.raises(CreateInterrupted) as caught:
        run_onchain(program(tmp_path), args, env=None, on_line=interrupt_at("Waiting"), log_dir=tmp_path, error=failed)
    assert caught.value.lid is None
    said = interrupted_message(caught.value)
    assert "creating the lease in the background, so it may exist and bill" in said and "--lid N" in said


def test_an_interrupted_close_keeps_going_and_says_it_bills_until_sent(tmp_path):
    args = ["deployment", "close", "--lid", "9", "Close request sent to provider: 0xabc"]
    with pytest.raises(OnChainInterrupted) as caught:
        run_onchain(program(tmp_path), args, env=None, on_line=interrupt_at("--lid"), log_dir=tmp_path, lid=9,
                    error=failed)
    stopped = caught.value
    assert not isinstance(stopped, CreateInterrupted) and (stopped.verb, stopped.lid) == ("close", 9)
    assert wait_for(lambda: "Close request sent to provider" in stopped.log_path.read_text())
    said = interrupted_message(stopped)
    assert "closing lease 9" in said and "keeps billing" in said and "deployment list -a" in said


def test_no_timeout_applies_to_on_chain_commands(tmp_path, monkeypatch):
    monkeypatch.setenv("SPHERON_SPHNCTL", " ".join(program(tmp_path)))
    driver = Sphnctl(timeout=0.2)  # much shorter than the close below
    assert driver.close(3, log_dir=tmp_path) is None  # the stand-in prints no close line: no tx, no timeout
    lines: list[str] = []
    text = driver.update(3, "Update deployment is finished.", on_line=lines.append, log_dir=tmp_path)
    assert lines[-1] == "Update deployment is finished." and "--lid" in text
