"""The command lines of the emulated GPU tools: ``nvidia-smi`` and ``rocm-smi``.

Each is the tail of a script that gpu_shim.py assembles: first ``SPEC`` and the shared load
model, whose ``sample()`` gives one row per GPU (index, util, used_mib, total_mib, temp,
mem_temp), then one of these, which turns the rows into what the real tool prints for the
flags the telemetry probe (spheron_jupyter/ssh/gpu.py) and a user at a shell would give. A flag
the emulated rocm-smi does not know is answered the way the real one answers an unknown flag: a
line on stderr and a non-zero exit, never a made-up figure. A sensor a test declares
unsupported (``UNSUPPORTED_HOOK``) is answered as the real tool answers one: the other figures,
an error line and exit status 2.
"""

from __future__ import annotations

NVIDIA = r'''
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


def nvidia_rows():
    if not SPEC["count"]:
        fail()
    rows = []
    for r in sample():
        util, used, total = r["util"], r["used_mib"], r["total_mib"]
        rows.append({
            "index": r["index"], "name": SPEC["name"],
            "uuid": "GPU-%s-%04d" % (SPEC["uuid"], r["index"]),
            "utilization.gpu": int(round(util)), "utilization.memory": int(round(util * 0.6)),
            "memory.used": used, "memory.total": total, "memory.free": total - used,
            "temperature.gpu": int(round(r["temp"])),
            "power.draw": "%.2f" % (60 + 6.4 * util), "power.limit": "700.00",
        })
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
        rows = nvidia_rows()
        if "noheader" not in fmt:
            print(", ".join(FIELDS[f][0] for f in query))
        for row in rows:
            unit = (lambda f: "") if "nounits" in fmt else (lambda f: FIELDS[f][1])
            print(", ".join("%s%s" % (row[f], unit(f)) for f in query))
        return 0
    rows = nvidia_rows()
    print("emulated nvidia-smi (spheron-jupyter emulator)")
    for row in rows:
        print("GPU %(index)d  %(name)s  util %(utilization.gpu)3d %%  mem %(memory.used)d/"
              "%(memory.total)d MiB  %(temperature.gpu)d C" % row)
    return 0
'''

# rocm-smi's JSON: one "cardN" object of strings per GPU, keys spelled as the newest recorded
# sample spells them (tests/data/gpu/rocm-smi-rx7900xt-marimo-9237.json: "Card Series", "GPU use
# (%)", "VRAM Total Memory (B)" in bytes), in the order rocm-smi prints its sections
# (temperature, use, memory, product: tests/data/gpu/rocm-smi-radeon680m-beszel.json). An MI300X
# has no edge sensor: junction and memory, as recorded on one (tests/data/gpu/README.md).
ROCM = r'''
import argparse

MEMORY_TYPES = {"vram": "VRAM", "vis_vram": "VIS_VRAM"}  # an MI300X's whole VRAM is visible


def unsupported():
    """The test hook's sensors this board is to lack, one name a line ("junction", "memory")."""
    try:
        with open(os.path.join(ROOT, @UNSUPPORTED@)) as f:
            return {line.strip() for line in f if line.strip()}
    except OSError:
        return set()


def rocm_cards(args, failed):
    cards = {}
    lacking = unsupported() if args.showtemp else set()
    for r in sample():
        card = {}
        for sensor, value in (("junction", r["temp"]), ("memory", r["mem_temp"])):
            if not args.showtemp:
                break
            if sensor in lacking:  # logged on stderr, left out of the JSON, exit 2 at the end
                failed.append("ERROR: 2 GPU[%d]: %s: RSMI_STATUS_NOT_SUPPORTED: This function "
                              "is not supported in the current environment." % (r["index"], sensor))
                continue
            card["Temperature (Sensor %s) (C)" % sensor] = "%.1f" % value
        if args.showuse:
            card["GPU use (%)"] = "%d" % round(r["util"])
        for kind in args.showmeminfo or ():
            # bytes: a framework's allocations are not whole MiB
            used = r["used_mib"] * 2**20 + (r["index"] * 7919 + 4096) % 2**20
            card["%s Total Memory (B)" % MEMORY_TYPES[kind]] = "%d" % (r["total_mib"] * 2**20)
            card["%s Total Used Memory (B)" % MEMORY_TYPES[kind]] = "%d" % used
        if args.showproductname:
            for name, value in SPEC["product"].items():
                if name == "GFX Version":  # rocm-smi prints the node and GUID just before it
                    card["Node ID"] = "%d" % (2 + r["index"])  # nodes 0, 1: the CPU sockets
                    card["GUID"] = "%d" % (SPEC["guid"] + 1117 * r["index"])
                card[name] = value
        cards["card%d" % r["index"]] = card
    return cards


def main(argv):
    parser = argparse.ArgumentParser(prog="rocm-smi",
                                     description="AMD ROCm System Management Interface (emulated)")
    parser.add_argument("-u", "--showuse", action="store_true", help="Show current GPU use")
    parser.add_argument("--showmeminfo", nargs="+", metavar="TYPE",
                        help="Show Memory usage information for given block(s) TYPE")
    parser.add_argument("-t", "--showtemp", action="store_true", help="Show current temperature")
    parser.add_argument("--showproductname", action="store_true", help="Show product details")
    parser.add_argument("--json", action="store_true", help="Print output in JSON format")
    args = parser.parse_args(argv)  # an unknown flag: usage and "error: ..." on stderr, exit 2
    for kind in args.showmeminfo or ():
        if kind.lower() not in MEMORY_TYPES:
            parser.error("memory type %s is not one this emulated rocm-smi reports "
                         "(vram, vis_vram)" % kind)
    args.showmeminfo = [kind.lower() for kind in args.showmeminfo or ()]
    if not (args.showuse or args.showmeminfo or args.showtemp or args.showproductname):
        args.showuse = args.showtemp = True
        args.showmeminfo = ["vram"]
    failed = []
    cards = rocm_cards(args, failed)
    for line in failed:
        print(line, file=sys.stderr)
    code = 2 if failed else 0
    if args.json:
        print(json.dumps(cards))
        return code
    print("=" * 24 + " ROCm System Management Interface " + "=" * 24)
    for key, card in cards.items():
        for name, value in card.items():
            print("GPU[%s]\t\t: %s: %s" % (key[4:], name, value))
    print("=" * 30 + " End of ROCm SMI Log " + "=" * 31)
    return code
'''

# Test hook: sensor names written here (one a line) are "not supported" on every card: the
# real rocm-smi then logs an error per query on stderr, prints the JSON of the rest and exits 2
# (tests/data/gpu/README.md, "rocm-smi's exit status"), which the probe must read all the same.
UNSUPPORTED_HOOK = "run/emulator-rocm-unsupported"
ROCM = ROCM.replace("@UNSUPPORTED@", repr(UNSUPPORTED_HOOK))

TOOLS = {"nvidia": ("nvidia-smi", NVIDIA), "amd": ("rocm-smi", ROCM)}
