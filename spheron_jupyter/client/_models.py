"""Pydantic models of what the Spheron API returns, tolerant by design.

The API's shapes drift and are partly undocumented (see docs/spheron-api.md), so every
model keeps unknown fields (``extra="allow"``), treats almost every field as optional,
accepts both camelCase and snake_case spellings where clients have seen either, and keeps
strings such as statuses, providers and instance types open rather than enums.  Python
attribute names are snake_case; unknown fields stay reachable through ``model_extra``.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import cached_property, lru_cache
from typing import Annotated, Any

from pydantic import (AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field,
                      WrapValidator, model_validator)

from .regions import region_keys
from .statuses import is_billing, is_terminal

__all__ = [
    "ApiModel",
    "Balance",
    "CanTerminate",
    "GpuGroup",
    "Instance",
    "Offer",
    "SshKey",
    "Team",
    "TeamBalance",
    "TerminateResult",
    "Volume",
    "VolumePricing",
]

_LETTERS_ONLY = re.compile(r"[^A-Z]")



def _blank_to_none(value: Any) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return value


def _to_str(value: Any) -> Any:
    value = _blank_to_none(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


def _default(default: Any):
    return BeforeValidator(lambda value: default if value is None else value)


def _as_list(value: Any) -> Any:
    if value is None:
        return []
    if isinstance(value, (str, dict)):
        return [value]
    return value


def _region_names(value: Any) -> Any:
    """``clusters`` are region ids; tolerate objects that carry the id under a known key."""
    names = []
    for item in _as_list(value):
        if isinstance(item, dict):
            item = next((item[k] for k in ("id", "region", "name", "slug") if item.get(k)), None)
        if item is not None and str(item).strip():
            names.append(str(item))
    return names


def _lenient_datetime(value: Any, handler):
    """Timestamps we cannot parse become None rather than failing the whole listing."""
    value = _blank_to_none(value)
    if value is None:
        return None
    try:
        return handler(value)
    except ValueError:
        return None


Id = Annotated[str, BeforeValidator(_to_str)]
OptId = Annotated[str | None, BeforeValidator(_to_str)]
OptStr = Annotated[str | None, BeforeValidator(_to_str)]
OptFloat = Annotated[float | None, BeforeValidator(_blank_to_none)]
OptInt = Annotated[int | None, BeforeValidator(_blank_to_none)]
Count = Annotated[int, _default(0), BeforeValidator(_blank_to_none)]
Timestamp = Annotated[datetime | None, WrapValidator(_lenient_datetime)]
StrList = Annotated[list[str], BeforeValidator(lambda v: [str(x) for x in _as_list(v)])]
AnyList = Annotated[list[Any], BeforeValidator(_as_list)]
AnyDict = Annotated[dict[str, Any], _default({})]


def _alias(*names: str) -> Any:
    """First name is the spelling we send; all are accepted."""
    return AliasChoices(*names)


class ApiModel(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Offer(ApiModel):
    """One rentable configuration.  Flattened out of a :class:`GpuGroup`, carrying its
    group's ``gpu_type`` and ``display_name``."""

    provider: OptStr = None
    offer_id: OptId = Field(None, validation_alias=_alias("offerId", "offer_id", "id"))
    name: OptStr = None
    description: OptStr = None
    gpu_type: OptStr = Field(None, validation_alias=_alias("gpuType", "gpu_type"))
    display_name: OptStr = Field(None, validation_alias=_alias("displayName", "display_name"))
    gpu_model: OptStr = Field(None, validation_alias=_alias("gpuModel", "gpu_model"))
    vcpus: OptFloat = None
    memory: OptFloat = None
    storage: OptFloat = None
    gpu_count: Count = Field(0, validation_alias=_alias("gpuCount", "gpu_count"))
    gpu_memory: OptFloat = Field(None, validation_alias=_alias("gpu_memory", "gpuMemory"))
    price: OptFloat = None
    spot_price: OptFloat = Field(None, validation_alias=_alias("spot_price", "spotPrice"))
    original_price: OptFloat = Field(None, validation_alias=_alias("originalPrice", "original_price"))
    discounted_price: OptFloat = Field(
        None, validation_alias=_alias("discountedPrice", "discounted_price"))
    available: Annotated[bool, _default(True)] = True
    maintenance: Annotated[bool, _default(False)] = False
    clusters: Annotated[list[str], BeforeValidator(_region_names)] = []
    region: OptStr = None
    os_options: StrList = Field([], validation_alias=_alias("os_options", "osOptions"))
    interconnect_type: OptStr = Field(
        None, validation_alias=_alias("interconnectType", "interconnect_type"))
    interconnect_description: OptStr = Field(
        None, validation_alias=_alias("interconnectDescription", "interconnect_description"))
    instance_type: OptStr = Field(None, validation_alias=_alias("instanceType", "instance_type"))
    supports_cloud_init: Annotated[bool, _default(False)] = Field(
        False, validation_alias=_alias("supportsCloudInit", "supports_cloud_init"))
    extras: AnyDict = {}
    minimum_runtime_minutes: OptFloat = Field(
        None, validation_alias=_alias("minimumRuntimeMinutes", "minimum_runtime_minutes"))

    @model_validator(mode="before")
    @classmethod
    def _older_tier_field(cls, data: Any) -> Any:
        # Older catalog entries said `tier` where newer ones say `instanceType`.
        if isinstance(data, dict) and not data.get("instanceType") and not data.get(
                "instance_type") and isinstance(data.get("tier"), str) and data["tier"].strip():
            data = {**data, "instanceType": data["tier"].strip().upper()}
        return data

    @property
    def hourly_price(self) -> float | None:
        """USD per hour for the whole instance, after any team discount."""
        if self.discounted_price is not None:
            return self.discounted_price
        if self.price is not None:
            return self.price
        return self.spot_price

    @property
    def regions(self) -> list[str]:
        """Where it can run: ``clusters``, else the older single ``region``."""
        if self.clusters:
            return list(self.clusters)
        return [self.region] if self.region else []

    @cached_property
    def region_keys(self) -> frozenset[str]:
        """Every form ``regions`` answer to: lower-cased, and without a routing prefix in the
        loose form of client/regions.py (computed once per offer)."""
        return region_keys(tuple(self.clusters) if self.clusters else (self.region or "",))

    @property
    def total_vram_gb(self) -> float:
        return (self.gpu_memory or 0.0) * self.gpu_count

    @property
    def usable(self) -> bool:
        return self.available and not self.maintenance

    @cached_property
    def kind(self) -> str:
        """spot, dedicated, baremetal or cluster.

        Cluster: ``instanceType`` CLUSTER or ``extras.deployment_type`` cluster.  Bare metal is
        a dedicated offer whose GPU type or name carries the ``BAREMETAL`` marker.
        """
        deployment_type = str(self.extras.get("deployment_type") or "")  # hashable, whatever came
        return _offer_kind(self.instance_type, deployment_type, self.gpu_type, self.name,
                           self.display_name)


