"""Stop the emulator and start it again on the same state dir: nothing is lost."""

from __future__ import annotations

import json

import httpx

from tests.fixtures.emulator import (TEST_PUBLIC_KEY, create_body, current_team_id, pick_offer,
                                     wait_for_status)


def client_for(emulator):
    return httpx.Client(base_url=emulator.url, headers={"Authorization": f"Bearer {emulator.api_key}"})


def test_restart_keeps_key_instances_keys_volumes_and_balances(emulator_factory, tmp_path):
    state_dir = tmp_path / "state"
    first = emulator_factory(state_dir=state_dir, minimum_runtime="20m")
    with client_for(first) as client:
        team = current_team_id(client)
        key = client.post("/api/ssh-keys", json={"name": "laptop", "publicKey": TEST_PUBLIC_KEY}).json()
        running = client.post("/api/deployments", json=create_body(
            pick_offer(client, provider="data-crunch", region="FIN-01"), team, "keeps-running",
            region="FIN-01")).json()
        wait_for_status(client, running["id"], "running")
        deploying_offer = pick_offer(client, provider="spheron-ai")
        failed = client.post("/api/deployments", json=create_body(deploying_offer, team, "broken")).json()
        client.post(f"/_emulator/instances/{failed['id']}/fail")
        volume = client.post("/api/volumes", json={"name": "data", "provider": "data-crunch",
                                                   "region": "FIN-01", "sizeInGb": 50}).json()
        client.post(f"/api/volumes/{volume['id']}/attach", json={"deploymentId": running["id"]})
        client.patch(f"/api/deployments/{running['id']}", json={"name": "renamed"})
        before = {
            "deployments": client.get("/api/deployments", params={"limit": 100}).json()["deployments"],
            "balance": client.get("/api/balance").json()["teams"],
            "keys": client.get("/api/ssh-keys").json(),
            "volume": client.get(f"/api/volumes/{volume['id']}").json(),
        }
    api_key = first.api_key
    first.stop()

    second = emulator_factory(state_dir=state_dir, minimum_runtime="20m")
    assert second.api_key == api_key
    with client_for(second) as client:
        after = client.get("/api/deployments", params={"limit": 100}).json()["deployments"]
        by_id = {d["id"]: d for d in after}
        assert set(by_id) == {d["id"] for d in before["deployments"]}
        survivor = by_id[running["id"]]
        assert survivor["status"] == "running" and survivor["name"] == "renamed"
        assert survivor["sshPort"] == running["sshPort"] and survivor["volumes"] == [volume["id"]]
        assert survivor["createdAt"] == running["createdAt"]
        assert by_id[failed["id"]]["status"] == "failed"
        assert client.get("/api/ssh-keys").json() == before["keys"] == [key]
        assert client.get(f"/api/volumes/{volume['id']}").json()["attachedTo"] == [running["id"]]
        teams_after = {t["teamId"]: t for t in client.get("/api/balance").json()["teams"]}
        for team_before in before["balance"]:
            now = teams_after[team_before["teamId"]]
            assert now["teamName"] == team_before["teamName"] and now["role"] == team_before["role"]
            # Billing went on while stopped: the balance can only have fallen, and not by much.
            assert team_before["balance"] - 1 < now["balance"] <= team_before["balance"]
        # The minimum runtime still counts from the original create.
        assert client.delete(f"/api/deployments/{running['id']}").json()["error"] == "Minimum runtime not met"


def test_rate_limit_window_survives_a_restart(emulator_factory, tmp_path):
    state_dir = tmp_path / "state"
    first = emulator_factory(state_dir=state_dir)
    with client_for(first) as client:
        team = current_team_id(client)
        offer = pick_offer(client, provider="tensordock")
        for number in range(10):
            assert client.post("/api/deployments", json=create_body(offer, team, f"n{number}")).status_code == 201
    first.stop()
    second = emulator_factory(state_dir=state_dir)
    with client_for(second) as client:
        assert client.post("/api/deployments", json=create_body(offer, team, "n10")).status_code == 429


def test_state_file_is_whole_json_and_inside_the_state_dir(emulator_client, emulator):
    team = current_team_id(emulator_client)
    emulator_client.post("/api/deployments", json=create_body(
        pick_offer(emulator_client, provider="spheron-ai"), team))
    document = json.loads((emulator.state_dir / "state.json").read_text())
    assert len(document["deployments"]) == 1
    leftovers = [p.name for p in emulator.state_dir.iterdir() if p.name.startswith(".")]
    assert leftovers == []  # atomic writes leave no temp files behind
