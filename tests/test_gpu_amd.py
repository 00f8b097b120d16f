"""GPU telemetry of an AMD board end to end on the emulator: an MI300X offer's instance has a
``rocm-smi`` (and no ``nvidia-smi``, emulator/gpu_shim.py, gpu_shim_cli.py), which the probe
(ssh/gpu.py) reads over real SSH for ``%spheron gpu``; its JSON is held against the newest
real recording in tests/data/gpu/. The load is pinned with the shim's test hook, written on the
instance over SSH, as in tests/test_gpu_telemetry.py.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from spheron_jupyter.emulator.gpu_shim_cli import UNSUPPORTED_HOOK
from spheron_jupyter.emulator.sandbox import SHIM_DIR
from spheron_jupyter.session.sshbridge import target_for
from spheron_jupyter.ssh.gpu import ROCM_QUERY, GpuProbe, GpuTelemetryError
from tests.test_gpu_telemetry import HOOK, gpu_magic_at_load

NEWEST = Path(__file__).parent / "data" / "gpu" / "rocm-smi-rx7900xt-marimo-9237.json"
MI300X_VRAM = 206141652992  # bytes, as an MI300X reports it (tests/data/gpu/README.md)


def _run(session, ref, command) -> tuple[int, str]:
    out: list[str] = []
    code = session.exec(ref, command, lambda stream, text: out.append(text))
    return code, "".join(out)


def _ok(session, ref, command) -> str:
    code, out = _run(session, ref, command)
    assert code == 0, out
    return out


@pytest.fixture
def amd(emulator_session):
    session = emulator_session
    session.launch(session.plan_launch(gpu="mi300x", name="amd-box"))
    return session, session.resolve("amd-box")


def test_rocm_smi_answers_the_probe_as_the_real_one_does(amd):
    session, box = amd
    assert box.gpu_count >= 1
    assert _run(session, "amd-box", "command -v nvidia-smi")[0] != 0  # an AMD host has none
    _ok(session, "amd-box", f"echo 40 > {HOOK}")
    cards = json.loads(_ok(session, "amd-box", ROCM_QUERY))
    assert list(cards) == [f"card{i}" for i in range(box.gpu_count)]
    card = cards["card0"]
    assert all(isinstance(value, str) for value in card.values())  # rocm-smi's values are text
    # the newest real sample's keys (a board without sensors), with the sensors an MI300X has
    recorded = list(json.loads(NEWEST.read_text())["card0"])
    assert [k for k in card if not k.startswith("Temperature")] == recorded
    assert list(card)[:2] == ["Temperature (Sensor junction) (C)",
                              "Temperature (Sensor memory) (C)"]
    assert card["Card Series"] == "AMD Instinct MI300X" and card["GFX Version"] == "gfx942"
    assert card["VRAM Total Memory (B)"] == str(MI300X_VRAM)
    assert 0 < int(card["VRAM Total Used Memory (B)"]) < MI300X_VRAM
    assert 30 <= int(card["GPU use (%)"]) <= 50 and re.fullmatch(r"\d+\.\d", card[
        "Temperature (Sensor junction) (C)"])

    code, out = _run(session, "amd-box", "rocm-smi --showuse --bogus --json")
    assert code != 0 and "rocm-smi: error: unrecognized arguments: --bogus" in out
    assert "{" not in out  # no figures made up for a flag it does not know


def test_gpu_magic_reads_the_amd_board_through_rocm_smi(emulator_shell):
    sh = emulator_shell
    busy = gpu_magic_at_load(sh, "mi300x", "amd-magic", 80)
    session = sh.context.session
    assert "GPUs of amd-magic" in busy and "AMD Instinct MI300X" in busy and "°C" in busy
    assert "/ 192 GiB" in busy and "no GPU figures" not in busy
    util, used = _figures(busy)
    assert 70 <= util <= 90 and used > 100  # GiB: a busy board holds memory

    _ok(session, "amd-magic", f"echo 0 > {HOOK}")
    time.sleep(3.1)  # the telemetry's MIN_INTERVAL: the next reading is a fresh sample
    idle = sh.ok("%spheron gpu amd-magic").text
    assert _figures(idle) != (util, used) and _figures(idle)[0] == 0  # numbers change


def _figures(text: str) -> tuple[int, float]:
    """Card 0's utilisation (%) and memory used (GiB) from the table ``%spheron gpu`` prints."""
    match = re.search(r"AMD Instinct MI300X\W+(\d+)%\W+([\d.]+) / 192 GiB", text)
    assert match, text
    return int(match.group(1)), float(match.group(2))


def test_a_failing_rocm_smi_is_named_in_the_error(amd):
    session, box = amd
    # Stand-in for a rocm-smi whose driver is not loaded: an error line and a non-zero exit.
    _ok(session, "amd-box", 'printf "#!/bin/sh\\necho \\"ERROR: amdgpu driver not loaded\\" >&2'
                            f'\\nexit 2\\n" > "$SPHERON_INSTANCE_ROOT/{SHIM_DIR}/rocm-smi"')
    probe = GpuProbe(target_for(box))
    try:
        with pytest.raises(GpuTelemetryError) as failed:
            probe.sample()
    finally:
        probe.close()
    assert str(failed.value) == "rocm-smi failed: ERROR: amdgpu driver not loaded"


def test_an_unsupported_sensor_fails_rocm_smi_but_its_figures_are_read(amd):
    session, box = amd
    # The shim's hook: the junction sensor is "not supported" on this board, as on a real one
    # where rocm-smi logs the query on stderr, prints the rest and exits 2.
    _ok(session, "amd-box", f'echo 55 > {HOOK}; echo junction > '
                            f'"$SPHERON_INSTANCE_ROOT/{UNSUPPORTED_HOOK}"')
    code, out = _run(session, "amd-box", f"{ROCM_QUERY} 2>/dev/null")
    assert code == 2
    card = json.loads(out)["card0"]
    assert "Temperature (Sensor junction) (C)" not in card and "Temperature (Sensor memory) (C)" in card
    code, err = _run(session, "amd-box", f"{ROCM_QUERY} 2>&1 >/dev/null")
    assert code == 2 and err.startswith("ERROR: 2 GPU[0]: junction: RSMI_STATUS_NOT_SUPPORTED")
    probe = GpuProbe(target_for(box))
    try:
        gpus = probe.sample()
    finally:
        probe.close()
    assert len(gpus) == box.gpu_count and gpus[0].name == "AMD Instinct MI300X"
    assert 45 <= gpus[0].utilization <= 65 and gpus[0].memory_total_mib == MI300X_VRAM / 2**20
    assert gpus[0].temperature_c is None  # junction unsupported, no edge sensor: no figure