# A catalog repeats the same few names and region lists across thousands of offers; these
# caches make the first filter over a fresh catalog nearly as cheap as the next ones.
@lru_cache(maxsize=4096)
def _offer_kind(instance_type: str | None, deployment_type: str, gpu_type: str | None,
                name: str | None, display_name: str | None) -> str:
    instance_type = (instance_type or "").upper()
    if instance_type == "CLUSTER" or deployment_type.lower() == "cluster":
        return "cluster"
    names = " ".join(filter(None, (gpu_type, name, display_name)))
    if "BAREMETAL" in _LETTERS_ONLY.sub("", names.upper()):
        return "baremetal"
    if instance_type == "SPOT":
        return "spot"
    return "dedicated"


class GpuGroup(ApiModel):
    """A GPU type in the catalog with its offers (``GET /api/gpu-offers`` returns these)."""

    gpu_type: OptStr = Field(None, validation_alias=_alias("gpuType", "gpu_type"))
    gpu_model: OptStr = Field(None, validation_alias=_alias("gpuModel", "gpu_model"))
    base_gpu_type: OptStr = Field(None, validation_alias=_alias("baseGpuType", "base_gpu_type"))
    display_name: OptStr = Field(None, validation_alias=_alias("displayName", "display_name"))
    popularity: OptFloat = None
    total_available: OptInt = Field(None, validation_alias=_alias("totalAvailable"))
    lowest_price: OptFloat = Field(None, validation_alias=_alias("lowestPrice"))
    highest_price: OptFloat = Field(None, validation_alias=_alias("highestPrice"))
    average_price: OptFloat = Field(None, validation_alias=_alias("averagePrice"))
    providers: AnyList = []
    interconnect_variants: AnyList = Field([], validation_alias=_alias("interconnectVariants"))
    has_multiple_variants: Annotated[bool, _default(False)] = Field(
        False, validation_alias=_alias("hasMultipleVariants"))
    offers: Annotated[list[Offer], _default([])] = []

    @model_validator(mode="after")
    def _offers_carry_their_group(self) -> GpuGroup:
        # The create body needs the group's gpuType; an offer out of its group must not lose it.
        for offer in self.offers:
            if self.gpu_type:
                offer.gpu_type = self.gpu_type
            if offer.display_name is None:
                offer.display_name = self.display_name or self.gpu_model
        return self


