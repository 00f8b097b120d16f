"""The one list of instance statuses in the client: terminal ones, and everything else.

Money rule (docs/spheron-api.md, "Statuses"): the API reports statuses beyond the ones we
know (``stopped`` is shown in the dashboard and still bills), so only a status we *know* to
be terminal ends billing.  Any other string, including one we have never seen, an empty one
or a missing one, counts as billing: it is shown to the user as it is, kept in listings, the
burn meter and the billing warning, and ``terminate`` still works on it.

Every layer asks these functions; nobody keeps a copy of the lists.
"""

from __future__ import annotations

__all__ = [
    "BILLING_STATUSES",
    "KNOWN_STATUSES",
    "TERMINAL_STATUSES",
    "is_billing",
    "is_known",
    "is_terminal",
    "normalize_status",
]

# The statuses that end billing (docs/spheron-api.md, "Statuses"): terminated by the user,
# reclaimed by the provider (spot preemption, hardware), or failed to deploy.
TERMINAL_STATUSES = frozenset({"terminated", "terminated-provider", "failed"})
# The documented billing statuses.  Any other bills too (`stopped`, shown in the dashboard
# but not in the API docs, is one); this list only tells the user (and `doctor`) that a
# status is not one the API documents.
BILLING_STATUSES = frozenset({"deploying", "running"})
KNOWN_STATUSES = TERMINAL_STATUSES | BILLING_STATUSES


def normalize_status(status: object) -> str:
    """Lower-cased, trimmed; ``None`` and blanks become ``""`` (unknown)."""
    if status is None:
        return ""
    return str(status).strip().lower()


def is_terminal(status: object) -> bool:
    """True only for a status we know ends billing."""
    return normalize_status(status) in TERMINAL_STATUSES


def is_billing(status: object) -> bool:
    """Everything that is not known to be terminal, unknown strings included."""
    return not is_terminal(status)


def is_known(status: object) -> bool:
    """Whether the API documents this status (``doctor`` reports the others, e.g. stopped)."""
    return normalize_status(status) in KNOWN_STATUSES
