"""%spheron gpu ID [--watch]: the instance's GPUs now (utilisation, memory, temperature), read
with nvidia-smi (or rocm-smi) over SSH; --watch updates in place until stopped."""

from __future__ import annotations

import time

from ...session.sshbridge import target_for
from ...ssh import gpu_telemetry as telemetry
from ..display import Table, in_notebook

DESCRIPTION = """The GPUs of a running instance: utilisation, memory used/total and temperature
per GPU, read over SSH with nvidia-smi (rocm-smi on AMD), a sparkline of recent utilisation and
a warning when the GPUs have been idle for gpu_idle_minutes (a setting, default 15) while the
instance bills. --watch samples again every few seconds (never more often than every 3 s) and
updates the output in place until the cell is stopped (or --count samples)."""


def build(parser) -> None:
    parser.add_argument("id", metavar="ID", help="instance id, name or unique prefix")
    parser.add_argument("--watch", action="store_true", help="update in place until stopped")
    parser.add_argument("--every", type=float, default=5.0, metavar="S",
                        help="seconds between samples with --watch (at least 3)")
    parser.add_argument("--count", type=int, default=None, metavar="N",
                        help="with --watch: stop after N samples")


def gpu_table(reading: telemetry.GpuReading, name: str) -> Table:
    rows = [{"gpu": str(g.index), "model": g.name, "utilisation": f"{g.utilization:.0f}%",
             "memory": telemetry.memory_text(g.memory_used_mib, g.memory_total_mib),
             "temperature": "-" if g.temperature_c is None else f"{g.temperature_c:.0f}°C"}
            for g in reading.gpus]
    stamp = time.strftime("%H:%M:%S", time.localtime(reading.at))
    footer = f"{reading.summary()} (sampled {stamp})"
    if reading.idle_warning:
        footer += f"\nWARNING: {reading.idle_warning}"
    return Table(rows, title=f"GPUs of {name}", footer=footer,
                 empty=reading.error and f"no GPU figures: {reading.error}" or "no GPUs")


def run(context, args, cell=None):
    session = context.session
    view = session.resolve(args.id)
    name = view.name or view.id
    every = max(telemetry.MIN_INTERVAL, args.every)
    target = target_for(view)
    with telemetry.for_session(session).watch() as watch:
        reading = watch.reading(target, billing=view.active)
        if not args.watch:
            return gpu_table(reading, name)
        handle = None
        if in_notebook():
            from IPython.display import display

            handle = display(gpu_table(reading, name), display_id=True)
        else:
            print(repr(gpu_table(reading, name)), flush=True)
        shown = 1
        while args.count is None or shown < args.count:
            time.sleep(every)
            reading = watch.reading(target, billing=view.active)
            shown += 1
            if handle is not None:
                handle.update(gpu_table(reading, name))
            else:
                print(repr(gpu_table(reading, name)), flush=True)
    return None
