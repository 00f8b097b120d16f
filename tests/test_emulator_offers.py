"""The emulator's catalog over real HTTP: providers, the offer envelope, paging, search, sorting."""

from __future__ import annotations

import httpx

from spheron_jupyter.emulator.catalog import generate_offers
from tests.fixtures.emulator import all_offers

PROVIDERS = {"spheron-ai", "voltage-park", "data-crunch", "verda", "massed-compute", "sesterce",
             "tensordock", "spheron-es", "spheron-am"}


def test_providers_is_a_bare_array_without_auth(emulator):
    response = httpx.get(emulator.url + "/api/providers")
    assert response.status_code == 200
    assert set(response.json()) == PROVIDERS


def test_offers_need_no_auth_but_refuse_a_wrong_key(emulator):
    anonymous = httpx.get(emulator.url + "/api/gpu-offers")
    assert anonymous.status_code == 200
    assert "originalPrice" not in anonymous.json()["data"][0]["offers"][0]
    wrong = httpx.get(emulator.url + "/api/gpu-offers", headers={"Authorization": "Bearer sai_pk_x"})
    assert wrong.status_code == 401
    assert wrong.json()["message"]


def test_authenticated_offers_carry_team_price_fields(emulator_client):
    offer = emulator_client.get("/api/gpu-offers").json()["data"][0]["offers"][0]
    assert offer["originalPrice"] == offer["price"]
    assert offer["discountedPrice"] <= offer["price"]


