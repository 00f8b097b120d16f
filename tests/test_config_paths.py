"""config.paths: SPHERON_JUPYTER_HOME isolation, platformdirs otherwise, private dirs."""

from __future__ import annotations

import stat

import pytest

from spheron_jupyter.config import paths


@pytest.mark.parametrize(
    "func, sub",
    [(paths.config_dir, "config"), (paths.data_dir, "data"), (paths.state_dir, "state"),
     (paths.runtime_dir, "run")],
)
def test_dirs_live_under_spheron_jupyter_home(isolated_home, func, sub):
    path = func()
    assert path == isolated_home / sub
    assert path.is_dir()
    assert stat.S_IMODE(path.stat().st_mode) == 0o700


def test_without_home_env_platformdirs_decides(tmp_path, monkeypatch):
    monkeypatch.delenv(paths.HOME_ENV)
    monkeypatch.setenv("HOME", str(tmp_path))
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    assert paths.config_dir() == tmp_path / "xdg_config_home" / "spheron-jupyter"
    assert paths.data_dir() == tmp_path / "xdg_data_home" / "spheron-jupyter"
    assert paths.state_dir() == tmp_path / "xdg_state_home" / "spheron-jupyter"


def test_without_xdg_runtime_dir_sockets_go_to_our_private_state_dir(tmp_path, monkeypatch,
                                                                     recwarn):
    monkeypatch.delenv(paths.HOME_ENV)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    run = paths.runtime_dir()
    assert run == tmp_path / "state" / "spheron-jupyter" / "run"
    assert stat.S_IMODE(run.stat().st_mode) == 0o700
    assert not [w for w in recwarn if "runtime" in str(w.message).lower()]


def test_loose_existing_dir_is_tightened(isolated_home):
    (isolated_home / "data").mkdir(mode=0o755)
    (isolated_home / "data").chmod(0o755)
    assert stat.S_IMODE(paths.data_dir().stat().st_mode) == 0o700
