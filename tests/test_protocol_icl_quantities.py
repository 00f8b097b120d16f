"""Quantities of ICL documents: CPU units, byte sizes, durations, port ranges, bandwidth, VRAM."""

import pytest

from spheron_jupyter.protocol.errors import IclValueError
from spheron_jupyter.protocol.quantities import (
    format_bytes,
    format_duration,
    parse_bandwidth,
    parse_bytes,
    parse_cpu_units,
    parse_duration,
    parse_port_range,
    parse_vram_requirement,
)


@pytest.mark.parametrize("text, expected", [
    ("16Gi", 16 * 2**30),
    ("512Mi", 512 * 2**20),
    ("1k", 1000),
    ("1Ki", 1024),
    ("2M", 2 * 10**6),
    ("1G", 10**9),
    ("1.5Gi", 3 * 2**29),
    ("2T", 2 * 10**12),
    ("1Ti", 2**40),
    ("1P", 10**15),
    ("1Pi", 2**50),
    ("1E", 10**18),
    ("1Ei", 2**60),
    ("2000Gi", 2000 * 2**30),
    (1073741824, 2**30),
    ("100", 100),
])
def test_byte_sizes(text, expected):
    size = parse_bytes(text)
    assert size == expected
    assert str(size) == str(text).strip()


@pytest.mark.parametrize("text, hint", [("16gi", "16Gi"), ("16GB", "16Gi"), ("8 kb", "8Ki"), ("lots", "16Gi"), ("-1Gi", "")])
def test_bad_byte_sizes_say_how_to_write_them(text, hint):
    with pytest.raises(IclValueError) as caught:
        parse_bytes(text)
    assert hint in caught.value.fix


@pytest.mark.parametrize("value, expected", [(8, 8.0), (0.5, 0.5), ("500m", 0.5), ("2", 2.0), ("1500m", 1.5), ("0.25", 0.25)])
def test_cpu_units_and_millicores(value, expected):
    assert parse_cpu_units(value) == pytest.approx(expected)


@pytest.mark.parametrize("value", [0, "0m", "2cores", -1, True, "m"])
def test_bad_cpu_units(value):
    with pytest.raises(IclValueError):
        parse_cpu_units(value)


@pytest.mark.parametrize("text, seconds", [
    ("30s", 30), ("30min", 1800), ("1h", 3600), ("2h", 7200), ("2d", 172800),
    ("1mon", 30 * 86400), ("1y", 365 * 86400), ("1.5h", 5400),
])
def test_durations(text, seconds):
    duration = parse_duration(text)
    assert duration == seconds
    assert duration.text == text
    assert duration.hours == pytest.approx(seconds / 3600)


@pytest.mark.parametrize("value, fix_part", [
    ("5m", "5min"), (2, "2h"), ("2 hours", "s, min, h, d, mon or y"), ("0h", "1h"), ("1h30min", "2h or 30min"), (None, "2h"),
])
def test_bad_durations_explain_the_units(value, fix_part):
    with pytest.raises(IclValueError) as caught:
        parse_duration(value)
    assert fix_part in caught.value.fix


def test_port_ranges():
    ports = parse_port_range("8443-8445")
    assert (ports.start, ports.end, ports.span, str(ports)) == (8443, 8445, 3, "8443-8445")
    assert 8444 in ports and 8446 not in ports


@pytest.mark.parametrize("value", ["8445-8443", "8443", "a-b", "0-10", "65535-65536", 8443])
def test_bad_port_ranges(value):
    with pytest.raises(IclValueError):
        parse_port_range(value)


def test_bandwidth_and_vram():
    assert parse_bandwidth("100mbps") == 100_000_000
    assert parse_bandwidth("1Gbps") == 10**9
    assert str(parse_vram_requirement(">=80")) == ">=80"
    assert parse_vram_requirement("< 50").operator == "<"
    for bad in ("80", "=>80", ">=120"):
        with pytest.raises(IclValueError):
            parse_vram_requirement(bad)
    with pytest.raises(IclValueError):
        parse_bandwidth("fast")


def test_formatting_back_to_text():
    assert format_bytes(16 * 2**30) == "16Gi"
    assert format_bytes(3 * 2**29) == "1.5Gi"
    assert format_bytes(512) == "512"
    assert format_duration(7200) == "2h"
    assert format_duration(90) == "90s"
    assert format_duration(30 * 86400) == "1mon"
