"""Log streaming benchmark: a 1M-line remote burst through `--follow`, as a notebook shows it.

    .venv/bin/python bench/logs.py [--lines 1000000] [--rounds 3] [--probes 20]

Starts its own unprivileged OpenSSH sshd on 127.0.0.1 (sshd_server.py) and follows a log on
"the instance" through the path `%spheron logs --follow` takes: `ssh.logs.stream` (the remote
tail script, the reader thread, the bounded LogBuffer) into the notebook's `StreamPrinter`
(coalesced display writes, redaction of known secrets per line). The display's stream is a
recorder that notes when each write lands. Per round:

- idle probes: single lines appended one at a time to a followed, quiet log; delay from the
  write to the consumer (the iterator) and to the display write;
- the burst: a remote process (started over SSH) appends 1M lines as fast as it can; lines per
  second delivered to the consumer and to the display, lines dropped (counted, never silent),
  every 1000th line's delay, the display's writes per second (max in any 1 s window), and the
  process's peak RSS growth while the burst passed (memory must stay bounded: far below the
  burst's size);
- probes right after the burst (is the follow still prompt?);
- reference: `ssh HOST cat FILE` of the same file with the system OpenSSH client, lines/s.

Targets (issue 3): a single line's delay p95 <= 200 ms, memory bounded, display updates
coalesced to <= 10 per second.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
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

ALIAS = "bench-logs-instance"
STAMP = re.compile(r"ts=([0-9]+\.[0-9]+)")
WRITER = r"""
import sys, time
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "a", buffering=1 << 16) as f:
    started = time.time()
    for i in range(1, n + 1):
        if i % 1000 == 0:
            f.write(f"step {i} loss {i * 0.001:.3f} ts={time.time():.6f}\n")
        else:
            f.write(f"step {i} loss {i * 0.001:.3f}\n")
print(f"{started} {time.time()}")
"""


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Recorder:
    """The display's stream: what StreamPrinter writes, and when."""

    def __init__(self) -> None:
        self.writes: list[float] = []
        self.lines = 0
        self.delays: list[float] = []
        self.probe_delays: dict[str, float] = {}

    def write(self, chunk: str) -> None:
        now = time.time()
        self.writes.append(time.monotonic())
        self.lines += chunk.count("\n")
        for match in STAMP.finditer(chunk):
            self.delays.append(now - float(match.group(1)))
        for probe in re.findall(r"probe (\S+) sent=([0-9.]+)", chunk):
            self.probe_delays[probe[0]] = now - float(probe[1])

    def flush(self) -> None:
        pass


class Follow:
    """A consumer thread iterating ssh.logs.stream into a StreamPrinter, as the magic does."""

    def __init__(self, target, path: str) -> None:
        self.path = path
        self.stopping = False
        from spheron_jupyter.config.redaction import redact
        from spheron_jupyter.notebook.display import StreamPrinter
        from spheron_jupyter.ssh.logs import stream

        self.recorder = Recorder()
        self.printer = StreamPrinter(stream=self.recorder)
        self.lines = stream(target, source="file", name=path, follow=True)
        self.count = 0
        self.dropped = 0
        self.last = ""
        self.delays: list[float] = []
        self.probe_delays: dict[str, float] = {}
        self._redact = redact
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        redact, printer = self._redact, self.printer
        try:
            for line in self.lines:
                if self.stopping:
                    break
                if line.startswith("["):
                    if "lines dropped" in line:
                        self.dropped += int(line[1:].split()[0])
                else:
                    self.count += 1
                    self.last = line
                    if "ts=" in line:
                        self.delays.append(time.time() - float(STAMP.search(line).group(1)))
                    elif line.startswith("probe "):
                        name, sent = line.split()[1], line.split("sent=")[1]
                        self.probe_delays[name] = time.time() - float(sent)
                printer.line(redact(line))
        finally:
            self.lines.close()  # in this thread: stops the remote reader

    def close(self) -> None:
        self.stopping = True
        with open(self.path, "a") as handle:  # wakes the consumer so it sees the flag
            handle.write("bye\n")
        self.thread.join(30)
        self.printer.close()


