"""Pydantic models of an ICL document (version "1.0"), as described in docs/spheron-protocol.md.

The models check shape and types and parse quantities; they are deliberately lenient about
enumerated values (GPU models, tiers, pull policies, registries) and cross-references, which
``protocol.rules`` checks with a suggestion and a fix for each.  Unknown keys are kept
(``extra="allow"``) so the loader can warn about them instead of refusing the document.
"""

from __future__ import annotations

from typing import Annotated, Any
from collections.abc import Iterator

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainValidator, PrivateAttr, SecretStr, model_validator

from ..errors import Finding, IclValueError
from ..quantities import (
    ByteSize,
    CpuUnits,
    Duration,
    PortRange,
    VramRequirement,
    parse_bandwidth,
    parse_bytes,
    parse_cpu_units,
    parse_duration,
    parse_port_range,
    parse_vram_requirement,
)
from .source import DocPath, SourceMap

MODES = ("provider", "fizz")


def _parse_port(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip().isdigit():
        raise IclValueError("a port is a whole number", "write a port from 1 to 65535, like 8080")
    port = int(value)
    if not 1 <= port <= 65535:
        raise IclValueError("ports run from 1 to 65535", "pick a port from 1 to 65535")
    return port


def _parse_mode(value: object) -> str:
    # `mode: Provider` is accepted (docs/spheron-protocol.md): the protocol-sdk treats every value
    # but `fizz` as provider mode. How it was written is kept for a warning about `Fizz`.
    if isinstance(value, str) and value.strip().lower() in MODES:
        return value.strip().lower()
    raise IclValueError("mode must be provider or fizz", "write mode: provider (data-centre providers) or mode: fizz (community nodes)")


def _parse_env_entry(value: object) -> str:
    if not isinstance(value, str) or "=" not in value or not value.split("=", 1)[0].strip():
        raise IclValueError("env entries are KEY=VALUE strings", 'write each one as "- KEY=value"')
    return value


def _parse_bandwidth_text(value: object) -> str:
    parse_bandwidth(value)  # validates; the text is what the network reads
    return str(value)


def _none_as_empty_list(value: object) -> object:
    # `env:` with nothing under it is None in YAML; it means "no entries".
    return [] if value is None else value


def _one_or_list(value: object) -> object:
    # Documents write `accept: example.com` or `tier: community` for a one-item list.
    if value is None:
        return []
    return [value] if isinstance(value, (str, dict)) else value


def _scalars_as_text(value: object) -> object:
    # `args: [--port, 8080]`: YAML reads 8080 as int, the container receives text.
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(item) if isinstance(item, (int, float, bool)) else item for item in value]
    return value


def _version_text(value: object) -> object:
    # `version: 1.0` unquoted is a float in YAML; keep it as text so the rule can say "quote it".
    return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


Port = Annotated[int, PlainValidator(_parse_port)]
Bytes = Annotated[ByteSize, PlainValidator(parse_bytes)]
Cpu = Annotated[CpuUnits, PlainValidator(parse_cpu_units)]
DurationValue = Annotated[Duration, PlainValidator(parse_duration)]
PortRangeValue = Annotated[PortRange, PlainValidator(parse_port_range)]
VramValue = Annotated[VramRequirement, PlainValidator(parse_vram_requirement)]
TextList = Annotated[list[str], BeforeValidator(_one_or_list)]


