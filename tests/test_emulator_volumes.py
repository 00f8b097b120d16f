"""/api/volumes against the emulator: CRUD, pricing, regions and the attach rules per provider."""

from __future__ import annotations

import pytest

from tests.fixtures.emulator import create_body, current_team_id, pick_offer


@pytest.fixture
def team_id(emulator_client):
    return current_team_id(emulator_client)


def launch(client, team_id, provider, region, name="vm"):
    offer = pick_offer(client, provider=provider, region=region, instance_type="DEDICATED")
    response = client.post("/api/deployments", json=create_body(offer, team_id, name, region=region))
    assert response.status_code == 201, response.text
    return response.json()


def make_volume(client, provider, region, size=100, name="data"):
    response = client.post("/api/volumes", json={"name": name, "provider": provider,
                                                 "region": region, "sizeInGb": size})
    assert response.status_code == 201, response.text
    return response.json()


def attach(client, volume, instance, key="deploymentId"):
    return client.post(f"/api/volumes/{volume['id']}/attach", json={key: instance["id"]})


def test_volume_crud(emulator_client, team_id):
    volume = make_volume(emulator_client, "voltage-park", "dallas-tx-1", 500, "datasets")
    assert volume["status"] == "available" and volume["sizeInGb"] == 500 and volume["teamId"] == team_id
    assert volume["attachedTo"] == [] and volume["type"] == "NFS"
    assert emulator_client.get(f"/api/volumes/{volume['id']}").json()["name"] == "datasets"
    listing = emulator_client.get("/api/volumes").json()
    assert [v["id"] for v in listing["volumes"]] == [volume["id"]] and listing["total"] == 1
    grown = emulator_client.patch(f"/api/volumes/{volume['id']}", json={"sizeInGb": 800, "name": "big"})
    assert grown.status_code == 200 and grown.json()["sizeInGb"] == 800 and grown.json()["name"] == "big"
    shrink = emulator_client.patch(f"/api/volumes/{volume['id']}", json={"sizeInGb": 10})
    assert shrink.status_code == 400 and "grow" in shrink.json()["message"]
    assert emulator_client.delete(f"/api/volumes/{volume['id']}").json()["volume"]["status"] == "deleted"
    for method in ("GET", "PATCH", "DELETE"):
        assert emulator_client.request(method, f"/api/volumes/{volume['id']}", json={}).status_code == 404


def test_volume_create_refusals_name_the_rule(emulator_client):
    cases = [
        ({"provider": "tensordock", "sizeInGb": 10}, "does not support volumes"),
        ({"provider": "voltage-park", "region": "salt-lake-ut-1", "sizeInGb": 10}, "dallas-tx-1"),
        ({"provider": "data-crunch", "region": "ICE-01", "sizeInGb": 10}, "FIN-01"),
        ({"provider": "voltage-park", "region": "dallas-tx-1", "sizeInGb": 64_001}, "64 TB"),
        ({"provider": "data-crunch", "region": "FIN-01", "sizeInGb": 10_001}, "10 TB"),
        ({"provider": "data-crunch", "region": "FIN-01", "sizeInGb": -1}, "sizeInGb"),
        ({"provider": "data-crunch"}, "sizeInGb"),
        ({"sizeInGb": 5}, "provider"),
    ]
    for body, words in cases:
        response = emulator_client.post("/api/volumes", json=body)
        assert response.status_code == 400, body
        assert words in response.json()["message"], (body, response.json())
    assert emulator_client.post("/api/volumes", json={
        "provider": "voltage-park", "region": "dallas-tx-1", "sizeInGb": 64_000}).status_code == 201
    assert emulator_client.post("/api/volumes", json={
        "provider": "data-crunch", "region": "FIN-03", "sizeInGb": 10_000}).status_code == 201


def test_voltage_park_one_volume_per_instance(emulator_client, team_id):
    first_vm = launch(emulator_client, team_id, "voltage-park", "dallas-tx-1", "vp1")
    second_vm = launch(emulator_client, team_id, "voltage-park", "dallas-tx-1", "vp2")
    volume = make_volume(emulator_client, "voltage-park", "dallas-tx-1")
    other = make_volume(emulator_client, "voltage-park", "dallas-tx-1", name="other")
    attached = attach(emulator_client, volume, first_vm)
    assert attached.status_code == 200
    assert attached.json()["volume"]["attachedTo"] == [first_vm["id"]]
    assert attached.json()["volume"]["status"] == "attached"
    assert emulator_client.get(f"/api/deployments/{first_vm['id']}").json()["volumes"] == [volume["id"]]
    second_instance = attach(emulator_client, volume, second_vm)
    assert second_instance.status_code == 400 and "one instance" in second_instance.json()["message"]
    second_volume = attach(emulator_client, other, first_vm)
    assert second_volume.status_code == 400 and "one volume per instance" in second_volume.json()["message"]
    again = attach(emulator_client, volume, first_vm)
    assert again.status_code == 400 and "already attached" in again.json()["message"]
    in_use = emulator_client.delete(f"/api/volumes/{volume['id']}")
    assert in_use.status_code == 400 and "detach" in in_use.json()["message"]
    detached = emulator_client.post(f"/api/volumes/{volume['id']}/detach", json={"deploymentId": first_vm["id"]})
    assert detached.status_code == 200 and detached.json()["volume"]["attachedTo"] == []
    not_attached = emulator_client.post(f"/api/volumes/{volume['id']}/detach", json={"deploymentId": first_vm["id"]})
    assert not_attached.status_code == 400
    assert attach(emulator_client, volume, second_vm, key="instanceId").status_code == 200


