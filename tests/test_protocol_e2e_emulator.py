"""The emulated sphnctl's own rules and edges, through the driver (see test_protocol_e2e.py)."""

import json
import os
import re
import urllib.request
from pathlib import Path

import pytest
import yaml

from spheron_jupyter.emulator.protocol_state import ProtocolStore
from spheron_jupyter.protocol.deployments import wait_until_available
from spheron_jupyter.protocol.parsers import EventStreamDecoder
from spheron_jupyter.protocol.sphnctl import SphnctlCommandError
from tests.support.protocol import eventually, icl, write

pytestmark = pytest.mark.slow


def listening_addresses(port: int) -> set[str]:
    """Local addresses of LISTEN sockets on `port`, read from /proc/net/tcp{,6}."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = open(table).read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for row in rows:
            local, state = row.split()[1], row.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


def test_errors_are_one_line_and_rules_of_the_cli(driver, tmp_path):
    with pytest.raises(SphnctlCommandError, match="^sphnctl deployment get failed: deployment with lid 99 not found$"):
        driver.get(99)
    lid = driver.create(write(tmp_path, "web.yml", icl())).lid
    with pytest.raises(SphnctlCommandError, match="--startup is only available for fizz mode"):
        driver.logs(lid, startup=True)
    for change, expected in (
        (icl().replace("us-west", "eu-east"), "the region cannot change (us-west -> eu-east)"),
        (icl().replace("uSPON", "USDT"), "the payment token cannot change (uSPON -> USDT)"),
        (icl().replace("provider", "fizz"), "the mode cannot change (provider -> fizz)"),
        (icl().replace("community", "secured"), "the tier cannot change"),
    ):
        with pytest.raises(SphnctlCommandError) as error:
            driver.update(lid, write(tmp_path, "changed.yml", change))
        assert expected in str(error.value) and "close the deployment and create a new one" in str(error.value)
    driver.close(lid)
    with pytest.raises(SphnctlCommandError, match="already closed"):
        driver.close(lid)


def test_forwarded_ports_listen_on_loopback_only(driver, tmp_path):
    lid = driver.create(write(tmp_path, "web.yml", icl())).lid
    details = wait_until_available(driver, lid, interval=0.2, timeout=30)
    port = details.service("web").ports[0].host_port
    assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1, and nothing else
    pod_ports = [p["ports"]["8080"] for p in ProtocolStore().status(lid)["pods"]]
    assert all(listening_addresses(p) == {"0100007F"} for p in pod_ports)
    driver.close(lid)


def test_update_can_scale_and_keeps_the_port(driver, tmp_path):
    lid = driver.create(write(tmp_path, "web.yml", icl())).lid
    before = wait_until_available(driver, lid, interval=0.2, timeout=30).service("web")
    bigger = icl(count=2).replace("512Mi", "1Gi").replace("units: 1", "units: 2")
    driver.update(lid, write(tmp_path, "two.yml", bigger))
    after = wait_until_available(driver, lid, interval=0.2, timeout=30).service("web")
    assert (after.available, after.total) == (2, 2)
    assert after.ports == before.ports
    (service,) = ProtocolStore().load(lid)["services"]
    assert (service["resources"]["cpu"], service["resources"]["memory"]) == ("2", "1Gi")  # resources changed
    assert [row.lid for row in driver.list()] == [lid]  # on the same lease
    driver.close(lid)


def test_a_missing_executable_is_a_failed_event(driver, tmp_path):
    lid = driver.create(write(tmp_path, "missing.yml", icl(command=["no-such-program-xyz"]))).lid

    def failed():
        return [e for e in driver.events(lid) if e.reason == "Failed"]

    (first, *_) = eventually(failed, timeout=10)
    assert first.type == "Warning" and "no-such-program-xyz" in first.note
    assert any(e.reason == "BackOff" for e in driver.events(lid))
    assert driver.get(lid).service("web").available == 0
    driver.close(lid)


def test_an_image_without_command_gets_a_placeholder(driver, tmp_path):
    document = yaml.safe_load(icl())
    del document["services"]["web"]["command"], document["services"]["web"]["args"]
    document = yaml.safe_dump(document)
    lid = driver.create(write(tmp_path, "image.yml", document)).lid
    details = wait_until_available(driver, lid, interval=0.2, timeout=30)
    port = details.service("web").ports[0].host_port
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
        assert "python:3.11-slim" in response.read().decode()
    assert any("image python:3.11-slim recorded, not run" in ln.text for ln in driver.logs(lid, service="web"))
    driver.close(lid)


def test_state_lives_where_SPHERON_PROTOCOL_STATE_says(driver, tmp_path, monkeypatch):
    elsewhere = tmp_path / "protocol-state"
    monkeypatch.setenv("SPHERON_PROTOCOL_STATE", str(elsewhere))
    lid = driver.create(write(tmp_path, "web.yml", icl())).lid
    record = json.loads((elsewhere / "deployments" / str(lid) / "deployment.json").read_text())
    assert record["services"][0]["env"] == {"GREETING": "hello"}
    assert oct((elsewhere / "deployments" / str(lid) / "icl.yml").stat().st_mode & 0o777) == "0o600"
    tails = [line.text for line in driver.logs(lid, tail=1)]
    assert len(tails) <= 1
    driver.close(lid)
    # The fixture's clean-up looks in the default place; nothing is left running here either.
    assert ProtocolStore(elsewhere).runtime_alive(lid) is False


def test_fizz_update_replaces_the_pod_and_keeps_lease_and_port(driver, tmp_path):
    lid = driver.create(write(tmp_path, "fizz.yml", icl(mode="fizz"))).lid
    port = wait_until_available(driver, lid, mode="fizz", interval=0.2, timeout=30).service("web").ports[0]
    driver.update(lid, write(tmp_path, "fizz2.yml", icl(mode="fizz", greeting="hola")))

    def answer():
        with urllib.request.urlopen(f"http://127.0.0.1:{port.host_port}/", timeout=2) as response:
            return response.read().decode() == "hola"

    assert eventually(answer)
    assert [row.lid for row in driver.list()] == [lid]
    assert any("Starting container web-" in line.text for line in driver.logs(lid, startup=True))
    driver.close(lid)


def processes_in(directory) -> list[int]:
    """Processes whose working directory is inside `directory` (the runtime and every pod, with
    anything a pod started), read from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cwd = os.readlink(f"/proc/{entry}/cwd")
            except OSError:
                continue
            if cwd == str(directory) or cwd.startswith(f"{directory}/"):
                found.append(int(entry))
    return found


