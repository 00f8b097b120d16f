"""Fault injection over real HTTP: 429s, 5xx, dropped and slow responses, lost creates, reclaims."""

from __future__ import annotations

import httpx
import pytest

from spheron_jupyter.emulator.faults import FaultSpecError, parse_faults
from tests.fixtures.emulator import create_body, current_team_id, pick_offer, wait_for_status


def client_for(emulator, **kwargs):
    return httpx.Client(base_url=emulator.url, timeout=kwargs.pop("timeout", 30),
                        headers={"Authorization": f"Bearer {emulator.api_key}"}, **kwargs)


def test_429_for_the_next_n_matching_requests(emulator_factory):
    emulator = emulator_factory(faults="429=3s@/api/gpu-offers*2")
    with client_for(emulator) as client:
        for _ in range(2):
            response = client.get("/api/gpu-offers")
            assert response.status_code == 429
            assert response.json()["code"] == "RATE_LIMIT_EXCEEDED"
            assert response.json()["retryAfter"] == 3 and response.headers["Retry-After"] == "3"
        assert client.get("/api/gpu-offers").status_code == 200
        assert client.get("/api/balance").status_code == 200  # other paths untouched


def test_5xx_matches_method_and_glob(emulator_factory):
    emulator = emulator_factory(faults="503@GET /api/deployments*1,500@/api/ssh-keys/*")
    with client_for(emulator) as client:
        failed = client.get("/api/deployments")
        assert failed.status_code == 503 and failed.json()["message"]
        assert client.get("/api/deployments").status_code == 200
        assert client.get("/api/ssh-keys").status_code == 200  # the glob needs a path below
        assert client.get("/api/ssh-keys/abc").status_code == 500
        assert client.get("/api/ssh-keys/abc").status_code == 500  # no *N: every time


def test_drop_closes_without_a_response(emulator_factory):
    emulator = emulator_factory(faults="drop@/api/balance*1")
    with client_for(emulator) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.get("/api/balance")
        assert client.get("/api/balance").status_code == 200


def test_slow_responses_still_answer(emulator_factory):
    emulator = emulator_factory(faults="slow=3s@/api/teams*1")
    with client_for(emulator, timeout=0.5) as client:
        with pytest.raises(httpx.ReadTimeout):
            client.get("/api/teams")
    with client_for(emulator) as client:
        assert client.get("/api/teams").status_code == 200


def test_lost_create_commits_the_instance(emulator_factory):
    emulator = emulator_factory(faults="lose-create*1")
    with client_for(emulator) as client:
        offer = pick_offer(client, provider="spheron-ai")
        team = current_team_id(client)
        with pytest.raises(httpx.RemoteProtocolError):
            client.post("/api/deployments", json=create_body(offer, team, "lost-one"))
        listing = client.get("/api/deployments").json()["deployments"]
        assert [d["name"] for d in listing] == ["lost-one"]
        assert client.post("/api/deployments", json=create_body(offer, team, "kept")).status_code == 201
        assert client.get("/_emulator/state").json()["instancesTotal"] == 2


def test_spot_reclaim_fault(emulator_factory):
    emulator = emulator_factory(faults="reclaim-spot=0.2s")
    with client_for(emulator) as client:
        team = current_team_id(client)
        spot = client.post("/api/deployments", json=create_body(
            pick_offer(client, instance_type="SPOT", provider="spheron-ai"), team, "spot")).json()
        dedicated = client.post("/api/deployments", json=create_body(
            pick_offer(client, instance_type="DEDICATED", provider="spheron-ai"), team, "vm")).json()
        reclaimed = wait_for_status(client, spot["id"], "terminated-provider")
        assert reclaimed["stoppedAt"] is not None
        assert client.get(f"/api/deployments/{dedicated['id']}").json()["status"] == "running"
        gone = client.delete(f"/api/deployments/{spot['id']}")
        assert gone.status_code == 400 and gone.json()["currentStatus"] == "terminated-provider"


