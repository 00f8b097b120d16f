"""The client copes with the live service as public clients measured it (docs/spheron-api.md):
regions by their name without a routing prefix or as loose free text, a failing can-terminate,
one request budget per process under the general limit, and retry notices through a hook.

fake: ScriptedApi stands in for the live service here, which cannot run in tests; each fact it
replays is cited in tests/data/live/README.md.  The same behaviour against the emulator over
real HTTP is in tests/test_emulator_live_formats.py.
"""

from __future__ import annotations

import threading

import pytest

from spheron_jupyter.client import (MinimumRuntimeError, Offer, OfferError, OfferQuery,
                                    RequestBudget, RetryPolicy, match_region, region_matches,
                                    select_offers)
from spheron_jupyter.client import offer_to_create_request
from tests.support.client_fakes import FakeClock, ScriptedApi, instance, offer, reply

LIVE_CLUSTERS = ["166e655a:culpeper-usa-1", "Finland 3", "EU North 1", "Texas-1"]


@pytest.mark.parametrize(("wanted", "verbatim"), [
    ("culpeper-usa-1", "166e655a:culpeper-usa-1"),
    ("166e655a:culpeper-usa-1", "166e655a:culpeper-usa-1"),
    ("Culpeper_USA_1", "166e655a:culpeper-usa-1"),
    ("finland-3", "Finland 3"),
    ("finland 3", "Finland 3"),
    ("eu-north-1", "EU North 1"),
    ("texas-1", "Texas-1"),
])
def test_region_names_match_loosely_and_give_the_verbatim_id(wanted, verbatim):
    assert match_region(wanted, LIVE_CLUSTERS) == verbatim
    assert region_matches(wanted, verbatim)


@pytest.mark.parametrize("wanted", ["finland-33", "culpeper", "166e655a", "north-1", ""])
def test_region_names_do_not_match_by_substring(wanted):
    assert match_region(wanted, LIVE_CLUSTERS) is None


def _live_offer(**fields) -> Offer:
    return Offer.model_validate(offer("o-1", gpuType="A4000_PCIE", provider="sesterce",
                                      clusters=["166e655a:culpeper-usa-1", "kansascity-usa-1"],
                                      os_options=["Ubuntu 24.04 LTS (CUDA 13)"], **fields))


def test_offer_filter_and_create_body_use_the_verbatim_id():
    found = select_offers([_live_offer()], OfferQuery(region="culpeper-usa-1"))
    assert [o.offer_id for o in found] == ["o-1"]
    body = offer_to_create_request(found[0], region="culpeper-usa-1", ssh_key_id="k").to_body()
    assert body["region"] == "166e655a:culpeper-usa-1"
    assert body["operatingSystem"] == "Ubuntu 24.04 LTS (CUDA 13)"
    with pytest.raises(OfferError, match="no region 'culpeper-usa-2'"):
        offer_to_create_request(found[0], region="culpeper-usa-2", ssh_key_id="k")


def test_maintenance_is_read_even_where_available_is_true():
    """Live: `available` was true on all offers, also the 106 in maintenance."""
    offers = [_live_offer(available=True, maintenance=True)]
    assert select_offers(offers, OfferQuery()) == []
    assert len(select_offers(offers, OfferQuery(include_unavailable=True))) == 1


def test_gpu_friendly_names_match_live_gpu_types():
    offers = [Offer.model_validate(offer(gpu, gpuType=gpu, gpu_memory=mem))
              for gpu, mem in (("H100_SXM5", 80), ("H100_PCIE", 80), ("A100_80G", 80),
                               ("A4000_PCIE", 16), ("RTX4090_PCIE", 24))]
    ids = lambda q: sorted(o.offer_id for o in select_offers(offers, OfferQuery(gpu=q)))  # noqa: E731
    assert ids("h100") == ["H100_PCIE", "H100_SXM5"]
    assert ids("H100 SXM5") == ["H100_SXM5"]
    assert ids("a100 80gb") == ["A100_80G"]
    assert ids("RTX A4000") == ["A4000_PCIE"]
    assert ids("rtx-4090") == ["RTX4090_PCIE"]


