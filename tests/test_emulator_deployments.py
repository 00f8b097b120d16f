"""POST/GET/PATCH/DELETE /api/deployments against the emulator process: shapes and error bodies."""

from __future__ import annotations

import httpx
import pytest

from tests.fixtures.emulator import (TEST_PUBLIC_KEY, create_body, current_team_id, pick_offer,
                                     wait_for_status)


@pytest.fixture
def team_id(emulator_client):
    return current_team_id(emulator_client)


@pytest.fixture
def offer(emulator_client):
    return pick_offer(emulator_client, provider="spheron-ai", instance_type="DEDICATED",
                      cloud_init=True)


def count_instances(client) -> int:
    return client.get("/_emulator/state").json()["instancesTotal"]


def test_create_returns_the_instance_with_ip_while_deploying(emulator_client, team_id, offer):
    response = emulator_client.post("/api/deployments", json=create_body(offer, team_id, "first"))
    assert response.status_code == 201
    instance = response.json()
    assert instance["status"] == "deploying"
    assert instance["ipAddress"] == "127.0.0.1" and instance["sshPort"] > 0
    assert instance["user"] in ("root", "ubuntu")
    assert instance["name"] == "first" and instance["teamId"] == team_id
    assert instance["providerId"] == offer["provider"] and instance["gpuModelId"] == offer["gpuType"]
    assert instance["hourlyRate"] == offer["price"]
    assert instance["sshKeyFingerprint"].startswith("SHA256:")
    for field in ("createdAt", "startedAt", "stoppedAt", "lastCreditDeduction", "totalCost",
                  "originalHourlyRate", "discountPercentage", "hasDiscount", "vcpus", "memory",
                  "storage", "portForwards"):
        assert field in instance
    assert "sshCommand" not in instance  # documented, absent live (tests/data/live/README.md)
    assert "cloudInit" not in instance and "sshPublicKey" not in instance
    running = wait_for_status(emulator_client, instance["id"], "running")
    assert running["startedAt"] is not None and running["ipAddress"] == instance["ipAddress"]


def test_login_user_follows_the_provider(emulator_client, team_id):
    offer = pick_offer(emulator_client, provider="data-crunch", instance_type="DEDICATED")
    instance = emulator_client.post("/api/deployments", json=create_body(offer, team_id)).json()
    assert instance["user"] == "ubuntu"


def test_wrong_or_missing_key_is_401_flat_json(emulator, team_id, offer):
    for headers in ({}, {"Authorization": "Bearer sai_pk_wrong"}, {"Authorization": "Basic x"}):
        response = httpx.post(emulator.url + "/api/deployments", headers=headers,
                              json=create_body(offer, team_id))
        assert response.status_code == 401
        body = response.json()
        assert isinstance(body["error"], str) and body["message"]
        assert emulator.api_key not in response.text


def test_team_id_is_required(emulator_client, team_id, offer):
    body = create_body(offer, team_id)
    del body["teamId"]
    response = emulator_client.post("/api/deployments", json=body)
    assert response.status_code == 400
    assert response.json()["message"] == "Team ID is required for authenticated deployments"
    assert count_instances(emulator_client) == 0


def test_unknown_team_is_refused(emulator_client, offer):
    response = emulator_client.post("/api/deployments", json=create_body(offer, "team_nope"))
    assert response.status_code == 403


def test_missing_fields_are_named(emulator_client, team_id, offer):
    body = create_body(offer, team_id)
    for field in ("operatingSystem", "region"):
        del body[field]
    response = emulator_client.post("/api/deployments", json=body)
    assert response.status_code == 400
    assert "operatingSystem" in response.json()["message"] and "region" in response.json()["message"]
    no_key = create_body(offer, team_id)
    del no_key["ssh_public_key"]
    response = emulator_client.post("/api/deployments", json=no_key)
    assert response.status_code == 400 and "sshKeyId" in response.json()["message"]
    assert emulator_client.post("/api/deployments", content=b"[1]").status_code == 400


@pytest.mark.parametrize("field,value", [
    ("provider", "tensordock"), ("gpuType", "H200_SXM5"), ("gpuCount", 3), ("region", "mars-1"),
    ("operatingSystem", "windows-11"), ("instanceType", "CLUSTER"),
])
def test_fields_not_from_the_offer_are_named(emulator_client, team_id, offer, field, value):
    response = emulator_client.post("/api/deployments",
                                    json=create_body(offer, team_id, **{field: value}))
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == field and field in body["message"] and offer["offerId"] in body["message"]
    assert count_instances(emulator_client) == 0


