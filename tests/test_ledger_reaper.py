"""One reaper per instance: the ledger decides who starts it (store.py ``start_reaper``), so two
kernels finding one lost create at the same moment start one reaper, not two."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from spheron_jupyter import reaper
from spheron_jupyter.ledger import InstanceRecord, Ledger, lifecycle_of
from spheron_jupyter.ledger.store import starting_mark


def test_two_processes_racing_start_one_reaper(tmp_path):
    path, go = tmp_path / "l.sqlite", tmp_path / "go"
    Ledger(path).record_instance(InstanceRecord("u", "i1", "local", status="running",
                                                lease_seconds=3600.0))
    # Each spawn takes a while, as a real Popen may: a check of reaper_pid followed by a later
    # write (what session/inventory.py did) lets both through here.
    script = textwrap.dedent("""
        import os, sys, time
        from pathlib import Path
        from spheron_jupyter.ledger import Ledger
        ledger = Ledger(sys.argv[1])
        print("ready", flush=True)
        while not os.path.exists(sys.argv[2]):
            time.sleep(0.005)
        def spawn():
            time.sleep(0.5)
            Path(sys.argv[3], f"spawned-{os.getpid()}").touch()
            return os.getpid()
        print(ledger.start_reaper("u", "i1", "local", spawn), flush=True)
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, str(path), str(go), str(tmp_path)],
                              stdout=subprocess.PIPE, text=True) for _ in range(3)]
    for proc in procs:
        assert proc.stdout.readline().strip() == "ready"
    go.touch()
    results = [proc.communicate(timeout=60)[0].strip() for proc in procs]
    winners = [int(r) for r in results if r != "None"]
    assert len(winners) == 1 and results.count("None") == 2, results
    assert [p.name for p in tmp_path.glob("spawned-*")] == [f"spawned-{winners[0]}"]
    assert Ledger(path).instance("u", "i1").reaper_pid == winners[0]


def test_the_claim_is_no_process_and_a_failed_spawn_gives_it_back(tmp_path):
    ledger = Ledger(tmp_path / "l.sqlite")
    ledger.record_instance(InstanceRecord("u", "i1", "local", status="running",
                                          created_at=1000.0, lease_seconds=3600.0))
    ledger.add_event("u", "i1", "lease", "terminates after 3600 s")
    seen = []

    def failing_spawn() -> int:
        rec = ledger.instance("u", "i1")
        # Mid-start: the row is claimed, yet no reader takes the claim for a running reaper.
        seen.append((rec.reaper_pid, lifecycle_of(rec, ledger.events("u", "i1")).ends_at,
                     reaper.stop(rec.reaper_pid, b"i1")))
        raise OSError("no fork")

    with pytest.raises(OSError):
        ledger.start_reaper("u", "i1", "local", failing_spawn)
    assert seen == [(starting_mark(), None, False)]
    assert ledger.instance("u", "i1").reaper_pid == 0
    assert ledger.start_reaper("u", "i1", "local", lambda: 4242) == 4242
    rec = ledger.instance("u", "i1")
    assert rec.reaper_pid == 4242 and lifecycle_of(rec, ledger.events("u", "i1")).ends_at == 4600.0
    assert ledger.start_reaper("u", "i1", "local", lambda: pytest.fail("spawned twice")) is None


def test_a_row_the_ledger_lacks_gets_its_reaper(tmp_path):
    """A terminate scheduled for an instance no row names yet still starts (and records) one."""
    ledger = Ledger(tmp_path / "l.sqlite")
    assert ledger.start_reaper("u", "other", "cloud", lambda: 77) == 77
    assert ledger.instance("u", "other").reaper_pid == 77


def test_a_replacing_caller_stops_the_running_reaper_but_never_a_starting_one(tmp_path):
    """Extend and a scheduled terminate replace the lease's reaper (session/lifecycle.py,
    session/inventory.py): the old pid is stopped and the new one written, unless another
    caller is starting a reaper at that moment."""
    ledger = Ledger(tmp_path / "l.sqlite")
    ledger.record_instance(InstanceRecord("u", "i1", "local", status="running", reaper_pid=4242))
    stopped: list[int] = []
    assert ledger.start_reaper("u", "i1", "local", lambda: 5, stop=stopped.append) == 5
    assert stopped == [4242] and ledger.instance("u", "i1").reaper_pid == 5

    def racing_spawn() -> int:
        inner = ledger.start_reaper("u", "i1", "local", lambda: pytest.fail("second reaper"),
                                    stop=stopped.append)
        assert inner is None
        return 6

    assert ledger.start_reaper("u", "i1", "local", racing_spawn, stop=stopped.append) == 6
    assert stopped == [4242, 5] and ledger.instance("u", "i1").reaper_pid == 6


def test_a_claim_whose_process_died_is_taken_over(tmp_path):
    """A kernel killed between claiming the row and writing its reaper's pid must not leave the
    instance without a reaper for good (its lease would never end it): the claim names its
    process, and a dead one's claim is stale."""
    ledger = Ledger(tmp_path / "l.sqlite")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    ledger.record_instance(InstanceRecord("u", "i1", "local", status="running",
                                          reaper_pid=starting_mark(dead.pid)))
    assert ledger.start_reaper("u", "i1", "local", lambda: 4343) == 4343
    # A live process's claim (this one's) still holds the others off.
    ledger.record_instance(InstanceRecord("u", "i2", "local", status="running",
                                          reaper_pid=starting_mark()))
    assert ledger.start_reaper("u", "i2", "local", lambda: pytest.fail("spawned twice")) is None