DOCS = Path(__file__).parent / "data" / "sphnctl"


def shape(text: str) -> list[str]:
    """The documented text with its values blanked: addresses, times, numbers, names and values
    after a label, so the emulator's output and the docs' examples compare line by line."""
    shaped = []
    for line in text.splitlines():
        line = line.rstrip()
        line = re.sub(r"0x[0-9a-fA-F]+", "0xH", line)
        line = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "TIME", line)
        line = re.sub(r"[\w.-]+:\d+ -> \d+ \((TCP|UDP)\)", "HOST:PORT -> PORT (P)", line)
        line = re.sub(r"(Fizz Node|provider) matching", "X matching", line)
        line = re.sub(r"\d+(\.\d+)?", "N", line)
        line = re.sub(r"^(\s*\"?[A-Za-z][\w ]*\"?:) \S.*$", r"\1 *", line)  # label: value
        line = re.sub(r"^(\s+)[A-Za-z][\w.-]*$", r"\1NAME", line)  # a bare service name
        if "|" in line:  # a table row: right-aligned cells, compared by their widths below
            line = re.sub(r" +", " ", line)
        shaped.append(line)
    return shaped


def test_raw_outputs_are_the_documented_text(driver, tmp_path):
    """What the emulated sphnctl prints, read without the (tolerant) parsers, has the shape of
    the outputs copied from Spheron's docs (tests/data/sphnctl/docs_*.txt), line by line."""
    created = driver.run("deployment", "create", str(write(tmp_path, "web.yml", icl()))).stdout
    assert shape(created) == shape((DOCS / "docs_create.txt").read_text())
    lid = int(re.search(r"^ Lid: (\d+)$", created, re.M).group(1))
    assert re.search(r"^ Agreed price per hour: 3$", created, re.M)
    wait_until_available(driver, lid, interval=0.2, timeout=30)

    got = driver.run("deployment", "get", "--lid", str(lid)).stdout
    assert shape(got) == shape((DOCS / "docs_get.txt").read_text())
    assert re.search(r"^  web$", got, re.M) and "Replicas: 1/1 available, 1 ready" in got
    for listing in (driver.run("deployment", "list").stdout, driver.run("deployment", "list", "-a").stdout):
        assert shape(listing) == shape((DOCS / "docs_list.txt").read_text())
        assert re.search(rf"^ +{lid}\| +0x\w+\| +Active\|", listing, re.M)
        widths = {tuple(len(cell) for cell in line.split("|")) for line in listing.splitlines()}
        assert widths == {tuple(len(cell) for cell in (DOCS / "docs_list.txt").read_text().splitlines()[0].split("|"))}

    logs = driver.run("deployment", "logs", "--lid", str(lid), "--service", "web").stdout.splitlines()
    assert shape("\n".join(logs[:2]) + "\n") == shape((DOCS / "docs_logs.txt").read_text())[:2]
    prefix = re.compile(rf"^\[0x[0-9a-fA-F]{{40}}/{lid}/1/1/0x[0-9a-fA-F]{{40}}\]\[web-\w+-\w+\] ")
    assert logs[2:] and all(prefix.match(line) for line in logs[2:]), logs

    text = driver.run("deployment", "events", "--lid", str(lid)).stdout
    documented = (DOCS / "docs_events.txt").read_text()
    first_object = len(documented.split("}\n{")[0].splitlines()) + 1
    assert shape(text)[:first_object] == shape(documented)[:first_object]
    decoder = EventStreamDecoder()
    events = decoder.feed(text) + decoder.close()
    raw = [event.raw for event in events]
    assert raw and decoder.noise == [f"Here is the logs for the Lease ID: {lid}"]
    for obj in raw:
        assert set(obj) == {"type", "reportingController", "reportingInstance", "reason", "note", "object", "lease_id"}
        assert set(obj["object"]) == {"kind", "namespace", "name"}
        assert set(obj["lease_id"]) == {"owner", "dseq", "gseq", "oseq", "provider"}
        assert obj["lease_id"]["dseq"] == lid  # an integer, as in the docs
    assert {"Scheduled", "Pulled", "Created", "Started"} <= {obj["reason"] for obj in raw}

    directory = ProtocolStore().deployment_dir(lid)
    first_pods = processes_in(directory)
    assert len(first_pods) == 2  # the runtime and the pod
    updated = driver.update(lid, write(tmp_path, "web2.yml", icl(greeting="bonjour")))
    assert shape(updated) == shape((DOCS / "docs_update.txt").read_text())
    assert re.search(rf"^ lid: {lid}$", updated, re.M)
    wait_until_available(driver, lid, interval=0.2, timeout=30)
    closed = driver.run("deployment", "close", "--lid", str(lid)).stdout
    assert shape(closed) == shape((DOCS / "docs_close.txt").read_text().replace("[Tx Hash]", "0x0"))
    assert re.search(r"^Close request sent to provider: 0x[0-9a-f]+$", closed, re.M)
    # Nothing of the lease runs any more: not the runtime, the pod the update replaced, or the new one.
    assert eventually(lambda: not processes_in(directory), timeout=10)
