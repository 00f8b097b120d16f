"""Quantities written in ICL documents: CPU units, byte sizes, durations, port ranges, bandwidth, VRAM.

Each parsed value is a small subclass of int/float (or a frozen dataclass) that remembers the text
it came from, so arithmetic and comparisons work on the number while messages and summaries can
show what the user wrote ("16Gi", not 17179869184).

Parse failures raise ``IclValueError`` carrying the rule broken and the fix, which the ICL loader
turns into a Finding with the path and line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TypeGuard

from .errors import IclValueError

# Kubernetes-style suffixes, the set the ICL documentation lists.  Decimal and binary are both
# legal, so "16G" and "16Gi" differ by about 7%: we keep them distinct on purpose.
BYTE_SUFFIXES: dict[str, int] = {
    "": 1,
    "k": 10**3, "Ki": 2**10,
    "M": 10**6, "Mi": 2**20,
    "G": 10**9, "Gi": 2**30,
    "T": 10**12, "Ti": 2**40,
    "P": 10**15, "Pi": 2**50,
    "E": 10**18, "Ei": 2**60,
}

# "mon" and "y" are calendar-ish; the network bills by the hour, so fixed lengths are what counts.
DURATION_UNITS: dict[str, int] = {
    "s": 1,
    "min": 60,
    "h": 3600,
    "d": 86400,
    "mon": 30 * 86400,
    "y": 365 * 86400,
}

BANDWIDTH_UNITS: dict[str, int] = {"bps": 1, "kbps": 10**3, "mbps": 10**6, "gbps": 10**9}

_NUMBER_AND_SUFFIX = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?|\.[0-9]+)\s*([A-Za-z]*)\s*$")


def _split(text: str) -> tuple[Decimal, str] | None:
    match = _NUMBER_AND_SUFFIX.match(text)
    if not match:
        return None
    try:
        return Decimal(match.group(1)), match.group(2)
    except InvalidOperation:  # pragma: no cover - the regex admits only decimals
        return None


def _is_plain_number(value: object) -> TypeGuard[int | float]:
    # bool is an int subclass; "true" is never a quantity.
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class ByteSize(int):
    """A size in bytes that remembers how it was written ("16Gi")."""

    text: str

    def __new__(cls, value: int, text: str | None = None) -> ByteSize:
        self = super().__new__(cls, value)
        self.text = text if text is not None else format_bytes(value)
        return self

    def __repr__(self) -> str:
        return f"ByteSize({self.text!r})"

    def __str__(self) -> str:
        return self.text


class CpuUnits(float):
    """CPU units (1 = one vCPU) that remember how they were written ("500m", 8)."""

    text: str

    def __new__(cls, value: float, text: str | None = None) -> CpuUnits:
        self = super().__new__(cls, value)
        self.text = text if text is not None else f"{value:g}"
        return self

    def __repr__(self) -> str:
        return f"CpuUnits({self.text!r})"

    def __str__(self) -> str:
        return self.text


class Duration(int):
    """A lease duration in seconds that remembers how it was written ("2h")."""

    text: str

    def __new__(cls, seconds: int, text: str | None = None) -> Duration:
        self = super().__new__(cls, seconds)
        self.text = text if text is not None else format_duration(seconds)
        return self

    @property
    def hours(self) -> float:
        return int(self) / 3600

    def __repr__(self) -> str:
        return f"Duration({self.text!r})"

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class PortRange:
    """An inclusive port range written "8443-8445"."""

    start: int
    end: int

    @property
    def span(self) -> int:
        return self.end - self.start + 1

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and self.start <= port <= self.end

    def __str__(self) -> str:
        return f"{self.start}-{self.end}"


@dataclass(frozen=True)
class VramRequirement:
    """``req_vram: ">=80"``: a share of the GPU's memory, in percent, with a comparison."""

    operator: str
    percent: float

    def __str__(self) -> str:
        return f"{self.operator}{self.percent:g}"


def parse_bytes(value: object) -> ByteSize:
    """``"16Gi"`` -> 17179869184; a bare number means bytes."""
    if isinstance(value, ByteSize):
        return value
    if _is_plain_number(value):
        if value < 0:
            raise IclValueError("a size cannot be negative", "write a size like 16Gi")
        return ByteSize(int(value), str(value))
    if not isinstance(value, str):
        raise IclValueError("a size must be a number with a unit", "write a size like 16Gi or 512Mi")
    parts = _split(value)
    if parts is None:
        raise IclValueError("not a size", "write a number and a unit, like 16Gi or 512Mi")
    number, suffix = parts
    if suffix not in BYTE_SUFFIXES:
        raise IclValueError(f"unknown size unit {suffix!r}", f"use one of k, Ki, M, Mi, G, Gi, T, Ti, P, Pi, E, Ei{_suffix_hint(number, suffix)}")
    return ByteSize(int(number * BYTE_SUFFIXES[suffix]), value.strip())


