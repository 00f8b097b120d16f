"""Background work in a real kernel (ipykernel via nbclient): the dashboard's refreshes land in
its own widgets, never in another cell's output, and cells run during a slow refresh answer at
once. The emulator is slowed down, then stopped, between cells to make the refresh busy and
then failing while other cells run.
"""

from __future__ import annotations

import json
import time
import urllib.request

import nbformat
import pytest
from nbclient import NotebookClient

QUICK_CELLS = 5
SLOW_REFRESH = 1.5  # each API listing takes this long once the fault is on


@pytest.fixture
def home_emulator(emulator_factory, isolated_home):
    """An emulator where ``%spheron use local`` finds it: this test home's state dir."""
    state = isolated_home / "state" / "emulator"
    state.mkdir(parents=True, mode=0o700)
    (isolated_home / "state").chmod(0o700)
    return emulator_factory(state_dir=state)


def _faults(emulator, spec: str) -> None:
    request = urllib.request.Request(
        emulator.url + "/_emulator/faults", data=json.dumps({"spec": spec}).encode(),
        headers={"Authorization": f"Bearer {emulator.api_key}",
                 "Content-Type": "application/json"}, method="POST")
    urllib.request.urlopen(request, timeout=10).close()


def _texts(cell) -> list[str]:
    out = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            out.append(output["text"])
        else:
            out.extend(str(v) for v in output.get("data", {}).values())
            out.extend(output.get("traceback", []))
    return out


def _model_with_class(state: dict, css: str) -> dict:
    for model in state.values():
        if css in model.get("state", {}).get("_dom_classes", []):
            return model["state"]
    raise LookupError(css)


def test_refresh_lands_in_its_widget_and_cells_answer_during_it(home_emulator, tmp_path):
    cells = [
        "%load_ext spheron_jupyter\n%spheron use local",
        "%spheron launch --gpu rtx-4090 --name kernel-box --yes",
        "%spheron panel --refresh 0.3",
        "board = _\nseen = board.refreshes",
        *["1 + 1" for _ in range(QUICK_CELLS)],
        # At least one refresh lands while this cell runs. A refresh cycle is the panel's 1 s
        # tick plus the slowed listing (>= 2.5 s), longer on a loaded machine: wait for it rather
        # than for a fixed time (a fixed 2 s printed False in CI).
        "import time\ntime.sleep(2)\nt = time.time()\n"
        "while board.refreshes <= seen and time.time() < t + 60:\n    time.sleep(0.1)\n"
        "print('own output', board.refreshes > seen)",
        "time.sleep(3)\nprint('after the stop')",
        "t = time.time()\nwhile board.last_message[1] != 'error' and time.time() < t + 90:\n"
        "    time.sleep(0.2)\nprint('status:', board.last_message)",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    client = NotebookClient(nb, timeout=180, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    durations = {}
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            if index == 4:
                _faults(home_emulator, f"slow={SLOW_REFRESH}s@GET /api/deployments*")
                time.sleep(0.5)  # a refresh is now under way
            if index == 4 + QUICK_CELLS + 1:
                home_emulator.stop()  # the next refreshes fail while this cell runs
            started = time.monotonic()
            client.execute_cell(cell, index)
            durations[index] = time.monotonic() - started
        client.set_widgets_metadata()

    quick = [durations[i] for i in range(4, 4 + QUICK_CELLS)]
    assert max(quick) < SLOW_REFRESH * 0.8, f"cells waited for the refresh: {quick}"

    texts = [_texts(cell) for cell in nb.cells]
    for index in range(4, 4 + QUICK_CELLS):
        assert texts[index] == ["2"], texts[index]  # Out: 2, nothing from the panel
    assert texts[4 + QUICK_CELLS] == ["own output True\n"]
    assert texts[4 + QUICK_CELLS + 1] == ["after the stop\n"]  # the failing refresh stays out
    assert "'error')" in texts[-1][0]
    panel_outputs = nb.cells[2]["outputs"]
    assert [o["output_type"] for o in panel_outputs] == ["execute_result"]
    assert "application/vnd.jupyter.widget-view+json" in panel_outputs[0]["data"]
    for index, text in enumerate(texts):
        if index != 2:
            # Money in any HTML output sits in a <span class='spheron-dollar'> (notebook/htmltext.py),
            # which is not the panel's.
            text = [t.replace("spheron-dollar", "") for t in text]
            assert not any("spheron-" in t or "active of" in t for t in text), (index, text)

    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    summary = _model_with_class(state, "spheron-dashboard-summary")
    assert "1 active of 1" in summary["value"]
    status = _model_with_class(state, "spheron-status")
    assert "#cf222e" in status["value"]  # the refresh error is shown in the panel's own line
