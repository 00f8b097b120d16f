"""Higher-level deployment flows: the troubleshooting advice of Spheron's "Provider Mode vs
Fizz Mode" page (docs/spheron-protocol.md, source MODES), turned into behaviour.

The page says: when a deployment is not available and its replicas are 0, wait a few minutes
for the image pull and container start and check again; then look at the logs and at the events
(image pull or container start failures). In fizz mode, "Deployment details not available. No
response from host." means: read the start-up logs (`logs --startup`); a fizz node can also go
down because its owner stopped it.

Nothing here prints: every finding goes to an `on_report` callback as a `Report`, so the notebook
layer decides how to show it (and tests can read it).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from collections.abc import Callable

from .parsers import NO_RESPONSE_FROM_HOST, DeploymentDetails, Event
from .sphnctl import Sphnctl, SphnctlCommandError, SphnctlError


class DeploymentNotAvailableError(SphnctlError):
    def __init__(self, message: str, details: DeploymentDetails | None = None):
        super().__init__(message)
        self.details = details


@dataclass(frozen=True)
class Report:
    """One thing to tell the user. `kind`: available, waiting, no-response, startup-logs, logs,
    events, failures, timeout."""

    kind: str
    text: str
    lines: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join([self.text, *("  " + line for line in self.lines)])


ReportCallback = Callable[[Report], None]


def describe_replicas(details: DeploymentDetails) -> str:
    parts = [f"{s.name} {s.available}/{s.total} available" for s in details.services]
    return ", ".join(parts) or "no services reported"


def describe_ports(details: DeploymentDetails) -> str:
    return ", ".join(f"{s.name}: {port}" for s in details.services for port in s.ports)


def recent_logs(driver: Sphnctl, lid: int, *, tail: int = 20, service: str | None = None) -> Report:
    lines = [line.raw for line in driver.logs(lid, tail=tail, service=service)]
    where = f" of {service}" if service else ""
    text = f"Last {len(lines)} log lines{where} of deployment {lid}:" if lines else \
        f"No log lines{where} yet for deployment {lid} (the containers may not have started)."
    return Report("logs", text, lines)


def recent_events(driver: Sphnctl, lid: int, *, tail: int = 20) -> list[Report]:
    """The recent events, and the failures among them (pull or start errors) called out first."""
    events: list[Event] = driver.events(lid, tail=tail)
    reports = []
    failures = [e for e in events if e.is_failure]
    if failures:
        reports.append(Report("failures", f"{len(failures)} failure event(s) for deployment {lid}: "
                              "the image may not exist or be private, or the command may exit:",
                              [str(e) for e in failures]))
    reports.append(Report("events", f"Last {len(events)} events of deployment {lid}:" if events else
                          f"No events yet for deployment {lid}.", [str(e) for e in events]))
    return reports


def startup_logs(driver: Sphnctl, lid: int, *, tail: int | None = 50) -> Report:
    try:
        lines = [line.raw for line in driver.logs(lid, startup=True, tail=tail)]
    except SphnctlCommandError as error:  # e.g. a provider-mode lease: --startup is fizz only
        return Report("startup-logs", f"No start-up logs for deployment {lid}: {error}")
    return Report("startup-logs", f"Start-up logs of fizz deployment {lid}:" if lines else
                  f"No start-up logs for fizz deployment {lid}.", lines)


def troubleshoot(driver: Sphnctl, lid: int, *, mode: str | None = None,
                 details: DeploymentDetails | None = None, log_tail: int = 20,
                 event_tail: int = 20) -> list[Report]:
    """Everything that page suggests looking at for a deployment that is not available."""
    details = details or driver.get(lid)
    if details.no_response_from_host or (mode == "fizz" and not details.services):
        return [Report("no-response", f"{NO_RESPONSE_FROM_HOST} The fizz node of deployment {lid} may still be "
                       "starting it, or its owner stopped the node; its start-up logs tell which."),
                startup_logs(driver, lid)]
    reports = [recent_logs(driver, lid, tail=log_tail)]
    reports += recent_events(driver, lid, tail=event_tail)
    return reports


def wait_until_available(driver: Sphnctl, lid: int, *, mode: str | None = None, timeout: float = 600.0,
                         interval: float = 10.0, diagnose_after: float = 60.0,
                         on_report: ReportCallback | None = None, cancel: threading.Event | None = None,
                         clock: Callable[[], float] = time.monotonic,
                         sleep: Callable[[float], bool] | None = None) -> DeploymentDetails:
    """Check `get` until every service has all replicas available; explain the wait as it goes.

    Replicas at 0 are reported once and rechecked every `interval` seconds; after
    `diagnose_after` seconds the recent logs and events are shown (and shown again whenever new
    failure events appear). A fizz "No response from host" shows the start-up logs. Raises
    DeploymentNotAvailableError after `timeout`, or when cancelled.
    """
    report = on_report or (lambda _report: None)
    cancel = cancel or threading.Event()
    wait = sleep or cancel.wait
    started = clock()
    said_waiting = diagnosed = False
    shown_failures: set[str] = set()
    shown_startup: list[str] | None = None
    details: DeploymentDetails | None = None
    while True:
        details = driver.get(lid)
        if details.available:
            ports = describe_ports(details)
            report(Report("available", f"Deployment {lid} is available: {describe_replicas(details)}"
                          + (f"; ports {ports}" if ports else "") + "."))
            return details
        elapsed = clock() - started
        if details.no_response_from_host:
            startup = startup_logs(driver, lid)
            if startup.lines != shown_startup:  # only when there is something new to read
                report(Report("no-response", f"{NO_RESPONSE_FROM_HOST} The fizz node may still be starting "
                              f"deployment {lid}, or its owner stopped it; start-up logs follow."))
                report(startup)
                shown_startup = startup.lines
        else:
            if not said_waiting:
                report(Report("waiting", f"Deployment {lid} is not available yet ({describe_replicas(details)}): "
                              f"the provider is pulling the image and starting the containers; "
                              f"checking again every {interval:g}s."))
                said_waiting = True
            if elapsed >= diagnose_after:
                reports = troubleshoot(driver, lid, mode=mode, details=details)
                failures = next((r for r in reports if r.kind == "failures"), None)
                fresh = set(failures.lines) - shown_failures if failures else set()
                if not diagnosed or fresh:
                    for item in reports:
                        report(item)
                    diagnosed = True
                    shown_failures |= fresh
        if elapsed >= timeout or cancel.is_set():
            break
        if wait(interval):
            break
    reason = "cancelled" if cancel.is_set() else f"still not available after {timeout:g}s"
    message = f"Deployment {lid} is {reason} ({describe_replicas(details)})" if details.services else \
        f"Deployment {lid} is {reason}"
    report(Report("timeout", message + "; see the logs and events above."))
    raise DeploymentNotAvailableError(message + ".", details)
