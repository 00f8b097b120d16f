"""The figures every view shows of an instance: the one "cost so far" formula, dollars, and
durations, worded once so the magics, the widgets, the Lab sidebar and the tests agree.

Pure functions. The money rules of a launch (the duration reader, the worst case, the minimum
runtime's wording) are session/money.py's.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Protocol


def cost_so_far(hourly_rate: float | None, started: float | None, ended: float | None = None,
                api_cost: float | None = None, now: float | None = None) -> float | None:
    """The one "cost so far": rate x time run (until it ended), or the API's own figure when
    that is larger (it knows about minimum charges we do not)."""
    estimate = None
    if hourly_rate is not None and started is not None:
        end = ended or (now if now is not None else time.time())
        estimate = max(0.0, end - started) / 3600.0 * hourly_rate
    if api_cost is None:
        return estimate
    return max(api_cost, estimate or 0.0)


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s" if minutes < 10 and secs else f"{minutes}m"
    return f"{secs}s"


def usd(amount: float | None, places: int = 2) -> str:
    if amount is None:
        return "-"
    if 0 < abs(amount) < 0.00005 and places == 2:
        return "<$0.0001"  # a second of a cheap GPU: "$0.0000" would read as free
    if 0 < abs(amount) < 0.01 and places == 2:
        return f"${amount:.4f}"
    return f"${amount:,.{places}f}"


class Spends(Protocol):
    """What the money summary reads of an instance (session/views.py InstanceView has it)."""
    @property
    def active(self) -> bool: ...
    @property
    def hourly_rate(self) -> float | None: ...
    @property
    def cost_so_far(self) -> float | None: ...


def spending_line(instances: Iterable[Spends]) -> str:
    """The one money summary of a set of instances (``%spheron ls``'s footer, the dashboard's
    summary): what the billing ones burn per hour now and what all of them have cost so far."""
    instances = list(instances)
    rate = sum(i.hourly_rate or 0.0 for i in instances if i.active)
    spent = sum(i.cost_so_far or 0.0 for i in instances)
    return f"burning {usd(rate)}/h now; {usd(spent)} spent on these so far"
