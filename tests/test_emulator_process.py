"""The emulator as a process: ready lines, info file, stop, find_running, CLI errors."""

from __future__ import annotations

import json
import socket
import stat
import subprocess
import sys
from datetime import datetime

import httpx
import pytest

from spheron_jupyter.emulator.process import find_running
from tests.fixtures.emulator import create_body, pick_offer, wait_for_status


def test_fixture_serves_real_http_with_its_key(emulator, emulator_headers):
    assert emulator.url.startswith("http://127.0.0.1:")
    assert emulator.api_key.startswith("sai_pk_emu_")
    assert emulator.api_key not in repr(emulator)
    balance = httpx.get(emulator.url + "/api/balance", headers=emulator_headers)
    assert balance.status_code == 200


def test_info_file_is_private_and_removed_on_stop(emulator):
    info_path = emulator.state_dir / "emulator.json"
    info = json.loads(info_path.read_text())
    assert info == {"url": emulator.url, "api_key": emulator.api_key, "pid": emulator.pid}
    assert stat.S_IMODE(info_path.stat().st_mode) == 0o600
    assert stat.S_IMODE((emulator.state_dir / "state.json").stat().st_mode) == 0o600
    found = find_running(emulator.state_dir)
    assert found is not None and found.url == emulator.url and found.pid == emulator.pid
    emulator.stop()
    assert not emulator.running
    assert not info_path.exists()
    assert find_running(emulator.state_dir) is None


def test_find_running_ignores_a_stale_info_file(tmp_path):
    (tmp_path / "emulator.json").write_text(
        json.dumps({"url": "http://127.0.0.1:9", "api_key": "k", "pid": 2**22 + 7}))
    assert find_running(tmp_path) is None


def test_cli_prints_exactly_two_ready_lines_and_stops_on_sigterm(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "spheron_jupyter", "emulator", "--host", "127.0.0.1",
         "--port", str(port), "--state", str(tmp_path), "--boot-seconds", "0.5s",
         "--minimum-runtime", "1m", "--runtime", "noop"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first, second = proc.stdout.readline(), proc.stdout.readline()
        assert first == f"Spheron emulator at http://127.0.0.1:{port}\n"
        assert second.startswith("API key: sai_pk_emu_")
        url = first.split(" at ", 1)[1].strip()
        assert httpx.get(url + "/api/providers").status_code == 200
        key = second.split(": ", 1)[1].strip()
        headers = {"Authorization": f"Bearer {key}"}
        team = next(t["teamId"] for t in httpx.get(url + "/api/balance", headers=headers)
                    .json()["teams"] if t["isCurrentTeam"])
        with httpx.Client(base_url=url, headers=headers) as client:
            offer = pick_offer(client, provider="spheron-ai")
            created = client.post("/api/deployments", json=create_body(offer, team)).json()
            assert created["status"] == "deploying"
            running = wait_for_status(client, created["id"], "running", timeout=15)
        # --boot-seconds 0.5s: running half a second after the create, not before.
        booted = (datetime.fromisoformat(running["startedAt"].replace("Z", "+00:00"))
                  - datetime.fromisoformat(created["createdAt"].replace("Z", "+00:00")))
        assert booted.total_seconds() == pytest.approx(0.5, abs=0.01)
        check = httpx.get(f"{url}/api/deployments/{created['id']}/can-terminate",
                          headers=headers).json()
        assert check["minimumRuntime"] == 1  # --minimum-runtime 1m
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert out == ""  # nothing after the two lines
    assert "Traceback" not in err


def test_same_state_dir_keeps_the_key(emulator_factory, tmp_path):
    first = emulator_factory(state_dir=tmp_path / "state")
    key = first.api_key
    first.stop()
    second = emulator_factory(state_dir=tmp_path / "state")
    assert second.api_key == key
    assert second.url != "" and second.running


def test_bad_options_are_one_clear_line(tmp_path):
    for args, expected in ((["--faults", "explode@"], "fault"),
                           (["--boot-seconds", "soon"], "bad duration")):
        result = subprocess.run(
            [sys.executable, "-m", "spheron_jupyter", "emulator", "--state", str(tmp_path), *args],
            capture_output=True, text=True, timeout=30)
        assert result.returncode == 2
        assert expected in result.stderr
        assert "Traceback" not in result.stderr


def test_help_documents_every_option_and_the_fault_grammar():
    result = subprocess.run([sys.executable, "-m", "spheron_jupyter", "emulator", "--help"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and result.stderr == ""
    for word in ("--host", "--port", "--state", "--boot-seconds", "--minimum-runtime",
                 "--faults", "default 20m", "lose-create", "reclaim-spot", "429", "slow=",
                 "drop", "/_emulator/faults", "/_emulator/teams/ID/credit", "--rate-limit",
                 "/_emulator/instances/ID/status", "a bare\n  number is seconds here"):
        assert word in result.stdout, word


def test_a_second_emulator_on_the_same_state_is_refused(emulator):
    result = subprocess.run(
        [sys.executable, "-m", "spheron_jupyter", "emulator", "--state", str(emulator.state_dir)],
        capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "already served" in result.stderr and emulator.url in result.stderr
    assert emulator.api_key not in result.stderr + result.stdout
    assert find_running(emulator.state_dir).pid == emulator.pid


def test_unreadable_state_is_one_clear_line(tmp_path):
    (tmp_path / "state.json").write_text("{not json")
    result = subprocess.run(
        [sys.executable, "-m", "spheron_jupyter", "emulator", "--state", str(tmp_path)],
        capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "state.json" in result.stderr and "Traceback" not in result.stderr
