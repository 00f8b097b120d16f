"""What a rule sees (the document and the mode it is checked for) and where it reports."""

from __future__ import annotations

from typing import Any, Literal
from collections.abc import Callable

from ..errors import Finding
from ..icl import IclDocument
from ..icl.source import DocPath


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

    def finding(self, path: DocPath, value: Any, rule: str, fix: str, code: str,
                severity: Literal["error", "warning"] = "error", noun: str = "") -> Finding:
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
