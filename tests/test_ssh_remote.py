"""Remote exec against a real sshd: streaming, exit codes, interrupts, env and secrets."""

from __future__ import annotations

import hashlib
import os
import threading
import time

import pytest

from spheron_jupyter.config.processes import pid_alive
from spheron_jupyter.ssh.connection import Connection
from spheron_jupyter.ssh.errors import PeerDeadError
from spheron_jupyter.ssh.remote import (
    INTERRUPTED_EXIT,
    RemoteTimeoutError,
    build_command,
    capture,
    run,
)


@pytest.fixture
def conn(sshd):
    with Connection.open(sshd.target("inst-exec", pin=True)) as connection:
        yield connection


def _wait_gone(pid: int, seconds: float = 5.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_output_streams_as_it_comes_and_exit_code_returns(conn):
    seen = []
    started = time.monotonic()
    code = run(
        conn,
        "echo first; sleep 1.5; echo oops >&2; echo last; exit 3",
        on_stdout=lambda text: seen.append(("out", text, time.monotonic() - started)),
        on_stderr=lambda text: seen.append(("err", text, time.monotonic() - started)),
    )
    assert code == 3
    assert "".join(t for kind, t, _ in seen if kind == "out") == "first\nlast\n"
    assert "".join(t for kind, t, _ in seen if kind == "err") == "oops\n"
    first_at = next(at for kind, t, at in seen if "first" in t)
    assert first_at < 1.2, "first line was held back until the command ended"


def test_multibyte_split_across_writes_and_invalid_bytes(conn):
    chunks = []
    run(conn, r"printf '\303'; sleep 0.3; printf '\251 ok \377\n'", on_stdout=chunks.append)
    assert "".join(chunks) == "é ok \ufffd\n"
    raw = []
    run(conn, r"printf '\377'", on_stdout=raw.append, text=False)
    assert b"".join(raw) == b"\xff"


def test_large_output_is_complete(conn):
    total = []
    code = run(conn, "head -c 20000000 /dev/zero", on_stdout=lambda b: total.append(len(b)), text=False)
    assert code == 0 and sum(total) == 20_000_000


def test_event_interrupt_stops_remote_process(conn, tmp_path):
    pid_file = tmp_path / "pid"
    stop = threading.Event()
    threading.Timer(0.8, stop.set).start()
    started = time.monotonic()
    code = run(conn, f"echo $$ > {pid_file}; exec sleep 60", interrupt=stop)
    assert time.monotonic() - started < 15  # far from the 60 s the sleep would take
    assert code == INTERRUPTED_EXIT
    assert _wait_gone(int(pid_file.read_text()))
    assert conn.alive  # the connection survives; only the command ended
    assert run(conn, "true") == 0


def test_keyboard_interrupt_stops_remote_process_and_reraises(conn, tmp_path):
    pid_file = tmp_path / "pid"

    def on_output(text):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(conn, f"echo $$ > {pid_file}; echo started; exec sleep 60", on_stdout=on_output)
    assert _wait_gone(int(pid_file.read_text()))


def test_timeout_stops_and_raises(conn):
    with pytest.raises(RemoteTimeoutError):
        run(conn, "sleep 60", timeout=0.5)


def test_env_and_secret_env(conn):
    secret = "tok_" + os.urandom(16).hex()
    out = []
    code = run(
        conn,
        'printf "%s|" "$PLAIN"; printf "%s" "$JUPYTER_TOKEN" | sha256sum; '
        "cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '; read rest; echo \"stdin:$rest\"",
        env={"PLAIN": "it's plain"},
        secret_env={"JUPYTER_TOKEN": secret},
        stdin="after-secrets\n",
        on_stdout=out.append,
    )
    text = "".join(out)
    assert code == 0
    assert text.startswith("it's plain|" + hashlib.sha256(secret.encode()).hexdigest())
    assert "stdin:after-secrets" in text
    assert secret not in text  # not in any process's argv while it ran


def test_secret_never_in_command_line():
    line, stdin = build_command("jupyter lab", secret_env={"JUPYTER_TOKEN": "s3cr3t-value"})
    assert "s3cr3t-value" not in line and b"s3cr3t-value" in stdin
    with pytest.raises(ValueError) as caught:
        build_command("x", secret_env={"T": "two\nlines-secret"})
    assert "lines-secret" not in str(caught.value)
    with pytest.raises(ValueError):
        build_command("x", env={"bad name": "v"})


def test_capture_collects_output(conn):
    result = capture(conn, "echo out; echo err >&2; exit 2")
    assert (result.exit_code, result.stdout, result.stderr) == (2, b"out\n", b"err\n")
    assert not result.ok


def test_frozen_server_during_command_raises_peer_dead(sshd):
    conn = Connection.open(sshd.target("inst-freeze-exec", pin=True))
    threading.Timer(0.5, sshd.freeze).start()
    started = time.monotonic()
    try:
        with pytest.raises(PeerDeadError):
            run(conn, "sleep 30")
        assert time.monotonic() - started < 7
    finally:
        sshd.thaw()
        conn.close()


def test_run_with_a_target_and_on_output(sshd):
    seen = []
    code = run(sshd.target("inst-t", pin=True), "echo a; echo b >&2",
               on_output=lambda stream, text: seen.append((stream, text)))
    assert code == 0 and sorted(seen) == [("stderr", "b\n"), ("stdout", "a\n")]


def test_interrupt_set_before_the_start_still_stops_the_command(conn, tmp_path):
    pid_file = tmp_path / "pid"
    stop = threading.Event()
    stop.set()
    run(conn, f"echo $$ > {pid_file}; exec sleep 60", interrupt=stop)
    deadline = time.monotonic() + 5
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    if pid_file.exists() and pid_file.read_text().strip():
        assert _wait_gone(int(pid_file.read_text()))


def test_big_stdin_with_big_output_does_not_deadlock(conn):
    data = os.urandom(8 * 1024 * 1024)
    result = capture(conn, "head -c 6000000 /dev/zero; sha256sum", stdin=data, timeout=60)
    assert result.exit_code == 0
    assert len(result.stdout) == 6_000_000 + 68  # 64 hex digits, "  -", newline
    assert result.stdout[6_000_000:].startswith(hashlib.sha256(data).hexdigest().encode())
