"""The emulator's REST application: routing, authentication, faults and the instance lifecycle.

Transport-free on purpose: :meth:`EmulatorApp.handle` takes a method, path, headers and body and
returns a :class:`Response` (or :data:`DROP`, meaning "close the connection without answering");
httpserver.py puts it on a socket.  Route handlers live in the routes_*.py modules, one per
resource, each exposing ``register(app)``.
"""

from __future__ import annotations

import json
import re
import secrets
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from . import (routes_account, routes_admin, routes_deployments, routes_kubernetes, routes_offers,
               routes_volumes)
from .catalog import generate_offers
from . import errors
from .errors import ApiError, Drop
from .faults import FaultPlan, parse_faults
from .ratelimit import GENERAL_LIMIT, GENERAL_WINDOW_SECONDS, GeneralLimit
from .runtime import InstanceRuntime, NoopRuntime
from .store import INACTIVE, Store

DROP = errors.DROP  # re-exported: httpserver and handlers use it


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)
    authenticated: bool = False

    def json(self) -> dict:
        """The body as a JSON object; an empty body counts as ``{}``."""
        if not self.body.strip():
            return {}
        try:
            document = json.loads(self.body)
        except ValueError:
            raise ApiError.bad_request("Request body is not valid JSON.") from None
        if not isinstance(document, dict):
            raise ApiError.bad_request("Request body must be a JSON object.")
        return document


@dataclass
class Response:
    status: int
    body: object = None
    headers: dict[str, str] = field(default_factory=dict)


# What a handler returns: a Response, a (status, body) pair, or DROP.
HandlerResult = Response | tuple[int, object] | Drop
Handler = Callable[["EmulatorApp", Request], HandlerResult]
# A runtime call the app makes once its lock is released: (kind, instance, volume or None).
RuntimeEvent = tuple[str, dict, dict | None]


@dataclass
class Route:
    method: str
    pattern: re.Pattern
    handler: Handler
    auth: str  # "required", "optional" or "none"


