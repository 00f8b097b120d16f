"""Remote commands: output streamed as it comes, exit code returned, interruptible.

Environment: paramiko sends `env` channel requests without asking for a reply (and treats a
refusal as fatal to the channel), and OpenSSH accepts only names listed in `AcceptEnv`
(LANG and LC_* on Ubuntu), so there is no reliable way to pass variables that way. Instead:

* `env` (not secret) is exported in the command line: `export NAME='value'; command`. The
  remote `ps` shows it, so only for values that are not secrets.
* `secret_env` never touches argv: a small /bin/sh prologue reads one line per variable from
  the channel's stdin, exports it, then execs the user's shell with the command. Values must
  not contain a newline or NUL byte.

Interrupting (a threading.Event, a timeout, or Ctrl-C in the caller's thread) signals the
command's whole process group, escalating INT, TERM, KILL with a short grace between, then
closes the channel. SSH `signal` requests are not enough: OpenSSH refuses them for root
logins ("session signalling requires privilege separation"), and some providers log in as
root. So every command first prints its process-group id (sshd starts each session with
setsid, so the session shell's $$ is the group) as a marker line on stderr, which we strip,
and the interrupt runs `kill -SIG -- -PGID` on a second channel of the same connection. The
`signal` request is the fallback when no second channel can be opened.
"""

from __future__ import annotations

import select
import threading
import time
from dataclasses import dataclass
from collections.abc import Callable, Mapping
from typing import Literal, cast, overload

import paramiko
from paramiko.common import cMSG_CHANNEL_REQUEST
from paramiko.message import Message

from spheron_jupyter.ssh.connection import Connection, _short
from spheron_jupyter.ssh.errors import PeerDeadError, SshError
from spheron_jupyter.ssh.remote_command import (  # build_command stays importable from here
    BytesCallback,
    TextCallback,
    _PgidSniffer,
    _StreamDecoder,
    build_command,
)
from spheron_jupyter.ssh.target import SshTarget
from spheron_jupyter.ssh.watchdog import send_user_message

__all__ = [
    "CommandResult",
    "INTERRUPTED_EXIT",
    "RemoteTimeoutError",
    "capture",
    "run",
    "send_signal",
]

# The exit code we report when we stopped the command and the server gave no status
# (a process killed by a signal has none in SSH, only an exit-signal paramiko ignores).
INTERRUPTED_EXIT = 130
READ_SIZE = 256 * 1024


class RemoteTimeoutError(SshError):
    """The command did not finish within the time allowed; it was interrupted."""


@dataclass(frozen=True)
class CommandResult:
    exit_code: int
    stdout: bytes
    stderr: bytes

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def _open_channel(conn: Connection | paramiko.Transport) -> paramiko.Channel:
    if isinstance(conn, Connection):
        return conn.open_session()
    try:
        return conn.open_session(timeout=10)
    except (paramiko.SSHException, EOFError, OSError) as exc:
        raise SshError(f"Could not open an SSH session: {type(exc).__name__}.") from None


def send_signal(channel: paramiko.Channel, signal_name: str) -> None:
    """RFC 4254 `signal` request ("INT", "TERM", "KILL"...). Best effort: never raises."""
    try:
        message = Message()
        message.add_byte(cMSG_CHANNEL_REQUEST)
        message.add_int(channel.remote_chanid)
        message.add_string("signal")
        message.add_boolean(False)
        message.add_string(signal_name.removeprefix("SIG"))
        send_user_message(channel.transport, message)
    except Exception:
        pass


OnOutput = Callable[[str, str | bytes], None]


@overload
def run(
    conn: Connection | paramiko.Transport | SshTarget,
    command: str,
    *,
    on_stdout: TextCallback | None = None,
    on_stderr: TextCallback | None = None,
    text: Literal[True] = True,
    env: Mapping[str, str] | None = None,
    secret_env: Mapping[str, str] | None = None,
    stdin: bytes | str | None = None,
    interrupt: threading.Event | None = None,
    timeout: float | None = None,
    grace: float = 2.0,
    on_output: OnOutput | None = None,
) -> int: ...


@overload
def run(
    conn: Connection | paramiko.Transport | SshTarget,
    command: str,
    *,
    on_stdout: BytesCallback | None = None,
    on_stderr: BytesCallback | None = None,
    text: Literal[False],
    env: Mapping[str, str] | None = None,
    secret_env: Mapping[str, str] | None = None,
    stdin: bytes | str | None = None,
    interrupt: threading.Event | None = None,
    timeout: float | None = None,
    grace: float = 2.0,
    on_output: OnOutput | None = None,
) -> int: ...


