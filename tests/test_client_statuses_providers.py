"""The client's one list of statuses and its provider quirks (client/statuses.py, providers.py).

Facts: docs/spheron-api.md ("Statuses", "Deployment objects"); SkyPilot's provisioner (cited in
tests/data/live/README.md) logs in as `ubuntu` when a deployment carries no `user`.
"""

from __future__ import annotations

import pytest

from spheron_jupyter.client import Instance, is_billing, is_known, is_terminal, ssh_users


@pytest.mark.parametrize("status", ["terminated", "terminated-provider", "failed", " Terminated "])
def test_terminal_statuses_end_billing(status):
    assert is_terminal(status) and not is_billing(status)


@pytest.mark.parametrize("status", ["deploying", "running", "stopped", "hibernating",
                                    "PAUSED_BY_ADMIN", "", None])
def test_everything_else_bills(status):
    assert is_billing(status) and not is_terminal(status)


def test_known_means_documented():
    assert is_known("running") and is_known("terminated-provider")
    # stopped is shown in the dashboard, not in the API docs: billing, but not "known".
    assert not is_known("stopped") and is_billing("stopped")
    assert not is_known("hibernating") and not is_known(None)


def test_instance_keeps_an_unknown_status_as_is():
    got = Instance.model_validate({"id": "d1", "status": "Suspended-Billing"})
    assert got.status == "Suspended-Billing" and got.is_billing and not got.is_terminal
    missing = Instance.model_validate({"id": "d2"})
    assert missing.is_billing


@pytest.mark.parametrize(("fields", "users"), [
    ({"user": "admin", "providerId": "massed-compute"}, ["admin"]),
    ({"providerId": "massed-compute"}, ["ubuntu"]),
    ({"providerId": "massed-compute-7f3a"}, ["ubuntu"]),  # providerId with an id suffix
    ({"providerId": "Massed-Compute"}, ["ubuntu"]),
    ({"providerId": "sesterce"}, ["ubuntu", "root"]),
    ({"providerId": "spheron-am", "user": " "}, ["ubuntu", "root"]),
    ({}, ["ubuntu", "root"]),
    ({"user": "root"}, ["root"]),
])
def test_ssh_users_order(fields, users):
    instance = Instance.model_validate({"id": "x", **fields})
    assert ssh_users(instance) == users
    assert ssh_users({"id": "x", **fields}) == users  # the API's dict works the same


def test_massed_compute_prefix_is_a_whole_word():
    # "massed-computers" is some other provider: no default for it.
    assert ssh_users(Instance.model_validate({"id": "x", "providerId": "massed-computers"})) \
        == ["ubuntu", "root"]
