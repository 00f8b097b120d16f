"""``doctor``: read-only checks of the configured backend, and every answer compared with our
models (``%spheron doctor`` and ``spheron-jupyter doctor``).

It asks what a session relies on -- auth, the team, its balance, one page of offers, the
instance list, the SSH keys, the provider list -- and reports each way an answer differs from
client/_models.py (client/conformance.py names them: unknown field, unknown status or other
enumeration value, missing or mistyped field) as one line naming the route and the field, then
a summary.  It only sends GETs: nothing is created and nothing is spent.  The report never
holds the API key (only where it came from, masked), so ``--json`` can be attached to a bug.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

HELP = "check the configured backend read-only and compare its answers with our models"
OFFER_PAGE = 20


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    differences: int = 0

    @property
    def line(self) -> str:
        mark = "ok  " if self.ok else "FAIL"
        extra = f" ({self.differences} difference{'s' * (self.differences != 1)})" \
            if self.differences else ""
        return f"{mark} {self.name}: {self.detail}{extra}"


@dataclass
class DoctorReport:
    backend: str
    url: str
    key: str
    checks: list[Check] = field(default_factory=list)
    differences: list[Any] = field(default_factory=list)  # conformance.Difference

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    @property
    def summary(self) -> str:
        n = len(self.differences)
        return (f"doctor: {len(self.checks)} checks, {len(self.checks) - len(self.failed)} ok, "
                f"{len(self.failed)} failed; {n} difference{'s' * (n != 1)} from our models "
                "(nothing was created or spent)")

    def lines(self) -> list[str]:
        head = f"backend {self.backend} at {self.url}, key: {self.key}"
        return [head, *(c.line for c in self.checks),
                *(f"  diff {d.line}" for d in self.differences), self.summary]

    def as_dict(self) -> dict[str, Any]:
        from . import __version__

        return {"tool": "spheron-jupyter doctor", "version": __version__,
                "backend": self.backend, "url": self.url, "key": self.key,
                "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail,
                            "differences": c.differences} for c in self.checks],
                "differences": [d.as_dict() for d in self.differences],
                "summary": self.summary}

    @property
    def healthy(self) -> bool:
        return not self.failed and not self.differences


def _safe_url(url: str) -> str:
    """The URL without any user:password part."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def run_doctor(client: Any, *, backend: str) -> DoctorReport:
    """Every check against ``client`` (a ``SpheronClient``); GETs only."""
    from .client import GpuGroup, Instance, SpheronError, SshKey, Team, TeamBalance
    from .client._paging import extract_items
    from .client.conformance import Difference, check_items

    report = DoctorReport(backend, _safe_url(client.base_url), client.key_description)

    def ask(name: str, path: str, params: dict[str, Any] | None = None, *, auth: bool = True):
        try:
            return client.get_json(path, params, auth=auth, what=f"the {name} check")
        except SpheronError as exc:
            report.checks.append(Check(name, False, exc.message))
            return None

    def compare(name: str, route: str, model: type, items: list[Any], where: str,
                detail: str) -> None:
        found = check_items(route, model, items, where)
        report.differences.extend(found)
        report.checks.append(Check(name, True, detail, len(found)))

    def envelope(route: str, payload: Any, allowed: set[str]) -> None:
        if isinstance(payload, dict):
            for key in sorted(set(payload) - allowed):
                report.differences.append(Difference(
                    route, key, "unknown-field", f"envelope field {key!r} is not one we know"))

    balance = ask("auth", "/api/balance")
    if balance is None:
        report.checks.append(Check("team", False, "skipped: the key was not accepted"))
        return report
    report.checks.append(Check("auth", True, "the API accepted the key"))
    teams, _ = _items(extract_items, balance, ("teams", "data"))
    envelope("GET /api/balance", balance, {"teams", "currency"})
    compare("balance", "GET /api/balance", TeamBalance, teams, "teams",
            _balance_detail(balance, teams))
    current = next((t for t in teams if isinstance(t, dict) and t.get("isCurrentTeam")), None)
    current = current or (teams[0] if len(teams) == 1 and isinstance(teams[0], dict) else None)
    team_id = client.team_id or (current or {}).get("teamId")
    team_list = ask("team", "/api/teams")
    if team_list is not None:
        items, _ = _items(extract_items, team_list, ("teams", "data"))
        compare("team", "GET /api/teams", Team, items, "teams",
                f"current team {(current or {}).get('teamName', '?')} ({team_id or '?'}); "
                f"{len(items)} team(s)")
    offers = ask("offers", "/api/gpu-offers", {"page": 1, "limit": OFFER_PAGE})
    if offers is not None:
        envelope("GET /api/gpu-offers", offers, {"data", "total", "page", "limit", "totalPages"})
        groups, _ = _items(extract_items, offers, ("data",))
        count = sum(len(g.get("offers") or []) for g in groups if isinstance(g, dict))
        compare("offers", "GET /api/gpu-offers", GpuGroup, groups, "data",
                f"page 1: {len(groups)} GPU groups, {count} offers")
    listing = ask("instances", "/api/deployments",
                  {"teamId": team_id, "page": 1, "limit": 100} if team_id else {"page": 1})
    if listing is not None:
        items, _ = _items(extract_items, listing, ("deployments", "data", "items"))
        envelope("GET /api/deployments", listing,
                 {"deployments", "data", "items", "total", "page", "limit", "totalPages",
                  "success"})
        compare("instances", "GET /api/deployments", Instance, items, "deployments",
                f"{len(items)} instance(s)")
    keys = ask("ssh keys", "/api/ssh-keys")
    if keys is not None:
        items, _ = _items(extract_items, keys, ("sshKeys", "ssh_keys", "keys", "data"))
        compare("ssh keys", "GET /api/ssh-keys", SshKey, items, "keys", f"{len(items)} key(s)")
    providers = ask("providers", "/api/providers", auth=False)
    if providers is not None:
        _check_providers(report, providers)
    return report


