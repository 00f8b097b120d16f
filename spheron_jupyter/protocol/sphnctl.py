"""The sphnctl driver: runs the real `sphnctl` binary (or anything speaking its grammar) and
returns typed results.

Which program runs: `SPHERON_SPHNCTL` (a path, or a whole command such as
"python -m spheron_jupyter sphnctl", split with shlex), else `sphnctl` on PATH. Every child runs
in its own process group so a timeout or a cancelled `--follow` kills the whole tree, not just
the first process.
"""

from __future__ import annotations

import builtins
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from queue import Empty, Full, Queue
from collections.abc import Callable, Iterator, Mapping, Sequence

from .parsers import (
    CreateResult,
    DeploymentDetails,
    DeploymentRow,
    Event,
    EventStreamDecoder,
    LogLine,
    parse_close,
    parse_create,
    parse_events,
    parse_get,
    is_logs_header,
    parse_list,
    parse_log_line,
    parse_logs,
)
from .tail import TailDeduplicator

_HOW_TO_GET_IT = (
    "install it with `curl -sL1 https://sphnctl.sh | bash`, set SPHERON_SPHNCTL to its path, "
    'or use the emulated one: SPHERON_SPHNCTL="spheron-jupyter sphnctl"'
)
INSTALL_HINT = f"sphnctl was not found: {_HOW_TO_GET_IT}"
MAX_QUEUED_LINES = 10_000


class SphnctlError(Exception):
    """Base of every driver error; the message is one line meant for the user."""


class SphnctlNotFoundError(SphnctlError):
    pass


class SphnctlTimeoutError(SphnctlError):
    pass


class SphnctlCommandError(SphnctlError):
    def __init__(self, message: str, *, returncode: int, stdout: str = "", stderr: str = ""):
        super().__init__(message)
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@dataclass(frozen=True)
class CommandResult:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str


def find_sphnctl(env: Mapping[str, str] | None = None) -> list[str]:
    """The argv prefix that runs sphnctl; raises SphnctlNotFoundError with the install hint."""
    env = os.environ if env is None else env
    configured = env.get("SPHERON_SPHNCTL", "").strip()
    words = shlex.split(configured) if configured else ["sphnctl"]
    program = words[0]
    if os.sep in program:
        found = program if os.access(program, os.X_OK) and not os.path.isdir(program) else None
    else:
        found = shutil.which(program, path=env.get("PATH"))
    if not found:
        if configured:
            raise SphnctlNotFoundError(f"SPHERON_SPHNCTL={configured!r} was not found: {_HOW_TO_GET_IT}")
        raise SphnctlNotFoundError(INSTALL_HINT)
    return [found, *words[1:]]


def _one_line_error(argv: Sequence[str], returncode: int, stdout: str, stderr: str) -> str:
    """sphnctl prints `Error: ...` (sometimes after usage text); keep the informative line."""
    lines = [line.strip() for line in (stderr or stdout).splitlines() if line.strip()]
    errors = [line for line in lines if line.lower().startswith("error")]
    detail = (errors or lines or [f"exit status {returncode}"])[0]
    if detail.lower().startswith("error:"):
        detail = detail[6:].strip()
    command = " ".join(argv[:2]) if argv else "sphnctl"
    return f"sphnctl {command} failed: {detail}"


def _start(argv: list[str], env: Mapping[str, str] | None, **streams) -> subprocess.Popen:
    """Start sphnctl in its own process group; a program that cannot be run (not executable, a
    broken file, removed since it was found) is the one-line hint, not an OSError."""
    try:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, text=True, encoding="utf-8", errors="replace",
                                start_new_session=True, env=None if env is None else dict(env), **streams)
    except OSError as error:
        raise SphnctlNotFoundError(f"sphnctl could not be started ({argv[0]}: {error.strerror or error}): "
                                   f"{_HOW_TO_GET_IT}") from None


def _kill_group(process: subprocess.Popen, grace: float = 2.0) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=grace)
    except (ProcessLookupError, PermissionError):
        pass
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()


