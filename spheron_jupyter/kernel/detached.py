"""Remote kernels left running when their Jupyter server went away, and who may adopt them.

A launcher (launcher.py) whose parent process disappears without a shutdown request (the local
Jupyter server was killed, crashed or its machine went down) does not stop the kernel on the
instance: it arms the instance's own timer (remote.detach_kernel: after ``grace_seconds()`` the
instance stops the kernel by itself, so nothing runs on forever because a laptop was closed) and
writes one record here. The next Jupyter server's SpheronProvisioner (provisioner.py) claims a
record for the same instance and notebook and hands it to the launcher it starts, which adopts
the kernel (same variables, same key) instead of starting a new one.

A record holds the kernel's session key (the kernel on the instance still signs with it; a new
key could not talk to it), so it lives only in a 0600 file under our private state dir, is never
logged and never put on a command line: the provisioner passes the launcher the record's *path*
in the environment variable ``ADOPT_ENV``, and writes the key into Jupyter's own connection file
(0600), exactly where a fresh kernel's key goes. A real shutdown never writes a record.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..config.files import write_private_file
from ..config.paths import ensure_private_dir, state_dir

GRACE_ENV = "SPHERON_KERNEL_DETACH_GRACE"
DEFAULT_GRACE = 600.0  # seconds a detached kernel waits for a new Jupyter server (10 minutes)
ADOPT_ENV = "SPHERON_KERNEL_ADOPT"
SESSION_ENV = "JPY_SESSION_NAME"  # the notebook's path, which jupyter_server gives each kernel
_CLAIMED = ".claimed"


@dataclass(frozen=True)
class Detached:
    """One remote kernel waiting for a new Jupyter server."""

    instance_id: str
    kid: str
    pid: int
    ports: dict[str, int]
    key: str = field(repr=False)
    signature_scheme: str
    session_name: str
    deadline: float  # time.time() after which the instance has stopped it


def grace_seconds() -> float:
    """How long a detached kernel waits: ``SPHERON_KERNEL_DETACH_GRACE`` seconds, else 10 min."""
    raw = os.environ.get(GRACE_ENV, "")
    try:
        value = float(raw) if raw else DEFAULT_GRACE
    except ValueError:
        value = DEFAULT_GRACE
    return max(1.0, value)


def records_dir() -> Path:
    return ensure_private_dir(state_dir() / "kernels")


def save(record: Detached) -> Path:
    path = records_dir() / f"{_word(record.kid)}.json"  # kid: random hex (launcher.py)
    return write_private_file(path, json.dumps(asdict(record)) + "\n")


def pending(instance_id: str | None = None) -> list[Detached]:
    """Unclaimed records still within their grace period, newest first (expired ones removed)."""
    return [record for _path, record in _pending(instance_id)]


def _pending(instance_id: str | None) -> list[tuple[Path, Detached]]:
    found = []
    for stale in records_dir().glob(f"*{_CLAIMED}"):  # claimed by a launcher that never started
        if _age(stale) > DEFAULT_GRACE:
            stale.unlink(missing_ok=True)
    for path in sorted(records_dir().glob("*.json")):
        record = _read(path)
        if record is None or record.deadline <= time.time():
            path.unlink(missing_ok=True)
            continue
        if instance_id is None or record.instance_id == instance_id:
            found.append((path, record))
    return sorted(found, key=lambda item: item[1].deadline, reverse=True)


def claim(instance_id: str, session_name: str) -> Path | None:
    """Take the newest record of this instance left by a kernel of the same notebook
    (``JPY_SESSION_NAME``; none on both sides also matches); returns its claimed path, which
    only this caller holds (a rename is atomic), or None."""
    for path, record in _pending(instance_id):
        if record.session_name != session_name:
            continue
        claimed = path.with_name(f"{path.stem}-{secrets.token_hex(4)}{_CLAIMED}")
        try:
            os.rename(path, claimed)
        except FileNotFoundError:  # another server's provisioner was quicker
            continue
        return claimed
    return None


def forget(instance_id: str) -> None:
    """Drop this instance's records (it was terminated: its kernels ended with it)."""
    for path, _record in _pending(instance_id):
        path.unlink(missing_ok=True)


def read_claimed(path: Path) -> Detached | None:
    """The record the provisioner claimed for this launcher (ADOPT_ENV); None if unusable."""
    if not path.name.endswith(_CLAIMED) or path.parent != records_dir():
        return None  # only our own records dir: the variable must not name any file to read
    return _read(path)


def take(path: Path) -> Detached | None:
    """Read a claimed record and remove it: adoption is tried once, whatever its outcome."""
    record = read_claimed(path)
    if record is not None:
        path.unlink(missing_ok=True)
    return record


def _word(text: str) -> str:
    return "".join(ch for ch in text if ch.isalnum() or ch in "._-") or "kernel"


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return 0.0


def _read(path: Path) -> Detached | None:
    try:
        data = json.loads(path.read_text())
        return Detached(str(data["instance_id"]), str(data["kid"]), int(data["pid"]),
                        {str(k): int(v) for k, v in data["ports"].items()}, str(data["key"]),
                        str(data["signature_scheme"]), str(data.get("session_name", "")),
                        float(data["deadline"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