def _suffix_hint(number: Decimal, suffix: str) -> str:
    # Common slips: "16gi", "16GB", "16GiB".  Suggest the binary unit, the usual intent.
    letter = suffix[:1].upper() if suffix[:1].lower() != "k" else "K"
    binary = {"K": "Ki", "M": "Mi", "G": "Gi", "T": "Ti", "P": "Pi", "E": "Ei"}.get(letter)
    return f" (did you mean {number}{binary}?)" if binary else ""


def parse_cpu_units(value: object) -> CpuUnits:
    """``8`` -> 8.0, ``0.5`` -> 0.5, ``"500m"`` (millicores) -> 0.5."""
    if isinstance(value, CpuUnits):
        return value
    if _is_plain_number(value):
        units = float(value)
        text = f"{value:g}" if isinstance(value, float) else str(value)
    elif isinstance(value, str):
        parts = _split(value)
        if parts is None or parts[1] not in ("", "m"):
            raise IclValueError("not a CPU amount", 'write units like 2 or 0.5, or millicores like "500m"')
        number, suffix = parts
        units = float(number / 1000) if suffix == "m" else float(number)
        text = value.strip()
    else:
        raise IclValueError("not a CPU amount", 'write units like 2 or 0.5, or millicores like "500m"')
    if units <= 0:
        raise IclValueError("CPU units must be more than 0", "ask for at least 0.1 units (100m)")
    return CpuUnits(units, text)


def parse_duration(value: object) -> Duration:
    """``"2h"`` -> 7200; units s, min, h, d, mon, y."""
    if isinstance(value, Duration):
        return value
    units = "s, min, h, d, mon or y"
    if _is_plain_number(value):
        raise IclValueError("a duration needs a unit", f"write it like {value}h or {value}min (units {units})")
    if not isinstance(value, str):
        raise IclValueError("not a duration", f"write a number and a unit like 2h or 30min (units {units})")
    parts = _split(value)
    if parts is None:
        raise IclValueError("not a duration", f"write one number and one unit like 2h or 30min (units {units})")
    number, suffix = parts
    if suffix == "m":
        raise IclValueError("'m' is ambiguous in a duration", f"write {number}min for minutes or {number}mon for months")
    if suffix not in DURATION_UNITS:
        raise IclValueError(f"unknown duration unit {suffix!r}", f"use one of {units}, like 2h or 30min")
    seconds = int(number * DURATION_UNITS[suffix])
    if seconds <= 0:
        raise IclValueError("a duration must be longer than 0", "write a duration like 1h")
    return Duration(seconds, value.strip())


def parse_port_range(value: object) -> PortRange:
    """``"8443-8445"`` -> PortRange(8443, 8445), inclusive."""
    if isinstance(value, PortRange):
        return value
    match = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", value) if isinstance(value, str) else None
    if not match:
        raise IclValueError("not a port range", 'write two ports joined by "-", like 8443-8445')
    start, end = int(match.group(1)), int(match.group(2))
    if not (1 <= start <= 65535 and 1 <= end <= 65535):
        raise IclValueError("ports run from 1 to 65535", "pick ports between 1 and 65535")
    if end < start:
        raise IclValueError("a port range must go upwards", f"write {end}-{start}")
    return PortRange(start, end)


def parse_bandwidth(value: object) -> int:
    """``"100mbps"`` -> 100_000_000 bits per second."""
    parts = _split(value) if isinstance(value, str) else None
    if parts is None or parts[1].lower() not in BANDWIDTH_UNITS:
        raise IclValueError("not a bandwidth", "write a number and bps, kbps, mbps or gbps, like 100mbps")
    return int(parts[0] * BANDWIDTH_UNITS[parts[1].lower()])


def parse_vram_requirement(value: object) -> VramRequirement:
    """``">=80"`` -> VramRequirement(">=", 80): percent of the GPU's memory."""
    text = str(value).strip() if _is_plain_number(value) or isinstance(value, str) else ""
    match = re.fullmatch(r"(>=|<=|>|<)\s*([0-9]+(?:\.[0-9]+)?)\s*%?", text)
    if not match:
        raise IclValueError("not a VRAM requirement", 'write a comparison and a percent, like ">=80" (>=, >, <= or <)')
    percent = float(match.group(2))
    if not 0 <= percent <= 100:
        raise IclValueError("req_vram is a percent of the GPU's memory", "use a number from 0 to 100")
    return VramRequirement(match.group(1), percent)


def format_bytes(count: int) -> str:
    """The shortest exact binary spelling ("16Gi"), else one decimal place ("1.5Gi")."""
    for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        unit = BYTE_SUFFIXES[suffix]
        if count >= unit:
            value = count / unit
            return f"{value:.0f}{suffix}" if count % unit == 0 else f"{value:.1f}{suffix}"
    return str(count)


def format_duration(seconds: int) -> str:
    """The largest unit that divides evenly: 7200 -> "2h", 90 -> "90s"."""
    for suffix in ("y", "mon", "d", "h", "min"):
        unit = DURATION_UNITS[suffix]
        if seconds >= unit and seconds % unit == 0:
            return f"{seconds // unit}{suffix}"
    return f"{seconds}s"