def test_failing_can_terminate_falls_back_to_delete_and_reads_its_answer():
    """Live: can-terminate is missing from the newer route set; DELETE's 400 carries the facts."""
    api = ScriptedApi().on("GET", "/api/deployments/d-1/can-terminate", reply(404))
    api.on("DELETE", "/api/deployments/d-1", reply(400, {
        "error": "Minimum runtime not met",
        "message": "Instance must run for at least 20 minutes. Time remaining: 7 minutes.",
        "canTerminate": False, "timeRemaining": 7, "minimumRuntime": 20}),
        reply(200, {"message": "Instance terminated successfully.",
                    "deployment": {"id": "d-1", "status": "terminated"}}))
    client = api.client()
    check = client.can_terminate("d-1")
    assert check.can_terminate and not check.checked and "pre-check failed" in check.reason
    with pytest.raises(MinimumRuntimeError) as info:
        client.terminate("d-1")
    assert "7 more minutes" in info.value.message
    assert client.terminate("d-1").status == "terminated"


def test_can_terminate_that_answers_is_still_used():
    api = ScriptedApi().on("GET", "/api/deployments/d-1/can-terminate",
                           reply(200, {"canTerminate": False, "timeRemaining": 3}))
    check = api.client().can_terminate("d-1")
    assert check.checked and not check.can_terminate and check.time_remaining == 3


def test_retry_notices_come_after_a_few_seconds_with_the_attempt():
    api = ScriptedApi().on("GET", "/api/deployments/d-1", reply(503), reply(503), reply(503),
                           reply(200, instance("d-1", "x", status="running")))
    notices = []
    client = api.client(on_retry=notices.append,
                        retry=RetryPolicy(attempts=5, base_delay=2.0, notice_after=3.0))
    assert client.get_instance("d-1").status == "running"
    # The first retry (after ~1-2 s) is a blip and stays silent; the later ones are told.
    assert [n.text for n in notices] == [
        "Spheron API slow/unavailable, retrying (3/5)…",
        "Spheron API slow/unavailable, retrying (4/5)…"]


def test_budget_waits_when_the_window_is_full_and_tells_once():
    clock = FakeClock()
    budget = RequestBudget(10, 60, clock=clock)  # 90% share: 9 requests per minute
    told = []
    for _ in range(9):
        budget.take(lambda s, r: told.append((s, r)))
    assert clock.sleeps == [] and budget.used() == 9
    budget.take(lambda s, r: told.append((s, r)))
    assert clock.sleeps == [60.0] and told == [(60.0, "request budget")]


def test_a_429_blocks_every_request_of_the_budget():
    clock = FakeClock()
    budget = RequestBudget(100, 900, clock=clock)
    budget.block_for(90)
    budget.take()
    assert clock.sleeps == [90.0]


def test_budget_follows_the_limit_the_server_announces():
    budget = RequestBudget(clock=FakeClock())
    budget.adopt({"ratelimit-policy": "250;w=900"})
    assert (budget.limit, budget.window) == (250, 900.0)
    budget.adopt({"ratelimit-policy": "nonsense"})
    assert budget.limit == 250


def test_one_budget_is_shared_by_threads_and_never_exceeded():
    clock = FakeClock()
    budget = RequestBudget(20, 900, clock=clock)
    lock = threading.Lock()

    def worker():
        for _ in range(6):
            with lock:  # the fake clock is not thread-safe; the budget's own lock is tested
                budget.take()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 18 requests, 18 allowed per window (90% of 20): nobody had to wait.
    assert budget.used() == 18 and clock.sleeps == []
    budget.take()
    assert clock.sleeps and clock.sleeps[0] == pytest.approx(900.0)


def test_clients_on_the_same_host_share_one_budget():
    from spheron_jupyter.client import SpheronClient, shared_budget

    a = SpheronClient("http://127.0.0.1:9", "k")
    b = SpheronClient("http://127.0.0.1:9/", "k")
    assert a.pacing is b.pacing is shared_budget("http://127.0.0.1:9")
    assert SpheronClient("http://127.0.0.1:10", "k").pacing is not a.pacing
