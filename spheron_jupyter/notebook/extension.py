"""``%load_ext spheron_jupyter``: register the magic and warn about instances still billing.

Kept cheap on purpose (≤ 100 ms over a bare IPython, see bench/load_ext.py): the magic's
module, the parser and a ledger read (sqlite3) only. The client, paramiko and ipywidgets load
when a command first needs them. The warning comes from the ledger without a network call.
"""

from __future__ import annotations

_magics = None


def load_ipython_extension(ipython) -> None:
    global _magics
    from .magic import SpheronMagics

    _magics = SpheronMagics(ipython)
    ipython.register_magics(_magics)
    warning = still_billing_line()
    if warning:
        print(warning)


def unload_ipython_extension(ipython) -> None:
    global _magics
    if _magics is not None:
        ipython.magics_manager.registry.pop("SpheronMagics", None)
        ipython.magics_manager.magics["line"].pop("spheron", None)
        ipython.magics_manager.magics["cell"].pop("spheron", None)
        _magics = None
    from . import links

    links.shutdown()


def _may_bill(record) -> bool:
    """False for instances of our managed emulator when it does not serve them any more.

    Those bill nothing, not even pretend money, and the emulator's next start may use another
    URL. Files and a pid check only: %load_ext makes no request.
    """
    state = (record.extra or {}).get("emulator_state")
    if record.backend != "local" or not state:
        return True
    import json
    from pathlib import Path

    from ..config.processes import pid_alive

    try:
        info = json.loads((Path(state) / "emulator.json").read_text())
        if not pid_alive(int(info["pid"])):
            return False
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return str(info.get("url", "")).rstrip("/") == record.api_url.rstrip("/")


def current_session():
    """The Session the ``%spheron`` magic of this kernel uses (for Python cells next to it)."""
    if _magics is None:
        raise RuntimeError("run %load_ext spheron_jupyter first")
    return _magics.context.session


def still_billing_line() -> str | None:
    """One line naming what the ledger says is still billing, or None (never raises)."""
    try:
        from ..ledger import still_billing

        active = still_billing()
    except Exception:  # a broken ledger must not break loading the extension
        return None
    active = [r for r in active if _may_bill(r)]
    if not active:
        return None
    rate = sum(r.hourly_rate or 0.0 for r in active)
    names = ", ".join(f"{r.name or r.id} ({r.backend})" for r in active[:3])
    more = f" and {len(active) - 3} more" if len(active) > 3 else ""
    plural = "s" if len(active) > 1 else ""
    return (f"spheron: {len(active)} instance{plural} may still be billing (${rate:,.2f}/h): "
            f"{names}{more}; %spheron ls checks, %spheron terminate ID stops")