def run(
    conn: Connection | paramiko.Transport | SshTarget,
    command: str,
    *,
    on_stdout: TextCallback | BytesCallback | None = None,
    on_stderr: TextCallback | BytesCallback | None = None,
    text: bool = True,
    env: Mapping[str, str] | None = None,
    secret_env: Mapping[str, str] | None = None,
    stdin: bytes | str | None = None,
    interrupt: threading.Event | None = None,
    timeout: float | None = None,
    grace: float = 2.0,
    on_output: OnOutput | None = None,
) -> int:
    """Run `command` on the instance, streaming output to the callbacks; return its exit code.

    Callbacks get str (UTF-8, invalid bytes replaced, multibyte sequences never split) or
    bytes with text=False. Setting `interrupt` stops the command and returns its exit code
    (INTERRUPTED_EXIT when the server reports none); KeyboardInterrupt stops it and re-raises;
    `timeout` stops it and raises RemoteTimeoutError. A dropped connection raises PeerDeadError.

    `conn` may also be an SshTarget: a connection is opened for this one command (pinned host
    key required) and closed after. `on_output(stream, data)` with stream "stdout"/"stderr"
    is an alternative to the two callbacks.
    """
    if isinstance(conn, SshTarget):
        with Connection.open(conn) as connection:
            return _run(
                connection, command, _decoder(on_stdout, text, on_output, "stdout"),
                _decoder(on_stderr, text, on_output, "stderr"), env=env, secret_env=secret_env,
                stdin=stdin, interrupt=interrupt, timeout=timeout, grace=grace,
            )
    return _run(
        conn, command, _decoder(on_stdout, text, on_output, "stdout"),
        _decoder(on_stderr, text, on_output, "stderr"), env=env, secret_env=secret_env,
        stdin=stdin, interrupt=interrupt, timeout=timeout, grace=grace,
    )


def _decoder(
    callback: TextCallback | BytesCallback | None, text: bool, on_output: OnOutput | None, stream: str,
) -> _StreamDecoder:
    if callback is None and on_output is not None:
        def both(data: str | bytes) -> None:
            on_output(stream, data)
        return _StreamDecoder(on_text=both) if text else _StreamDecoder(on_bytes=both)
    # run's overloads pair text=True with str callbacks and text=False with bytes ones.
    if text:
        return _StreamDecoder(on_text=cast(TextCallback | None, callback))
    return _StreamDecoder(on_bytes=cast(BytesCallback | None, callback))


def _run(
    conn: Connection | paramiko.Transport,
    command: str,
    out: _StreamDecoder,
    stderr: _StreamDecoder,
    *,
    env: Mapping[str, str] | None,
    secret_env: Mapping[str, str] | None,
    stdin: bytes | str | None,
    interrupt: threading.Event | None,
    timeout: float | None,
    grace: float,
) -> int:
    line, prologue = build_command(command, env, secret_env)
    channel = _open_channel(conn)
    err = _PgidSniffer(stderr)
    deadline = None if timeout is None else time.monotonic() + timeout
    interrupted = False
    try:
        channel.exec_command(line)
        body = stdin.encode("utf-8") if isinstance(stdin, str) else (stdin or b"")
        _send_stdin(channel, prologue + body)
        try:
            timed_out = _pump(channel, out, err, interrupt, deadline)
        except BaseException:
            # Ctrl-C, or a callback that raised: the remote command must not outlive us.
            _stop(conn, channel, out, err, grace)
            raise
        if timed_out or (interrupt is not None and interrupt.is_set()):
            interrupted = True
            _stop(conn, channel, out, err, grace)
        out.finish()
        err.finish()
        if timed_out:
            raise RemoteTimeoutError(f"Remote command did not finish within {timeout:g} s; stopped it.")
        status = channel.exit_status if channel.exit_status_ready() else -1
        if status == -1 and not interrupted:
            _raise_if_connection_lost(conn)
        if status == -1 and interrupted:
            return INTERRUPTED_EXIT
        return status
    except (paramiko.SSHException, EOFError, OSError) as exc:
        _raise_if_connection_lost(conn)
        raise SshError(f"Remote command failed: {_short(exc)}.") from None
    finally:
        channel.close()


def _send_stdin(channel: paramiko.Channel, data: bytes) -> None:
    """Write stdin, then EOF. Big inputs go from a thread: a command that writes a lot before
    reading all its input would otherwise wait on us while we wait on it."""
    def feed() -> None:
        try:
            if data:
                channel.sendall(data)
            channel.shutdown_write()
        except (OSError, EOFError, paramiko.SSHException):
            pass  # the command ended without reading everything; its exit code tells

    if len(data) <= 64 * 1024:
        feed()
    else:
        threading.Thread(target=feed, name="spheron-exec-stdin", daemon=True).start()


