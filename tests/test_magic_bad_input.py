"""Bad input: one clean line, no traceback, and nothing created (the emulator's counts agree)."""

from __future__ import annotations

import socket

import pytest

from tests.support.magic_shell import emulator_counts


@pytest.fixture
def prepared(emulator_shell):
    """Running 'alpha-1' and 'alpha-3', terminated 'alpha-2': 'alpha' is ambiguous.

    A prefix prefers active instances, so the terminated one does not count against it.
    """
    sh = emulator_shell
    sh.ok("%spheron launch --gpu rtx-4090 --name alpha-1 --yes")
    sh.ok("%spheron launch --gpu rtx-4090 --name alpha-3 --yes --no-wait")
    sh.ok("%spheron launch --gpu rtx-4090 --name alpha-2 --yes --no-wait")
    sh.ok("%spheron volume create store --size 10 --provider data-crunch --region FIN-01")
    return sh


def _held_port():
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen()
    return held


BAD_INPUT = [
    ("%spheron frobnicate", "unknown subcommand 'frobnicate'"),
    ("%spheron launch --gpu rtx-4090 --colour red", "unrecognized arguments: --colour"),
    ("%spheron launch --gpu quantum-9000", "quantum-9000"),
    ("%spheron offers --gpu quantum-9000", "quantum-9000"),
    ("%spheron launch --gpu rtx-4090 --max-price 0.001", "no available offer matches"),
    ("%spheron launch off_does_not_exist", "no offer 'off_does_not_exist'"),
    ("%%spheron launch\ngpu: rtx-4090\nname: [unclosed\nlease: 1h\n",
     "at line 4 of the cell: expected ',' or ']', but got ':' (while parsing a flow sequence "
     "that starts at line 3)"),
    ("%%spheron launch\ngpu: rtx-4090\n  bad: indent\n", "at line 3 of the cell"),
    ("%%spheron launch\ngpu: rtx-4090\ncolour: red\n", "unknown key 'colour'"),
    # A flag and the cell disagreeing must not silently buy the flag's GPU (issue 10).
    ("%%spheron launch --gpu h100\ngpu: rtx-4090\n",
     "--gpu h100 disagrees with the cell's gpu: rtx-4090; remove one of them"),
    ("%spheron launch --gpu rtx-4090 --lease soon", "cannot read the duration"),
    # The volume is attached after the create: a bad one must be refused before it.
    ("%spheron launch --gpu rtx-4090 --volume nosuchvolume --yes", "no volume 'nosuchvolume'"),
    ("%spheron launch --gpu rtx-4090 --provider tensordock --volume store --yes",
     "volumes attach only within their provider"),
    ("%spheron status nobody", "no instance 'nobody'"),
    ("%spheron status alpha", "matches 2 instances"),
    ("%spheron terminate alph --yes", "matches 2 instances"),
    ("%spheron status alpha-2", "is terminated; use its id or --all to mean it"),
    ("%spheron ssh alpha-2", "no billing instance 'alpha-2'"),
    ("%spheron exec alpha-2 -- true", "no billing instance 'alpha-2'"),
    ("%spheron forward alpha-1 8080 --local-port {held}", "{held}"),
    ("%spheron forward alpha-1 99999", "not a TCP port"),
    ("%spheron volume create x --size 10 --provider voltage-park --region nowhere", "region"),
    ("%spheron volume attach nosuchvolume alpha-1", "no volume 'nosuchvolume'"),
    ("%spheron team use Nobody", "no team 'Nobody'"),
    ("%spheron close t-nothing", "no open tunnel"),
    ("%spheron keys add /nonexistent/key.pub", "cannot read"),
]


def test_bad_input_table(prepared):
    sh = prepared
    # alpha-2 was launched without waiting: make it "not running" for good.
    sh.context.session.resolve("alpha-2")
    import time

    time.sleep(3.5)  # past the emulator's 3 s minimum runtime
    sh.ok("%spheron terminate alpha-2 --yes")
    before = emulator_counts(sh.emulator)
    held = _held_port()
    try:
        for source, expected in BAD_INPUT:
            source = source.format(held=held.getsockname()[1])
            expected = expected.format(held=held.getsockname()[1])
            line = sh.usage_error(source)
            assert expected in line, (source, line)
    finally:
        held.close()
    assert emulator_counts(sh.emulator) == before
    # An ended name is reached with --all (issue 10: names are reused; the billing one wins).
    shown = sh.ok("%spheron status alpha-2 --all").text
    assert "alpha-2" in shown and "terminated" in shown


def test_over_budget_launch_is_refused_without_yes(emulator_shell):
    from spheron_jupyter.session import backends

    sh = emulator_shell
    backends.save_setting("budget_per_launch_usd", 1.0)
    before = emulator_counts(sh.emulator)
    line = sh.usage_error("%spheron launch --gpu h100 --count 8 --lease 10h")
    assert "over your budget of $1.00" in line and "--yes" in line and "nothing was created" in line
    assert emulator_counts(sh.emulator) == before
    assert sh.context.session.ledger.instances() == []  # not even a placeholder
    out = sh.ok("%spheron launch --gpu rtx-4090 --lease 30m --yes --no-wait")
    assert "created" in out.text
    assert emulator_counts(sh.emulator)[0] == before[0] + 1


def test_worst_case_counts_the_minimum_runtime(emulator_shell):
    plan = emulator_shell.context.session.plan_launch(gpu="rtx-4090", lease="5m")
    assert plan.worst_case_usd == pytest.approx(plan.hourly_rate * 20 / 60)
    assert "minimum" in plan.worst_case_basis


def test_bad_key_is_one_line_and_never_shown(shell, emulator):
    from spheron_jupyter.session.core import Session

    wrong = "sai_pk_wrong_" + "x" * 30
    shell.context.session = Session("local", url=emulator.url, api_key=wrong)
    before = emulator_counts(emulator)
    for source in ("%spheron ls", "%spheron launch --gpu rtx-4090 --yes", "%spheron whoami"):
        line = shell.usage_error(source)
        assert "key" in line.lower() or "401" in line or "auth" in line.lower(), line
    assert emulator_counts(emulator) == before
    assert all(wrong not in text for text in shell.transcript)


def test_unreachable_api_is_one_line(shell):
    from spheron_jupyter.session.core import Session

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    shell.context.session = Session("cloud", url=f"http://127.0.0.1:{port}", api_key="sai_pk_" + "y" * 30)
    line = shell.usage_error("%spheron ls")
    assert "127.0.0.1" in line or "reach" in line.lower()


def test_login_reads_from_env_and_never_echoes(shell, monkeypatch):
    monkeypatch.setenv("SPHERON_JUPYTER_KEYRING", "off")
    secret = "sai_pk_login_test_" + "z" * 24
    monkeypatch.setenv("MY_SPHERON_KEY", secret)
    out = shell.ok("%spheron login --from-env MY_SPHERON_KEY")
    assert "API key stored" in out.text and secret not in out.text
    assert "is empty" in shell.usage_error("%spheron login --from-env NOT_SET_ANYWHERE")
    from spheron_jupyter.config.credentials import resolve_api_key

    assert resolve_api_key().reveal() == secret


def test_use_cloud_without_a_key_says_what_to_do(shell, monkeypatch, tmp_path):
    monkeypatch.setenv("SPHERON_JUPYTER_KEYRING", "off")
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.spheron/api_key of the real user
    line = shell.usage_error("%spheron use cloud")
    assert "no Spheron API key configured" in line and "%spheron login" in line
    assert "invalid choice" in shell.usage_error("%spheron use mars")
