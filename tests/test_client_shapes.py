"""The live service's alternative answer shapes (docs/spheron-api.md) are all read.

fake: every test here uses ScriptedApi, standing in for the live service's shape variants
(bare arrays versus each envelope key, older single fields, unknown values), which the
emulator answers in one spelling only.
"""

from __future__ import annotations

import pytest

from spheron_jupyter.client import USER_AGENT, GpuGroup, Instance, Offer, UnexpectedResponseError
from tests.support.client_fakes import KEY, ScriptedApi, group, instance, offer, reply

INSTANCES = [instance("d-1", "sj-a"), instance("d-2", "sj-b", status="running")]


@pytest.mark.parametrize(
    "payload",
    [
        INSTANCES,
        {"data": INSTANCES, "total": 2, "page": 1, "limit": 100, "totalPages": 1},
        {"deployments": INSTANCES},
        {"data": {"deployments": INSTANCES, "total": 2}},
        {"success": True, "deployments": INSTANCES, "pagination": {"total": 2, "page": 1}},
    ],
    ids=["bare", "data", "deployments", "nested-data", "pagination-object"],
)
def test_instance_list_in_every_envelope(payload):
    """fake: stands in for the live service's list envelopes."""
    api = ScriptedApi().on("GET", "/api/deployments", reply(200, payload))
    listed = api.client().list_instances(status="active")
    assert [i.id for i in listed] == ["d-1", "d-2"]
    query = api.calls("GET", "/api/deployments")[0].url.params
    assert query["teamId"] == "team-personal" and query["status"] == "active"


def test_offer_catalog_pages_until_total_pages():
    """fake: stands in for the live service's paginated gpu-offers envelope."""
    pages = [reply(200, {"data": [group(f"g{p}", f"G{p}", offer(f"o{p}"))], "total": 3,
                         "page": p, "limit": 1, "totalPages": 3}) for p in (1, 2, 3)]
    api = ScriptedApi().on("GET", "/api/gpu-offers", *pages)
    groups = api.client(page_size=1).gpu_offers(search="h100", sort_by="lowestPrice")
    assert [g.gpu_type for g in groups] == ["g1", "g2", "g3"]
    sent = [dict(r.url.params) for r in api.calls("GET", "/api/gpu-offers")]
    assert [s["page"] for s in sent] == ["1", "2", "3"]
    assert sent[0] == {"search": "h100", "sortBy": "lowestPrice", "page": "1", "limit": "1"}


def test_bare_array_catalog_and_a_server_that_ignores_paging():
    """fake: stands in for a live service answering a bare array regardless of `page`."""
    same = reply(200, [group("l4", "L4", offer("a")), group("t4", "T4", offer("b"))])
    api = ScriptedApi().on("GET", "/api/gpu-offers", same)
    groups = api.client(page_size=2).gpu_offers()
    assert [g.gpu_type for g in groups] == ["l4", "t4"]
    assert len(api.calls("GET", "/api/gpu-offers")) == 2  # page 2 repeated page 1: stop


def test_offer_fields_missing_extra_and_older_spellings():
    """fake: stands in for the live service's older and partial offer entries."""
    raw = {"offerId": 17, "gpuCount": 0, "region": "FIN-01", "tier": "spot",
           "brandNewField": {"x": 1}, "available": None, "supportsCloudInit": None}
    entry = Offer.model_validate(raw)
    assert entry.offer_id == "17" and entry.gpu_count == 0
    assert entry.regions == ["FIN-01"] and entry.kind == "spot" and entry.instance_type == "SPOT"
    assert entry.model_extra["brandNewField"] == {"x": 1} and entry.model_extra["tier"] == "spot"
    assert entry.available and not entry.supports_cloud_init and entry.hourly_price is None
    grouped = GpuGroup.model_validate({"gpuType": "cpu", "offers": None, "whatever": 1})
    assert grouped.offers == [] and grouped.model_extra == {"whatever": 1}


