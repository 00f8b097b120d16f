"""README's main job: execute ``examples/quickstart.ipynb`` end to end against the embedded emulator.

``./dev demo`` (or ``spheron-jupyter demo``) runs every cell in a real kernel with nbclient,
prints each cell's first line and then, shortened, what the cell showed (the offers found, the
launch, ...), waits for the instance's scheduled termination and prints how each instance
ended, saves the executed copy and says where it is. The run
gets a home of its own (``SPHERON_JUPYTER_HOME``), so the user's real ledger, keys and settings
are never touched, and whatever the notebook started (emulator, tunnel agent) is stopped at the
end even when a cell fails.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HELP = "run the main job: the example notebook against the embedded emulator"

# The wheel ships examples/*.ipynb inside the package (hatch_build.py); a checkout has examples/.
PACKAGED_EXAMPLES = Path(__file__).resolve().parent / "examples"
EXAMPLES = (PACKAGED_EXAMPLES if PACKAGED_EXAMPLES.is_dir()
            else Path(__file__).resolve().parent.parent / "examples")
EXAMPLE = EXAMPLES / "quickstart.ipynb"
# Short emulator timings so the demo does not wait twenty minutes to terminate.
# How long to wait, after the last cell, for the scheduled termination to happen.
TERMINATION_WAIT = 120.0
DEMO_ENV = {
    "SPHERON_EMULATOR_BOOT_SECONDS": "2",
    "SPHERON_EMULATOR_MINIMUM_RUNTIME": "15s",
    # Several processes of the demo (kernel, reaper, tunnel agent) share the loopback address;
    # the live figure (100/15m, the emulator's default) would make the demo wait for minutes.
    "SPHERON_EMULATOR_RATE_LIMIT": "2000/15m",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    shipped = ", ".join(p.stem for p in sorted(EXAMPLES.glob("*.ipynb"))
                        if not p.name.endswith(".executed.ipynb"))
    parser.add_argument("--notebook", default=str(EXAMPLE), metavar="NB",
                        help=f"notebook to execute: a path, or the name of an example ({shipped}); "
                             f"default: quickstart")
    parser.add_argument("--output", type=Path, default=None,
                        help="where to save the executed copy (default: NAME.executed.ipynb beside "
                             "the notebook, or in the current directory for an installed example)")
    parser.add_argument("--home", type=Path, default=None,
                        help="SPHERON_JUPYTER_HOME for the run (default: a fresh temporary directory)")
    parser.add_argument("--cell-timeout", type=float, default=600.0, metavar="S",
                        help="longest a single cell may run (default: %(default)s s)")


def run(args: argparse.Namespace) -> int:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    notebook_path = _find_notebook(str(args.notebook))
    if notebook_path is None:
        print(f"demo: no notebook at {Path(args.notebook).resolve()}: give a path, or one of the "
              f"examples ({', '.join(p.stem for p in sorted(EXAMPLES.glob('*.ipynb')))})",
              file=sys.stderr)
        return 2
    output = (args.output or _default_output(notebook_path)).resolve()
    home = (args.home or Path(tempfile.mkdtemp(prefix="spheron-demo-"))).resolve()
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    saved_env = {k: os.environ.get(k) for k in ("SPHERON_JUPYTER_HOME", *DEMO_ENV)}
    os.environ["SPHERON_JUPYTER_HOME"] = str(home)
    for name, value in DEMO_ENV.items():
        os.environ.setdefault(name, value)

    nb = nbformat.read(notebook_path, as_version=4)
    # The kernel works beside the executed copy: files a notebook writes land there, never in
    # an installed package's directory.
    client = NotebookClient(nb, timeout=args.cell_timeout, kernel_name="python3",
                            config=_kernel_config(home),
                            resources={"metadata": {"path": str(output.parent)}})
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    print(f"Executing {notebook_path.name} ({len(code_cells)} code cells) against the embedded "
          f"emulator; state in {home}", flush=True)
    started = time.monotonic()
    failed = None
    ended = False
    try:
        with client.setup_kernel():
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                first = (cell.source.strip().splitlines() or [""])[0]
                print(f"  [{code_cells.index(cell) + 1}/{len(code_cells)}] {first}", flush=True)
                try:
                    client.execute_cell(cell, index)
                except CellExecutionError as exc:
                    failed = exc
                    break
                finally:
                    _print_outputs(cell)
        if failed is None:
            ended = _await_terminations(home)
    finally:
        nbformat.write(nb, output)
        _stop_leftovers(home)
        _restore_env(saved_env)
    took = time.monotonic() - started
    if failed is not None:
        print(f"demo: a cell failed; the executed copy with its error is at {output}",
              file=sys.stderr)
        print(str(failed).strip().splitlines()[-1], file=sys.stderr)
        return 1
    if not ended:
        print(f"demo: an instance the notebook launched did not end within "
              f"{TERMINATION_WAIT:.0f} s of its scheduled termination; see {output}",
              file=sys.stderr)
        return 1
    print(f"Done in {took:.0f} s. Executed notebook: {output}", flush=True)
    return 0


def _find_notebook(given: str) -> Path | None:
    path = Path(given).expanduser()
    if path.is_file():
        return path.resolve()
    shipped = EXAMPLES / (given if given.endswith(".ipynb") else f"{given}.ipynb")
    return shipped.resolve() if "/" not in given and shipped.is_file() else None


def _default_output(notebook: Path) -> Path:
    """NAME.executed.ipynb beside the notebook; for an installed example, in the current dir."""
    if notebook.is_relative_to(PACKAGED_EXAMPLES.resolve()):
        return Path.cwd() / f"{notebook.stem}.executed.ipynb"
    return notebook.with_name(notebook.stem + ".executed.ipynb")


def _kernel_config(home: Path):
    """The notebook's kernel is reached over Unix sockets in the run's private home on POSIX.

    Not TCP on 127.0.0.1: no other user of this machine can connect to it, and ipykernel's
    "Kernel is running over TCP without encryption" warning (printed on every run otherwise)
    does not apply. (nbclient makes the kernel manager from this config, so it also shuts the
    kernel down at the end.)
    """
    from traitlets.config import Config

    config = Config()
    if os.name == "posix" and len(str(home)) < 80:  # a Unix socket path has ~100 bytes at most
        config.KernelManager.transport = "ipc"
        config.KernelManager.ip = str(home / "kernel")
    return config


def _print_outputs(cell, max_lines: int = 20) -> None:
    """What the cell showed, as text and shortened: offers found, the launch, the termination."""
    lines: list[str] = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            lines += out.get("text", "").splitlines()
        elif out.get("output_type") == "error":
            lines.append(f"{out.get('ename')}: {out.get('evalue')}")
        elif "application/vnd.jupyter.widget-view+json" in out.get("data", {}):
            lines.append("(a panel: open the executed notebook in JupyterLab to see it)")
        else:
            lines += str(out.get("data", {}).get("text/plain", "")).splitlines()
    lines = [line for line in lines if line.strip()]
    if len(lines) > max_lines:  # the head and the last lines, where a cell says how it ended
        hidden = len(lines) - max_lines + 1
        lines = [*lines[:max_lines - 4], f"... ({hidden} more lines in the executed notebook)",
                 *lines[-3:]]
    for line in lines:
        print(f"      {line}")
    sys.stdout.flush()


def _await_terminations(home: Path) -> bool:
    """Wait for every instance the notebook launched to end, then say how each ended.

    The notebook schedules its termination (``--when-allowed``) through a helper process, as a
    user would; the demo waits for it rather than stopping the emulator under it.
    """
    from .client import SpheronClient, SpheronError
    from .emulator.process import find_running
    from .ledger import usd

    emulator = find_running(home / "state" / "emulator")
    if emulator is None:
        return True
    with SpheronClient(emulator.url, emulator.api_key, timeout=10.0) as client:
        deadline = time.monotonic() + TERMINATION_WAIT
        try:
            while client.list_instances(status="active") and time.monotonic() < deadline:
                time.sleep(0.5)
            instances = client.list_instances()
        except SpheronError as exc:
            print(f"demo: cannot read the emulator's instances: {exc}", file=sys.stderr)
            return False
    for instance in instances:
        when = instance.stopped_at.strftime("%H:%M:%S UTC") if instance.stopped_at else "not yet"
        cost = usd(instance.total_cost) if instance.total_cost is not None else "unknown"
        print(f"Instance {instance.name} ({instance.id}): {instance.status} at {when}, "
              f"cost {cost}", flush=True)
    return not any(instance.is_active for instance in instances)


def _stop_leftovers(home: Path) -> None:
    """Stop the demo's own emulator and tunnels: they belong to this run's private home."""
    from .emulator.process import find_running
    from .ssh.tunnel import TunnelAgentClient

    try:
        agent = TunnelAgentClient(request_timeout=10.0)
        for tunnel in agent.list():  # list() never starts an agent
            agent.close(tunnel.id)
    except Exception:
        pass
    _stop_reapers(home)  # before the emulator: they would only retry against a closed port
    emulator = find_running(home / "state" / "emulator")
    if emulator is not None:
        emulator.stop()


def _stop_reapers(home: Path) -> None:
    """Stop the helper processes that would terminate the run's instances later.

    They serve this run's own emulator, which is stopped next, so they have nothing left to do;
    left alone they would retry against a closed port before giving up. A reaper is ours when
    its ``--ledger`` lies in this run's home (read from /proc; elsewhere they leave by
    themselves once the emulator is gone).
    """
    from . import reaper

    ledger = str(home / "data" / "ledger.sqlite").encode()
    proc = Path("/proc")
    if not proc.is_dir():
        return
    for entry in proc.iterdir():
        if entry.name.isdigit():
            reaper.stop(int(entry.name), ledger)


def _restore_env(saved: dict[str, str | None]) -> None:
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def main() -> int:
    parser = argparse.ArgumentParser(prog="spheron-jupyter demo", description=HELP)
    add_arguments(parser)
    return run(parser.parse_args())


if __name__ == "__main__":
    raise SystemExit(main())
