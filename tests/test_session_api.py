"""The plain Python API (what scripts and widgets call), against the real emulator."""

from __future__ import annotations

import time

import pytest

from spheron_jupyter.session.core import Session
from spheron_jupyter.session.errors import OverBudgetError, SessionError
from spheron_jupyter.ledger import InstanceRecord, format_duration, usd
from spheron_jupyter.session.money import parse_duration, worst_case


@pytest.fixture
def session(emulator):
    return Session("local", url=emulator.url, api_key=emulator.api_key, notebook="demo.ipynb")


def test_durations_and_worst_case():
    assert parse_duration("90m") == 5400 and parse_duration("1h30m") == 5400
    assert parse_duration("2") == 7200 and parse_duration(None) is None
    with pytest.raises(SessionError):
        parse_duration("soon")
    assert format_duration(5400) == "1h30m"
    assert worst_case(2.0, None) == 2.0  # 1 hour without a lease
    assert worst_case(2.0, 600) == pytest.approx(2.0 / 3)  # never below the 20-minute minimum
    assert worst_case(2.0, 7200) == 4.0


def test_plan_creates_nothing_and_launch_refuses_over_budget(session, emulator):
    from tests.support.magic_shell import emulator_counts

    plan = session.plan_launch(gpu="h100", count=8, lease="100h")
    assert plan.over_budget and plan.worst_case_usd > plan.budget_usd
    before = emulator_counts(emulator)
    with pytest.raises(OverBudgetError):
        session.launch(plan)
    assert emulator_counts(emulator) == before and session.ledger.instances() == []


def test_launch_records_everything_in_the_ledger(session):
    stages = []
    plan = session.plan_launch(gpu="rtx-4090", lease="2h", name="ledgered")
    view = session.launch(plan, progress=lambda stage, detail: stages.append(stage))
    assert stages[0] == "creating" and "running" in stages and stages[-1] == "ssh"
    rec = session.ledger.instance(session.api_url, view.id)
    assert (rec.name, rec.backend, rec.notebook, rec.lease_seconds) == ("ledgered", "local", "demo.ipynb", 7200)
    assert rec.hourly_rate == plan.hourly_rate and rec.created_at and rec.status == "running"
    assert session.resolve(view.id[:5]).id == view.id and session.resolve("ledg").id == view.id


def test_the_api_wins_over_the_ledger(session, emulator):
    view = session.launch(session.plan_launch(gpu="rtx-4090", name="reclaimed"))
    import urllib.request

    request = urllib.request.Request(f"{emulator.url}/_emulator/instances/{view.id}/reclaim",
                                     method="POST",
                                     headers={"Authorization": f"Bearer {emulator.api_key}"})
    urllib.request.urlopen(request, timeout=10).close()
    assert session.instances() == []  # the ledger said running; the API says reclaimed
    assert session.ledger.instance(session.api_url, view.id).status == "terminated-provider"
    assert any("running -> terminated-provider" in e.detail for e in session.events(view.id))
    # An instance the API has never heard of is not shown as active either.
    session.ledger.record_instance(InstanceRecord(session.api_url, "ghost", "local",
                                                  name="ghost", status="running"))
    assert all(v.id != "ghost" for v in session.instances())
    assert session.ledger.instance(session.api_url, "ghost").status == "gone"


def test_terminate_explains_the_minimum_then_works(session):
    view = session.launch(session.plan_launch(gpu="rtx-4090", name="short"))
    with pytest.raises(SessionError, match="minimum runtime"):
        session.terminate("short")
    time.sleep(3.2)
    result = session.terminate("short")
    assert result.terminated and session.resolve("short", all=True).status == "terminated"
    with pytest.raises(SessionError, match="is terminated; use its id or --all"):
        session.resolve("short")  # a name means the billing instance of that name
    assert session.ledger.instance(session.api_url, view.id).terminated_at


def test_reprs_hold_no_secret(session, emulator):
    session.whoami()
    for text in (repr(session), repr(session._conn), repr(session.client), str(session.whoami())):
        assert emulator.api_key not in text


