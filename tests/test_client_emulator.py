"""The client against the embedded emulator, a separate process, over real HTTP.

Every route the client has, the documented error bodies, paging through the whole catalog,
and the emulator's faults (429/5xx/dropped answers, a create whose answer is lost).  Nothing
here is a test double: the retry clock is the only thing replaced, so no test really sleeps
through a backoff.
"""

from __future__ import annotations

import logging
import re
import time

import httpx
import pytest

from spheron_jupyter.client import (AlreadyTerminatedError, AuthenticationError, CreateRequest,
                                    InsufficientBalanceError, InvalidRequestError,
                                    MinimumRuntimeError, NotFoundError, OfferError, OfferQuery,
                                    RateLimitedError, SpheronClient, UnknownGpuError,
                                    offer_to_create_request)
from tests.fixtures.emulator import TEST_PUBLIC_KEY, all_offers
from tests.support.client_fakes import FakeClock


def client_for(emu, **kwargs) -> SpheronClient:
    kwargs.setdefault("clock", FakeClock())
    return SpheronClient(emu.url, emu.api_key, timeout=10.0, **kwargs)


def emulator_state(emu) -> dict:
    return httpx.get(f"{emu.url}/_emulator/state",
                     headers={"Authorization": f"Bearer {emu.api_key}"}, timeout=10).json()


def cheapest(client, **query) -> object:
    """The cheapest offer without a long provider minimum (the emulator's minimum is short)."""
    offers = client.find_offers(OfferQuery(**query))
    return next(o for o in offers if not o.minimum_runtime_minutes)


