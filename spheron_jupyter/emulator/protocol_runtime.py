"""The runtime of one emulated Protocol deployment: a detached process that plays the provider.

`python -m spheron_jupyter.emulator.protocol_runtime STATE_DIR LID` is started by the emulated
`sphnctl deployment create` and lives until `close` (SIGTERM) or the lease's end. It
- runs each service's `command` + `args` as local processes, `count` pods per service, each in its
  own process group (the image is recorded, never pulled);
- owns the forwarded ports: one listener on 127.0.0.1 per globally exposed TCP port, relaying each
  connection to a ready pod, so a forwarded port survives pod restarts and updates;
- writes pod output into `logs.log` with sphnctl's `[owner/dseq/gseq/oseq/provider][pod]` prefix,
  the documented events into `events.jsonl`, and (fizz) `[Fizz Node]` steps into `startup.log`;
- restarts a pod that exits, with a growing back-off, as a provider's Kubernetes would;
- on SIGHUP re-reads deployment.json and replaces the pods (provider mode: new pods first, so the
  update has no downtime; fizz mode: old pods first).

Pods get their ports through the environment (the emulator's contract with a service):
`PORT` is the private port for the service's first exposed port, `SPHERON_PORT_<container port>`
one per exposed port, `HOST=127.0.0.1` is where to listen. Services must listen on $PORT.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from .protocol_forwarding import PortForwarder, free_port
from .protocol_pods import Pod, replica_set_hash
from .protocol_state import ProtocolStore, append_event, log_prefix, write_json

TICK_SECONDS = 0.2
ROLLOUT_TIMEOUT = 20.0


class DeploymentRuntime:
    def __init__(self, store: ProtocolStore, lid: int):
        self.store, self.lid = store, lid
        self.directory = store.deployment_dir(lid)
        self.record: dict[str, Any] = store.load(lid) or {}
        self.pods: list[Pod] = []
        self.retiring: list[Pod] = []
        self.retire_deadline = 0.0
        self.output_lock = threading.Lock()
        self.logs = open(self.directory / "logs.log", "a", buffering=1, encoding="utf-8")
        self.forwarders: list[PortForwarder] = []
        self._last_status: Any = None

    # ------------------------------------------------------------ output
    def write_log(self, pod: Pod, text: str) -> None:
        with self.output_lock:
            if not self.logs.closed:  # a pod's last words may arrive after shutdown closed the log
                self.logs.write(f"{log_prefix(self.record, pod.name)} {text}\n")

    def startup(self, text: str) -> None:
        if self.record.get("mode") == "fizz":
            with self.output_lock, open(self.directory / "startup.log", "a", encoding="utf-8") as handle:
                handle.write(f"[Fizz Node] {text}\n")

    def event(self, reason: str, note: str, **fields: Any) -> None:
        append_event(self.directory, self.record, reason, note, **fields)

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.startup(f"Received deployment request for lease {self.lid}")
        previous = {(p["service"], p["port"]): p["host_port"] for p in self.store.status(self.lid).get("ports", [])}
        for service in self.record["services"]:
            for port in service["ports"]:
                if not port["global"]:
                    continue
                wanted = previous.get((service["name"], port["port"]), 0)
                if port["proto"] == "TCP":
                    forwarder = PortForwarder(service["name"], port["port"], self.backends, wanted)
                    self.forwarders.append(forwarder)
                    forwarder.start()
                else:  # UDP is listed with a port of its own but not relayed (documented limitation)
                    self.forwarders.append(PortForwarder.listed_only(
                        service["name"], port["port"], "UDP", wanted or free_port()))
        self.pods = self.create_pods()

    def create_pods(self) -> list[Pod]:
        pods = []
        for service in self.record["services"]:
            rs_hash = replica_set_hash(self.record, service)
            self.event("ScalingReplicaSet", f"Scaled up replica set {service['name']}-{rs_hash} to {service['count']}",
                       kind="Deployment", name=service["name"], controller="deployment-controller", instance="")
            for _ in range(service["count"]):
                pod = Pod(self, service, rs_hash, self.record["generation"])
                self.event("Scheduled", f"Successfully assigned {pod.namespace}/{pod.name} to node-1",
                           name=pod.name, controller="default-scheduler", instance="")
                pods.append(pod)
        return pods

    def backends(self, service: str, port: int) -> list[int]:
        """Private ports of the ready pods that serve `service`'s container `port`."""
        return [pod.internal_ports[port] for pod in self.pods + self.retiring
                if pod.service["name"] == service and pod.ready and port in pod.internal_ports]

    def reload(self) -> None:
        record = self.store.load(self.lid)
        if not record or record.get("generation") == self.record.get("generation"):
            return
        self.record = record
        self.stop_pods(self.retiring)  # an update during a rollout: drop the oldest pods now
        if record.get("mode") == "fizz":
            self.stop_pods(self.pods)
            self.retiring = []
        else:
            self.retiring, self.retire_deadline = self.pods, time.monotonic() + ROLLOUT_TIMEOUT
        self.pods = self.create_pods()

    def tick(self) -> None:
        now = time.monotonic()
        for pod in self.pods + self.retiring:
            pod.tick(now)
        if self.retiring and (all(p.ready for p in self.pods) or now > self.retire_deadline):
            self.stop_pods(self.retiring)
            self.retiring = []
        self.write_status()

    def expired(self) -> bool:
        ends = self.record.get("created_at", 0) + self.record.get("duration_seconds", 0)
        return self.record.get("duration_seconds") is not None and time.time() > ends

    def stop_pods(self, pods: list[Pod]) -> None:
        for pod in pods:
            pod.terminate()
        for pod in pods:
            pod.wait_stopped()

    def shutdown(self) -> None:
        self.stop_pods(self.pods + self.retiring)
        for forwarder in self.forwarders:
            forwarder.close()
        if self.directory.exists():
            self.write_status(stopped=True)
        with self.output_lock:
            self.logs.close()

    def write_status(self, stopped: bool = False) -> None:
        status = {
            "runtime_pid": os.getpid(), "generation": self.record.get("generation"),
            "stopped": stopped,
            "ports": [f.describe() for f in self.forwarders],
            "pods": [p.describe() for p in self.pods + self.retiring],
        }
        if status != self._last_status:
            write_json(self.directory / "status.json", status)
            self._last_status = status