def test_lost_create_answer_gives_one_instance_in_the_ledger(emulator_factory):
    from tests.support.magic_shell import emulator_counts

    emu = emulator_factory(faults="lose-create*1")
    session = Session("local", url=emu.url, api_key=emu.api_key)
    view = session.launch(session.plan_launch(gpu="rtx-4090", name="lost-answer"))
    assert emulator_counts(emu)[0] == 1
    assert [r.id for r in session.ledger.instances()] == [view.id]  # no placeholder left


def test_a_placeholder_is_matched_by_its_unique_name(session):
    view = session.launch(session.plan_launch(gpu="rtx-4090", name="named-later"), wait=False)
    session.ledger.forget_instance(session.api_url, view.id)
    session.ledger.record_instance(InstanceRecord(session.api_url, "pending:named-later", "local",
                                                  name="named-later", status="creating"))
    assert [v.id for v in session.instances()] == [view.id]
    assert session.ledger.instance(session.api_url, "pending:named-later") is None
    session.ledger.record_instance(InstanceRecord(session.api_url, "pending:never-made", "local",
                                                  name="never-made", status="creating"))
    shown = {v.id: v for v in session.instances()}
    assert shown["pending:never-made"].source == "ledger"  # shown, marked, never dropped silently


def test_offer_without_cloud_init_is_trusted_on_first_use(session):
    offer = next(o for o in session.offers(gpu="h100") if not o.supports_cloud_init)
    with pytest.raises(SessionError, match="no cloud-init"):
        session.plan_launch(offer.offer_id, startup="echo hi")
    plan = session.plan_launch(offer.offer_id)
    assert not plan.pins_host_key and "first use" in plan.rows()["host key"]
    stages = []
    view = session.launch(plan, yes=True, progress=lambda stage, detail: stages.append(detail))
    assert "trusted on first use" in stages[-1] and "SHA256:" in stages[-1]
    from spheron_jupyter.session import sshbridge

    assert sshbridge.host_fingerprint(view.id) in stages[-1]  # pinned by instance id


def test_an_unconfirmed_launch_can_be_forgotten(session):
    session.ledger.record_instance(InstanceRecord(session.api_url, "pending:lost-one", "local",
                                                  name="lost-one", status="creating"))
    result = session.terminate("lost-one")
    assert "forgot the unconfirmed launch" in result.message
    assert session.ledger.instances() == []


def test_the_managed_emulator_comes_back_on_its_url_and_the_warning_follows_it(monkeypatch):
    from spheron_jupyter.emulator.process import find_running
    from spheron_jupyter.notebook.extension import still_billing_line
    from spheron_jupyter.session.backends import emulator_state_dir

    monkeypatch.setenv("SPHERON_EMULATOR_BOOT_SECONDS", "0.3")
    monkeypatch.setenv("SPHERON_EMULATOR_MINIMUM_RUNTIME", "3s")
    first = Session("local")
    try:
        first.launch(first.plan_launch(gpu="rtx-4090", name="persistent"), wait=False)
        assert "persistent" in still_billing_line()
        find_running(emulator_state_dir()).stop()
        assert still_billing_line() is None  # an emulator that is not running bills nothing
        second = Session("local")  # starts it again, on the same port: same URL, same rows
        assert second.api_url == first.api_url and "started" in second.note
        assert "persistent" in still_billing_line()
        assert [v.name for v in second.instances()] == ["persistent"]
    finally:
        running = find_running(emulator_state_dir())
        if running is not None:
            running.stop()


def test_launch_waits_for_the_startup_script_and_reports_a_failure(session):
    stages = []
    session.launch(session.plan_launch(gpu="rtx-4090", name="broken-boot",
                                       startup="echo about to fail\nexit 3"),
                   progress=lambda stage, detail: stages.append(detail))
    assert "startup script running" in stages[-2]
    assert "ended with status" in stages[-1] and "logs broken-boot --startup" in stages[-1]
    assert any("about to fail" in line for line in session.logs("broken-boot"))


