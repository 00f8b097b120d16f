"""SSH "session" channels of an emulated instance: exec and shell requests run for real.

Without a pty a command gets three pipes, as under OpenSSH: stdout and stderr stream back as
they come, the exit status follows the last byte. With a pty (``get_pty=True``, interactive
shells) it gets a real terminal as its controlling tty, so Ctrl-C reaches it as SIGINT.

When the client closes the channel (or the connection drops) the command's process group gets
SIGHUP, as with a hung-up terminal: a plain command ends, a ``nohup``-started service survives.
A ``signal`` channel request delivers that signal to the group.
"""

from __future__ import annotations

import fcntl
import fnmatch
import io
import os
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

import paramiko

from spheron_jupyter.emulator.sandbox import InstanceSandbox

#: Environment variables a client may set (sshd's AcceptEnv), beyond which requests are refused.
ACCEPTED_ENV = ("LANG", "LC_*", "TERM", "COLORTERM", "JUPYTER_*", "SPHERON_*", "TENSORBOARD_*")
#: Variables that describe the instance itself and therefore cannot be overridden.
_INSTANCE_VARS = ("SPHERON_INSTANCE_ID", "SPHERON_INSTANCE_ROOT", "SPHERON_STARTUP_LOG",
                  "SPHERON_EMULATOR")
_CHUNK = 64 * 1024

# Runs in the child after Popen's setsid(): make the pty on fd 0 the controlling terminal, so the
# line discipline turns ^C into SIGINT for the foreground job. (preexec_fn is not thread-safe.)
_ACQUIRE_TTY = ("import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
                "os.execvp(sys.argv[1], sys.argv[1:])")


def env_name_accepted(name: str) -> bool:
    return name not in _INSTANCE_VARS and any(fnmatch.fnmatchcase(name, p) for p in ACCEPTED_ENV)


@dataclass
class PtyRequest:
    term: str
    columns: int
    rows: int


