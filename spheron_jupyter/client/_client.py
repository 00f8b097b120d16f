"""``SpheronClient``: offers, teams and instances (SSH keys and volumes are in ``_resources``).

The client does not know whether it talks to app.spheron.ai or the embedded emulator.  Two
rules shape it: a GET may be repeated (``_http``/``_retry``), a create never is.  Each create
carries a unique name, and when its answer is lost the client lists the team's instances and
returns the one with that name, or says plainly that nothing was created.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

import httpx

from ..config.credentials import ApiKey
from ..config.settings import DEFAULT_API_URL
from ._errors import (ApiUnreachableError, AuthenticationError, CreateOutcomeUnknownError,
                      InvalidRequestError, NotFoundError, RateLimitedError,
                      ServiceUnavailableError, SpheronError)
from ._http import HttpCore, is_lost_response
from ._models import (Balance, CanTerminate, GpuGroup, Instance, Offer, Team, TeamBalance,
                      TerminateResult)
from ._offers import OfferQuery, flatten_offers, select_offers, unique_instance_name
from ._paging import collect_pages, extract_items, parse_list, parse_one, unwrap_object
from ._requests import CreateRequest
from ._resources import AccountResources
from ._pacing import RequestBudget, shared_budget
from ._retry import Clock, RetryHook, RetryPolicy

__all__ = ["SpheronClient"]

log = logging.getLogger("spheron_jupyter.client")

_OFFER_QUERY_NAMES = {"sort_by": "sortBy", "sort_order": "sortOrder",
                      "instance_type": "instanceType"}


class SpheronClient(AccountResources):
    """A typed client for the Spheron AI REST API.

    ``transport`` (an httpx transport) and ``clock`` (``time()``/``sleep()``) are injectable
    so tests can stand in for the network and for time.  ``team_id`` pins the team; without
    it the current team from ``/api/balance`` is used and cached.

    ``pacing``: the request budget under the general rate limit.  By default every client of
    the process talking to the same host shares one (client/_pacing.py); a client on an
    injected transport (a test's stand-in for the network) has none unless given one.
    ``on_retry``: called with a :class:`RetryNotice` for each retry or wait worth a line
    (settable later as ``client.on_retry``).
    """

    def __init__(self, base_url: str = DEFAULT_API_URL, api_key: str | ApiKey | None = None, *,
                 transport: httpx.BaseTransport | None = None, clock: Clock | None = None,
                 timeout: float = 30.0, team_id: str | None = None,
                 retry: RetryPolicy | None = None, page_size: int = 100,
                 rng: random.Random | None = None, reconcile_attempts: int = 3,
                 reconcile_delay: float = 2.0,
                 pacing: RequestBudget | None | str = "shared",
                 on_retry: RetryHook | None = None) -> None:
        if api_key is not None and not isinstance(api_key, ApiKey):
            api_key = ApiKey(api_key, "given")
        self._key = api_key
        if isinstance(pacing, str):
            pacing = shared_budget(base_url) if transport is None else None
        self._core = HttpCore(base_url, api_key, transport=transport, clock=clock,
                              timeout=timeout, retry=retry, rng=rng, pacing=pacing,
                              on_retry=on_retry)
        self._team_id = team_id
        self._resolved_team_id: str | None = None
        self.page_size = page_size
        self.reconcile_attempts = max(1, reconcile_attempts)
        self.reconcile_delay = reconcile_delay

    # -- plumbing -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self._core.base_url

    @property
    def on_retry(self) -> RetryHook | None:
        """The hook told about retries and rate-limit waits (one RetryNotice each)."""
        return self._core.on_retry

    @on_retry.setter
    def on_retry(self, hook: RetryHook | None) -> None:
        self._core.on_retry = hook

    @property
    def pacing(self) -> RequestBudget | None:
        return self._core.pacing

    @property
    def has_key(self) -> bool:
        return self._key is not None

    def close(self) -> None:
        self._core.close()

    def __enter__(self) -> SpheronClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"SpheronClient(base_url={self.base_url!r}, team_id={self._team_id!r}, "
                f"api_key={self._key!r})")

    def _call(self, method: str, path: str, *, auth: bool = True, **kwargs: Any) -> Any:
        if auth and self._key is None:
            raise AuthenticationError(
                "No Spheron API key is configured; set SPHERON_API_KEY or run `%spheron login`.")
        return self._core.request(method, path, **kwargs)

    def _get_all(self, path: str, params: dict[str, Any], *, what: str, auth: bool = True,
                 keys: tuple[str, ...] | None = None) -> list[Any]:
        def fetch(page: int) -> Any:
            return self._call("GET", path, auth=auth, what=what,
                              params={**params, "page": page, "limit": self.page_size})

        extra = {"keys": keys} if keys else {}
        return collect_pages(fetch, limit=self.page_size, what=what, **extra)

    def get_json(self, path: str, params: dict[str, Any] | None = None, *, auth: bool = True,
                 what: str | None = None) -> Any:
        """One GET as the API answers it (parsed JSON, unvalidated): for ``doctor``, which
        compares raw answers with our models.  Read-only by construction."""
        return self._call("GET", path, auth=auth, params=params, what=what or f"GET {path}")

    @property
    def key_description(self) -> str:
        """Where the key came from, masked; never the key."""
        return self._key.describe() if self._key is not None else "no API key"

    @staticmethod
    def _segment(value: str) -> str:
        return quote(str(value), safe="")

    # -- catalog --------------------------------------------------------------------------

    def providers(self) -> list[str]:
        """Provider slugs (an open list: new ones appear without notice)."""
        payload = self._call("GET", "/api/providers", auth=False, what="the provider list")
        items, _ = extract_items(payload, what="the provider list")
        slugs = []
        for item in items:
            if isinstance(item, dict):
                item = item.get("slug") or item.get("id") or item.get("name")
            if item:
                slugs.append(str(item))
        return slugs

    def gpu_offers(self, **query: Any) -> list[GpuGroup]:
        """The whole catalog, every page.  ``query``: search, sort_by, sort_order,
        instance_type (the API's camelCase names work too)."""
        params = {_OFFER_QUERY_NAMES.get(k, k): v for k, v in query.items()}
        items = self._get_all("/api/gpu-offers", params, what="the GPU offer catalog",
                              auth=self._key is not None)
        return parse_list(GpuGroup, items, "the GPU offer catalog", skip_bad=True)

    def offers(self, **query: Any) -> list[Offer]:
        """Every offer of the catalog, flattened out of its GPU group."""
        return flatten_offers(self.gpu_offers(**query))

    def find_offers(self, query: OfferQuery | None = None, **fields: Any) -> list[Offer]:
        """Offers matching ``query`` (or ``OfferQuery(**fields)``), sorted as it asks."""
        query = query or OfferQuery(**fields)
        return select_offers(self.gpu_offers(), query)

    # -- teams ----------------------------------------------------------------------------

    def balance(self) -> Balance:
        payload = self._call("GET", "/api/balance", what="the balance")
        return parse_one(Balance, unwrap_object(payload, ("balance",)), "the balance")

    def current_team(self) -> TeamBalance:
        balance = self.balance()
        team = balance.current
        if team is None:
            raise InvalidRequestError(
                "The account belongs to several teams and none is marked current; choose one "
                "with `%spheron team use TEAM`." if balance.teams else
                "The account has no team; create one in the Spheron dashboard.")
        return team

    def teams(self) -> list[Team]:
        try:
            payload = self._call("GET", "/api/teams", what="the team list")
        except NotFoundError:
            # Some deployments lack /api/teams; the balance lists the same teams.
            return [Team(id=t.team_id, name=t.team_name, role=t.role, balance=t.balance,
                         is_current=t.is_current_team) for t in self.balance().teams]
        items, _ = extract_items(payload, ("teams", "data"), what="the team list")
        return parse_list(Team, items, "the team list")

    @property
    def team_id(self) -> str | None:
        """The pinned team, else the current one if already resolved (no request made)."""
        return self._team_id or self._resolved_team_id

    def use_team(self, team_id: str | None) -> None:
        """Pin the team for everything that follows (None: back to the current team)."""
        self._team_id = team_id
        self._resolved_team_id = None

    def resolve_team_id(self) -> str:
        """The team to scope requests to: pinned, else the current one (cached)."""
        if self._team_id:
            return self._team_id
        if self._resolved_team_id is None:
            self._resolved_team_id = self.current_team().team_id
        return self._resolved_team_id

    # -- instances ------------------------------------------------------------------------

    def list_instances(self, status: str | None = None) -> list[Instance]:
        """The team's instances; ``status``: active, inactive or one status value."""
        params = {"teamId": self.resolve_team_id(), "status": status}
        items = self._get_all("/api/deployments", params, what="the instance list",
                              keys=("deployments", "data", "items"))
        return parse_list(Instance, items, "the instance list")

    def get_instance(self, instance_id: str) -> Instance:
        payload = self._call("GET", f"/api/deployments/{self._segment(instance_id)}",
                             what=f"instance '{instance_id}'")
        return parse_one(Instance, unwrap_object(payload, ("deployment", "instance")),
                         f"instance '{instance_id}'")

    def rename_instance(self, instance_id: str, name: str) -> Instance:
        payload = self._call("PATCH", f"/api/deployments/{self._segment(instance_id)}",
                             body={"name": name}, what=f"the rename of instance '{instance_id}'")
        found = unwrap_object(payload, ("deployment", "instance"))
        if isinstance(found, dict) and found.get("id") is not None:
            return parse_one(Instance, found, f"instance '{instance_id}'")
        return self.get_instance(instance_id)

    def can_terminate(self, instance_id: str) -> CanTerminate:
        """The minimum-runtime pre-check.  When the route fails (it is missing from newer API
        docs, docs/spheron-api.md "Terminating") the answer is ``checked=False`` and
        ``can_terminate=True``: go ahead with :meth:`terminate`, whose DELETE answers with
        the same facts (a 400 naming the minutes left) if it is too early."""
        what = f"the termination check of instance '{instance_id}'"
        try:
            payload = self._call("GET",
                                 f"/api/deployments/{self._segment(instance_id)}/can-terminate",
                                 what=what)
            return parse_one(CanTerminate, unwrap_object(payload or {}, ()), what)
        except (AuthenticationError, RateLimitedError):
            raise
        except SpheronError as exc:
            log.info("%s failed (%s); DELETE's answer will decide", what, exc.message)
            return CanTerminate(can_terminate=True, checked=False,
                                reason=f"the pre-check failed ({exc.message.rstrip('.')})")

    def create_instance(self, request: CreateRequest, *,
                        known_ids: Iterable[str] | None = None) -> Instance:
        """Create an instance exactly once.

        The request gets a unique name (``sj-<gpu>-<random>``) unless it has one, and the
        current team unless it names one.  A lost answer (timeout, dropped connection, 5xx)
        is never answered by sending again: the instance list is searched for that name and
        the instance found is returned; if none is listed yet, the outcome is unknown
        (``CreateOutcomeUnknownError``: the server may still commit it, as a slow create
        does after our timeout), never "nothing was created".  ``known_ids``: ids the caller
        already saw (its own listing), so a user-chosen name needs no listing here.
        """
        user_named = bool(request.name)
        name = request.name or unique_instance_name(request.gpu_type)
        team = request.team_id or self.resolve_team_id()
        request = request.model_copy(update={"name": name, "team_id": team})
        # A name the user chose may already be taken by older instances; only a new id counts.
        if known_ids is not None:
            earlier = set(known_ids)
        else:
            earlier = {i.id for i in self._instances_named(name)} if user_named else set()
        what = f"the create request for instance '{name}'"
        try:
            payload = self._call("POST", "/api/deployments", body=request.to_body(), what=what,
                                 retry=False)
        except (ServiceUnavailableError, ApiUnreachableError) as exc:
            if not is_lost_response(exc):
                raise exc.restated(f"{exc.message.rstrip('.')}; nothing was created.") from None
            log.info("no answer to %s; looking for it by name before anything else", what)
            return self._reconcile(name, earlier, exc)
        found = unwrap_object(payload, ("deployment", "instance"))
        if isinstance(found, dict) and found.get("id") is not None:
            return parse_one(Instance, found, f"the new instance '{name}'")
        # A 2xx without the instance in it: it exists, so find it the same way.
        return self._reconcile(name, earlier, None)

    def terminate(self, instance_id: str) -> TerminateResult:
        """Terminate; a lost answer is settled by reading the instance, not by resending."""
        path = f"/api/deployments/{self._segment(instance_id)}"
        try:
            payload = self._call("DELETE", path, what=f"instance '{instance_id}'")
        except SpheronError as exc:
            if not is_lost_response(exc):
                raise
            try:
                instance = self.get_instance(instance_id)
            except SpheronError:
                raise exc from None
            if not instance.is_terminal:
                raise
            return TerminateResult(instance_id=instance.id, status=instance.status,
                                   stopped_at=instance.stopped_at)
        if not isinstance(payload, dict):
            return TerminateResult(instance_id=instance_id)
        found = payload.get("deployment")
        deployment: dict[str, Any] = found if isinstance(found, dict) else {}
        return parse_one(TerminateResult, {
            "instance_id": deployment.get("id") or instance_id,
            "status": deployment.get("status"),
            "stopped_at": deployment.get("stoppedAt"),
            "message": payload.get("message"),
        }, f"the termination of instance '{instance_id}'")

    def _instances_named(self, name: str) -> list[Instance]:
        return [i for i in self.list_instances() if i.name == name]

    def _reconcile(self, name: str, earlier: set[str], cause: SpheronError | None) -> Instance:
        for attempt in range(self.reconcile_attempts):
            if attempt:
                # The list may lag the create by a moment.
                self._core.clock.sleep(self.reconcile_delay)
            try:
                matches = [i for i in self._instances_named(name) if i.id not in earlier]
            except SpheronError as exc:
                raise CreateOutcomeUnknownError(
                    f"The create request for instance '{name}' got no answer and the instance "
                    f"list could not be read to check it ({exc.message.rstrip('.')}); run "
                    "`%spheron ls` before launching again.", name=name) from None
            if matches:
                instance = max(matches, key=lambda i: i.created_at.timestamp()
                               if i.created_at else 0.0)
                log.info("found instance %s named %s after a lost create answer", instance.id, name)
                return instance
        why = ("was accepted but the instance is not listed yet" if cause is None else
               f"got no usable answer ({cause.message.rstrip('.')}) and no instance by that "
               "name is listed yet")
        # Never "safe to launch again": a slow server commits the create after our timeout.
        raise CreateOutcomeUnknownError(
            f"The create request for instance '{name}' {why}; it may still appear and bill. "
            f"Do not launch again: `%spheron ls` shows it once listed, `%spheron terminate "
            f"{name}` ends it.", name=name) from None