class LineStream:
    """Lines of a running command, as they come; iteration ends at EOF or when cancelled.

    A reader thread feeds a queue so that iteration can notice `cancel` between lines even when
    the command is silent. After the end, a non-zero exit raises SphnctlCommandError.
    """

    def __init__(self, argv: list[str], prefix_len: int, *, env: Mapping[str, str] | None,
                 cancel: threading.Event | None = None):
        self.argv = argv
        self.cancel = cancel or threading.Event()
        self._stderr = tempfile.TemporaryFile(mode="w+")
        self._prefix_len = prefix_len
        try:
            self.process = _start(argv, env, stdout=subprocess.PIPE, stderr=self._stderr, bufsize=1)
        except SphnctlError:
            self._stderr.close()
            raise
        # Bounded: a chatty log waits in the pipe (and then in sphnctl) instead of in our memory.
        self._lines: Queue[str | None] = Queue(maxsize=MAX_QUEUED_LINES)
        self._closed = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.returncode: int | None = None

    def _read(self) -> None:
        assert self.process.stdout is not None
        try:
            for line in self.process.stdout:
                if not self._put(line.rstrip("\r\n")):
                    return
        except (OSError, ValueError):  # the pipe was closed under us by close()
            pass
        self._put(None)

    def _put(self, item: str | None) -> bool:
        """Queue an item, waiting while the reader is behind (bounded memory); False once closed."""
        while not self._closed.is_set():
            try:
                self._lines.put(item, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def __iter__(self) -> Iterator[str]:
        try:
            while not self.cancel.is_set():
                try:
                    line = self._lines.get(timeout=0.1)
                except Empty:
                    continue
                if line is None:
                    self._finish()
                    return
                yield line
        finally:
            self.close()

    def _finish(self) -> None:
        self.returncode = self.process.wait()
        if self.returncode != 0 and not self.cancel.is_set():
            self._stderr.seek(0)
            stderr = self._stderr.read()
            raise SphnctlCommandError(
                _one_line_error(self.argv[self._prefix_len:], self.returncode, "", stderr),
                returncode=self.returncode, stderr=stderr,
            )

    def close(self) -> None:
        """Stop the command (its whole process group) and release its pipes."""
        self._closed.set()
        _kill_group(self.process)
        # The group is dead, so the reader meets EOF at once; should something outside the group
        # still hold the pipe, leave the reader (a daemon) be rather than block on its lock.
        self._reader.join(timeout=2.0)
        if self.process.stdout and not self._reader.is_alive():
            self.process.stdout.close()
        self._stderr.close()

    def __enter__(self) -> LineStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Sphnctl:
    """Typed access to `sphnctl deployment ...`."""

    def __init__(self, command: str | Sequence[str] | None = None, *, timeout: float = 120.0,
                 env: Mapping[str, str] | None = None):
        self.env = env
        if command is None:
            self.prefix = find_sphnctl(env)
        else:
            words = shlex.split(command) if isinstance(command, str) else list(command)
            self.prefix = find_sphnctl({**(env or os.environ), "SPHERON_SPHNCTL": shlex.join(words)})
        self.timeout = timeout

    # ------------------------------------------------------------ running
    def run(self, *args: str, timeout: float | None = None, check: bool = True) -> CommandResult:
        argv = [*self.prefix, *args]
        limit = self.timeout if timeout is None else timeout
        process = _start(argv, self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            stdout, stderr = process.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            _kill_group(process, grace=0.5)
            process.communicate()
            raise SphnctlTimeoutError(f"sphnctl {' '.join(args)} did not finish within {limit:g}s") from None
        result = CommandResult(list(args), process.returncode, stdout, stderr)
        if check and process.returncode != 0:
            raise SphnctlCommandError(
                _one_line_error(args, process.returncode, stdout, stderr),
                returncode=process.returncode, stdout=stdout, stderr=stderr,
            )
        return result

    def stream(self, *args: str, cancel: threading.Event | None = None) -> LineStream:
        return LineStream([*self.prefix, *args], len(self.prefix), env=self.env, cancel=cancel)

    # ------------------------------------------------------------ commands
    def _onchain(self, args: list[str], on_line, log_dir, lid: int | None = None) -> str:
        """create, update and close: no timeout, sphnctl left to finish if interrupted
        (protocol/create.py says why)."""
        from .create import run_onchain

        def failed(args, returncode, stdout, stderr):
            return SphnctlCommandError(_one_line_error(args, returncode, stdout, stderr),
                                       returncode=returncode, stdout=stdout, stderr=stderr)

        return run_onchain(self.prefix, args, env=self.env, on_line=on_line, log_dir=log_dir, lid=lid, error=failed)

    def create(self, icl_file: str | os.PathLike, *, on_line: Callable[[str], None] | None = None,
               log_dir: Path | None = None) -> CreateResult:
        """Create the lease; ``on_line`` sees each progress line. An interrupt raises
        ``CreateInterrupted``: sphnctl goes on by itself."""
        text = self._onchain(["deployment", "create", str(Path(icl_file))], on_line, log_dir)
        try:
            return parse_create(text)
        except ValueError:  # finished, yet no lease id printed: whether a lease exists is unknown
            raise SphnctlError("sphnctl deployment create finished without printing a lease id: "
                               "`deployment list` shows whether a lease was created") from None

    def get(self, lid: int) -> DeploymentDetails:
        return parse_get(self.run("deployment", "get", "--lid", str(lid)).stdout)

    def list(self, active_only: bool = False) -> list[DeploymentRow]:
        """Every lease of the wallet; ``active_only`` passes sphnctl's `-a`, which keeps only the
        active ones (docs/spheron-protocol.md: sphnctl's `-a` filters, its default shows all)."""
        return parse_list(self.run("deployment", "list", *(["-a"] if active_only else [])).stdout)

    def update(self, lid: int, icl_file: str | os.PathLike, *, on_line: Callable[[str], None] | None = None,
               log_dir: Path | None = None) -> str:
        """Update the lease (no timeout; an interrupt raises ``OnChainInterrupted``)."""
        return self._onchain(["deployment", "update", "--lid", str(lid), str(Path(icl_file))], on_line, log_dir, lid)

    def close(self, lid: int, *, on_line: Callable[[str], None] | None = None,
              log_dir: Path | None = None) -> str | None:
        """Close the lease (no timeout: a close that never goes out keeps billing); returns the
        transaction of `Close request sent to provider: <tx>`."""
        return parse_close(self._onchain(["deployment", "close", "--lid", str(lid)], on_line, log_dir, lid))

    @staticmethod
    def _log_args(lid: int, tail: int | None, service: str | None, startup: bool, json: bool) -> builtins.list[str]:
        args = ["deployment", "logs", "--lid", str(lid)]
        if tail is not None:
            args += ["--tail", str(tail)]
        if service:
            args += ["--service", service]
        if startup:
            args.append("--startup")
        if json:
            args += ["-o", "json"]
        return args

    def logs(self, lid: int, *, tail: int | None = None, service: str | None = None,
             startup: bool = False, json: bool = False) -> builtins.list[LogLine]:
        return parse_logs(self.run(*self._log_args(lid, tail, service, startup, json)).stdout)

    def follow_logs(self, lid: int, *, service: str | None = None, tail: int | None = None,
                    mode: str | None = None, cancel: threading.Event | None = None,
                    poll_interval: float = 2.0, poll_tail: int = 200,
                    sleep: Callable[[float], bool] | None = None) -> Iterator[LogLine]:
        """Stream log lines until `cancel` is set (or the stream ends).

        Fizz mode has no server-side following, so there (or when sphnctl refuses --follow) the
        logs are polled with `--tail poll_tail` and only lines not yet seen are yielded.
        """
        cancel = cancel or threading.Event()
        if mode != "fizz":
            args = self._log_args(lid, tail, service, False, False) + ["--follow"]
            yielded = False
            try:
                with self.stream(*args, cancel=cancel) as lines:
                    for line in lines:
                        if is_logs_header(line) or (not yielded and not line.strip()):
                            continue  # sphnctl's "Here is the logs for the Lease ID: N" and its blank line
                        yielded = True
                        yield parse_log_line(line)
                return
            except SphnctlCommandError as error:
                if yielded or "follow" not in str(error).lower():
                    raise
        yield from self._poll_logs(lid, service, tail, cancel, poll_interval, poll_tail, sleep)

    def _poll_logs(self, lid, service, tail, cancel, interval, window, sleep) -> Iterator[LogLine]:
        wait = sleep or cancel.wait  # returns True when cancelled
        dedupe = TailDeduplicator()
        first = True
        while not cancel.is_set():
            text = self.run(*self._log_args(lid, window, service, False, False)).stdout
            fresh = dedupe.new_lines([line.raw for line in parse_logs(text)], window)
            if first and tail is not None:  # like `--follow --tail N`: the backlog is N lines
                fresh = fresh[-tail:] if tail > 0 else []
            first = False
            for line in fresh:
                yield parse_log_line(line)
            if wait(interval):
                return

    def events(self, lid: int, *, tail: int | None = None, service: str | None = None) -> builtins.list[Event]:
        return parse_events(self.run(*self._event_args(lid, tail, service)).stdout)

    @staticmethod
    def _event_args(lid: int, tail: int | None, service: str | None) -> builtins.list[str]:
        args = ["deployment", "events", "--lid", str(lid)]
        if tail is not None:
            args += ["--tail", str(tail)]
        if service:
            args += ["--service", service]
        return args

    def follow_events(self, lid: int, *, tail: int | None = None, service: str | None = None,
                      cancel: threading.Event | None = None) -> Iterator[Event]:
        decoder = EventStreamDecoder()
        with self.stream(*self._event_args(lid, tail, service), "--follow", cancel=cancel) as lines:
            for line in lines:
                yield from decoder.feed(line + "\n")
        yield from decoder.close()
