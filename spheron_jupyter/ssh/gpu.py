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
# With the header line: columns are read by name, so a field list in another order (or without
# index) reads the same; values keep no units, though "37 %" or "1234 MiB" would read too.
NVIDIA_QUERY = f"nvidia-smi --query-gpu={NVIDIA_FIELDS} --format=csv,nounits"
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
    memory_used_mib: float | None  # None: the tool reported no memory figures for this board
    memory_total_mib: float | None
    temperature_c: float | None


def parse_nvidia(text: str) -> list[GpuSample]:
    """``--format=csv``: a header line naming the columns, then one line per GPU.

    Columns are found by name (``"utilization.gpu [%]"`` is ``utilization.gpu``), so the field
    order does not matter; a GPU listed without ``index`` takes its line number. Recorded
    outputs of other field lists are in tests/data/gpu/.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    columns = [cell.split(" [")[0].strip() for cell in lines[0].split(",")] if lines else []
    if "name" not in columns or "utilization.gpu" not in columns:
        raise GpuTelemetryError(f"nvidia-smi answered something else: {text.strip()[:120]!r}")
    samples = []
    for number, line in enumerate(lines[1:]):
        cells = [p.strip() for p in line.split(",")]
        if len(cells) != len(columns):
            raise GpuTelemetryError(f"nvidia-smi answered something else: {line[:120]!r}")
        row = dict(zip(columns, cells))
        try:
            samples.append(GpuSample(
                int(row.get("index", number)), row["name"], _num(row["utilization.gpu"]) or 0.0,
                _num(row.get("memory.used", "")), _num(row.get("memory.total", "")),
                _num(row.get("temperature.gpu", ""))))
        except ValueError:
            raise GpuTelemetryError(f"nvidia-smi answered something else: {line[:120]!r}") from None
    if not samples:
        raise GpuTelemetryError("nvidia-smi listed no GPU")
    return samples


# rocm-smi's JSON keys changed between ROCm releases ("Card series" became "Card Series"), and a
# card reports only the sensors and fields it has (recorded outputs: tests/data/gpu/README.md):
# keys are matched without case, and each figure takes the first of its names the card reports.
ROCM_NAME = ("card series", "device name", "card sku")
ROCM_TEMPERATURE = ("temperature (sensor junction) (c)", "temperature (sensor edge) (c)")


def parse_rocm(text: str) -> list[GpuSample]:
    """``rocm-smi --json``: one object per card ("card0": {"GPU use (%)": "12", ...})."""
    try:
        cards = json.loads(text)
    except ValueError:
        raise GpuTelemetryError("rocm-smi answered something other than JSON") from None
    if not isinstance(cards, dict):
        raise GpuTelemetryError("rocm-smi answered something other than a JSON object")
    samples = []
    for key, card in sorted(cards.items(), key=lambda item: _card_number(item[0])):
        if _card_number(key) < 0 or not isinstance(card, dict):
            continue  # "system" (driver version, processes) is no card
        values = {str(k).lower(): str(v).strip() for k, v in card.items()}
        try:
            samples.append(GpuSample(
                _card_number(key), _first(values, ROCM_NAME) or "AMD GPU",
                _num(values.get("gpu use (%)", "")) or 0.0,
                _mib(values.get("vram total used memory (b)", "")),
                _mib(values.get("vram total memory (b)", "")),
                _num(_first(values, ROCM_TEMPERATURE) or "")))
        except ValueError:
            raise GpuTelemetryError(f"rocm-smi answered something else for {key}") from None
    if not samples:
        raise GpuTelemetryError("rocm-smi listed no GPU")
    return samples


def _mib(text: str) -> float | None:
    """rocm-smi's bytes in MiB; no figure stays none (`rocm-smi -a` reports no VRAM)."""
    number = _num(text)
    return None if number is None else number / 2**20


def _first(values: dict[str, str], names: tuple[str, ...]) -> str | None:
    """The first of ``names`` the card reports with a value ("N/A" is none)."""
    return next((values[n] for n in names if values.get(n, "N/A").upper() != "N/A"), None)


def _card_number(key: str) -> int:
    return int(key[4:]) if key.startswith("card") and key[4:].isdigit() else -1


def parse(output: str) -> list[GpuSample]:
    first, _, rest = output.partition("\n")
    if first.strip() == "NO-GPU-TOOL":
        raise GpuTelemetryError("the instance has no nvidia-smi or rocm-smi (a CPU-only offer?)")
    if first.strip() == "ROCM":
        return parse_rocm(rest)
    return parse_nvidia(output)


def read_answer(stdout: str, stderr: str, exit_code: int | None) -> list[GpuSample]:
    """COMMAND's answer: the figures (rocm-smi's whatever its exit status), or an error naming
    the tool that ran (rocm-smi's answer starts with the ROCM marker line) and what it said: its
    first line that says "error" (a usage text comes before argparse's "error: unrecognized
    arguments"), else its first line."""
    if exit_code == 0:
        return parse(stdout)
    marker, _, rest = stdout.partition("\n")
    if marker.strip() == "ROCM" and rest.strip():
        # rocm-smi exits non-zero when one query of several is not supported on the board, yet
        # prints the JSON of the others (tests/data/gpu/README.md, "rocm-smi's exit status"):
        # the figures are what matter, so a parseable answer wins over the status.
        try:
            return parse_rocm(rest)
        except GpuTelemetryError:
            pass  # no figures: the status and what it said are the answer
    tool, said = ("rocm-smi", rest) if marker.strip() == "ROCM" else ("nvidia-smi", stdout)
    lines = [line.strip() for line in (said.strip() or stderr).splitlines() if line.strip()]
    if not lines:
        raise GpuTelemetryError(f"{tool} exited with {exit_code}")
    line = next((line for line in lines if "error" in line.lower()), lines[0])
    raise GpuTelemetryError(f"{tool} failed: {line[:160]}")


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
        return read_answer(result.stdout.decode(errors="replace"),
                           result.stderr.decode(errors="replace"), result.exit_code)

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
