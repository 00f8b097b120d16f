"""Checking an ICL document: ``check(doc, mode=None) -> CheckResult``.

Three families of rules, one module each: ``document`` (cross-references and closed vocabularies,
the same in both modes), ``mode`` (the Provider/Fizz table of docs/spheron-protocol.md) and ``safety``
(warnings: unpinned images, interactive apps on public ports).  ``mode`` overrides the document's
own mode, so a user can see what would break if they switched.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import Finding, IclError
from ..icl import IclDocument, load_icl
from . import document, regions, safety
from . import mode as mode_rules
from .context import Rule, RuleContext
from .names import suggest

__all__ = ["CheckResult", "RuleContext", "check", "check_text", "RULES"]


@dataclass
class CheckResult:
    errors: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    mode: str | None = None
    document_mode: str | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def mode_overridden(self) -> bool:
        return self.mode is not None and self.document_mode is not None and self.mode != self.document_mode

    def codes(self) -> set[str]:
        return {finding.code for finding in self.errors + self.warnings}

    def to_text(self) -> str:
        lines = [f"error: {finding.message}" for finding in self.errors]
        lines += [f"warning: {finding.message}" for finding in self.warnings]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text() or f"ICL document valid in {self.mode} mode."


RULES: list[Rule] = [*document.RULES, *regions.RULES, *mode_rules.RULES, *safety.RULES]


def check(doc: IclDocument, mode: str | None = None) -> CheckResult:
    """Every rule, for ``mode`` (default: the document's own).  Load warnings (unknown keys) are
    included, so one call gives the whole picture."""
    if mode is not None and mode not in ("provider", "fizz"):
        options = suggest(mode, ["provider", "fizz"])
        hint = f" (did you mean {options[0]}?)" if options else ""
        raise ValueError(f"mode must be provider or fizz, not {mode!r}{hint}")
    effective = mode or doc.mode
    context = RuleContext(doc, effective)
    for rule in RULES:
        rule(context)
    warnings = doc.load_warnings + context.warnings
    return CheckResult(_sorted(context.errors), _sorted(warnings), effective, doc.mode)


def check_text(text: str, mode: str | None = None) -> tuple[IclDocument | None, CheckResult]:
    """Load and check in one step; a document that cannot be loaded gives its load errors as the
    result's errors (and ``None`` for the document) instead of raising."""
    try:
        doc = load_icl(text)
    except IclError as error:
        return None, CheckResult(list(error.findings), [], mode, None)
    return doc, check(doc, mode)


def _sorted(findings: list[Finding]) -> list[Finding]:
    # Document order reads best next to the YAML; findings without a line go last.
    return sorted(findings, key=lambda finding: finding.line if finding.line is not None else 10**9)
