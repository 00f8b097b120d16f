"""Errors the session raises. Each message is one sentence that says what to do next.

The client's ``SpheronError`` family covers what the API refuses; these cover what we refuse
before asking it (budget, references, state). Neither ever carries a secret.
"""

from __future__ import annotations


class SessionError(Exception):
    """Base class: a clean, one-line, user-facing refusal."""


class UnknownInstanceError(SessionError):
    pass


class AmbiguousReferenceError(SessionError):
    def __init__(self, ref: str, candidates: list[str]):
        self.ref = ref
        self.candidates = candidates
        super().__init__(
            f"{ref!r} matches {len(candidates)} instances ({', '.join(candidates)}): "
            "give more of the id or the name"
        )


class InstanceNotRunningError(SessionError):
    pass


class InstanceEndedError(SessionError):
    """The instance ended (reclaimed, failed, terminated elsewhere) under a follow or exec."""


class OverBudgetError(SessionError):
    def __init__(self, worst_case: float, budget: float, what: str):
        self.worst_case = worst_case
        self.budget = budget
        super().__init__(
            f"this launch can cost up to ${worst_case:,.2f} ({what}), over your budget of "
            f"${budget:,.2f} per launch: nothing was created; add --yes to launch anyway, "
            "or set a shorter --lease"
        )


class NoMatchingOfferError(SessionError):
    pass


class NameInUseError(SessionError):
    """A launch of a name that an active or in-flight instance already holds: nothing created."""


class LaunchOutcomeUnknownError(SessionError):
    """The create's answer was lost: the instance may exist (and bill) under its reserved name."""

    def __init__(self, message: str, *, name: str):
        self.name = name
        super().__init__(message)


class LaunchWaitStoppedError(SessionError):
    """The wait for a created instance stopped; the instance exists and bills."""

    def __init__(self, message: str, *, instance_id: str, name: str | None):
        self.instance_id = instance_id
        self.name = name
        super().__init__(message)