class IclModel(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


# ---------------------------------------------------------------- services


class ExposeTarget(IclModel):
    global_: bool | None = Field(None, alias="global")
    service: str | None = None


class Expose(IclModel):
    port: Port | None = None
    as_: Port | None = Field(None, alias="as")
    accept: TextList = []
    proto: str | None = None
    to: Annotated[list[ExposeTarget], BeforeValidator(_one_or_list)] = []
    use_public_port: bool = False
    port_range: PortRangeValue | None = None
    port_range_as: PortRangeValue | None = None

    @property
    def public_port(self) -> int | None:
        """The port the world sees: ``as``, defaulting to ``port``."""
        return self.as_ if self.as_ is not None else self.port

    @property
    def public_range(self) -> PortRange | None:
        return self.port_range_as or self.port_range

    @property
    def is_global(self) -> bool:
        return any(target.global_ for target in self.to)

    @property
    def target_services(self) -> list[str]:
        return [target.service for target in self.to if target.service]


class Credentials(IclModel):
    registry: str
    username: str
    # SecretStr: a repr of the document (in a traceback, a log) never shows the password.
    password: SecretStr


class StorageMount(IclModel):
    mount: str | None = None
    read_only: bool = Field(False, alias="readOnly")


class ServiceParams(IclModel):
    storage: dict[str, StorageMount] = {}


class Service(IclModel):
    image: str
    command: Annotated[list[str] | None, BeforeValidator(_scalars_as_text)] = None
    args: Annotated[list[str] | None, BeforeValidator(_scalars_as_text)] = None
    env: Annotated[list[Annotated[str, PlainValidator(_parse_env_entry)]], BeforeValidator(_none_as_empty_list)] = []
    expose: Annotated[list[Expose], BeforeValidator(_none_as_empty_list)] = []
    pull_policy: str | None = None
    credentials: Credentials | None = None
    params: ServiceParams | None = None

    def env_dict(self) -> dict[str, str]:
        """``["A=1", "B=x=y"]`` -> ``{"A": "1", "B": "x=y"}``; a later duplicate wins, as in a shell."""
        return dict(entry.split("=", 1) for entry in self.env)

    @property
    def mounts(self) -> dict[str, StorageMount]:
        return dict(self.params.storage) if self.params else {}


# ---------------------------------------------------------------- compute profiles


class Arm64Model(IclModel):
    model: str


class CpuArch(IclModel):
    arm64: Annotated[list[Arm64Model], BeforeValidator(_one_or_list)] = []


class CpuAttributes(IclModel):
    arch: CpuArch | None = None


class CpuSpec(IclModel):
    units: Cpu
    attributes: CpuAttributes | None = None


class MemorySpec(IclModel):
    size: Bytes


class StorageAttributes(IclModel):
    persistent: bool = False
    class_: str | None = Field(None, alias="class")


class StorageVolume(IclModel):
    name: str | None = None
    size: Bytes
    attributes: StorageAttributes | None = None

    @property
    def is_shm(self) -> bool:
        return bool(self.attributes and self.attributes.class_ == "ram")

    @property
    def is_persistent(self) -> bool:
        """Persistent volumes are marked ``persistent: true`` or given a beta storage class."""
        attributes = self.attributes
        return bool(attributes and (attributes.persistent or (attributes.class_ or "").startswith("beta")))


class GpuModelSpec(IclModel):
    model: str | None = None
    ram: Bytes | None = None
    interface: str | None = None


class GpuVendor(IclModel):
    # `nvidia:` with nothing under it means "any NVIDIA GPU".
    nvidia: Annotated[list[GpuModelSpec], BeforeValidator(_none_as_empty_list)] = []


class GpuAttributes(IclModel):
    vendor: GpuVendor | None = None
    req_vram: VramValue | None = None


class GpuSpec(IclModel):
    units: int = 0
    attributes: GpuAttributes | None = None

    @property
    def models(self) -> list[GpuModelSpec]:
        vendor = self.attributes.vendor if self.attributes else None
        return list(vendor.nvidia) if vendor else []

    @property
    def model_names(self) -> list[str]:
        return [spec.model for spec in self.models if spec.model]


class Resources(IclModel):
    cpu: CpuSpec
    memory: MemorySpec
    storage: Annotated[list[StorageVolume], BeforeValidator(_one_or_list)]
    gpu: GpuSpec | None = None

    @property
    def storage_total(self) -> ByteSize:
        return ByteSize(sum(int(volume.size) for volume in self.storage))

    @property
    def gpu_units(self) -> int:
        return self.gpu.units if self.gpu else 0


class ComputeProfile(IclModel):
    resources: Resources


# ---------------------------------------------------------------- placement, profiles, deployment


class PlacementAttributes(IclModel):
    region: str | None = None
    # The docs write `exclude_region`; the protocol-sdk reads `region_exclude` (and `cpu_model`).
    exclude_region: str | None = None
    region_exclude: str | None = None
    cpu_model: str | None = None
    desired_provider: str | None = None
    provider_exclude: str | None = None
    desired_fizz: str | None = None
    fizz_exclude: str | None = None
    bandwidth: Annotated[str, PlainValidator(_parse_bandwidth_text)] | None = None

    @property
    def regions(self) -> list[str]:
        """``region: us-west;us-east`` names several acceptable regions."""
        return [part.strip() for part in (self.region or "").split(";") if part.strip()]


class Pricing(IclModel):
    token: str
    amount: float


class Placement(IclModel):
    attributes: PlacementAttributes | None = None
    pricing: dict[str, Pricing] = {}


class Profiles(IclModel):
    name: str | None = None
    mode: Annotated[str, PlainValidator(_parse_mode)]
    duration: DurationValue
    tiers: TextList = []
    compute: dict[str, ComputeProfile]
    placement: dict[str, Placement]

    _mode_written: str | None = PrivateAttr(default=None)

    @model_validator(mode="wrap")
    @classmethod
    def _keep_mode_spelling(cls, data: Any, handler: Any) -> Any:
        profiles = handler(data)
        if isinstance(data, dict) and isinstance(data.get("mode"), str):
            profiles._mode_written = data["mode"].strip()
        return profiles

    @property
    def mode_written(self) -> str:
        """`mode` as the document spells it (`Provider`), where `mode` is its lower-case meaning."""
        return self._mode_written or self.mode

    @model_validator(mode="before")
    @classmethod
    def _accept_tier_spelling(cls, data: Any) -> Any:
        # Some Spheron examples write `tier:`; both mean the same list.
        if isinstance(data, dict) and "tier" in data and "tiers" not in data:
            data = dict(data)
            data["tiers"] = data.pop("tier")
        return data


class DeploymentEntry(IclModel):
    profile: str
    count: int = 1


class IclDocument(IclModel):
    version: Annotated[str | None, BeforeValidator(_version_text)] = None
    services: dict[str, Service]
    profiles: Profiles
    deployment: dict[str, dict[str, DeploymentEntry]]

    _source: SourceMap = PrivateAttr(default_factory=SourceMap.empty)
    _load_warnings: list[Finding] = PrivateAttr(default_factory=list)

    @property
    def mode(self) -> str:
        return self.profiles.mode

    @property
    def source(self) -> SourceMap:
        return self._source

    @property
    def load_warnings(self) -> list[Finding]:
        """Unknown keys and duplicate keys noticed while loading."""
        return list(self._load_warnings)

    def line_of(self, path: DocPath) -> int | None:
        return self._source.line(path)

    def path_text(self, path: DocPath) -> str:
        return self._source.format(path)

    def deployments(self) -> Iterator[tuple[str, str, DeploymentEntry]]:
        """Every (service, placement, entry) of the deployment section, in document order."""
        for service_name, placements in self.deployment.items():
            for placement_name, entry in (placements or {}).items():
                yield service_name, placement_name, entry

    def compute_profiles_of(self, service_name: str) -> list[str]:
        """The compute profiles a service is deployed with (usually one)."""
        return list(dict.fromkeys(entry.profile for name, _, entry in self.deployments() if name == service_name))
