"""The five ZMQ tunnels of a kernel, through the tunnel agent, and which launchers are alive.

The agent (ssh/tunnel_agent.py) owns the listeners, so the local ports jupyter_client wrote
into its connection file stay the same across SSH reconnects; ZeroMQ just reconnects. Each
tunnel is named ``kernel:<launcher pid>:<channel>``, so a launcher that was killed (SIGKILL: no
cleanup) is recognisable: its tunnels are closed by the next launcher that starts, and the
kernel it left on the instance is stopped by the next start there (remote.py).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from ..config.processes import pid_alive
from ..ssh.target import SshTarget
from ..ssh.tunnel import LocalPortInUseError, TunnelAgentClient
from .remote import CHANNELS

PREFIX = "kernel:"


def open_kernel_tunnels(target: SshTarget, info: dict, remote_ports: dict[str, int]) -> list[str]:
    """Open 127.0.0.1:<info port> -> instance 127.0.0.1:<remote port> for each channel."""
    client = TunnelAgentClient()
    close_stale(client)
    opened: list[str] = []
    try:
        for name in CHANNELS:
            local = int(info[f"{name}_port"])
            label = f"{PREFIX}{os.getpid()}:{name}"
            try:
                tunnel = client.open(target, remote_ports[name], local_port=local, name=label)
            except LocalPortInUseError:
                if not _close_stale(client, local):
                    raise
                tunnel = client.open(target, remote_ports[name], local_port=local, name=label)
            opened.append(tunnel.id)
    except BaseException:
        close_all(opened)
        raise
    return opened


def close_all(tunnel_ids: list[str]) -> None:
    if not tunnel_ids:
        return
    client = TunnelAgentClient()
    for tunnel_id in tunnel_ids:
        try:
            client.close(tunnel_id)
        except Exception:  # already gone (agent restarted, instance closed)
            pass


def close_stale(client: TunnelAgentClient) -> int:
    """Close every kernel tunnel whose launcher is gone (killed before it could clean up)."""
    closed = 0
    for tunnel in client.list():
        label = tunnel.name or ""
        pid = label.split(":")[1] if label.startswith(PREFIX) and label.count(":") >= 2 else ""
        if pid.isdigit() and not pid_alive(int(pid)):
            try:
                client.close(tunnel.id)
                closed += 1
            except Exception:  # closed meanwhile by another launcher
                pass
    return closed


def _close_stale(client: TunnelAgentClient, local_port: int) -> bool:
    """After LocalPortInUseError: whether a dead launcher's tunnel held it (now closed)."""
    holders = [t for t in client.list() if t.local_port == local_port]
    return bool(holders) and close_stale(client) > 0 and not [
        t for t in client.list() if t.local_port == local_port]


def machine_id() -> str:
    """This machine, as launchers write it into the instance's kernel folders. Empty where we
    cannot list processes (then no remote kernel is ever taken for an orphan)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()[:8]
    except OSError:
        return ""
    host = "".join(ch for ch in socket.gethostname() if ch.isalnum() or ch in "._-")
    return f"{host}-{boot}"


def alive_launchers(machine: str) -> list[str]:
    """`machine:pid` of every kernel launcher running here (this one included)."""
    if not machine:
        return []
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spheron_jupyter.kernel\0" in cmdline:
            found.append(f"{machine}:{entry}")
    return found


