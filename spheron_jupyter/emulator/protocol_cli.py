"""`spheron-jupyter sphnctl ...`: an offline stand-in for sphnctl's `deployment` commands.

It speaks sphnctl's grammar and prints the documented text of every command (protocol_texts.py,
docs/spheron-protocol.md), so the driver (protocol/sphnctl.py) cannot tell it from the real binary:

    SPHERON_SPHNCTL="spheron-jupyter sphnctl"

State lives under SPHERON_PROTOCOL_STATE, else <state dir>/protocol (see protocol_state). Each
created deployment gets a runtime process that really runs its services (protocol_runtime).
Differences from the real network, on purpose: no wallet or payment; ports are forwarded on
127.0.0.1 only; `--follow` is refused for fizz deployments (poll with --tail instead); UDP ports
are listed but not relayed. SPHERON_SPHNCTL_STEP_SECONDS (default 0) waits that long between the
steps of `create`, like the slow on-chain flow the docs describe.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from typing import Any
from collections.abc import Callable, Iterator

from ..config.files import write_private_file
from ..protocol.parsers import NO_RESPONSE_FROM_HOST, event_from_json, parse_log_line
from . import protocol_texts as texts
from .protocol_runtime import spawn
from .protocol_state import (
    ProtocolStore, fake_address, fake_transaction, lease_id, stop_everything,
)

HELP = "an offline sphnctl: deployments whose services run as local processes"
START_TIMEOUT = 15.0
STEP_ENV = "SPHERON_SPHNCTL_STEP_SECONDS"
FOLLOW_POLL_SECONDS = 0.2


class CliError(Exception):
    pass


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("argv", nargs=argparse.REMAINDER, metavar="deployment ...",
                        help="sphnctl's own arguments")
    parser.epilog = ("commands: deployment create FILE | get --lid N | list [-a: active only] | logs --lid N "
                     "[-f] [-t N] [--service S] [--startup] [-o text|json] | events --lid N [-f] [-t N] "
                     "[--service S] | update --lid N FILE | close --lid N.  State: $SPHERON_PROTOCOL_STATE, "
                     "else <state dir>/protocol.  Services must listen on $HOST:$PORT.")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sphnctl", description="Emulated sphnctl (offline).")
    top = parser.add_subparsers(dest="group", required=True, metavar="deployment")
    deployment = top.add_parser("deployment", help="manage deployments")
    verbs = deployment.add_subparsers(dest="verb", required=True, metavar="COMMAND")
    create = verbs.add_parser("create", help="create a deployment from an ICL file")
    create.add_argument("file", help="the ICL document (YAML)")
    lid_help = "the lease id printed by create"
    verbs.add_parser("get", help="status, ports and replicas").add_argument(
        "--lid", type=int, required=True, help=lid_help)
    verbs.add_parser("close", help="close the lease and stop everything").add_argument(
        "--lid", type=int, required=True, help=lid_help)
    verbs.add_parser("list", help="the leases of this wallet (all of them)").add_argument(
        "-a", "--active", action="store_true", help="only the active leases")
    update = verbs.add_parser("update", help="change env, image or resources; the lease stays")
    update.add_argument("--lid", type=int, required=True, help=lid_help)
    update.add_argument("file", help="the new ICL document (same ports, region, tier and token)")
    for name, what in (("logs", "the services' output"), ("events", "the deployment's events as JSON")):
        sub = verbs.add_parser(name, help=what)
        sub.add_argument("--lid", type=int, required=True, help=lid_help)
        sub.add_argument("-f", "--follow", action="store_true", help="keep streaming (provider mode)")
        sub.add_argument("-t", "--tail", type=int, default=None, help="only the last N lines (default all)")
        sub.add_argument("--service", help="only this service")
        if name == "logs":
            sub.add_argument("-o", "--output", choices=("text", "json"), default="text")
            sub.add_argument("--startup", action="store_true", help="the node's start-up steps (fizz mode)")
    return parser


def run(args: argparse.Namespace) -> int:
    return main(list(args.argv))


def main(argv: list[str]) -> int:
    options = build_parser().parse_args(argv)
    store = ProtocolStore()
    handler: Callable[[ProtocolStore, argparse.Namespace], None] = COMMANDS[options.verb]
    try:
        handler(store, options)
    except CliError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, BrokenPipeError):
        return 0  # --follow ends when the reader stops it
    return 0


def say(text: str = "") -> None:
    print(text, flush=True)


def _active(store: ProtocolStore, lid: int) -> dict[str, Any]:
    record = store.load(lid)
    if record is None:
        raise CliError(f"deployment with lid {lid} not found")
    return record


def _left(record: dict[str, Any]) -> int:
    if record["state"] != "active":
        return 0
    return int(record["created_at"] + record["duration_seconds"] - time.time())


def _step() -> None:
    """The pause between create's steps (the chain and the provider's bid take time)."""
    try:
        seconds = float(os.environ.get(STEP_ENV, "0") or 0)
    except ValueError:
        seconds = 0.0
    if seconds > 0:
        time.sleep(seconds)


def _tail(lines: list[str], count: int | None) -> list[str]:
    if count is None:
        return lines
    return lines[-count:] if count > 0 else []


def _wait_for_runtime(store: ProtocolStore, lid: int, generation: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        status = store.status(lid)
        if status.get("generation") == generation and not status.get("stopped"):
            return
        if not store.runtime_alive(lid) and time.monotonic() > deadline - START_TIMEOUT + 2:
            break
        time.sleep(0.05)
    raise CliError(f"the provider did not start deployment {lid} (see {store.deployment_dir(lid) / 'runtime.log'})")


# ---------------------------------------------------------------- commands
def _read_manifest(path: str) -> tuple[dict[str, Any], str]:
    # Imported here: the ICL models (pydantic) are only needed by create and update, and every
    # other command (get, logs, polled many times) should start fast.
    from .protocol_manifest import ManifestError, describe, load_document

    try:
        document, text = load_document(path)
    except ManifestError as error:
        raise CliError(str(error)) from None
    return describe(document), text


def create(store: ProtocolStore, options: argparse.Namespace) -> None:
    say("Validating ICL configuration.")
    terms, text = _read_manifest(options.file)
    lid = store.allocate_lid()
    provider = fake_address("provider" if terms["mode"] == "provider" else f"fizz-node-{lid}")
    record = {**terms, "lid": lid, "owner": store.wallet()["owner"], "provider": provider,
              "state": "active", "generation": 1, "created_at": time.time(), "closed_at": None}
    for line in texts.create_steps(record, fake_transaction(), "1000")[1:]:
        say(line)
        _step()
    # Matched: from here the lease exists on the chain, whatever happens to this process.
    write_private_file(store.deployment_dir(lid) / "icl.yml", text)
    store.save(record)
    for line in texts.create_lease_lines(record):
        say(line)
    _step()
    spawn(store, lid)
    _wait_for_runtime(store, lid, 1)
    for line in texts.CREATE_DONE:
        say(line)


def get(store: ProtocolStore, options: argparse.Namespace) -> None:
    record = _active(store, options.lid)
    for line in texts.get_head(record, "Matched" if record["state"] == "active" else "Closed", _left(record)):
        say(line)
    if record["state"] != "active":
        return
    alive = store.runtime_alive(record["lid"])
    if not alive and record["mode"] == "fizz":
        say(NO_RESPONSE_FROM_HOST)  # the node that ran it is gone (its owner stopped it)
        return
    status = store.status(record["lid"]) if alive else {}
    say()
    say("Services running:")
    for service in record["services"]:
        pods = [p for p in status.get("pods", [])
                if p["service"] == service["name"] and p["generation"] == record["generation"]]
        ready = sum(1 for p in pods if p["ready"])
        ports = [p for p in store.status(record["lid"]).get("ports", []) if p["service"] == service["name"]]
        for line in texts.get_service(service["name"], ports, ready, service["count"], "127.0.0.1",
                                      record["region"]):
            say(line)


def list_(store: ProtocolStore, options: argparse.Namespace) -> None:
    # sphnctl's -a keeps only the active leases; without it, every lease of the wallet.
    records = [r for r in store.all() if not options.active or r["state"] == "active"]
    rows = [(r["lid"], r["provider"], "Active" if r["state"] == "active" else "Closed", texts.iso(r["created_at"]))
            for r in records]
    for line in texts.list_table(rows):
        say(line)


def update(store: ProtocolStore, options: argparse.Namespace) -> None:
    record = _active(store, options.lid)
    if record["state"] != "active":
        raise CliError(f"deployment {options.lid} is closed")
    terms, text = _read_manifest(options.file)
    from .protocol_manifest import ManifestError, refuse_forbidden_changes

    try:
        refuse_forbidden_changes(record, terms)
    except ManifestError as error:
        raise CliError(f"cannot update lease {options.lid}: {error}") from None
    if not store.runtime_alive(options.lid):
        raise CliError(f"cannot update lease {options.lid}: no response from host")
    updated = {**record, **terms, "generation": record["generation"] + 1}
    before, after = texts.update_lines(updated, fake_transaction())
    for line in before:
        say(line)
    write_private_file(store.deployment_dir(options.lid) / "icl.yml", text)
    store.save(updated)
    signal_runtime(store, options.lid, signal.SIGHUP)
    _wait_for_runtime(store, options.lid, updated["generation"])
    for line in after:
        say(line)


def signal_runtime(store: ProtocolStore, lid: int, sig: int) -> None:
    pid = store.runtime_pid(lid)
    if pid:
        os.kill(pid, sig)


def close(store: ProtocolStore, options: argparse.Namespace) -> None:
    record = _active(store, options.lid)
    if record["state"] != "active":
        raise CliError(f"deployment {options.lid} is already closed")
    store.save({**record, "state": "closed", "closed_at": time.time()})
    stop_everything(store, options.lid)
    say(texts.close_line(fake_transaction()))


# ---------------------------------------------------------------- logs and events
def _lines(path, start: int = 0) -> tuple[list[str], int]:
    """Complete lines of a file from byte offset `start`, and the offset after them."""
    try:
        with open(path, "rb") as handle:
            handle.seek(start)
            data = handle.read()
    except FileNotFoundError:
        return [], start
    complete = data[: data.rfind(b"\n") + 1]
    return complete.decode("utf-8", "replace").splitlines(), start + len(complete)


def _follow(store: ProtocolStore, lid: int, path, offset: int) -> Iterator[str]:
    """New lines appended to `path`, until the deployment is closed and its runtime gone."""
    while True:
        lines, offset = _lines(path, offset)
        yield from lines
        if not lines:
            record = store.load(lid) or {}
            if record.get("state") != "active" and not store.runtime_alive(lid):
                return
            time.sleep(FOLLOW_POLL_SECONDS)


def logs(store: ProtocolStore, options: argparse.Namespace) -> None:
    record = _active(store, options.lid)
    directory = store.deployment_dir(options.lid)
    if options.startup:
        if record["mode"] != "fizz":
            raise CliError("--startup is only available for fizz mode deployments")
        lines, _ = _lines(directory / "startup.log")
        for line in [*texts.startup_header(options.lid), *_tail(lines, options.tail)]:
            say(line)
        return
    if options.follow and record["mode"] == "fizz":
        raise CliError("--follow is not supported for fizz mode deployments: poll with --tail instead")
    current = {p["name"] for p in store.status(options.lid).get("pods", [])}

    def wanted(line: str, pods: set[str] | None) -> bool:
        parsed = parse_log_line(line)
        return (options.service in (None, parsed.service)) and (pods is None or parsed.pod in pods)

    def show(line: str) -> None:
        if options.output == "json":
            parsed = parse_log_line(line)
            say(json.dumps({"lease_id": lease_id(record), "name": parsed.pod, "service": parsed.service,
                            "message": parsed.text}))
        else:
            say(line)

    lines, offset = _lines(directory / "logs.log")
    lines = [line for line in lines if wanted(line, current)]
    if options.output == "text":
        for line in texts.logs_header(options.lid):
            say(line)
    for line in _tail(lines, options.tail):
        show(line)
    if options.follow:
        for line in _follow(store, options.lid, directory / "logs.log", offset):
            if wanted(line, None):  # new pods (an update) appear while following
                show(line)


def events(store: ProtocolStore, options: argparse.Namespace) -> None:
    _active(store, options.lid)
    path = store.deployment_dir(options.lid) / "events.jsonl"

    def show(line: str) -> None:
        try:
            obj = json.loads(line)
        except ValueError:
            return
        if options.service is None or event_from_json(obj).service == options.service:
            say(json.dumps(obj, indent=2))

    lines, offset = _lines(path)
    for line in texts.events_header(options.lid):
        say(line)
    if options.service:
        lines = [line for line in lines if event_from_json(json.loads(line)).service == options.service]
    for line in _tail(lines, options.tail):
        show(line)
    if options.follow:
        for line in _follow(store, options.lid, path, offset):
            show(line)


COMMANDS: dict[str, Callable[[ProtocolStore, argparse.Namespace], None]] = {
    "create": create, "get": get, "list": list_, "update": update, "close": close,
    "logs": logs, "events": events,
}
