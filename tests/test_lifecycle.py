"""One lifecycle in every view: what ends an instance and when (ledger/lifecycle.py), the
``%spheron lease ID +2h | --cancel`` controls, ``status``'s countdown, and the sidebar state's
lifecycle fields (server/lifecycle_state.py), on the emulator with real reaper processes."""

from __future__ import annotations

import time

from spheron_jupyter.config.processes import pid_alive
from spheron_jupyter.ledger import lifecycle_of


def _record(session, name):
    view = session.resolve(name)
    return view, session.ledger.instance(session.api_url, view.id)


def test_lease_extend_cancel_and_every_view_says_when_it_ends(emulator_shell):
    sh = emulator_shell
    session = sh.context.session
    sh.ok("%spheron launch --gpu rtx-4090 --name leased --lease 30m --yes")
    view, rec = _record(session, "leased")
    life = lifecycle_of(rec, session.ledger.events(session.api_url, view.id))
    assert life.ends_because == "lease" and life.ssh_ready
    assert 29 * 60 < life.ends_at - time.time() <= 30 * 60
    status = sh.ok("%spheron status leased").text
    assert "lease ends in 2" in status or "lease ends in 3" in status  # 29m.., 30m
    # A lease is not a scheduled terminate: ls and status word it as the dashboard and sidebar.
    listing = sh.ok("%spheron ls").text
    assert "lease ends in" in listing and "terminate scheduled" not in listing, listing
    assert "terminate scheduled" not in status and "termination: scheduled" not in status

    first_reaper = rec.reaper_pid
    out = sh.ok("%spheron lease leased +2h").text
    assert "lease now ends at" in out and ("in 2h29m" in out or "in 2h30m" in out)
    _, rec = _record(session, "leased")
    assert rec.reaper_pid and rec.reaper_pid != first_reaper
    deadline = time.monotonic() + 30
    while pid_alive(first_reaper) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pid_alive(first_reaper)  # the old end is gone, not only hidden
    life = lifecycle_of(rec, session.ledger.events(session.api_url, view.id))
    assert 149 * 60 < life.ends_at - time.time() <= 150 * 60

    from spheron_jupyter.server.sidebar_state import LedgerReader

    state = LedgerReader(session.ledger).state()
    (row,) = [r for r in state["instances"] if r["id"] == view.id]
    assert row["ends_because"] == "lease" and row["ssh_ready"] and "lease ends in 2h" in row["ends_text"]
    assert row["ending_soon"] is False and state["budget_text"].startswith("$")

    second_reaper = rec.reaper_pid
    assert "now runs until you terminate it" in sh.ok("%spheron lease leased --cancel").text
    _, rec = _record(session, "leased")
    assert not rec.reaper_pid
    life = lifecycle_of(rec, session.ledger.events(session.api_url, view.id))
    assert life.ends_at is None and not life.scheduled
    assert "no lease: runs (and bills) until terminated" in sh.ok("%spheron status leased").text
    deadline = time.monotonic() + 30
    while pid_alive(second_reaper) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pid_alive(second_reaper)
    assert "nothing to cancel" in sh.ok("%spheron lease leased --cancel").text


def test_lease_bad_input_is_one_line_and_changes_nothing(emulator_shell):
    sh = emulator_shell
    sh.ok("%spheron launch --gpu rtx-4090 --name plain --yes")
    assert "either +DURATION" in sh.usage_error("%spheron lease plain")
    assert "plus sign" in sh.usage_error("%spheron lease plain 2h")
    assert "cannot read the duration" in sh.usage_error("%spheron lease plain +soon")
    session = sh.context.session
    _, rec = _record(session, "plain")
    assert not rec.reaper_pid


