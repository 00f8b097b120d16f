"""Balance, teams with roles, team scoping, billing, SSH keys and the Kubernetes routes."""

from __future__ import annotations

import time

import httpx

from tests.fixtures.emulator import TEST_PUBLIC_KEY, create_body, pick_offer, wait_for_status

OTHER_KEY = ("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7 rsa@test")


def teams_by_name(client) -> dict:
    return {t["teamName"]: t for t in client.get("/api/balance").json()["teams"]}


def test_balance_shape_and_starting_teams(emulator_client):
    document = emulator_client.get("/api/balance").json()
    assert document["currency"] == "USD"
    teams = {t["teamName"]: t for t in document["teams"]}
    assert set(teams) == {"Personal", "Research Lab"}
    assert teams["Personal"]["role"] == "owner" and teams["Personal"]["isCurrentTeam"] is True
    assert teams["Personal"]["balance"] == 250.0
    assert teams["Research Lab"]["role"] == "member" and teams["Research Lab"]["isCurrentTeam"] is False
    assert teams["Research Lab"]["balance"] == 1000.0
    for team in document["teams"]:
        assert set(team) == {"teamId", "teamName", "balance", "isCurrentTeam", "role"}


def test_teams_is_a_bare_list(emulator_client):
    teams = emulator_client.get("/api/teams").json()
    assert isinstance(teams, list) and {t["name"] for t in teams} == {"Personal", "Research Lab"}
    assert all(t["id"] == t["teamId"] for t in teams)


def test_every_api_route_but_providers_and_offers_needs_the_key(emulator):
    for path in ("/api/balance", "/api/teams", "/api/ssh-keys", "/api/volumes",
                 "/api/deployments", "/api/volumes/pricing", "/api/volumes/regions",
                 "/api/kubernetes/versions", "/_emulator/state"):
        assert httpx.get(emulator.url + path).status_code == 401, path


def test_balance_falls_while_an_instance_runs(emulator_client):
    team = teams_by_name(emulator_client)["Personal"]
    offer = pick_offer(emulator_client, provider="sesterce", gpu_type="B200_SXM6")  # dear: visible cost
    instance = emulator_client.post("/api/deployments", json=create_body(offer, team["teamId"])).json()
    wait_for_status(emulator_client, instance["id"], "running")
    time.sleep(0.2)
    later = emulator_client.get(f"/api/deployments/{instance['id']}").json()
    assert later["totalCost"] > 0
    balance = teams_by_name(emulator_client)["Personal"]["balance"]
    assert balance < 250.0
    assert abs((250.0 - balance) - later["totalCost"]) < offer["price"] / 3600 * 5  # same bill
    assert teams_by_name(emulator_client)["Research Lab"]["balance"] == 1000.0


def test_resources_are_scoped_by_team(emulator_client):
    teams = teams_by_name(emulator_client)
    lab = teams["Research Lab"]["teamId"]
    offer = pick_offer(emulator_client, provider="spheron-ai")
    mine = emulator_client.post("/api/deployments", json=create_body(offer, teams["Personal"]["teamId"])).json()
    theirs = emulator_client.post("/api/deployments", json=create_body(offer, lab)).json()
    default = {d["id"] for d in emulator_client.get("/api/deployments").json()["deployments"]}
    assert default == {mine["id"]}
    in_lab = emulator_client.get("/api/deployments", params={"teamId": lab}).json()["deployments"]
    assert {d["id"] for d in in_lab} == {theirs["id"]}
    key = emulator_client.post("/api/ssh-keys", json={"name": "lab", "publicKey": TEST_PUBLIC_KEY,
                                                      "teamId": lab}).json()
    assert key["teamId"] == lab
    assert emulator_client.get("/api/ssh-keys").json() == []
    assert [k["id"] for k in emulator_client.get("/api/ssh-keys", params={"teamId": lab}).json()] == [key["id"]]
    # The lab's key cannot log in to a Personal instance.
    body = create_body(offer, teams["Personal"]["teamId"], sshKeyId=key["id"])
    del body["ssh_public_key"]
    assert emulator_client.post("/api/deployments", json=body).status_code == 400
    assert emulator_client.get("/api/deployments", params={"teamId": "team_x"}).status_code == 403


