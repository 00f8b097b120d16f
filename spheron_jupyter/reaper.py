"""Terminate an instance later, from a process that outlives the kernel.

``terminate --when-allowed`` (the 20-minute minimum) and ``launch --lease`` both need something
to act after the notebook may be gone. A kernel thread dies with the kernel; so ``spawn`` starts
``python -m spheron_jupyter.reaper`` in its own session (no controlling terminal, not in the
kernel's process group, so a kernel restart or an interrupt does not reach it). It polls
``can-terminate``, terminates, writes the outcome to the ledger and exits.

A process of its own, like the tunnel agent (ssh/tunnel_agent.py): it needs the client, the
ledger, ssh/ and kernel/, never session/, which starts it (session/inventory.py,
session/launching.py) and stops or replaces it (session/lifecycle.py).

The API key reaches it through the environment (``SPHERON_JUPYTER_REAPER_KEY``), never argv,
which ``ps`` shows to everyone.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .client import Instance
    from .config.credentials import ApiKey
    from .ledger import Ledger

KEY_ENV = "SPHERON_JUPYTER_REAPER_KEY"
GIVE_UP_AFTER = 48 * 3600.0
MODULE = "spheron_jupyter.reaper"
# What a reaper's argv names: this module, or (a reaper started before an upgrade moved it out
# of session/) its old name.
_MODULES = (MODULE.encode(), b"spheron_jupyter.session.reaper")


def spawn(url: str, backend: str, api_key: ApiKey, instance_id: str, *, ledger_path: Path,
          not_before: float | None = None) -> int:
    """Start a detached reaper for ``instance_id``; returns its pid."""
    from .config import paths

    log_path = paths.state_dir() / f"reaper-{_safe(instance_id)}.log"
    argv = [sys.executable, "-m", MODULE, "--instance", instance_id,
            "--url", url, "--backend", backend, "--ledger", str(ledger_path)]
    if not_before:
        argv += ["--not-before", repr(not_before)]
    env = dict(os.environ)
    env[KEY_ENV] = api_key.reveal()
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
            start_new_session=True, close_fds=True, cwd=str(paths.state_dir()),
        )
    return proc.pid


def is_reaper(pid: int, *marks: bytes) -> bool:
    """Whether process ``pid`` is a reaper whose argv holds each of ``marks`` (an instance id, a
    ledger path): pids are reused, so a recorded pid is checked before it is trusted."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if pid > 0 else []
    except OSError:
        return False
    return any(name in argv for name in _MODULES) and all(mark in argv for mark in marks)


def stop(pid: int, *marks: bytes) -> bool:
    """SIGTERM process ``pid`` if it is such a reaper (``is_reaper``). True when one was."""
    if not is_reaper(pid, *marks):
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:  # it ended meanwhile
        return False
    return True


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)[:64]


# An embedded emulator that stopped is gone for good (its next start has another URL), so a
# reaper for it gives up quickly; the real service gets the benefit of the doubt for longer.
UNREACHABLE_LIMIT = {"local": 10.0, "cloud": 6 * 3600.0}


class _Done(Exception):
    """Nothing left to do: the instance ended some other way (``ended``; ``instance`` is the
    API's answer, None when it no longer knows it), or its API is gone."""

    def __init__(self, why: str, *, ended: bool = False, instance: Instance | None = None):
        super().__init__(why)
        self.ended, self.instance = ended, instance


