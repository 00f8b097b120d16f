"""Session against a scripted API (no emulator, milliseconds): what a launch sends before its
POST, unknown statuses, the wait over 5xx and long 429s, the one duration reader.

fake: ``ScriptedApi`` (tests/support/client_fakes.py) stands in for the live service for the
exact moments the emulator does not produce on demand (a 429 with retryAfter 90 s during a
wait; a status string no emulator serves). The same invariants run on the real emulator with
its faults in tests/test_session_money.py.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from spheron_jupyter.session import inventory as inventory_module
from spheron_jupyter.session.core import Session
from spheron_jupyter.session.errors import SessionError
from spheron_jupyter.ledger import Ledger
from spheron_jupyter.session.money import parse_duration
from tests.support.client_fakes import BASE, KEY, ScriptedApi, group, instance, offer, reply

pytestmark = pytest.mark.quick

CATALOG = {"data": [group("RTX4090", "RTX 4090", offer("o-cheap", price=0.5),
                          offer("o-dear", price=0.9))], "totalPages": 1, "page": 1}
KEYS = {"sshKeys": []}


class FakeTime:
    """The wait's clock: sleeping moves it, nothing really waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return 1.8e9 + self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def scripted_session(api: ScriptedApi, tmp_path) -> Session:
    # url + api_key: the local backend without starting an emulator (poll every 0.25 s).
    return Session("local", url=BASE, api_key=KEY, ledger=Ledger(tmp_path / "ledger.sqlite"),
                   client=api.client(), notebook="nb.ipynb")


def base_api(*listings) -> ScriptedApi:
    api = ScriptedApi().on("GET", "/api/gpu-offers", reply(200, CATALOG))
    api.on("GET", "/api/ssh-keys", reply(200, KEYS))
    api.on("POST", "/api/ssh-keys", reply(201, {"id": "key-1", "name": "k", "publicKey": "x"}))
    api.on("GET", "/api/deployments", *(reply(200, items) for items in listings or ([],)))
    return api


def test_a_launch_lists_once_and_downloads_the_catalog_once_before_its_post(tmp_path):
    api = base_api([])
    api.on("POST", "/api/deployments", reply(201, instance("d-1", "run", status="deploying")))
    s = scripted_session(api, tmp_path)
    view = s.launch(s.plan_launch(gpu="rtx-4090", name="run"), wait=False)
    assert view.id == "d-1"
    before_post = api.requests[:api.requests.index(api.calls("POST", "/api/deployments")[0])]
    paths = [(r.method, r.url.path) for r in before_post]
    assert paths.count(("GET", "/api/deployments")) == 1
    assert paths.count(("GET", "/api/gpu-offers")) == 1
    assert api.body(api.calls("POST", "/api/deployments")[0])["offerId"] == "o-cheap"
    assert [r.id for r in s.ledger.instances()] == ["d-1"]


def test_retries_during_a_launch_are_told_in_one_line_each(tmp_path):
    from spheron_jupyter.client import RetryPolicy

    api = base_api()
    api.on("GET", "/api/deployments", *[reply(503, {"error": "Service Unavailable"})] * 5,
           reply(200, []))
    api.on("POST", "/api/deployments", reply(201, instance("d-1", "run", status="deploying")))
    s = Session("local", url=BASE, api_key=KEY, ledger=Ledger(tmp_path / "ledger.sqlite"),
                client=api.client(retry=RetryPolicy(attempts=6)))
    lines: list[str] = []
    s.launch(s.plan_launch(gpu="rtx-4090", name="run"), wait=False,
             progress=lambda stage, detail: lines.append(detail))
    told = [line for line in lines if "slow/unavailable, retrying" in line]
    assert told and all("(" in line and "/" in line for line in told)  # "(2/4)…"
    # The launch's sink is gone with it: the client's hook (session/notices.py) finds none.
    from spheron_jupyter.session import notices

    assert s.client.on_retry is notices.tell and notices._sink.get() is None


def test_an_unknown_gpu_downloads_the_catalog_once(tmp_path):
    api = base_api([])
    s = scripted_session(api, tmp_path)
    with pytest.raises(Exception, match="No GPU model called 'h900'"):
        s.plan_launch(gpu="h900")
    assert len(api.calls("GET", "/api/gpu-offers")) == 1


def test_an_unknown_status_bills_everywhere_and_terminate_works_on_it(tmp_path):
    odd = instance("d-odd", "odd", status="hibernating-by-provider")
    stopped = instance("d-stop", "paused", status="stopped")
    api = base_api([odd, stopped])
    api.on("GET", "/api/deployments/d-odd/can-terminate", reply(200, {"canTerminate": True}))
    api.on("DELETE", "/api/deployments/d-odd", reply(200, {"deployment": {"id": "d-odd",
                                                                          "status": "terminated"}}))
    s = scripted_session(api, tmp_path)
    listed = {v.id: v.status for v in s.instances()}
    assert listed == {"d-odd": "hibernating-by-provider", "d-stop": "stopped"}  # shown as is
    from spheron_jupyter.ledger import still_billing

    assert {r.id for r in still_billing(s.ledger.path)} == {"d-odd", "d-stop"}
    assert s.terminate("odd").terminated and len(api.calls("DELETE", "/api/deployments/d-odd")) == 1


