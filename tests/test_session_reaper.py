"""``terminate --when-allowed`` is carried out after the kernel that asked for it is dead."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

from spheron_jupyter.config.processes import pid_alive
from spheron_jupyter.session.core import Session

KERNEL = textwrap.dedent("""
    import os, sys, time
    from spheron_jupyter.session.core import Session
    url, key = sys.argv[1], os.environ.pop("EMU_KEY")
    session = Session("local", url=url, api_key=key)
    view = session.launch(session.plan_launch(gpu="rtx-4090", name="orphan"))
    result = session.terminate("orphan", when_allowed=True)
    print("SCHEDULED", view.id, result.scheduled, flush=True)
    time.sleep(600)  # a kernel that hangs until it is killed
""")


def test_the_schedule_survives_a_killed_kernel(emulator_factory):
    emu = emulator_factory(minimum_runtime="5s")
    kernel = subprocess.Popen([sys.executable, "-c", KERNEL, emu.url], stdout=subprocess.PIPE,
                              text=True, env=dict(os.environ, EMU_KEY=emu.api_key))
    try:
        line = kernel.stdout.readline()
        assert line.startswith("SCHEDULED") and line.split()[2] == "True", line
        instance_id = line.split()[1]
    finally:
        kernel.send_signal(signal.SIGKILL)  # no cleanup, no atexit: the kernel is simply gone
        kernel.wait(10)
    session = Session("local", url=emu.url, api_key=emu.api_key)
    assert session.resolve(instance_id).status == "running"  # too early when the kernel died
    deadline = time.monotonic() + 40
    while session.resolve(instance_id).status != "terminated":
        assert time.monotonic() < deadline, "nobody terminated the instance after the kernel died"
        time.sleep(0.5)
    while session.ledger.instance(session.api_url, instance_id).reaper_pid:
        assert time.monotonic() < deadline, "the reaper did not record its work"
        time.sleep(0.2)
    assert session.ledger.instance(session.api_url, instance_id).status == "terminated"
    assert any("by the scheduled reaper" in e.detail for e in session.events(instance_id))


def test_the_reaper_never_gets_the_key_on_its_command_line(emulator_factory):
    emu = emulator_factory(minimum_runtime="30s")
    session = Session("local", url=emu.url, api_key=emu.api_key)
    session.launch(session.plan_launch(gpu="rtx-4090", name="patient"))
    result = session.terminate("patient", when_allowed=True)
    pid = session.ledger.instance(session.api_url, result.instance.id).reaper_pid
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().decode()
        assert "spheron_jupyter.reaper" in cmdline and emu.api_key not in cmdline
        assert os.getsid(pid) == pid  # its own session: a kernel restart does not reach it
    finally:
        os.kill(pid, signal.SIGTERM)


def test_a_lease_reaper_leaves_when_its_emulator_is_gone(emulator_factory):
    emu = emulator_factory()
    session = Session("local", url=emu.url, api_key=emu.api_key)
    view = session.launch(session.plan_launch(gpu="rtx-4090", name="leased", lease="1h"))
    pid = session.ledger.instance(session.api_url, view.id).reaper_pid
    row = session.resolve("leased").row()
    # A lease shows in "ends"; only a terminate the user scheduled marks the status.
    assert pid and row["ends"].startswith("lease ends in ") and row["status"] == "running", row
    emu.stop()
    deadline = time.monotonic() + 60
    while pid_alive(pid):
        assert time.monotonic() < deadline, "the lease reaper outlived its emulator"
        time.sleep(0.5)


def test_a_lease_reaper_leaves_when_the_instance_ends_early(emulator_factory):
    emu = emulator_factory(minimum_runtime="1s")
    session = Session("local", url=emu.url, api_key=emu.api_key)
    view = session.launch(session.plan_launch(gpu="rtx-4090", name="early", lease="1h"))
    pid = session.ledger.instance(session.api_url, view.id).reaper_pid
    time.sleep(1.5)
    session.terminate("early")
    deadline = time.monotonic() + 20
    while pid_alive(pid):
        assert time.monotonic() < deadline, "the lease reaper kept waiting for nothing"
        time.sleep(0.5)




def test_a_reclaim_seen_by_the_lease_reaper_closes_tunnels_while_nobody_lists(emulator_factory):
    """Spot reclaim of a leased instance with only a tunnel open (no follow, no exec, no
    listing): its reaper sees the end within seconds and records it, and the tunnel closes
    (agent and ledger row), as a listing would have done (issue 10)."""
    import http.server
    import json
    import urllib.request

    from spheron_jupyter.ssh.tunnel import TunnelAgentClient
    from tests.support.http_service import serve

    emu = emulator_factory()
    session = Session("local", url=emu.url, api_key=emu.api_key)
    view = session.launch(session.plan_launch(gpu="rtx-4090", name="spot", lease="1h"))
    pid = session.ledger.instance(session.api_url, view.id).reaper_pid
    with serve(http.server.SimpleHTTPRequestHandler) as port:
        tunnel = session.forward(view.id, port)
        assert [t.id for t in TunnelAgentClient().list()] == [tunnel.id]
        urllib.request.urlopen(urllib.request.Request(
            f"{emu.url}/_emulator/instances/{view.id}/reclaim", method="POST",
            headers={"Authorization": f"Bearer {emu.api_key}"}), timeout=10).close()
        deadline = time.monotonic() + 20
        while pid_alive(pid) or any(t.id == tunnel.id for t in TunnelAgentClient().list()):
            assert time.monotonic() < deadline, "the reclaim left the tunnel or the reaper"
            time.sleep(0.2)
    rec = session.ledger.instance(session.api_url, view.id)
    assert (rec.status, rec.active, rec.reaper_pid) == ("terminated-provider", False, 0)
    assert rec.terminated_at and abs(rec.terminated_at - time.time()) < 30
    assert all(t.id != tunnel.id for t in session.ledger.tunnels())
    events = [(e.kind, e.detail) for e in session.ledger.events(session.api_url, view.id)]
    assert ("terminated-provider", "seen ending by its lease's reaper") in events, json.dumps(events)
