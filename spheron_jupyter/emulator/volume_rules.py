"""Where volumes exist and how they attach (seed 004), as data the routes and tests share.

- voltage-park, Dallas TX (``dallas-tx-1``): up to 64 TB, NFS, one volume per instance and one
  instance per volume.
- data-crunch, Finland (``FIN-01``, ``FIN-02``, ``FIN-03``): up to 10 TB, NVMe_Shared or NFS,
  attachable to several instances, all in the volume's own region.
- every other provider (and other regions of these two): no volumes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VolumeRule:
    provider: str
    regions: dict[str, str]  # region id -> location
    max_size_gb: int
    types: tuple[str, ...]
    multi_attach: bool
    hourly_rate_per_gb: float


RULES = {
    "voltage-park": VolumeRule("voltage-park", {"dallas-tx-1": "Dallas, TX"}, 64_000, ("NFS",),
                               False, 0.000109),
    "data-crunch": VolumeRule("data-crunch", {"FIN-01": "Helsinki, Finland",
                                              "FIN-02": "Helsinki, Finland",
                                              "FIN-03": "Tuusula, Finland"},
                              10_000, ("NVMe_Shared", "NFS"), True, 0.000137),
}


def supported_summary() -> str:
    return "; ".join(f"{rule.provider} in {', '.join(rule.regions)} (up to "
                     f"{rule.max_size_gb // 1000} TB)" for rule in RULES.values())
