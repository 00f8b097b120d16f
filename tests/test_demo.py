"""README's main job, run exactly as `./dev demo` runs it (a real subprocess, a real emulator)."""

import subprocess
import sys


def test_main_job_runs_end_to_end(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "spheron_jupyter", "demo", "--state", str(tmp_path / "emu")],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is terminated" in result.stdout
    assert "Done" in result.stdout
