"""`doctor`: read-only checks whose every answer is compared with our models.

On the emulator it finds no difference; after the emulator's status route sets `stopped` (a
status the dashboard shows but the API docs do not list) it names it.  The comparison itself is
also tested on raw answers shaped like the live service's (fake: stands in for the live service;
the shapes are cited in tests/data/live/README.md).
"""

from __future__ import annotations

import json
import subprocess
import sys

from spheron_jupyter.client import GpuGroup, Instance, SpheronClient
from spheron_jupyter.client.conformance import check_items
from spheron_jupyter.doctor import run_doctor
from tests.support.emulator_ssh import Api, make_key, public_line


def _launch(emulator) -> str:
    api = Api(emulator)
    key, _ = make_key(emulator.state_dir, "client")
    api.call("POST", "/api/ssh-keys", json={"name": "mine", "publicKey": public_line(key)})
    created = api.create(api.offer("massed-compute"), "doctor-target",
                         {"ssh_public_key": public_line(key)}, None)
    api.wait_running(created["id"])
    return created["id"]


def _state(emulator) -> dict:
    state = Api(emulator).call("GET", "/_emulator/state")
    return {k: state[k] for k in ("instances", "volumes", "sshKeys", "createsInWindow")}


def test_doctor_on_the_emulator_finds_no_difference_then_names_stopped(emulator):
    instance_id = _launch(emulator)
    before = _state(emulator)
    with SpheronClient(emulator.url, emulator.api_key) as client:
        report = run_doctor(client, backend="local")
        assert report.healthy, report.lines()
        assert [c.name for c in report.checks] == ["auth", "balance", "team", "offers",
                                                   "instances", "ssh keys", "providers"]
        assert report.summary.startswith("doctor: 7 checks, 7 ok, 0 failed; 0 differences")
        Api(emulator).call("POST", f"/_emulator/instances/{instance_id}/status",
                           json={"status": "stopped"})
        again = run_doctor(client, backend="local")
    assert _state(emulator) == {**before, "instances": {"stopped": 1}}  # nothing created
    lines = [d.line for d in again.differences]
    assert lines == ["GET /api/deployments: deployments[0].status: status 'stopped' is not one "
                     "of the documented statuses (shown as is and counted as billing)"]
    assert not again.healthy and "1 difference" in again.summary


def test_doctor_console_command_json_masks_the_key(emulator, monkeypatch):
    env = {"SPHERON_API_URL": emulator.url, "SPHERON_API_KEY": emulator.api_key,
           "PATH": "/usr/bin:/bin"}
    import os

    env = {**os.environ, **env}
    done = subprocess.run([sys.executable, "-m", "spheron_jupyter", "doctor", "--json",
                           "--backend", "cloud"], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert emulator.api_key not in done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["backend"] == "cloud" and report["differences"] == []
    assert "…" in report["key"]  # masked, e.g. "SPHERON_API_KEY (sai_pk_…ab12)"
    assert all(check["ok"] for check in report["checks"])
    text = subprocess.run([sys.executable, "-m", "spheron_jupyter", "doctor", "--backend",
                           "cloud"], capture_output=True, text=True, env=env, timeout=120)
    assert text.returncode == 0 and text.stdout.splitlines()[-1].startswith("doctor: 7 checks")
    assert emulator.api_key not in text.stdout


def test_doctor_says_when_the_key_is_refused(emulator):
    with SpheronClient(emulator.url, "sai_pk_wrong") as client:
        report = run_doctor(client, backend="cloud")
    assert [c.name for c in report.checks] == ["auth", "team"]
    assert not report.checks[0].ok and "sai_pk_wrong" not in "\n".join(report.lines())


def test_each_kind_of_difference_names_route_and_field():
    """fake: a deployment object and an offer group shaped like the live service's, with one
    difference of each kind planted."""
    raw = {"id": "d1", "name": "x", "status": "hibernating", "providerId": "massed-compute-9f",
           "gpuModelId": "A4000_PCIE", "gpuCount": 1, "region": "166e655a:culpeper-usa-1",
           "hourlyRate": "0.2", "tempSshKeyId": "t", "sparkle": True, "instanceType": "RESERVED"}
    found = {(d.field, d.kind) for d in check_items("GET /api/deployments", Instance, [raw])}
    assert found == {("data[0].status", "unknown-value"), ("data[0].sparkle", "unknown-field"),
                     ("data[0].hourlyRate", "mistyped-field"),
                     ("data[0].createdAt", "missing-field"),
                     ("data[0].instanceType", "unknown-value")}
    group = {"gpuType": "MI300X", "offers": [{
        "provider": "spheron-zz", "offerId": "o", "gpuCount": 8, "price": 20.0,
        "clusters": ["EU North 1"], "os_options": ["Ubuntu 22.04 LTS (ROCm 6.2)"],
        "instanceType": "DEDICATED", "available": True, "maintenance": "no",
        "supportsCloudInit": False}]}
    lines = [d.line for d in check_items("GET /api/gpu-offers", GpuGroup, [group])]
    assert lines == [
        "GET /api/gpu-offers: data[0].offers[0].maintenance: field 'maintenance' is str, not boolean",
        "GET /api/gpu-offers: data[0].offers[0].provider: provider 'spheron-zz' is not one we know"]


def test_magic_doctor(emulator_shell):
    sh = emulator_shell
    out = sh.ok("%spheron doctor").text
    assert "ok   auth" in out and "doctor: 7 checks, 7 ok, 0 failed; 0 differences" in out
    shown = sh.ok("%spheron doctor --json").text
    report = json.loads(shown[shown.index("{"):])
    assert report["differences"] == [] and sh.context.session.client.key_description == report["key"]
    assert "doctor" in sh.ok("%spheron help").text
