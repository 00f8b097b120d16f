"""examples/remote_kernel.ipynb executed as a user runs it: the `local` cells in a local kernel,
then — after "Change Kernel" to Spheron: gpu-demo (GPU) — the `gpu` cells in that kernel, then
the last `local` cell back in the local kernel (its state kept, as in JupyterLab).

Real parts only: nbclient, ipykernel, the managed embedded emulator (short timings through its
environment variables, as ./dev demo sets them), its SSH sandboxes and the tunnel agent. The
terminate --when-allowed at the end is carried out by the reaper process, which also removes
the kernelspec.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient

from tests.support.emulator_ssh import wait_for

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "remote_kernel.ipynb"
pytestmark = pytest.mark.slow


def _client(nb, kernel_name):
    return NotebookClient(nb, timeout=300, kernel_name=kernel_name,
                          resources={"metadata": {"path": str(EXAMPLE.parent)}})


def test_remote_kernel_example_switches_kernel_and_runs_cells_on_the_instance(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter-data"))
    monkeypatch.setenv("SPHERON_EMULATOR_BOOT_SECONDS", "0.5")
    monkeypatch.setenv("SPHERON_EMULATOR_MINIMUM_RUNTIME", "5s")
    nb = nbformat.read(EXAMPLE, as_version=4)
    cells = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    tagged = {tag: [(i, c) for i, c in cells if tag in c.metadata.get("tags", [])]
              for tag in ("local", "gpu")}
    assert len(tagged["local"]) + len(tagged["gpu"]) == len(cells)
    first_local, last_local = tagged["local"][:-1], tagged["local"][-1:]

    local = _client(nb, "python3")
    with local.setup_kernel():
        for index, cell in first_local:
            local.execute_cell(cell, index)
        assert "spheron-gpu-demo" in KernelSpecManager().find_kernel_specs()
        gpu = _client(nb, "spheron-gpu-demo")
        with gpu.setup_kernel():
            key = gpu.km.session.key.decode()
            for index, cell in tagged["gpu"]:
                gpu.execute_cell(cell, index)
        for index, cell in last_local:
            local.execute_cell(cell, index)
    nbformat.write(nb, tmp_path / "remote_kernel.executed.ipynb")

    outputs = {c.source.splitlines()[0]: _text(c) for _, c in cells}
    where = outputs["import os"]
    assert where.startswith("running on instance ") and "None" not in where
    assert "squares" not in outputs["squares = sum(i * i for i in range(10**6))"]
    assert "333332833333500000" in outputs["squares = sum(i * i for i in range(10**6))"]
    ended = outputs["%spheron terminate gpu-demo --yes --when-allowed"]
    assert "will be terminated" in ended or "terminated gpu-demo" in ended
    assert not [o for _, c in cells for o in c.outputs if o.output_type == "error"]
    # Terminated (now, or by the reaper once the minimum runtime allows): the kernelspec goes.
    wait_for(lambda: "spheron-gpu-demo" not in KernelSpecManager().find_kernel_specs(),
             timeout=60, interval=0.5, what="the kernelspec removed after the termination")
    saved = (tmp_path / "remote_kernel.executed.ipynb").read_text()
    # The kernel's connection key and the API key of the emulator the notebook started (its
    # managed one, under this test's SPHERON_JUPYTER_HOME): neither is in the saved notebook.
    from spheron_jupyter.emulator.process import find_running
    from spheron_jupyter.session.backends import emulator_state_dir

    emulator = find_running(emulator_state_dir())
    assert emulator is not None and emulator.api_key
    assert key not in saved and emulator.api_key not in saved and "SPHERON_API_KEY" not in saved


def _text(cell) -> str:
    parts = []
    for out in cell.outputs:
        if "text" in out:
            parts.append(out["text"])
        parts.extend(str(v) for k, v in out.get("data", {}).items() if k == "text/plain")
    return "".join(parts)