def test_a_volume_the_launch_could_not_attach_is_refused_before_the_create(session, emulator):
    from tests.support.magic_shell import emulator_counts

    region = session.plan_launch(gpu="h100", provider="data-crunch").region
    other = next(r for r in ("FIN-01", "FIN-02", "FIN-03", "ICE-01") if r != region)
    session.create_volume("far", size_gb=10, provider="data-crunch", region=other)
    session.create_volume("vp-a", size_gb=10, provider="voltage-park", region="dallas-tx-1")
    session.create_volume("vp-b", size_gb=10, provider="voltage-park", region="dallas-tx-1")
    before = emulator_counts(emulator)
    with pytest.raises(SessionError, match=f"add --region {other}"):
        session.plan_launch(gpu="h100", provider="data-crunch", volumes=["far"])
    with pytest.raises(SessionError, match="one volume per instance"):
        session.plan_launch(gpu="h100", provider="voltage-park", region="dallas-tx-1",
                            volumes=["vp-a", "vp-b"])
    plan = session.plan_launch(gpu="h100", provider="data-crunch", region=other, volumes=["far"])
    assert plan.volumes == ["far"]
    assert emulator_counts(emulator) == before


def test_a_failed_create_is_never_taken_for_an_older_instance_of_that_name(session, emulator):
    """A name used again must not make a failed launch adopt the older (ended) instance, and
    a 500 on the create is an unknown outcome: the reservation stays, nothing is adopted."""
    import json
    import urllib.request

    from spheron_jupyter.session.errors import LaunchOutcomeUnknownError, NameInUseError

    first = session.launch(session.plan_launch(gpu="rtx-4090", name="twin"), wait=False)
    with pytest.raises(NameInUseError, match=f"already .*{first.id}"):
        session.launch(session.plan_launch(gpu="rtx-4090", name="twin"), wait=False)
    time.sleep(3.2)  # the emulator fixture's minimum runtime
    session.terminate(first.id)
    request = urllib.request.Request(
        f"{emulator.url}/_emulator/faults", method="POST",
        data=json.dumps({"spec": "500@POST /api/deployments*1"}).encode(),
        headers={"Authorization": f"Bearer {emulator.api_key}", "Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=10).close()
    with pytest.raises(LaunchOutcomeUnknownError, match="may exist"):
        session.launch(session.plan_launch(gpu="rtx-4090", name="twin", lease="1h"), wait=False)
    rec = session.ledger.instance(session.api_url, first.id)
    assert rec.lease_seconds is None and not rec.reaper_pid  # no lease reaper for the old one
    assert [e.kind for e in session.events(first.id)].count("launched") == 1
    assert session.ledger.instance(session.api_url, "pending:twin").status == "unknown"
    assert {v.id for v in session.instances()} == {"pending:twin"}  # still may exist: shown


def test_a_placeholder_is_not_matched_to_an_older_instance_of_that_name(session):
    old = session.launch(session.plan_launch(gpu="rtx-4090", name="daily"), wait=False)
    session.ledger.record_instance(InstanceRecord(session.api_url, "pending:daily", "local",
                                                  name="daily", status="creating",
                                                  created_at=time.time() + 3600))
    shown = {v.id: v for v in session.instances()}
    assert old.id in shown and shown["pending:daily"].source == "ledger"
    assert session.ledger.instance(session.api_url, old.id).name == "daily"


def test_the_plan_names_the_per_gpu_rate_the_minimum_charge_the_spot_risk_and_no_cap(session):
    """What the launch plan (and so `%spheron launch` and the launcher) tells before any money
    is spent: $/hour per GPU for a multi-GPU offer, the minimum charge, the spot reclaim risk,
    and that an instance without a lease has no cap."""
    spot = session.offers(count=4, type="spot")[0]
    plan = session.plan_launch(spot.offer_id)
    rows = plan.rows()
    assert rows["$/hour"] == f"{usd(plan.hourly_rate)} ({usd(plan.hourly_rate / 4)} per GPU)"
    assert plan.minimum_minutes > 0
    assert rows["minimum charge"].startswith(
        f"{usd(plan.hourly_rate * plan.minimum_minutes / 60)} (the {plan.minimum_minutes:g}-minute")
    assert rows["spot"] == "the provider can reclaim a spot instance at any time"
    assert rows["worst case"].startswith("no cap without --lease")
    dedicated = session.offers(gpu="h100", count=1, type="dedicated")[0]
    one = session.plan_launch(dedicated.offer_id, lease="2h").rows()
    assert "spot" not in one and "per GPU" not in one["$/hour"]
    assert one["worst case"].endswith("(lease 2h00m)") and "no cap" not in one["worst case"]
    assert session.instances() == []  # planning bought nothing
