"""Parsers for the text `sphnctl deployment ...` prints (docs/spheron-protocol.md).

sphnctl has no machine-readable mode for most commands, so these parsers read the documented
human formats and are deliberately tolerant: unknown lines are ignored, key/value lines may be
indented differently, and the raw text is always kept so nothing is lost when a format drifts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Logs and events live in streams.py; importing them from here keeps working.
from .streams import (  # noqa: F401
    FAILURE_REASONS,
    Event,
    EventStreamDecoder,
    LogLine,
    event_from_json,
    is_logs_header,
    parse_events,
    parse_log_line,
    parse_logs,
    split_pod_name,
)

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


# ---------------------------------------------------------------- create, update, close
def _first(pattern: str, text: str) -> str | None:
    match = re.search(pattern, text, re.IGNORECASE | re.MULTILINE)
    return match.group(1).strip() if match else None


def parse_create(text: str) -> CreateResult:
    """The lease of `deployment create`, from either text the docs print (docs/spheron-protocol.md):
    the newer ` Lid: 44` / ` Provider:` / ` Agreed price per hour:` or the older ` lid: 44` /
    ` provider:` / ` agreed price:`."""
    lid = _first(r"^\W*Lid\s*:\s*(\d+)", text) or _first(r"\blease id\s*:?\s*(\d+)", text)
    if lid is None:
        raise ValueError("no 'Lid:' line in sphnctl's create output")
    provider = _first(r"^\W*Provider(?: address)?\s*:\s*(\S+)", text)
    price = _first(r"^\W*Agreed price(?: per hour)?\s*:\s*(.+)$", text)
    return CreateResult(lid=int(lid), provider=provider, price_per_hour=price, raw=text)


def parse_create_progress(text: str) -> int | None:
    """The lease id, once create has printed it (None before): a create interrupted after this
    line has left a lease on the chain."""
    lid = _first(r"^\W*Lid\s*:\s*(\d+)", text)
    return int(lid) if lid else None


def parse_close(text: str) -> str | None:
    """The transaction hash of `Close request sent to provider: <tx>` (None when absent)."""
    return _first(r"Close request sent to provider\s*:\s*(.+?)\s*$", text)


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
_IGNORED_IN_SERVICE = {"ports", "forwarded ports", "uris", "url", "urls", "ips", "replicas", "host uri", "region"}
# Replica counts written one per line, as some versions do ("Available replicas: 1").
_REPLICA_COUNT_KEYS = {"available replicas": "available", "available": "available",
                       "ready replicas": "ready", "ready": "ready", "total replicas": "total",
                       "total": "total", "desired replicas": "total"}


def _starts_services(key: str, value: str) -> bool:
    """"Services:", "Services running:", "Service details:" and the like open the services block."""
    return not value and key.split()[0] in ("services", "service")


_SERVICE_NAME_RE = re.compile(r"^(?P<indent>\s*)(?P<name>[A-Za-z0-9][\w.-]*)\s*:?\s*$")


def _service_heading(line: str, in_block_indent: int | None) -> tuple[int, str] | None:
    """A service's heading inside `Services running:`: its bare name on its own line, as
    Spheron's docs print it (`  ollama-test`), or the `name:` form. Returns (indent, name)."""
    match = _SERVICE_NAME_RE.match(line)
    if not match:
        return None
    indent, name = len(match["indent"]), match["name"]
    if in_block_indent is not None and indent != in_block_indent:
        return None  # deeper: a field of the service (`Ports:`), not a new service
    if name.lower() in _IGNORED_IN_SERVICE or name.lower() in _TOP_KEYS:
        return None
    return indent, name


def parse_get(text: str) -> DeploymentDetails:
    """Read `deployment get --lid N`: key/value lines, then one indented block per service.

    Both forms of a service heading are read (docs/spheron-protocol.md, "sphnctl output"): the
    bare name on its own line and `name:`. Service fields are the lines indented under it.
    """
    details = DeploymentDetails(raw=text)
    details.no_response_from_host = "no response from host" in text.lower()
    lid = _first(r"deployment ID\s*:?\s*(\d+)", text) or _first(r"^\W*Lid\s*:\s*(\d+)", text)
    details.lid = int(lid) if lid else None
    in_services = False
    services_indent = -1
    heading_indent: int | None = None  # the indent of service headings, learnt from the first
    current: ServiceStatus | None = None
    for line in text.splitlines():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if in_services and indent <= services_indent:
            in_services, current = False, None
        if in_services and (heading_indent is None or indent <= heading_indent):
            heading = _service_heading(line, heading_indent)
            if heading is not None:
                heading_indent = heading[0]
                current = ServiceStatus(name=heading[1])
                details.services.append(current)
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
        key, value = match["key"].strip().lower(), match["value"].strip()
        if _starts_services(key, value) and not in_services:
            in_services, services_indent, current, heading_indent = True, indent, None, None
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
        if current is not None:
            continue  # URL: [], IPs: and other per-service fields
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
