"""What an ICL document asks for, at a glance: ``summarize(doc, mode=None) -> IclSummary``.

Services and images, ports (container port -> public port, who can reach it), resources per
compute profile, GPUs in all, the price ceiling per hour per placement, duration, tiers and mode.
Two renderers, plain text and HTML; the notebook layer decides which to display (no IPython here).
"""

from __future__ import annotations

import html
from collections import defaultdict
from dataclasses import dataclass

from .errors import Finding
from .icl import IclDocument
from .quantities import Duration, format_bytes
from .rules import CheckResult, check_text
from .rules.mode import FIZZ_MAX_CPU_UNITS, FIZZ_MAX_MEMORY, FIZZ_MAX_STORAGE


@dataclass
class PortSummary:
    service: str
    container: str  # "8888" or "8443-8445"
    public: str  # "8888", "8443-8445" or "assigned by the network"
    proto: str
    exposure: str  # "global", "service api", "global, service api" or "not exposed"


@dataclass
class ServiceSummary:
    name: str
    image: str
    containers: int
    ports: list[PortSummary]


@dataclass
class ComputeSummary:
    name: str
    cpu: str
    memory: str
    storage: str
    gpu_units: int
    gpu_models: list[str]

    @property
    def gpu_text(self) -> str:
        if not self.gpu_units:
            return "none"
        return f"{self.gpu_units} × {' | '.join(self.gpu_models) or 'any NVIDIA'}"


@dataclass
class PriceLine:
    service: str
    profile: str
    token: str
    amount: float
    count: int

    @property
    def per_hour(self) -> float:
        return self.amount * self.count


@dataclass
class PlacementSummary:
    name: str
    regions: list[str]
    lines: list[PriceLine]

    def per_hour(self) -> dict[str, float]:
        totals: dict[str, float] = defaultdict(float)
        for line in self.lines:
            totals[line.token] += line.per_hour
        return dict(totals)


@dataclass
class IclSummary:
    mode: str
    document_mode: str
    duration: Duration
    tiers: list[str]
    services: list[ServiceSummary]
    compute: list[ComputeSummary]
    placements: list[PlacementSummary]
    gpus_total: int

    def price_per_hour(self) -> dict[str, float]:
        """The most the whole deployment can cost per hour, by token."""
        totals: dict[str, float] = defaultdict(float)
        for placement in self.placements:
            for token, amount in placement.per_hour().items():
                totals[token] += amount
        return dict(totals)

    def price_for_duration(self) -> dict[str, float]:
        return {token: amount * self.duration.hours for token, amount in self.price_per_hour().items()}

    def to_text(self) -> str:
        return render_text(self)

    def to_html(self) -> str:
        return render_html(self)


def summarize(doc: IclDocument, mode: str | None = None) -> IclSummary:
    """Summarise ``doc`` as it would be deployed in ``mode`` (default: the document's own)."""
    counts: dict[str, int] = defaultdict(int)
    for service, _, entry in doc.deployments():
        counts[service] += entry.count
    services = [ServiceSummary(name, service.image, counts.get(name, 0), _ports(name, service))
                for name, service in doc.services.items()]
    compute = [_compute(name, profile.resources) for name, profile in doc.profiles.compute.items()]
    placements: dict[str, PlacementSummary] = {}
    gpus_total = 0
    for service, placement_name, entry in doc.deployments():
        placement = doc.profiles.placement.get(placement_name)
        profile = doc.profiles.compute.get(entry.profile)
        gpus_total += (profile.resources.gpu_units if profile else 0) * entry.count
        regions = placement.attributes.regions if placement and placement.attributes else []
        summary = placements.setdefault(placement_name, PlacementSummary(placement_name, regions, []))
        price = placement.pricing.get(entry.profile) if placement else None
        if price is not None:
            summary.lines.append(PriceLine(service, entry.profile, price.token, price.amount, entry.count))
    return IclSummary(mode or doc.mode, doc.mode, doc.profiles.duration, list(doc.profiles.tiers), services, compute,
                      list(placements.values()), gpus_total)


def _ports(service_name: str, service) -> list[PortSummary]:
    ports = []
    for expose in service.expose:
        container = str(expose.port_range) if expose.port_range else str(expose.port)
        if expose.use_public_port:
            public = "assigned by the network"
        elif expose.port_range:
            public = str(expose.port_range_as or expose.port_range)
        else:
            public = str(expose.public_port)
        reach = (["global"] if expose.is_global else []) + [f"service {name}" for name in expose.target_services]
        ports.append(PortSummary(service_name, container, public, (expose.proto or "tcp").lower(),
                                 ", ".join(reach) or "not exposed"))
    return ports


def _compute(name: str, resources) -> ComputeSummary:
    storage = " + ".join(_volume_text(volume) for volume in resources.storage)
    if len(resources.storage) > 1:
        storage += f" = {format_bytes(resources.storage_total)}"
    return ComputeSummary(name, resources.cpu.units.text, resources.memory.size.text, storage, resources.gpu_units,
                          [_gpu_text(spec) for spec in (resources.gpu.models if resources.gpu else [])])


def _volume_text(volume) -> str:
    kind = " (SHM)" if volume.is_shm else " (persistent)" if volume.is_persistent else ""
    label = f"{volume.name} " if volume.name else ""
    return f"{label}{volume.size.text}{kind}"


def _gpu_text(spec) -> str:
    extras = [str(part) for part in (spec.ram and spec.ram.text, spec.interface) if part]
    return (spec.model or "any") + (f" ({', '.join(extras)})" if extras else "")


def _amount(value: float) -> str:
    return f"{value:g}"


def _money(totals: dict[str, float]) -> str:
    return ", ".join(f"{_amount(amount)} {token}" for token, amount in totals.items()) or "no price"


