"""The GPU telemetry parsers (ssh/gpu.py) on output that real nvidia-smi and rocm-smi printed.

Each file under tests/data/gpu/ is output recorded by others on real boards (origins in its
README.md), read the way the probe reads its own command's answer: rocm-smi's JSON after the
``ROCM`` marker line, nvidia-smi's CSV as it comes. The figures asserted are the ones
``%spheron gpu`` shows: utilisation, memory used/total in MiB, temperature and name.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from spheron_jupyter.ssh.gpu import (GpuTelemetryError, parse, parse_nvidia, parse_rocm,
                                      read_answer)
from spheron_jupyter.ssh.gpu_telemetry import GpuReading

DATA = Path(__file__).parent / "data" / "gpu"
MIB = 2**20


def _rocm(name: str):
    return parse("ROCM\n" + (DATA / name).read_text())


def _figures(gpu):
    return (gpu.index, gpu.name, gpu.utilization, gpu.memory_used_mib, gpu.memory_total_mib,
            gpu.temperature_c)


def test_rocm_smi_6_with_card_series_and_use_but_no_temperature():
    (gpu,) = _rocm("rocm-smi-rx7900xt-marimo-9237.json")
    # "Card Series" (capital S): the name, not the SKU "D70401XT"
    assert _figures(gpu) == (0, "Radeon RX 7900 XT", 0, 27856896 / MIB, 20464, None)
    assert f"{gpu.memory_used_mib:.1f}" == "26.6"


def test_rocm_smi_with_temperature_use_and_vram():
    (gpu,) = _rocm("rocm-smi-radeon680m-beszel.json")
    assert _figures(gpu) == (0, "Rembrandt [Radeon 680M]", 0, 445550592 / MIB, 512, 49.0)


def test_rocm_smi_5_with_lower_case_card_series():
    (gpu,) = _rocm("rocm-smi-mi210-bacalhau.json")
    assert _figures(gpu) == (0, "Instinct MI210", 0, 10960896 / MIB, 65520, None)


def test_rocm_smi_two_cards_a_discrete_gpu_and_an_apu():
    r9700, apu = _rocm("rocm-smi-r9700-brainiac.json")
    assert _figures(r9700) == (0, "AMD Radeon AI PRO R9700", 0, 889229312 / MIB, 32624, None)
    assert _figures(apu) == (1, "AMD Ryzen 9 9950X3D 16-Core Processor", 0, 45359104 / MIB, 2048,
                             None)


def test_rocm_smi_all_fields_junction_temperature_and_no_vram():
    # `rocm-smi -a --json` has no VRAM figures and carries a "system" entry that is no card
    (gpu,) = _rocm("rocm-smi-all-mi210-wandb.json")
    assert _figures(gpu) == (0, "GENERIC RM IMAGE", 0, None, None, 35.0)  # junction, not edge 33.0


def test_a_board_without_vram_figures_shows_memory_as_unknown_not_zero():
    from spheron_jupyter.notebook.commands.gpu import gpu_table

    reading = GpuReading("i-1", 0.0, gpus=_rocm("rocm-smi-all-mi210-wandb.json"))
    assert reading.memory == (None, None)
    assert "memory -" in reading.summary() and "GiB" not in reading.summary()
    assert reading.as_dict()["memory_total_mib"] is None
    (row,) = gpu_table(reading, "box").rows
    assert row["memory"] == "-" and row["temperature"] == "35°C"
    # one board with figures and one without: no total that passes for both
    mixed = GpuReading("i-1", 0.0, gpus=_rocm("rocm-smi-mi210-bacalhau.json")
                       + _rocm("rocm-smi-all-mi210-wandb.json"))
    assert mixed.memory == (None, None) and "memory -" in mixed.summary()
    known = GpuReading("i-1", 0.0, gpus=_rocm("rocm-smi-mi210-bacalhau.json"))
    assert "0.0/64 GiB" in known.summary()


def test_nvidia_smi_with_units_and_another_field_order():
    (gpu,) = parse((DATA / "nvidia-smi-rtx2060-smc-57.csv").read_text())
    assert _figures(gpu) == (0, "GeForce RTX 2060", 20, 682, 5934, 36)


def test_nvidia_smi_two_boards_without_index():
    first, second = parse((DATA / "nvidia-smi-gtx1080ti-gtx1060-bpytop-26.csv").read_text())
    assert _figures(first) == (0, "GeForce GTX 1080 Ti", 36, 2856, 11175, 60)
    assert _figures(second) == (1, "GeForce GTX 1060 6GB", 0, 4, 6078, 49)


def test_nvidia_smi_as_the_probe_asks_it():
    text = ("index, name, utilization.gpu [%], memory.used [MiB], memory.total [MiB], temperature.gpu\n"
            "0, NVIDIA H100 80GB HBM3, 37, 1234, 81559, 45\n"
            "1, NVIDIA H100 80GB HBM3, [N/A], 0, 81559, [N/A]\n")
    busy, odd = parse_nvidia(text)
    assert _figures(busy) == (0, "NVIDIA H100 80GB HBM3", 37, 1234, 81559, 45)
    assert (odd.utilization, odd.temperature_c) == (0, None)


def test_errors():
    with pytest.raises(GpuTelemetryError, match="no nvidia-smi or rocm-smi"):
        parse("NO-GPU-TOOL\n")
    with pytest.raises(GpuTelemetryError, match="something else"):
        parse_nvidia("NVIDIA-SMI has failed because it couldn't communicate with the driver.")
    with pytest.raises(GpuTelemetryError, match="something else"):
        parse_nvidia("0, NVIDIA H100 80GB HBM3, 37, 1234, 81559, 45\n")  # no header: columns unknown
    with pytest.raises(GpuTelemetryError, match="listed no GPU"):
        parse_nvidia("index, name, utilization.gpu [%]\n")
    with pytest.raises(GpuTelemetryError, match="other than JSON"):
        parse_rocm("ERROR: GPU[0] : Unable to get GPU memory use.")
    with pytest.raises(GpuTelemetryError, match="listed no GPU"):
        parse_rocm('{"system": {"Driver version": "5.18.13"}}')


def test_a_failed_tool_is_named_by_what_ran():
    # rocm-smi's answer follows the probe's ROCM marker line; argparse prints its usage first
    usage = ("usage: rocm-smi [-h] [-u]\n"
             "rocm-smi: error: unrecognized arguments: --showtemp\n")
    with pytest.raises(GpuTelemetryError, match=r"^rocm-smi failed: rocm-smi: error: unrec"):
        read_answer("ROCM\n", usage, 2)
    with pytest.raises(GpuTelemetryError, match=r"^rocm-smi exited with 1$"):
        read_answer("ROCM\n", "", 1)
    with pytest.raises(GpuTelemetryError, match=r"^nvidia-smi failed: NVIDIA-SMI has failed"):
        read_answer("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA "
                    "driver.\n", "", 9)
    assert read_answer("ROCM\n" + (DATA / "rocm-smi-mi210-bacalhau.json").read_text(), "", 0)


def test_rocm_smi_figures_count_whatever_its_exit_status():
    # rocm-smi exits 2 when one query is not supported on the board yet prints the JSON of the
    # rest (tests/data/gpu/README.md, "rocm-smi's exit status"): the figures are read as at 0
    answer = "ROCM\n" + (DATA / "rocm-smi-radeon680m-beszel.json").read_text()
    unsupported = ("ERROR: 2 GPU[0]: od volt: RSMI_STATUS_NOT_SUPPORTED: This function is not "
                   "supported in the current environment.\n")
    read = read_answer(answer, unsupported, 2)
    assert [_figures(g) for g in read] == [_figures(g) for g in read_answer(answer, "", 0)]
    assert read and read[0].name
    # no JSON after the marker: the status and the tool's own line are the answer
    with pytest.raises(GpuTelemetryError, match=r"^rocm-smi failed: ERROR: 2 GPU\[0\]: od volt"):
        read_answer("ROCM\n" + unsupported, "", 2)
    with pytest.raises(GpuTelemetryError, match=r"^rocm-smi failed: WARNING: No JSON data"):
        read_answer("ROCM\n", "WARNING: No JSON data to report\n", 2)