def test_data_crunch_shares_within_one_region_only(emulator_client, team_id):
    vm_a = launch(emulator_client, team_id, "data-crunch", "FIN-01", "a")
    vm_b = launch(emulator_client, team_id, "data-crunch", "FIN-01", "b")
    vm_far = launch(emulator_client, team_id, "data-crunch", "FIN-02", "far")
    shared = make_volume(emulator_client, "data-crunch", "FIN-01")
    extra = make_volume(emulator_client, "data-crunch", "FIN-01", name="extra")
    assert attach(emulator_client, shared, vm_a).status_code == 200
    both = attach(emulator_client, shared, vm_b)
    assert both.status_code == 200 and set(both.json()["volume"]["attachedTo"]) == {vm_a["id"], vm_b["id"]}
    assert attach(emulator_client, extra, vm_a).status_code == 200  # several volumes are fine here
    far = attach(emulator_client, shared, vm_far)
    assert far.status_code == 400
    assert "FIN-01" in far.json()["message"] and "FIN-02" in far.json()["message"]
    assert "same region" in far.json()["message"]


def test_volumes_attach_only_to_their_provider_and_live_instances(emulator_client, team_id):
    volume = make_volume(emulator_client, "data-crunch", "FIN-01")
    elsewhere = launch(emulator_client, team_id, "spheron-ai", None)
    response = attach(emulator_client, volume, elsewhere)
    assert response.status_code == 400 and "spheron-ai" in response.json()["message"]
    assert attach(emulator_client, volume, {"id": "nope"}).status_code == 404
    assert emulator_client.post(f"/api/volumes/{volume['id']}/attach", json={}).status_code == 400
    gone = launch(emulator_client, team_id, "data-crunch", "FIN-01")
    emulator_client.post(f"/_emulator/instances/{gone['id']}/fail")
    response = attach(emulator_client, volume, gone)
    assert response.status_code == 400 and "failed" in response.json()["message"]


def test_ending_an_instance_detaches_its_volumes(emulator_client, team_id):
    vm = launch(emulator_client, team_id, "data-crunch", "FIN-01")
    volume = make_volume(emulator_client, "data-crunch", "FIN-01")
    assert attach(emulator_client, volume, vm).status_code == 200
    emulator_client.post(f"/_emulator/instances/{vm['id']}/reclaim")
    assert emulator_client.get(f"/api/volumes/{volume['id']}").json()["attachedTo"] == []
    assert emulator_client.delete(f"/api/volumes/{volume['id']}").status_code == 200


def test_pricing_and_regions(emulator_client):
    price = emulator_client.get("/api/volumes/pricing", params={"provider": "voltage-park",
                                                                "region": "dallas-tx-1"}).json()
    assert price["hourlyRatePerGb"] == pytest.approx(0.000109)
    assert emulator_client.get("/api/volumes/pricing").json()["hourlyRatePerGb"] > 0
    assert emulator_client.get("/api/volumes/pricing", params={"provider": "sesterce"}).status_code == 400
    regions = emulator_client.get("/api/volumes/regions").json()["data"]
    assert {(r["provider"], r["region"]) for r in regions} == {
        ("voltage-park", "dallas-tx-1"), ("data-crunch", "FIN-01"), ("data-crunch", "FIN-02"),
        ("data-crunch", "FIN-03")}
    assert {r["provider"]: r["maxSizeGb"] for r in regions} == {"voltage-park": 64_000,
                                                                "data-crunch": 10_000}


def test_volumes_belong_to_their_team(emulator_client, team_id):
    lab = next(t["teamId"] for t in emulator_client.get("/api/balance").json()["teams"]
               if not t["isCurrentTeam"])
    mine = make_volume(emulator_client, "data-crunch", "FIN-01", name="mine")
    theirs = emulator_client.post("/api/volumes", json={
        "name": "theirs", "provider": "data-crunch", "region": "FIN-01", "sizeInGb": 10,
        "teamId": lab}).json()
    assert theirs["teamId"] == lab and mine["teamId"] == team_id
    assert [v["id"] for v in emulator_client.get("/api/volumes").json()["volumes"]] == [mine["id"]]
    in_lab = emulator_client.get("/api/volumes", params={"teamId": lab}).json()["volumes"]
    assert [v["id"] for v in in_lab] == [theirs["id"]]
    vm = launch(emulator_client, team_id, "data-crunch", "FIN-01")
    crossed = attach(emulator_client, theirs, vm)
    assert crossed.status_code == 400 and "different teams" in crossed.json()["message"]
