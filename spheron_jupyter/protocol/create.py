"""`sphnctl deployment create`, run so that nothing can kill it half-way.

A create is a multi-step on-chain flow (validate, order, wait for a bid, match, send the
manifest) on an RPC that Spheron's docs call slow (docs/spheron-protocol.md, "sphnctl output as
Spheron's docs print it"). Killing it after "Order matched" leaves a funded lease that never got
its manifest. So:

- there is no timeout: the caller sees each progress line as sphnctl prints it;
- sphnctl writes into a file (not a pipe we own) in its own session, so an interrupted caller,
  or a kernel that goes away, does not stop it: it finishes the create on its own;
- an interrupt (Ctrl-C, the notebook's stop button) raises ``CreateInterrupted`` with what is
  known: the lease id if sphnctl had printed it, and the file that keeps its output.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from collections.abc import Callable, Mapping, Sequence

from .parsers import CreateResult, parse_create, parse_create_progress

POLL_SECONDS = 0.1


class CreateInterrupted(Exception):
    """The caller stopped watching a create; sphnctl goes on in the background."""

    def __init__(self, lid: int | None, log_path: Path, pid: int):
        self.lid, self.log_path, self.pid = lid, log_path, pid
        where = f"lease {lid}" if lid else "a lease"
        super().__init__(f"interrupted while sphnctl was creating {where}; it goes on in the background "
                         f"(its output: {log_path})")


def _log_dir() -> Path:
    from ..config.paths import ensure_private_dir, state_dir

    return ensure_private_dir(state_dir() / "sphnctl")


def _complete_lines(handle, pending: str) -> tuple[list[str], str]:
    chunk = handle.read()
    if not chunk:
        return [], pending
    text = pending + chunk
    *lines, rest = text.split("\n")
    return [line.rstrip("\r") for line in lines], rest


def run_create(prefix: Sequence[str], icl_file: str | os.PathLike, *, env: Mapping[str, str] | None,
               on_line: Callable[[str], None] | None = None, log_dir: Path | None = None,
               error: Callable[[list[str], int, str, str], Exception]) -> CreateResult:
    """Run create to its end, streaming its lines to ``on_line``; see the module's docstring.

    ``error(args, returncode, stdout, stderr)`` builds the exception for a failed create.
    """
    from ..config.files import write_private_file

    directory = log_dir or _log_dir()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out_path = write_private_file(directory / f"create-{stamp}-{os.getpid()}.log", "")
    err_path = write_private_file(directory / f"create-{stamp}-{os.getpid()}.err", "")
    args = ["deployment", "create", str(Path(icl_file))]
    with open(out_path, "a", encoding="utf-8") as out, open(err_path, "a", encoding="utf-8") as err:
        try:
            process = subprocess.Popen([*prefix, *args], stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                       start_new_session=True, env=None if env is None else dict(env))
        except OSError as failure:
            from .sphnctl import SphnctlNotFoundError, _HOW_TO_GET_IT

            raise SphnctlNotFoundError(f"sphnctl could not be started ({prefix[0]}: "
                                       f"{failure.strerror or failure}): {_HOW_TO_GET_IT}") from None
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
            raise CreateInterrupted(parse_create_progress("\n".join(seen)), out_path, process.pid) from None
    if pending.strip():
        seen.append(pending.rstrip("\r"))
        if on_line is not None:
            on_line(seen[-1])
    stdout = "\n".join(seen) + "\n"
    if process.returncode != 0:
        raise error(args, process.returncode, stdout, err_path.read_text(encoding="utf-8", errors="replace"))
    return parse_create(stdout)