def p(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def probes(log: Path, follow: Follow, count: int, tag: str) -> dict:
    """Append `count` lone lines at irregular intervals; delay p50/p95/max to consumer and display."""
    names = [f"{tag}{i}" for i in range(count)]
    for name in names:
        time.sleep(random.uniform(0.15, 0.3))
        with open(log, "a") as handle:
            handle.write(f"probe {name} sent={time.time():.6f}\n")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not all(n in follow.recorder.probe_delays for n in names):
        time.sleep(0.05)
    consumer = [follow.probe_delays[n] for n in names if n in follow.probe_delays]
    display = [follow.recorder.probe_delays[n] for n in names if n in follow.recorder.probe_delays]
    return {"consumer_p50": p(consumer, 0.5), "consumer_p95": p(consumer, 0.95),
            "display_p50": p(display, 0.5), "display_p95": p(display, 0.95),
            "display_max": max(display, default=float("nan")),
            "lost": count - len(display)}


def max_per_second(times: list[float]) -> int:
    best, start = 0, 0
    for end in range(len(times)):
        while times[end] - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def one_round(target, sshd, workdir: Path, n: int, probe_count: int, index: int) -> dict:
    from spheron_jupyter.ssh.connection import Connection
    from spheron_jupyter.ssh.remote import capture

    log = workdir / f"train-{index}.log"
    log.write_text("")
    follow = Follow(target, str(log))
    try:
        time.sleep(1.0)  # the follow is connected and idle
        idle = probes(log, follow, probe_count, "idle")

        baseline = rss_bytes()
        peak = [baseline]
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.is_set():
                peak[0] = max(peak[0], rss_bytes())
                time.sleep(0.01)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        count_before, dropped_before = follow.count, follow.dropped
        writes_before = len(follow.recorder.writes)
        display_before = follow.recorder.lines
        delays_before = len(follow.delays)
        with Connection.open(target) as writer:  # the burst comes from a remote process
            started = time.time()
            result = capture(writer, f"{sys.executable} -c '{WRITER}' {log} {n}", timeout=300)
        assert result.exit_code == 0, result.stderr
        wrote_from, wrote_to = map(float, result.stdout.split())
        last = f"step {n} "
        deadline = time.monotonic() + 300
        while not follow.last.startswith(last) and time.monotonic() < deadline:
            time.sleep(0.005)
        done = time.time()
        time.sleep(0.3)  # the coalescer's last flush
        sampling.set()
        sampler.join()
        handed = follow.count - count_before
        dropped = follow.dropped - dropped_before
        writes = follow.recorder.writes[writes_before:]
        burst = {
            "writer_s": wrote_to - wrote_from,
            "read_lps": (handed + dropped) / (done - wrote_from),
            "consumer_lps": handed / (done - wrote_from),
            "dropped": dropped,
            "display_lines": follow.recorder.lines - display_before,
            "line_delay_p50": p(follow.delays[delays_before:], 0.5),
            "line_delay_p95": p(follow.delays[delays_before:], 0.95),
            "display_writes_max_per_s": max_per_second(writes),
            "display_writes": len(writes),
            "rss_growth_mib": (peak[0] - baseline) / 2**20,
            "burst_mib": log.stat().st_size / 2**20,
            "end_to_end_s": done - started,
        }
        after = probes(log, follow, probe_count, "after")
    finally:
        follow.close()

    started = time.monotonic()
    cat = subprocess.run(["ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
                          "-o", f"UserKnownHostsFile={sshd.known_hosts_for(ALIAS)}",
                          "-o", f"HostKeyAlias={ALIAS}", "-o", "StrictHostKeyChecking=yes",
                          "-i", str(sshd.client_key), "-p", str(sshd.port),
                          f"{sshd.user}@127.0.0.1", "cat", str(log)],
                         capture_output=True, check=True)
    reference = cat.stdout.count(b"\n") / (time.monotonic() - started)
    log.unlink()
    return {"idle": idle, "burst": burst, "after": after, "ssh_cat_lps": reference}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--probes", type=int, default=20)
    args = parser.parse_args()

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), platform.processor())
    print(f"machine: nproc={os.cpu_count()} cpu={cpu!r} python={platform.python_version()} "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} "
          f"load={os.getloadavg()[0]:.1f}")
    print(subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr.strip())

    home = tempfile.mkdtemp(prefix="bench-logs-home-")
    os.environ["SPHERON_JUPYTER_HOME"] = home
    from spheron_jupyter.ssh.hostkeys import KnownHosts
    from spheron_jupyter.ssh.target import SshTarget

    sshd = start_sshd()
    try:
        known = Path(home) / "bench_known_hosts"
        KnownHosts(known).pin(ALIAS, sshd.host_public_line)
        target = SshTarget("127.0.0.1", sshd.port, sshd.user, ALIAS, sshd.client_key, known)
        workdir = Path(tempfile.mkdtemp(prefix="bench-logs-"))
        rounds = [one_round(target, sshd, workdir, args.lines, args.probes, i)
                  for i in range(args.rounds)]
    finally:
        sshd.stop()

    def mid(section: str, key: str) -> float:
        return statistics.median(r[section][key] for r in rounds)

    print(f"\n== {args.lines} lines, median of {args.rounds} rounds ==")
    for section in ("idle", "after"):
        print(f"lone line ({section:5}): consumer p50 {mid(section, 'consumer_p50') * 1e3:6.1f} ms"
              f"  p95 {mid(section, 'consumer_p95') * 1e3:6.1f} ms | display p50 "
              f"{mid(section, 'display_p50') * 1e3:6.1f} ms  p95 "
              f"{mid(section, 'display_p95') * 1e3:6.1f} ms  max "
              f"{mid(section, 'display_max') * 1e3:6.1f} ms  lost {max(r[section]['lost'] for r in rounds)}")
    b = {key: statistics.median(r["burst"][key] for r in rounds) for key in rounds[0]["burst"]}
    print(f"burst: writer {b['writer_s']:.2f} s ({args.lines / b['writer_s']:,.0f} lines/s); "
          f"read {b['read_lps']:,.0f} lines/s, of which handed to the consumer "
          f"{b['consumer_lps']:,.0f} lines/s (first write to last line), "
          f"{b['end_to_end_s']:.2f} s end to end; dropped {b['dropped']:,.0f}; "
          f"display shown {b['display_lines']:,.0f} lines")
    print(f"burst line delay (every 1000th): p50 {b['line_delay_p50'] * 1e3:.0f} ms, "
          f"p95 {b['line_delay_p95'] * 1e3:.0f} ms")
    print(f"display writes: {b['display_writes']:.0f}, max {b['display_writes_max_per_s']:.0f} "
          f"in any 1 s (worst round {max(r['burst']['display_writes_max_per_s'] for r in rounds)})")
    print(f"memory: peak RSS growth {b['rss_growth_mib']:.1f} MiB (worst round "
          f"{max(r['burst']['rss_growth_mib'] for r in rounds):.1f}) for a "
          f"{b['burst_mib']:.1f} MiB burst")
    print(f"reference `ssh cat` of the same file: "
          f"{statistics.median(r['ssh_cat_lps'] for r in rounds):,.0f} lines/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