def _sections(summary: IclSummary) -> list[tuple[str, list[str], list[list[str]]]]:
    """The tables both renderers draw: (title, header, rows)."""
    fizz = summary.mode == "fizz"
    limits = (f" (fizz limits: cpu {FIZZ_MAX_CPU_UNITS}, memory {FIZZ_MAX_MEMORY.text}, storage {FIZZ_MAX_STORAGE.text}, 1 GPU)"
              if fizz else "")
    return [
        ("Services", ["service", "image", "containers"],
         [[service.name, service.image, str(service.containers)] for service in summary.services]),
        ("Ports", ["service", "container port", "public port", "proto", "reachable from"],
         [[port.service, port.container, port.public, port.proto, port.exposure]
          for service in summary.services for port in service.ports]),
        ("Resources per compute profile" + limits, ["profile", "cpu", "memory", "storage", "GPUs"],
         [[item.name, item.cpu, item.memory, item.storage, item.gpu_text] for item in summary.compute]),
        ("Price ceiling per hour", ["placement", "region", "service × count", "max per hour"],
         [[placement.name, ";".join(placement.regions) or "any",
           ", ".join(f"{line.service} ({line.profile}: {_amount(line.amount)} {line.token}) × {line.count}" for line in placement.lines),
           _money(placement.per_hour())] for placement in summary.placements]),
    ]


def _headline(summary: IclSummary) -> list[str]:
    mode = summary.mode + (f" (the document says {summary.document_mode})" if summary.mode != summary.document_mode else "")
    return [
        f"Mode: {mode}",
        f"Duration: {summary.duration.text}",
        f"Tiers: {', '.join(summary.tiers) or 'any'}",
        f"GPUs in all: {summary.gpus_total}",
        f"Price ceiling: {_money(summary.price_per_hour())} per hour, "
        f"{_money(summary.price_for_duration())} for {summary.duration.text}",
    ]


def render_text(summary: IclSummary) -> str:
    """A plain-text report: the headline, then one aligned table per section."""
    lines = _headline(summary)
    for title, header, rows in _sections(summary):
        lines += ["", title + ":"]
        lines += _text_table(header, rows) if rows else ["  (none)"]
    return "\n".join(lines)


def _text_table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]
    def line(cells: list[str]) -> str:
        return "  " + "  ".join(cell.ljust(width) for cell, width in zip(cells, widths)).rstrip()
    return [line(header), line(["-" * width for width in widths]), *(line(row) for row in rows)]


def render_html(summary: IclSummary) -> str:
    """The same report as HTML tables; every value is escaped (images and names are user text)."""
    escape = html.escape
    parts = ['<div class="spheron-icl-summary">', "<ul>"]
    parts += [f"<li>{escape(item)}</li>" for item in _headline(summary)]
    parts.append("</ul>")
    for title, header, rows in _sections(summary):
        parts.append(f"<h4>{escape(title)}</h4>")
        if not rows:
            parts.append("<p>(none)</p>")
            continue
        parts.append("<table><thead><tr>" + "".join(f"<th>{escape(cell)}</th>" for cell in header) + "</tr></thead><tbody>")
        parts += ["<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows]
        parts.append("</tbody></table>")
    parts.append("</div>")
    return "\n".join(parts)


def render_findings_text(findings: list[Finding]) -> str:
    return "\n".join(f"{finding.severity}: {finding.message}" for finding in findings)


def render_findings_html(findings: list[Finding]) -> str:
    """Errors and warnings as an HTML list, errors first, each with its line."""
    if not findings:
        return ""
    items = [f'<li class="spheron-{finding.severity}"><b>{finding.severity}</b>: {html.escape(finding.message)}</li>'
             for finding in sorted(findings, key=lambda item: item.severity != "error")]
    return '<ul class="spheron-icl-findings">' + "".join(items) + "</ul>"


@dataclass
class IclReport:
    """Everything ``%%spheron icl --check`` shows: the verdict, the findings and the summary."""

    document: IclDocument | None
    result: CheckResult
    summary: IclSummary | None

    @property
    def ok(self) -> bool:
        return self.result.ok

    @property
    def verdict(self) -> str:
        mode = self.result.mode or "its own"
        if self.result.mode_overridden:
            mode += f" mode (the document says {self.result.document_mode})"
        else:
            mode += " mode"
        errors, warnings = len(self.result.errors), len(self.result.warnings)
        if self.document is None:
            return f"ICL document could not be read: {errors} error{'s' * (errors != 1)}."
        counts = f"{warnings} warning{'s' * (warnings != 1)}"
        if errors:
            return f"ICL document refused in {mode}: {errors} error{'s' * (errors != 1)}, {counts}."
        return f"ICL document valid in {mode}" + (f", {counts}." if warnings else ".")

    def to_text(self) -> str:
        parts = [self.verdict]
        findings = render_findings_text(self.result.errors + self.result.warnings)
        if findings:
            parts.append(findings)
        if self.summary is not None:
            parts.append(render_text(self.summary))
        return "\n\n".join(parts)

    def to_html(self) -> str:
        parts = [f"<p><b>{html.escape(self.verdict)}</b></p>",
                 render_findings_html(self.result.errors + self.result.warnings)]
        if self.summary is not None:
            parts.append(render_html(self.summary))
        return "\n".join(part for part in parts if part)


def check_report(text: str, mode: str | None = None) -> IclReport:
    """Load, check and summarise ICL text in one call; never raises for a bad document (its
    problems are the report's errors).  A bad ``mode`` raises ValueError, as ``check`` does."""
    document, result = check_text(text, mode)
    summary = summarize(document, mode) if document is not None else None
    return IclReport(document, result, summary)
