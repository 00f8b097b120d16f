"""The console script's router: help and unknown commands, run as a real subprocess."""

import subprocess
import sys


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "spheron_jupyter", *args], capture_output=True, text=True, timeout=60
    )


def test_help_lists_every_subcommand():
    from spheron_jupyter.cli import SUBCOMMANDS

    result = run_cli("--help")
    assert result.returncode == 0
    for name in SUBCOMMANDS:
        assert name in result.stdout


def test_unknown_command_is_one_clear_line():
    result = run_cli("frobnicate")
    assert result.returncode == 2
    assert "unknown command 'frobnicate'" in result.stderr
    assert "Traceback" not in result.stderr