def test_envelope_and_default_limit(emulator_client):
    envelope = emulator_client.get("/api/gpu-offers").json()
    assert set(envelope) == {"data", "total", "page", "limit", "totalPages"}
    assert envelope["page"] == 1 and envelope["limit"] == 10 and len(envelope["data"]) == 10
    assert envelope["totalPages"] == -(-envelope["total"] // 10)
    group = envelope["data"][0]
    for field in ("gpuType", "gpuModel", "baseGpuType", "displayName", "popularity",
                  "totalAvailable", "lowestPrice", "highestPrice", "averagePrice", "providers",
                  "interconnectVariants", "hasMultipleVariants", "offers"):
        assert field in group
    assert group["lowestPrice"] == min(o["price"] for o in group["offers"])


def test_paging_reaches_every_offer_exactly_once(emulator_client):
    offers = all_offers(emulator_client)
    assert len(offers) == len(generate_offers())
    assert len({o["offerId"] for o in offers}) == len(offers)


def test_catalog_is_the_same_in_every_process(emulator_client):
    """The emulator process serves exactly what this process generates: same ids, same prices."""
    served = {o["offerId"]: (o["gpuType"], o["price"], o["available"], o["clusters"])
              for o in all_offers(emulator_client)}
    here = {o["offerId"]: (o["gpuType"], o["price"], o["available"], o["clusters"])
            for o in generate_offers()}
    assert served == here


def test_catalog_size_and_coverage(emulator_client):
    offers = all_offers(emulator_client)
    assert len(offers) >= 200
    gpu_types = {o["gpuType"] for o in offers}
    base_types = {t.removesuffix("_BAREMETAL") for t in gpu_types} - {"CPU"}
    assert len(base_types) >= 20
    # The live spellings (tests/data/live/README.md): upper case with underscores.
    for expected in ("H100_PCIE", "H100_SXM5", "H200_SXM5", "B200_SXM6", "A100_80G", "A100_40G",
                     "L40S_PCIE", "L40_PCIE", "A6000_PCIE", "A5000_PCIE", "A4000_PCIE",
                     "RTX4090_PCIE", "RTX3090_PCIE", "RTX5090_PCIE", "L4_PCIE", "A10_PCIE",
                     "V100", "T4_PCIE", "GH200", "RTX6000ADA_PCIE", "A40_PCIE", "MI300X"):
        assert expected in gpu_types
    assert {o["provider"] for o in offers} == PROVIDERS
    assert {o["instanceType"] for o in offers} == {"SPOT", "DEDICATED", "CLUSTER"}
    assert all("spot_price" in o for o in offers if o["instanceType"] == "SPOT")
    assert any(o["gpuType"].endswith("_BAREMETAL") and "BAREMETAL" in o["gpuModel"] for o in offers)
    clusters = [o for o in offers if o["instanceType"] == "CLUSTER"]
    assert clusters and all(o["provider"] == "voltage-park" and o["gpuCount"] == 8
                            and o["gpuType"] == "H100_SXM5"
                            and o["extras"]["deployment_type"] == "cluster"
                            and "kubernetes_addon" in o["extras"] for o in clusters)
    cloud_init = sum(o["supportsCloudInit"] for o in offers) / len(offers)
    assert 0.35 < cloud_init < 0.65
    # Live: `available` is true everywhere, also on the offers in maintenance (about a third).
    assert all(o["available"] for o in offers)
    assert 0.2 < sum(o["maintenance"] for o in offers) / len(offers) < 0.4
    assert any(o["gpuCount"] == 0 for o in offers)
    assert any(o.get("minimumRuntimeMinutes") for o in offers)
    os_options = {os for o in offers for os in o["os_options"]}
    assert "Ubuntu 24.04 LTS (CUDA 13)" in os_options
    assert "Ubuntu Server 22.04 LTS R570 CUDA 12.8" in os_options
    regions = {r for o in offers for r in o["clusters"]}
    assert len(regions) >= 8
    # Free text and a routing prefix, as clients saw them live.
    assert {"166e655a:culpeper-usa-1", "Finland 3", "EU North 1"} <= regions
    for offer in offers:
        assert offer["region"] in offer["clusters"]
        assert offer["price"] > 0


def test_catalog_is_deterministic():
    assert generate_offers() == generate_offers()


def test_search_matches_gpu_model_text(emulator_client):
    groups = emulator_client.get("/api/gpu-offers", params={"search": "H100", "limit": 50}).json()["data"]
    assert {g["gpuType"] for g in groups} == {"H100_PCIE", "H100_SXM5", "H100_SXM5_BAREMETAL"}
    spaced = emulator_client.get("/api/gpu-offers", params={"search": "RTX 4090"}).json()["data"]
    assert {g["baseGpuType"] for g in spaced} == {"RTX4090_PCIE"}
    assert emulator_client.get("/api/gpu-offers", params={"search": "nope"}).json()["total"] == 0


def test_sort_by_price_both_ways(emulator_client):
    def lowest(order, sort_by="lowestPrice"):
        data = emulator_client.get("/api/gpu-offers", params={
            "sortBy": sort_by, "sortOrder": order, "limit": 100}).json()["data"]
        return [g["lowestPrice"] for g in data]

    ascending = lowest("asc")
    assert ascending == sorted(ascending) and len(ascending) > 20
    assert lowest("desc") == sorted(ascending, reverse=True)
    highest = [g["highestPrice"] for g in emulator_client.get("/api/gpu-offers", params={
        "sortBy": "highestPrice", "sortOrder": "desc", "limit": 100}).json()["data"]]
    assert highest == sorted(highest, reverse=True)
    popularity = [g["popularity"] for g in emulator_client.get(
        "/api/gpu-offers", params={"limit": 100}).json()["data"]]
    assert popularity == sorted(popularity, reverse=True)


def test_instance_type_filter(emulator_client):
    for kind in ("SPOT", "DEDICATED", "CLUSTER"):
        offers = all_offers(emulator_client, instanceType=kind)
        assert offers and {o["instanceType"] for o in offers} == {kind}
    bare = all_offers(emulator_client, instanceType="BAREMETAL")
    assert bare and all(o["gpuType"].endswith("_BAREMETAL") for o in bare)
    assert all_offers(emulator_client, instanceType="BARE_METAL") == bare  # docs.spheron.network


def test_bad_query_parameters_are_400s_that_say_why(emulator_client):
    for params, word in (({"page": "0"}, "page"), ({"limit": "x"}, "limit"),
                         ({"sortBy": "vibes"}, "sortBy"), ({"sortOrder": "up"}, "sortOrder"),
                         ({"instanceType": "FAST"}, "instanceType")):
        response = emulator_client.get("/api/gpu-offers", params=params)
        assert response.status_code == 400
        assert word in response.json()["message"]


def test_unknown_route_and_method(emulator_client):
    assert emulator_client.get("/api/nothing-here").status_code == 404
    assert emulator_client.put("/api/gpu-offers").status_code == 405