def test_unknown_offer_unavailable_and_maintenance(emulator_client, team_id):
    from tests.fixtures.emulator import all_offers

    offers = all_offers(emulator_client)
    unknown = create_body(offers[0], team_id, offerId="off_does_not_exist")
    response = emulator_client.post("/api/deployments", json=unknown)
    assert response.status_code == 400 and "off_does_not_exist" in response.json()["message"]
    repairing = next(o for o in offers if o["available"] and o["maintenance"])
    response = emulator_client.post("/api/deployments", json=create_body(repairing, team_id))
    assert response.status_code == 400 and "maintenance" in response.json()["message"]
    assert count_instances(emulator_client) == 0


def test_cloud_init_only_where_supported_and_well_formed(emulator_client, team_id):
    script = {"runcmd": ["echo hello"], "writeFiles": [{"path": "/etc/x", "content": "y",
                                                         "permissions": "0644"}]}
    plain = pick_offer(emulator_client, cloud_init=False)
    response = emulator_client.post("/api/deployments",
                                    json=create_body(plain, team_id, cloudInit=script))
    assert response.status_code == 400 and "cloudInit" in response.json()["message"]
    capable = pick_offer(emulator_client, cloud_init=True)
    bad = {"runcmd": "echo not-a-list"}
    response = emulator_client.post("/api/deployments", json=create_body(capable, team_id, cloudInit=bad))
    assert response.status_code == 400 and "runcmd" in response.json()["message"]
    response = emulator_client.post("/api/deployments",
                                    json=create_body(capable, team_id, cloudInit=script))
    assert response.status_code == 201


def test_ssh_key_by_id_and_refused_when_unknown(emulator_client, team_id, offer):
    key = emulator_client.post("/api/ssh-keys", json={"name": "laptop", "publicKey": TEST_PUBLIC_KEY}).json()
    body = create_body(offer, team_id, sshKeyId=key["id"])
    del body["ssh_public_key"]
    instance = emulator_client.post("/api/deployments", json=body).json()
    assert instance["sshKeyId"] == key["id"] and instance["sshKeyName"] == "laptop"
    assert instance["sshKeyFingerprint"] == key["fingerprint"]
    body["sshKeyId"] = "key_missing"
    response = emulator_client.post("/api/deployments", json=body)
    assert response.status_code == 400 and "key_missing" in response.json()["message"]
    bad_inline = create_body(offer, team_id, ssh_public_key="ssh-ed25519 not-base64!")
    assert emulator_client.post("/api/deployments", json=bad_inline).status_code == 400


