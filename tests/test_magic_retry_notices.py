"""Retry notices in every magic (issue 10): a request that retries says so in the cell that
made it, one line per notice, while a panel's background refresh never prints into a cell.

On the real emulator with its HTTP faults (emulator/faults.py: ``503@GET /api/deployments*3``
answers the next three listings with 503). The client's policy is shortened (and told from the
first retry, ``notice_after=0``) so the outage lasts well under a second.
"""

from __future__ import annotations

import pytest
from IPython.utils.capture import capture_output

from spheron_jupyter.client import RetryPolicy, SpheronClient
from spheron_jupyter.session.notices import notices_to
from tests.test_session_money import set_faults

NOTICE = "Spheron API slow/unavailable, retrying"


@pytest.fixture
def retrying_shell(shell, emulator):
    from spheron_jupyter.session.core import Session

    policy = RetryPolicy(attempts=5, base_delay=0.2, max_delay=0.4, notice_after=0.0)
    client = SpheronClient(emulator.url, emulator.api_key, retry=policy)
    shell.context.session = Session("local", url=emulator.url, api_key=emulator.api_key,
                                    client=client)
    shell.emulator = emulator
    return shell


def notices(text: str) -> list[str]:
    return [line for line in text.splitlines() if NOTICE in line]


@pytest.mark.parametrize("line, fault", [
    ("%spheron ls", "503@GET /api/deployments*3"),
    ("%spheron offers --gpu h100 --limit 2", "503@GET /api/gpu-offers*3"),
    ("%spheron volumes", "502@GET /api/volumes*3"),
])
def test_a_magic_whose_request_retries_prints_one_line_per_notice(retrying_shell, line, fault):
    sh = retrying_shell
    sh.ok("%spheron whoami")  # the team is resolved before the outage
    set_faults(sh.emulator, fault)
    out = sh.ok(line)
    assert notices(out.stdout) == [f"{NOTICE} ({n}/5)…" for n in (2, 3, 4)], out.text
    set_faults(sh.emulator, "")
    assert notices(sh.ok(line).text) == []  # no outage, no line


def test_a_panel_refresh_in_its_thread_prints_nothing_into_the_running_cell(retrying_shell):
    """The dashboard's background refresh meets an outage of the listing while a cell runs
    `%spheron offers` through an outage of its own: the cell shows its own two notices only,
    and the panel still gets its rows once the API answers."""
    from spheron_jupyter.notebook.widgets.dashboard import Dashboard

    sh = retrying_shell
    sh.ok("%spheron whoami")
    session = sh.context.session
    board = Dashboard(session, start=False)
    try:
        set_faults(sh.emulator, "503@GET /api/deployments*3, 503@GET /api/gpu-offers*2")
        with capture_output() as cap:
            with notices_to(print):  # started from inside a magic, as `%spheron panel` does
                board.refresh_now()  # a thread: the panel's own job, as its Refresh button runs
            result = sh.ip.run_cell("%spheron offers --gpu h100 --limit 2")
            assert board.wait_idle(30)
        assert result.success
        assert notices(cap.stdout) == [f"{NOTICE} ({n}/5)…" for n in (2, 3)], cap.stdout
        assert board.refreshes == 1  # the panel rode over its outage, silently
    finally:
        board.close()
