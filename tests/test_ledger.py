"""The ledger: SQLite in the data dir, WAL, shared by processes, reconciled by the session."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap

from spheron_jupyter.ledger import InstanceRecord, Ledger, TunnelRecord, still_billing


def test_lives_in_the_data_dir_in_wal_mode(isolated_home):
    ledger = Ledger()
    ledger.record_instance(InstanceRecord("http://x", "i-1", "local", name="a", status="running"))
    assert ledger.path == isolated_home / "data" / "ledger.sqlite"
    assert sqlite3.connect(ledger.path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert oct(ledger.path.stat().st_mode & 0o777) == "0o600"


def test_placeholder_gets_the_api_id_and_keeps_what_it_knew():
    ledger = Ledger()
    ledger.record_instance(InstanceRecord("u", "pending:nb-x", "local", name="nb-x",
                                          status="creating", hourly_rate=1.5, created_at=100.0,
                                          lease_seconds=7200, notebook="a.ipynb"))
    ledger.add_event("u", "pending:nb-x", "creating")
    ledger.rename_instance("u", "pending:nb-x", "abc123")
    ledger.record_instance(InstanceRecord("u", "abc123", "local", status="running"))
    rec = ledger.instance("u", "abc123")
    assert (rec.name, rec.status, rec.hourly_rate, rec.lease_seconds, rec.notebook) == (
        "nb-x", "running", 1.5, 7200, "a.ipynb")
    assert [e.kind for e in ledger.events("u", "abc123")] == ["creating"]


def test_same_id_on_two_backends_are_two_rows():
    ledger = Ledger()
    ledger.record_instance(InstanceRecord("http://emu", "1", "local", status="running"))
    ledger.record_instance(InstanceRecord("https://app.spheron.ai", "1", "cloud", status="terminated"))
    assert len(ledger.instances()) == 2
    assert [r.backend for r in ledger.instances(active_only=True)] == ["local"]


def test_tunnels_cursors_and_volumes():
    ledger = Ledger()
    ledger.record_tunnel(TunnelRecord("t1", "u", "i1", "jupyter", 8888, 8890))
    assert [t.id for t in ledger.tunnels()] == ["t1"]
    ledger.close_tunnel("t1")
    assert ledger.tunnels() == [] and len(ledger.tunnels(open_only=False)) == 1
    ledger.save_cursor("u", "i1", "startup:", "42")
    assert ledger.cursor("u", "i1", "startup:") == "42"
    ledger.record_volume("u", "v1", backend="local", name="data", size_gb=10)
    ledger.record_volume("u", "v1", backend="local", deleted_at=5.0)
    (vol,) = ledger.volumes("u")
    assert vol["name"] == "data" and vol["deleted_at"] == 5.0


def test_another_process_sees_and_writes_the_same_ledger():
    Ledger().record_instance(InstanceRecord("u", "i1", "local", name="first", status="running"))
    script = textwrap.dedent("""
        from spheron_jupyter.ledger import Ledger, InstanceRecord
        ledger = Ledger()
        assert [r.name for r in ledger.instances()] == ["first"]
        ledger.record_instance(InstanceRecord("u", "i2", "local", name="second", status="deploying"))
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    assert sorted(r.name for r in still_billing()) == ["first", "second"]


def test_still_billing_creates_nothing_when_there_is_no_ledger(isolated_home):
    assert still_billing() == []
    assert not (isolated_home / "data" / "ledger.sqlite").exists()


def test_ledger_ends_billing_exactly_where_the_client_does(tmp_path):
    """The ledger reads client/statuses.py's terminal list and adds only 'gone'; an unknown
    status, a lost create ('unknown') and one in flight ('creating') all count as billing, in
    the SQL of ``still_billing`` and in ``InstanceRecord.active`` alike."""
    from spheron_jupyter.client.statuses import TERMINAL_STATUSES, is_billing

    ledger = Ledger(tmp_path / "l.sqlite")
    statuses = ("stopped", "paused-by-provider", "unknown", "creating", "running", " Running ",
                *sorted(TERMINAL_STATUSES), "TERMINATED", "gone")
    for i, status in enumerate(statuses):
        ledger.record_instance(InstanceRecord("u", f"i{i}", "cloud", name=f"n{i}", status=status))
    billing = [r.status for r in still_billing(tmp_path / "l.sqlite")]
    assert billing == ["stopped", "paused-by-provider", "unknown", "creating", "running",
                       " Running "]
    assert [r.status for r in ledger.instances() if r.active] == billing
    assert [s for s in statuses if s != "gone" and is_billing(s)] == billing  # the client agrees


def test_reading_the_ledger_loads_no_http_stack():
    """%load_ext and the server extension read the ledger; the client package it takes its
    status list from loads httpx and pydantic only when one of their names is used."""
    code = ("import sys, spheron_jupyter.ledger as l; l.still_billing(); "
            "print(sorted(m for m in ('httpx', 'pydantic', 'paramiko') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_name_is_reserved_once(tmp_path):
    ledger = Ledger(tmp_path / "l.sqlite")
    first = InstanceRecord("u", "pending:run", "cloud", name="run", status="creating")
    assert ledger.reserve_name(first) is None
    holder = ledger.reserve_name(InstanceRecord("u", "pending:run", "cloud", name="run",
                                                status="creating", notebook="other.ipynb"))
    assert holder is not None and holder.id == "pending:run" and holder.notebook is None
    ledger.record_instance(InstanceRecord("u", "pending:run", "cloud", status="terminated"))
    assert ledger.reserve_name(InstanceRecord("u", "pending:run", "cloud", name="run",
                                              status="creating")) is None


def test_an_end_is_written_once_for_every_writer(tmp_path):
    """Our terminate, the reaper's and an id the API forgot all end a row the same way."""
    ledger = Ledger(tmp_path / "l.sqlite")
    ledger.record_instance(InstanceRecord("u", "i1", "cloud", name="run", status="running",
                                          reaper_pid=4242))
    ledger.record_tunnel(TunnelRecord("t1", "u", "i1", "jupyter", 8888, 8890))
    ledger.record_end("u", "i1", "cloud", "gone", "the API no longer knows it")
    rec = ledger.instance("u", "i1")
    assert (rec.status, rec.reaper_pid, rec.active, rec.name) == ("gone", 0, False, "run")
    assert rec.terminated_at is not None
    assert [(e.kind, e.detail) for e in ledger.events("u", "i1")] == [
        ("gone", "the API no longer knows it")]
    assert ledger.tunnels() == []