def wait_until(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


def test_catalog_pages_completely_and_matches_raw_http(emulator, emulator_client):
    client = client_for(emulator, page_size=7)
    groups = client.gpu_offers()
    offers = [o for g in groups for o in g.offers]
    raw = all_offers(emulator_client)
    assert sorted(o.offer_id for o in offers) == sorted(o["offerId"] for o in raw)
    assert len(offers) >= 200 and len(groups) >= 20
    assert all(o.gpu_type == g.gpu_type for g in groups for o in g.offers)
    assert len(client.providers()) >= 6


def test_search_and_server_side_query_are_passed_through(emulator):
    client = client_for(emulator)
    groups = client.gpu_offers(search="h100", instance_type="CLUSTER")
    offers = [o for g in groups for o in g.offers]
    assert offers and all(o.instance_type == "CLUSTER" for o in offers)
    assert all("H100" in (g.gpu_type or "") for g in groups)


def test_offer_selection_on_the_real_catalog(emulator):
    client = client_for(emulator)
    for query in (OfferQuery(gpu="H100 SXM5", type="cluster"), OfferQuery(gpu="rtx 4090", count=1),
                  OfferQuery(type="spot", max_price=1.0), OfferQuery(type="baremetal"),
                  OfferQuery(provider="data-crunch", region="FIN-01", min_vram=40)):
        found = client.find_offers(query)
        assert found, query
        assert all(o.usable for o in found)
        if query.type:
            assert {o.kind for o in found} == {query.type}
        if query.max_price is not None:
            assert all(o.hourly_price <= query.max_price for o in found)
        if query.region:
            assert all("FIN-01" in o.regions and (o.gpu_memory or 0) >= 40
                       and o.provider == "data-crunch" for o in found)
        if query.count is not None:
            assert all(o.gpu_count == query.count for o in found)
        prices = [o.hourly_price for o in found]
        assert prices == sorted(prices)
    spellings = [client.find_offers(OfferQuery(gpu=g)) for g in ("RTX4090", "rtx-4090", "RTX 4090")]
    assert spellings[0] and spellings[0] == spellings[1] == spellings[2]
    assert all(o.gpu_type.startswith("RTX4090_") for o in spellings[0])
    with pytest.raises(UnknownGpuError, match="'H900'"):
        client.find_offers(OfferQuery(gpu="H900"))


def test_teams_balance_and_team_scoping(emulator):
    client = client_for(emulator)
    current = client.current_team()
    assert (current.team_name, current.role, current.balance) == ("Personal", "owner", 250.0)
    teams = {t.name: t for t in client.teams()}
    assert set(teams) == {"Personal", "Research Lab"}
    assert client.resolve_team_id() == current.team_id
    client.use_team(teams["Research Lab"].id)
    assert client.resolve_team_id() == teams["Research Lab"].id
    assert client.list_instances() == []


def test_instance_lifecycle(emulator_factory, caplog):
    caplog.set_level(logging.DEBUG)
    emu = emulator_factory(minimum_runtime="1s")
    client = client_for(emu)
    key = client.add_ssh_key("laptop", TEST_PUBLIC_KEY)
    assert key.id in {k.id for k in client.ssh_keys()}
    assert client.get_ssh_key(key.id).name == "laptop"

    offer = cheapest(client, gpu="RTX 4090", type="dedicated")
    created = client.create_instance(offer_to_create_request(offer, ssh_key_id=key.id))
    assert re.fullmatch(r"sj-rtx4090-pcie-[0-9a-f]{8}", created.name)
    assert created.status == "deploying" and created.gpu_count == offer.gpu_count

    assert [i.id for i in client.list_instances(status="active")] == [created.id]
    renamed = client.rename_instance(created.id, "my-experiment")
    assert renamed.name == "my-experiment" and client.get_instance(created.id).name == "my-experiment"
    wait_until(lambda: client.get_instance(created.id).status == "running")
    running = client.get_instance(created.id)
    assert running.ip_address and running.user and running.ssh_port

    with pytest.raises(MinimumRuntimeError) as early:
        client.terminate(created.id)
    assert early.value.minutes_remaining == 1 and early.value.minimum_runtime == 1
    wait_until(lambda: client.can_terminate(created.id).can_terminate)
    result = client.terminate(created.id)
    assert (result.instance_id, result.status) == (created.id, "terminated")
    assert result.stopped_at is not None
    with pytest.raises(AlreadyTerminatedError) as again:
        client.terminate(created.id)
    assert again.value.current_status == "terminated"
    assert client.list_instances(status="active") == []
    assert [i.id for i in client.list_instances(status="inactive")] == [created.id]

    client.delete_ssh_key(key.id)
    with pytest.raises(NotFoundError) as gone:
        client.get_ssh_key(key.id)
    texts = [str(early.value), str(again.value), str(gone.value), repr(client), repr(running)]
    texts += [r.getMessage() for r in caplog.records]
    assert caplog.records and not [t for t in texts if emu.api_key in t]


def test_can_terminate_reports_minutes_remaining(emulator_factory):
    emu = emulator_factory(minimum_runtime="20m")
    client = client_for(emu)
    offer = cheapest(client, type="spot")
    created = client.create_instance(offer_to_create_request(
        offer, name="spot-run", ssh_public_key=TEST_PUBLIC_KEY))
    check = client.can_terminate(created.id)
    assert not check.can_terminate and check.time_remaining == 20 and check.minimum_runtime == 20
    with pytest.raises(MinimumRuntimeError, match="20 more minutes") as info:
        client.terminate(created.id)
    assert info.value.minutes_remaining == 20
    assert emulator_state(emu)["instancesTotal"] == 1


def test_wrong_key_unknown_ids_and_bad_creates(emulator):
    wrong = SpheronClient(emulator.url, "sai_pk_wrong_key_0123456789abcdef", clock=FakeClock())
    with pytest.raises(AuthenticationError) as info:
        wrong.list_instances()
    assert info.value.status == 401 and "sai_pk_wrong_key_0123456789abcdef" not in str(info.value)

    client = client_for(emulator)
    with pytest.raises(NotFoundError):
        client.get_instance("no-such-instance")
    with pytest.raises(NotFoundError):
        client.get_volume("no-such-volume")

    offer = cheapest(client, gpu="H100")
    before = emulator_state(emulator)["instancesTotal"]
    mismatched = offer_to_create_request(offer, ssh_public_key=TEST_PUBLIC_KEY).model_copy(
        update={"gpu_count": offer.gpu_count + 3})
    with pytest.raises(InvalidRequestError):
        client.create_instance(mismatched)
    with pytest.raises(OfferError):
        OfferQuery(gpu="H100", count=-1)
    with pytest.raises(InvalidRequestError):
        client.create_instance(CreateRequest(provider="nobody", offer_id="x", gpu_type="h100",
                                             gpu_count=1, region="nowhere",
                                             ssh_public_key=TEST_PUBLIC_KEY))
    assert emulator_state(emulator)["instancesTotal"] == before


def admin_post(emu, path: str, body: dict) -> httpx.Response:
    return httpx.post(f"{emu.url}{path}", json=body, timeout=10,
                      headers={"Authorization": f"Bearer {emu.api_key}"})


def test_insufficient_balance_creates_nothing(emulator):
    client = client_for(emulator)
    team = client.current_team()
    assert admin_post(emulator, f"/_emulator/teams/{team.team_id}/credit",
                      {"amount": -team.balance}).status_code == 200
    offer = cheapest(client, gpu="H100")
    with pytest.raises(InsufficientBalanceError, match="balance does not cover"):
        client.create_instance(offer_to_create_request(offer, ssh_public_key=TEST_PUBLIC_KEY))
    assert emulator_state(emulator)["instancesTotal"] == 0


def test_create_rate_limit_is_reported_not_retried(emulator):
    client = client_for(emulator)
    offer = cheapest(client, gpu="T4")
    request = offer_to_create_request(offer, ssh_public_key=TEST_PUBLIC_KEY)
    for _ in range(10):
        client.create_instance(request)
    with pytest.raises(RateLimitedError) as info:
        client.create_instance(request)
    assert info.value.code == "RATE_LIMIT_EXCEEDED" and 0 < info.value.retry_after <= 900
    assert emulator_state(emulator)["instancesTotal"] == 10
    assert client._core.clock.sleeps == []
    # The instance list pages through the emulator's envelope (totalPages) like the catalog.
    paged = client_for(emulator, page_size=3).list_instances()
    assert len({i.id for i in paged}) == 10 and {i.id for i in paged} == {
        i.id for i in client.list_instances()}


def test_lost_create_answer_ends_with_exactly_one_instance(emulator_factory):
    emu = emulator_factory(faults="lose-create*1")
    client = client_for(emu)
    offer = cheapest(client, gpu="L4")
    created = client.create_instance(offer_to_create_request(offer, ssh_public_key=TEST_PUBLIC_KEY))
    state = emulator_state(emu)
    assert state["instancesTotal"] == 1 and state["createsInWindow"] == 1
    assert [i.id for i in client.list_instances()] == [created.id]


def test_rate_limits_5xx_and_drops_are_retried_honouring_retry_after(emulator_factory):
    emu = emulator_factory(faults="429=3s@/api/gpu-offers*1,503@GET /api/balance*1,"
                                  "drop@GET /api/providers*1")
    clock = FakeClock()
    client = client_for(emu, clock=clock)
    assert len(client.gpu_offers()) >= 20
    assert clock.sleeps[0] >= 3  # the 429's retryAfter is the floor of the wait
    assert client.current_team().team_name == "Personal"
    assert len(client.providers()) >= 6
    assert len(clock.sleeps) == 3
    assert [f["remaining"] for f in emulator_state(emu)["faults"]] == [0, 0, 0]


def test_volumes(emulator_factory):
    emu = emulator_factory(minimum_runtime="1s")
    client = client_for(emu)
    regions = client.volume_regions()
    assert "FIN-01" in regions["data-crunch"] and "dallas-tx-1" in regions["voltage-park"]
    assert client.volume_pricing("data-crunch", "FIN-01").hourly_rate_per_gb > 0

    volume = client.create_volume("datasets", 100, "data-crunch", "FIN-01")
    assert (volume.provider, volume.region, volume.size_in_gb) == ("data-crunch", "FIN-01", 100)
    assert [v.id for v in client.volumes()] == [volume.id]
    assert client.update_volume(volume.id, name="datasets-2", size_gb=200).size_in_gb == 200
    assert client.get_volume(volume.id).name == "datasets-2"

    offer = cheapest(client, provider="data-crunch", region="FIN-01")
    created = client.create_instance(offer_to_create_request(
        offer, region="FIN-01", ssh_public_key=TEST_PUBLIC_KEY))
    attached = client.attach_volume(volume.id, created.id)
    assert attached.attached_instance_ids == [created.id]
    detached = client.detach_volume(volume.id, created.id)
    assert detached.attached_instance_ids == []
    with pytest.raises(InvalidRequestError, match="at most 10 TB"):
        client.create_volume("huge", 20_000, "data-crunch", "FIN-01")
    client.delete_volume(volume.id)
    assert client.volumes() == []


def test_kubernetes_routes(emulator):
    client = client_for(emulator)
    assert client.kubernetes_versions("voltage-park")[0] == "1.31.1"
    with pytest.raises(InvalidRequestError, match="voltage-park"):
        client.kubernetes_versions("tensordock")
    with pytest.raises(NotFoundError):
        client.kubernetes_health("no-such-cluster")


def one_line(err: BaseException, api_key: str) -> str:
    text = str(err)
    assert "\n" not in text and text.endswith(".") and api_key not in text, text
    return text


def test_every_documented_error_body_through_the_client(emulator_factory):
    """Each error body of the emulator becomes its typed error, one sentence, nothing created."""
    emu = emulator_factory(minimum_runtime="20m")
    client = client_for(emu)
    offer = cheapest(client, gpu="RTX 4090", type="dedicated")
    good = offer_to_create_request(offer, ssh_public_key=TEST_PUBLIC_KEY)

    # The client always sends the team; without it the service answers this documented 400.
    body = good.model_copy(update={"name": "no-team"}).to_body()
    with pytest.raises(InvalidRequestError) as no_team:
        client._call("POST", "/api/deployments", body=body, what="a create without a team",
                     retry=False)
    assert "Team ID is required for authenticated deployments" in one_line(no_team.value, emu.api_key)
    missing = CreateRequest(provider=offer.provider, offer_id=offer.offer_id,
                            gpu_type=offer.gpu_type, gpu_count=offer.gpu_count,
                            region=offer.regions[0], ssh_public_key=TEST_PUBLIC_KEY)
    with pytest.raises(InvalidRequestError) as no_fields:
        client.create_instance(missing)
    assert "Missing required fields: operatingSystem, instanceType" in one_line(
        no_fields.value, emu.api_key)
    for field, value in (("gpu_count", offer.gpu_count + 3), ("region", "mars-1"),
                         ("provider", "voltage-park")):
        with pytest.raises(InvalidRequestError) as mixed:
            client.create_instance(good.model_copy(update={field: value}))
        assert f"does not match offer {offer.offer_id}" in one_line(mixed.value, emu.api_key)
    assert emulator_state(emu)["instancesTotal"] == 0

    created = client.create_instance(good)
    with pytest.raises(MinimumRuntimeError) as early:
        client.terminate(created.id)
    assert early.value.minutes_remaining in (19, 20) and early.value.minimum_runtime == 20
    one_line(early.value, emu.api_key)
    admin_post(emu, f"/_emulator/instances/{created.id}/reclaim", {})
    with pytest.raises(AlreadyTerminatedError) as gone:
        client.terminate(created.id)
    assert gone.value.current_status == "terminated-provider"
    for err in (gone.value, pytest.raises(NotFoundError, client.get_instance, "nope").value):
        one_line(err, emu.api_key)


def test_bad_input_is_one_clear_error_and_creates_nothing(emulator):
    client = client_for(emulator)
    before = emulator_state(emulator)["instancesTotal"]
    with pytest.raises(UnknownGpuError) as unknown:
        client.find_offers(gpu="quantum-9000")
    assert "'quantum-9000'" in one_line(unknown.value, emulator.api_key)
    # A known GPU with nothing under the price is an empty choice, not an error; the caller
    # (session.plan_launch) turns it into its one line, tested in test_magic_bad_input.py.
    assert client.find_offers(gpu="H100", max_price=0.01) == []
    with pytest.raises(OfferError) as negative:
        client.find_offers(gpu="H100", count=-1)
    assert "GPU count" in one_line(negative.value, emulator.api_key)
    wrong_key = "sai_pk_wrong_" + "z" * 30
    wrong = SpheronClient(emulator.url, wrong_key, clock=FakeClock(), team_id="team_x")
    offer = cheapest(client, gpu="RTX 4090")
    with pytest.raises(AuthenticationError) as refused:
        wrong.create_instance(offer_to_create_request(offer, ssh_public_key=TEST_PUBLIC_KEY))
    assert refused.value.status == 401
    one_line(refused.value, wrong_key)
    assert emulator_state(emulator)["instancesTotal"] == before


def test_offer_listing_survives_429_and_5xx(emulator_factory):
    emu = emulator_factory(faults="429=4s@/api/gpu-offers*1")
    clock = FakeClock()
    client = client_for(emu, clock=clock)
    assert client.find_offers(gpu="H100")
    assert len(clock.sleeps) == 1 and clock.sleeps[0] >= 4  # retryAfter is the floor
    admin_post(emu, "/_emulator/faults", {"spec": "503@GET /api/gpu-offers*2"})
    assert len(client.gpu_offers()) >= 20
    assert len(clock.sleeps) == 3
    assert all(f["remaining"] == 0 for f in emulator_state(emu)["faults"])


def test_retry_after_is_really_waited_for(emulator_factory):
    """The real clock: the second request leaves no sooner than retryAfter after the first."""
    emu = emulator_factory(faults="429=1s@/api/providers*1")
    client = SpheronClient(emu.url, emu.api_key, timeout=10.0)
    started = time.monotonic()
    assert len(client.providers()) >= 6
    assert time.monotonic() - started >= 1.0


def test_a_slow_answer_times_out_and_the_get_is_retried(emulator_factory):
    emu = emulator_factory(faults="slow=3s@GET /api/teams*1")
    clock = FakeClock()
    client = SpheronClient(emu.url, emu.api_key, timeout=0.5, clock=clock)
    started = time.monotonic()
    assert {t.name for t in client.teams()} == {"Personal", "Research Lab"}
    assert time.monotonic() - started < 3.0  # it did not wait for the slow answer
    assert len(clock.sleeps) == 1


def test_kubernetes_health_of_a_cluster(emulator):
    client = client_for(emulator)
    cluster = client.find_offers(type="cluster")[0]
    request = offer_to_create_request(cluster, ssh_public_key=TEST_PUBLIC_KEY).model_copy(
        update={"kubernetes_addon": {"version": "1.31.1"}})
    created = client.create_instance(request)
    wait_until(lambda: client.kubernetes_health(created.id).get("status") == "healthy")
    assert client.kubernetes_health(created.id)["version"] == "1.31.1"
