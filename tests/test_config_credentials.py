"""config.credentials: where the key comes from, where it goes, and that it never shows."""

from __future__ import annotations

import copy
import logging
import os
import pickle
import stat
import warnings

import keyring
import keyring.backend
import keyring.errors
import pytest

from spheron_jupyter.config import credentials, redaction
from spheron_jupyter.config.credentials import (
    ApiKey,
    CredentialsError,
    describe_key_source,
    forget_api_key,
    key_file_path,
    resolve_api_key,
    store_api_key,
)

KEY = "sai_pk_3b7d0e1f99aa42c08d1e5b6a7c9f2c"


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A working keyring, standing in for a desktop's Secret Service."""

    priority = 5

    def __init__(self):
        super().__init__()
        self.store = {}

    def get_password(self, service, username):
        return self.store.get((service, username))

    def set_password(self, service, username, password):
        self.store[(service, username)] = password

    def delete_password(self, service, username):
        if self.store.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError(username)


class LockedKeyring(MemoryKeyring):
    """A keyring that looks usable but fails on use, like a locked collection over D-Bus."""

    def set_password(self, service, username, password):
        raise keyring.errors.KeyringLocked("collection is locked")


class ForgetfulKeyring(MemoryKeyring):
    """A keyring that accepts a write and keeps nothing."""

    def set_password(self, service, username, password):
        pass


@pytest.fixture(autouse=True)
def private_home(tmp_path, monkeypatch):
    """HOME points at an empty dir so the real ~/.spheron/api_key is never read."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv(credentials.KEYRING_ENV, raising=False)
    return home


@pytest.fixture
def use_keyring():
    original = keyring.get_keyring()

    def install(backend):
        keyring.set_keyring(backend)
        return backend

    yield install
    keyring.set_keyring(original)


@pytest.fixture
def headless(use_keyring):
    """The situation on a headless Linux box: only keyring's fail backend."""
    from keyring.backends import fail

    return use_keyring(fail.Keyring())


def test_env_var_wins_and_is_described_masked(monkeypatch, headless):
    store_api_key("sai_pk_other_key_in_file_0000")
    monkeypatch.setenv("SPHERON_API_KEY", KEY)
    key = resolve_api_key()
    assert key.reveal() == KEY
    assert describe_key_source() == "env SPHERON_API_KEY (sai_pk_…9f2c)"
    assert KEY not in describe_key_source()


def test_no_key_anywhere(headless):
    assert resolve_api_key() is None
    assert "no API key" in describe_key_source()


