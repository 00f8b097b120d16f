"""What ``%load_ext spheron_jupyter`` adds to an IPython start, measured as a difference in one run.

Starts IPython in fresh processes, alternating a bare start (``-c pass``) with a start that
loads the extension (``-c '%load_ext spheron_jupyter'``), and compares the medians. Both sides
pay the same interpreter and IPython start, so the difference is ours. The target (issue 4) is
at most 100 ms. It also checks, in one more process, that loading imported none of the heavy
modules that must wait for first use.

    .venv/bin/python bench/load_ext.py [--runs 9]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

TARGET_MS = 100.0
HEAVY = ("httpx", "paramiko", "pydantic", "ipywidgets", "cryptography", "yaml",
         "spheron_jupyter.client", "spheron_jupyter.ssh")


def ipython(code: str, env: dict) -> float:
    argv = [sys.executable, "-m", "IPython", "--quick", "--no-banner", "--colors=nocolor",
            "-c", code]
    started = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return (time.perf_counter() - started) * 1000.0


def in_process_ms(env: dict) -> float:
    """The load itself, timed inside an IPython that has already started."""
    code = ("import time as _t; _s = _t.perf_counter()\n%load_ext spheron_jupyter\n"
            "print('LOAD_MS', (_t.perf_counter() - _s) * 1000)")
    argv = [sys.executable, "-m", "IPython", "--quick", "--no-banner", "--colors=nocolor", "-c", code]
    out = subprocess.run(argv, env=env, check=True, capture_output=True, text=True).stdout
    return float(out.split("LOAD_MS")[-1].split()[0])


def heavy_modules_after_load(env: dict) -> list[str]:
    code = ("%load_ext spheron_jupyter\n"
            "import sys; print(','.join(m for m in " + repr(HEAVY) + " if m in sys.modules))")
    argv = [sys.executable, "-m", "IPython", "--quick", "--no-banner", "--colors=nocolor", "-c", code]
    out = subprocess.run(argv, env=env, check=True, capture_output=True, text=True).stdout
    return [m for m in out.strip().splitlines()[-1].split(",") if m] if out.strip() else []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        # A fresh, empty home: no ledger yet, like a first start (and nothing of the user's).
        env = dict(os.environ, SPHERON_JUPYTER_HOME=home, PYTHONDONTWRITEBYTECODE="0")
        ipython("pass", env)  # warm the OS caches and write .pyc files for both sides
        ipython("%load_ext spheron_jupyter", env)
        bare, loaded, inside = [], [], []
        for _ in range(args.runs):
            bare.append(ipython("pass", env))
            loaded.append(ipython("%load_ext spheron_jupyter", env))
            inside.append(in_process_ms(env))
        heavy = heavy_modules_after_load(env)
    b, ld = statistics.median(bare), statistics.median(loaded)
    # Paired differences (each loaded start against the bare start just before it) resist
    # the drift of a shared machine better than a difference of medians.
    diff = statistics.median(x - y for x, y in zip(loaded, bare))
    load = os.getloadavg()[0]
    print(f"IPython start, bare:              median {b:7.1f} ms  (min {min(bare):.1f})")
    print(f"IPython start + %load_ext:        median {ld:7.1f} ms  (min {min(loaded):.1f})")
    print(f"added by %load_ext spheron_jupyter:      {diff:7.1f} ms  (target <= {TARGET_MS:.0f} ms)"
          f"  {'OK' if diff <= TARGET_MS else 'OVER'}")
    print(f"the load alone, timed inside IPython:    {statistics.median(inside):7.1f} ms"
          f"  (min {min(inside):.1f})")
    print(f"heavy modules imported by loading: {', '.join(heavy) or 'none'}")
    print(f"machine load average during the run: {load:.1f} (start-up times are noisy above ~1)")
    return 0 if diff <= TARGET_MS and not heavy else 1


if __name__ == "__main__":
    sys.exit(main())
