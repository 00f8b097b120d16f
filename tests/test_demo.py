"""README's main job: the example notebook executed end to end, exactly as `./dev demo` runs it.

A real subprocess runs nbclient on examples/quickstart.ipynb with a real kernel, a real emulator
process, real SSH sandboxes, a real tunnel agent and a real Jupyter and TensorBoard on the
instance. Then the saved notebook is searched for every secret the run held.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    home = tmp_path_factory.mktemp("demo-home")
    output = home / "quickstart.executed.ipynb"
    result = subprocess.run(
        [sys.executable, "-m", "spheron_jupyter", "demo", "--home", str(home), "--output", str(output)],
        capture_output=True, text=True, timeout=900, cwd=REPO,
    )
    return result, home, output


def test_every_cell_runs_and_the_run_says_where_the_copy_is(executed):
    result, _home, output = executed
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Executed notebook: {output}" in result.stdout
    import nbformat

    nb = nbformat.read(output, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.get("execution_count") for c in code)
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    text = output.read_text()
    assert "startup done" in text  # the startup script ran and its log was read back
    assert "wrote runs/train" in text  # the exec cell streamed the job's output
    assert "Jupyter /api/status: 200" in text and "without the token:  403" in text
    assert "TensorBoard runs: ['train']" in text


def test_the_run_prints_the_offers_the_launch_and_the_termination(executed):
    result, _home, _output = executed
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    offers = out.index("%spheron offers")
    launch = out.index("%%spheron launch")
    # The offers cell's table, as text, before the launch: header and at least one offer row.
    table = out[offers:launch]
    assert "$/hour" in table and re.search(r"\n\s+off_[0-9a-f]+\s+1x rtx-4090", table), table
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
    api_key = json.loads((home / "state" / "emulator" / "state.json").read_text())["apiKey"]
    secrets = {"API key": api_key}
    private_key = (home / "data" / "ssh" / "id_ed25519").read_text()
    secrets["private key body"] = "".join(private_key.strip().splitlines()[1:-1])[:60]
    for env_file in home.glob("state/emulator/instances/*/root/*/.spheron/services/*.env"):
        for line in env_file.read_text().splitlines():
            name, _, value = line.partition("=")
            if "TOKEN" in name and value.strip("'\""):
                secrets[f"{env_file.name} {name}"] = value.strip("'\"")
    assert any("TOKEN" in name for name in secrets), "the run should have started a token-protected Jupyter"
    for name, value in secrets.items():
        assert value and value not in saved, f"{name} leaked into the saved notebook"
        assert value not in result.stdout + result.stderr, f"{name} leaked into the demo's output"
    assert "PRIVATE KEY" not in saved
