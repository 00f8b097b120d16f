"""Running a notebook as `spheron-jupyter demo --notebook NB` does, and the secrets of that run.

Used by tests/test_demo.py (examples/quickstart.ipynb) and tests/test_examples.py (every other
example): the executed copy and the demo's output must hold none of the run's secrets.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent


def run_demo(notebook: str, home: Path, output: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "spheron_jupyter", "demo", "--notebook", notebook,
         "--home", str(home), "--output", str(output)],
        capture_output=True, text=True, timeout=timeout, cwd=REPO, stdin=subprocess.DEVNULL,
    )


def run_secrets(home: Path) -> dict[str, str]:
    """name -> value of every secret the run held: the emulator's API key, the SSH private key,
    the tokens of services started on instances."""
    secrets = {}
    state = home / "state" / "emulator" / "state.json"
    if state.is_file():
        secrets["API key"] = json.loads(state.read_text())["apiKey"]
    private = home / "data" / "ssh" / "id_ed25519"
    if private.is_file():
        secrets["private key body"] = "".join(private.read_text().strip().splitlines()[1:-1])[:60]
    for env_file in home.glob("state/emulator/instances/*/root/*/.spheron/services/*.env"):
        for line in env_file.read_text().splitlines():
            name, _, value = line.partition("=")
            if "TOKEN" in name and value.strip("'\""):
                secrets[f"{env_file.name} {name}"] = value.strip("'\"")
    return secrets


def cell_outputs(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        parts.append(out.get("text", ""))
        parts.extend(str(v) for v in out.get("data", {}).values())
    return "\n".join(parts)
