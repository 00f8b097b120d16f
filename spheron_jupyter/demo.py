"""README's main job: execute ``examples/quickstart.ipynb`` end to end against the embedded emulator.

``./dev demo`` (or ``spheron-jupyter demo``) runs every cell in a real kernel with nbclient,
prints each cell's first line as it goes, saves the executed copy and says where it is. The run
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

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "quickstart.ipynb"
# Short emulator timings so the demo does not wait twenty minutes to terminate.
DEMO_ENV = {
    "SPHERON_EMULATOR_BOOT_SECONDS": "2",
    "SPHERON_EMULATOR_MINIMUM_RUNTIME": "15s",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--notebook", type=Path, default=EXAMPLE,
                        help="notebook to execute (default: examples/quickstart.ipynb)")
    parser.add_argument("--output", type=Path, default=None,
                        help="where to save the executed copy (default: NAME.executed.ipynb beside it)")
    parser.add_argument("--home", type=Path, default=None,
                        help="SPHERON_JUPYTER_HOME for the run (default: a fresh temporary directory)")
    parser.add_argument("--cell-timeout", type=float, default=600.0, metavar="S",
                        help="longest a single cell may run (default: %(default)s s)")


def run(args: argparse.Namespace) -> int:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    notebook_path = args.notebook.resolve()
    if not notebook_path.is_file():
        print(f"demo: no notebook at {notebook_path}", file=sys.stderr)
        return 2
    output = (args.output or notebook_path.with_name(notebook_path.stem + ".executed.ipynb")).resolve()
    home = (args.home or Path(tempfile.mkdtemp(prefix="spheron-demo-"))).resolve()
    saved_env = {k: os.environ.get(k) for k in ("SPHERON_JUPYTER_HOME", *DEMO_ENV)}
    os.environ["SPHERON_JUPYTER_HOME"] = str(home)
    for name, value in DEMO_ENV.items():
        os.environ.setdefault(name, value)

    nb = nbformat.read(notebook_path, as_version=4)
    client = NotebookClient(nb, timeout=args.cell_timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(notebook_path.parent)}})
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    print(f"Executing {notebook_path.name} ({len(code_cells)} code cells) against the embedded "
          f"emulator; state in {home}", flush=True)
    started = time.monotonic()
    failed = None
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
        nbformat.write(nb, output)
        _stop_leftovers(home)
        _restore_env(saved_env)
    took = time.monotonic() - started
    if failed is not None:
        print(f"demo: a cell failed; the executed copy with its error is at {output}",
              file=sys.stderr)
        print(str(failed).strip().splitlines()[-1], file=sys.stderr)
        return 1
    print(f"Done in {took:.0f} s. Executed notebook: {output}", flush=True)
    return 0


def _stop_leftovers(home: Path) -> None:
    """Stop the demo's own emulator and tunnels: they belong to this run's private home."""
    from .emulator.process import find_running
    from .ssh.tunnel import TunnelAgentClient

    try:
        agent = TunnelAgentClient(request_timeout=10.0)
        for tunnel in agent.list():  # list() never starts an agent
            agent.close(tunnel.id)
    except Exception:  # noqa: BLE001 - cleanup must not hide the notebook's outcome
        pass
    emulator = find_running(home / "state" / "emulator")
    if emulator is not None:
        emulator.stop()


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
