"""`ipython file.ipy` (IPython runs the script as a silent cell): every command shows what it
shows in a notebook, instead of returning it unseen. A real ipython process on a real emulator."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_a_script_run_by_ipython_shows_each_commands_result(emulator, tmp_path):
    script = tmp_path / "rent.ipy"
    script.write_text(
        "%load_ext spheron_jupyter\n"
        "%spheron help\n"
        "%spheron --version\n"
        f"%spheron use local --state {emulator.state_dir}\n"
        "%spheron offers --gpu rtx-4090 --limit 2\n"
        "%spheron ls\n"
        "print('end of script')\n"
    )
    ipython = Path(sys.executable).parent / "ipython"
    result = subprocess.run([str(ipython), "--no-banner", "--quick", str(script)],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path,
                            stdin=subprocess.DEVNULL)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "%spheron COMMAND [options]" in out and "launch an instance" in out  # help
    assert "spheron-jupyter " in out  # --version
    assert f"using the local backend at {emulator.url}" in out
    assert "off_" in out and "$/hour" in out  # the offers table, as text
    assert "Instances (local backend)" in out
    assert out.index("%spheron COMMAND") < out.index("$/hour") < out.index("end of script")
    assert emulator.api_key not in out + result.stderr


def test_in_a_notebook_cell_the_result_is_still_the_cells_value(shell):
    out = shell.ok("%spheron --version")
    assert out.result is not None and not out.displays
