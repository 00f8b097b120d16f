"""The sphnctl output parsers, on the documented sample outputs in tests/data/sphnctl/."""

from pathlib import Path

import pytest

from spheron_jupyter.protocol.parsers import (
    EventStreamDecoder,
    ForwardedPort,
    parse_close,
    parse_create,
    parse_events,
    parse_get,
    parse_list,
    parse_log_line,
    parse_logs,
    parse_update_lid,
    split_pod_name,
)

DATA = Path(__file__).parent / "data" / "sphnctl"
PROVIDER = "0x2f5E9b1A7c3D4e6F8a0B1c2D3e4F5a6B7c8D9e0F"


def sample(name: str) -> str:
    return (DATA / name).read_text()


def test_create_gives_lid_provider_and_agreed_price():
    result = parse_create(sample("create.txt"))
    assert result.lid == 44
    assert result.provider == PROVIDER
    assert result.price_per_hour == "0.37 uSPON"


def test_create_without_lid_is_an_error():
    with pytest.raises(ValueError, match="Lid"):
        parse_create("Error: insufficient balance\n")


def test_get_reads_status_times_services_ports_and_replicas():
    details = parse_get(sample("get_provider.txt"))
    assert details.lid == 44
    assert details.status == "Matched"
    assert details.provider == PROVIDER
    assert details.price_per_hour == "0.37 uSPON"
    assert details.start_time == "2024-09-03T09:22:21Z"
    assert details.remaining_time == "1h 59min 12s"
    assert details.host_uri == "provider.gpufarm.xyz"
    assert details.region == "us-west"
    assert [s.name for s in details.services] == ["web", "worker"]
    web, worker = details.services
    assert web.ports == [
        ForwardedPort("provider.gpufarm.xyz", 31068, 8080, "TCP"),
        ForwardedPort("provider.gpufarm.xyz", 31069, 9090, "UDP"),
    ]
    assert str(web.ports[0]) == "provider.gpufarm.xyz:31068 -> 8080 (TCP)"
    assert (web.available, web.total, web.ready) == (1, 1, 1)
    # The port written on the same line as "Ports:" is read too.
    assert worker.ports == [ForwardedPort("provider.gpufarm.xyz", 31070, 6379, "TCP")]
    assert (worker.available, worker.total) == (1, 2)
    assert not details.available  # worker is short of one replica
    assert not details.no_response_from_host


def test_get_with_zero_replicas_is_not_available():
    details = parse_get(sample("get_zero_replicas.txt"))
    lab = details.service("lab")
    assert (lab.available, lab.total, lab.ready) == (0, 1, 0)
    assert lab.ports[0].container_port == 8888
    assert not details.available


def test_get_notices_a_fizz_node_that_does_not_answer():
    details = parse_get(sample("get_fizz_no_response.txt"))
    assert details.no_response_from_host
    assert details.status == "Matched"
    assert details.services == []
    assert not details.available


@pytest.mark.parametrize("name", ["list.txt", "list_bordered.txt"])
def test_list_reads_the_table(name):
    rows = parse_list(sample(name))
    assert rows[0].lid == 44
    assert rows[0].provider == PROVIDER
    assert rows[0].state == "Matched"
    assert rows[0].start_time == "2024-09-03T09:22:21Z"


def test_list_keeps_start_times_with_spaces():
    rows = parse_list(sample("list.txt"))
    assert [r.lid for r in rows] == [44, 45, 43]
    assert rows[2].state == "Closed"
    assert rows[2].start_time == "2024-09-02 18:01:44 +0000 UTC"


def test_log_lines_split_prefix_into_lease_service_and_replica():
    lines = parse_logs(sample("logs.txt"))
    first = lines[0]
    assert first.kind == "service"
    assert first.owner == "0x5aA1b2C3d4E5f6A7b8C9d0E1f2A3b4C5d6E7f8A9"
    assert (first.dseq, first.gseq, first.oseq) == (44, 1, 1)
    assert first.provider == PROVIDER
    assert first.pod == "web-5d8f7c9b4-x2x7p"
    assert (first.service, first.replica) == ("web", "5d8f7c9b4-x2x7p")
    assert first.text == "Serving HTTP on 0.0.0.0 port 8080"
    assert [line.service for line in lines] == ["web", "web", "worker", "db"]
    assert lines[3].replica == "0"