def test_insufficient_balance_and_billing_roles(emulator_client):
    teams = teams_by_name(emulator_client)
    personal, lab = teams["Personal"]["teamId"], teams["Research Lab"]["teamId"]
    drained = emulator_client.post(f"/_emulator/teams/{personal}/credit", json={"amount": -250})
    assert drained.status_code == 200 and drained.json()["balance"] <= 0
    offer = pick_offer(emulator_client, provider="spheron-ai")
    response = emulator_client.post("/api/deployments", json=create_body(offer, personal))
    assert response.status_code == 400 and "balance" in response.json()["message"].lower()
    assert emulator_client.get("/_emulator/state").json()["instancesTotal"] == 0
    refused = emulator_client.post(f"/_emulator/teams/{lab}/credit", json={"amount": 5})
    assert refused.status_code == 403 and "billing" in refused.json()["message"]
    assert emulator_client.post(f"/_emulator/teams/{personal}/credit", json={"amount": 100}).json()["balance"] > 99
    assert emulator_client.post("/api/deployments", json=create_body(offer, personal)).status_code == 201


def test_ssh_key_crud_with_computed_fingerprint(emulator_client):
    created = emulator_client.post("/api/ssh-keys", json={"name": "laptop", "publicKey": TEST_PUBLIC_KEY})
    assert created.status_code == 201
    key = created.json()
    assert key["publicKey"] == TEST_PUBLIC_KEY and key["name"] == "laptop"
    assert key["fingerprint"] == "SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU"
    assert emulator_client.get(f"/api/ssh-keys/{key['id']}").json() == key
    assert [k["id"] for k in emulator_client.get("/api/ssh-keys").json()] == [key["id"]]
    duplicate = emulator_client.post("/api/ssh-keys", json={"name": "again", "publicKey": TEST_PUBLIC_KEY})
    assert duplicate.status_code == 400 and "already" in duplicate.json()["message"]
    for bad in ({"name": "x"}, {"publicKey": TEST_PUBLIC_KEY}, {"name": "x", "publicKey": "hello"},
                {"name": "x", "publicKey": OTHER_KEY}):
        assert emulator_client.post("/api/ssh-keys", json=bad).status_code == 400, bad
    assert emulator_client.delete(f"/api/ssh-keys/{key['id']}").status_code == 200
    assert emulator_client.get(f"/api/ssh-keys/{key['id']}").status_code == 404
    assert emulator_client.delete(f"/api/ssh-keys/{key['id']}").status_code == 404


def test_kubernetes_versions_and_health(emulator_client):
    versions = emulator_client.get("/api/kubernetes/versions", params={"provider": "voltage-park"}).json()
    assert [v["version"] for v in versions["data"]][0] == "1.31.1"
    assert emulator_client.get("/api/kubernetes/versions", params={"provider": "tensordock"}).status_code == 400
    assert emulator_client.get("/api/kubernetes/nope/health").status_code == 404
    team = teams_by_name(emulator_client)["Personal"]["teamId"]
    offer = pick_offer(emulator_client, provider="spheron-ai")
    plain = emulator_client.post("/api/deployments", json=create_body(offer, team)).json()
    assert emulator_client.get(f"/api/kubernetes/{plain['id']}/health").status_code == 400
    refused = emulator_client.post("/api/deployments", json=create_body(
        offer, team, kubernetesAddon={"version": "1.31.1"}))
    assert refused.status_code == 400 and "voltage-park" in refused.json()["message"]


def test_cluster_with_kubernetes_addon_becomes_healthy(emulator_client):
    from tests.fixtures.emulator import all_offers

    team = teams_by_name(emulator_client)["Personal"]["teamId"]
    cluster = next(o for o in all_offers(emulator_client, instanceType="CLUSTER")
                   if o["available"] and not o["maintenance"])
    response = emulator_client.post("/api/deployments", json=create_body(
        cluster, team, "k8s", kubernetesAddon={"version": "1.30.5"}))
    assert response.status_code == 201, response.text
    instance = response.json()
    assert instance["kubernetesAddon"]["version"] == "1.30.5"
    assert instance["instanceType"] == "CLUSTER" and instance["gpuCount"] == 8
    assert emulator_client.get(f"/api/kubernetes/{instance['id']}/health").json()["status"] in (
        "provisioning", "healthy")
    wait_for_status(emulator_client, instance["id"], "running")
    health = emulator_client.get(f"/api/kubernetes/{instance['id']}/health").json()
    assert health["status"] == "healthy" and health["nodes"] == {"ready": 1, "total": 1}
    # Voltage Park clusters carry a 60-minute minimum of their own.
    check = emulator_client.get(f"/api/deployments/{instance['id']}/can-terminate").json()
    assert check["minimumRuntime"] == 60 and check["canTerminate"] is False