def test_a_failing_termination_check_falls_back_to_delete(tmp_path):
    api = base_api([instance("d-1", "run", status="running")])
    api.on("GET", "/api/deployments/d-1/can-terminate", reply(404, {"error": "Not Found"}))
    api.on("DELETE", "/api/deployments/d-1", reply(200, {}))
    s = scripted_session(api, tmp_path)
    assert s.terminate("run").terminated


def test_the_wait_rides_over_5xx_and_a_long_429(tmp_path, monkeypatch):
    clock = FakeTime()
    monkeypatch.setattr(inventory_module, "time", clock)
    api = base_api([instance("d-1", "run", status="deploying")])
    api.on("GET", "/api/deployments/d-1",
           *[reply(503, {"error": "Service Unavailable"})] * 8,
           reply(429, {"code": "RATE_LIMIT_EXCEEDED", "retryAfter": 90}),
           reply(200, instance("d-1", "run", status="running")))
    s = scripted_session(api, tmp_path)
    lines: list[str] = []
    view = s.wait_until("run", progress=lambda stage, detail: lines.append(detail))
    assert view.status == "running"
    assert sum("API slow/unavailable" in line for line in lines) == 1
    assert any("answers again" in line for line in lines)
    # The 429's retryAfter is waited out (by the client, on its clock) instead of aborting.
    assert 90 in clock.sleeps + s.client._core.clock.sleeps


def test_the_wait_stops_at_its_budget_naming_the_billing_instance(tmp_path, monkeypatch):
    monkeypatch.setattr(inventory_module, "time", FakeTime())
    api = base_api([instance("d-1", "run", status="deploying")])
    api.on("GET", "/api/deployments/d-1", reply(200, instance("d-1", "run", status="deploying")))
    s = scripted_session(api, tmp_path)
    with pytest.raises(SessionError) as info:
        s.wait_until("run", timeout=60)
    assert "d-1" in str(info.value) and "%spheron terminate d-1" in str(info.value)


def test_one_duration_reader():
    assert parse_duration("2") == 7200 and parse_duration("90m") == 5400
    assert parse_duration(timedelta(hours=1, minutes=30)) == 5400
    for bare in (2, 2.5):
        with pytest.raises(SessionError, match="could mean seconds or hours"):
            parse_duration(bare)  # type: ignore[arg-type]


def test_the_api_url_and_default_region_settings_work(tmp_path):
    from spheron_jupyter.session.backends import save_setting

    save_setting("api_url", "https://api.example.test")
    assert Session("cloud", api_key=KEY, ledger=Ledger(tmp_path / "l.sqlite")).api_url == \
        "https://api.example.test"
    catalog = {"data": [group("RTX4090", "RTX 4090", offer("o-eu", price=0.5, clusters=["eu-1"]),
                              offer("o-us", price=0.9, clusters=["us-east-1"]))],
               "totalPages": 1, "page": 1}
    api = base_api().on("GET", "/api/gpu-offers", reply(200, catalog))
    s = scripted_session(api, tmp_path)
    assert s.plan_launch(gpu="rtx-4090").offer_id == "o-eu"
    save_setting("default_region", "us-east-1")
    plan = s.plan_launch(gpu="rtx-4090")
    assert (plan.offer_id, plan.region) == ("o-us", "us-east-1")
    assert s.plan_launch(gpu="rtx-4090", region="eu-1").offer_id == "o-eu"  # a named one wins


def test_a_rerun_after_the_wait_stopped_attaches_instead_of_creating(tmp_path, monkeypatch):
    from spheron_jupyter.config.settings import Settings
    from spheron_jupyter.session.errors import LaunchWaitStoppedError

    monkeypatch.setattr(inventory_module, "time", FakeTime())
    deploying = instance("d-1", "x", status="deploying")
    api = base_api([], [deploying])
    api.on("POST", "/api/deployments", lambda request: reply(
        201, instance("d-1", json.loads(request.content)["name"], status="deploying")))
    api.on("GET", "/api/deployments/d-1", reply(200, deploying))
    settings = Settings(launch_timeout_minutes=0.01)
    s = Session("local", url=BASE, api_key=KEY, ledger=Ledger(tmp_path / "l.sqlite"),
                client=api.client(), notebook="nb.ipynb", settings=settings)
    plan = s.plan_launch(gpu="rtx-4090")  # an automatic name
    with pytest.raises(LaunchWaitStoppedError) as info:
        s.launch(plan)
    assert "d-1" in str(info.value) and "re-run" in str(info.value)
    api.on("GET", "/api/deployments", reply(200, [instance("d-1", plan.name, status="deploying")]))
    again = s.plan_launch(gpu="rtx-4090")  # the cell run again
    assert again.name == plan.name
    lines: list[str] = []
    view = s.launch(again, wait=False, progress=lambda stage, detail: lines.append(stage))
    assert view.id == "d-1" and "attach" in lines
    assert len(api.calls("POST", "/api/deployments")) == 1


