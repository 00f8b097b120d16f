"""``nvidia-smi`` on an emulated instance: the GPUs of its offer, with plausible, changing numbers.

An emulated instance has no GPU, but the telemetry views (``%spheron gpu``, the dashboard, the
sidebar) read ``nvidia-smi --query-gpu=... --format=csv`` over SSH exactly as on a real one, so
the emulator answers that query. Utilisation follows the instance's own CPU load (the CPU time
of the processes that carry its ``SPHERON_INSTANCE_ROOT``, measured over a short window), so a
busy training script on the instance shows a busy GPU and an idle one shows 0 %. A test (or a
demo) can pin the load instead: write a percentage to ``<root>/run/emulator-gpu-load``.

Memory follows the load (a framework keeps what it allocated), the temperature drifts toward a
load-dependent level (kept in ``<root>/run/emulator-gpu-state.json``), and every figure jitters
a little, as a real board's do. The shim is a Python script run by the emulator's own
interpreter (absolute path), written next to the other shims in the instance's PATH; this
module is self-contained so the sandbox needs one call to install it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

LOAD_HOOK = "run/emulator-gpu-load"
STATE_FILE = "run/emulator-gpu-state.json"
NOT_NVIDIA = ("cpu", "mi300x")  # no NVIDIA board: nvidia-smi answers like a host without one

_SCRIPT = r'''
import json, os, random, sys, time

SPEC = json.loads(@SPEC@)
ROOT = SPEC["root"]
FIELDS = {
    "index": ("index", ""), "name": ("name", ""), "uuid": ("uuid", ""),
    "utilization.gpu": ("utilization.gpu [%]", " %"),
    "utilization.memory": ("utilization.memory [%]", " %"),
    "memory.used": ("memory.used [MiB]", " MiB"), "memory.total": ("memory.total [MiB]", " MiB"),
    "memory.free": ("memory.free [MiB]", " MiB"), "temperature.gpu": ("temperature.gpu", ""),
    "power.draw": ("power.draw [W]", " W"), "power.limit": ("power.limit [W]", " W"),
}


def fail():
    print("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
          "Make sure that the latest NVIDIA driver is installed and running.")
    sys.exit(9)


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
    if not SPEC["count"]:
        fail()
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
        used = 2 + int(total * (0.9 * util / 100.0)) + (random.randint(0, 40) if util else 0)
        rows.append({
            "index": i, "name": SPEC["name"], "uuid": "GPU-%s-%04d" % (SPEC["uuid"], i),
            "utilization.gpu": int(round(util)), "utilization.memory": int(round(util * 0.6)),
            "memory.used": min(used, total), "memory.total": total,
            "memory.free": total - min(used, total), "temperature.gpu": int(round(temp)),
            "power.draw": "%.2f" % (60 + 6.4 * util), "power.limit": "700.00",
        })
    try:
        os.makedirs(os.path.dirname(state_path), exist_ok=True)
        with open(state_path, "w") as f:
            json.dump({"temps": temps}, f)
    except OSError:
        pass
    return rows


def main(argv):
    query = fmt = None
    for arg in argv:
        if arg.startswith("--query-gpu="):
            query = [f.strip() for f in arg.split("=", 1)[1].split(",") if f.strip()]
        elif arg.startswith("--format="):
            fmt = arg.split("=", 1)[1].split(",")
        elif arg in ("-L", "--list-gpus"):
            if not SPEC["count"]:
                fail()
            for i in range(SPEC["count"]):
                print("GPU %d: %s (UUID: GPU-%s-%04d)" % (i, SPEC["name"], SPEC["uuid"], i))
            return 0
    if query is not None:
        unknown = [f for f in query if f not in FIELDS]
        if unknown:
            print('Field "%s" is not a valid field to query.' % unknown[0])
            return 2
        if not fmt or fmt[0] != "csv":
            print("Only --format=csv is supported on this emulated instance.")
            return 2
        rows = sample()
        if "noheader" not in fmt:
            print(", ".join(FIELDS[f][0] for f in query))
        for row in rows:
            unit = (lambda f: "") if "nounits" in fmt else (lambda f: FIELDS[f][1])
            print(", ".join("%s%s" % (row[f], unit(f)) for f in query))
        return 0
    rows = sample()
    print("emulated nvidia-smi (spheron-jupyter emulator)")
    for row in rows:
        print("GPU %(index)d  %(name)s  util %(utilization.gpu)3d %%  mem %(memory.used)d/"
              "%(memory.total)d MiB  %(temperature.gpu)d C" % row)
    return 0


sys.exit(main(sys.argv[1:]))
'''


def gpu_spec(instance: dict[str, Any], root: Path) -> dict[str, Any]:
    """What the shim reports for this instance: its offer's GPU model and count."""
    from .catalog import GPU_MODELS

    # gpuModelId is the catalog's live spelling, e.g. RTX4090_PCIE or H100_SXM5_BAREMETAL.
    gpu_type = str(instance.get("gpuModelId") or "CPU").upper().removesuffix("_BAREMETAL")
    model = next((m for m in GPU_MODELS if m.live_type == gpu_type), None)
    count = int(instance.get("gpuCount") or 0)
    if model is None or model.slug in NOT_NVIDIA:
        count = 0
    name = f"NVIDIA {model.display}" if model else "none"
    memory = (model.vram if model else 0) * 1024 - 488  # what the driver reserves
    return {"root": str(root), "count": count, "name": name, "memory_mib": max(memory, 0),
            "uuid": str(instance.get("id", "0"))[:8]}


def install(shim_dir: Path, root: Path, instance: dict[str, Any]) -> Path:
    """Write ``nvidia-smi`` into the instance's shim dir (again on every boot: newest wins)."""
    spec = gpu_spec(instance, root)
    body = (_SCRIPT.replace("@SPEC@", repr(json.dumps(spec)))
                   .replace("@HOOK@", repr(LOAD_HOOK)).replace("@STATE@", repr(STATE_FILE)))
    # -I -S: nothing of the instance's environment or site-packages changes how it runs.
    text = f"#!{sys.executable} -IS\n# nvidia-smi on an emulated Spheron instance " \
           f"(spheron_jupyter/emulator/gpu_shim.py)\n{body}"
    shim_dir.mkdir(parents=True, exist_ok=True)
    target = shim_dir / "nvidia-smi"
    target.write_text(text)
    target.chmod(0o755)
    (root / "run").mkdir(parents=True, exist_ok=True)
    return target