def test_headless_keyring_falls_back_to_private_file_silently(headless, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stored = store_api_key(KEY)
        found = resolve_api_key()
    assert stored.source.startswith("file ")
    assert found == stored and found.reveal() == KEY
    path = key_file_path()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == KEY
    assert list(path.parent.glob(".api_key.*")) == []
    assert caught == []
    assert capsys.readouterr() == ("", "")
    assert not caplog.records


def test_file_mode_is_0600_whatever_the_umask(headless):
    old = os.umask(0)
    try:
        store_api_key(KEY)
    finally:
        os.umask(old)
    assert stat.S_IMODE(key_file_path().stat().st_mode) == 0o600


def test_working_keyring_is_preferred_and_replaces_old_file(use_keyring, headless):
    store_api_key("sai_pk_old_key_written_to_file_0")
    assert key_file_path().exists()
    ring = use_keyring(MemoryKeyring())
    stored = store_api_key(KEY)
    assert stored.source == "keyring"
    assert ring.store[("spheron-jupyter", "api-key")] == KEY
    assert not key_file_path().exists()
    assert resolve_api_key().source == "keyring"


@pytest.mark.parametrize("backend_class", [LockedKeyring, ForgetfulKeyring])
def test_keyring_that_fails_on_use_falls_back_to_file(use_keyring, backend_class, capsys):
    use_keyring(backend_class())
    stored = store_api_key(KEY)
    assert stored.source.startswith("file ")
    assert resolve_api_key().reveal() == KEY
    assert capsys.readouterr() == ("", "")


def test_keyring_can_be_switched_off(use_keyring, monkeypatch):
    ring = use_keyring(MemoryKeyring())
    monkeypatch.setenv(credentials.KEYRING_ENV, "off")
    assert store_api_key(KEY).source.startswith("file ")
    assert ring.store == {}


def test_legacy_spheron_file_is_read_last(headless, private_home):
    legacy = private_home / ".spheron" / "api_key"
    legacy.parent.mkdir()
    legacy.write_text(KEY + "\n")
    key = resolve_api_key()
    assert key.reveal() == KEY
    assert key.source == "file ~/.spheron/api_key"
    store_api_key("sai_pk_ours_comes_first_000000")
    assert resolve_api_key().reveal() == "sai_pk_ours_comes_first_000000"


def test_forget_removes_keyring_and_our_file_but_not_legacy(use_keyring, private_home):
    legacy = private_home / ".spheron" / "api_key"
    legacy.parent.mkdir()
    legacy.write_text(KEY)
    ring = use_keyring(MemoryKeyring())
    store_api_key("sai_pk_in_the_keyring_0000000")
    from spheron_jupyter.config.files import write_private_file

    write_private_file(key_file_path(), "sai_pk_in_our_file_000000000")
    removed = forget_api_key()
    assert removed[0] == "keyring" and removed[1].startswith("file ")
    assert ring.store == {}
    assert legacy.exists()
    assert resolve_api_key().source == "file ~/.spheron/api_key"


@pytest.mark.parametrize("bad", ["", "   ", "sai_pk_abc def_ghi_jkl", "sai_pk_line1\nline2_xyz"])
def test_malformed_keys_are_refused_without_echoing_them(headless, bad):
    with pytest.raises(CredentialsError) as info:
        store_api_key(bad)
    for part in bad.split():
        assert part not in str(info.value)
    assert not key_file_path().exists()


def test_malformed_key_file_names_the_file(headless):
    key_file_path().write_text("sai_pk_first_half_of_it second_half_of_it\n")
    with pytest.raises(CredentialsError, match="from file .*api_key contains spaces"):
        resolve_api_key()


def test_api_key_never_shows_in_str_repr_format_or_errors():
    key = ApiKey(KEY, "env SPHERON_API_KEY")
    texts = [str(key), repr(key), f"{key}", "%s" % key, format(key, ""), key.describe(),  # noqa: UP031
             repr([key]), repr({"k": key})]
    for text in texts:
        assert KEY not in text
    assert repr(key) == "ApiKey('sai_pk_…9f2c', source='env SPHERON_API_KEY')"
    with pytest.raises(TypeError) as info:
        pickle.dumps(key)
    assert KEY not in str(info.value)
    assert key == ApiKey(KEY) and hash(key) == hash(ApiKey(KEY))
    assert copy.deepcopy({"k": key})["k"] is key


@pytest.mark.parametrize(
    "value, expected",
    [(KEY, "sai_pk_…9f2c"), ("abcdefghijklmn", "abc…mn"), ("short", "…"), ("", "(empty)")],
)
def test_mask_never_shows_most_of_a_secret(value, expected):
    assert redaction.mask(value) == expected


def test_redact_masks_registered_secrets_and_bearer_tokens():
    ApiKey(KEY)
    redaction.register_secret("jupyter-token-0123456789")
    text = (f"key={KEY} url=http://127.0.0.1:8888/?token=jupyter-token-0123456789 "
            "Authorization: Bearer unregistered.token-value")
    out = credentials.redact(text)
    assert KEY not in out
    assert "jupyter-token-0123456789" not in out
    assert "unregistered.token-value" not in out
    assert out.count(redaction.REDACTED) == 3
    assert credentials.redact("nothing secret here") == "nothing secret here"
    redaction.unregister_secret("jupyter-token-0123456789")
    assert "jupyter-token-0123456789" in credentials.redact("jupyter-token-0123456789")


def test_tiny_values_are_not_registered():
    redaction.register_secret("abc")
    assert credentials.redact("abc abc") == "abc abc"
