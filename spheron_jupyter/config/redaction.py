"""Keeping secrets out of text: a process-wide registry of secret values and ``redact``.

Anything that turns into text a user might see or save (log records, exception messages,
command output shown in a cell) can be passed through :func:`redact`.  Secrets get here when
they are resolved or created: the API key by ``credentials``, Jupyter tokens and private keys
by the layers that make them.  :class:`ApiKey` (in ``credentials``) keeps the key itself out
of reprs; this module covers the places where a secret arrives as part of a larger string.
"""

from __future__ import annotations

import re
import threading

__all__ = ["REDACTED", "clear_secrets", "mask", "redact", "register_secret", "unregister_secret"]

REDACTED = "[REDACTED]"

# Shorter values would mask ordinary words and numbers; no real secret of ours is this short.
_MIN_SECRET_LENGTH = 6

# A bearer header copied into text (a debug dump, a curl line) gives the key away whatever
# its value, so it is masked even when the value was never registered.
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=\-]{6,}")

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()


def register_secret(value: str | None) -> None:
    """Remember ``value`` so that :func:`redact` masks it from now on."""
    global _secrets
    if not value or len(value) < _MIN_SECRET_LENGTH:
        return
    with _lock:
        if value not in _secrets:
            # Longest first, so a secret that contains another is masked whole.
            _secrets = tuple(sorted((*_secrets, value), key=len, reverse=True))


def unregister_secret(value: str | None) -> None:
    global _secrets
    with _lock:
        _secrets = tuple(s for s in _secrets if s != value)


def clear_secrets() -> None:
    """Forget every registered secret (for tests)."""
    global _secrets
    with _lock:
        _secrets = ()


def redact(text: str) -> str:
    """Return ``text`` with every registered secret and any bearer token replaced."""
    if not text:
        return text
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    if "earer" in text:
        text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    return text


def mask(value: str | None) -> str:
    """A recognisable but useless form of a secret: at most 7 leading and 4 trailing chars.

    Short values reveal less, so a mask never gives away most of a secret.
    """
    if not value:
        return "(empty)"
    n = len(value)
    if n >= 20:
        return f"{value[:7]}…{value[-4:]}"
    if n >= 12:
        return f"{value[:3]}…{value[-2:]}"
    return "…"
