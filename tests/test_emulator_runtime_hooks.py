"""The InstanceRuntime contract, in-process: which hooks the REST app calls, when, with what.

The SSH sandboxes plug in through this interface, so the calls are pinned here.  Time is moved
by calling ``advance(now=...)`` with a future timestamp instead of sleeping.
"""

from __future__ import annotations

import json
import time

import pytest

from spheron_jupyter.emulator.app import EmulatorApp
from spheron_jupyter.emulator.durations import parse_duration
from spheron_jupyter.emulator.faults import parse_faults
from spheron_jupyter.emulator.ratelimit import retry_after
from spheron_jupyter.emulator.runtime import InstanceRuntime, NoopRuntime, load_runtime
from tests.fixtures.emulator import TEST_PUBLIC_KEY


class RecordingRuntime(InstanceRuntime):
    moved_to = None  # what resume() answers: None, or a new (ip, port, user)

    def __init__(self):
        self.calls = []

    def provision(self, instance):
        self.calls.append(("provision", instance["id"]))
        return "127.0.0.1", 2222, "ubuntu"

    def boot(self, instance):
        self.calls.append(("boot", instance["id"], instance["status"], instance["cloudInit"],
                           instance["sshPublicKey"]))

    def resume(self, instance):
        self.calls.append(("resume", instance["id"], instance["sshPort"]))
        return self.moved_to

    def stop(self, instance):
        self.calls.append(("stop", instance["id"], instance["status"]))

    def attach(self, instance, volume):
        self.calls.append(("attach", instance["id"], volume["id"], volume["dataDir"]))

    def detach(self, instance, volume):
        self.calls.append(("detach", instance["id"], volume["id"]))

    def drop_connections(self, instance):
        self.calls.append(("drop", instance["id"]))


def call(app, method, path, body=None):
    headers = {"Authorization": f"Bearer {app.store.api_key}"}
    response = app.handle(method, path, headers, json.dumps(body).encode() if body else b"")
    assert response.status < 300, response.body
    return response.body


def launch(app, provider="data-crunch", region="FIN-01", cloud_init=None):
    offer = next(o for o in app.catalog if o["provider"] == provider and region in o["clusters"]
                 and o["available"] and not o["maintenance"] and o["instanceType"] == "DEDICATED"
                 and not o.get("minimumRuntimeMinutes")
                 and (cloud_init is None or o["supportsCloudInit"]))
    team = app.store.current_team()["teamId"]
    body = {"provider": provider, "offerId": offer["offerId"], "gpuType": offer["gpuType"],
            "gpuCount": offer["gpuCount"], "region": region,
            "operatingSystem": offer["os_options"][0], "instanceType": "DEDICATED",
            "teamId": team, "name": "hooked", "ssh_public_key": TEST_PUBLIC_KEY}
    if cloud_init:
        body["cloudInit"] = cloud_init
    return call(app, "POST", "/api/deployments", body)


def test_hooks_follow_the_lifecycle(tmp_path):
    runtime = RecordingRuntime()
    app = EmulatorApp(tmp_path, boot_seconds=1, minimum_runtime_seconds=0,
                      faults=parse_faults("ssh-drop=2s*2"), runtime=runtime)
    script = {"runcmd": ["echo hi"]}
    instance = launch(app, cloud_init=script)
    assert runtime.calls == [("provision", instance["id"])]
    assert (instance["ipAddress"], instance["sshPort"], instance["user"]) == ("127.0.0.1", 2222, "ubuntu")
    volume = call(app, "POST", "/api/volumes", {"provider": "data-crunch", "region": "FIN-01",
                                                "sizeInGb": 10})
    call(app, "POST", f"/api/volumes/{volume['id']}/attach", {"deploymentId": instance["id"]})
    data_dir = tmp_path / "volumes" / volume["id"]
    assert runtime.calls[-1] == ("attach", instance["id"], volume["id"], str(data_dir))
    assert data_dir.is_dir()

    start = time.time()
    app.advance(now=start + 1.5)
    assert runtime.calls[-1] == ("boot", instance["id"], "running", script, TEST_PUBLIC_KEY)
    app.advance(now=start + 3.5)  # running since createdAt+1: first drop due at +3
    app.advance(now=start + 4)
    assert runtime.calls.count(("drop", instance["id"])) == 1
    app.advance(now=start + 10)
    app.advance(now=start + 20)
    assert runtime.calls.count(("drop", instance["id"])) == 2  # *2: no more after that

    call(app, "DELETE", f"/api/deployments/{instance['id']}")
    assert runtime.calls[-2:] == [("detach", instance["id"], volume["id"]),
                                  ("stop", instance["id"], "terminated")]


def test_restart_resumes_active_instances_only(tmp_path):
    first = EmulatorApp(tmp_path, boot_seconds=0, runtime=RecordingRuntime())
    alive = launch(first)
    dead = launch(first)
    call(first, "POST", f"/_emulator/instances/{dead['id']}/fail")
    runtime = RecordingRuntime()
    second = EmulatorApp(tmp_path, boot_seconds=0, runtime=runtime)
    second.start(tick_seconds=60)
    second.close()
    assert runtime.calls == [("resume", alive["id"], 2222)]


def test_noop_runtime_and_loader(tmp_path):
    ip, port, user = NoopRuntime().provision({"providerId": "voltage-park"})
    assert ip == "127.0.0.1" and 0 < port < 65536 and user == "ubuntu"
    assert NoopRuntime().provision({"providerId": "spheron-ai"})[2] == "root"
    assert isinstance(load_runtime("noop", tmp_path), NoopRuntime)
    with pytest.raises(ValueError, match="unknown runtime"):
        load_runtime("docker", tmp_path)


@pytest.mark.parametrize("text,seconds", [("20m", 1200), ("90s", 90), ("0.5s", 0.5), ("1h", 3600),
                                          ("1h30m", 5400), ("250ms", 0.25), ("7", 7), (3, 3)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "5x", "-1", "1m 2s", "soon"])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_rate_limit_window():
    now = 10_000.0
    assert retry_after([now - i for i in range(9)], now) is None
    ten = [now - 100 - i for i in range(10)]
    assert retry_after(ten, now) == 900 - 109
    assert retry_after([now - 901] * 10, now) is None


def test_resume_may_move_an_instance_to_a_new_port(tmp_path):
    first = EmulatorApp(tmp_path, boot_seconds=0, runtime=RecordingRuntime())
    alive = launch(first)
    runtime = RecordingRuntime()
    runtime.moved_to = ("127.0.0.1", 4444, "ubuntu")
    second = EmulatorApp(tmp_path, boot_seconds=0, runtime=runtime)
    second.start(tick_seconds=60)
    second.close()
    assert call(second, "GET", f"/api/deployments/{alive['id']}")["sshPort"] == 4444
    third = EmulatorApp(tmp_path, boot_seconds=0, runtime=RecordingRuntime())
    assert call(third, "GET", f"/api/deployments/{alive['id']}")["sshPort"] == 4444  # saved
