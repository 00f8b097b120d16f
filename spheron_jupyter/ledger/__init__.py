"""The ledger layer: what this user's instances are, cost and will do, kept outside any kernel.

State shared by processes that do not share memory: the kernels' sessions (session/), the
reapers (spheron_jupyter/reaper.py), the Jupyter server extension (server/) and
``%load_ext``'s billing warning. Layers: client/ (its status list) <- ledger/ <- ssh/, reaper,
session/ <- notebook/, server/.

- ``store.py``: ``Ledger``, the SQLite store (``default_path``, ``still_billing``);
- ``records.py``: its rows (``InstanceRecord``, ``TunnelRecord``, ``EventRecord``) and which
  of them bill (client/statuses.py's terminal list, plus ``gone``);
- ``lifecycle.py``: what ends an instance and when, from its row and events;
- ``figures.py``: the cost-so-far formula and the wording of dollars and durations.

Importing it loads sqlite3 and nothing of the HTTP stack.
"""

from __future__ import annotations

from .figures import cost_so_far, format_duration, spending_line, usd
from .lifecycle import LEASE_WARNING_SECONDS, Lifecycle, lifecycle_of, status_text
from .records import ENDED_STATUSES, EventRecord, InstanceRecord, TunnelRecord, is_billing
from .store import Ledger, default_path, still_billing

__all__ = [
    "ENDED_STATUSES",
    "LEASE_WARNING_SECONDS",
    "EventRecord",
    "InstanceRecord",
    "Ledger",
    "Lifecycle",
    "TunnelRecord",
    "cost_so_far",
    "spending_line",
    "default_path",
    "format_duration",
    "is_billing",
    "lifecycle_of",
    "status_text",
    "still_billing",
    "usd",
]
