"""The user's SSH key: one ed25519 key per user, generated once.

The private key lives in `data_dir()/ssh/id_ed25519` (0600, written atomically and created
only if absent, so two kernels starting at once end up sharing one key instead of one
overwriting the other's). It is a file, not a keyring entry, because OpenSSH (`%spheron ssh`,
the tunnel agent) needs a file. Its contents never reach a log, repr or exception: objects
here carry the path and the public half only.

Putting it on the account (`/api/ssh-keys`) is session/account_key.py's: an API matter.
"""

from __future__ import annotations

import getpass
import logging
import os
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from spheron_jupyter.config.files import write_private_file
from spheron_jupyter.config.paths import data_dir, ensure_private_dir
from spheron_jupyter.ssh.errors import SshError
from spheron_jupyter.ssh.hostkeys import fingerprint

log = logging.getLogger(__name__)

KEY_FILENAME = "id_ed25519"


@dataclass(frozen=True)
class UserKey:
    """Our key pair, by reference: the private file's path and the public line."""

    path: Path
    public_line: str  # "ssh-ed25519 AAAA... comment"

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_line)

    @property
    def public_key(self) -> str:
        """`<type> <base64>` without the comment, as servers compare it."""
        return " ".join(self.public_line.split()[:2])


def keys_dir() -> Path:
    return ensure_private_dir(data_dir() / "ssh")


def user_key_path() -> Path:
    return keys_dir() / KEY_FILENAME


def default_key_comment() -> str:
    try:
        user = getpass.getuser()
    except Exception:
        user = "user"
    return f"spheron-jupyter {user}@{socket.gethostname()}"


def ensure_user_key(path: Path | None = None) -> UserKey:
    """Load our key, generating it first if it does not exist yet."""
    path = Path(path) if path is not None else user_key_path()
    if not path.exists():
        _generate(path)
    _tighten_mode(path)
    return UserKey(path=path, public_line=_public_line_for(path))


def _generate(path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    private_bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode("ascii")
    ensure_private_dir(path.parent)
    # mkstemp creates the file 0600 whatever the umask; link() publishes it only if no other
    # process got there first, and never exposes a half-written key.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(private_bytes)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return  # another process created it; use theirs
    finally:
        os.unlink(tmp)
    write_private_file(Path(str(path) + ".pub"), f"{public} {default_key_comment()}\n", mode=0o644)
    log.info("Generated SSH key %s (%s).", path, fingerprint(public))


def _tighten_mode(path: Path) -> None:
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)


def _public_line_for(path: Path) -> str:
    pub = Path(str(path) + ".pub")
    try:
        text = pub.read_text(encoding="ascii").strip()
        if text:
            return text
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    # The .pub file is missing (a race with its writer, or the user deleted it): derive it.
    try:
        key = paramiko.PKey.from_path(path)
    except Exception as exc:
        raise SshError(f"SSH key file {path} could not be read ({type(exc).__name__}).") from None
    line = f"{key.get_name()} {key.get_base64()} {default_key_comment()}"
    write_private_file(pub, line + "\n", mode=0o644)
    return line
