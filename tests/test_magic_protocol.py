"""%%spheron icl --check and the protocol magics' help and bad input, through a real IPython shell.

Nothing here creates a deployment: checks are pure, and the refusals must stop before sphnctl.
The end-to-end deployment flow is in test_magic_protocol_deploy.py.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from spheron_jupyter.emulator.protocol_state import ProtocolStore


# The complete provider-mode document of Spheron's docs (Jupyter on 8888, one rtx4090).
LAB = """\
version: "1.0"
services:
  lab:
    image: quay.io/jupyter/pytorch-notebook:cuda12-2024-07-29
    env:
      - JUPYTER_TOKEN=change-me
    expose:
      - port: 8888
        as: 8888
        to:
          - global: true
profiles:
  name: lab
  duration: 2h
  mode: provider
  tiers:
    - community
  compute:
    lab:
      resources:
        cpu:
          units: 8
        memory:
          size: 16Gi
        storage:
          - size: 200Gi
        gpu:
          units: 1
          attributes:
            vendor:
              nvidia:
                - model: rtx4090
  placement:
    west:
      attributes:
        region: us-west
      pricing:
        lab:
          token: uSPON
          amount: 10
deployment:
  lab:
    west:
      profile: lab
      count: 1
"""


def cell_line(body: str, needle: str) -> int:
    """The line of ``needle`` as a notebook counts it: the %%spheron line is line 1."""
    return next(n for n, line in enumerate(body.splitlines(), start=2) if needle in line)


@pytest.fixture
def sphnctl(monkeypatch):
    monkeypatch.setenv("SPHERON_SPHNCTL", f"{sys.executable} -m spheron_jupyter sphnctl")


def test_check_summarises_a_valid_document(shell):
    out = shell.ok("%%spheron icl --check\n" + LAB)
    text, page = repr(out.result), out.result._repr_html_()
    assert text.startswith("ICL document valid in provider mode, 1 warning.")
    for expected in ("Mode: provider", "Duration: 2h", "Tiers: community", "GPUs in all: 1",
                     "Price ceiling: 10 uSPON per hour, 20 uSPON for 2h",
                     "quay.io/jupyter/pytorch-notebook:cuda12-2024-07-29", "8888", "global",
                     "16Gi", "200Gi", "1 × rtx4090", "us-west"):
        assert expected in text, expected
    # The globally exposed Jupyter is a warning pointing at an SSH tunnel, with the cell's line.
    assert f"services.lab.expose[0].as (line {cell_line(LAB, 'as: 8888')})" in text
    assert "SSH tunnel" in text
    assert "<table>" in page and "1 × rtx4090" in page and "<b>ICL document valid" in page
    assert repr(shell.ok("%%spheron icl\n" + LAB).result) == text  # --check is the default


def fizz_breaking(body: str) -> str:
    return (body.replace("mode: provider", "mode: fizz")
            .replace("port: 8888\n        as: 8888", "port: 443\n        as: 443")
            .replace("gpu:\n          units: 1", "gpu:\n          units: 2"))


def test_check_lists_every_fizz_error_with_path_line_rule_and_fix(shell):
    body = fizz_breaking(LAB)
    out = shell.ok("%%spheron icl\n" + body)  # a check that finds errors is still a check
    text = repr(out.result)
    assert "Traceback" not in out.text
    assert text.startswith("ICL document refused in fizz mode: 2 errors")
    port_line, gpu_line = cell_line(body, "as: 443"), cell_line(body, "units: 2")
    assert (f"error: services.lab.expose[0].as (line {port_line}): port 443 — Fizz mode cannot use "
            "ports 80/443: use another port") in text
    assert (f"error: profiles.compute.lab.resources.gpu.units (line {gpu_line}): 2 GPUs — Fizz mode "
            "allows 1 GPU per deployment: ask for gpu units: 1, or use provider mode.") in text
    assert "spheron-error" in out.result._repr_html_()


def test_mode_override_shows_what_breaks_in_the_other_mode(shell):
    body = LAB.replace("port: 8888\n        as: 8888", "port: 80\n        as: 80")
    assert repr(shell.ok("%%spheron icl\n" + body).result).startswith("ICL document valid in provider mode")
    text = repr(shell.ok("%%spheron icl --mode fizz\n" + body).result)
    assert text.startswith("ICL document refused in fizz mode (the document says provider): 1 error")
    assert f"services.lab.expose[0].as (line {cell_line(body, 'as: 80')}): port 80" in text
    assert "Mode: fizz (the document says provider)" in text and "fizz limits" in text
    back = fizz_breaking(LAB)
    assert repr(shell.ok("%%spheron icl --mode provider\n" + back).result).startswith(
        "ICL document valid in provider mode (the document says fizz)")


def test_malformed_yaml_gives_the_line_not_a_traceback(shell):
    body = 'version: "1.0"\nservices:\n  web: [unclosed\n  db: x\n'
    out = shell.ok("%%spheron icl\n" + body)
    text = repr(out.result)
    assert "Traceback" not in out.text
    assert text.startswith("ICL document could not be read: 1 error.")
    assert "error: line 5: malformed YAML" in text  # the `db: x` line, counted in the cell


def test_deploy_refuses_a_document_with_errors_and_creates_nothing(shell, sphnctl):
    out = shell.run("%%spheron icl --deploy\n" + fizz_breaking(LAB))
    assert out.failed and "Traceback" not in out.text
    assert "Fizz mode cannot use ports 80/443" in out.stdout  # the findings are shown first
    assert out.error == ("UsageError: %%spheron icl --deploy: the ICL document has 2 errors "
                         "(listed above): fix them; nothing was created or changed")
    assert ProtocolStore().all() == []


def test_deploy_refuses_a_mode_the_document_does_not_have(shell, sphnctl):
    line = shell.usage_error("%%spheron icl --deploy --mode fizz\n" + LAB)
    assert "the document says mode provider" in line and "mode: fizz" in line
    assert ProtocolStore().all() == []


def test_deployment_create_checks_the_file_first(shell, sphnctl, tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text(fizz_breaking(LAB))
    out = shell.run(f"%spheron deployment create {bad}")
    assert out.failed and "Traceback" not in out.text
    assert f"(line {cell_line(fizz_breaking(LAB), 'as: 443') - 1})" in out.stdout  # the file's own line
    assert "nothing was created" in out.error
    assert "no such ICL file" in shell.usage_error(f"%spheron deployment create {tmp_path}/missing.yml")
    assert ProtocolStore().all() == []


def test_icl_needs_a_cell(shell):
    assert "the cell is the ICL document" in shell.usage_error("%spheron icl --check")
    assert "not allowed with argument" in shell.usage_error("%%spheron icl --check --deploy\n" + LAB)
    assert "invalid choice: 'fuzz'" in shell.usage_error("%%spheron icl --mode fuzz\n" + LAB)


@pytest.mark.parametrize("line", [
    "%spheron icl --help", "%spheron deployment --help", "%spheron deployment create --help",
    "%spheron deployment get --help", "%spheron deployment list --help",
    "%spheron deployment logs --help", "%spheron deployment events --help",
    "%spheron deployment update --help", "%spheron deployment close --help",
])
def test_every_protocol_command_has_help(shell, line):
    text = shell.ok(line).text
    prog = line.removesuffix(" --help")
    assert f"usage: {prog}" in text
    if prog.endswith(("get", "logs", "events", "update", "close")):
        assert "--lid N" in text
    if prog.endswith("logs"):
        assert all(flag in text for flag in ("--follow", "--tail", "--service", "--startup", "-o"))


def test_help_lists_the_protocol_commands(shell):
    text = repr(shell.ok("%spheron help").result)
    assert "icl " in text and "deployment " in text


def test_missing_sphnctl_is_the_one_line_install_hint(shell, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no sphnctl anywhere, SPHERON_SPHNCTL unset
    for source in ("%spheron deployment list", "%spheron deployment get --lid 1",
                   "%%spheron icl --deploy\n" + LAB):
        line = shell.usage_error(source)
        assert line.startswith("sphnctl was not found") and "curl -sL1 https://sphnctl.sh | bash" in line
    monkeypatch.setenv("SPHERON_SPHNCTL", str(tmp_path / "sphnctl"))
    line = shell.usage_error("%spheron deployment list")
    assert "SPHERON_SPHNCTL=" in line and "was not found" in line
    broken = tmp_path / "broken-sphnctl"
    broken.write_bytes(b"\x00\x01 not a program")
    broken.chmod(0o755)
    monkeypatch.setenv("SPHERON_SPHNCTL", str(broken))
    line = shell.usage_error("%spheron deployment list")
    assert line.startswith("sphnctl could not be started") and "curl -sL1 https://sphnctl.sh | bash" in line
    assert not (Path(os.environ["SPHERON_JUPYTER_HOME"]) / "state" / "icl").exists()  # nothing written
