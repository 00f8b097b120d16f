"""README's main job: the example notebook executed end to end, exactly as `./dev demo` runs it.

A real subprocess runs nbclient on examples/quickstart.ipynb with a real kernel, a real emulator
process, real SSH sandboxes, a real tunnel agent and a real Jupyter and TensorBoard on the
instance. Then the saved notebook is searched for every secret the run held.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.executed_notebooks import cell_outputs, run_demo, run_secrets

pytestmark = pytest.mark.slow  # runs the whole demo in a subprocess: not the fast tier


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    home = tmp_path_factory.mktemp("demo-home")
    output = home / "quickstart.executed.ipynb"
    return run_demo("quickstart", home, output), home, output


def test_every_cell_runs_and_the_run_says_where_the_copy_is(executed):
    result, _home, output = executed
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Executed notebook: {output}" in result.stdout
    # The kernel is reached over Unix sockets: ipykernel's TCP warning has no reason to show.
    assert "without encryption" not in result.stdout + result.stderr
    import nbformat

    nb = nbformat.read(output, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.get("execution_count") for c in code)
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    # Outputs only: a cell's source holds some of these strings too.
    shown = {c.source.strip().splitlines()[0]: cell_outputs(c) for c in code}
    assert "startup done" in shown["%spheron logs quickstart --startup --tail 20"]
    assert "wrote runs/train" in shown["%%spheron exec quickstart"]  # the job's streamed output
    api = shown["import httpx"]
    assert "Jupyter /api/status: 200" in api and "without the token:  403" in api
    assert "TensorBoard runs: ['train']" in api
    # A notebook gets HTML tables (a terminal IPython gets aligned text).
    listing = next(c for c in code if c.source.strip() == "%spheron ls")
    html = [o["data"]["text/html"] for o in listing.outputs if "text/html" in o.get("data", {})]
    assert html and "<table>" in html[0] and "cost so far" in html[0]


def test_progress_shows_deploying_running_ssh_ready_service_ready(executed):
    """The progress display (a display handle updated in place) ends holding every stage."""
    result, _home, output = executed
    assert result.returncode == 0, result.stdout + result.stderr
    import nbformat

    code = [c for c in nbformat.read(output, as_version=4).cells if c.cell_type == "code"]
    shown = {c.source.strip().splitlines()[0]: cell_outputs(c) for c in code}
    launch = shown["%%spheron launch --lease 1h"]
    stages = ["is deploying", "is running", "SSH ready; host key SHA256:",
              "startup script finished (done)"]
    positions = [launch.find(stage) for stage in stages]
    assert -1 not in positions and positions == sorted(positions), launch
    for cell, service in (("%spheron jupyter quickstart", "jupyter"),
                          ("%spheron tensorboard quickstart --logdir runs", "tensorboard")):
        text = shown[cell]
        assert f"Started {service} on the instance" in text
        assert text.index(f"Started {service}") < text.index(f"{service} is ready at"), text


def test_the_run_leaves_no_process_behind(executed):
    """Emulator, tunnel agent and reapers all belonged to the run's own home: none is left."""
    result, home, _output = executed
    assert result.returncode == 0, result.stdout + result.stderr
    import time

    marker = f"SPHERON_JUPYTER_HOME={home}".encode()
    deadline = time.monotonic() + 30  # the agent exits on its own once its tunnels are closed
    while True:
        left = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _has_env(p, marker)]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert not left, [_cmdline(p) for p in left]


def _has_env(proc: Path, marker: bytes) -> bool:
    try:
        return marker in (proc / "environ").read_bytes().split(b"\0")
    except OSError:
        return False


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return proc.name


def test_the_run_prints_the_offers_the_launch_and_the_termination(executed):
    result, _home, _output = executed
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    offers = out.index("%spheron offers")
    launch = out.index("%%spheron launch")
    # The offers cell's table, as text, before the launch: header and at least one offer row.
    table = out[offers:launch]
    assert "$/hour" in table and re.search(r"\n\s+off_[0-9a-f]+\s+1x RTX4090_PCIE", table), table
    launched = re.search(r"quickstart \(([0-9a-f]+)\) is running", out[launch:])
    assert launched, out[launch:]
    ended = re.search(r"Instance quickstart \(([0-9a-f]+)\): terminated at \d\d:\d\d:\d\d UTC",
                      out)
    assert ended and ended.group(1) == launched.group(1), out
    assert out.index("Instance quickstart") < out.index("Executed notebook:")


def test_the_saved_notebook_holds_no_secret(executed):
    result, home, output = executed
    assert result.returncode == 0, result.stdout + result.stderr
    saved = output.read_text()
    secrets = run_secrets(home)
    assert "API key" in secrets and "private key body" in secrets
    assert any("TOKEN" in name for name in secrets), "the run should have started a token-protected Jupyter"
    for name, value in secrets.items():
        assert value and value not in saved, f"{name} leaked into the saved notebook"
        assert value not in result.stdout + result.stderr, f"{name} leaked into the demo's output"
    assert "PRIVATE KEY" not in saved