def test_get_list_rename_and_unknown_ids(emulator_client, team_id, offer):
    first = emulator_client.post("/api/deployments", json=create_body(offer, team_id, "a")).json()
    second = emulator_client.post("/api/deployments", json=create_body(offer, team_id, "b")).json()
    assert emulator_client.get(f"/api/deployments/{first['id']}").json()["name"] == "a"
    listing = emulator_client.get("/api/deployments").json()
    assert listing["total"] == 2 and {d["id"] for d in listing["deployments"]} == {first["id"], second["id"]}
    page = emulator_client.get("/api/deployments", params={"limit": 1, "page": 2}).json()
    assert len(page["deployments"]) == 1 and page["totalPages"] == 2
    renamed = emulator_client.patch(f"/api/deployments/{first['id']}", json={"name": "renamed"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "renamed"
    refused = emulator_client.patch(f"/api/deployments/{first['id']}", json={"gpuCount": 8})
    assert refused.status_code == 400 and "name" in refused.json()["message"]
    for method in ("GET", "PATCH", "DELETE"):
        response = emulator_client.request(method, "/api/deployments/0000", json={"name": "x"})
        assert response.status_code == 404 and "0000" in response.json()["message"]
    assert emulator_client.get("/api/deployments/0000/can-terminate").status_code == 404


def test_minimum_runtime_body_and_can_terminate(emulator_factory):
    emulator = emulator_factory(minimum_runtime="20m")
    with httpx.Client(base_url=emulator.url,
                      headers={"Authorization": f"Bearer {emulator.api_key}"}) as client:
        team = current_team_id(client)
        offer = pick_offer(client, provider="spheron-ai")
        instance = client.post("/api/deployments", json=create_body(offer, team)).json()
        check = client.get(f"/api/deployments/{instance['id']}/can-terminate").json()
        assert check["canTerminate"] is False and check["minimumRuntime"] == 20
        assert check["timeRemaining"] in (19, 20)
        response = client.delete(f"/api/deployments/{instance['id']}")
        assert response.status_code == 400
        body = response.json()
        remaining = body["timeRemaining"]
        assert body == {
            "error": "Minimum runtime not met",
            "message": f"Instance must run for at least 20 minutes. Time remaining: {remaining} minutes.",
            "canTerminate": False, "timeRemaining": remaining, "minimumRuntime": 20}
        assert client.get(f"/api/deployments/{instance['id']}").json()["status"] != "terminated"


def test_offer_minimum_wins_when_larger(emulator_client, team_id):
    from tests.fixtures.emulator import all_offers

    long_one = next(o for o in all_offers(emulator_client) if o.get("minimumRuntimeMinutes")
                    and o["available"] and not o["maintenance"])
    instance = emulator_client.post("/api/deployments", json=create_body(long_one, team_id)).json()
    check = emulator_client.get(f"/api/deployments/{instance['id']}/can-terminate").json()
    assert check["minimumRuntime"] == long_one["minimumRuntimeMinutes"]


def test_terminate_after_minimum_then_already_terminated(emulator_client, team_id, offer):
    instance = emulator_client.post("/api/deployments", json=create_body(offer, team_id)).json()
    wait_for_status(emulator_client, instance["id"], "running")
    deadline_check = None
    import time

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        deadline_check = emulator_client.get(f"/api/deployments/{instance['id']}/can-terminate").json()
        if deadline_check["canTerminate"]:
            break
        time.sleep(0.1)
    assert deadline_check["canTerminate"] is True and deadline_check["timeRemaining"] == 0
    response = emulator_client.delete(f"/api/deployments/{instance['id']}")
    assert response.status_code == 200
    body = response.json()
    assert body["message"] and body["deployment"]["id"] == instance["id"]
    assert body["deployment"]["status"] == "terminated" and body["deployment"]["stoppedAt"]
    again = emulator_client.delete(f"/api/deployments/{instance['id']}")
    assert again.status_code == 400
    assert again.json() == {"error": "Cannot terminate instance",
                            "message": "Instance has already been terminated.",
                            "currentStatus": "terminated", "canTerminate": False}
    assert emulator_client.get(f"/api/deployments/{instance['id']}/can-terminate").json()["canTerminate"] is False
    # Billing stopped with the instance: the cost no longer grows.
    stopped = emulator_client.get(f"/api/deployments/{instance['id']}").json()
    assert stopped["totalCost"] > 0
    time.sleep(0.5)
    assert emulator_client.get(f"/api/deployments/{instance['id']}").json()["totalCost"] == stopped["totalCost"]


def test_status_filters(emulator_client, team_id, offer):
    alive = emulator_client.post("/api/deployments", json=create_body(offer, team_id, "alive")).json()
    dead = emulator_client.post("/api/deployments", json=create_body(offer, team_id, "dead")).json()
    assert emulator_client.post(f"/_emulator/instances/{dead['id']}/fail").status_code == 200

    def ids(status):
        listing = emulator_client.get("/api/deployments", params={"status": status}).json()
        return {d["id"] for d in listing["deployments"]}

    assert ids("active") == {alive["id"]}
    assert ids("inactive") == {dead["id"]}
    assert ids("failed") == {dead["id"]}
    assert ids("terminated") == set()
    # A failed instance may be cleaned up at once: it is not billing any more.
    assert emulator_client.delete(f"/api/deployments/{dead['id']}").status_code == 200


def test_create_rate_limit_is_ten_per_window(emulator_client, team_id):
    offer = pick_offer(emulator_client, provider="tensordock")
    for number in range(10):
        response = emulator_client.post("/api/deployments",
                                        json=create_body(offer, team_id, f"n{number}"))
        assert response.status_code == 201, response.text
    limited = emulator_client.post("/api/deployments", json=create_body(offer, team_id, "n10"))
    assert limited.status_code == 429
    body = limited.json()
    assert body["code"] == "RATE_LIMIT_EXCEEDED"
    assert isinstance(body["retryAfter"], int) and 0 < body["retryAfter"] <= 900
    assert limited.headers["Retry-After"] == str(body["retryAfter"])
    assert count_instances(emulator_client) == 10
    # Reads are not limited.
    assert emulator_client.get("/api/deployments").status_code == 200


def test_parallel_creates_cannot_slip_past_the_limit(emulator, emulator_client, team_id):
    from concurrent.futures import ThreadPoolExecutor

    offer = pick_offer(emulator_client, provider="tensordock")

    def create(number):
        with httpx.Client(base_url=emulator.url, timeout=30,
                          headers={"Authorization": f"Bearer {emulator.api_key}"}) as client:
            return client.post("/api/deployments",
                               json=create_body(offer, team_id, f"p{number}")).status_code

    with ThreadPoolExecutor(6) as pool:
        codes = sorted(pool.map(create, range(13)))
    assert codes == [201] * 10 + [429] * 3
    assert count_instances(emulator_client) == 10