def test_startup_lines_are_recognised():
    lines = parse_logs(sample("logs_startup.txt"))
    assert all(line.kind == "startup" for line in lines)
    assert lines[1].text == "Pulling container image: python:3.11-slim"


def test_json_log_lines():
    lines = parse_logs(sample("logs_json.txt"))
    assert [(ln.service, ln.text) for ln in lines] == [
        ("web", "Serving HTTP on 0.0.0.0 port 8080"),
        ("worker", "Ready to accept connections"),
    ]
    assert lines[0].dseq == 44


def test_unprefixed_text_is_plain():
    line = parse_log_line("Error: lease not found\n")
    assert (line.kind, line.text, line.service) == ("plain", "Error: lease not found", None)


@pytest.mark.parametrize(
    "pod, expected",
    [
        ("web-5d8f7c9b4-x2x7p", ("web", "5d8f7c9b4-x2x7p")),
        ("my-api-7c9f6d8b5-q4m2z", ("my-api", "7c9f6d8b5-q4m2z")),
        ("db-0", ("db", "0")),
        ("lonely", ("lonely", "")),
    ],
)
def test_pod_names(pod, expected):
    assert split_pod_name(pod) == expected


def test_events_concatenated_pretty_and_one_per_line():
    events = parse_events(sample("events_pretty.txt"))
    assert [e.reason for e in events] == ["Scheduled", "Pulling", "Failed"]
    scheduled = events[0]
    assert scheduled.type == "Normal"
    assert (scheduled.kind, scheduled.namespace, scheduled.name) == ("Pod", "8h2kq0ab1c", "web-5d8f7c9b4-x2x7p")
    assert scheduled.service == "web"
    assert scheduled.lease_id["dseq"] == "44"
    assert scheduled.reporting_controller == "default-scheduler"
    assert events[2].is_failure and not events[0].is_failure

    lines = parse_events(sample("events_lines.jsonl"))
    assert [e.reason for e in lines] == ["ScalingReplicaSet", "Started", "BackOff"]
    assert lines[0].service == "web"  # a Deployment object is named after the service
    assert "BackOff" in str(lines[2])


def test_event_decoder_waits_for_split_objects_and_skips_noise():
    text = sample("events_pretty.txt")
    decoder = EventStreamDecoder()
    seen = []
    for start in range(0, len(text), 7):  # arbitrary chunk boundaries, as a pipe delivers them
        seen += decoder.feed(text[start : start + 7])
    seen += decoder.close()
    assert [e.reason for e in seen] == ["Scheduled", "Pulling", "Failed"]

    decoder = EventStreamDecoder()
    events = decoder.feed('warning: slow provider\n{"type": "Normal", "reason": "Pulled"}\n{"type"')
    assert [e.reason for e in events] == ["Pulled"]
    assert decoder.noise == ["warning: slow provider"]
    assert decoder.close() == []
    assert decoder.noise[-1] == '{"type"'


def test_update_and_close():
    assert parse_update_lid(sample("update.txt")) == 44
    assert parse_close(sample("close.txt")).startswith("0x3f9a1c2b")
    assert parse_close("nothing here") is None


def test_get_tolerates_other_headings_and_replica_counts_one_per_line():
    text = """Deployment details:
  Status: Matched
Service details:
  api:
    Forwarded Ports:
      - host.example:30001 -> 8000 (TCP)
    Available replicas: 2
    Ready replicas: 1
    Total replicas: 2
"""
    details = parse_get(text)
    api = details.service("api")
    assert api.ports[0].host_port == 30001
    assert (api.available, api.ready, api.total) == (2, 1, 2)
    assert details.available