def test_odd_extras_and_types_still_give_a_kind():
    """Model parsing only (no network): extras of any shape must not break the offer's kind."""
    odd = Offer.model_validate(offer("x", extras={"deployment_type": {"kind": "vm"}},
                                     instanceType=None, gpuType="H100 SXM5 Bare-Metal"))
    assert odd.kind == "baremetal"
    cluster = Offer.model_validate(offer("y", extras={"deployment_type": "Cluster"}))
    assert cluster.kind == "cluster"
    assert Offer.model_validate(offer("z", clusters=[], region="FIN-01")).region_keys == {"fin-01"}


def test_discounted_price_wins_and_clusters_may_be_objects():
    entry = Offer.model_validate(offer("x", price=2.0, originalPrice=2.0, discountedPrice=1.7,
                                       clusters=[{"id": "us-east-1"}, "us-west-1"]))
    assert entry.hourly_price == 1.7
    assert entry.regions == ["us-east-1", "us-west-1"]


def test_instance_unknown_status_missing_fields_and_extras():
    got = Instance.model_validate({"id": 9, "status": "hibernating", "flavour": "new",
                                   "createdAt": "not a date", "sshPort": None})
    assert got.id == "9" and got.status == "hibernating"
    # Unknown status: shown as is and counted as billing (client/statuses.py).
    assert got.is_billing and got.is_active and not got.is_terminal
    assert got.model_extra == {"flavour": "new"} and got.created_at is None and got.ssh_port == 22
    assert got.ssh_command is None and got.user is None


@pytest.mark.parametrize("wrap", [lambda d: d, lambda d: {"deployment": d},
                                  lambda d: {"data": d, "success": True}])
def test_single_instance_bare_or_wrapped(wrap):
    """fake: stands in for the live service's object envelopes."""
    api = ScriptedApi().on("GET", "/api/deployments/d-1", reply(200, wrap(instance("d-1", "x"))))
    assert api.client().get_instance("d-1").name == "x"


@pytest.mark.parametrize(
    "answer, status",
    [(reply(200), "terminated"), (reply(204), "terminated"),
     (reply(200, {"message": "Deployment terminated", "deployment":
                  {"id": "d-1", "status": "terminated", "stoppedAt": "2026-11-22T11:00:00Z"}}),
      "terminated"),
     (reply(202, {"message": "Termination scheduled", "deployment": {"id": "d-1",
                                                                    "status": "terminating"}}),
      "terminating")],
)
def test_terminate_answers(answer, status):
    """fake: stands in for the live service's two documented DELETE answers and 202/204."""
    api = ScriptedApi().on("DELETE", "/api/deployments/d-1", answer)
    result = api.client().terminate("d-1")
    assert (result.instance_id, result.status) == ("d-1", status)


@pytest.mark.parametrize(
    "path, method_name, payload",
    [
        ("/api/ssh-keys", "ssh_keys", [{"id": "k1", "name": "laptop", "publicKey": "ssh-ed25519 A"}]),
        ("/api/ssh-keys", "ssh_keys", {"sshKeys": [{"id": "k1", "name": "laptop"}]}),
        ("/api/ssh-keys", "ssh_keys", {"data": [{"_id": "k1", "name": "laptop"}]}),
        ("/api/volumes", "volumes", {"volumes": [{"id": "k1", "sizeInGb": 100}], "total": 1}),
        ("/api/volumes", "volumes", [{"id": "k1", "size": 100, "attachedTo": ["d-1"]}]),
        ("/api/teams", "teams", [{"id": "k1", "name": "Personal"}]),
        ("/api/teams", "teams", {"teams": [{"teamId": "k1", "teamName": "Personal"}]}),
        ("/api/teams", "teams", {"data": [{"id": "k1", "name": "Personal"}]}),
    ],
)
def test_lists_under_every_documented_key(path, method_name, payload):
    """fake: stands in for the live service's per-route list envelopes."""
    api = ScriptedApi().on("GET", path, reply(200, payload))
    items = getattr(api.client(), method_name)()
    assert [i.id for i in items] == ["k1"]


