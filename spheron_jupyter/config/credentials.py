"""Finding, storing and describing the Spheron API key without ever showing it.

Lookup order (first hit wins):

1. the environment variable ``SPHERON_API_KEY``;
2. the system keyring (service ``spheron-jupyter``), where one works — on a headless Linux box
   keyring has only its "fail" backend, which we detect and skip without a word;
3. our key file ``config_dir()/api_key`` (mode 0600, written atomically);
4. ``~/.spheron/api_key``, which other Spheron tools use (read only; ``HOME`` is honoured).

``SPHERON_JUPYTER_KEYRING=off`` skips the keyring entirely (for tests and for machines whose
keyring prompts).  The key travels as an :class:`ApiKey`, whose str and repr are masked; the
raw value is only available through :meth:`ApiKey.reveal`, for the Authorization header.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from .files import write_private_file
from .paths import config_dir
from .redaction import mask, redact, register_secret

__all__ = [
    "ENV_VAR",
    "KEYRING_ENV",
    "KEYRING_SERVICE",
    "ApiKey",
    "CredentialsError",
    "describe_key_source",
    "forget_api_key",
    "key_file_path",
    "legacy_key_file_path",
    "mask",
    "redact",
    "register_secret",
    "resolve_api_key",
    "store_api_key",
]

ENV_VAR = "SPHERON_API_KEY"
KEYRING_ENV = "SPHERON_JUPYTER_KEYRING"
KEYRING_SERVICE = "spheron-jupyter"
KEYRING_USER = "api-key"


class CredentialsError(ValueError):
    """A stored key is unusable; the message says where it is and what to do."""


class ApiKey:
    """An API key that does not leak: str/repr/format show a masked form only."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str = "given") -> None:
        if isinstance(value, ApiKey):
            value = value.reveal()
        value = (value or "").strip()
        if not value:
            raise CredentialsError(f"The API key from {source} is empty.")
        if any(ch.isspace() for ch in value):
            raise CredentialsError(
                f"The API key from {source} contains spaces or line breaks; copy it again."
            )
        self._value = value
        self.source = source
        register_secret(value)

    def reveal(self) -> str:
        """The raw key, for the Authorization header and nothing else."""
        return self._value

    @property
    def masked(self) -> str:
        return mask(self._value)

    def describe(self) -> str:
        return f"{self.source} ({self.masked})"

    def __repr__(self) -> str:
        return f"ApiKey({self.masked!r}, source={self.source!r})"

    def __str__(self) -> str:
        return self.masked

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ApiKey):
            return self._value == other._value
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("ApiKey", self._value))

    def __copy__(self) -> ApiKey:
        return self  # immutable: copies may share it

    def __deepcopy__(self, memo: dict) -> ApiKey:
        return self

    def __reduce__(self):
        # Pickling would write the key into whatever holds the pickle (a saved widget state,
        # a multiprocessing queue); nothing of ours needs it.
        raise TypeError("ApiKey cannot be pickled")


def key_file_path() -> Path:
    return config_dir() / "api_key"


def legacy_key_file_path() -> Path:
    return Path.home() / ".spheron" / "api_key"


def resolve_api_key() -> ApiKey | None:
    """The key from the first place that has one, or None."""
    env_value = os.environ.get(ENV_VAR, "").strip()
    if env_value:
        return ApiKey(env_value, f"env {ENV_VAR}")
    backend = _keyring_backend()
    if backend is not None:
        stored = _quietly(lambda: backend.get_password(KEYRING_SERVICE, KEYRING_USER))
        if stored and stored.strip():
            return ApiKey(stored, "keyring")
    for path in (key_file_path(), legacy_key_file_path()):
        text = _read_key_file(path)
        if text:
            return ApiKey(text, f"file {_display_path(path)}")
    return None


def describe_key_source(key: ApiKey | None = None) -> str:
    """One line for ``whoami``: where the key came from and its masked form."""
    if key is None:
        key = resolve_api_key()
    if key is None:
        return f"no API key (set {ENV_VAR} or run %spheron login)"
    return key.describe()


def store_api_key(key: str | ApiKey) -> ApiKey:
    """Save the key in the keyring if one works, else in our 0600 key file.

    Returns the key with its new ``source``.  When the keyring takes it, an older copy in our
    key file is removed so that two different keys never linger.
    """
    value = key.reveal() if isinstance(key, ApiKey) else key
    checked = ApiKey(value, "input")
    backend = _keyring_backend()
    if backend is not None and _keyring_store(backend, checked.reveal()):
        _remove(key_file_path())
        return ApiKey(checked.reveal(), "keyring")
    path = write_private_file(key_file_path(), checked.reveal() + "\n")
    return ApiKey(checked.reveal(), f"file {_display_path(path)}")


def forget_api_key() -> list[str]:
    """Remove the key from the keyring and our key file; returns the places it was removed from.

    The environment and ``~/.spheron/api_key`` belong to the user and other tools: untouched.
    """
    removed = []
    backend = _keyring_backend()
    if backend is not None:
        had = _quietly(lambda: backend.get_password(KEYRING_SERVICE, KEYRING_USER))
        if had and _quietly(lambda: backend.delete_password(KEYRING_SERVICE, KEYRING_USER) or True):
            removed.append("keyring")
    if _remove(key_file_path()):
        removed.append(f"file {_display_path(key_file_path())}")
    return removed


def _keyring_backend():
    """The keyring backend if a real one is available, else None (silently)."""
    if os.environ.get(KEYRING_ENV, "").strip().lower() in {"0", "off", "no", "false"}:
        return None

    def load():
        import keyring

        return keyring.get_keyring()

    backend = _quietly(load)
    if backend is None:
        return None
    module = type(backend).__module__
    # The "fail" and "null" backends are what keyring falls back to when nothing works;
    # a chainer with no members reports priority 0 too.
    if module.startswith(("keyring.backends.fail", "keyring.backends.null")):
        return None
    try:
        if float(backend.priority) <= 0:
            return None
    except Exception:
        return None
    return backend


def _keyring_store(backend, value: str) -> bool:
    if not _quietly(lambda: backend.set_password(KEYRING_SERVICE, KEYRING_USER, value) or True):
        return False
    # Some backends accept a write and lose it (a locked collection); only trust a read-back.
    return _quietly(lambda: backend.get_password(KEYRING_SERVICE, KEYRING_USER)) == value


def _quietly(func):
    """Run a keyring call; any failure means "no keyring", with no warning printed."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return func()
    except Exception:
        return None


def _read_key_file(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    except OSError as exc:
        raise CredentialsError(
            f"Cannot read the API key file {_display_path(path)} ({exc.strerror})."
        ) from None
    return text or None


def _remove(path: Path) -> bool:
    try:
        path.unlink()
        return True
    except FileNotFoundError:
        return False


def _display_path(path: Path) -> str:
    home = str(Path.home())
    text = str(path)
    if home not in ("", "/") and text.startswith(home + os.sep):
        return "~" + text[len(home):]
    return text
