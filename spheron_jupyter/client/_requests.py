"""Bodies we send: the create request and its cloud-init part.

Unlike the response models these are strict (``extra="forbid"``): a typo in our own code
should fail here, not as a 400 after a network round trip.  Field aliases are the API's
spelling, including its one snake_case field ``ssh_public_key``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["CloudInit", "CreateRequest", "WriteFile"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def to_body(self) -> dict[str, Any]:
        """The JSON body, in the API's field names, without unset optional fields."""
        return self.model_dump(by_alias=True, exclude_none=True)


class WriteFile(_Body):
    path: str = Field(min_length=1)
    # May be a private host key: never shown in reprs.
    content: str = Field(repr=False)
    owner: str | None = None
    permissions: str | None = Field(None, pattern=r"^0?[0-7]{3,4}$")
    encoding: Literal["b64", "gzip", "gz+b64", "base64", "text"] | None = None


class CloudInit(_Body):
    packages: list[str] = []
    write_files: list[WriteFile] = Field([], alias="writeFiles")
    runcmd: list[str | list[str]] = []

    def is_empty(self) -> bool:
        return not (self.packages or self.write_files or self.runcmd)


class CreateRequest(_Body):
    """``POST /api/deployments``.  Build it with ``offer_to_create_request`` so that every
    offer field comes from one offer."""

    provider: str
    offer_id: str = Field(alias="offerId")
    gpu_type: str = Field(alias="gpuType")
    gpu_count: int = Field(alias="gpuCount", ge=0)
    region: str
    operating_system: str | None = Field(None, alias="operatingSystem")
    instance_type: str | None = Field(None, alias="instanceType")
    team_id: str | None = Field(None, alias="teamId")
    name: str | None = Field(None, min_length=1, max_length=128)
    ssh_key_id: str | None = Field(None, alias="sshKeyId")
    ssh_public_key: str | None = Field(None, alias="ssh_public_key")
    cloud_init: CloudInit | None = Field(None, alias="cloudInit")
    kubernetes_addon: dict[str, Any] | None = Field(None, alias="kubernetesAddon", repr=False)

    @model_validator(mode="after")
    def _needs_a_way_in(self) -> CreateRequest:
        if not (self.ssh_key_id or self.ssh_public_key):
            raise ValueError("a create request needs an SSH key: ssh_key_id or ssh_public_key")
        if self.ssh_key_id and self.ssh_public_key:
            raise ValueError("give either ssh_key_id or ssh_public_key, not both")
        return self

    def to_body(self) -> dict[str, Any]:
        body = super().to_body()
        if self.cloud_init is not None and self.cloud_init.is_empty():
            body.pop("cloudInit", None)
        return body
