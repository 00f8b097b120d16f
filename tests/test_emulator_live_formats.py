"""The emulator serves the live service as public clients measured it (tests/data/live/README.md):
the general rate limit on by default, a status route for statuses the API reports beyond its
docs, massed-compute's missing `user` with root refused, and the prefixed cluster ids; the
client copes over real HTTP.
"""

from __future__ import annotations

import threading
import time

import httpx
import paramiko
import pytest

from spheron_jupyter.client import RequestBudget, SpheronClient
from tests.support.client_fakes import FakeClock
from tests.support.emulator_ssh import Api, connect, make_key, pinned_host_key_cloud_init, public_line


def test_the_general_limit_is_on_by_default_at_the_documented_figure(emulator_factory):
    emulator = emulator_factory(rate_limit=None)  # the emulator's own default
    with httpx.Client(base_url=emulator.url) as http:
        answers = [http.get("/api/providers") for _ in range(100)]
        assert all(a.status_code == 200 for a in answers)
        assert answers[0].headers["RateLimit-Policy"] == "100;w=900"
        refused = http.get("/api/providers")
    assert refused.status_code == 429
    body = refused.json()
    assert body["code"] == "RATE_LIMIT_EXCEEDED" and 800 < body["retryAfter"] <= 900
    assert refused.headers["Retry-After"] == str(body["retryAfter"])
    # Admin routes are never limited, so a test can always look and repair.
    state = httpx.get(emulator.url + "/_emulator/state",
                      headers={"Authorization": f"Bearer {emulator.api_key}"})
    assert state.status_code == 200


def test_clients_sharing_the_process_budget_stay_under_the_limit(emulator_factory):
    """A dashboard refreshing, a launch waiting and `ls` running, in one process: each has its
    own client, all share the process's budget for that host, and no request is refused."""
    emulator = emulator_factory(rate_limit="20/4s")
    refused: list[BaseException] = []
    done: list[int] = []

    def user(work):
        try:
            with SpheronClient(emulator.url, emulator.api_key) as client:
                for _ in range(15):
                    work(client)
                done.append(1)
        except BaseException as exc:  # the test reports it
            refused.append(exc)

    works = [lambda c: c.list_instances(), lambda c: c.balance(),
             lambda c: c.get_json("/api/gpu-offers", {"limit": 5})]
    threads = [threading.Thread(target=user, args=(w,)) for w in works]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not refused and len(done) == 3
    budget = SpheronClient(emulator.url, emulator.api_key).pacing
    assert (budget.limit, budget.window) == (20, 4.0)  # adopted from RateLimit-Policy


def test_dashboard_launch_wait_and_ls_stay_under_the_limit(emulator_factory, closing):
    """The acceptance case in a real session: the dashboard refreshing every 0.2 s, a launch
    waiting for its instance and `ls` in a loop, on an emulator whose general limit is tight
    (30 requests / 6 s): the emulator never has to refuse a request, and the launch finishes."""
    from spheron_jupyter.notebook.widgets.dashboard import Dashboard
    from spheron_jupyter.session.core import Session

    emulator = emulator_factory(rate_limit="30/6s", boot_seconds="3s")
    session = Session("local", url=emulator.url, api_key=emulator.api_key)
    board = Dashboard(session, refresh_seconds=0.2, start=False)
    closing(board)
    stop = threading.Event()
    listings = []

    def ls():
        while not stop.is_set():
            listings.append(len(session.instances()))

    def dashboard():  # what the panel's tick does every refresh_seconds in a kernel
        while not stop.wait(board.refresh_seconds):
            board.fetch()

    workers = [threading.Thread(target=ls), threading.Thread(target=dashboard)]
    for worker in workers:
        worker.start()
    try:
        view = session.launch(session.plan_launch(gpu="rtx-4090", name="busy"))
    finally:
        stop.set()
        for worker in workers:
            worker.join(60)
    assert view.status == "running" and listings and board.refreshes > 1
    # The `ls` loop kept the window full (27 = 90% of 30): the budget, not luck, kept it under.
    assert session.client.pacing.used() >= 20
    state = Api(emulator).call("GET", "/_emulator/state")
    assert state["rateLimit"] == {"limit": 30, "windowSeconds": 6.0, "refused": 0}