class Instance(ApiModel):
    """A deployment: one rented machine."""

    id: Id = Field(validation_alias=_alias("id", "_id", "deploymentId"))
    name: OptStr = None
    provider_id: OptStr = Field(None, validation_alias=_alias("providerId", "provider"))
    gpu_model_id: OptStr = Field(None, validation_alias=_alias("gpuModelId", "gpuType"))
    gpu_count: Count = Field(0, validation_alias=_alias("gpuCount", "gpu_count"))
    region: OptStr = None
    instance_type: OptStr = Field(None, validation_alias=_alias("instanceType"))
    ssh_key_id: OptId = Field(None, validation_alias=_alias("sshKeyId"))
    ssh_key_name: OptStr = Field(None, validation_alias=_alias("sshKeyName"))
    ssh_key_fingerprint: OptStr = Field(None, validation_alias=_alias("sshKeyFingerprint"))
    ip_address: OptStr = Field(None, validation_alias=_alias("ipAddress", "ip"))
    user: OptStr = None
    ssh_port: Annotated[int, _default(22)] = Field(22, validation_alias=_alias("sshPort"))
    ssh_command: OptStr = Field(None, validation_alias=_alias("sshCommand"))
    status: Annotated[str, _default("unknown")] = "unknown"
    started_at: Timestamp = Field(None, validation_alias=_alias("startedAt"))
    stopped_at: Timestamp = Field(None, validation_alias=_alias("stoppedAt"))
    created_at: Timestamp = Field(None, validation_alias=_alias("createdAt"))
    last_credit_deduction: Timestamp = Field(None, validation_alias=_alias("lastCreditDeduction"))
    total_cost: OptFloat = Field(None, validation_alias=_alias("totalCost"))
    hourly_rate: OptFloat = Field(None, validation_alias=_alias("hourlyRate"))
    original_hourly_rate: OptFloat = Field(None, validation_alias=_alias("originalHourlyRate"))
    discount_percentage: OptFloat = Field(None, validation_alias=_alias("discountPercentage"))
    has_discount: Annotated[bool, _default(False)] = Field(
        False, validation_alias=_alias("hasDiscount"))
    vcpus: OptFloat = None
    memory: OptFloat = None
    storage: OptFloat = None
    port_forwards: AnyList = Field([], validation_alias=_alias("portForwards"))
    # Known but not relied on (docs/spheron-api.md, "The deployment (instance) object"): named here so
    # that `doctor` reports only fields new to us.
    team_id: OptId = Field(None, validation_alias=_alias("teamId"))
    offer_id: OptId = Field(None, validation_alias=_alias("offerId"))
    operating_system: OptStr = Field(None, validation_alias=_alias("operatingSystem"))
    temp_ssh_key_id: OptId = Field(None, validation_alias=_alias("tempSshKeyId"))
    volume_ids: StrList = Field([], validation_alias=_alias("volumes"))
    supports_cloud_init: bool | None = Field(None, validation_alias=_alias("supportsCloudInit"))
    minimum_runtime: OptFloat = Field(None, validation_alias=_alias("minimumRuntime"))
    status_reason: OptStr = Field(None, validation_alias=_alias("statusReason"))
    # May carry a kubeconfig: kept, but out of reprs.
    kubernetes_addon: Any = Field(None, validation_alias=_alias("kubernetesAddon"), repr=False)

    @property
    def is_billing(self) -> bool:
        """Not known to be terminal: an unknown status bills (client/statuses.py)."""
        return is_billing(self.status)

    @property
    def is_active(self) -> bool:
        """Same as :attr:`is_billing` (the older name)."""
        return is_billing(self.status)

    @property
    def is_terminal(self) -> bool:
        return is_terminal(self.status)


