"""Checking an ICL document: ``check(doc, mode=None) -> CheckResult``.

Three families of rules, one module each: ``document`` (cross-references and closed vocabularies,
the same in both modes), ``mode`` (the Provider/Fizz table of spheron-protocol.md) and ``safety``
(warnings: unpinned images, interactive apps on public ports).  ``mode`` overrides the document's
own mode, so a user can see what would break if they switched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import Finding, IclError
from ..icl import IclDocument, load_icl
from ..icl.source import DocPath
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


class RuleContext:
    """What a rule sees: the document, the mode it is checked for, and where to report."""

    def __init__(self, doc: IclDocument, mode: str):
        self.doc = doc
        self.mode = mode
        self.errors: list[Finding] = []
        self.warnings: list[Finding] = []

    @property
    def fizz(self) -> bool:
        return self.mode == "fizz"

    @property
    def provider(self) -> bool:
        return self.mode == "provider"

    def finding(self, path: DocPath, value: Any, rule: str, fix: str, code: str, severity: str = "error",
                noun: str = "") -> Finding:
        return Finding(self.doc.path_text(path), self.doc.line_of(path), value, rule, fix, code, severity, noun)

    def error(self, path: DocPath, value: Any, rule: str, fix: str, code: str, noun: str = "") -> None:
        self.errors.append(self.finding(path, value, rule, fix, code, "error", noun))

    def warn(self, path: DocPath, value: Any, rule: str, fix: str, code: str, noun: str = "") -> None:
        self.warnings.append(self.finding(path, value, rule, fix, code, "warning", noun))

    def other_mode_fix(self, action: str) -> str:
        """A fix that names both ways out: change the document, or switch mode."""
        other = "provider" if self.fizz else "fizz"
        return f"{action}, or use {other} mode"

    def mode_name(self) -> str:
        return self.mode.capitalize() + " mode"


Rule = Callable[[RuleContext], None]


def _all_rules() -> list[Rule]:
    # Imported here so each rule module can import RuleContext from this one.
    from . import document, mode, safety

    return [*document.RULES, *mode.RULES, *safety.RULES]


RULES: list[Rule] = []


def check(doc: IclDocument, mode: str | None = None) -> CheckResult:
    """Every rule, for ``mode`` (default: the document's own).  Load warnings (unknown keys) are
    included, so one call gives the whole picture."""
    if mode is not None and mode not in ("provider", "fizz"):
        options = suggest(mode, ["provider", "fizz"])
        hint = f" (did you mean {options[0]}?)" if options else ""
        raise ValueError(f"mode must be provider or fizz, not {mode!r}{hint}")
    effective = mode or doc.mode
    context = RuleContext(doc, effective)
    if not RULES:
        RULES.extend(_all_rules())
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
