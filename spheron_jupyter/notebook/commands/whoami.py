"""%spheron whoami: backend, URL, key source (masked), team and balance."""

from __future__ import annotations

from ..display import KeyValues


def build(parser) -> None:
    pass


def run(context, args, cell=None):
    return KeyValues(context.session.whoami())
