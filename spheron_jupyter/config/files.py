"""Writing small private files so that a reader never sees half a file or a loose mode."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .paths import ensure_private_dir

__all__ = ["write_private_file"]


def write_private_file(path: Path, text: str, *, mode: int = 0o600) -> Path:
    """Replace ``path`` with ``text`` atomically; the file never exists with a looser mode.

    The temporary file comes from ``mkstemp``, which opens it 0600 whatever the umask, so
    the secret is never readable by others even for a moment (changing the umask instead
    would race with other threads of the kernel).  ``os.replace`` then swaps it in whole.
    """
    path = Path(path)
    ensure_private_dir(path.parent)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    return path
