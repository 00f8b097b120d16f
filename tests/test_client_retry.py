"""GETs retry with backoff and honour retryAfter; creates are never resent, only reconciled.

fake: these tests use ScriptedApi, standing in for the live service failing at exact moments
(a 5xx or a lost answer after the server committed a create), which must be pinned request by
request; the emulator's own fault injection is exercised in test_client_emulator.py.
"""

from __future__ import annotations

import re

import httpx
import pytest

from spheron_jupyter.client import (ApiUnreachableError, CreateOutcomeUnknownError,
                                    CreateRequest, InvalidRequestError, RateLimitedError,
                                    RetryPolicy, ServiceUnavailableError)
from tests.support.client_fakes import ScriptedApi, instance, reply

CATALOG = reply(200, {"data": [], "total": 0, "page": 1, "limit": 100, "totalPages": 1})


def test_get_retries_5xx_then_succeeds_with_growing_backoff():
    """fake: stands in for a live service failing twice with 503."""
    api = ScriptedApi().on("GET", "/api/gpu-offers", reply(503), reply(502), reply(500), CATALOG)
    client = api.client()
    assert client.gpu_offers() == []
    assert len(api.calls("GET", "/api/gpu-offers")) == 4
    sleeps = client._core.clock.sleeps
    assert len(sleeps) == 3
    policy = RetryPolicy()
    for n, slept in enumerate(sleeps, start=1):
        full = min(policy.max_delay, policy.base_delay * 2 ** (n - 1))
        assert full / 2 <= slept <= full


@pytest.mark.parametrize(
    "answer, floor",
    [(reply(429, {"code": "RATE_LIMIT_EXCEEDED", "retryAfter": 7}), 7),
     (reply(429, {"message": "slow down"}, headers={"Retry-After": "3"}), 3),
     (reply(503, {"error": "maintenance"}, headers={"Retry-After": "5"}), 5)],
)
def test_retry_waits_at_least_retry_after(answer, floor):
    """fake: stands in for the live service's 429 (retryAfter in body or header)."""
    api = ScriptedApi().on("GET", "/api/gpu-offers", answer, CATALOG)
    client = api.client()
    client.gpu_offers()
    assert len(client._core.clock.sleeps) == 1
    assert floor <= client._core.clock.sleeps[0] < floor + 1


def test_attempts_are_bounded_and_the_last_error_is_raised():
    """fake: stands in for a live service that stays down."""
    api = ScriptedApi().on("GET", "/api/deployments/d-1", reply(503))
    client = api.client(retry=RetryPolicy(attempts=3))
    with pytest.raises(ServiceUnavailableError):
        client.get_instance("d-1")
    assert len(api.requests) == 3 and len(client._core.clock.sleeps) == 2


def test_rate_limit_over_a_minute_is_waited_out_and_told():
    """fake: stands in for the live general limit's 429 with retryAfter 90 s (public clients saw
    retryAfter well over a minute; tests/data/live/README.md)."""
    api = ScriptedApi().on("GET", "/api/gpu-offers", reply(429, {"code": "RATE_LIMIT_EXCEEDED",
                                                                  "retryAfter": 90}), CATALOG)
    notices = []
    client = api.client(on_retry=notices.append)
    assert client.gpu_offers() == []
    assert len(api.requests) == 2 and 90 <= client._core.clock.sleeps[0] < 91
    assert [n.kind for n in notices] == ["rate-limit"]
    assert notices[0].text.startswith("Spheron API rate limit reached; waiting 90 s")


def test_rate_limit_longer_than_a_window_is_not_waited_out():
    """fake: a 429 asking for more than one 15-minute window is raised at once."""
    api = ScriptedApi().on("GET", "/api/gpu-offers", reply(429, {"retryAfter": 3600}))
    client = api.client()
    with pytest.raises(RateLimitedError) as info:
        client.gpu_offers()
    assert info.value.retry_after == 3600
    assert len(api.requests) == 1 and client._core.clock.sleeps == []


