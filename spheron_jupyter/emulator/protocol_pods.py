"""One emulated pod: a local process standing in for a container of a Protocol deployment.

The process runs in its own session (so stopping it ends its children too), with the ICL's env
plus the port contract described in protocol_runtime, its output pumped line by line into the
deployment's log with the pod's prefix. A pod that exits is restarted after a growing back-off,
the way Kubernetes' restartPolicy: Always does, with a BackOff event each time.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from .protocol_forwarding import free_port, port_accepts
from .protocol_state import kill_process_group, namespace

if TYPE_CHECKING:
    from .protocol_runtime import DeploymentRuntime

BACKOFF_SECONDS = (1, 2, 4, 8, 16, 30)
POD_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # the alphabet Kubernetes uses
INHERITED_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR")

# What runs for a service with no `command`: the image is only recorded, so there is nothing to
# start; a placeholder keeps the pod alive and, when a port is exposed, answers HTTP on it.
PLACEHOLDER = r"""
import http.server, os, time
image = os.environ.get("SPHERON_IMAGE", "?")
print(f"no command: image {image} recorded, not run; serving a placeholder", flush=True)
port = os.environ.get("PORT")
if not port:
    while True:
        time.sleep(3600)
class Placeholder(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"emulated container for image {image} (no command given)\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, fmt, *args):
        print(fmt % args, flush=True)
http.server.ThreadingHTTPServer((os.environ.get("HOST", "127.0.0.1"), int(port)), Placeholder).serve_forever()
"""


def replica_set_hash(record: dict[str, Any], service: dict[str, Any]) -> str:
    """Like a Kubernetes pod-template hash: changes when the service's spec changes."""
    spec = json.dumps({k: service.get(k) for k in ("image", "command", "args", "env", "resources")}, sort_keys=True)
    digest = hashlib.sha256(f"{record['lid']}/{record['generation']}/{spec}".encode()).hexdigest()
    return "".join(c for c in digest if c in "0123456789bcdf")[:9].ljust(9, "b")


class Pod:
    def __init__(self, runtime: DeploymentRuntime, service: dict[str, Any], rs_hash: str, generation: int):
        self.runtime = runtime
        self.service = service
        self.generation = generation
        suffix = "".join(secrets.choice(POD_SUFFIX_ALPHABET) for _ in range(5))
        self.name = f"{service['name']}-{rs_hash}-{suffix}"
        self.namespace = namespace(runtime.record)
        self.internal_ports = {p["port"]: free_port() for p in service["ports"]}
        self.workdir = runtime.directory / "pods" / self.name
        self.process: subprocess.Popen | None = None
        self.state = "Pending"
        self.ready = False
        self.restarts = 0
        self.exit_code: int | None = None
        self.next_start = 0.0
        self.stopping = False

    # ------------------------------------------------------------ process
    def argv(self) -> list[str]:
        command, args = self.service.get("command") or [], self.service.get("args") or []
        if not command:
            return [sys.executable, "-c", PLACEHOLDER]
        return [*command, *args]

    def environment(self) -> dict[str, str]:
        env = {key: os.environ[key] for key in INHERITED_ENV if key in os.environ}
        env["HOME"] = str(self.workdir)
        env.update(self.service.get("env") or {})
        ports = list(self.internal_ports.items())
        if ports:
            env["PORT"] = str(ports[0][1])
        for container_port, private_port in ports:
            env[f"SPHERON_PORT_{container_port}"] = str(private_port)
        env.update({
            "HOST": "127.0.0.1", "PYTHONUNBUFFERED": "1", "SPHERON_IMAGE": self.service["image"],
            "SPHERON_LEASE_ID": str(self.runtime.lid), "SPHERON_SERVICE": self.service["name"],
            "SPHERON_POD": self.name, "HOSTNAME": self.name,
        })
        return env

    def start(self) -> None:
        runtime, image, container = self.runtime, self.service["image"], self.service["name"]
        first = self.restarts == 0
        if first:
            runtime.event("Pulling", f'Pulling image "{image}"', name=self.name)
            runtime.startup(f"Pulling container image: {image}")
            runtime.event("Pulled", f'Successfully pulled image "{image}" (emulated: recorded, not pulled)',
                          name=self.name)
            runtime.startup(f"Container image ready: {image} (emulated: recorded, not pulled)")
        else:
            runtime.event("Pulled", f'Container image "{image}" already present on machine', name=self.name)
        runtime.startup(f"Starting container {self.name}")
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self.process = subprocess.Popen(
                self.argv(), cwd=str(self.workdir), env=self.environment(), stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
            )
        except OSError as error:
            note = f'Error: failed to start container "{container}": {error.strerror or error}: {self.argv()[0]}'
            runtime.event("Failed", note, name=self.name, type="Warning")
            runtime.startup(f"Container {self.name} failed to start: {error.strerror or error}")
            self.write(f"failed to start: {error.strerror or error}: {self.argv()[0]}")
            self._schedule_restart(exit_code=127)
            return
        runtime.event("Created", f"Created container {container}", name=self.name)
        runtime.event("Started", f"Started container {container}", name=self.name)
        runtime.startup(f"Container {self.name} started")
        self.state, self.exit_code = "Running", None
        threading.Thread(target=self._pump, args=(self.process,), daemon=True).start()

    def _pump(self, process: subprocess.Popen) -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            self.write(raw.decode("utf-8", "replace").rstrip("\r\n"))
        process.stdout.close()

    def write(self, text: str) -> None:
        self.runtime.write_log(self, text)

    def _schedule_restart(self, exit_code: int) -> None:
        delay = BACKOFF_SECONDS[min(self.restarts, len(BACKOFF_SECONDS) - 1)]
        self.restarts += 1
        self.state, self.ready, self.exit_code = "CrashLoopBackOff", False, exit_code
        self.next_start = time.monotonic() + delay
        self.runtime.event("BackOff", f"Back-off restarting failed container {self.service['name']} in pod "
                           f"{self.name} (exit code {exit_code}, next start in {delay}s)",
                           name=self.name, type="Warning")

    # ------------------------------------------------------------ supervision
    def tick(self, now: float) -> None:
        if self.stopping:
            return
        if self.process is None:
            if now >= self.next_start:
                self.start()
            return
        code = self.process.poll()
        if code is not None:
            self.process = None
            self.runtime.startup(f"Container {self.name} exited with code {code}")
            self._schedule_restart(exit_code=code)
            return
        tcp = [port for port in self.service["ports"] if port["proto"] == "TCP"]
        self.ready = not tcp or port_accepts(self.internal_ports[tcp[0]["port"]])

    def terminate(self) -> None:
        self.stopping, self.ready = True, False
        if self.process is not None and self.process.poll() is None:
            self.runtime.event("Killing", f"Stopping container {self.service['name']}", name=self.name)
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def wait_stopped(self) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(timeout=3)
        except subprocess.TimeoutExpired:
            pass
        kill_process_group(self.process.pid)  # SIGKILL whatever is left, children included
        self.process.wait()
        self.state = "Terminated"

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name, "service": self.service["name"], "generation": self.generation,
            "pid": self.process.pid if self.process else None, "state": self.state,
            "ready": self.ready, "restarts": self.restarts, "exit_code": self.exit_code,
            "ports": {str(k): v for k, v in self.internal_ports.items()},
        }
