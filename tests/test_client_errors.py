"""HTTP answers and transport failures become typed errors with one clear sentence each."""

from __future__ import annotations

import socket

import httpx
import pytest

from spheron_jupyter.client import (AlreadyTerminatedError, ApiUnreachableError,
                                    AuthenticationError, InsufficientBalanceError,
                                    InvalidRequestError, MinimumRuntimeError, NotFoundError,
                                    RateLimitedError, RetryPolicy, ServiceUnavailableError,
                                    SpheronClient, SpheronError, UnexpectedResponseError)
from tests.support.client_fakes import KEY, FakeClock, ScriptedApi, reply

NO_RETRY = RetryPolicy(attempts=1)


def one_sentence(message: str) -> bool:
    return "\n" not in message and message.endswith(".") and KEY not in message


def error_for(answer: httpx.Response, call=lambda c: c.terminate("d-1"),
              method="DELETE", path="/api/deployments/d-1") -> SpheronError:
    api = ScriptedApi().on(method, path, answer)
    with pytest.raises(SpheronError) as info:
        call(api.client(retry=NO_RETRY))
    assert one_sentence(str(info.value)), str(info.value)
    return info.value


def test_minimum_runtime_documented_body():
    """fake: stands in for the live service's documented minimum-runtime 400 body."""
    err = error_for(reply(400, {
        "error": "Minimum runtime not met",
        "message": "Instance must run for at least 20 minutes. Time remaining: 3 minutes.",
        "canTerminate": False, "timeRemaining": 3, "minimumRuntime": 20}))
    assert type(err) is MinimumRuntimeError and isinstance(err, InvalidRequestError)
    assert (err.minutes_remaining, err.minimum_runtime, err.status) == (3, 20, 400)
    assert "3 more minutes" in str(err) and "instance 'd-1'" in str(err)


def test_minimum_runtime_minutes_read_from_the_text_when_the_field_is_missing():
    """fake: stands in for a live minimum-runtime answer without timeRemaining."""
    err = error_for(reply(400, {"error": "Minimum runtime not met",
                                "message": "Instance must run for at least 20 minutes. "
                                           "Time remaining: 7 minutes."}))
    assert isinstance(err, MinimumRuntimeError) and err.minutes_remaining == 7


def test_already_terminated_documented_body():
    """fake: stands in for the live service's documented already-terminated 400 body."""
    err = error_for(reply(400, {"error": "Cannot terminate instance",
                                "message": "Instance has already been terminated.",
                                "currentStatus": "terminated", "canTerminate": False}))
    assert type(err) is AlreadyTerminatedError and err.current_status == "terminated"


@pytest.mark.parametrize(
    "answer, kind, fragment",
    [
        (reply(401, {"message": "Invalid API key"}), AuthenticationError, "`%spheron login`"),
        (reply(403, {"error": "Forbidden"}), AuthenticationError, "check the key"),
        (reply(404, {"error": "Deployment not found"}), NotFoundError, "does not know instance 'd-1'"),
        (reply(400, {"error": {"message": "gpuCount is required", "code": "VALIDATION"}}),
         InvalidRequestError, "gpuCount is required"),
        (reply(400, {"message": "Insufficient balance to deploy this instance"}),
         InsufficientBalanceError, "balance does not cover"),
        (reply(402, {"error": "Not enough credits"}), InsufficientBalanceError, "add credit"),
        (reply(429, {"code": "RATE_LIMIT_EXCEEDED", "retryAfter": 900}), RateLimitedError,
         "try again in 900 s"),
        (reply(500, {"error": "Internal Server Error"}), ServiceUnavailableError, "temporary"),
        (reply(502, text="<html><body>Bad gateway</body></html>"), ServiceUnavailableError,
         "HTTP 502"),
        (reply(503, text="upstream overloaded"), ServiceUnavailableError, "upstream overloaded"),
    ],
)
def test_status_and_body_map_to_typed_errors(answer, kind, fragment):
    """fake: stands in for the live service's error bodies (message / error / {message} / code)."""
    err = error_for(answer, call=lambda c: c.get_instance("d-1"), method="GET",
                    path="/api/deployments/d-1")
    assert type(err) is kind
    assert fragment in str(err)
    assert err.status == answer.status_code


