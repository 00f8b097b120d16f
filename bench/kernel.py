"""Remote kernel benchmark: `%spheron kernel`'s kernel against a local ipykernel, same machine.

    .venv/bin/python bench/kernel.py [--cells 300] [--rounds 3] [--drops 3]

"The instance" is this machine reached through its own unprivileged OpenSSH sshd on 127.0.0.1
(`sshd_server.py`), so every byte takes the real path: jupyter_client -> 127.0.0.1 port owned
by the tunnel agent -> `ssh -M` master -> sshd -> ipykernel bound to 127.0.0.1 "there". The
kernelspec is the one `%spheron kernel` writes (kernel.spec.install), in a scratch
JUPYTER_DATA_DIR and SPHERON_JUPYTER_HOME. Measured, all in one run so ratios are fair:

1. kernel ready after SSH ready: `start_kernel()` + `wait_for_ready()` (sshd up, host key pinned)
   for the remote kernel and for a local `python3` kernel;
2. round trip of a trivial cell (`pass`: execute_request -> execute_reply and iopub idle), p50
   and p99 over `--cells` cells per kernel, interleaved in blocks, remote vs local;
3. the same with a busy pure-Python thread in this process (the process holding the kernel
   managers and clients, as the Jupyter server does);
4. time to resume after an SSH drop: the tunnel agent's `ssh` master killed (the kernel on "the
   instance" lives on); from the kill to the first kernel_info answered on shell and iopub
   through the healed tunnels, and the variable set before the drop still there.
"""

from __future__ import annotations

import argparse
import os
import platform
import queue
import shutil
import signal
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

from sshd_server import start_sshd  # noqa: E402

ALIAS = "bench-kernel-instance"


def setup_home(sshd) -> Path:
    """A scratch home whose user key is the sshd's client key and whose pin is its host key."""
    home = Path(tempfile.mkdtemp(prefix="bench-kernel-home-"))
    os.environ["SPHERON_JUPYTER_HOME"] = str(home)
    os.environ["JUPYTER_DATA_DIR"] = str(home / "jupyter-data")
    os.environ["SPHERON_JUPYTER_KEYRING"] = "off"
    from spheron_jupyter.kernel import spec
    from spheron_jupyter.ssh.hostkeys import KnownHosts
    from spheron_jupyter.ssh.keys import user_key_path
    from spheron_jupyter.ssh.target import SshTarget

    key = user_key_path()
    key.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(sshd.client_key, key)
    key.chmod(0o600)
    shutil.copyfile(str(sshd.client_key) + ".pub", str(key) + ".pub")
    KnownHosts().pin(ALIAS, sshd.host_public_line)
    target = SshTarget("127.0.0.1", sshd.port, sshd.user, ALIAS, key)
    spec.install(target, label="bench", python=sys.executable)
    return home


def start(kernel_name: str):
    from jupyter_client.manager import KernelManager

    began = time.perf_counter()
    km = KernelManager(kernel_name=kernel_name)
    km.start_kernel(stderr=subprocess.DEVNULL)
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=120)
    return km, kc, time.perf_counter() - began


def stop(km, kc) -> None:
    kc.stop_channels()
    km.shutdown_kernel()


def cell(kc, code: str = "pass") -> float:
    """One execute round trip: request sent -> reply on shell and idle on iopub."""
    began = time.perf_counter()
    msg_id = kc.execute(code, store_history=False)
    replied = idle = False
    while not (replied and idle):
        if not replied:
            try:
                msg = kc.get_shell_msg(timeout=0.0005 if not idle else 30)
                replied = msg["parent_header"].get("msg_id") == msg_id
            except queue.Empty:
                pass
        if not idle:
            try:
                msg = kc.get_iopub_msg(timeout=0.0005 if not replied else 30)
                idle = (msg["parent_header"].get("msg_id") == msg_id
                        and msg["header"]["msg_type"] == "status"
                        and msg["content"]["execution_state"] == "idle")
            except queue.Empty:
                pass
    return time.perf_counter() - began


def round_trips(pairs, cells: int, block: int = 50) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name, _ in pairs}
    for _ in range(5):
        for _name, kc in pairs:
            cell(kc)  # warm up
    done = 0
    while done < cells:
        for name, kc in pairs:
            times[name] += [cell(kc) for _ in range(min(block, cells - done))]
        done += block
    return times


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def busy_thread(stop_flag: threading.Event) -> threading.Thread:
    def spin() -> None:
        x = 0
        while not stop_flag.is_set():
            for i in range(1000):
                x += i * i
    thread = threading.Thread(target=spin, daemon=True)
    thread.start()
    return thread


