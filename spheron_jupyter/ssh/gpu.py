"""GPU telemetry of one instance, read over SSH: ``nvidia-smi --query-gpu`` (or ``rocm-smi``).

One :class:`GpuProbe` per instance keeps a single verified connection open between samples
(a sample is one short command on it), and opens it again if the instance dropped it. The
command asks nvidia-smi first and rocm-smi on AMD boards, so the same probe serves both; an
instance with neither says so in one line instead of failing every few seconds.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

from spheron_jupyter.ssh.connection import Connection
from spheron_jupyter.ssh.errors import SshError
from spheron_jupyter.ssh.target import SshTarget

NVIDIA_FIELDS = "index,name,utilization.gpu,memory.used,memory.total,temperature.gpu"
NVIDIA_QUERY = f"nvidia-smi --query-gpu={NVIDIA_FIELDS} --format=csv,noheader,nounits"
ROCM_QUERY = "rocm-smi --showuse --showmeminfo vram --showtemp --showproductname --json"
# One command: nvidia-smi when present, else rocm-smi, else a marker line we recognise.
COMMAND = (f"if command -v nvidia-smi >/dev/null 2>&1; then {NVIDIA_QUERY}; "
           f"elif command -v rocm-smi >/dev/null 2>&1; then echo ROCM; {ROCM_QUERY}; "
           "else echo NO-GPU-TOOL; fi")


class GpuTelemetryError(SshError):
    """The instance cannot report GPU figures (no tool, no driver, unreadable output)."""


@dataclass(frozen=True)
class GpuSample:
    index: int
    name: str
    utilization: float  # percent
    memory_used_mib: float
    memory_total_mib: float
    temperature_c: float | None


def parse_nvidia(text: str) -> list[GpuSample]:
    """Lines of ``index, name, util, mem used, mem total, temp`` (csv, noheader, nounits)."""
    samples = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 6:
            raise GpuTelemetryError(f"nvidia-smi answered something else: {line[:120]!r}")
        try:
            samples.append(GpuSample(int(parts[0]), parts[1], _num(parts[2]) or 0.0,
                                     _num(parts[3]) or 0.0, _num(parts[4]) or 0.0, _num(parts[5])))
        except ValueError:
            raise GpuTelemetryError(f"nvidia-smi answered something else: {line[:120]!r}") from None
    if not samples:
        raise GpuTelemetryError("nvidia-smi listed no GPU")
    return samples


def parse_rocm(text: str) -> list[GpuSample]:
    """``rocm-smi --json``: one object per card ("card0": {"GPU use (%)": "12", ...})."""
    try:
        cards = json.loads(text)
    except ValueError:
        raise GpuTelemetryError("rocm-smi answered something other than JSON") from None
    samples = []
    for key, card in sorted(cards.items()):
        if not key.startswith("card") or not isinstance(card, dict):
            continue

        def pick(*needles: str, card: dict = card) -> float | None:
            for name, value in card.items():
                if all(n in name.lower() for n in needles):
                    return _num(str(value))
            return None

        total = pick("vram total memory") or 0.0
        used = pick("vram total used") or 0.0
        samples.append(GpuSample(
            int(key[4:] or 0), str(card.get("Card series") or card.get("Card SKU") or "AMD GPU"),
            pick("gpu use") or 0.0, used / 2**20, total / 2**20,  # rocm-smi reports bytes
            pick("temperature", "junction") or pick("temperature")))
    if not samples:
        raise GpuTelemetryError("rocm-smi listed no GPU")
    return samples


def parse(output: str) -> list[GpuSample]:
    first, _, rest = output.partition("\n")
    if first.strip() == "NO-GPU-TOOL":
        raise GpuTelemetryError("the instance has no nvidia-smi or rocm-smi (a CPU-only offer?)")
    if first.strip() == "ROCM":
        return parse_rocm(rest)
    return parse_nvidia(output)


def _num(text: str) -> float | None:
    text = text.strip().rstrip("%").replace("MiB", "").replace("C", "").strip()
    if not text or text.startswith("[") or text.lower() in ("n/a", "not supported"):
        return None
    return float(text)


class GpuProbe:
    """Samples one instance's GPUs over a connection it keeps open between samples."""

    def __init__(self, target: SshTarget, *, timeout: float = 15.0):
        self.target = target
        self.timeout = timeout
        self._conn: Connection | None = None
        self._lock = threading.Lock()

    def sample(self) -> list[GpuSample]:
        from spheron_jupyter.ssh import remote

        with self._lock:
            for attempt in (1, 2):  # a dropped connection is opened again once
                conn = self._connection()
                try:
                    result = remote.capture(conn, COMMAND, timeout=self.timeout,
                                            max_bytes=256 * 1024)
                    break
                except SshError:
                    self._close_locked()
                    if attempt == 2:
                        raise
        output = result.stdout.decode(errors="replace")
        if not result.ok:
            first = (output.strip() or result.stderr.decode(errors="replace").strip())
            raise GpuTelemetryError(f"nvidia-smi failed: {first.splitlines()[0][:160]}"
                                    if first else f"nvidia-smi exited with {result.exit_code}")
        return parse(output)

    def _connection(self) -> Connection:
        if self._conn is None or not self._conn.alive:
            self._close_locked()
            self._conn = Connection.open(self.target, tofu_consent=False, timeout=self.timeout)
        return self._conn

    def _close_locked(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        with self._lock:
            self._close_locked()