def test_a_long_429_during_a_wait_is_waited_out(emulator_factory):
    """The emulator answers a real 429 with retryAfter 90 s; the client waits it on an injected
    clock (so the test does not take 90 s) and the poll then finishes."""
    emulator = emulator_factory()
    api = Api(emulator)
    key, _ = make_key(emulator.state_dir, "client")
    created = api.create(api.offer("spheron-ai"), "waits", {"ssh_public_key": public_line(key)},
                         None)
    clock = FakeClock()
    notices = []
    client = SpheronClient(emulator.url, emulator.api_key, clock=clock,
                           pacing=RequestBudget(clock=clock), on_retry=notices.append)
    api.call("POST", "/_emulator/faults", json={"spec": "429=90s@GET /api/deployments/**1"})
    instance = client.get_instance(created["id"])  # during the launch's wait for running
    assert instance.id == created["id"]
    assert clock.sleeps and clock.sleeps[0] >= 90
    assert [n.kind for n in notices][:1] == ["rate-limit"]
    assert "waiting 90 s" in notices[0].text


def test_status_route_sets_any_status_and_billing_follows(emulator):
    api = Api(emulator)
    key, _ = make_key(emulator.state_dir, "client")
    created = api.create(api.offer("spheron-ai"), "paused", {"ssh_public_key": public_line(key)},
                         None)
    api.wait_running(created["id"])
    stopped = api.call("POST", f"/_emulator/instances/{created['id']}/status",
                       json={"status": "stopped"})
    assert stopped["status"] == "stopped" and stopped["stoppedAt"] is None
    active = api.call("GET", "/api/deployments", params={"status": "active"})["deployments"]
    assert [d["id"] for d in active] == [created["id"]]
    first = api.call("GET", f"/api/deployments/{created['id']}")["totalCost"]
    later = httpx.get(f"{emulator.url}/api/deployments/{created['id']}",
                      headers={"Authorization": f"Bearer {emulator.api_key}"}).json()
    assert later["status"] == "stopped" and later["totalCost"] >= first  # still billing
    odd = api.call("POST", f"/_emulator/instances/{created['id']}/status",
                   json={"status": "hibernating"})
    assert odd["status"] == "hibernating"
    api.terminate(created["id"])  # terminate works on a status the API never documented
    gone = api.call("GET", f"/api/deployments/{created['id']}")
    assert gone["status"] == "terminated" and gone["stoppedAt"] is not None
    ended = api.http.post(f"/_emulator/instances/{created['id']}/status",
                          json={"status": "running"})
    assert ended.status_code == 400


def test_terminal_status_through_the_route_ends_billing(emulator):
    api = Api(emulator)
    key, _ = make_key(emulator.state_dir, "client")
    created = api.create(api.offer("spheron-ai"), "failing",
                         {"ssh_public_key": public_line(key)}, None)
    ended = api.call("POST", f"/_emulator/instances/{created['id']}/status",
                     json={"status": "terminated-provider"})
    assert ended["status"] == "terminated-provider" and ended["stoppedAt"] is not None


def test_massed_compute_has_no_user_field_and_refuses_root(emulator, tmp_path):
    api = Api(emulator)
    client_key, _ = make_key(tmp_path, "client")
    host_key, host_key_path = make_key(tmp_path, "host")
    created = api.create(api.offer("massed-compute"), "mc",
                         {"ssh_public_key": public_line(client_key)},
                         pinned_host_key_cloud_init(host_key_path))
    assert "user" not in created and "sshCommand" not in created
    assert created["ipAddress"]  # set while still deploying: not a readiness signal
    running = api.wait_running(created["id"])
    assert "user" not in running
    from spheron_jupyter.client import Instance, ssh_users

    users = ssh_users(Instance.model_validate(running))
    assert users == ["ubuntu"]
    with pytest.raises(paramiko.AuthenticationException):
        connect(running["sshPort"], "root", client_key, host_key, timeout=10)
    with connect(running["sshPort"], users[0], client_key, host_key) as ssh:
        _, out, _ = ssh.exec_command("echo $USER")
        assert out.read().decode().strip() == "ubuntu"
    api.terminate(created["id"])


