"""Tunnel benchmark: raw loopback, `ssh -L`, supervised `ssh -N -L`, and our agent's two planes.

    .venv/bin/python bench/tunnel.py [--size-mib 256]

Starts its own unprivileged sshd on 127.0.0.1 and a "remote service" process, opens every kind of
tunnel to that service through that one sshd, then measures each path from a separate client
process: throughput both ways, 64-byte round trip p50/p99, new-connection p50, and 64 concurrent
clients. Everything runs twice: idle, and with a busy pure-Python thread in this process (the
process that opened the tunnels, i.e. a training loop in the kernel). Ratios are against `ssh -L`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from sshd_server import free_port, start_sshd  # noqa: E402

ALIAS = "bench-instance"


def wait_listening(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def openssh_forward(sshd, known_hosts: Path, remote_port: int, *, supervised: bool):
    """`ssh -N -L` as a user types it, or with the options the supervised design would use."""
    local = free_port()
    options = ["-F", "/dev/null", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
               "-o", f"UserKnownHostsFile={known_hosts}", "-o", f"HostKeyAlias={ALIAS}",
               "-o", "StrictHostKeyChecking=yes", "-o", "ExitOnForwardFailure=yes"]
    if supervised:
        options += ["-o", "ServerAliveInterval=1", "-o", "ServerAliveCountMax=3"]
    process = subprocess.Popen(
        ["ssh", "-N", *options, "-i", str(sshd.client_key), "-p", str(sshd.port),
         "-L", f"127.0.0.1:{local}:127.0.0.1:{remote_port}", f"{sshd.user}@127.0.0.1"],
        stdin=subprocess.DEVNULL, start_new_session=True,
    )
    wait_listening(local)
    return local, process


def agent_forward(sshd, remote_port: int, plane: str):
    """A tunnel through our agent using `plane`; each plane gets an agent (and home) of its own."""
    from spheron_jupyter.ssh.hostkeys import KnownHosts
    from spheron_jupyter.ssh.target import SshTarget
    from spheron_jupyter.ssh.tunnel import TunnelAgentClient

    home = tempfile.mkdtemp(prefix=f"bench-home-{plane}-")
    env = {"SPHERON_JUPYTER_HOME": home, "SPHERON_JUPYTER_TUNNEL_PLANE": plane}
    os.environ.update(env)
    known = Path(home) / "bench_known_hosts"
    KnownHosts(known).pin(ALIAS, sshd.host_public_line)
    target = SshTarget("127.0.0.1", sshd.port, sshd.user, ALIAS, sshd.client_key, known)
    info = TunnelAgentClient().open(target, remote_port)
    assert info.plane == plane, info

    def close() -> None:
        os.environ.update(env)
        TunnelAgentClient().close(info.id)

    return info.local_port, close


def measure(port: int, size: int) -> dict:
    out = subprocess.run([sys.executable, str(HERE / "tunnel_measure.py"), "measure",
                          str(port), str(size)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def median_result(runs: list[dict]) -> dict:
    def mid(values):
        return statistics.median(values)

    return {
        key: ({"seconds": mid([r[key]["seconds"] for r in runs]),
               "errors": max(r[key]["errors"] for r in runs)}
              if key == "concurrent64" else mid([r[key] for r in runs]))
        for key in runs[0]
    }


def busy_loop(stop: threading.Event) -> None:
    """A training loop's worth of pure-Python work, holding the GIL as much as it can."""
    total = 0
    while not stop.is_set():
        for i in range(10_000):
            total += i * i


def report(results: dict, label: str) -> None:
    base = results["ssh -L"]
    print(f"\n== {label} ==")
    print(f"{'path':24} {'up MB/s':>9} {'x':>5} {'down MB/s':>10} {'x':>5} {'rtt p50':>8} "
          f"{'d50':>6} {'rtt p99':>8} {'d99':>6} {'conn p50':>9} {'64conc s':>9} {'err':>4}")
    for name, r in results.items():
        print(f"{name:24} {r['up_MBps']:9.0f} {r['up_MBps'] / base['up_MBps']:5.2f} "
              f"{r['down_MBps']:10.0f} {r['down_MBps'] / base['down_MBps']:5.2f} "
              f"{r['rtt_p50_ms']:7.3f}ms {r['rtt_p50_ms'] - base['rtt_p50_ms']:+6.3f} "
              f"{r['rtt_p99_ms']:7.3f}ms {r['rtt_p99_ms'] - base['rtt_p99_ms']:+6.3f} "
              f"{r['connect_p50_ms']:8.2f}ms {r['concurrent64']['seconds']:9.2f} "
              f"{r['concurrent64']['errors']:4d}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    size = args.size_mib << 20

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), platform.processor())
    print(f"machine: nproc={os.cpu_count()} cpu={cpu!r} python={platform.python_version()} "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr.strip())

    sshd = start_sshd()
    service = subprocess.Popen([sys.executable, str(HERE / "tunnel_measure.py"), "serve"],
                               stdout=subprocess.PIPE, text=True)
    remote_port = int(service.stdout.readline())
    known_hosts = sshd.known_hosts_for(ALIAS)
    plain_port, plain = openssh_forward(sshd, known_hosts, remote_port, supervised=False)
    sup_port, supervised = openssh_forward(sshd, known_hosts, remote_port, supervised=True)
    agent_ssh_port, close_ssh = agent_forward(sshd, remote_port, "openssh")
    agent_paramiko_port, close_paramiko = agent_forward(sshd, remote_port, "paramiko")
    paths = {
        "raw loopback": remote_port,
        "ssh -L": plain_port,
        "(b) supervised ssh -N -L": sup_port,
        "agent, OpenSSH plane": agent_ssh_port,
        "(a) agent, paramiko": agent_paramiko_port,
    }
    try:
        for label, busy in (("idle opener", False), ("busy pure-Python thread in opener", True)):
            stop = threading.Event()
            if busy:
                threading.Thread(target=busy_loop, args=(stop,), daemon=True).start()
            try:
                # Rounds interleave the paths, so a burst of load from elsewhere on the machine
                # hits every path alike; each figure is the median over the rounds.
                rounds: dict[str, list[dict]] = {name: [] for name in paths}
                for _ in range(args.rounds):
                    for name, port in paths.items():
                        rounds[name].append(measure(port, size))
                results = {name: median_result(runs) for name, runs in rounds.items()}
            finally:
                stop.set()
            report(results, f"{label} (median of {args.rounds} rounds)")
    finally:
        close_ssh()
        close_paramiko()
        for process in (plain, supervised, service):
            process.terminate()
        sshd.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
