"""The on-chain sphnctl commands (`create`, `update`, `close`), run so that nothing kills them half-way.

A create is a multi-step on-chain flow (validate, order, wait for a bid, match, send the
manifest) on an RPC that Spheron's docs call slow (docs/spheron-protocol.md, "sphnctl output as
Spheron's docs print it"). Killing it after "Order matched" leaves a funded lease that never got
its manifest; killing an update or a close half-way leaves the lease in a state nobody asked for
(a close that never went out keeps billing). So:

- there is no timeout: the caller sees each progress line as sphnctl prints it;
- sphnctl writes into a file (not a pipe we own) in its own session, so an interrupted caller,
  or a kernel that goes away, does not stop it: it finishes on its own;
- an interrupt (Ctrl-C, the notebook's stop button) raises ``OnChainInterrupted`` with what is
  known: the lease id if sphnctl had printed it, and the file that keeps its output.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from .parsers import parse_create_progress

POLL_SECONDS = 0.1
# What each command is doing while it runs, for the interrupt's message.
DOING = {"create": "creating", "update": "updating", "close": "closing"}


class OnChainInterrupted(Exception):
    """The caller stopped watching an on-chain command; sphnctl goes on in the background."""

    def __init__(self, verb: str, lid: int | None, log_path: Path, pid: int):
        self.verb, self.lid, self.log_path, self.pid = verb, lid, log_path, pid
        where = f"lease {lid}" if lid else "a lease"
        super().__init__(f"interrupted while sphnctl was {DOING.get(verb, verb)} {where}; it goes on in the "
                         f"background (its output: {log_path})")


class CreateInterrupted(OnChainInterrupted):
    """An interrupted create: the lease may exist (and bill) though its id may be unknown."""


def _log_dir() -> Path:
    from ..config.paths import ensure_private_dir, state_dir

    return ensure_private_dir(state_dir() / "sphnctl")


def _complete_lines(handle, pending: str) -> tuple[list[str], str]:
    chunk = handle.read()
    if not chunk:
        return [], pending
    *lines, rest = (pending + chunk).split("\n")
    return [line.rstrip("\r") for line in lines], rest


def _start(prefix: Sequence[str], args: list[str], env: Mapping[str, str] | None, out_path: Path,
           err_path: Path) -> subprocess.Popen:
    with open(out_path, "a", encoding="utf-8") as out, open(err_path, "a", encoding="utf-8") as err:
        try:
            return subprocess.Popen([*prefix, *args], stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    start_new_session=True, env=None if env is None else dict(env))
        except OSError as failure:
            from .sphnctl import _HOW_TO_GET_IT, SphnctlNotFoundError

            raise SphnctlNotFoundError(f"sphnctl could not be started ({prefix[0]}: "
                                       f"{failure.strerror or failure}): {_HOW_TO_GET_IT}") from None


def run_onchain(prefix: Sequence[str], args: list[str], *, env: Mapping[str, str] | None,
                on_line: Callable[[str], None] | None = None, log_dir: Path | None = None,
                lid: int | None = None,
                error: Callable[[list[str], int, str, str], Exception]) -> str:
    """Run `sphnctl deployment <verb> ...` to its end and return its output; see the module.

    ``lid``: the lease the command is about (update, close); a create learns it from its output.
    ``error(args, returncode, stdout, stderr)`` builds the exception for a failed command.
    """
    from ..config.files import write_private_file

    verb = args[1] if len(args) > 1 else args[0]
    directory = log_dir or _log_dir()
    stem = f"{verb}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    out_path = write_private_file(directory / f"{stem}.log", "")
    err_path = write_private_file(directory / f"{stem}.err", "")
    process = _start(prefix, args, env, out_path, err_path)
    seen: list[str] = []
    pending = ""
    with open(out_path, encoding="utf-8", errors="replace") as reader:
        try:
            while True:
                finished = process.poll() is not None
                lines, pending = _complete_lines(reader, pending)
                for line in lines:
                    seen.append(line)
                    if on_line is not None:
                        on_line(line)
                if finished:
                    break
                time.sleep(POLL_SECONDS)
        except KeyboardInterrupt:
            known = lid if lid is not None else parse_create_progress("\n".join(seen))
            kind = CreateInterrupted if verb == "create" else OnChainInterrupted
            raise kind(verb, known, out_path, process.pid) from None
    if pending.strip():
        seen.append(pending.rstrip("\r"))
        if on_line is not None:
            on_line(seen[-1])
    stdout = "\n".join(seen) + "\n"
    if process.returncode != 0:
        raise error(args, process.returncode, stdout, err_path.read_text(encoding="utf-8", errors="replace"))
    if err_path.stat().st_size == 0:
        err_path.unlink()
    return stdout
