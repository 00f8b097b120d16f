"""The text the emulated sphnctl prints: the documented text of each command.

docs/spheron-protocol.md ("sphnctl output as Spheron's docs print it") quotes each command's
output from Spheron's docs, and tests/data/sphnctl/ keeps those outputs verbatim. The emulated
sphnctl prints the same shapes, so the end-to-end tests exercise the same parser as the replayed
docs. Where the docs show no example (a closed lease's `get`, its state in `list`, remaining
time above an hour) the choice is ours and marked unverified in docs/spheron-protocol.md.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from collections.abc import Iterable

# `Services running:` lists each service by its bare name, then its fields indented under it.
SERVICE_INDENT = "  "
FIELD_INDENT = "    "


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def price(record: dict[str, Any]) -> str:
    """The docs print prices as bare numbers (`Agreed price per hour: 0.1232434`)."""
    return f"{record['price_amount']:g}"


def remaining(seconds: int) -> str:
    """`59min, 33sec`, as in the docs' `get`; hours (`1h, 59min, 33sec`) are our guess."""
    seconds = max(0, int(seconds))
    parts = [(seconds // 3600, "h"), (seconds % 3600 // 60, "min"), (seconds % 60, "sec")]
    return ", ".join(f"{n}{unit}" for n, unit in parts if n) or "0sec"


def create_steps(record: dict[str, Any], order_tx: str, balance: str) -> list[str]:
    """The lines of `deployment create` before the lease is known."""
    matching = "Fizz Node" if record["mode"] == "fizz" else "provider"
    return [
        "Validating ICL configuration.",
        "ICL validated.",
        f"Sending configuration for {matching} matching.",
        f"Duration of the deployment: {record['duration_text']}",
        "Checking token deposit balance",
        f"Deposit balance is sufficient: {balance} {record['token']}",
        f"Deployment order created: {order_tx}",
        "Waiting for Provider to bid on the deployment order...",
        "Bid found.",
        "Order matched successfully.",
    ]


def create_lease_lines(record: dict[str, Any]) -> list[str]:
    return [
        f"Deployment created using wallet {record['owner']}",
        f" Lid: {record['lid']}",
        f" Provider: {record['provider']}",
        f" Agreed price per hour: {price(record)}",
        "Sending manifest to Provider...",
    ]


CREATE_DONE = ["Deployment manifest sent, waiting for acknowledgment.", "Deployment is finished."]


def get_head(record: dict[str, Any], status: str, left: int) -> list[str]:
    return [
        f"Status of the deployment ID: {record['lid']}",
        "Deployment on-chain details:",
        f" Status: {status}",
        f" Provider: {record['provider']}",
        f" Price per hour: {price(record)}",
        f" Start time: {iso(record['created_at'])}",
        f" Remaining time: {remaining(left)}",
    ]


def get_service(name: str, ports: Iterable[dict[str, Any]], ready: int, count: int, host: str,
                region: str) -> list[str]:
    lines = [f"{SERVICE_INDENT}{name}", f"{FIELD_INDENT}URL: []", f"{FIELD_INDENT}Ports:"]
    lines += [f"{FIELD_INDENT}  - {host}:{p['host_port']} -> {p['port']} ({p['proto']})" for p in ports]
    lines += [f"{FIELD_INDENT}Replicas: {ready}/{count} available, {ready} ready",
              f"{FIELD_INDENT}Host URI: {host}", f"{FIELD_INDENT}Region: {region}", f"{FIELD_INDENT}IPs:"]
    return lines


def list_table(rows: Iterable[tuple[int, str, str, str]]) -> list[str]:
    """The docs' pipe table: every cell right-aligned and closed by `|`."""
    widths = (5, 44, 8, 22)

    def row(cells) -> str:
        return "".join(f"{str(cell):>{width}}|" for cell, width in zip(cells, widths))

    return [row(("ID", "Provider", "State", "StartTime")), *(row(cells) for cells in rows)]


def update_lines(record: dict[str, Any], update_tx: str) -> tuple[list[str], list[str]]:
    """`deployment update`'s lines before and after the provider accepts the new manifest."""
    before = [
        f"Checking ballance for wallet: {record['owner']}",  # sic: the docs' spelling
        "Validating SDL configuration.",
        "SDL validated.",
        "Sending update request...",
        f"Update request sent: {update_tx}",
        "Waiting for providers to accept on the update order...",
        "Update request accepted by the provider.",
        f"Deployment update using wallet {record['owner']}",
        f" lid: {record['lid']}",
        f" provider: {record['provider']}",
        f" agreed price: {price(record)}",
        "Sending the manifest for update\u2026",
    ]
    return before, ["Deployment manifest sent, waiting for acknowledgment.", "Update deployment is finished."]


def close_line(close_tx: str) -> str:
    return f"Close request sent to provider: {close_tx}"


def logs_header(lid: int) -> list[str]:
    return [f"Here is the logs for the Lease ID: {lid}", ""]


def startup_header(lid: int) -> list[str]:
    return [f"Startup logs for Lease ID: {lid}", ""]


# The docs' `events` output opens with the same header as `logs`.
events_header = logs_header