def run(instance_id: str, url: str, backend: str, ledger_path: str, api_key: str,
        not_before: float | None = None, poll: float | None = None) -> int:
    from .client import (AlreadyTerminatedError, ApiUnreachableError, MinimumRuntimeError,
                         NotFoundError, SpheronClient)
    from .client.statuses import is_terminal
    from .config.credentials import ApiKey
    from .ledger import InstanceRecord, Ledger

    ledger = Ledger(ledger_path)
    client = SpheronClient(url, ApiKey(api_key, "reaper"))
    poll = poll or (0.5 if backend == "local" else 15.0)
    unreachable_since: list[float] = []

    def reachable(exc: BaseException | None) -> None:
        """Track how long the API has been unreachable; give up past the backend's limit."""
        if not isinstance(exc, ApiUnreachableError):
            unreachable_since.clear()
            return
        unreachable_since[:1] = unreachable_since[:1] or [time.time()]
        if time.time() - unreachable_since[0] > UNREACHABLE_LIMIT.get(backend, 3600.0):
            raise _Done(f"the API at {url} has been unreachable since "
                        f"{time.ctime(unreachable_since[0])}")

    try:
        if not_before:
            _log(f"waiting until the lease ends ({time.ctime(not_before)})")
            # Check now and then that there is still something to wait for.
            check_every = 2.0 if backend == "local" else 300.0
            while time.time() < not_before:
                time.sleep(min(check_every, max(0.1, not_before - time.time())))
                try:
                    inst = client.get_instance(instance_id)
                    reachable(None)
                except NotFoundError:
                    raise _Done("the instance no longer exists", ended=True) from None
                except ApiUnreachableError as exc:
                    reachable(exc)
                    continue
                if is_terminal(inst.status):
                    raise _Done(f"the instance is already {inst.status}", ended=True, instance=inst)
        started = time.time()
        while time.time() - started < GIVE_UP_AFTER:
            try:
                check = client.can_terminate(instance_id)
                reachable(None)
                if check.can_terminate:
                    client.terminate(instance_id)
                    outcome = "terminated"
                else:
                    # The API rounds the minutes left up: sleep one minute short, then poll.
                    remaining = float(getattr(check, "time_remaining", None) or 0)
                    time.sleep(max(poll, min((remaining - 1.0) * 60.0, 300.0)))
                    continue
            except MinimumRuntimeError:
                time.sleep(poll)
                continue
            except (AlreadyTerminatedError, NotFoundError):
                outcome = "already gone"
            except Exception as exc:  # transient (network, 5xx): keep trying, say why in the log
                reachable(exc)
                _log(f"will retry: {type(exc).__name__}: {exc}")
                time.sleep(max(poll, 5.0))
                continue
            ledger.record_end(url.rstrip("/"), instance_id, backend, "terminated",
                              f"by the scheduled reaper ({outcome})")
            _log(f"instance {instance_id}: {outcome}")
            clean_up_after(instance_id, _log)
            return 0
        _log(f"gave up on instance {instance_id} after {GIVE_UP_AFTER / 3600:.0f} h")
        return 1
    except _Done as done:
        _log(f"instance {instance_id}: nothing to do: {done}")
        if done.ended:
            # Reclaimed, failed or terminated elsewhere while nobody listed: this reaper is what
            # sees it, so its tunnels and kernelspecs go now (the launcher of a kernel on it
            # exits: kernel/launcher.py), not at the next listing.
            _record_end_seen(ledger, url.rstrip("/"), instance_id, backend, done.instance)
            clean_up_after(instance_id, _log)
        if Path(ledger_path).exists():  # never recreate a ledger whose home was removed
            ledger.record_instance(InstanceRecord(url.rstrip("/"), instance_id, backend,
                                                  reaper_pid=0))
        return 0


def _record_end_seen(ledger: Ledger, url: str, instance_id: str, backend: str,
                     inst: Instance | None) -> None:
    """The end in the ledger (status, the API's stop time, an event), unless already there."""
    from .ledger import InstanceRecord

    if not Path(ledger.path).exists():  # never recreate a ledger whose home was removed
        return
    rec = ledger.instance(url, instance_id)
    if rec is None or not rec.active:
        return
    status = inst.status if inst is not None else "gone"
    ledger.record_end(url, instance_id, backend, str(status), "seen ending by its lease's reaper")
    if inst is not None and inst.stopped_at is not None:
        ledger.record_instance(InstanceRecord(url, instance_id, backend,
                                              terminated_at=inst.stopped_at.timestamp()))


def clean_up_after(instance_id: str, note: Callable[[str], None] | None = None) -> None:
    """What follows an instance's end, wherever it was seen (our terminate, this reaper, a
    listing that sees a reclaim): close its tunnels (never starting an agent), forget its
    TOFU host key, remove its kernelspecs. Each step is best effort; ``note`` hears failures."""
    note = note or (lambda text: None)
    try:
        from .ssh.tunnel import TunnelAgentClient

        TunnelAgentClient().close_instance(instance_id)  # never starts an agent
    except Exception as exc:
        note(f"could not close tunnels: {type(exc).__name__}")
    try:
        from .ssh.hostkeys import KnownHosts

        KnownHosts().forget(instance_id)
    except Exception as exc:
        note(f"could not forget the host key: {type(exc).__name__}")
    try:
        from .kernel.spec import remove_for_instance

        remove_for_instance(instance_id)
    except Exception as exc:
        note(f"could not remove its kernelspecs: {type(exc).__name__}")


def _log(text: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} reaper[{os.getpid()}] {text}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}")
    parser.add_argument("--instance", required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--backend", required=True)
    parser.add_argument("--ledger", required=True)
    parser.add_argument("--not-before", type=float, default=None)
    args = parser.parse_args(argv)
    key = os.environ.pop(KEY_ENV, "")
    if not key:
        _log(f"no API key in {KEY_ENV}: nothing to do")
        return 2
    return run(args.instance, args.url, args.backend, args.ledger, key, args.not_before)


if __name__ == "__main__":
    sys.exit(main())
