"""sphnctl's outputs as Spheron's docs print them drive the parsers, the driver and the magics.

The files docs_*.txt of tests/data/sphnctl/ are copied verbatim from Spheron's public docs
(spheronFdn/docs, content/rent-gpu/protocol-cli.mdx and content/rent-gpu/deploy-container/
with-cli.mdx at a2246fc5f93a6885e59d7fd7889b6e85b71ce306; the README names each block). The
driver and the magics read them through the scripted stand-in of tests/fixtures/sphnctl_fake.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from spheron_jupyter.protocol.parsers import (
    ForwardedPort,
    parse_close,
    parse_create,
    parse_events,
    parse_get,
    parse_list,
    parse_logs,
    parse_update_lid,
)
from spheron_jupyter.protocol.sphnctl import Sphnctl

DATA = Path(__file__).parent / "data" / "sphnctl"
OWNER = "0x2c11A76298A111B8cA8Db82205dc8f0A2688e6e8"
PROVIDER = "0x6634d41cccBD1E1576Ed4c6226832521A66bF874"


def doc(name: str) -> str:
    return (DATA / name).read_text()


def test_get_bare_name_form_gives_service_ports_replicas_and_lease_facts():
    details = parse_get(doc("docs_get.txt"))
    assert (details.lid, details.status) == (986, "Matched")
    assert details.provider == "0x3749384739874938473987493847398749384739"
    assert details.price_per_hour == "0.23682805553062620001"
    assert (details.start_time, details.remaining_time) == ("2025-02-01T12:05:40Z", "59min, 33sec")
    (service,) = details.services
    assert service.name == "ollama-test"  # a bare name, no colon
    assert service.ports == [ForwardedPort("provider.abc.com", 31068, 8080, "TCP")]
    assert (service.available, service.total, service.ready) == (0, 1, 0)
    assert (service.host_uri, service.region) == ("provider.abc.com", "us-west")
    assert not details.available and not details.no_response_from_host


def test_get_name_colon_form_gives_the_same_facts():
    bare = parse_get(doc("docs_get.txt"))
    colon = parse_get(doc("docs_get.txt").replace("  ollama-test\n", "  ollama-test:\n"))
    assert colon.services == bare.services and colon.services[0].name == "ollama-test"


def test_get_older_form_with_deployment_details_and_ips_list():
    details = parse_get(doc("docs_get_old.txt"))
    assert (details.lid, details.status, details.provider) == (44, "Matched", "avaaaa")
    (web,) = details.services
    assert web.name == "web"
    assert web.ports == [ForwardedPort("provider.provider.devnetasphn.com", 42100, 8888, "TCP")]
    assert (web.available, web.total, web.ready, web.region) == (1, 1, 1, "us-east")
    assert details.available


@pytest.mark.parametrize("name, lid, price", [
    ("docs_create.txt", 44, "0.1232434"),  # newer: ` Lid:`, ` Provider:`, ` Agreed price per hour:`
    ("docs_create_old.txt", 44, "158747943694"),  # older: ` lid:`, ` provider:`, ` agreed price:`
])
def test_create_both_documented_texts(name, lid, price):
    created = parse_create(doc(name))
    assert (created.lid, created.provider, created.price_per_hour) == (lid, PROVIDER, price)


def test_update_close_and_list():
    assert parse_update_lid(doc("docs_update.txt")) == 26
    assert parse_close(doc("docs_close.txt")) == "[Tx Hash]"
    (row,) = parse_list(doc("docs_list.txt"))
    assert (row.lid, row.provider, row.state, row.start_time) == (
        171, "0xb99E315d14653A7e2068b2764289e6F61755ebce", "Active", "2024-07-25T09:51:41Z")


def test_logs_skip_the_header_and_read_the_lease_prefix():
    lines = parse_logs(doc("docs_logs.txt"))
    assert not any("Here is the logs" in line.text for line in lines)
    first = lines[0]
    assert (first.kind, first.service, first.pod, first.dseq, first.owner) == (
        "service", "web", "web-65cc59bb99-bq78t", 46, OWNER)
    assert first.text == "Entered start.sh with args: jupyter lab"
    startup = parse_logs(doc("docs_logs_startup.txt"))
    assert [line.kind for line in startup] == ["startup"] * 10
    assert startup[1].text == "Pulling container image: jupyter/minimal-notebook:latest"


def test_events_after_a_header_with_integer_dseq():
    events = parse_events(doc("docs_events.txt"))
    assert [(e.reason, e.service, e.lease_id["dseq"]) for e in events] == [("Scheduled", "web", 46), ("Pulled", "web", 46)]


def test_driver_streams_create_progress_and_keeps_its_output(fake):
    seen: list[str] = []
    created = Sphnctl().create("gpu.yml", on_line=seen.append, log_dir=fake / "logs")
    assert created.lid == 44
    assert seen[0] == "Validating ICL configuration." and seen[-1] == "Deployment is finished."
    (log,) = (fake / "logs").glob("create-*.log")
    assert log.read_text().splitlines() == doc("docs_create.txt").splitlines()


def test_magic_get_shows_the_documented_service_port_and_replicas(shell, fake):
    out = shell.ok("%spheron deployment get --lid 986")
    text = repr(out.result)
    assert "ollama-test" in text and "provider.abc.com:31068 -> 8080 (TCP)" in text
    assert "0/1" in text and "Not available yet (ollama-test 0/1 available)" in text


def test_magic_list_follows_sphnctl_meaning_of_a(shell, fake):
    everything = repr(shell.ok("%spheron deployment list").result)
    active = repr(shell.ok("%spheron deployment list -a").result)
    assert "171" in everything and "Active" in everything
    assert active.startswith("Active deployments (billing)") and "171" in active
    assert (fake / "calls").read_text().splitlines()[-2:] == ["deployment list", "deployment list -a"]


def test_magic_update_close_logs_events(shell, fake, tmp_path):
    from tests.test_magic_protocol import LAB

    (tmp_path / "lab.yml").write_text(LAB)
    updated = repr(shell.ok(f"%spheron deployment update --lid 26 {tmp_path / 'lab.yml'}").result)
    assert "Updated deployment 26" in updated and "Update deployment is finished." in updated
    assert "[Tx Hash]" in repr(shell.ok("%spheron deployment close --lid 44").result)
    events = shell.ok("%spheron deployment events --lid 44").stdout
    assert "Scheduled" in events and "Failed" in events


def test_icl_deploy_reaches_available_on_the_documented_get(shell, fake, monkeypatch):
    from tests.test_magic_protocol import LAB

    monkeypatch.setenv("FAKE_GET", "docs_get_old.txt")  # `  web` bare name, 1/1 available
    out = shell.ok("%%spheron icl --deploy --timeout 30\n" + LAB)
    text = repr(out.result)
    assert "Deployment 44 is available" in text
    assert "web: provider.provider.devnetasphn.com:42100 -> 8888 (TCP)" in text
    assert "replicas" in text and "web 1/1" in text
    assert "sphnctl: Order matched successfully." in out.stdout  # the progress lines streamed


def test_warnings_never_block_a_create(shell, fake, tmp_path):
    """A document whose only findings are warnings (a tier spelling, a registry the docs do not
    name) reaches sphnctl; the password of its credentials is shown nowhere."""
    from tests.test_magic_protocol import LAB

    text = LAB.replace("    - community\n", "    - secure\n").replace(
        "    image: quay.io/jupyter/pytorch-notebook:cuda12-2024-07-29\n",
        "    image: nvcr.io/nvidia/pytorch:24.05-py3\n    credentials:\n      registry: nvcr.io\n"
        "      username: $oauthtoken\n      password: ngc-secret-value-123\n")
    path = tmp_path / "ngc.yml"
    path.write_text(text)
    out = shell.ok(f"%spheron deployment create {path}")
    assert "Created deployment 44" in repr(out.result)
    assert "deployment create" in (fake / "calls").read_text()
    assert "ngc-secret-value-123" not in out.text + repr(out.result)
    warned = [line for line in out.stdout.splitlines() if "warning:" in line]
    assert any("'nvcr.io'" in line and "may work" in line for line in warned)
    assert any("'secure'" in line and "protocol-sdk" in line for line in warned)


def test_magic_logs_and_events_on_the_documented_text(shell, fake, monkeypatch):
    (fake / "growing.log").write_text(doc("docs_logs.txt"))
    logs = shell.ok("%spheron deployment logs --lid 46").stdout
    assert "Entered start.sh with args: jupyter lab" in logs and "Here is the logs" not in logs
    (fake / "growing.log").write_text(doc("docs_logs_startup.txt"))
    startup = shell.ok("%spheron deployment logs --lid 44 --startup").stdout
    assert "[Fizz Node] Deployment startup complete" in startup and "Startup logs for" not in startup
    monkeypatch.setenv("FAKE_EVENTS", "docs_events.txt")
    events = shell.ok("%spheron deployment events --lid 46").stdout.splitlines()
    assert [line.split()[:2] for line in events if line.strip()] == [["Normal", "Scheduled"], ["Normal", "Pulled"]]


def test_follow_skips_the_documented_header(fake, monkeypatch):
    import threading

    monkeypatch.setenv("FAKE_FOLLOW_LOGS", "docs_logs.txt")
    cancel = threading.Event()
    lines = Sphnctl().follow_logs(46, cancel=cancel)
    first = next(lines)
    cancel.set()
    lines.close()  # ends the hanging `--follow` stand-in (its process group)
    assert (first.kind, first.service, first.text) == ("service", "web", "Entered start.sh with args: jupyter lab")
