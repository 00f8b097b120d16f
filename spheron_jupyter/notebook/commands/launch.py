"""%spheron launch / %%spheron launch: price, worst case and budget first, then progress."""

from __future__ import annotations

from pathlib import Path

from IPython.core.error import UsageError

from ..display import KeyValues, Progress
from . import offers

CELL = True
DESCRIPTION = """Launch an instance: the cheapest offer matching the filters, or OFFER_ID.

Shows the offer, its price per hour (and per GPU), the minimum charge (the provider's minimum
runtime is billed in full), whether a spot provider can reclaim it, and the worst case: the
lease, never below the minimum; without --lease there is no cap (the budget check counts one
hour). Refuses a launch over your budget (settings: budget_per_launch_usd) unless --yes. With --lease the instance is terminated when
the lease ends, even if this kernel is gone by then.

Progress: deploying -> running -> SSH ready (host key pinned through cloud-init, or trusted
on first use with its fingerprint shown) -> startup script finished, when there is one. The
wait for running lasts up to launch_timeout_minutes (settings, 60 by default) and says what it
waits for; API outages and rate limits (a 429's retryAfter) are waited out with one line each.
SSH logs in as the deployment's `user`, else the provider's known default (massed-compute:
ubuntu), else ubuntu, then root; a refused login moves on to the next in seconds.
--region takes a cluster id as the catalog shows it or its name without a routing prefix
(culpeper-usa-1 finds 166e655a:culpeper-usa-1); the exact id is sent.

A launch reserves its name first: a name that an active or launching instance holds is
refused, naming it. If the create's answer is lost, or you stop the wait, the instance may be
billing: re-running the same launch attaches to it instead of creating another.

As a cell magic (%%spheron launch) the body is YAML with the same keys, plus `startup:` with a
shell script run at boot (offers with cloud-init only). A flag and a cell key that disagree are
refused (neither wins silently):

    %%spheron launch --lease 2h
    gpu: rtx-4090
    name: my-run
    startup: |
      pip install tensorboard
"""

YAML_KEYS = {"offer", "offer_id", "gpu", "count", "type", "region", "provider", "os",
             "max_price", "max-price", "name", "volume", "volumes", "startup", "lease", "yes",
             "no_wait", "no-wait"}


def build(parser) -> None:
    parser.add_argument("offer_id", nargs="?", metavar="OFFER_ID")
    offers.add_filters(parser, with_sort=False)
    parser.add_argument("--os", metavar="OS", help="one of the offer's os_options")
    parser.add_argument("--name", help="instance name (default: a unique sj-... name)")
    parser.add_argument("--volume", action="append", default=[], metavar="VOL",
                        help="attach this volume (repeatable)")
    parser.add_argument("--startup", metavar="FILE", help="shell script to run at boot")
    parser.add_argument("--lease", metavar="DURATION",
                        help="e.g. 30m, 2h (a bare number is hours): terminate after it")
    parser.add_argument("--no-wait", action="store_true", help="return once created")
    parser.add_argument("--yes", action="store_true", help="launch even if over budget")


def yaml_options(cell: str) -> dict:
    import yaml

    try:
        data = yaml.safe_load(cell) if cell.strip() else {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        # +2: the body's first line is the cell's second (the %%spheron line comes first).
        where = f"line {mark.line + 2} of the cell" if mark is not None else "the cell"
        problem = getattr(exc, "problem", None) or "not valid YAML"
        context, start = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and start is not None and mark is not None and start.line != mark.line:
            # Where the unfinished thing began: an unclosed [ or quote is found lines later.
            problem += f" ({context} that starts at line {start.line + 2})"
        raise UsageError(f"%%spheron launch: YAML error at {where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError("%%spheron launch: the cell must be YAML keys (gpu: ..., lease: ...)")
    # YAML 1.1 reads a bare `yes:` key as the boolean true: it means our `yes` key.
    data = {("yes" if key is True else str(key)): value for key, value in data.items()}
    unknown = sorted(set(data) - YAML_KEYS)
    if unknown:
        raise UsageError(f"%%spheron launch: unknown key {unknown[0]!r} in the cell; "
                         f"known: {', '.join(sorted(k for k in YAML_KEYS if '-' not in k))}")
    return {k.replace("-", "_"): v for k, v in data.items()}


def merge(args, cell: str | None) -> dict:
    """The flags and the cell's YAML together; a key given in both with different values is
    refused (one line), nothing is launched."""
    opts = yaml_options(cell) if cell is not None else {}
    if "offer" in opts:
        opts["offer_id"] = opts.pop("offer")
    volumes = opts.pop("volumes", None) or opts.pop("volume", None) or []
    opts["volumes"] = ([volumes] if isinstance(volumes, str) else list(volumes)) + args.volume
    for key in ("offer_id", "gpu", "count", "type", "region", "provider", "os", "max_price",
                "name", "lease"):
        value = getattr(args, key)
        if value is None:
            continue
        if opts.get(key) is not None and str(opts[key]) != str(value):
            # Neither may silently win: an h100 flag over a cell that says rtx-4090 buys the
            # wrong GPU (issue 10).
            flag = "OFFER_ID" if key == "offer_id" else f"--{key.replace('_', '-')}"
            raise UsageError(f"%%spheron launch: {flag} {value} disagrees with the cell's "
                             f"{key}: {opts[key]}; remove one of them")
        opts[key] = value
    if args.startup:
        try:
            opts["startup"] = Path(args.startup).expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"%spheron launch: cannot read {args.startup}: {exc.strerror}") from None
    opts["yes"] = bool(args.yes or opts.get("yes"))
    opts["no_wait"] = bool(args.no_wait or opts.get("no_wait"))
    # `lease: 2` in the cell means what `--lease 2` means: hours. YAML reads it as a number,
    # which the Python API refuses (session/money.py: seconds or hours?), so it goes as text.
    for key in ("gpu", "offer_id", "name", "region", "provider", "os", "type", "lease"):
        if opts.get(key) is not None:
            opts[key] = str(opts[key])
    return opts


def run(context, args, cell=None):
    opts = merge(args, cell)
    yes, no_wait = opts.pop("yes"), opts.pop("no_wait")
    session = context.session
    offer_id = opts.pop("offer_id", None)
    plan = session.plan_launch(offer_id, **opts)
    from IPython.display import display

    display(KeyValues(plan.rows(), title="Launch plan"))
    if plan.over_budget and not yes:
        from ...session.errors import OverBudgetError

        raise OverBudgetError(plan.worst_case_usd, plan.budget_usd, plan.worst_case_basis)
    progress = Progress(f"Launching {plan.name}").start()
    from ...session.errors import LaunchWaitStoppedError

    try:
        view = session.launch(plan, wait=not no_wait, yes=yes, progress=progress.update)
    except LaunchWaitStoppedError as stopped:
        progress.flush()
        # Stopping the wait does not stop the instance: the message names it, it is billing.
        return str(stopped)
    except KeyboardInterrupt:
        progress.flush()
        return (f"stopped; if {plan.name} was created it keeps running (and billing): "
                f"%spheron ls shows it, %spheron terminate {plan.name} stops it")
    progress.flush()
    status = "created (not waiting)" if no_wait else "running, SSH ready"
    return (f"{view.name} ({view.id}) is {status}: %spheron ssh {view.name} / jupyter / logs; "
            f"%spheron terminate {view.name} when done")
