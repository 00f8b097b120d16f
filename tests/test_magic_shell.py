"""The %spheron router and parser in a real IPython shell.

The ``shell`` and ``emulator_shell`` fixtures are in tests/fixtures/magic_shell.py, ``Shell`` and
``emulator_counts`` in tests/support/magic_shell.py.
"""

from __future__ import annotations

import pytest
from IPython.core.interactiveshell import InteractiveShell

from spheron_jupyter.notebook.magic import COMMANDS



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


@pytest.mark.parametrize("name, phrases", [
    ("launch", ["up to launch_timeout_minutes (settings, 60 by default)", "retryAfter",
                "massed-compute: ubuntu", "else ubuntu, then root", "culpeper-usa-1 finds "
                "166e655a:culpeper-usa-1", "the exact id is sent"]),
    ("ls", ["does not document (`stopped`, or anything new) is shown as it is and counted as "
            "billing", "burn meter", "%load_ext's warning"]),
    ("terminate", ["does not document (stopped)", "DELETE's own answer decides"]),
    ("deployment", ["no time limit", "progress lines stream", "the lease may exist and bill",
                    "deployment list -a", "do not create again"]),
    ("doctor", ["naming the route and the field", "Creates and spends nothing", "--json"]),
])
def test_help_describes_how_the_live_service_is_met(shell, name, phrases):
    text = " ".join(shell.ok(f"%spheron {name} --help").text.split())
    for phrase in phrases:
        assert phrase in text, phrase


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
    flags = launch.merge(parser.parse_args(["--lease", "30m"]), "gpu: rtx-4090\n")
    assert (flags["gpu"], flags["lease"]) == ("rtx-4090", "30m")  # each from where it is given
    from IPython.core.error import UsageError

    with pytest.raises(UsageError, match="--gpu h100 disagrees with the cell's gpu: rtx-4090"):
        launch.merge(parser.parse_args(["--gpu", "h100"]), "gpu: rtx-4090\n")  # neither wins