def _pump(channel, out, err, interrupt, deadline) -> bool:
    """Move output to the callbacks until the command ends. True if the deadline passed."""
    fd = channel.fileno()
    while True:
        drained = _drain(channel, out, err)
        if channel.exit_status_ready() and not drained and (channel.eof_received or channel.closed):
            # Status arrived and both streams are at EOF: everything has been delivered.
            if not channel.recv_ready() and not channel.recv_stderr_ready():
                return False
        if channel.closed and not channel.recv_ready() and not channel.recv_stderr_ready():
            return False
        if interrupt is not None and interrupt.is_set():
            return False
        wait = 0.2
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            wait = min(wait, remaining)
        if not drained:
            if channel.eof_received:
                # Output is over but the status has not come yet; the pipe behind fileno()
                # stays readable after EOF, so waiting on it would spin.
                channel.status_event.wait(wait)
            else:
                select.select([fd], [], [], wait)


def _drain(channel, out, err) -> bool:
    moved = False
    while channel.recv_ready():
        data = channel.recv(READ_SIZE)
        if not data:
            break
        out.feed(data)
        moved = True
    while channel.recv_stderr_ready():
        data = channel.recv_stderr(READ_SIZE)
        if not data:
            break
        err.feed(data)
        moved = True
    return moved


def _stop(conn, channel, out, err: _PgidSniffer, grace: float) -> None:
    """Signal the remote process group, escalating, delivering output that still arrives."""
    # Stopped right after the start: give the process-group marker a moment to arrive.
    end = time.monotonic() + 1.0
    while err.pgid is None and time.monotonic() < end and not channel.closed:
        _drain_quietly(channel, out, err)
        channel.status_event.wait(0.02)
    for signal_name, wait in (("INT", grace), ("TERM", 1.0), ("KILL", 1.0)):
        if channel.closed or channel.exit_status_ready():
            break
        if not (err.pgid and _kill_group(conn, err.pgid, signal_name)):
            send_signal(channel, signal_name)
        end = time.monotonic() + wait
        while time.monotonic() < end and not channel.closed and not channel.exit_status_ready():
            _drain_quietly(channel, out, err)
            channel.status_event.wait(0.05)
    _drain_quietly(channel, out, err)
    channel.close()


def _drain_quietly(channel, out, err) -> None:
    # While stopping, a callback that fails again (it may be why we stop) must not keep the
    # remote process alive: its output is dropped instead.
    try:
        _drain(channel, out, err)
    except BaseException:
        for stream in (out, err):
            stream.feed = lambda data: None


def _kill_group(conn, pgid: int, signal_name: str) -> bool:
    """`kill -SIG -- -PGID` on a second channel. False if that channel could not run."""
    try:
        transport = conn.transport if isinstance(conn, Connection) else conn
        channel = transport.open_session(timeout=5)
    except Exception:
        return False
    try:
        channel.exec_command(
            f"kill -{signal_name} -- -{pgid} 2>/dev/null || kill -{signal_name} {pgid} 2>/dev/null"
        )
        channel.shutdown_write()
        channel.status_event.wait(5)
        return True
    except Exception:
        return False
    finally:
        channel.close()


def _raise_if_connection_lost(conn) -> None:
    if isinstance(conn, Connection):
        conn.check()
    elif not conn.is_active():
        raise PeerDeadError("SSH connection lost while a remote command was running.")


def capture(
    conn: Connection | paramiko.Transport,
    command: str,
    *,
    stdin: bytes | str | None = None,
    env: Mapping[str, str] | None = None,
    secret_env: Mapping[str, str] | None = None,
    timeout: float | None = 60.0,
    max_bytes: int = 16 * 1024 * 1024,
) -> CommandResult:
    """Run a helper command and collect its output (bounded: extra bytes are dropped)."""
    stdout = bytearray()
    stderr = bytearray()

    def keep(buffer: bytearray) -> Callable[[bytes], None]:
        def append(data: bytes) -> None:
            room = max_bytes - len(buffer)
            if room > 0:
                buffer.extend(data[:room])
        return append

    code = run(
        conn, command, on_stdout=keep(stdout), on_stderr=keep(stderr), text=False,
        stdin=stdin, env=env, secret_env=secret_env, timeout=timeout,
    )
    return CommandResult(code, bytes(stdout), bytes(stderr))


def cloud_init_status(target: SshTarget, *, timeout: float = 3600.0) -> str:
    """Wait for cloud-init (and so a startup script) to finish; returns its status word.

    ``cloud-init status --wait`` exists on Ubuntu images and on the emulator's instances;
    where it does not, "unknown" (a launch goes on: the script's log still tells).
    """
    with Connection.open(target, timeout=15.0) as conn:
        result = capture(conn, "cloud-init status --wait 2>/dev/null || true", timeout=timeout)
    for line in result.stdout.decode("utf-8", "replace").splitlines():
        if line.strip().startswith("status:"):
            return line.split(":", 1)[1].strip() or "unknown"
    return "unknown"
