"""The GPU tool of an emulated instance: ``nvidia-smi`` on NVIDIA offers, ``rocm-smi`` on AMD
ones, reporting the GPUs of its offer with plausible, changing numbers.

An emulated instance has no GPU, but the telemetry views (``%spheron gpu``, the dashboard, the
sidebar) read ``nvidia-smi --query-gpu=... --format=csv`` (or ``rocm-smi ... --json`` on AMD)
over SSH exactly as on a real one, so the emulator answers those. Utilisation follows the
instance's own CPU load (the CPU time of the processes that carry its ``SPHERON_INSTANCE_ROOT``,
measured over a short window), so a busy training script on the instance shows a busy GPU and
an idle one shows 0 %. A test (or a demo) can pin the load instead: write a percentage to
``<root>/run/emulator-gpu-load``.

Memory follows the load (a framework keeps what it allocated), the temperature drifts toward a
load-dependent level (kept in ``<root>/run/emulator-gpu-state.json``), and every figure jitters
a little, as a real board's do. That model is one piece of script text here, shared by both
tools; each tool's command line is in gpu_shim_cli.py. The shim is a Python script run by the
emulator's own interpreter (absolute path), written next to the other shims in the instance's
PATH, so the sandbox needs one call to install it.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from .gpu_shim_cli import TOOLS

LOAD_HOOK = "run/emulator-gpu-load"
STATE_FILE = "run/emulator-gpu-state.json"
NOT_NVIDIA = ("cpu",)  # no GPU at all: nvidia-smi answers like a host without the driver
# AMD boards: rocm-smi instead of nvidia-smi, with what `rocm-smi --showproductname` prints for
# the board (a bare-metal MI300X under ROCm 6; the sources are in tests/data/gpu/README.md).
AMD = {"mi300x": {"Card Series": "AMD Instinct MI300X", "Card Model": "0x74a1",
                  "Card Vendor": "Advanced Micro Devices, Inc. [AMD/ATI]", "Card SKU": "M3000100",
                  "Subsystem ID": "0x74a1", "Device Rev": "0x00", "GFX Version": "gfx942"}}

_MODEL = r'''
import json, os, random, sys, time

SPEC = json.loads(@SPEC@)
ROOT = SPEC["root"]


def instance_pids():
    marker = ("\0SPHERON_INSTANCE_ROOT=" + ROOT + "\0").encode()
    me = os.getpid()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open("/proc/" + name + "/environ", "rb") as f:
                if marker in b"\0" + f.read():
                    found.append(name)
        except OSError:
            pass
    return found


def cpu_ticks(pids):
    total = 0
    for pid in pids:
        try:
            with open("/proc/" + pid + "/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime
        except (OSError, IndexError, ValueError):
            pass
    return total


def load_percent():
    try:
        with open(os.path.join(ROOT, @HOOK@)) as f:
            return max(0.0, min(100.0, float(f.read().strip())))
    except (OSError, ValueError):
        pass
    pids = instance_pids()
    before, started = cpu_ticks(pids), time.monotonic()
    time.sleep(0.3)
    used = (cpu_ticks(pids) - before) / os.sysconf("SC_CLK_TCK")
    return max(0.0, min(100.0, 100.0 * used / max(time.monotonic() - started, 0.01)))


def sample():
    load = load_percent()
    state_path = os.path.join(ROOT, @STATE@)
    try:
        with open(state_path) as f:
            temps = json.load(f)["temps"]
    except (OSError, ValueError, KeyError):
        temps = [31.0] * SPEC["count"]
    rows = []
    total = SPEC["memory_mib"]
    for i in range(SPEC["count"]):
        util = 0.0 if load < 1 else min(100.0, load * (1.0 if i == 0 else random.uniform(0.85, 1.0))
                                        + random.uniform(-3, 3))
        util = max(0.0, util)
        target = 31.0 + 0.45 * util
        temp = temps[i] + (target - temps[i]) * 0.5 + random.uniform(-0.4, 0.4) if i < len(temps) else target
        temps[i:i + 1] = [temp]
        used = SPEC["idle_mib"] + int(total * (0.9 * util / 100.0)) + (random.randint(0, 40) if util else 0)
        rows.append({"index": i, "util": util, "used_mib": min(used, total), "total_mib": total,
                     "temp": temp, "mem_temp": temp - 2.0 + random.uniform(-0.5, 0.5)})
    try:
        os.makedirs(os.path.dirname(state_path), exist_ok=True)
        with open(state_path, "w") as f:
            json.dump({"temps": temps}, f)
    except OSError:
        pass
    return rows
'''


def gpu_spec(instance: dict[str, Any], root: Path) -> dict[str, Any]:
    """What the shim reports for this instance: its offer's GPU model, count and vendor."""
    from .catalog import GPU_MODELS

    # gpuModelId is the catalog's live spelling, e.g. RTX4090_PCIE or H100_SXM5_BAREMETAL.
    gpu_type = str(instance.get("gpuModelId") or "CPU").upper().removesuffix("_BAREMETAL")
    model = next((m for m in GPU_MODELS if m.live_type == gpu_type), None)
    count = int(instance.get("gpuCount") or 0)
    ident = str(instance.get("id", "0"))
    spec = {"root": str(root), "count": count, "uuid": ident[:8], "vendor": "nvidia"}
    if model is not None and model.slug in AMD:
        product = AMD[model.slug]
        # rocm-smi's VRAM total: 192 GiB less 16 MiB (206141652992 B, as recorded on an MI300X)
        return {**spec, "vendor": "amd", "name": product["Card Series"], "product": product,
                # idle: the driver and firmware keep a few hundred MiB, as on a real board
                "memory_mib": model.vram * 1024 - 16, "idle_mib": 283,
                "guid": 10000 + int(hashlib.sha1(ident.encode()).hexdigest()[:6], 16) % 50000}
    if model is None or model.slug in NOT_NVIDIA:
        count = 0
    memory = (model.vram if model else 0) * 1024 - 488  # what the NVIDIA driver reserves
    return {**spec, "count": count, "name": f"NVIDIA {model.display}" if model else "none",
            "memory_mib": max(memory, 0), "idle_mib": 2}


def install(shim_dir: Path, root: Path, instance: dict[str, Any]) -> Path:
    """Write the instance's GPU tool into its shim dir (again on every boot: newest wins)."""
    spec = gpu_spec(instance, root)
    tool, front = TOOLS[spec["vendor"]]
    body = (_MODEL.replace("@SPEC@", repr(json.dumps(spec)))
                  .replace("@HOOK@", repr(LOAD_HOOK)).replace("@STATE@", repr(STATE_FILE)))
    # -I -S: nothing of the instance's environment or site-packages changes how it runs.
    text = (f"#!{sys.executable} -IS\n# {tool} on an emulated Spheron instance "
            f"(spheron_jupyter/emulator/gpu_shim.py)\n{body}{front}\n\nsys.exit(main(sys.argv[1:]))\n")
    shim_dir.mkdir(parents=True, exist_ok=True)
    for other, _ in TOOLS.values():  # one vendor's tool only, as on a real host
        (shim_dir / other).unlink(missing_ok=True)
    target = shim_dir / tool
    target.write_text(text)
    target.chmod(0o755)
    (root / "run").mkdir(parents=True, exist_ok=True)
    return target