def serve(state_root: Path, lid: int) -> int:
    store = ProtocolStore(state_root)
    runtime = DeploymentRuntime(store, lid)
    flags = {"stop": False, "reload": False}
    signal.signal(signal.SIGTERM, lambda *_: flags.update(stop=True))
    signal.signal(signal.SIGINT, lambda *_: flags.update(stop=True))
    signal.signal(signal.SIGHUP, lambda *_: flags.update(reload=True))
    (runtime.directory / "runtime.pid").write_text(str(os.getpid()))
    try:
        runtime.start()
        while not flags["stop"]:
            if flags["reload"]:
                flags["reload"] = False
                runtime.reload()
            runtime.tick()
            if not runtime.directory.exists():
                break  # the state dir was deleted (a test's tmp dir): nobody can reach us any more
            if runtime.expired():
                record = store.load(lid) or runtime.record
                store.save({**record, "state": "closed", "closed_at": time.time(), "closed_reason": "lease expired"})
                break
            time.sleep(TICK_SECONDS)
    finally:
        runtime.shutdown()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m spheron_jupyter.emulator.protocol_runtime STATE_DIR LID", file=sys.stderr)
        return 2
    return serve(Path(args[0]), int(args[1]))


def spawn(store: ProtocolStore, lid: int) -> subprocess.Popen:
    """Start the runtime detached from the calling CLI (its own session, no shared pipes)."""
    directory = store.deployment_dir(lid)
    with open(directory / "runtime.log", "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "spheron_jupyter.emulator.protocol_runtime", str(store.root), str(lid)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            close_fds=True, cwd=str(directory),
        )


if __name__ == "__main__":
    sys.exit(main())
