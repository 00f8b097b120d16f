"""ICL documents: ``load_icl(text) -> IclDocument``.

Loading checks YAML syntax, the document's shape and types, and parses quantities; every problem
becomes a Finding with the path and the line, raised together as one ``IclError``.  Unknown and
duplicate keys do not stop loading: they become ``doc.load_warnings``.  Mode rules and
cross-references are ``protocol.rules.check``'s job.
"""

from __future__ import annotations

import difflib
from typing import Any
from collections.abc import Iterator, Mapping

import yaml
from pydantic import BaseModel, ValidationError

from ..errors import Described, Finding, IclError, IclValueError
from .models import (
    MODES,
    Arm64Model,
    ComputeProfile,
    Credentials,
    CpuSpec,
    DeploymentEntry,
    Expose,
    ExposeTarget,
    GpuModelSpec,
    GpuSpec,
    IclDocument,
    MemorySpec,
    Placement,
    PlacementAttributes,
    Pricing,
    Profiles,
    Resources,
    Service,
    StorageMount,
    StorageVolume,
)
from .source import DocPath, DocumentTooLarge, SourceMap, compose_source_map, format_path

__all__ = [
    "MODES", "Arm64Model", "ComputeProfile", "Credentials", "CpuSpec", "DeploymentEntry", "DocPath",
    "Expose", "ExposeTarget", "GpuModelSpec", "GpuSpec", "IclDocument", "IclError", "MemorySpec",
    "Placement", "PlacementAttributes", "Pricing", "Profiles", "Resources", "Service", "SourceMap",
    "StorageMount", "StorageVolume", "format_path", "load_icl", "load_icl_file",
]

# pydantic error type -> (rule, fix) in the words of an ICL author.
_TYPE_MESSAGES: dict[str, tuple[str, str]] = {
    "model_type": ("expected a mapping of keys", "indent its keys under it, one `key: value` per line"),
    "model_attributes_type": ("expected a mapping of keys", "indent its keys under it, one `key: value` per line"),
    "dict_type": ("expected a mapping of names", "indent `name:` entries under it"),
    "list_type": ("expected a list", "write each item on its own line starting with `- `"),
    "string_type": ("expected text", "write a string; quote it if YAML reads it as something else"),
    "int_type": ("expected a whole number", "write a number without quotes or units"),
    "int_parsing": ("expected a whole number", "write a number without quotes or units"),
    "int_from_float": ("expected a whole number", "drop the fraction"),
    "float_type": ("expected a number", "write a number, like 10"),
    "float_parsing": ("expected a number", "write a number, like 10"),
    "bool_type": ("expected true or false", "write true or false"),
    "bool_parsing": ("expected true or false", "write true or false"),
}


def load_icl(text: str) -> IclDocument:
    """Parse and shape-check an ICL document; raises ``IclError`` with the path and line."""
    try:
        source = compose_source_map(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise IclError([_yaml_finding(error)]) from None
    except DocumentTooLarge as error:
        raise IclError([Finding("", None, None, f"too large: {error}", "write the document without deeply nested aliases",
                                "icl.too-large", show_value=False)]) from None
    if not isinstance(data, dict):
        raise IclError([Finding("", 1, type(data).__name__ if data is not None else None,
                                "an ICL document is a YAML mapping with version, services, profiles and deployment",
                                'start with `version: "1.0"` and the sections services:, profiles:, deployment:',
                                "icl.shape")])
    try:
        document = IclDocument.model_validate(data)
    except ValidationError as error:
        raise IclError([_validation_finding(item, source) for item in error.errors()]) from None
    document._source = source
    document._load_warnings = [*_duplicate_key_findings(source), *_unknown_key_findings(document, source)]
    return document


def load_icl_file(path: str) -> IclDocument:
    with open(path, encoding="utf-8") as handle:
        return load_icl(handle.read())


def _yaml_finding(error: yaml.YAMLError) -> Finding:
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    context = getattr(error, "context", None)
    rule = f"malformed YAML: {problem}" + (f" ({context})" if context else "")
    return Finding("", line, None, rule, "check the indentation and the `key: value` syntax on that line and the one above",
                   "icl.yaml", show_value=False)


def _loc_to_path(loc: tuple[Any, ...], source: SourceMap) -> DocPath:
    # pydantic reports a mapping key the way YAML typed it (80 as int); paths name keys as text,
    # and only list positions stay ints.
    path: DocPath = ()
    for part in loc:
        if isinstance(part, int) and (path + (str(part),)) in source:
            part = str(part)
        path += (part,)
    return path


def _validation_finding(item: Mapping[str, Any], source: SourceMap) -> Finding:
    path = _loc_to_path(tuple(item["loc"]), source)
    kind = item["type"]
    value = item.get("input")
    shown = value if isinstance(value, (str, int, float, bool)) else _kind_of(value)
    error = (item.get("ctx") or {}).get("error")
    if kind == "missing":
        key = str(path[-1]) if path else "?"
        return Finding(source.format(path), source.line(path), None, f"`{key}` is required",
                       f"add `{key}:` here", "icl.required")
    if isinstance(error, IclValueError):
        return Finding(source.format(path), source.line(path), shown, error.rule, error.fix, error.code)
    rule, fix = _TYPE_MESSAGES.get(kind, (item["msg"], "see the ICL reference (docs/spheron-protocol.md, docs.spheron.com/rent-gpu/icl)"))
    return Finding(source.format(path), source.line(path), shown, rule, fix, f"icl.{kind}")


def _kind_of(value: Any) -> Described | None:
    # Show what was found instead of a whole nested structure: "a list", "a mapping".
    if value is None:
        return None
    if isinstance(value, dict):
        return Described("a mapping")
    return Described("a list" if isinstance(value, list) else f"a {type(value).__name__}")


def _duplicate_key_findings(source: SourceMap) -> Iterator[Finding]:
    for path in source.duplicate_keys:
        yield Finding(format_path(path), source.line(path), str(path[-1]),
                      "key written twice; YAML keeps only the last one",
                      "merge the two entries into one", "icl.duplicate-key", "warning", noun="key")


def _unknown_key_findings(document: IclDocument, source: SourceMap) -> Iterator[Finding]:
    for path, known in _unknown_keys(document, ()):
        key = str(path[-1])
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        fix = f"did you mean `{close[0]}`? Otherwise remove it" if close else \
            f"remove it (known keys here: {', '.join(sorted(known))})"
        yield Finding(source.format(path), source.line(path), key, "unknown key, ignored", fix,
                      "icl.unknown-key", "warning", noun="key")


def _unknown_keys(value: Any, path: DocPath) -> Iterator[tuple[DocPath, list[str]]]:
    if isinstance(value, BaseModel):
        fields = type(value).model_fields
        known = [field.alias or name for name, field in fields.items()]
        if isinstance(value, Profiles):
            known.append("tier")
        for key in value.model_extra or {}:
            yield path + (key,), known
        for name, field in fields.items():
            yield from _unknown_keys(getattr(value, name), path + (field.alias or name,))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _unknown_keys(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _unknown_keys(item, path + (index,))
