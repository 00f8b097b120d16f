"""config.settings: defaults, YAML round trip, env override, one-line errors for bad files."""

from __future__ import annotations

import pytest

from spheron_jupyter.config import settings as settings_mod
from spheron_jupyter.config.settings import (
    Settings,
    SettingsError,
    load_settings,
    save_settings,
    settings_path,
)


def test_missing_file_gives_defaults(isolated_home):
    s = load_settings()
    assert s == Settings()
    assert s.budget_per_launch_usd == 50.0
    assert s.default_region is None
    assert s.poll_interval_seconds == 10
    assert s.backend == "auto"
    assert s.api_url == "https://app.spheron.ai"
    assert s.team_id is None
    assert s.launch_timeout_minutes == 60  # a launch's wait: peers on the live service wait 30-60
    assert settings_path() == isolated_home / "config" / "settings.yaml"


def test_round_trip(isolated_home):
    s = Settings(budget_per_launch_usd=12.5, default_region="FIN-01", backend="local",
                 poll_interval_seconds=2, team_id="team-9")
    path = save_settings(s)
    assert path.stat().st_mode & 0o077 == 0
    assert load_settings() == s


def test_empty_file_gives_defaults(isolated_home):
    settings_path().write_text("")
    assert load_settings() == Settings()


def test_env_url_overrides_but_is_not_saved(isolated_home, monkeypatch):
    save_settings(Settings(api_url="http://file.example"))
    monkeypatch.setenv("SPHERON_API_URL", "http://127.0.0.1:9999")
    s = load_settings()
    assert s.api_url == "http://127.0.0.1:9999"
    s.budget_per_launch_usd = 5
    save_settings(s)
    monkeypatch.delenv("SPHERON_API_URL")
    again = load_settings()
    assert again.api_url == "http://file.example"
    assert again.budget_per_launch_usd == 5


@pytest.mark.parametrize(
    "text, expected",
    [
        ("budget_per_launch_usd: lots\n", "key 'budget_per_launch_usd'"),
        ("budget_per_launch_usd: -1\n", "key 'budget_per_launch_usd'"),
        ("backend: moon\n", "key 'backend'"),
        ("poll_interval_seconds: 0\n", "key 'poll_interval_seconds'"),
        ("budjet: 3\n", "unknown key 'budjet'"),
        ("- a\n- b\n", "must be a mapping"),
        ("budget_per_launch_usd: [1,\n", "not valid YAML at line"),
    ],
)
def test_bad_file_is_one_line_naming_file_and_key(isolated_home, text, expected):
    settings_path().write_text(text)
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert expected in message
    assert str(settings_path()) in message
    assert "\n" not in message


def test_cloud_poll_interval_has_a_floor():
    assert Settings(poll_interval_seconds=1).cloud_poll_interval() == settings_mod.MIN_CLOUD_POLL_SECONDS
    assert Settings(poll_interval_seconds=30).cloud_poll_interval() == 30