def test_teams_fall_back_to_balance_when_route_is_missing():
    """fake: stands in for a live deployment without /api/teams."""
    teams = ScriptedApi().client().teams()
    assert [(t.id, t.name, t.is_current) for t in teams] == [
        ("team-personal", "Personal", True), ("team-lab", "Research Lab", False)]


def test_volume_attachment_field_and_regions_and_pricing_shapes():
    """fake: stands in for the live service's unverified volume answers."""
    api = (ScriptedApi()
           .on("GET", "/api/volumes/v1", reply(200, {"volume": {"id": "v1", "deploymentIds": ["d-9"]}}))
           .on("GET", "/api/volumes/regions", reply(200, {"data": [
               {"provider": "voltage-park", "regions": ["dallas-tx-1"]},
               {"provider": "data-crunch", "regions": [{"id": "FIN-01"}, "FIN-02"]}]}))
           .on("GET", "/api/volumes/pricing", reply(200, {"hourlyRatePerGb": 0.000109})))
    client = api.client()
    assert client.get_volume("v1").attached_instance_ids == ["d-9"]
    assert client.volume_regions() == {"voltage-park": ["dallas-tx-1"],
                                       "data-crunch": ["FIN-01", "FIN-02"]}
    assert client.volume_pricing("data-crunch", "FIN-01").hourly_rate_per_gb == 0.000109
    assert dict(api.calls("GET", "/api/volumes/pricing")[0].url.params) == {
        "provider": "data-crunch", "region": "FIN-01"}


def test_providers_as_strings_or_objects():
    """fake: stands in for the live providers route (bare array of slugs)."""
    api = ScriptedApi().on("GET", "/api/providers",
                           reply(200, ["spheron-ai", "verda", {"slug": "brand-new"}]))
    assert api.client().providers() == ["spheron-ai", "verda", "brand-new"]


def test_headers_user_agent_bearer_and_team_sent_with_ssh_key():
    """fake: stands in for the live service to inspect what goes on the wire."""
    api = ScriptedApi().on("POST", "/api/ssh-keys", reply(201, {"sshKey": {"id": "k9", "name": "n"}}))
    assert api.client().add_ssh_key("n", "ssh-ed25519 AAAA me\n").id == "k9"
    sent = api.calls("POST", "/api/ssh-keys")[0]
    assert sent.headers["user-agent"] == USER_AGENT and USER_AGENT.startswith("spheron-jupyter/")
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert api.body(sent) == {"name": "n", "publicKey": "ssh-ed25519 AAAA me", "teamId": "team-personal"}


def test_explicit_team_skips_balance_lookup():
    """fake: stands in for the live service to count requests."""
    api = ScriptedApi().on("GET", "/api/deployments", reply(200, []))
    api.client(team_id="team-lab").list_instances()
    assert api.calls("GET", "/api/balance") == []
    assert api.calls("GET", "/api/deployments")[0].url.params["teamId"] == "team-lab"


def test_public_routes_need_no_key():
    """fake: stands in for the live service's unauthenticated catalog."""
    import httpx

    from spheron_jupyter.client import SpheronClient

    api = ScriptedApi().on("GET", "/api/providers", reply(200, ["spheron-ai"]))
    client = SpheronClient("https://api.spheron.test", None, transport=httpx.MockTransport(api.handle))
    assert client.providers() == ["spheron-ai"]
    assert "authorization" not in api.requests[0].headers


def test_a_list_answer_that_is_not_a_list_is_a_clear_error():
    """fake: stands in for a live service whose shape changed."""
    api = ScriptedApi().on("GET", "/api/ssh-keys", reply(200, {"message": "hello"}))
    with pytest.raises(UnexpectedResponseError, match="where a list was expected"):
        api.client().ssh_keys()
