"""User defaults, kept as YAML at ``config_dir()/settings.yaml``.

A missing file means all defaults.  A bad file is one :class:`SettingsError` line naming the
file and the key, never a pydantic dump.  ``SPHERON_API_URL`` overrides ``api_url`` for the
process without being written back by :func:`save_settings`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from .files import write_private_file
from .paths import config_dir

__all__ = [
    "API_URL_ENV",
    "DEFAULT_API_URL",
    "MIN_CLOUD_POLL_SECONDS",
    "Settings",
    "SettingsError",
    "load_settings",
    "save_settings",
    "settings_path",
]

API_URL_ENV = "SPHERON_API_URL"
DEFAULT_API_URL = "https://app.spheron.ai"
# Spheron asks clients not to poll an instance faster than this (15-30 s is their advice).
# The setting itself may be lower, because the local emulator is happy with faster polling;
# whoever polls the cloud backend applies this floor.
MIN_CLOUD_POLL_SECONDS = 10.0


class SettingsError(ValueError):
    """The settings file cannot be used; the message names the file and the key."""


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    budget_per_launch_usd: float = Field(
        50.0, ge=0, description="Refuse a launch whose estimated cost exceeds this without --yes."
    )
    default_region: str | None = Field(None, description="Region used when a launch names none.")
    poll_interval_seconds: float = Field(
        10.0, gt=0, description="Seconds between status polls (the cloud floor is 10)."
    )
    backend: Literal["auto", "local", "cloud"] = Field(
        "auto", description="auto: cloud when a key is configured, else the local emulator."
    )
    api_url: str = Field(DEFAULT_API_URL, min_length=1, description="Spheron AI API base URL.")
    team_id: str | None = Field(None, description="Team for new resources; None: the current one.")
    launch_timeout_minutes: float = Field(
        60.0, gt=0, description="How long a launch waits for its instance to run (API outages "
        "included) before it stops waiting, naming the instance that bills."
    )
    gpu_idle_minutes: float = Field(
        15.0, gt=0, description="Warn when a billing instance's GPUs sat idle this many minutes."
    )

    # Values replaced from the environment at load time, so save_settings can put the
    # file's own value back instead of persisting a one-off override.
    _file_values: dict[str, Any] = PrivateAttr(default_factory=dict)

    def cloud_poll_interval(self) -> float:
        """The poll interval to use against the real service."""
        return max(self.poll_interval_seconds, MIN_CLOUD_POLL_SECONDS)


def settings_path() -> Path:
    return config_dir() / "settings.yaml"


def load_settings(path: Path | None = None) -> Settings:
    path = Path(path) if path is not None else settings_path()
    data = _read_yaml(path)
    settings = _validate(data, path)
    env_url = os.environ.get(API_URL_ENV, "").strip()
    if env_url and env_url != settings.api_url:
        settings._file_values["api_url"] = settings.api_url
        settings.api_url = env_url
    return settings


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    path = Path(path) if path is not None else settings_path()
    data = settings.model_dump()
    for key, file_value in settings._file_values.items():
        # Only undo the override if the caller did not change the value since loading.
        if key == "api_url" and data[key] == os.environ.get(API_URL_ENV, "").strip():
            data[key] = file_value
    text = "# spheron-jupyter settings\n" + yaml.safe_dump(data, sort_keys=False)
    return write_private_file(path, text)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise SettingsError(f"Cannot read settings file {path}: {exc.strerror}.") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise SettingsError(f"Settings file {path} is not valid YAML{where}: {problem}.") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError(
            f"Settings file {path} must be a mapping of keys to values, not {type(data).__name__}."
        )
    return data


def _validate(data: dict[str, Any], path: Path) -> Settings:
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "(top level)"
        if first["type"] == "extra_forbidden":
            known = ", ".join(Settings.model_fields)
            raise SettingsError(
                f"Settings file {path}: unknown key '{key}' (known keys: {known})."
            ) from None
        got = first.get("input")
        raise SettingsError(
            f"Settings file {path}: key '{key}' {_lower_first(first['msg'])} (got {got!r})."
        ) from None


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text else text