def _items(extract_items, payload: Any, keys: tuple[str, ...]) -> tuple[list[Any], Any]:
    from .client import SpheronError

    try:
        return extract_items(payload, keys)
    except SpheronError:
        return [], None


def _balance_detail(balance: Any, teams: list[Any]) -> str:
    current = next((t for t in teams if isinstance(t, dict) and t.get("isCurrentTeam")), None)
    if current is None:
        return f"{len(teams)} team(s), none marked current"
    amount = current.get("balance")
    currency = balance.get("currency", "USD") if isinstance(balance, dict) else "USD"
    shown = f"{amount:,.2f} {currency}" if isinstance(amount, (int, float)) else repr(amount)
    return f"{current.get('teamName', '?')}: {shown}"


def _check_providers(report: DoctorReport, payload: Any) -> None:
    from .client.conformance import Difference
    from .client.providers import KNOWN_PROVIDERS

    names = [p if isinstance(p, str) else (p or {}).get("slug") or (p or {}).get("id")
             for p in (payload if isinstance(payload, list) else [])]
    before = len(report.differences)
    for index, name in enumerate(names):
        if isinstance(name, str) and name not in KNOWN_PROVIDERS:
            report.differences.append(Difference(
                "GET /api/providers", f"[{index}]", "unknown-value",
                f"provider {name!r} is not one we know"))
    if not isinstance(payload, list):
        report.differences.append(Difference("GET /api/providers", "(answer)", "mistyped-field",
                                             "the answer is not a bare array"))
    report.checks.append(Check("providers", True, f"{len(names)} provider(s)",
                               len(report.differences) - before))


# -- the console command ---------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Read-only checks of the configured Spheron backend (auth, team, balance, one page of "
        "offers, instances, SSH keys, providers); each way an answer differs from our models is "
        "one line naming the route and the field. Creates and spends nothing; the key is never "
        "shown.")
    parser.add_argument("--json", action="store_true",
                        help="print the report as JSON (to attach to a bug report)")
    parser.add_argument("--backend", choices=["local", "cloud"], default=None,
                        help="local (the embedded emulator) or cloud; default: as a session "
                             "would choose (cloud when an API key is configured)")
    parser.add_argument("--url", default=None, help="the API URL (default: the backend's)")


def run(args: argparse.Namespace) -> int:
    from .client import SpheronClient
    from .session import backends
    from .session.errors import SessionError

    try:
        conn = backends.choose(args.backend, args.url)
    except SessionError as exc:
        print(f"spheron-jupyter doctor: {exc}", file=sys.stderr)
        return 2
    with SpheronClient(conn.url, conn.api_key) as client:
        report = run_doctor(client, backend=conn.backend)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print("\n".join(report.lines()))
    return 0 if report.healthy else 1