def test_client_errors_are_not_retried():
    """fake: stands in for a live 400."""
    api = ScriptedApi().on("GET", "/api/deployments/d-1", reply(400, {"error": "bad id"}))
    with pytest.raises(InvalidRequestError):
        api.client().get_instance("d-1")
    assert len(api.requests) == 1


def test_other_methods_are_never_retried():
    """fake: stands in for a live 503 on a POST."""
    api = ScriptedApi().on("POST", "/api/ssh-keys", reply(503), reply(201, {"id": "k"}))
    with pytest.raises(ServiceUnavailableError):
        api.client().add_ssh_key("n", "ssh-ed25519 A")
    assert len(api.calls("POST", "/api/ssh-keys")) == 1


# -- creates -------------------------------------------------------------------------------

def request(**fields) -> CreateRequest:
    base = dict(provider="spheron-ai", offer_id="o-1", gpu_type="h100", gpu_count=1,
                region="us-east-1", operating_system="ubuntu-22.04", instance_type="DEDICATED",
                ssh_key_id="k-1")
    base.update(fields)
    return CreateRequest(**base)


class CommittingServer:
    """fake: a live service that commits the create, then loses its answer with ``loss``."""

    def __init__(self, api: ScriptedApi, loss, existing=(), lag: int = 0):
        self.api = api
        self.loss = loss
        self.listed = [dict(i) for i in existing]
        self.pending: list[dict] = []
        self.lag = lag
        api.on("POST", "/api/deployments", self.create)
        api.on("GET", "/api/deployments", self.list)

    def create(self, req: httpx.Request):
        body = self.api.body(req)
        self.pending.append(instance(f"d-{len(self.listed) + len(self.pending) + 1}", body["name"]))
        if not self.lag:
            self.listed += self.pending
            self.pending = []
        if isinstance(self.loss, BaseException):
            raise self.loss
        return self.loss

    def list(self, req: httpx.Request):
        if self.lag:
            self.lag -= 1
        elif self.pending:
            self.listed += self.pending
            self.pending = []
        return reply(200, {"deployments": self.listed})


@pytest.mark.parametrize(
    "loss",
    [reply(502, text="bad gateway"), reply(504, {"error": "Gateway Timeout"}),
     httpx.ReadTimeout("timed out"), httpx.RemoteProtocolError("Server disconnected")],
    ids=["502", "504", "read-timeout", "dropped"],
)
def test_lost_create_answer_returns_the_instance_found_by_name(loss):
    """fake: stands in for a live create committed on the server whose answer was lost."""
    api = ScriptedApi()
    server = CommittingServer(api, loss)
    created = api.client().create_instance(request())
    posts = api.calls("POST", "/api/deployments")
    assert len(posts) == 1
    sent = api.body(posts[0])
    assert re.fullmatch(r"sj-h100-[0-9a-f]{8}", sent["name"]) and sent["teamId"] == "team-personal"
    assert created.name == sent["name"] and [i["id"] for i in server.listed] == [created.id]


def test_list_lag_is_waited_for_with_the_clock():
    """fake: stands in for a live instance list that shows a new instance a moment late."""
    api = ScriptedApi()
    CommittingServer(api, reply(503), lag=1)
    client = api.client()
    created = client.create_instance(request())
    assert created.name.startswith("sj-h100-")
    assert client._core.clock.sleeps == [client.reconcile_delay]
    assert len(api.calls("POST", "/api/deployments")) == 1


def test_lost_create_with_nothing_listed_is_unknown_never_safe_to_retry():
    """fake: stands in for a live 503 on the create; the server may commit it later (a slow
    create does, after our timeout), so the outcome stays unknown."""
    api = ScriptedApi().on("POST", "/api/deployments", reply(503)).on(
        "GET", "/api/deployments", reply(200, []))
    client = api.client()
    with pytest.raises(CreateOutcomeUnknownError) as info:
        client.create_instance(request())
    text = str(info.value)
    assert "may still appear" in text and "safe to launch again" not in text
    assert "nothing was created" not in text and info.value.name in text
    assert len(api.calls("POST", "/api/deployments")) == 1
    assert len(api.calls("GET", "/api/deployments")) == client.reconcile_attempts


