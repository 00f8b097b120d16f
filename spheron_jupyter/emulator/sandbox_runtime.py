"""The emulator's real instance runtime: every instance an SSH sandbox on 127.0.0.1.

The REST app (app.py) calls these methods on lifecycle events, from its HTTP threads and its
ticker, so each returns quickly: slow work (cloud-init's runcmd) runs in a thread of its own,
and nothing here waits on an SSH client.

Per instance, while it is active:
- an :class:`InstanceSandbox` (root dir, host key, processes) under ``<state>/instances/<id>``;
- an :class:`InstanceSSHServer` listening on 127.0.0.1;
- a small "init" thread answering ``systemctl restart ssh`` from the instance's shims.
"""

from __future__ import annotations

import os
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from spheron_jupyter.emulator import cloudinit, gpu_shim
from spheron_jupyter.emulator.runtime import InstanceRuntime, login_user
from spheron_jupyter.emulator.sandbox import InstanceSandbox
from spheron_jupyter.emulator.sshserver import InstanceSSHServer

LOOPBACK = "127.0.0.1"
_SERVICE_POLL_SECONDS = 0.1


@dataclass
class _LiveInstance:
    sandbox: InstanceSandbox
    server: InstanceSSHServer
    stopped: threading.Event = field(default_factory=threading.Event)
    booted: bool = False


class SandboxRuntime(InstanceRuntime):
    def __init__(self, state_dir: Path | str) -> None:
        self.state_dir = Path(state_dir)
        self._live: dict[str, _LiveInstance] = {}
        self._lock = threading.Lock()
        self._create_lock = threading.Lock()
        self._ended: set[str] = set()  # stopped for good; a late boot must not revive them

    # -- lifecycle --------------------------------------------------------------------------

    def provision(self, instance: dict) -> tuple[str, int, str]:
        # Reuses an endpoint that exists already: with a very short boot time the ticker may
        # boot the instance before the create request gets to provision it.
        live = self._live_or_recreated(instance)
        return LOOPBACK, live.server.port, live.sandbox.user

    def boot(self, instance: dict) -> None:
        if instance["id"] in self._ended:
            return  # a boot event that lost the race against terminate/fail
        live = self._live_or_recreated(instance)
        if live.booted:
            return
        live.booted = True
        spec = instance.get("cloudInit")
        if cloudinit.already_booted(live.sandbox):
            live.server.start_serving()  # cloud-init runs once per instance, not per restart
            return
        log = cloudinit.StartupLog(live.sandbox.startup_log)
        # The init stage runs before sshd starts, so a host key it installs is the one presented
        # on the very first connection (a client pins it before ever connecting).
        cloudinit.init_stage(live.sandbox, spec, log)
        problem = live.server.reload_host_key()
        if problem:
            log.note("sshd", "WARNING", f"{problem}; the instance keeps its previous host key")
        live.server.start_serving()
        threading.Thread(target=self._final_stage, args=(live, spec, log), daemon=True,
                         name=f"emulator-cloud-init-{instance['id']}").start()

    def resume(self, instance: dict) -> tuple[str, int, str] | None:
        """After an emulator restart: bring the endpoint back, on its old port when free.

        Returns the new endpoint when the old port was taken meanwhile, so the API reports it.
        """
        if instance.get("status") not in ("running", "deploying"):
            return None  # a stopped (paused) instance has no sshd until it runs again
        live = self._live_or_recreated(instance)
        if instance["status"] == "running":
            self.boot(instance)
        if live.server.port != instance.get("sshPort"):
            return LOOPBACK, live.server.port, live.sandbox.user
        return None

    def stop(self, instance: dict) -> None:
        with self._create_lock, self._lock:
            self._ended.add(instance["id"])
            live = self._live.pop(instance["id"], None)
        if live is not None:
            self._power_off(live)

    def attach(self, instance: dict, volume: dict) -> None:
        sandbox = self._sandbox_for(instance)
        sandbox.attach_volume(_volume_name(volume), Path(volume["dataDir"]))

    def detach(self, instance: dict, volume: dict) -> None:
        self._sandbox_for(instance).detach_volume(_volume_name(volume), Path(volume["dataDir"]))

    def drop_connections(self, instance: dict) -> None:
        live = self._live.get(instance["id"])
        if live is not None:
            live.server.drop_connections()

    def close(self) -> None:
        """The emulator is going away: its instances' servers and processes go with it."""
        with self._lock:
            everything, self._live = list(self._live.values()), {}
        for live in everything:
            self._power_off(live)

    # -- helpers ----------------------------------------------------------------------------

    def _start(self, sandbox: InstanceSandbox, preferred_port: int) -> _LiveInstance:
        live = _LiveInstance(sandbox, InstanceSSHServer(sandbox, preferred_port=preferred_port))
        with self._lock:
            previous = self._live.pop(sandbox.instance_id, None)
            self._live[sandbox.instance_id] = live
        if previous is not None:
            self._power_off(previous)
        threading.Thread(target=self._answer_service_requests, args=(live,), daemon=True,
                         name=f"emulator-init-{sandbox.instance_id}").start()
        return live

    def _live_or_recreated(self, instance: dict) -> _LiveInstance:
        # One at a time: a create's provision and the ticker's boot may race for a new instance,
        # and two servers for one instance would leave the booted one powered off.
        with self._create_lock:
            live = self._live.get(instance["id"])
            if live is not None:
                return live
            sandbox = self._sandbox_for(instance)
            sandbox.prepare()
            gpu_shim.install(sandbox.shim_dir, sandbox.root, instance)  # nvidia-smi or rocm-smi
            if not (sandbox.home / ".ssh" / "authorized_keys").exists():
                _authorize(sandbox, instance.get("sshPublicKey"))
            return self._start(sandbox, preferred_port=int(instance.get("sshPort") or 0))

    def _sandbox_for(self, instance: dict) -> InstanceSandbox:
        live = self._live.get(instance["id"])
        if live is not None:
            return live.sandbox
        user = instance.get("user") or login_user(instance.get("providerId", ""))
        return InstanceSandbox(self.state_dir, instance["id"], user)

    def _final_stage(self, live: _LiveInstance, spec, log: cloudinit.StartupLog) -> None:
        try:
            cloudinit.final_stage(live.sandbox, spec, log)
        except Exception:
            if not live.stopped.is_set():
                log.note("cloudinit", "ERROR", "emulator: cloud-init failed:\n"
                         + traceback.format_exc())

    def _answer_service_requests(self, live: _LiveInstance) -> None:
        """The instance's init system, reduced to what the shims can ask for."""
        while not live.stopped.wait(_SERVICE_POLL_SECONDS):
            for request in live.sandbox.pending_service_requests():
                if request.name.startswith("sshd-restart"):
                    problem = live.server.reload_host_key()
                    if problem:
                        cloudinit.StartupLog(live.sandbox.startup_log).note(
                            "sshd", "WARNING", f"restart: {problem}; keeping the previous key")
                live.sandbox.answer_service_request(request)

    @staticmethod
    def _power_off(live: _LiveInstance) -> None:
        live.stopped.set()
        live.server.stop()
        live.sandbox.kill_all()


def _volume_name(volume: dict) -> str:
    return str(volume.get("name") or volume["id"])


def _authorize(sandbox: InstanceSandbox, public_key: str | None) -> None:
    """Install the login key the way cloud images do: ``~/.ssh/authorized_keys``, 0600."""
    ssh_dir = sandbox.home / ".ssh"
    ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = ssh_dir / "authorized_keys"
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write((public_key or "").strip() + "\n")