def answered(kc, timeout: float = 1.0) -> bool:
    msg_id = kc.kernel_info()
    got = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and got != {"shell", "iopub"}:
        for name, channel in (("shell", kc.shell_channel), ("iopub", kc.iopub_channel)):
            try:
                msg = channel.get_msg(timeout=0.02)
            except queue.Empty:
                continue
            if msg["parent_header"].get("msg_id") == msg_id:
                got.add(name)
    return got == {"shell", "iopub"}


def drop_ssh(home: Path) -> None:
    """A network drop, from this side: SIGKILL the tunnel agent's `ssh` master (ours, found by
    its control socket under this run's home). The kernel's TCP connection dies with it and
    the agent must reconnect. (Killing sshd's per-connection processes instead can kill a
    login shell mid-start-up on the "instance", e.g. a `pyenv rehash` holding its lock.)"""
    marker = str(home).encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[0].endswith(b"ssh") and b"-M" in argv and any(marker in a for a in argv):
            os.kill(int(entry), signal.SIGKILL)


def resume_after_drop(home: Path, kc) -> float:
    cell(kc, "kept = 'yes'")
    drop_ssh(home)
    began = time.monotonic()
    while not answered(kc):
        if time.monotonic() - began > 120:
            raise RuntimeError("the kernel did not answer within 120 s of the drop")
    took = time.monotonic() - began
    check = kc.execute_interactive("assert kept == 'yes'", timeout=30, output_hook=lambda m: None)
    assert check["content"]["status"] == "ok", "the kernel lost its state"
    return took


def row(name, local, remote) -> str:
    return (f"| {name} | {p(local, .5):.2f} | {p(remote, .5):.2f} | "
            f"{p(remote, .5) - p(local, .5):+.2f} | {p(local, .99):.2f} | {p(remote, .99):.2f} | "
            f"{p(remote, .99) - p(local, .99):+.2f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3, help="kernel starts measured per kind")
    parser.add_argument("--drops", type=int, default=3)
    args = parser.parse_args()
    sshd = start_sshd()
    home = setup_home(sshd)
    try:
        starts: dict[str, list[float]] = {"python3": [], "spheron-bench": []}
        for _ in range(args.rounds):
            for name in starts:
                km, kc, took = start(name)
                starts[name].append(took)
                stop(km, kc)
        local_km, local_kc, _ = start("python3")
        remote_km, remote_kc, _ = start("spheron-bench")
        pairs = [("local", local_kc), ("remote", remote_kc)]
        idle = round_trips(pairs, args.cells)
        stop_flag = threading.Event()
        busy_thread(stop_flag)
        try:
            busy = round_trips(pairs, args.cells)
        finally:
            stop_flag.set()
        drops = [resume_after_drop(home, remote_kc) for _ in range(args.drops)]
        stop(local_km, local_kc)
        stop(remote_km, remote_kc)
    finally:
        sshd.stop()
        shutil.rmtree(home, ignore_errors=True)
        try:
            (Path.home() / ".spheron").rmdir()  # "the instance" is this machine: leave no trace
        except OSError:
            pass

    print(f"Machine: {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
          f"Python {platform.python_version()}; load average {os.getloadavg()[0]:.1f}; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print()
    print("| kernel start (start_kernel + wait_for_ready) | median s | runs |")
    print("|---|---:|---:|")
    for name, label in (("python3", "local python3"), ("spheron-bench", "Spheron kernel, SSH ready")):
        print(f"| {label} | {statistics.median(starts[name]):.2f} | "
              + ", ".join(f"{t:.2f}" for t in starts[name]) + " |")
    print()
    print("| trivial cell round trip | local p50 ms | remote p50 ms | d50 | local p99 ms | "
          "remote p99 ms | d99 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print(row("idle server process", idle["local"], idle["remote"]))
    print(row("busy pure-Python thread in it", busy["local"], busy["remote"]))
    print()
    print(f"Resume after an SSH drop (kill -> kernel answers, state kept): median "
          f"{statistics.median(drops):.2f} s; runs " + ", ".join(f"{t:.2f}" for t in drops))
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.exit(main())
