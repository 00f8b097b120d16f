"""Parsers for the text `sphnctl deployment ...` prints (see spheron-protocol.md).

sphnctl has no machine-readable mode for most commands, so these parsers read the documented
human formats and are deliberately tolerant: unknown lines are ignored, key/value lines may be
indented differently, and the raw text is always kept so nothing is lost when a format drifts.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Iterable

NO_RESPONSE_FROM_HOST = "Deployment details not available. No response from host."


@dataclass(frozen=True)
class CreateResult:
    lid: int
    provider: str | None
    price_per_hour: str | None
    raw: str = ""


@dataclass(frozen=True)
class ForwardedPort:
    host: str
    host_port: int
    container_port: int
    proto: str = "TCP"

    def __str__(self) -> str:
        return f"{self.host}:{self.host_port} -> {self.container_port} ({self.proto})"


@dataclass
class ServiceStatus:
    name: str
    ports: list[ForwardedPort] = field(default_factory=list)
    available: int = 0
    total: int = 0
    ready: int = 0
    host_uri: str | None = None
    region: str | None = None


@dataclass
class DeploymentDetails:
    lid: int | None = None
    status: str | None = None
    provider: str | None = None
    price_per_hour: str | None = None
    start_time: str | None = None
    remaining_time: str | None = None
    services: list[ServiceStatus] = field(default_factory=list)
    host_uri: str | None = None
    region: str | None = None
    # True when the provider (fizz node) did not answer: only on-chain details are known.
    no_response_from_host: bool = False
    raw: str = ""

    @property
    def available(self) -> bool:
        """Every service has all its replicas available (and there is at least one service)."""
        return bool(self.services) and all(
            s.total > 0 and s.available >= s.total for s in self.services
        )

    def service(self, name: str) -> ServiceStatus | None:
        return next((s for s in self.services if s.name == name), None)


@dataclass(frozen=True)
class DeploymentRow:
    lid: int
    provider: str
    state: str
    start_time: str


@dataclass(frozen=True)
class LogLine:
    """One line of `deployment logs`: a service line, a fizz start-up line, or plain text."""

    text: str
    kind: str = "plain"  # "service" | "startup" | "plain"
    pod: str | None = None
    service: str | None = None
    replica: str | None = None
    owner: str | None = None
    dseq: int | None = None
    gseq: int | None = None
    oseq: int | None = None
    provider: str | None = None
    raw: str = ""


@dataclass(frozen=True)
class Event:
    type: str | None
    reason: str | None
    note: str | None
    kind: str | None = None
    namespace: str | None = None
    name: str | None = None
    lease_id: dict[str, Any] = field(default_factory=dict)
    reporting_controller: str | None = None
    reporting_instance: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def service(self) -> str | None:
        if not self.name:
            return None
        if (self.kind or "").lower() in ("pod", "replicaset"):
            return split_pod_name(self.name)[0]
        return self.name

    @property
    def is_failure(self) -> bool:
        return (self.type or "").lower() == "warning" or (self.reason or "") in FAILURE_REASONS

    def __str__(self) -> str:
        where = f"{self.kind}/{self.name}" if self.kind else (self.name or "")
        return f"{self.type or '?'} {self.reason or '?'} {where}: {self.note or ''}".rstrip()


FAILURE_REASONS = frozenset(
    {"Failed", "BackOff", "ErrImagePull", "ImagePullBackOff", "CrashLoopBackOff", "FailedScheduling"}
)


# ---------------------------------------------------------------- create, update, close
def _first(pattern: str, text: str) -> str | None:
    match = re.search(pattern, text, re.IGNORECASE | re.MULTILINE)
    return match.group(1).strip() if match else None


def parse_create(text: str) -> CreateResult:
    lid = _first(r"^\W*Lid\s*:\s*(\d+)", text) or _first(r"\blease id\s*:?\s*(\d+)", text)
    if lid is None:
        raise ValueError("no 'Lid:' line in sphnctl's create output")
    provider = _first(r"^\W*Provider(?: address)?\s*:\s*(\S+)", text)
    price = _first(r"Agreed price per hour\s*:\s*(.+)$", text)
    return CreateResult(lid=int(lid), provider=provider, price_per_hour=price, raw=text)


def parse_close(text: str) -> str | None:
    """The transaction hash of `Close request sent to provider: <tx>` (None when absent)."""
    return _first(r"Close request sent to provider\s*:\s*(\S+)", text)


def parse_update_lid(text: str) -> int | None:
    lid = _first(r"^\W*Lid\s*:\s*(\d+)", text)
    return int(lid) if lid else None


# ---------------------------------------------------------------- get
_PORT_RE = re.compile(r"(?P<host>[\w.\-]+):(?P<hp>\d+)\s*->\s*(?P<cp>\d+)(?:\s*\((?P<proto>\w+)\))?")
_REPLICAS_RE = re.compile(
    r"(?P<avail>\d+)\s*/\s*(?P<total>\d+)\s*available(?:\s*,\s*(?P<ready>\d+)\s*ready)?", re.I
)
_KEY_RE = re.compile(r"^(?P<indent>\s*)(?:-\s*)?(?P<key>[A-Za-z][\w ./-]*?)\s*:\s*(?P<value>.*)$")

_TOP_KEYS = {
    "status": "status",
    "state": "status",
    "provider": "provider",
    "price per hour": "price_per_hour",
    "agreed price per hour": "price_per_hour",
    "start time": "start_time",
    "remaining time": "remaining_time",
    "host uri": "host_uri",
    "region": "region",
}
_IGNORED_IN_SERVICE = {"ports", "forwarded ports", "uris", "ips", "replicas", "host uri", "region"}
# Replica counts written one per line, as some versions do ("Available replicas: 1").
_REPLICA_COUNT_KEYS = {"available replicas": "available", "available": "available",
                       "ready replicas": "ready", "ready": "ready", "total replicas": "total",
                       "total": "total", "desired replicas": "total"}


def _starts_services(key: str, value: str) -> bool:
    """"Services:", "Services running:", "Service details:" and the like open the services block."""
    return not value and key.split()[0] in ("services", "service")


def parse_get(text: str) -> DeploymentDetails:
    """Read `deployment get --lid N`: key/value lines, then one indented block per service."""
    details = DeploymentDetails(raw=text)
    details.no_response_from_host = "no response from host" in text.lower()
    lid = _first(r"deployment ID\s*:?\s*(\d+)", text) or _first(r"^\W*Lid\s*:\s*(\d+)", text)
    details.lid = int(lid) if lid else None
    in_services = False
    services_indent = -1
    current: ServiceStatus | None = None
    for line in text.splitlines():
        if not line.strip():
            continue
        port = _PORT_RE.search(line)
        if port and "->" in line:
            if current is not None:
                current.ports.append(
                    ForwardedPort(port["host"], int(port["hp"]), int(port["cp"]), (port["proto"] or "TCP").upper())
                )
            continue
        match = _KEY_RE.match(line)
        if not match:
            continue
        indent, key, value = len(match["indent"]), match["key"].strip().lower(), match["value"].strip()
        if _starts_services(key, value) and not in_services:
            in_services, services_indent, current = True, indent, None
            continue
        if in_services and indent <= services_indent:
            in_services, current = False, None
        if in_services and not value and key not in _IGNORED_IN_SERVICE:
            current = ServiceStatus(name=match["key"].strip())
            details.services.append(current)
            continue
        if current is not None and key in _REPLICA_COUNT_KEYS and value.isdigit():
            setattr(current, _REPLICA_COUNT_KEYS[key], int(value))
            continue
        if current is not None and key == "replicas":
            replicas = _REPLICAS_RE.search(value)
            if replicas:
                current.available, current.total = int(replicas["avail"]), int(replicas["total"])
                current.ready = int(replicas["ready"] or replicas["avail"])
            continue
        if current is not None and key in ("host uri", "region"):
            setattr(current, key.replace(" ", "_"), value)
            if getattr(details, key.replace(" ", "_")) is None:
                setattr(details, key.replace(" ", "_"), value)
            continue
        attribute = _TOP_KEYS.get(key)
        if attribute and value and getattr(details, attribute) is None:
            setattr(details, attribute, value)
    return details


# ---------------------------------------------------------------- list
def parse_list(text: str) -> list[DeploymentRow]:
    """Rows of the `deployment list` table (ID, Provider, State, StartTime), borders tolerated."""
    rows: list[DeploymentRow] = []
    for line in text.splitlines():
        cells = [c for c in re.split(r"\s*[|│]\s*|\s{2,}|\t", line.strip()) if c]
        if len(cells) < 3 or not cells[0].isdigit():
            continue  # header, border or message
        start = " ".join(cells[3:]) if len(cells) > 3 else ""
        rows.append(DeploymentRow(int(cells[0]), cells[1], cells[2], start))
    return rows


# ---------------------------------------------------------------- logs
_LOG_PREFIX_RE = re.compile(
    r"^\[(?P<owner>[^/\]\s]+)/(?P<dseq>\d+)/(?P<gseq>\d+)/(?P<oseq>\d+)/(?P<provider>[^\]\s]+)\]"
    r"\[(?P<pod>[^\]]+)\] ?(?P<text>.*)$"
)
_STARTUP_RE = re.compile(r"^\[Fizz Node\] ?(?P<text>.*)$")
_POD_SUFFIX_RE = re.compile(r"^[a-z0-9]{5}$")
_REPLICASET_HASH_RE = re.compile(r"^[a-z0-9]{6,10}$")


def split_pod_name(pod: str) -> tuple[str, str]:
    """`web-5d8f7c9b4-x2x7p` -> ("web", "5d8f7c9b4-x2x7p"); `db-0` -> ("db", "0")."""
    parts = pod.split("-")
    if len(parts) >= 3 and _POD_SUFFIX_RE.match(parts[-1]) and _REPLICASET_HASH_RE.match(parts[-2]):
        return "-".join(parts[:-2]), "-".join(parts[-2:])
    if len(parts) >= 2 and parts[-1].isdigit():
        return "-".join(parts[:-1]), parts[-1]
    return pod, ""


def parse_log_line(line: str) -> LogLine:
    line = line.rstrip("\r\n")
    match = _LOG_PREFIX_RE.match(line)
    if match:
        service, replica = split_pod_name(match["pod"])
        return LogLine(
            text=match["text"], kind="service", pod=match["pod"], service=service, replica=replica,
            owner=match["owner"], dseq=int(match["dseq"]), gseq=int(match["gseq"]),
            oseq=int(match["oseq"]), provider=match["provider"], raw=line,
        )
    startup = _STARTUP_RE.match(line)
    if startup:
        return LogLine(text=startup["text"], kind="startup", raw=line)
    if line.startswith("{"):
        parsed = _parse_json_log(line)
        if parsed:
            return parsed
    return LogLine(text=line, raw=line)


def _parse_json_log(line: str) -> LogLine | None:
    """`logs -o json`: one object per line with the pod `name` and the `message`."""
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    pod = obj.get("name") or obj.get("pod")
    text = obj.get("message", obj.get("log", obj.get("text", "")))
    lease = obj.get("lease_id") or {}
    service, replica = split_pod_name(pod) if pod else (None, None)
    return LogLine(
        text=str(text).rstrip("\n"), kind="service" if pod else "plain", pod=pod,
        service=obj.get("service") or service, replica=replica, owner=lease.get("owner"),
        dseq=_int_or_none(lease.get("dseq")), gseq=_int_or_none(lease.get("gseq")),
        oseq=_int_or_none(lease.get("oseq")), provider=lease.get("provider"), raw=line,
    )


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def parse_logs(text: str) -> list[LogLine]:
    return [parse_log_line(line) for line in text.splitlines() if line.strip()]


# ---------------------------------------------------------------- events
def event_from_json(obj: dict[str, Any]) -> Event:
    target = obj.get("object") or {}
    return Event(
        type=obj.get("type"), reason=obj.get("reason"), note=obj.get("note", obj.get("message")),
        kind=target.get("kind"), namespace=target.get("namespace"), name=target.get("name"),
        lease_id=dict(obj.get("lease_id") or {}),
        reporting_controller=obj.get("reportingController"),
        reporting_instance=obj.get("reportingInstance"), raw=obj,
    )


class EventStreamDecoder:
    """Incremental reader of the event stream: objects concatenated, pretty-printed or one per line.

    `feed()` returns the events completed so far; a text line that is not JSON (a warning, an
    error message) is collected in `noise` rather than breaking the stream.
    """

    def __init__(self) -> None:
        self._buffer = ""
        self._decoder = json.JSONDecoder()
        self.noise: list[str] = []

    def feed(self, chunk: str) -> list[Event]:
        self._buffer += chunk
        events: list[Event] = []
        while True:
            self._buffer = self._buffer.lstrip()
            if not self._buffer:
                break
            if self._buffer[0] not in "{[":
                line, newline, rest = self._buffer.partition("\n")
                if not newline:
                    break  # maybe a partial line: wait for its end
                self.noise.append(line.strip())
                self._buffer = rest
                continue
            try:
                obj, end = self._decoder.raw_decode(self._buffer)
            except json.JSONDecodeError:
                break  # incomplete object: wait for more text
            self._buffer = self._buffer[end:]
            events.extend(_events_in(obj))
        return events

    def close(self) -> list[Event]:
        """End of stream: whatever is left cannot become an event any more."""
        events = self.feed("\n")
        if self._buffer.strip():
            self.noise.append(self._buffer.strip())
        self._buffer = ""
        return events


def _events_in(obj: Any) -> Iterable[Event]:
    if isinstance(obj, list):
        return [event_from_json(o) for o in obj if isinstance(o, dict)]
    if isinstance(obj, dict):
        return [event_from_json(obj)]
    return []


def parse_events(text: str) -> list[Event]:
    decoder = EventStreamDecoder()
    return decoder.feed(text) + decoder.close()
