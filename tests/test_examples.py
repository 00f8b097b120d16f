"""Every example notebook in examples/ runs in CI against the embedded emulator.

One mechanism for all of them: ``spheron-jupyter demo --notebook NAME`` (what a user would run:
nbclient, a real kernel, the managed emulator and its SSH sandboxes in a home of its own), one
parametrized test per examples/*.ipynb. An example that needs more than that (quickstart's own
checks, a second kernel) names the test that runs it in ``OWN_TEST``. Every run's executed copy
and output are searched for the run's secrets; the copies in git carry no outputs.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from tests.support.executed_notebooks import REPO, cell_outputs, run_demo, run_secrets

EXAMPLES = sorted(p for p in (REPO / "examples").glob("*.ipynb")
                  if not p.name.endswith(".executed.ipynb"))
OWN_TEST = {
    "quickstart.ipynb": "tests/test_demo.py",
    "remote_kernel.ipynb": "tests/test_example_remote_kernel.py",
}
# What each run must show (outputs only, never a cell's source): the example did its job.
SHOWS = {
    "panels.ipynb": ["offers up to $2/h; cheapest: 1x ", "Launch at $",
                     "creating -> deploying -> running -> ssh", "hello from the dashboard",
                     "Linux (exit 0)", "panels-demo will be terminated"],
    "volumes.ipynb": ["created volume datasets", "vol-box", "is running", "epoch 1",
                      "one volume per instance", "detached datasets from vol-box",
                      "deleted volume scratch"],
    "protocol.ipynb": ["Fizz mode cannot use ports 80/443", "unknown duration unit 'hr'",
                       "Lid: 1", "-> HTTP 200", "Started container web", "closed deployment 1"],
}
RUN_HERE = [p for p in EXAMPLES if p.name not in OWN_TEST]


def _name(path: Path) -> str:
    return path.stem


@pytest.mark.parametrize("notebook", EXAMPLES, ids=_name)
def test_example_is_stored_without_outputs(notebook):
    nb = nbformat.read(notebook, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and not [c.source.splitlines()[0] for c in code
                         if c.outputs or c.execution_count is not None]
    assert "widgets" not in nb.metadata  # no saved widget state either


def test_every_example_runs_somewhere_and_readme_lists_it():
    readme = (REPO / "README.md").read_text()
    for notebook in EXAMPLES:
        assert f"examples/{notebook.name}" in readme, f"README does not list {notebook.name}"
        if notebook.name in OWN_TEST:
            test = REPO / OWN_TEST[notebook.name]
            assert test.is_file() and notebook.stem in test.read_text()
        else:
            assert notebook.name in SHOWS, f"say what {notebook.name} must show"


@pytest.mark.slow
@pytest.mark.parametrize("notebook", RUN_HERE, ids=_name)
def test_example_runs_against_the_emulator(notebook, tmp_path):
    home, output = tmp_path / "home", tmp_path / f"{notebook.stem}.executed.ipynb"
    result = run_demo(notebook.stem, home, output)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert f"Executed notebook: {output}" in result.stdout
    nb = nbformat.read(output, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code)
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    shown = "\n".join(cell_outputs(c) for c in code)
    for expected in SHOWS[notebook.name]:
        assert expected in shown, f"{notebook.name} did not show {expected!r}"
    saved = output.read_text()
    secrets = run_secrets(home)
    assert ("API key" in secrets) == (notebook.name != "protocol.ipynb")  # Protocol only: no emulator
    for name, value in secrets.items():
        assert value not in saved, f"{name} leaked into the executed {notebook.name}"
        assert value not in result.stdout + result.stderr, f"{name} leaked into the demo's output"
    assert "PRIVATE KEY" not in saved
    json.loads(saved)  # a notebook file a frontend can open


def test_quickstart_says_which_minimum_runtime_applies_where():
    """Its tear-down once said "the emulator here uses a shorter minimum" while `%spheron use
    local` kept 20 minutes, so opened in JupyterLab it ended with the instance running. It
    names both: the managed emulator's minimum and how to shorten it, and the demo's."""
    from spheron_jupyter.demo import DEMO_ENV
    from spheron_jupyter.session.backends import ENV_MINIMUM_RUNTIME
    from spheron_jupyter.session.money import parse_duration

    nb = nbformat.read(REPO / "examples" / "quickstart.ipynb", as_version=4)
    (teardown,) = [c.source for c in nb.cells if c.source.startswith("## Tear down")]
    assert "`%spheron use local` keeps that 20-minute minimum" in teardown
    assert f"%env {ENV_MINIMUM_RUNTIME}=" in teardown
    demo_minimum = parse_duration(DEMO_ENV[ENV_MINIMUM_RUNTIME])
    assert f"with a {demo_minimum:g}-second minimum and waits for this termination" in teardown