def test_prefixed_cluster_is_found_by_its_name_and_sent_verbatim(emulator_session):
    session = emulator_session
    offers = session.offers(region="culpeper-usa-1")
    assert offers and all("166e655a:culpeper-usa-1" in o.regions for o in offers)
    plan = session.plan_launch(gpu="rtx-4090", provider="sesterce", region="culpeper-usa-1")
    assert plan.region == "166e655a:culpeper-usa-1"
    view = session.launch(plan, wait=False)
    raw = session.client.get_json(f"/api/deployments/{view.id}")
    assert raw["region"] == "166e655a:culpeper-usa-1"
    assert session.offers(region="finland-3")  # free text, loosely: "Finland 3"


def test_offers_region_without_its_prefix_through_the_magic(emulator_shell):
    out = emulator_shell.ok("%spheron offers --region culpeper-usa-1 --limit 50").text
    assert "166e655a:culpeper-usa-1" in out and "no offers" not in out
    loose = emulator_shell.ok("%spheron offers --region finland-3").text
    assert "Finland 3" in loose


def _launch_then_stopped(sh, name: str, *flags: str):
    """Launch ``name`` through the magic, then have the API report it as ``stopped``."""
    sh.ok(f"%spheron launch --gpu rtx-4090 --name {name} {' '.join(flags)} --yes")
    view = next(v for v in sh.context.session.instances() if v.name == name)
    Api(sh.emulator).call("POST", f"/_emulator/instances/{view.id}/status",
                          json={"status": "stopped"})
    return view


def test_a_stopped_instance_stays_billing_everywhere_and_terminates(emulator_shell):
    """`stopped` (set through the emulator's status route) stays in ls, the burn meter and the
    %load_ext warning, and `terminate --yes` ends it."""
    from spheron_jupyter.notebook.extension import still_billing_line

    sh = emulator_shell
    view = _launch_then_stopped(sh, "paused-box")
    listing = sh.ok("%spheron ls").text
    assert "paused-box" in listing and "stopped" in listing
    again = next(v for v in sh.context.session.instances() if v.name == "paused-box")
    assert again.status == "stopped" and again.active
    warning = still_billing_line()
    assert warning and "paused-box" in warning
    from spheron_jupyter.ledger import still_billing
    from spheron_jupyter.server.sidebar_state import LedgerReader

    assert [r.status for r in still_billing()] == ["stopped"]
    state = LedgerReader().state()  # what GET spheron/api/state gives the sidebar and burn meter
    assert [(row["name"], row["status"]) for row in state["instances"]] == [("paused-box", "stopped")]
    assert state["burn_per_hour"] == pytest.approx(view.hourly_rate)
    time.sleep(3.5)  # the fixture emulator's 3 s minimum runtime
    sh.ok("%spheron terminate paused-box --yes")
    final = Api(sh.emulator).call("GET", f"/api/deployments/{view.id}")
    assert final["status"] == "terminated"


def test_a_stopped_instance_keeps_showing_when_its_lease_ends(emulator_shell):
    """A lease on an instance the API reports as `stopped` (undocumented, so still billing) is
    still carried out by its reaper, so status and the sidebar's state keep saying when it ends
    (ledger/lifecycle.py once showed an end only for the documented live statuses)."""
    from spheron_jupyter.server.sidebar_state import LedgerReader

    sh = emulator_shell
    _launch_then_stopped(sh, "paused-lease", "--lease 2h")
    status = sh.ok("%spheron status paused-lease").text
    assert "stopped" in status and "lease ends in" in status, status
    [row] = [r for r in LedgerReader().state()["instances"] if r["name"] == "paused-lease"]
    assert row["status"] == "stopped" and row["ends_because"] == "lease"
    assert row["ends_text"].startswith("lease ends in"), row