class EmulatorApp:
    def __init__(self, state_dir: Path, *, boot_seconds: float = 2.0,
                 minimum_runtime_seconds: float = 1200.0, faults: FaultPlan | None = None,
                 runtime: InstanceRuntime | None = None,
                 rate_limit: int | None = GENERAL_LIMIT,
                 rate_window_seconds: float = GENERAL_WINDOW_SECONDS):
        self.store = Store(Path(state_dir))
        # The live service's general limit, on by default (ratelimit.py); tests raise it.
        self.general_limit = GeneralLimit(rate_limit, rate_window_seconds)
        self.boot_seconds = boot_seconds
        self.minimum_runtime_seconds = minimum_runtime_seconds
        self.faults = faults or parse_faults("")
        self.runtime = runtime or NoopRuntime()
        self.catalog = generate_offers()
        self.offers_by_id = {offer["offerId"]: offer for offer in self.catalog}
        self.routes: list[Route] = []
        self._ssh_drops_done: dict[str, int] = {}
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        for module in (routes_offers, routes_deployments, routes_volumes, routes_account,
                       routes_kubernetes, routes_admin):
            module.register(self)

    # --- routing ------------------------------------------------------------------------------
    def route(self, method: str, template: str, handler: Handler, auth: str = "required") -> None:
        """Register ``handler(app, request) -> (status, body) | Response``; ``{name}`` captures a
        path segment."""
        pattern = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "$")
        self.routes.append(Route(method, pattern, handler, auth))

    def _authenticate(self, request: Request, route: Route) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if header:
            valid = scheme.lower() == "bearer" and secrets.compare_digest(
                token.strip().encode(), self.store.api_key.encode())
            if not valid:
                raise ApiError.unauthorized()  # a wrong key is refused even where auth is optional
            request.authenticated = True
        elif route.auth == "required":
            raise ApiError.unauthorized()

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes, *,
               client: str = "127.0.0.1") -> Response | Drop:
        """``client`` is the caller's address: the general rate limit counts per address."""
        parts = urlsplit(target)
        path = parts.path.rstrip("/") or "/"
        request = Request(method.upper(), path, dict(parse_qsl(parts.query)),
                          {k.lower(): v for k, v in headers.items()}, body)
        for fault in self.faults.take_http(request.method, path):
            if fault.action == "slow":
                time.sleep(fault.seconds)
            elif fault.action == "drop":
                return DROP
            elif fault.status == 429:
                return self._error(ApiError.rate_limited(
                    fault.retry_after, "Too many requests, please try again later."))
            elif fault.status == 404:
                return Response(404, {"error": "Not Found", "message": f"No route for {path}."})
            else:
                return Response(fault.status, {"error": "Service Unavailable",
                                               "message": "The service is temporarily unavailable."})
        limit_headers: dict[str, str] = {}
        if not path.startswith("/_emulator/"):  # admin routes are never limited, like faults
            wait, remaining = self.general_limit.take(client, time.time())
            if wait is not None:
                return self._error(ApiError.rate_limited(
                    wait, "Too many requests from this IP, please try again later."))
            limit_headers = self.general_limit.headers(remaining)
        try:
            route = self._match(request)
            self._authenticate(request, route)
            self.advance()
            result = route.handler(self, request)
        except ApiError as exc:
            response = self._error(exc)
            response.headers.update(limit_headers)
            return response
        if result is DROP:
            return result
        if not isinstance(result, Response):
            status, payload = result
            result = Response(status, payload)
        result.headers.update(limit_headers)
        return result

    def _match(self, request: Request) -> Route:
        allowed = []
        for route in self.routes:
            match = route.pattern.match(request.path)
            if not match:
                continue
            if route.method != request.method:
                allowed.append(route.method)
                continue
            request.params = match.groupdict()
            return route
        if allowed:
            raise ApiError(405, {"error": "Method Not Allowed",
                                 "message": f"{request.method} is not allowed on {request.path}."})
        raise ApiError(404, {"error": "Not Found", "message": f"No route for {request.path}."})

    @staticmethod
    def _error(exc: ApiError) -> Response:
        return Response(exc.status, exc.body, dict(exc.headers))

    # --- lifecycle ----------------------------------------------------------------------------
    def advance(self, now: float | None = None) -> None:
        """Move instances along their timers (boot, spot reclaim, ssh drops), then tell the
        runtime.  Called by the ticker and at the start of every request, so a GET never shows a
        status whose time has passed."""
        now = time.time() if now is None else now
        events: list[RuntimeEvent] = []
        with self.store.lock:
            changed = False
            for dep in self.store.deployments.values():
                if dep["status"] == "deploying" and now >= dep["createdTs"] + self.boot_seconds:
                    dep["status"], dep["startedTs"] = "running", dep["createdTs"] + self.boot_seconds
                    if dep.get("kubernetesAddon"):
                        dep["kubernetesAddon"]["status"] = "ready"
                    events.append(("boot", self.store.runtime_instance(dep, now), None))
                    changed = True
                if dep["status"] != "running":
                    continue
                reclaim = self.faults.reclaim_spot_after
                if (reclaim is not None and dep["instanceType"] == "SPOT"
                        and now >= dep["startedTs"] + reclaim):
                    events.extend(self.end_instance(dep, "terminated-provider", now,
                                                    "Spot capacity reclaimed by the provider."))
                    changed = True
                    continue
                events.extend(self._due_ssh_drops(dep, now))
            if changed:
                self.store.save()
        self.run_events(events)

    def _due_ssh_drops(self, dep: dict, now: float) -> list[RuntimeEvent]:
        after, times = self.faults.ssh_drop_after, self.faults.ssh_drop_times
        done = self._ssh_drops_done.get(dep["id"], 0)
        if after is None or done >= times or now < dep["startedTs"] + after * (done + 1):
            return []
        self._ssh_drops_done[dep["id"]] = done + 1
        return [("drop", self.store.runtime_instance(dep, now), None)]

    def end_instance(self, dep: dict, status: str, now: float, reason: str | None = None) -> list[RuntimeEvent]:
        """Stop billing, detach volumes; returns the runtime events. Caller holds the lock."""
        events: list[RuntimeEvent] = []
        for volume_id in list(dep["volumeIds"]):
            volume = self.store.volumes.get(volume_id)
            if volume and dep["id"] in volume["attachedTo"]:
                volume["attachedTo"].remove(dep["id"])
                events.append(("detach", self.store.runtime_instance(dep, now),
                               self.store.runtime_volume(volume, now)))
        dep["volumeIds"] = []
        dep["status"], dep["stoppedTs"] = status, now
        if reason:
            dep["statusReason"] = reason
        events.append(("stop", self.store.runtime_instance(dep, now), None))
        return events

    def run_events(self, events: list[RuntimeEvent]) -> None:
        for kind, instance, volume in events:
            if kind == "boot":
                self.runtime.boot(instance)
            elif kind == "stop":
                self.runtime.stop(instance)
            elif kind == "attach" and volume is not None:
                self.runtime.attach(instance, volume)
            elif kind == "detach" and volume is not None:
                self.runtime.detach(instance, volume)
            elif kind == "drop":
                self.runtime.drop_connections(instance)

    def start(self, tick_seconds: float = 0.05) -> None:
        """Resume the runtime for instances that outlived a restart, then start the ticker."""
        with self.store.lock:
            survivors = [self.store.runtime_instance(d, time.time())
                         for d in self.store.deployments.values() if d["status"] not in INACTIVE]
        for instance in survivors:
            endpoint = self.runtime.resume(instance)
            if endpoint:  # (ip, ssh_port, user) when the runtime had to move the endpoint
                with self.store.lock:
                    dep = self.store.deployments[instance["id"]]
                    dep["ipAddress"], dep["sshPort"], dep["user"] = endpoint
                    self.store.save()
        self._ticker = threading.Thread(target=self._tick_loop, args=(tick_seconds,),
                                        name="emulator-ticker", daemon=True)
        self._ticker.start()

    def _tick_loop(self, tick_seconds: float) -> None:
        while not self._stop.wait(tick_seconds):
            try:
                self.advance()
            except Exception as exc:  # keep ticking: one bad runtime call must not freeze time
                print(f"emulator: ticker error: {exc!r}", flush=True, file=sys.stderr)

    def close(self) -> None:
        self._stop.set()
        if self._ticker:
            self._ticker.join(timeout=5)
        self.runtime.close()
