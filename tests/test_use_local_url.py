"""`%spheron use local --url URL` on an emulator started by hand (`spheron-jupyter emulator`,
the ``emulator`` fixture's subprocess, not the one the package manages), and `exec ID -- CMD`
joining its words into one remote command line as ssh does."""

from __future__ import annotations

import json
import socket

from spheron_jupyter.session.backends import emulator_state_dir


def _managed_emulator_started() -> bool:
    return (emulator_state_dir() / "emulator.json").exists()


def test_use_local_url_with_the_key_from_the_environment(shell, emulator, monkeypatch):
    monkeypatch.setenv("SPHERON_API_KEY", emulator.api_key)
    out = shell.ok(f"%spheron use local --url {emulator.url}/")
    assert f"using the local backend at {emulator.url}" in out.text
    who = shell.ok("%spheron whoami").text
    assert emulator.url in who and "SPHERON_API_KEY" in who and emulator.api_key not in who
    assert "RTX4090_PCIE" in shell.ok("%spheron offers --gpu rtx-4090 --limit 2").text
    assert not _managed_emulator_started()  # it used the given emulator, started none


def test_use_local_state_reads_url_and_key_from_the_emulator_state(shell, emulator):
    out = shell.ok(f"%spheron use local --state {emulator.state_dir}")
    assert f"using the local backend at {emulator.url}" in out.text
    assert shell.ok(f"%spheron use local --url {emulator.url} --state {emulator.state_dir}")
    assert "H100_" in shell.ok("%spheron offers --gpu h100 --limit 1").text
    assert emulator.api_key not in "\n".join(shell.transcript)
    assert not _managed_emulator_started()


def test_use_local_url_mistakes_are_one_line_and_start_nothing(shell, emulator, tmp_path,
                                                               monkeypatch):
    no_key = shell.usage_error(f"%spheron use local --url {emulator.url}")
    assert "SPHERON_API_KEY" in no_key and "--state" in no_key
    empty = tmp_path / "nothing-here"
    assert "spheron-jupyter emulator --state" in shell.usage_error(
        f"%spheron use local --state {empty}")
    other = shell.usage_error(f"%spheron use local --url http://127.0.0.1:1 "
                              f"--state {emulator.state_dir}")
    assert emulator.url in other
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setenv("SPHERON_API_KEY", emulator.api_key)
    assert "nothing answers at" in shell.usage_error(f"%spheron use local --url {closed}")
    assert "--state is for 'use local'" in shell.usage_error(
        f"%spheron use cloud --state {emulator.state_dir}")
    assert not _managed_emulator_started()
    assert json.loads((emulator.state_dir / "emulator.json").read_text())["url"] == emulator.url


def test_exec_joins_its_words_into_one_remote_command_line(shell, emulator):
    shell.ok(f"%spheron use local --state {emulator.state_dir}")
    shell.ok("%spheron launch --gpu rtx-4090 --name joiner --lease 30m")
    both = shell.ok("%spheron exec joiner -- echo a && echo b")
    assert both.stdout.split() == ["a", "b"]
    piped = shell.ok("%spheron exec joiner -- echo 'x  y' | tr x z > out.txt; cat out.txt")
    assert piped.stdout.strip() == "z  y"  # the quotes reached the remote shell
    assert shell.ok('%spheron exec joiner -- "echo one; echo two"').stdout.split() == ["one", "two"]
    assert "exited with status 3" in shell.usage_error("%spheron exec joiner -- true && exit 3")
    help_text = repr(shell.ok("%spheron exec --help").result)
    assert "&&" in help_text and "ssh" in help_text