def test_ended_instances_leave_the_live_state_with_their_tunnels(emulator_shell):
    from spheron_jupyter.server.lifecycle_state import add_lifecycle
    from spheron_jupyter.server.sidebar_state import sidebar_state
    from spheron_jupyter.ledger import InstanceRecord, TunnelRecord

    ledger = emulator_shell.context.session.ledger
    now = time.time()
    ledger.record_instance(InstanceRecord("http://x", "gone1", "local", name="old",
                                          status="terminated", terminated_at=now - 30))
    ledger.record_instance(InstanceRecord("http://x", "live1", "local", name="new",
                                          status="running", created_at=now - 60))
    tunnels = [TunnelRecord("t1", "http://x", "gone1", "jupyter", 9999),
               TunnelRecord("t2", "http://x", "live1", "jupyter", 9998)]
    live = ledger.instances(active_only=True)
    state = add_lifecycle(sidebar_state(live, tunnels, now), ledger, live, now)
    assert [t["id"] for t in state["tunnels"]] == ["t2"]  # never under another instance
    assert [e["id"] for e in state["ended"]] == ["gone1"]


def test_dashboard_shows_the_end_and_its_buttons_extend_and_cancel_it(emulator_session, closing):
    from spheron_jupyter.notebook.widgets.dashboard import Dashboard
    from tests.test_widgets_panels import wait_for

    session = emulator_session
    session.launch(session.plan_launch(gpu="rtx-4090", name="dash-life", lease="30m"))
    board = Dashboard(session, refresh_seconds=0.5)
    closing(board)
    wait_for(lambda: board.refreshes >= 1, what="the first refresh")

    def row():
        board.ui.flush()
        return board.rows[board.row_of("dash-life")]

    wait_for(lambda: "lease ends in" in row()["cells"]["ends"].value, what="the lease's end")
    assert not row()["actions"]["cancel"].disabled and not row()["actions"]["extend"].disabled
    row()["actions"]["extend"].click()
    assert board.wait_idle(60)
    assert "lease now ends at" in board.last_message[0]
    wait_for(lambda: "lease ends in 1h2" in row()["cells"]["ends"].value
             or "lease ends in 1h30m" in row()["cells"]["ends"].value, what="the later end")
    row()["actions"]["cancel"].click()
    assert board.wait_idle(60)
    assert "runs until you terminate it" in board.last_message[0]
    wait_for(lambda: "no lease" in row()["cells"]["ends"].value, what="no end any more")
    assert row()["actions"]["cancel"].disabled
    assert row()["buttons"].layout.visibility == "visible"


def test_a_scheduled_termination_is_shown_and_cancelled_and_the_instance_runs_on(emulator_factory,
                                                                                shell):
    """`terminate --when-allowed` before the minimum runtime: ls, status and the sidebar state say
    it is scheduled and when; `lease ID --cancel` stops its helper and the instance keeps running."""
    from spheron_jupyter.server.sidebar_state import LedgerReader
    from spheron_jupyter.session.core import Session

    emu = emulator_factory(minimum_runtime="10m")  # the schedule stays pending through the test
    shell.context.session = session = Session("local", url=emu.url, api_key=emu.api_key)
    shell.ok("%spheron launch --gpu rtx-4090 --name sched --yes")
    out = shell.ok("%spheron terminate sched --yes --when-allowed").text
    assert "will be terminated" in out and "--cancel" in out and "pid" not in out
    view, rec = _record(session, "sched")
    reaper_pid = rec.reaper_pid
    assert reaper_pid and pid_alive(reaper_pid)
    life = lifecycle_of(rec, session.ledger.events(session.api_url, view.id))
    assert life.ends_because == "scheduled terminate" and 8 * 60 < life.ends_at - time.time() <= 10 * 60
    assert "terminate scheduled" in shell.ok("%spheron ls").text
    assert "terminates in" in shell.ok("%spheron status sched").text
    (row,) = [r for r in LedgerReader(session.ledger).state()["instances"] if r["id"] == view.id]
    assert row["ends_because"] == "scheduled terminate" and row["ends_text"].startswith("terminates in")

    cancelled = shell.ok("%spheron lease sched --cancel").text
    assert "now runs until you terminate it" in cancelled and "pid" not in cancelled
    deadline = time.monotonic() + 30
    while pid_alive(reaper_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pid_alive(reaper_pid)  # the helper that would have terminated it is gone
    _, rec = _record(session, "sched")
    assert lifecycle_of(rec, session.ledger.events(session.api_url, view.id)).ends_at is None
    assert "terminate scheduled" not in shell.ok("%spheron ls").text
    assert "no lease: runs (and bills) until terminated" in shell.ok("%spheron status sched").text
    assert session.client.get_instance(view.id).status == "running"