def test_admin_routes_reclaim_fail_and_replace_faults(emulator_client):
    team = current_team_id(emulator_client)
    offer = pick_offer(emulator_client, provider="spheron-ai")
    one = emulator_client.post("/api/deployments", json=create_body(offer, team, "one")).json()
    two = emulator_client.post("/api/deployments", json=create_body(offer, team, "two")).json()
    assert emulator_client.post(f"/_emulator/instances/{one['id']}/reclaim").json()["status"] == "terminated-provider"
    assert emulator_client.post(f"/_emulator/instances/{two['id']}/fail").json()["status"] == "failed"
    assert emulator_client.post(f"/_emulator/instances/{two['id']}/fail").status_code == 400
    assert emulator_client.post("/_emulator/instances/nope/reclaim").status_code == 404
    assert emulator_client.post(f"/_emulator/instances/{one['id']}/drop-ssh").status_code == 200
    state = emulator_client.get("/_emulator/state").json()
    assert state["instances"] == {"terminated-provider": 1, "failed": 1}
    replaced = emulator_client.post("/_emulator/faults", json={"spec": "503@/api/teams*1"})
    assert replaced.status_code == 200 and replaced.json()["faults"][0]["remaining"] == 1
    assert emulator_client.get("/api/teams").status_code == 503
    assert emulator_client.get("/api/teams").status_code == 200
    bad = emulator_client.post("/_emulator/faults", json={"spec": "teapot@/api"})
    assert bad.status_code == 400 and "teapot" in bad.json()["message"]
    everything = emulator_client.post("/_emulator/faults", json={"spec": "503@/*"})
    assert everything.status_code == 200
    assert emulator_client.get("/_emulator/state").status_code == 200  # never faulted
    assert emulator_client.get("/api/balance").status_code == 503


def test_admin_routes_need_the_key(emulator):
    assert httpx.post(emulator.url + "/_emulator/faults", json={"spec": ""}).status_code == 401


def test_fault_grammar():
    plan = parse_faults("429@/api/gpu-offers*2, 503@GET /api/deployments*1, slow=1.5s@/api/*, "
                        "drop@POST /api/volumes, lose-create*1, reclaim-spot=30s, ssh-drop=5s*3")
    first, second, slow, drop = plan.http
    assert (first.status, first.path_glob, first.remaining, first.retry_after) == (429, "/api/gpu-offers", 2, 1)
    assert (second.status, second.method, second.remaining) == (503, "GET", 1)
    assert (slow.action, slow.seconds, slow.remaining) == ("slow", 1.5, None)
    assert (drop.action, drop.method, drop.path_glob) == ("drop", "POST", "/api/volumes")
    assert plan.lose_create_remaining == 1
    assert plan.reclaim_spot_after == 30.0
    assert (plan.ssh_drop_after, plan.ssh_drop_times) == (5.0, 3)
    # Slow faults come first, so the delay happens before the answer.
    assert [(f.action, f.status) for f in plan.take_http("GET", "/api/gpu-offers")] == [
        ("slow", 0), ("status", 429)]
    assert plan.take_http("GET", "/_emulator/state") == []
    glob = parse_faults("500@/api/deployments**2").http[0]
    assert (glob.path_glob, glob.remaining) == ("/api/deployments*", 2)
    assert parse_faults("").http == [] and parse_faults(None).lose_create_remaining == 0


@pytest.mark.parametrize("spec,words", [
    ("boom", "unknown fault"), ("418@/api/x", "unknown action"), ("429@api/x", "path-glob"),
    ("reclaim-spot=soon", "bad duration"), ("lose-create*0", "at least 1"),
    ("reclaim-spot=1s*2", "no *N"),
])
def test_fault_grammar_errors_name_the_item(spec, words):
    with pytest.raises(FaultSpecError, match=words.replace("*", r"\*")):
        parse_faults(spec)