def test_error_code_is_kept():
    """fake: stands in for the live service's machine-readable codes."""
    err = error_for(reply(429, {"code": "RATE_LIMIT_EXCEEDED", "retryAfter": 5}))
    assert err.code == "RATE_LIMIT_EXCEEDED" and err.retry_after == 5


@pytest.mark.parametrize(
    "headers, expected",
    [({"Retry-After": "12"}, 12.0), ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0), ({}, None)],
)
def test_retry_after_from_header_when_body_lacks_it(headers, expected):
    """fake: stands in for a live 429 that carries only the Retry-After header."""
    err = error_for(reply(429, {"message": "Too many requests"}, headers=headers))
    assert isinstance(err, RateLimitedError) and err.retry_after == expected


def test_body_retry_after_wins_over_header():
    """fake: stands in for a live 429 carrying both."""
    err = error_for(reply(429, {"retryAfter": 30}, headers={"Retry-After": "2"}))
    assert err.retry_after == 30


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_connection_refused_names_the_url():
    """Real: a closed port on 127.0.0.1, through httpx's real transport."""
    url = f"http://127.0.0.1:{unused_port()}"
    clock = FakeClock()
    client = SpheronClient(url, KEY, clock=clock, retry=RetryPolicy(attempts=2))
    with pytest.raises(ApiUnreachableError) as info:
        client.providers()
    err = info.value
    assert url in str(err) and one_sentence(str(err)) and not err.request_sent
    assert len(clock.sleeps) == 1  # it was retried once, without really sleeping


def test_timeout_is_unreachable_but_maybe_sent():
    """fake: stands in for a live service that does not answer in time."""
    api = ScriptedApi().on("GET", "/api/deployments/d-1", httpx.ReadTimeout("timed out"))
    with pytest.raises(ApiUnreachableError) as info:
        api.client(retry=NO_RETRY).get_instance("d-1")
    assert info.value.request_sent and "did not answer" in str(info.value)
    assert one_sentence(str(info.value))


def test_no_key_is_refused_before_any_request():
    """fake: stands in for the live service, to show that no request is sent at all."""
    api = ScriptedApi()
    client = SpheronClient("https://api.spheron.test", None, transport=httpx.MockTransport(api.handle))
    with pytest.raises(AuthenticationError, match="No Spheron API key is configured"):
        client.list_instances()
    assert api.requests == []


def test_redirect_and_non_json_success_are_unexpected():
    """fake: stands in for a wrong URL (a login page) in front of the API."""
    err = error_for(reply(302, headers={"Location": "https://login.example/"}),
                    call=lambda c: c.get_instance("d-1"), method="GET", path="/api/deployments/d-1")
    assert isinstance(err, UnexpectedResponseError) and "redirected" in str(err)
    err = error_for(reply(200, text="<html>hello</html>"), call=lambda c: c.get_instance("d-1"),
                    method="GET", path="/api/deployments/d-1")
    assert isinstance(err, UnexpectedResponseError) and "not JSON" in str(err)


def test_ids_are_escaped_into_the_path():
    """fake: stands in for the live service to inspect the path sent."""
    api = ScriptedApi().on("GET", "/api/deployments/a%2Fb", reply(404, {"error": "nope"}))
    with pytest.raises(NotFoundError):
        api.client(retry=NO_RETRY).get_instance("a/b")
    assert api.requests[-1].url.raw_path == b"/api/deployments/a%2Fb"


@pytest.mark.parametrize("url", ["app.spheron.ai", "ftp://app.spheron.ai", ""])
def test_a_url_that_is_not_http_is_refused_at_once(url):
    with pytest.raises(InvalidRequestError, match="must start with http:// or https://"):
        SpheronClient(url, KEY)