class Session:
    """One session channel: collects env and pty requests, then runs one command or shell."""

    def __init__(self, sandbox: InstanceSandbox, channel: paramiko.Channel,
                 connection_env: dict[str, str]) -> None:
        self.sandbox = sandbox
        self.channel = channel
        self.env: dict[str, str] = dict(connection_env)
        self.pty: PtyRequest | None = None
        self.process: subprocess.Popen | None = None
        self._master_fd: int | None = None
        self._requested: tuple[str | None] | None = None
        self._pumps: list[threading.Thread] = []  # output pumps, drained before the exit status

    # -- requests (called from the transport thread: must return quickly) -------------------

    def set_env(self, name: str, value: str) -> bool:
        if not env_name_accepted(name):
            return False
        self.env[name] = value
        return True

    def request_pty(self, term: str, columns: int, rows: int) -> bool:
        self.pty = PtyRequest(term or "xterm", columns or 80, rows or 24)
        return True

    def resize(self, columns: int, rows: int) -> bool:
        if self.pty is None:
            return False
        self.pty.columns, self.pty.rows = columns, rows
        if self._master_fd is not None:
            _set_window_size(self._master_fd, columns, rows)
        return True

    def start(self, command: str | None) -> bool:
        """Accept an exec (``command``) or shell (None) request; :meth:`launch` runs it.

        The process must not start here: a quick command could finish and close the channel
        before paramiko has sent the reply to this very request, and the client would then see
        "channel closed" instead of its output.
        """
        if self.process is not None or self._requested:
            return False  # one command per session channel, as in the protocol
        self._requested = (command,)
        return True

    def launch(self) -> None:
        """Start what :meth:`start` accepted; called once the request has been answered."""
        if self._requested is None or self.process is not None:
            return
        (command,) = self._requested
        try:
            if self.pty is not None:
                process = self._start_with_pty(command, self.pty)
            else:
                process = self._start_with_pipes(command)
        except OSError as error:
            self._fail(f"emulator: cannot start {command or 'a shell'}: {error}\n")
            return
        threading.Thread(target=self._supervise, args=(process,), daemon=True,
                         name=f"emulator-session-{process.pid}").start()

    def _fail(self, message: str) -> None:
        try:
            self.channel.sendall_stderr(message.encode())
            self.channel.send_exit_status(127)
            self.channel.close()
        except (OSError, EOFError, paramiko.SSHException):
            pass

    def deliver_signal(self, name: str) -> bool:
        signum = getattr(signal, "SIG" + str(name).upper().removeprefix("SIG"), None)
        if self.process is None or not isinstance(signum, signal.Signals):
            return False
        self.sandbox.signal_group(self.process, signum)
        return True

    # -- process start ----------------------------------------------------------------------

    def _argv(self, command: str | None) -> list[str]:
        return ["bash", "-c", command] if command is not None else ["bash", "-il"]

    def _start_with_pipes(self, command: str | None) -> subprocess.Popen:
        env = self.sandbox.login_environment(self.env)
        process = self.process = self.sandbox.spawn(
            self._argv(command), env=env, cwd=self.sandbox.home,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        stdin, stdout, stderr = process.stdin, process.stdout, process.stderr
        # PIPE (buffered, binary) always makes all three as buffered files.
        if stdin is None or not isinstance(stdout, io.BufferedIOBase) or not isinstance(stderr, io.BufferedIOBase):
            raise OSError("the command's pipes were not created")
        self._pumps = [
            _thread(self._copy_out, stdout, self.channel.sendall),
            _thread(self._copy_out, stderr, self.channel.sendall_stderr),
        ]
        _thread(self._copy_in_to_pipe, stdin)
        return process

    def _start_with_pty(self, command: str | None, pty: PtyRequest) -> subprocess.Popen:
        env = self.sandbox.login_environment(self.env)
        env["TERM"] = pty.term
        master, slave = os.openpty()
        _set_window_size(master, pty.columns, pty.rows)
        try:
            process = self.process = self.sandbox.spawn(
                [sys.executable, "-c", _ACQUIRE_TTY, *self._argv(command)], env=env,
                cwd=self.sandbox.home, stdin=slave, stdout=slave, stderr=slave)
        except OSError:
            os.close(master)
            raise
        finally:
            os.close(slave)
        self._master_fd = master
        self._pumps = [_thread(self._copy_out_of_pty, process, master)]
        _thread(self._copy_in_to_pty)
        return process

    # -- data pumps -------------------------------------------------------------------------

    def _copy_out(self, pipe: io.BufferedIOBase, send: Callable[[bytes], None]) -> None:
        try:
            while data := pipe.read1(_CHUNK):
                send(data)
        except (OSError, EOFError, paramiko.SSHException):
            pass  # the client is gone: closing the pipe gives the writer SIGPIPE, as under sshd
        finally:
            pipe.close()

    def _copy_in_to_pipe(self, stdin: IO[bytes]) -> None:
        try:
            while data := self.channel.recv(_CHUNK):
                stdin.write(data)
                stdin.flush()
        except (OSError, EOFError, paramiko.SSHException):
            pass
        finally:
            try:
                stdin.close()  # the client's EOF becomes the command's EOF
            except OSError:
                pass

    def _copy_out_of_pty(self, process: subprocess.Popen, master: int) -> None:
        try:
            while True:
                # Once the command has exited, stop at the first quiet moment: a background job
                # still holding the terminal must not keep the session open (sshd hangs up too).
                exited = process.poll() is not None
                readable, _, _ = select.select([master], [], [], 0.1 if exited else 1.0)
                if not readable:
                    if exited:
                        return
                    continue
                data = os.read(master, _CHUNK)
                if not data:
                    return
                self.channel.sendall(data)
        except (OSError, EOFError, paramiko.SSHException):
            return  # EIO: every holder of the terminal has gone

    def _copy_in_to_pty(self) -> None:
        try:
            while data := self.channel.recv(_CHUNK):
                master = self._master_fd
                if master is None:
                    return
                os.write(master, data)
        except (OSError, EOFError, paramiko.SSHException):
            pass

    # -- lifetime ---------------------------------------------------------------------------

    def _supervise(self, process: subprocess.Popen) -> None:
        """Report the exit status once output is drained; hang up if the client leaves first."""
        transport = self.channel.get_transport()
        while True:
            try:
                status = process.wait(timeout=0.25)
                break
            except subprocess.TimeoutExpired:
                if self.channel.closed or not transport.is_active():
                    self.hang_up()
                    return
        for pump in self._pumps:
            while pump.is_alive():
                pump.join(0.25)
                if self.channel.closed or not transport.is_active():
                    self.hang_up()
                    return
        # Popen reports "killed by signal N" as -N; clients expect the shell's 128+N.
        exit_status = status if status >= 0 else 128 - status
        try:
            self.channel.shutdown_write()
            self.channel.send_exit_status(exit_status)
            self.channel.close()
        except (OSError, EOFError, paramiko.SSHException):
            pass
        self._close_pty()  # after the channel, so the input pump has stopped writing to it

    def hang_up(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.sandbox.signal_group(self.process, signal.SIGHUP)
        try:
            self.channel.close()
        except (OSError, EOFError, paramiko.SSHException):
            pass  # the connection is already gone
        self._close_pty()

    def _close_pty(self) -> None:
        master, self._master_fd = self._master_fd, None
        if master is not None:
            try:
                os.close(master)
            except OSError:
                pass


def _thread(target, *args) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True, name="emulator-pump")
    thread.start()
    return thread


def _set_window_size(fd: int, columns: int, rows: int) -> None:
    try:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    except OSError:
        pass
