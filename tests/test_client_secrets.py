"""The API key never shows: not in any exception, repr, request repr, model or log record."""

from __future__ import annotations

import logging
import traceback

import httpx
import pytest

from spheron_jupyter.client import (CreateRequest, RetryPolicy, SpheronClient, SpheronError)
from spheron_jupyter.config.credentials import ApiKey
from tests.support.client_fakes import KEY, BASE, ScriptedApi, group, instance, offer, reply


def texts_of_error(err: BaseException) -> list[str]:
    return [str(err), repr(err), "".join(traceback.format_exception(err)), repr(getattr(err, "body", None))]


def test_key_is_absent_from_everything_a_session_produces(caplog):
    """fake: stands in for the live service, including one that echoes the key back."""
    caplog.set_level(logging.DEBUG)
    echo = f"Invalid token: Bearer {KEY} ({KEY})"
    api = (ScriptedApi()
           .on("GET", "/api/gpu-offers", reply(503), reply(200, {"data": [group("h100", "H100", offer("o"))],
                                                                 "totalPages": 1}))
           .on("GET", "/api/deployments", reply(200, [instance("d-1", "x")]))
           .on("GET", "/api/deployments/d-1", reply(401, {"message": echo, "error": {"message": echo}}))
           .on("DELETE", "/api/deployments/d-1", reply(400, {"error": "Minimum runtime not met",
                                                             "message": echo, "timeRemaining": 2}))
           .on("POST", "/api/deployments", httpx.ReadTimeout(f"timeout while sending {KEY}")))
    client = api.client(retry=RetryPolicy(attempts=2))
    produced: list[str] = [repr(client), str(client), repr(vars(client)), repr(client._core),
                           repr(client._core._http.auth)]
    groups = client.gpu_offers()
    produced += [repr(groups), repr(client.list_instances())]
    for call in (lambda: client.get_instance("d-1"), lambda: client.terminate("d-1"),
                 lambda: client.create_instance(CreateRequest(
                     provider="p", offer_id="o", gpu_type="h100", gpu_count=1, region="r",
                     ssh_key_id="k"))):
        with pytest.raises(SpheronError) as info:
            call()
        produced += texts_of_error(info.value)
    for sent in api.requests:
        produced += [repr(sent), str(sent.url), repr(sent.headers), repr(sent.extensions)]
    for record in caplog.records:
        produced += [record.getMessage(), logging.Formatter().format(record), repr(record.args)]
    assert len(api.requests) > 5 and caplog.records
    leaks = [text for text in produced if KEY in text]
    assert leaks == []
    assert any("[REDACTED]" in text for text in produced)  # the echo was really exercised
    # and the key did travel where it must
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in api.requests)


def test_connection_errors_do_not_carry_the_key_in_their_chain():
    """Real: httpx's own transport failing to connect; httpx's exception is not chained."""
    client = SpheronClient("http://127.0.0.1:9", KEY, retry=RetryPolicy(attempts=1))
    with pytest.raises(SpheronError) as info:
        client.list_instances()
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert all(KEY not in text for text in texts_of_error(info.value))


def test_client_accepts_an_api_key_object_and_shows_it_masked():
    client = SpheronClient(BASE, ApiKey(KEY, "keyring"))
    assert "sai_pk_…9f2c" in repr(client) and KEY not in repr(client)
