"""On-disk state of the emulated Spheron Protocol (the side `spheron-jupyter sphnctl` talks to).

Layout, under `SPHERON_PROTOCOL_STATE` or else `<state dir>/protocol`:

    wallet.json                 the emulated wallet (owner address), lease counter
    deployments/<lid>/
        deployment.json         the lease: mode, services as the ICL asked, generation, state
        icl.yml                 the last document sent (create or update)
        status.json             written by the deployment's runtime: pods, pids, forwarded ports
        runtime.pid / runtime.log
        logs.log                every pod's output, already in sphnctl's `[lease][pod] text` form
        startup.log             fizz only: `[Fizz Node] ...` start-up steps
        events.jsonl            one event object per line, in the documented JSON shape

Several CLI invocations and one runtime process per deployment share these files; a lock file
serialises writers and every JSON file is replaced atomically.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import signal
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from collections.abc import Iterator

from ..config.files import write_private_file
from ..config.paths import ensure_private_dir, state_dir
from ..config.processes import pid_alive

STATE_ENV = "SPHERON_PROTOCOL_STATE"
NAMESPACE_LENGTH = 10


def protocol_state_dir() -> Path:
    configured = os.environ.get(STATE_ENV)
    return ensure_private_dir(Path(configured).expanduser() if configured else state_dir() / "protocol")


def read_json(path: Path, default: Any = None) -> Any:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return default


def write_json(path: Path, document: Any) -> None:
    write_private_file(path, json.dumps(document, indent=1, sort_keys=True))


def fake_address(seed: str) -> str:
    """A 0x-prefixed, 40-hex-digit address, stable for a given seed."""
    return "0x" + hashlib.sha256(seed.encode()).hexdigest()[:40]


def fake_transaction() -> str:
    return "0x" + secrets.token_hex(32)


class ProtocolStore:
    def __init__(self, root: Path | None = None):
        self.root = ensure_private_dir(root or protocol_state_dir())
        self.deployments_root = ensure_private_dir(self.root / "deployments")

    @contextmanager
    def locked(self) -> Iterator[None]:
        with open(self.root / ".lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # ------------------------------------------------------------ wallet and leases
    def wallet(self) -> dict[str, Any]:
        with self.locked():
            return self._wallet()

    def _wallet(self) -> dict[str, Any]:
        path = self.root / "wallet.json"
        wallet = read_json(path)
        if wallet is None:
            wallet = {"owner": fake_address("owner-" + secrets.token_hex(8)), "next_lid": 1}
            write_json(path, wallet)
        return wallet

    def allocate_lid(self) -> int:
        with self.locked():
            wallet = self._wallet()
            lid = int(wallet["next_lid"])
            wallet["next_lid"] = lid + 1
            write_json(self.root / "wallet.json", wallet)
            ensure_private_dir(self.deployment_dir(lid))
            return lid

    # ------------------------------------------------------------ deployments
    def deployment_dir(self, lid: int) -> Path:
        return self.deployments_root / str(int(lid))

    def load(self, lid: int) -> dict[str, Any] | None:
        return read_json(self.deployment_dir(lid) / "deployment.json")

    def save(self, record: dict[str, Any]) -> None:
        with self.locked():
            write_json(self.deployment_dir(record["lid"]) / "deployment.json", record)

    def status(self, lid: int) -> dict[str, Any]:
        return read_json(self.deployment_dir(lid) / "status.json", {}) or {}

    def runtime_pid(self, lid: int) -> int | None:
        try:
            return int((self.deployment_dir(lid) / "runtime.pid").read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def runtime_alive(self, lid: int) -> bool:
        return pid_alive(self.runtime_pid(lid))

    def all(self) -> list[dict[str, Any]]:
        records = []
        for path in self.deployments_root.iterdir():
            if path.name.isdigit():
                record = self.load(int(path.name))
                if record:
                    records.append(record)
        return sorted(records, key=lambda r: r["lid"])


def lease_id(record: dict[str, Any]) -> dict[str, Any]:
    """The lease as the event stream and log prefixes name it (dseq is the lid here; an integer,
    as in the docs' `events` output)."""
    return {"owner": record["owner"], "dseq": record["lid"], "gseq": 1, "oseq": 1,
            "provider": record["provider"]}


def log_prefix(record: dict[str, Any], pod: str) -> str:
    lease = lease_id(record)
    return f"[{lease['owner']}/{lease['dseq']}/{lease['gseq']}/{lease['oseq']}/{lease['provider']}][{pod}]"


def namespace(record: dict[str, Any]) -> str:
    return hashlib.sha256(f"{record['owner']}/{record['lid']}".encode()).hexdigest()[:NAMESPACE_LENGTH]


def append_event(directory: Path, record: dict[str, Any], reason: str, note: str, *,
                 name: str, kind: str = "Pod", type: str = "Normal",
                 controller: str = "kubelet", instance: str = "node-1") -> None:
    event = {
        "type": type, "reportingController": controller, "reportingInstance": instance,
        "reason": reason, "note": note,
        "object": {"kind": kind, "namespace": namespace(record), "name": name},
        "lease_id": lease_id(record),
    }
    # One write() of one line with O_APPEND: concurrent writers never interleave inside it.
    with open(directory / "events.jsonl", "a") as handle:
        handle.write(json.dumps(event, separators=(",", ":")) + "\n")


def stop_everything(store: ProtocolStore, lid: int, *, grace: float = 5.0) -> None:
    """Stop a deployment's runtime and, should it not answer, every pod it recorded."""
    runtime = store.runtime_pid(lid)
    if runtime is not None and pid_alive(runtime):
        os.kill(runtime, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while pid_alive(runtime) and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid_alive(runtime):
            os.kill(runtime, signal.SIGKILL)
    for pod in store.status(lid).get("pods", []):
        kill_process_group(pod.get("pid"))


def kill_process_group(pid: int | None) -> None:
    """Pods run in their own session (pgid == pid): end the group, children included."""
    if not pid:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        deadline = time.monotonic() + 2.0
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not pid_alive(pid):
            return
