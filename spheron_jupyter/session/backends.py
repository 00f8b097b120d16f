"""Choosing a backend: the only place session/ touches config/ and emulator/.

``local`` is the embedded emulator running as its own process (never a kernel thread: the GIL
measurements of bench/README.md), found again by any later kernel through its state dir. ``cloud`` is the real
API with the configured key. Both give a ``SpheronClient``; nothing above this module knows which.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .errors import SessionError

if TYPE_CHECKING:
    from ..config.credentials import ApiKey
    from ..config.settings import Settings
    from ..emulator.process import EmulatorProcess
# Emulator knobs for demos and tests; users never need them.
ENV_BOOT_SECONDS = "SPHERON_EMULATOR_BOOT_SECONDS"
ENV_MINIMUM_RUNTIME = "SPHERON_EMULATOR_MINIMUM_RUNTIME"
ENV_RATE_LIMIT = "SPHERON_EMULATOR_RATE_LIMIT"


@dataclass
class Connection:
    backend: str  # "local" or "cloud"
    url: str
    api_key: ApiKey  # masked when printed
    key_source: str  # masked, for whoami: never the key itself
    note: str | None = None  # one line worth telling the user (e.g. why local was chosen)
    emulator_state: str | None = None  # our own managed emulator's state dir, when it is that

    def __repr__(self) -> str:  # the key must never reach a repr
        return f"Connection(backend={self.backend!r}, url={self.url!r}, key_source={self.key_source!r})"


def emulator_state_dir() -> Path:
    from ..config import paths

    return paths.ensure_private_dir(paths.state_dir() / "emulator")


def connect_local(url: str | None = None, api_key: str | ApiKey | None = None,
                  emulator_options: dict[str, Any] | None = None,
                  emulator_state: str | Path | None = None) -> Connection:
    """Reuse the emulator this user already runs, or start one (a separate process).

    Any other emulator (``spheron-jupyter emulator`` started by hand) is reached by its URL with
    its key: given, from ``SPHERON_API_KEY``, or read from its ``--state`` directory.
    """
    if url and api_key:
        return _local(url, api_key, "emulator")
    from ..emulator import process

    if emulator_state is not None:
        return _connect_state(process, Path(emulator_state).expanduser(), url)
    state = emulator_state_dir()
    running = process.find_running(state)
    if running is not None and (url is None or running.url.rstrip("/") == url.rstrip("/")):
        return _local(running.url, running.api_key, "emulator", emulator_state=str(state))
    if url:
        return _connect_url(url.rstrip("/"))
    options = {
        "boot_seconds": float(os.environ.get(ENV_BOOT_SECONDS, 2.0)),
        "minimum_runtime": os.environ.get(ENV_MINIMUM_RUNTIME, "20m"),
        # The general rate limit (default: the live figure, 100/15m); the demo raises it.
        "rate_limit": os.environ.get(ENV_RATE_LIMIT) or None,
    }
    options.update(emulator_options or {})
    emu = _start_on_the_same_port(process, state, options)
    return _local(emu.url, emu.api_key, "emulator", emulator_state=str(state),
                  note=f"started the embedded emulator at {emu.url} (state in {state})")


def _local(url: str, value: str | ApiKey, source: str, **extra: str) -> Connection:
    key = wrap_key(value, source)
    return Connection("local", url.rstrip("/"), key, key.describe(), **extra)


def _connect_state(process: ModuleType, state: Path, url: str | None) -> Connection:
    """The emulator serving ``state`` (its --state DIR), with the key it wrote there."""
    running = process.find_running(state)
    if running is None:
        raise SessionError(f"no emulator answers for the state directory {state}: start one with "
                           f"spheron-jupyter emulator --state {state}")
    if url and running.url.rstrip("/") != url.rstrip("/"):
        raise SessionError(f"the emulator of {state} serves {running.url}, not {url}: "
                           f"drop --url or give that emulator's --state")
    return _local(running.url, running.api_key, f"emulator state {state}",
                  emulator_state=str(state))


def _connect_url(url: str) -> Connection:
    """An emulator someone else started, with the key from SPHERON_API_KEY.

    Only the environment variable: a key from the keyring or the config file is the user's
    real Spheron key, which must not go to whatever listens at an arbitrary URL.
    """
    import urllib.error
    import urllib.request

    value = os.environ.get("SPHERON_API_KEY", "").strip()
    if not value:
        raise SessionError(f"which key does the emulator at {url} take? Set SPHERON_API_KEY to the "
                           f"key it printed, or add --state DIR (its --state directory)")
    try:  # one line now rather than a failure at the first command
        with urllib.request.urlopen(url + "/api/providers", timeout=5):
            pass
    except urllib.error.HTTPError:
        pass  # something answers HTTP; a wrong key shows at the first request
    except (OSError, ValueError) as exc:
        raise SessionError(f"nothing answers at {url} ({exc}): start it with "
                           f"spheron-jupyter emulator, or check the URL") from None
    return _local(url, value, "env SPHERON_API_KEY")


def _start_on_the_same_port(process: ModuleType, state: Path,
                            options: dict[str, Any]) -> EmulatorProcess:
    """Start the emulator where it ran last time, so its URL (the ledger's key) stays the same.

    The emulator keeps its instances across restarts; with the same URL, the ledger's rows
    for them reconcile again instead of being orphaned under an old random port.
    """
    port_file = state.parent / "emulator-port"
    try:
        last = int(port_file.read_text().strip())
    except (OSError, ValueError):
        last = 0
    if last and "port" not in options:
        try:
            return process.start_emulator(state, port=last, **options)
        except Exception:  # the port was taken meanwhile: any free one will do
            pass
    emu = process.start_emulator(state, **options)
    port_file.write_text(f"{urlsplit(emu.url).port}\n")
    return emu


def connect_cloud(url: str | None = None, api_key: str | ApiKey | None = None) -> Connection:
    # settings.api_url (SPHERON_API_URL overrides it: config/settings.py reads both).
    url = (url or load_settings().api_url).rstrip("/")
    if api_key:
        key = wrap_key(api_key, "given to Session()")
        return Connection("cloud", url, key, key.describe())
    found = resolve_key()
    if found is None:
        raise SessionError(
            "no Spheron API key configured: run %spheron login (or set SPHERON_API_KEY), "
            "or %spheron use local for the embedded emulator"
        )
    return Connection("cloud", url, found, found.describe())


def resolve_key() -> ApiKey | None:
    """The configured key (its ``describe()`` says where from, masked); config.credentials
    decides."""
    from ..config import credentials

    return credentials.resolve_api_key()


def wrap_key(value: str | ApiKey, source: str) -> ApiKey:
    """An ``ApiKey`` (masked repr, registered for redaction) from whatever we were given."""
    from ..config.credentials import ApiKey

    return value if isinstance(value, ApiKey) else ApiKey(value, source)


def choose(backend: str | None, url: str | None = None, api_key: str | ApiKey | None = None,
           emulator_options: dict[str, Any] | None = None,
           emulator_state: str | Path | None = None) -> Connection:
    """Explicit backend, else the ``backend`` setting, else (auto) cloud when a key is
    configured, else local (saying so)."""
    if backend is None and emulator_state is None and load_settings().backend != "auto":
        backend = load_settings().backend
    if backend == "local" or emulator_state is not None:
        return connect_local(url, api_key, emulator_options, emulator_state)
    if backend == "cloud":
        return connect_cloud(url, api_key)
    if backend is not None:
        raise SessionError(f"unknown backend {backend!r}: use local or cloud")
    if api_key or resolve_key() is not None:
        return connect_cloud(url, api_key)
    conn = connect_local(url, api_key, emulator_options)
    conn.note = "no API key configured: using the embedded emulator (local backend)" + (
        f"; {conn.note}" if conn.note else ""
    )
    return conn


# -- settings: read through config/settings.py only -------------------------------------------
def load_settings() -> Settings:
    from ..config.settings import load_settings as load

    return load()


def save_setting(name: str, value: object) -> None:
    from ..config.settings import save_settings

    current = load_settings()
    setattr(current, name, value)  # validate_assignment: a bad value is one clear error
    save_settings(current)