def test_user_named_create_ignores_older_instances_with_that_name():
    """fake: stands in for a live account that already has an instance called 'exp'."""
    api = ScriptedApi()
    old = instance("d-old", "exp", status="terminated")
    api.on("POST", "/api/deployments", reply(503)).on("GET", "/api/deployments", reply(200, [old]))
    with pytest.raises(CreateOutcomeUnknownError, match="may still appear"):
        api.client().create_instance(request(name="exp"))
    assert api.body(api.calls("POST", "/api/deployments")[0])["name"] == "exp"

    api2 = ScriptedApi()
    CommittingServer(api2, reply(500), existing=[old])
    created = api2.client().create_instance(request(name="exp"))
    assert created.id != "d-old" and created.name == "exp"


def test_connect_failure_means_not_sent_and_no_reconcile():
    """fake: stands in for a live service whose address refuses connections."""
    api = ScriptedApi().on("POST", "/api/deployments", httpx.ConnectError("refused"))
    with pytest.raises(ApiUnreachableError) as info:
        api.client().create_instance(request())
    assert "nothing was created" in str(info.value) and not info.value.request_sent
    assert api.calls("GET", "/api/deployments") == []


def test_lost_create_and_unreadable_list_is_an_honest_unknown():
    """fake: stands in for a live service that fails the create answer and the list."""
    api = ScriptedApi().on("POST", "/api/deployments", reply(503)).on(
        "GET", "/api/deployments", reply(503))
    with pytest.raises(CreateOutcomeUnknownError) as info:
        api.client(retry=RetryPolicy(attempts=2)).create_instance(request())
    assert "could not be read" in str(info.value) and "%spheron ls" in str(info.value)
    assert re.fullmatch(r"sj-h100-[0-9a-f]{8}", info.value.name)
    assert len(api.calls("POST", "/api/deployments")) == 1


def test_rate_limited_create_is_not_resent():
    """fake: stands in for the live create limit (10 per 15 minutes)."""
    api = ScriptedApi().on("POST", "/api/deployments",
                           reply(429, {"code": "RATE_LIMIT_EXCEEDED", "retryAfter": 600}))
    client = api.client()
    with pytest.raises(RateLimitedError) as info:
        client.create_instance(request())
    assert info.value.retry_after == 600
    assert len(api.requests) == 2  # balance, then the one create
    assert client._core.clock.sleeps == []


def test_create_answer_without_the_instance_is_found_by_name():
    """fake: stands in for a live create answering only {"message": ...}."""
    api = ScriptedApi()
    CommittingServer(api, reply(201, {"message": "Deployment created"}))
    assert api.client().create_instance(request()).id == "d-1"


def test_lost_terminate_answer_is_settled_by_reading_the_instance():
    """fake: stands in for a live DELETE that terminated but whose answer was lost."""
    api = ScriptedApi().on("DELETE", "/api/deployments/d-1", httpx.ReadTimeout("slow")).on(
        "GET", "/api/deployments/d-1", reply(200, instance("d-1", "x", status="terminated")))
    result = api.client().terminate("d-1")
    assert (result.instance_id, result.status) == ("d-1", "terminated")
    assert len(api.calls("DELETE", "/api/deployments/d-1")) == 1


def test_lost_terminate_answer_on_a_running_instance_raises():
    """fake: stands in for a live DELETE lost before it took effect."""
    api = ScriptedApi().on("DELETE", "/api/deployments/d-1", reply(503)).on(
        "GET", "/api/deployments/d-1", reply(200, instance("d-1", "x", status="running")))
    with pytest.raises(ServiceUnavailableError):
        api.client().terminate("d-1")
