"""Parsers for the log and event streams of `sphnctl deployment logs|events`.

The documented shapes (docs/spheron-protocol.md, "sphnctl output"): a header line, then
`[owner/dseq/gseq/oseq/provider][pod] text` lines, `[Fizz Node] ...` start-up lines, JSON lines
for `-o json`, and a stream of pretty-printed JSON event objects. Unknown lines are kept as plain
text (logs) or set aside as noise (events), never fatal.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Iterable


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


# The line sphnctl prints before the log lines (docs/spheron-protocol.md, "sphnctl output"):
# "Here is the logs for the Lease ID: 101", and "Startup logs for Lease ID: 44" for --startup.
_LOGS_HEADER_RE = re.compile(r"^\s*(?:Here is the logs for the Lease ID|Startup logs for Lease ID)\s*:?\s*\d*\s*$", re.I)


def is_logs_header(line: str) -> bool:
    return bool(_LOGS_HEADER_RE.match(line))


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
    """The log lines of `deployment logs` output, without sphnctl's header line."""
    return [parse_log_line(line) for line in text.splitlines() if line.strip() and not is_logs_header(line)]


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