class CanTerminate(ApiModel):
    """The minimum-runtime pre-check.  ``checked`` is False when the route could not be asked
    (it is missing from newer API docs): then DELETE's own answer decides."""

    can_terminate: Annotated[bool, _default(False)] = Field(
        False, validation_alias=_alias("canTerminate"))
    checked: bool = Field(True, exclude=True)
    reason: OptStr = None
    minimum_runtime: OptFloat = Field(None, validation_alias=_alias("minimumRuntime"))
    time_remaining: OptFloat = Field(None, validation_alias=_alias("timeRemaining"))


class TerminateResult(ApiModel):
    """What DELETE said; an empty 2xx body means the instance is terminated."""

    instance_id: Id
    status: Annotated[str, _default("terminated")] = "terminated"
    stopped_at: Timestamp = None
    message: OptStr = None


class SshKey(ApiModel):
    id: Id = Field(validation_alias=_alias("id", "_id", "keyId"))
    name: OptStr = None
    public_key: OptStr = Field(None, validation_alias=_alias("publicKey", "public_key"))
    fingerprint: OptStr = None
    team_id: OptId = Field(None, validation_alias=_alias("teamId"))
    created_at: Timestamp = Field(None, validation_alias=_alias("createdAt"))


class Volume(ApiModel):
    """A persistent volume.  Status values and the attachment field are unverified."""

    id: Id = Field(validation_alias=_alias("id", "_id", "volumeId"))
    name: OptStr = None
    provider: OptStr = None
    region: OptStr = None
    size_in_gb: OptFloat = Field(None, validation_alias=_alias("sizeInGb", "size_in_gb", "size"))
    status: OptStr = None
    team_id: OptId = Field(None, validation_alias=_alias("teamId"))
    created_at: Timestamp = Field(None, validation_alias=_alias("createdAt"))

    @property
    def attached_instance_ids(self) -> list[str]:
        """Instance ids it is attached to, under whichever key the API used."""
        extra = self.model_extra or {}
        for key in ("attachedTo", "attachedDeployments", "deploymentIds", "deployments",
                    "attachments", "deploymentId", "attachedDeploymentId"):
            value = extra.get(key)
            if value:
                return [str(v.get("id", v.get("deploymentId")) if isinstance(v, dict) else v)
                        for v in _as_list(value)]
        return []


class TeamBalance(ApiModel):
    team_id: Id = Field(validation_alias=_alias("teamId", "id", "_id"))
    team_name: OptStr = Field(None, validation_alias=_alias("teamName", "name"))
    balance: OptFloat = None
    is_current_team: Annotated[bool, _default(False)] = Field(
        False, validation_alias=_alias("isCurrentTeam", "isCurrent", "current"))
    role: OptStr = None


class Balance(ApiModel):
    teams: Annotated[list[TeamBalance], _default([])] = []
    currency: Annotated[str, _default("USD")] = "USD"

    @property
    def current(self) -> TeamBalance | None:
        """The team marked current; with a single team, that one."""
        for team in self.teams:
            if team.is_current_team:
                return team
        return self.teams[0] if len(self.teams) == 1 else None


class Team(ApiModel):
    id: Id = Field(validation_alias=_alias("id", "teamId", "_id"))
    name: OptStr = Field(None, validation_alias=_alias("name", "teamName"))
    role: OptStr = None
    balance: OptFloat = None
    is_current: Annotated[bool, _default(False)] = Field(
        False, validation_alias=_alias("isCurrentTeam", "isCurrent", "current"))


class VolumePricing(ApiModel):
    hourly_rate_per_gb: OptFloat = Field(
        None, validation_alias=_alias("hourlyRatePerGb", "hourly_rate_per_gb", "pricePerGbHour"))
    provider: OptStr = None
    region: OptStr = None
    currency: Annotated[str, _default("USD")] = "USD"
