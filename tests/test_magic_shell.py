"""A real IPython shell with ``%load_ext spheron_jupyter``, and the checks every magic test uses.

Other test_magic_* modules import ``Shell``, ``shell`` and ``emulator_shell`` from here. The
shell is IPython's own ``InteractiveShell`` running cells with ``run_cell``, exactly as a
terminal IPython does; output is captured with ``IPython.utils.capture.capture_output``,
which also collects ``display()`` calls.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from spheron_jupyter.notebook import extension
from spheron_jupyter.notebook.magic import COMMANDS


@dataclass
class Outcome:
    stdout: str
    stderr: str
    displays: list[str]
    result: object
    failed: bool

    @property
    def text(self) -> str:
        return "\n".join([self.stdout, self.stderr, *self.displays])

    @property
    def error(self) -> str:
        return self.stderr.strip()


class Shell:
    def __init__(self, ip):
        self.ip = ip
        self.transcript: list[str] = []

    @property
    def context(self):
        return extension._magics.context

    def run(self, source: str) -> Outcome:
        with capture_output() as cap:
            result = self.ip.run_cell(source, store_history=True)
        displays = []
        for out in cap.outputs:
            displays.extend(str(v) for v in out.data.values())
        outcome = Outcome(cap.stdout, cap.stderr, displays, result.result,
                          not result.success)
        self.transcript.append(outcome.text)
        return outcome

    def ok(self, source: str) -> Outcome:
        outcome = self.run(source)
        assert not outcome.failed, f"{source!r} failed: {outcome.text}"
        return outcome

    def usage_error(self, source: str) -> str:
        """Run, expect exactly one clean error line (no traceback); return that line."""
        outcome = self.run(source)
        assert outcome.failed, f"{source!r} should have failed: {outcome.text}"
        assert "Traceback" not in outcome.text, outcome.text
        lines = [line for line in outcome.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("UsageError: "), outcome.stderr
        return lines[0][len("UsageError: "):]


@pytest.fixture
def shell():
    ip = InteractiveShell.instance()
    extension.load_ipython_extension(ip)  # what %load_ext calls; fresh magics per test
    yield Shell(ip)
    extension.unload_ipython_extension(ip)


@pytest.fixture
def emulator_shell(shell, emulator):
    from spheron_jupyter.session.core import Session

    shell.context.session = Session("local", url=emulator.url, api_key=emulator.api_key)
    shell.emulator = emulator
    return shell


def emulator_counts(emulator) -> tuple[int, int]:
    request = urllib.request.Request(
        emulator.url + "/_emulator/state",
        headers={"Authorization": f"Bearer {emulator.api_key}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        state = json.load(response)
    return state["instancesTotal"], state["volumes"]


# -- the router and the parser: no backend needed -----------------------------------------------
def test_load_ext_through_ipython_registers_one_magic():
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "spheron_jupyter")
    assert "spheron" in ip.magics_manager.magics["line"]
    assert "spheron" in ip.magics_manager.magics["cell"]
    ip.run_line_magic("unload_ext", "spheron_jupyter")


def test_help_lists_every_subcommand(shell):
    text = repr(shell.ok("%spheron help").result)
    for name in COMMANDS:
        assert name in text
    assert repr(shell.ok("%spheron").result) == text  # no subcommand: the same list


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_subcommand_has_help(shell, name):
    out = shell.ok(f"%spheron {name} --help")
    assert f"%spheron {name}" in out.text and "usage:" in out.text
    assert repr(shell.ok(f"%spheron help {name}").result) == repr(out.result)


def test_unknown_subcommand_is_one_line_with_a_suggestion(shell):
    line = shell.usage_error("%spheron lunch --gpu h100")
    assert "unknown subcommand 'lunch'" in line and "launch" in line


def test_unknown_flag_is_one_line(shell):
    line = shell.usage_error("%spheron offers --colour red")
    assert "unrecognized arguments: --colour red" in line


def test_bad_value_and_unclosed_quote(shell):
    assert "is not a whole number" in shell.usage_error("%spheron offers --count zero")
    assert "check the quotes" in shell.usage_error("%spheron offers --gpu 'rtx 4090")


def test_subcommand_help_of_nested_actions(shell):
    text = shell.ok("%spheron volume create --help").text
    assert "--size" in text and "--provider" in text


def test_cell_body_only_where_it_means_something(shell):
    assert "takes no cell body" in shell.usage_error("%%spheron ls\nsomething")


def test_current_session_is_the_magics_own(emulator_shell):
    from spheron_jupyter.notebook.extension import current_session

    assert current_session() is emulator_shell.context.session


def test_cell_launch_yaml_means_what_the_flags_mean():
    from spheron_jupyter.notebook.commands import launch
    from spheron_jupyter.notebook.magic import build_parser
    from spheron_jupyter.session.money import parse_duration

    parser = build_parser("launch", launch)
    opts = launch.merge(parser.parse_args([]), "gpu: rtx-4090\nlease: 2\nname: 7\nyes: true\n")
    assert parse_duration(opts["lease"]) == parse_duration(parser.parse_args(["--lease", "2"]).lease)
    assert parse_duration(opts["lease"]) == 7200 and opts["name"] == "7" and opts["yes"]
    flags = launch.merge(parser.parse_args(["--lease", "30m", "--gpu", "h100"]), "gpu: rtx-4090\nlease: 2\n")
    assert (flags["gpu"], flags["lease"]) == ("h100", "30m")  # the line wins over the cell
