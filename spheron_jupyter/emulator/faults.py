"""Fault injection: a small grammar, given with ``--faults SPEC`` or ``POST /_emulator/faults``.

A SPEC is comma-separated items.  ``*N`` at the end of an item limits it to the next N matching
events; without it the item applies every time.

HTTP faults, ``ACTION@MATCH[*N]``, where MATCH is ``[METHOD ]PATH-GLOB`` (fnmatch on the path
without its query string; the method is optional) and ACTION is one of:

    429[=DURATION]   answer 429 {"code": "RATE_LIMIT_EXCEEDED", "retryAfter": S} and a
                     Retry-After header (S = DURATION rounded up, default 1 s)
    500..599         answer that status with {"error", "message"}
    404              answer 404 Not Found (a route the service no longer has, e.g. can-terminate)
    slow=DURATION    wait DURATION, then handle the request normally
    drop             close the connection without any response (nothing is done)

Other faults:

    lose-create[*N]       commit a POST /api/deployments, then close the connection without a
                          response (the instance exists; the caller never hears of it)
    reclaim-spot=DURATION SPOT instances are reclaimed (status terminated-provider) DURATION
                          after they start running
    ssh-drop=DURATION[*N] DURATION after an instance starts running, the runtime drops its SSH
                          connections; repeated every DURATION, N times (default 1)

Examples: ``429@/api/gpu-offers*2``, ``503@GET /api/deployments*1``, ``slow=2s@/api/balance``,
``drop@POST /api/volumes*1``, ``lose-create*1``, ``reclaim-spot=30s``, ``ssh-drop=5s*3``.
Routes under ``/_emulator/`` are never faulted, so a test can always repair what it broke.
"""

from __future__ import annotations

import fnmatch
import math
import re
import threading
from dataclasses import dataclass, field

from .durations import parse_duration

_COUNT = re.compile(r"^(.*?)\*(\d+)$")
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


class FaultSpecError(ValueError):
    pass


@dataclass
class HttpFault:
    action: str  # "status", "slow", "drop"
    method: str | None
    path_glob: str
    remaining: int | None  # None: unlimited
    status: int = 0
    seconds: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method != method:
            return False
        return fnmatch.fnmatchcase(path, self.path_glob)

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.seconds))


@dataclass
class FaultPlan:
    """Parsed faults plus their remaining counts; consumption is thread-safe."""

    spec: str = ""
    http: list[HttpFault] = field(default_factory=list)
    lose_create_remaining: int | None = 0  # 0: off, None: always
    reclaim_spot_after: float | None = None
    ssh_drop_after: float | None = None
    ssh_drop_times: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take_http(self, method: str, path: str) -> list[HttpFault]:
        """Consume and return every HTTP fault that applies to this request (slow ones first)."""
        if path.startswith("/_emulator/"):
            return []
        taken = []
        with self._lock:
            for fault in self.http:
                if fault.remaining == 0 or not fault.matches(method, path):
                    continue
                if fault.remaining is not None:
                    fault.remaining -= 1
                taken.append(fault)
        return sorted(taken, key=lambda f: f.action != "slow")

    def take_lose_create(self) -> bool:
        with self._lock:
            if self.lose_create_remaining == 0:
                return False
            if self.lose_create_remaining is not None:
                self.lose_create_remaining -= 1
            return True

    def describe(self) -> list[dict]:
        with self._lock:
            items = [
                {"action": f.action, "method": f.method, "path": f.path_glob,
                 "status": f.status or None, "seconds": f.seconds or None, "remaining": f.remaining}
                for f in self.http
            ]
        if self.lose_create_remaining != 0:
            items.append({"action": "lose-create", "remaining": self.lose_create_remaining})
        if self.reclaim_spot_after is not None:
            items.append({"action": "reclaim-spot", "seconds": self.reclaim_spot_after})
        if self.ssh_drop_after is not None:
            items.append({"action": "ssh-drop", "seconds": self.ssh_drop_after,
                          "times": self.ssh_drop_times})
        return items


def _split_count(item: str) -> tuple[str, int | None]:
    match = _COUNT.match(item)
    if not match:
        return item, None
    return match.group(1), int(match.group(2))


def _duration(text: str, item: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise FaultSpecError(f"fault {item!r}: {exc}") from None


def _parse_http(item: str, action_text: str, match_text: str, count: int | None) -> HttpFault:
    match_text = match_text.strip()
    method = None
    head, _, rest = match_text.partition(" ")
    if rest and head.upper() in _METHODS:
        method, match_text = head.upper(), rest.strip()
    if not match_text.startswith("/"):
        raise FaultSpecError(f"fault {item!r}: the part after @ must be [METHOD ]/path-glob")
    fault = HttpFault(action="status", method=method, path_glob=match_text, remaining=count)
    if action_text == "drop":
        fault.action = "drop"
    elif action_text.startswith("slow="):
        fault.action, fault.seconds = "slow", _duration(action_text[5:], item)
    elif re.fullmatch(r"429(=.+)?", action_text):
        fault.status = 429
        fault.seconds = _duration(action_text[4:], item) if "=" in action_text else 1.0
    elif re.fullmatch(r"5\d\d|404", action_text):
        fault.status = int(action_text)
    else:
        raise FaultSpecError(
            f"fault {item!r}: unknown action {action_text!r}; use 429[=S], 404, 5xx, slow=S or drop")
    return fault


def parse_faults(spec: str | None) -> FaultPlan:
    """Parse a SPEC (see the module docstring); raise FaultSpecError naming the bad item."""
    plan = FaultPlan(spec=spec or "")
    for raw_item in (spec or "").split(","):
        item = raw_item.strip()
        if not item:
            continue
        body, count = _split_count(item)
        if count == 0:
            raise FaultSpecError(f"fault {item!r}: *N must be at least 1")
        if "@" in body:
            action_text, _, match_text = body.partition("@")
            plan.http.append(_parse_http(item, action_text.strip().lower(), match_text, count))
        elif body == "lose-create":
            plan.lose_create_remaining = count
        elif body.startswith("reclaim-spot="):
            if count is not None:
                raise FaultSpecError(f"fault {item!r}: reclaim-spot takes no *N")
            plan.reclaim_spot_after = _duration(body.split("=", 1)[1], item)
        elif body.startswith("ssh-drop="):
            plan.ssh_drop_after = _duration(body.split("=", 1)[1], item)
            plan.ssh_drop_times = count or 1
        else:
            raise FaultSpecError(
                f"unknown fault {item!r}: use ACTION@[METHOD ]PATH[*N], lose-create[*N], "
                "reclaim-spot=DURATION or ssh-drop=DURATION[*N]")
    return plan
