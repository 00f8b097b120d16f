"""GPU telemetry for the views: sampled over SSH (gpu.py's probe) at most every few seconds,
only while a view is open, with a short history and the idle-while-billing warning.

A view (the dashboard, ``%spheron gpu --watch``, the sidebar's server side) opens a
:class:`GpuWatch` on its session's :class:`GpuTelemetry`; while any watch is open, ``reading``
samples an instance (given as its ``SshTarget``) at most every ``MIN_INTERVAL`` seconds (a
faster caller gets the last reading), and when the last watch closes the SSH connections close
with it. The idle rule is here once: every GPU under ``IDLE_PERCENT`` for ``gpu_idle_minutes``
(a setting) while the instance bills.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ..ledger.figures import format_duration
from .gpu import GpuProbe, GpuSample
from .target import SshTarget

MIN_INTERVAL = 3.0  # seconds between two samples of one instance, however many views ask
HISTORY = 60  # samples kept per instance (a few minutes at the dashboard's pace)
IDLE_PERCENT = 5.0  # below this on every GPU counts as idle
SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float], top: float = 100.0) -> str:
    """``[0, 50, 100]`` -> ``"▁▅█"``: a history small enough for a table cell."""
    out = []
    for value in values:
        share = 0.0 if top <= 0 else max(0.0, min(1.0, value / top))
        out.append(SPARK[min(len(SPARK) - 1, int(share * (len(SPARK) - 1) + 0.5))])
    return "".join(out)


def memory_text(used_mib: float | None, total_mib: float | None, sep: str = " / ",
                unknown: str = "-") -> str:
    """``"12.1 / 160 GiB"``; ``unknown`` when the tool gave no total (``rocm-smi -a`` has no
    VRAM figures), so an unknown never reads as "0.0 / 0 GiB"."""
    if total_mib is None:
        return unknown
    used = "-" if used_mib is None else f"{used_mib / 1024:.1f}"
    return f"{used}{sep}{total_mib / 1024:.0f} GiB"


def _total(values: list[float | None]) -> float | None:
    return None if not values or any(v is None for v in values) else sum(v or 0.0 for v in values)


@dataclass
class GpuReading:
    """What every view shows of one instance's GPUs at one moment."""

    instance_id: str
    at: float
    gpus: list[GpuSample] = field(default_factory=list)  # one per board
    history: list[float] = field(default_factory=list)  # mean utilisation, oldest first
    idle_seconds: float = 0.0
    idle_limit_seconds: float = 900.0
    billing: bool = True
    error: str | None = None

    @property
    def utilization(self) -> float | None:
        return sum(g.utilization for g in self.gpus) / len(self.gpus) if self.gpus else None

    @property
    def memory(self) -> tuple[float | None, float | None]:
        """MiB used and in total over all GPUs; None where a board reported no figure (a sum
        over the others would pass for the whole)."""
        return (_total([g.memory_used_mib for g in self.gpus]),
                _total([g.memory_total_mib for g in self.gpus]))

    @property
    def temperature(self) -> float | None:
        temps = [g.temperature_c for g in self.gpus if g.temperature_c is not None]
        return max(temps) if temps else None

    @property
    def idle_warning(self) -> str | None:
        if not self.gpus or not self.billing or self.idle_seconds < self.idle_limit_seconds:
            return None
        return (f"GPU idle for {format_duration(self.idle_seconds)} while billing: "
                "terminate it, or give it work")

    def summary(self) -> str:
        """One line: ``"2x 37% · 12.1/160 GiB · 61°C ▁▃▅"`` (or why there are no figures)."""
        if self.error:
            return f"no GPU figures: {self.error}"
        if not self.gpus:
            return "no GPU figures yet"
        used, total = self.memory
        temp = self.temperature
        parts = [f"{len(self.gpus)}x {self.utilization:.0f}%" if len(self.gpus) > 1
                 else f"{self.utilization:.0f}%",
                 memory_text(used, total, sep="/", unknown="memory -")]
        if temp is not None:
            parts.append(f"{temp:.0f}°C")
        parts.append(sparkline(self.history[-20:]))
        return " · ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        """The JSON the sidebar reads (spheron_jupyter/server/)."""
        used, total = self.memory
        return {"instance_id": self.instance_id, "at": self.at, "gpus": len(self.gpus),
                "utilization": self.utilization, "memory_used_mib": used,
                "memory_total_mib": total, "temperature_c": self.temperature,
                "history": self.history[-30:], "sparkline": sparkline(self.history[-30:]),
                "idle_seconds": self.idle_seconds, "idle_warning": self.idle_warning,
                "summary": self.summary(), "error": self.error}


class _Track:
    def __init__(self, target: SshTarget):
        self.probe = GpuProbe(target)
        self.history: deque[float] = deque(maxlen=HISTORY)
        self.idle_since: float | None = None
        self.last: GpuReading | None = None
        self.lock = threading.Lock()


class GpuTelemetry:
    """One per session (``for_session``): the probes, histories and idle clocks it keeps."""

    def __init__(self, idle_minutes: float | None = None):
        self._idle_minutes = idle_minutes
        self._tracks: dict[str, _Track] = {}
        self._lock = threading.Lock()
        self._watches = 0

    @property
    def idle_limit_seconds(self) -> float:
        if self._idle_minutes is not None:
            return self._idle_minutes * 60.0
        from ..config.settings import load_settings

        return float(load_settings().gpu_idle_minutes) * 60.0

    def watch(self) -> GpuWatch:
        with self._lock:
            self._watches += 1
        return GpuWatch(self)

    def _unwatch(self) -> None:
        with self._lock:
            self._watches = max(0, self._watches - 1)
            if self._watches:
                return
            tracks, self._tracks = list(self._tracks.values()), {}
        for track in tracks:  # no view left: no connection held open for nobody
            track.probe.close()

    def reading(self, target: SshTarget, *, billing: bool = True,
                now: float | None = None) -> GpuReading:
        """The instance's latest figures: a fresh sample unless one is younger than MIN_INTERVAL.

        ``target`` reaches the running instance; ``billing`` says whether idle GPUs are worth
        a warning.
        """
        instance_id = target.instance_id
        with self._lock:
            if not self._watches:
                raise RuntimeError("GPU figures are read only while a view is open (watch())")
            track = self._tracks.get(instance_id)
            if track is None:
                track = self._tracks[instance_id] = _Track(target)
        with track.lock:
            clock = time.time() if now is None else now
            if track.last is not None and clock - track.last.at < MIN_INTERVAL:
                return track.last
            reading = GpuReading(instance_id, clock, idle_limit_seconds=self.idle_limit_seconds,
                                 billing=billing)
            try:
                reading.gpus = track.probe.sample()
            except Exception as exc:
                reading.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            else:
                util = reading.utilization or 0.0
                track.history.append(util)
                if all(g.utilization < IDLE_PERCENT for g in reading.gpus):
                    track.idle_since = track.idle_since if track.idle_since is not None else clock
                else:
                    track.idle_since = None
            reading.history = list(track.history)
            reading.idle_seconds = clock - track.idle_since if track.idle_since is not None else 0.0
            track.last = reading
            return reading

    def forget(self, instance_id: str) -> None:
        """An instance that ended: its probe closes and its history goes."""
        with self._lock:
            track = self._tracks.pop(instance_id, None)
        if track is not None:
            track.probe.close()


class GpuWatch:
    """An open view's claim on the telemetry; ``close()`` (or ``with``) gives it back."""

    def __init__(self, telemetry: GpuTelemetry):
        self.telemetry = telemetry
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def reading(self, target: SshTarget, *, billing: bool = True) -> GpuReading:
        return self.telemetry.reading(target, billing=billing)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.telemetry._unwatch()

    def __enter__(self) -> GpuWatch:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


_by_session: weakref.WeakKeyDictionary[Any, GpuTelemetry] = weakref.WeakKeyDictionary()
_by_session_lock = threading.Lock()


def for_session(session: Any) -> GpuTelemetry:
    """The session's telemetry (made on first use; no change to Session itself)."""
    with _by_session_lock:
        telemetry = _by_session.get(session)
        if telemetry is None:
            telemetry = _by_session[session] = GpuTelemetry()
        return telemetry
