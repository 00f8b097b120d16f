"""%%spheron icl [--mode provider|fizz] [--check | --deploy]: the cell is an ICL document.

--check (the default) shows what the document asks for and every finding; --deploy checks
first, then creates the deployment through sphnctl and follows the troubleshooting advice of Spheron's docs (docs/spheron-protocol.md)
advice while it waits (replicas at 0: wait, then show recent logs and events; a fizz node that
does not answer: its start-up logs).

Deployments are not written to the ledger: its tables describe Spheron AI instances (keyed by
API URL, reconciled against the REST API); a lease lives in sphnctl's own records, which
`%spheron deployment list` reads.
"""

from __future__ import annotations

import hashlib
import time

from IPython.core.error import UsageError

from ..display import KeyValues, Progress
from ..parser import positive_int
from ._protocol_shared import check_or_refuse, checked, create_lease, driver, price_with_token, report_display

CELL = True
DESCRIPTION = """The cell is an ICL document (Spheron Protocol, YAML).

  %%spheron icl                    check it: summary (services, ports, resources, GPUs, price
                                   ceiling, duration, tiers) and findings with path, line, rule, fix
  %%spheron icl --mode fizz        check it as if it were a fizz (or provider) deployment
  %%spheron icl --deploy           check, then create it with sphnctl and wait until available

Errors are what the network refuses (the Provider/Fizz rules, values such as `duration: 1hr`) and
block --deploy; warnings (tiers, registries, GPU names, tokens, regions: facts of Spheron's docs
that may lag, each naming its source) never do. A create has no time limit; interrupted, sphnctl
finishes it on its own and the cell says how to find the lease.
Line numbers in findings count the cell's lines: the %%spheron line is line 1.
"""

# Checks of a fresh lease start fast (most come up in seconds) and slow down to `interval`.
FIRST_RECHECK_SECONDS = 0.5
RECHECK_SECONDS = 10.0
DIAGNOSE_AFTER_SECONDS = 60.0


def build(parser) -> None:
    parser.add_argument("--mode", choices=("provider", "fizz"),
                        help="check in this mode instead of the document's own")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--check", action="store_true", help="validate and summarise (default)")
    action.add_argument("--deploy", action="store_true",
                        help="check, then create the deployment and wait until it is available")
    parser.add_argument("--timeout", type=positive_int, default=600, metavar="SECONDS",
                        help="with --deploy: how long to wait for availability (default 600)")


def run(context, args, cell=None):
    if cell is None or not cell.strip():
        raise UsageError("%%spheron icl: the cell is the ICL document: write it below "
                         "%%spheron icl on the first line")
    if not args.deploy:
        return report_display(checked(cell, args.mode, in_cell=True))
    return deploy(cell, args)


def deploy(text: str, args):
    report = check_or_refuse(text, "%%spheron icl --deploy", args.mode, in_cell=True)
    document_mode = report.document.mode
    if args.mode and args.mode != document_mode:
        raise UsageError(f"%%spheron icl --deploy: the document says mode {document_mode}; sphnctl "
                         f"deploys what the document says: set `mode: {args.mode}` under profiles "
                         "instead of --mode")
    sphnctl = driver()  # a missing sphnctl stops here, before anything is written or created
    path = _write_document(text)
    progress = Progress(f"Deploying {path.name} in {document_mode} mode").start()
    for finding in report.result.warnings:
        progress.update("warning", f"warning: {finding.message}")
    progress.update("create", "sphnctl deployment create: asking providers for a lease (no time limit: "
                    "an on-chain create can take minutes)")
    created = create_lease(sphnctl, path, progress)
    if created is None:
        return None
    lid = created.lid
    progress.update("created", f"lease {lid} with provider {created.provider or '?'} at "
                    f"{price_with_token(created.price_per_hour, report.document) or '?'} per hour; "
                    "waiting until it is available")
    try:
        details = _wait(sphnctl, lid, document_mode, args.timeout, progress)
    except KeyboardInterrupt:
        progress.flush()
        print(f"interrupted: deployment {lid} exists and keeps running; "
              f"%spheron deployment get --lid {lid} checks it, close --lid {lid} ends it")
        return None
    finally:
        progress.flush()
    return _lease_display(lid, created, details, path, report.document)


def _wait(sphnctl, lid: int, mode: str, timeout: int, progress: Progress):
    from ...protocol.deployments import DeploymentNotAvailableError, wait_until_available

    delays = iter([FIRST_RECHECK_SECONDS * 2 ** n for n in range(5)])

    def sleep(_interval: float) -> bool:
        # Back off from half a second to the interval: quick leases are seen at once, slow ones
        # are not asked about more than every RECHECK_SECONDS.
        time.sleep(min(next(delays, RECHECK_SECONDS), RECHECK_SECONDS))
        return False  # the notebook's interrupt (KeyboardInterrupt) is the only way to stop early

    try:
        return wait_until_available(
            sphnctl, lid, mode=mode, timeout=timeout, interval=RECHECK_SECONDS,
            diagnose_after=min(DIAGNOSE_AFTER_SECONDS, timeout / 2), sleep=sleep,
            on_report=lambda item: progress.update(item.kind, str(item)))
    except DeploymentNotAvailableError as error:
        raise UsageError(f"{error} The lease {lid} stays open (and may be billing): fix the "
                         f"document and %spheron deployment update --lid {lid} FILE, or "
                         f"%spheron deployment close --lid {lid}") from None


def _write_document(text: str):
    """Keep the exact text deployed, so `deployment update --lid N FILE` can start from it."""
    from ...config.files import write_private_file
    from ...config.paths import state_dir

    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    name = f"{time.strftime('%Y%m%d-%H%M%S')}-{digest}.yml"
    return write_private_file(state_dir() / "icl" / name, text)


def _lease_display(lid: int, created, details, path, document) -> KeyValues:
    ports = [f"{service.name}: {port}" for service in details.services for port in service.ports]
    facts = {"lease id": lid, "status": details.status, "provider": created.provider or details.provider,
             "agreed price per hour": price_with_token(created.price_per_hour or details.price_per_hour, document),
             "replicas": ", ".join(f"{s.name} {s.available}/{s.total}" for s in details.services),
             "mapped ports": "; ".join(ports) or "none", "region": details.region,
             "ICL file": str(path)}
    footer = (f"%spheron deployment logs --lid {lid} --follow streams its output; "
              f"%spheron deployment close --lid {lid} ends the lease.")
    if _has_global_port(document):
        footer += (" For Jupyter, TensorBoard or any interactive app, prefer an SSH tunnel to a "
                   f"global port: sphnctl deployment ssh enable --lid {lid} prints host and port, then "
                   "ssh -N -L 8888:127.0.0.1:8888 -p PORT root@HOST (binds 127.0.0.1 only).")
    return KeyValues({k: v for k, v in facts.items() if v not in (None, "")},
                     title=f"Deployment {lid} is available", footer=footer)


def _has_global_port(document) -> bool:
    return any(expose.is_global for service in document.services.values() for expose in service.expose)
