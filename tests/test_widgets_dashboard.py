"""The instance dashboard beyond the basic rows (test_widgets_panels.py): rows the ledger alone
knows, the refresh interval against the real service's rules, and the TensorBoard button.

All against the real emulator; the "cloud" session is the same emulator reached as the real
service would be (backend "cloud"), which is what decides the polling interval.
"""

from __future__ import annotations

import argparse
import re
import time
from types import SimpleNamespace

import pytest

from spheron_jupyter.notebook.commands._shared import instance_table
from spheron_jupyter.notebook.htmltext import text as html_text
from spheron_jupyter.session.core import Session
from spheron_jupyter.ledger import InstanceRecord
from tests.test_widgets_panels import wait_for


@pytest.fixture
def session(emulator_session):
    return emulator_session


def test_a_launch_only_the_ledger_knows_is_a_row_and_terminate_forgets_it(session, closing):
    from spheron_jupyter.notebook.widgets.dashboard import Dashboard

    # A launch whose create answer never came: the ledger has it, the API does not.
    session.ledger.record_instance(InstanceRecord(
        session.api_url, "pending:ghost-box", session.backend, name="ghost-box",
        status="creating", created_at=time.time() - 90, hourly_rate=1.25))
    board = Dashboard(session, start=False)
    closing(board)
    board.fetch()
    board.ui.flush()
    row = board.rows[board.row_of("ghost-box")]
    assert "creating (ledger)" in row["cells"]["status"].value
    assert row["cells"]["$/hour"].value == html_text("$1.25")
    assert row["cells"]["up"].value.startswith("1m")  # uptime from the ledger's created time
    assert row["cells"]["can terminate"].value == "after boot"
    assert all(row["actions"][k].disabled for k in ("jupyter", "tensorboard", "logs", "exec"))
    assert not row["actions"]["terminate"].disabled
    # The money summary words it as %spheron ls's footer does (ledger/figures.py spending_line).
    money = r"burning \$1\.25/h now; \$0\.0\d spent on these so far"
    assert re.fullmatch(money, instance_table(board.views).footer)
    summary = board.summary.value.replace(html_text("$"), "$")
    assert re.search("1 active of 1; " + money + r" \(checked", summary), summary

    board.act(board.row_of("ghost-box"), "terminate")
    question, yes, no = board.detail.children[0].children
    yes.click()
    assert board.wait_idle(30)
    assert board.last_message == ("forgot the unconfirmed launch ghost-box: the API has no "
                                  "instance by that name", "ok")
    board.ui.flush()
    assert board.views == [] and "no instances" in board.summary.value
    assert board.detail.children == ()  # the question is gone once answered


def test_the_real_service_is_never_polled_faster_than_every_10_s(emulator, closing,
                                                                 monkeypatch):
    from spheron_jupyter.notebook import display
    from spheron_jupyter.notebook.commands import panel

    cloud = Session("cloud", url=emulator.url, api_key=emulator.api_key)
    assert cloud.backend == "cloud"
    monkeypatch.setattr(display, "in_notebook", lambda: True)
    # %spheron panel --refresh 1 on the real service: raised to the session's own interval.
    board = panel.run(SimpleNamespace(session=cloud),
                      argparse.Namespace(which="instances", refresh=1.0))
    closing(board)
    assert board.refresh_seconds >= 10 and board.refresh_seconds == cloud.poll_interval
    wait_for(lambda: board.refreshes >= 1, what="the first refresh")
    time.sleep(2.5)  # the loop ticks every second (uptime, countdowns) without asking the API
    assert board.refreshes == 1 and board.jobs.stopping.is_set() is False
    board.ui.flush()
    assert "no instances (checked" in board.summary.value


def test_dashboard_tensorboard_button_opens_a_tunnel(session, closing):
    pytest.importorskip("tensorboard", reason="the emulator's instances run this venv's "
                        "tensorboard")
    from spheron_jupyter.notebook.widgets.dashboard import Dashboard

    session.launch(session.plan_launch(gpu="rtx-4090", name="tb-box"))
    board = Dashboard(session, start=False)
    closing(board)
    board.fetch()
    board.rows[board.row_of("tb-box")]["actions"]["tensorboard"].click()
    link = board.links.children[0]
    assert "starting TensorBoard on tb-box" in link.value
    assert board.wait_idle(180), "TensorBoard did not start"
    board.ui.flush()
    assert "TensorBoard" in link.value and "127.0.0.1:" in link.value, link.value
    tunnels = session.tunnels()
    assert [t.kind for t in tunnels] == ["tensorboard"] and tunnels[0].state != "closed"


def test_a_rerun_panel_takes_over_the_refresh(session, closing):
    from spheron_jupyter.notebook.widgets.dashboard import Dashboard

    first = Dashboard(session, refresh_seconds=60)
    closing(first)
    wait_for(lambda: first.refreshes >= 1, what="the first panel's refresh")
    second = Dashboard(session, refresh_seconds=60)  # the cell run again
    closing(second)
    assert first.jobs.stopping.is_set() and not second.jobs.stopping.is_set()
    first.ui.flush()
    assert first.auto.value is False and first.auto.disabled
    assert first.last_message == ("a newer panel took over the refresh", "info")
    wait_for(lambda: second.refreshes >= 1, what="the second panel's refresh")
