"""The demo's closing report words each instance's cost as every other view does (usd)."""

from __future__ import annotations

import re
import time

from spheron_jupyter import demo
from spheron_jupyter.ledger import usd
from spheron_jupyter.session.core import Session


def test_the_closing_report_words_the_cost_with_usd(emulator_factory, tmp_path, capsys):
    emu = emulator_factory(state_dir=tmp_path / "state" / "emulator", minimum_runtime="1s")
    session = Session("local", url=emu.url, api_key=emu.api_key)
    view = session.launch(session.plan_launch(gpu="h100", count=8, name="report"), wait=False)
    deadline = time.monotonic() + 60
    # Over a cent, where "$0.0123" (the demo's own old format) and usd's "$0.01" differ.
    while (session.client.get_instance(view.id).total_cost or 0.0) < 0.01:
        assert time.monotonic() < deadline, "the instance never cost a cent"
        time.sleep(0.5)
    session.terminate("report")
    assert demo._await_terminations(tmp_path)
    cost = session.client.get_instance(view.id).total_cost
    line = re.search(r"Instance report \(\w+\): terminated at .*, cost (\S+)\n",
                     capsys.readouterr().out)
    assert line and line.group(1) == usd(cost), line