def test_a_reservation_left_by_a_kernel_that_stopped_mid_create_is_attached_to(tmp_path):
    """A kernel died between its reservation and the create's answer: the row stays (it may
    bill); a re-run of the launch finds the instance by name instead of buying another."""
    import time

    from spheron_jupyter.ledger import InstanceRecord

    api = base_api([instance("d-9", "left", status="running",
                             createdAt=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))])
    s = scripted_session(api, tmp_path)
    plan = s.plan_launch(gpu="rtx-4090", name="left")
    s.ledger.record_instance(InstanceRecord(
        s.api_url, "pending:left", "local", name="left", status="creating", notebook="nb.ipynb",
        created_at=time.time() - 1000, offer=plan.offer_id, extra={"launch": "creating"}))
    view = s.launch(plan, wait=False)
    assert view.id == "d-9" and api.calls("POST", "/api/deployments") == []


def test_ssh_that_never_comes_up_stops_the_wait_naming_the_billing_instance(tmp_path, monkeypatch):
    """The instance runs but nothing answers SSH (a refused port here): the launch stops after
    its SSH budget like any stopped wait (issue 10), saying the instance bills and what to do,
    and the cell run again attaches to it instead of creating another."""
    import socket

    from spheron_jupyter.session import sshbridge
    from spheron_jupyter.session.errors import LaunchWaitStoppedError

    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    running = instance("d-1", "nossh", status="running", ipAddress="127.0.0.1", sshPort=closed)
    api = base_api([], [running])
    api.on("POST", "/api/deployments", reply(201, running))
    clock = FakeTime()
    monkeypatch.setattr(sshbridge, "time", clock)
    s = scripted_session(api, tmp_path)
    with pytest.raises(LaunchWaitStoppedError) as info:
        s.launch(s.plan_launch(gpu="rtx-4090", name="nossh"))
    text = str(info.value)
    assert "did not come up" in text and "d-1" in text and "billing" in text
    assert "%spheron terminate nossh" in text and "re-run this launch" in text
    assert sum(clock.sleeps) >= 180  # the whole SSH budget was waited, on the fake clock
    lines: list[str] = []
    view = s.launch(s.plan_launch(gpu="rtx-4090", name="nossh"), wait=False,
                    progress=lambda stage, detail: lines.append(stage))
    assert view.id == "d-1" and "attach" in lines
    assert len(api.calls("POST", "/api/deployments")) == 1


@pytest.mark.parametrize(("setting", "polled_every"), [(30, 30.0), (2, 10.0)])
def test_the_poll_interval_setting_paces_the_cloud_wait(tmp_path, monkeypatch, setting,
                                                        polled_every):
    """`poll_interval_seconds` is how often a wait asks the real service, never under its 10 s
    floor (config/settings.py); the emulator is polled fast whatever it says."""
    from spheron_jupyter.config.settings import Settings

    clock = FakeTime()
    monkeypatch.setattr(inventory_module, "time", clock)
    api = base_api([instance("d-1", "run", status="deploying")])
    api.on("GET", "/api/deployments/d-1", reply(200, instance("d-1", "run", status="deploying")),
           reply(200, instance("d-1", "run", status="running")))
    s = Session("cloud", url=BASE, api_key=KEY, ledger=Ledger(tmp_path / "l.sqlite"),
                client=api.client(), settings=Settings(poll_interval_seconds=setting))
    assert s.wait_until("run").status == "running"
    assert clock.sleeps == [polled_every, polled_every]


def test_the_backend_setting_picks_the_backend(tmp_path):
    """`backend` in settings.yaml: auto (a key means cloud), or local/cloud whatever else is
    configured; an explicit Session(backend) still wins."""
    from spheron_jupyter.session.backends import save_setting

    ledger = Ledger(tmp_path / "l.sqlite")
    assert Session(None, url=BASE, api_key=KEY, ledger=ledger).backend == "cloud"  # auto
    save_setting("backend", "local")
    assert Session(None, url=BASE, api_key=KEY, ledger=ledger).backend == "local"
    assert Session("cloud", url=BASE, api_key=KEY, ledger=ledger).backend == "cloud"
    save_setting("backend", "cloud")
    with pytest.raises(SessionError, match="no Spheron API key configured"):
        Session(None, ledger=ledger)  # cloud even without a key: no emulator is started
