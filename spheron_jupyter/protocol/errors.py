"""Findings and errors about ICL documents.

A Finding is one problem at one place: the dotted path as written in the document
(``services.web.expose[0].as``), its line, the value found, the rule broken (in words) and the fix.
Every message has the same shape, so a user learns to read them once:

    services.web.expose[0].as (line 12): port 443 — Fizz mode cannot use ports 80/443: use another port, or provider mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Severity = Literal["error", "warning"]


class Described(str):
    """A description of what was found ("a list") where the value itself is too big to show;
    shown as is, not quoted like a string value."""


@dataclass(frozen=True)
class Finding:
    path: str
    line: int | None
    value: Any
    rule: str
    fix: str
    code: str
    severity: Severity = "error"
    # How to name the value in the message: "port" -> "port 443", "{} GPUs" -> "2 GPUs"; empty
    # shows the value alone.
    noun: str = ""
    # False for problems that have no single value to show (malformed YAML).
    show_value: bool = True

    @property
    def value_text(self) -> str:
        if self.value is None:
            return "missing" if not self.noun else f"no {self.noun}"
        if isinstance(self.value, bool):
            shown = str(self.value).lower()  # as YAML writes it
        elif isinstance(self.value, Described):
            shown = str(self.value)
        elif isinstance(self.value, str):
            shown = repr(self.value)
        elif isinstance(self.value, float):
            shown = f"{self.value:g}"
        elif isinstance(self.value, (list, tuple, dict)):
            shown = ", ".join(str(item) for item in self.value) or "empty"
        else:
            shown = str(self.value)
        if "{}" in self.noun:  # "{} GPUs in all" reads better than "GPUs in all 2"
            return self.noun.format(shown)
        return f"{self.noun} {shown}" if self.noun else shown

    @property
    def location(self) -> str:
        if not self.path:
            return f"line {self.line}" if self.line else "the document"
        return f"{self.path} (line {self.line})" if self.line else self.path

    @property
    def message(self) -> str:
        # A fix may end in a question ("did you mean `rtx4090`?"); don't add a full stop to it.
        fix = self.fix if self.fix.endswith(("?", "!")) else self.fix.rstrip(".") + "."
        if not self.show_value:
            return f"{self.location}: {self.rule}: {fix}"
        return f"{self.location}: {self.value_text} — {self.rule}: {fix}"

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "line": self.line,
            "value": self.value if isinstance(self.value, (str, int, float, bool, type(None))) else str(self.value),
            "rule": self.rule,
            "fix": self.fix,
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
        }


class IclValueError(ValueError):
    """A value that cannot be what its key asks for; raised inside model validation.

    Carries the rule and the fix separately so the loader can build a Finding with the path and
    line that only it knows.
    """

    def __init__(self, rule: str, fix: str, code: str = "icl.value"):
        super().__init__(f"{rule}: {fix}")
        self.rule = rule
        self.fix = fix
        self.code = code


class IclError(ValueError):
    """The text is not an ICL document we can read: malformed YAML or a wrong shape or type.

    ``findings`` lists every problem found (all of them, not only the first), each with its path
    and line; ``path`` and ``line`` are those of the first, for one-line displays.
    """

    def __init__(self, findings: list[Finding]):
        if not findings:
            raise ValueError("IclError needs at least one finding")
        self.findings = list(findings)
        super().__init__("\n".join(finding.message for finding in self.findings))

    @property
    def path(self) -> str:
        return self.findings[0].path

    @property
    def line(self) -> int | None:
        return self.findings[0].line

    @property
    def first_message(self) -> str:
        more = len(self.findings) - 1
        return self.findings[0].message + (f" (and {more} more problem{'s' * (more > 1)})" if more else "")
