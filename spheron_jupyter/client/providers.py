"""Provider quirks, in one place (one entry per provider, like a provisioner per cloud).

The deployment object's ``user`` field is the login user, but it is absent on some providers
(docs/spheron-api.md, "The deployment (instance) object"), and on massed-compute root logins
are refused: the user there is ``ubuntu``.  Without a ``user`` and without a known default we
try ``ubuntu`` first (what a client that ran against the live service does when ``user`` is
missing, same section), then ``root``; each refused login costs seconds, not minutes (the
caller tries the next one on an authentication failure).
"""

from __future__ import annotations

from typing import Any

__all__ = ["FALLBACK_SSH_USERS", "KNOWN_PROVIDERS", "PROVIDER_SSH_USERS", "provider_slug",
           "ssh_users"]

# Provider slugs we know of (docs/spheron-api.md, "Providers"): an open list, never used to
# refuse a value; `doctor` names the ones outside it.  spheron-am sells AMD GPUs (CUDA images
# fail there); verda is data-crunch's new name; tensordock is gone from current docs.
KNOWN_PROVIDERS = frozenset({"spheron-ai", "voltage-park", "data-crunch", "verda",
                             "massed-compute", "sesterce", "tensordock", "spheron-es",
                             "spheron-am"})

# provider slug -> its default login user when the deployment carries no `user`.
# massed-compute: root is refused, the user is `ubuntu` (docs/spheron-api.md, "The
# deployment (instance) object", which names the public sources).
PROVIDER_SSH_USERS: dict[str, str] = {
    "massed-compute": "ubuntu",
}
FALLBACK_SSH_USERS: tuple[str, ...] = ("ubuntu", "root")


def provider_slug(value: object) -> str:
    """The provider's slug from a ``providerId``/``provider`` value.

    ``providerId`` sometimes carries an id suffix (docs/spheron-api.md): a known slug that
    starts the value, followed by a separator, names the provider.
    """
    text = str(value or "").strip().lower()
    if not text:
        return ""
    for slug in PROVIDER_SSH_USERS:
        if text == slug or (text.startswith(slug) and text[len(slug)] in "-_:/ ."):
            return slug
    return text


def _get(deployment: Any, *names: str) -> Any:
    for name in names:
        if isinstance(deployment, dict):
            value = deployment.get(name)
        else:
            value = getattr(deployment, name, None)
        if value is not None and str(value).strip():
            return value
    return None


def ssh_users(deployment: Any) -> list[str]:
    """Candidate SSH login users, in the order to try them.

    ``deployment`` is an ``Instance`` (or the API's dict).  Its ``user`` when present, else
    the provider's known default, else ``ubuntu`` then ``root``; never a duplicate.
    """
    candidates: list[str] = []
    user = _get(deployment, "user")
    if user is not None:
        candidates.append(str(user).strip())
    else:
        provider = provider_slug(_get(deployment, "provider_id", "providerId", "provider"))
        if provider in PROVIDER_SSH_USERS:
            candidates.append(PROVIDER_SSH_USERS[provider])
        else:
            candidates.extend(FALLBACK_SSH_USERS)
    return list(dict.fromkeys(c for c in candidates if c))  # first of each, in order