def test_can_terminate_missing_falls_back_to_delete_over_http(emulator_factory):
    """The emulator without can-terminate (a 404, as in the newer route set): DELETE decides."""
    from spheron_jupyter.client import MinimumRuntimeError

    emulator = emulator_factory(minimum_runtime="20m",
                                faults="404@GET /api/deployments/*/can-terminate")
    api = Api(emulator)
    key, _ = make_key(emulator.state_dir, "client")
    created = api.create(api.offer("spheron-ai"), "early", {"ssh_public_key": public_line(key)},
                         None)
    with SpheronClient(emulator.url, emulator.api_key) as client:
        check = client.can_terminate(created["id"])
        assert check.can_terminate and not check.checked
        with pytest.raises(MinimumRuntimeError, match="20 more minutes|1[0-9] more minutes"):
            client.terminate(created["id"])
        assert client.get_instance(created["id"]).is_billing


def test_a_massed_compute_launch_reaches_ssh_as_ubuntu_without_a_user_field(emulator_session):
    """End to end through the session: the deployment carries no `user`, root is refused, and
    the launch logs in as ubuntu (client/providers.py) and runs a command there."""
    session = emulator_session
    plan = session.plan_launch(gpu="rtx-4090", provider="massed-compute", type="dedicated",
                               name="mc-box")
    view = session.launch(plan)
    raw = session.client.get_json(f"/api/deployments/{view.id}")
    assert raw["providerId"] == "massed-compute" and "user" not in raw
    assert view.status == "running"
    out: list[str] = []
    assert session.exec(view.id, "echo $USER", lambda stream, text: out.append(text)) == 0
    assert "".join(out).strip() == "ubuntu"


def test_without_user_or_known_default_a_refused_ubuntu_costs_seconds_then_root_gets_in(
        emulator_session):
    """A deployment with no `user` on a provider without a known default: ubuntu is tried
    first (client/providers.py), the emulated spheron-ai instance refuses it (it logs in as
    root), and root gets in within seconds, not after the 180 s readiness wait."""
    import dataclasses

    from spheron_jupyter.session import sshbridge

    session = emulator_session
    view = session.launch(session.plan_launch(gpu="rtx-4090", provider="spheron-ai",
                                              name="root-box"))
    assert view.raw is not None and view.raw.user == "root"
    unnamed = dataclasses.replace(view, user=None, raw=view.raw.model_copy(update={"user": None}))
    assert sshbridge.login_users(unnamed) == ["ubuntu", "root"]
    started = time.monotonic()
    _, user = sshbridge.wait_ssh_ready(unnamed, pinned=True, poll=1.0)
    assert user == "root" and time.monotonic() - started < 15


def test_a_429_of_90_s_during_a_launch_wait_is_waited_out_with_one_line(emulator):
    """Acceptance: the emulator answers the launch's wait with a real 429 asking for 90 s; the
    session's client waits it out (on an injected clock, so the test takes seconds), the wait
    says so in one line, and the launch finishes."""
    from spheron_jupyter.session.core import Session

    clock = FakeClock()
    client = SpheronClient(emulator.url, emulator.api_key, clock=clock,
                           pacing=RequestBudget(clock=clock))
    session = Session("local", url=emulator.url, api_key=emulator.api_key, client=client)
    api = Api(emulator)
    lines: list[tuple[str, str]] = []

    def progress(stage: str, detail: str) -> None:
        lines.append((stage, detail))
        if "waiting" in detail and sum("waiting" in d for _, d in lines) == 1:  # the wait began
            api.call("POST", "/_emulator/faults", json={"spec": "429=90s@GET /api/deployments**1"})

    view = session.launch(session.plan_launch(gpu="rtx-4090", name="patient"), progress=progress)
    assert view.status == "running"
    told = [d for s, d in lines if "rate limit" in d]
    assert len(told) == 1 and "waiting 90 s" in told[0], lines
    assert any(s >= 90 for s in clock.sleeps)
