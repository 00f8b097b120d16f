"""Where things are in the YAML text: a map from document paths to line numbers.

PyYAML's ``safe_load`` forgets positions, so we also ``compose`` the text (the node graph keeps
``start_mark``) and record the line of every key and list item.  Models normalise two shorthand
forms — ``tier`` for ``tiers`` and a single storage mapping for a one-item list — so a normalised
path is translated back to the form the user wrote before it is shown or looked up.
"""

from __future__ import annotations

import yaml

PathPart = str | int
DocPath = tuple[PathPart, ...]

# Normalised key -> the spellings a document may use instead.
KEY_SPELLINGS: dict[str, tuple[str, ...]] = {"tiers": ("tier",)}


class SourceMap:
    """Line numbers (1-based) of every key and list item, by path."""

    def __init__(self, lines: dict[DocPath, int], kinds: dict[DocPath, str], duplicates: list[DocPath]):
        self._lines = lines
        self._kinds = kinds
        self.duplicate_keys = duplicates

    @classmethod
    def empty(cls) -> SourceMap:
        return cls({}, {}, [])

    def written(self, path: DocPath) -> DocPath:
        """The path as the document spells it (``tier`` stays ``tier``; ``storage[0]`` of a single
        storage mapping becomes ``storage``)."""
        current: DocPath = ()
        for part in path:
            candidate = current + (part,)
            if candidate not in self._lines:
                if isinstance(part, int) and part == 0 and self._kinds.get(current) == "mapping":
                    continue  # a single mapping where the model holds a one-item list
                for spelling in KEY_SPELLINGS.get(str(part), ()):
                    if current + (spelling,) in self._lines:
                        candidate = current + (spelling,)
                        break
            current = candidate
        return current

    def line(self, path: DocPath) -> int | None:
        """The line of the path, or of its nearest written ancestor (a missing key's parent)."""
        written = self.written(path)
        for end in range(len(written), -1, -1):
            line = self._lines.get(written[:end])
            if line is not None:
                return line
        return None

    def format(self, path: DocPath) -> str:
        return format_path(self.written(path))

    def __contains__(self, path: DocPath) -> bool:
        return self.written(path) in self._lines


def format_path(path: DocPath) -> str:
    """``("services", "web", "expose", 0, "as")`` -> ``services.web.expose[0].as``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text


# An ICL document has a few hundred nodes.  YAML aliases can make a short text expand into
# billions of paths ("billion laughs"), which validation would then walk too: refuse early.
MAX_EXPANDED_NODES = 100_000


class DocumentTooLarge(ValueError):
    """The document expands (through aliases) into more nodes than any ICL document needs."""


def compose_source_map(text: str) -> SourceMap:
    """Build the map from YAML text; raises ``yaml.YAMLError`` on malformed YAML and
    ``DocumentTooLarge`` when aliases expand it beyond reason."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    lines: dict[DocPath, int] = {}
    kinds: dict[DocPath, str] = {}
    duplicates: list[DocPath] = []
    if root is not None:
        lines[()] = root.start_mark.line + 1
        _walk(root, (), lines, kinds, duplicates, set())
    return SourceMap(lines, kinds, duplicates)


def _walk(node: yaml.Node, path: DocPath, lines: dict, kinds: dict, duplicates: list, ancestors: set[int]) -> None:
    if len(lines) > MAX_EXPANDED_NODES:
        raise DocumentTooLarge(f"the document expands to more than {MAX_EXPANDED_NODES} entries")
    if id(node) in ancestors:
        return  # a recursive alias (&a [*a]); the models refuse it as a wrong type
    ancestors = ancestors | {id(node)} if isinstance(node, yaml.CollectionNode) else ancestors
    if isinstance(node, yaml.MappingNode):
        kinds[path] = "mapping"
        for key_node, value_node in node.value:
            key = _key_of(key_node)
            child = path + (key,)
            if child in lines:
                duplicates.append(child)  # safe_load silently keeps the last; we say so
            # The key's line, not the value's: a nested mapping's value starts on the next line.
            lines[child] = key_node.start_mark.line + 1
            _walk(value_node, child, lines, kinds, duplicates, ancestors)
    elif isinstance(node, yaml.SequenceNode):
        kinds[path] = "sequence"
        for index, item in enumerate(node.value):
            child = path + (index,)
            lines[child] = item.start_mark.line + 1
            _walk(item, child, lines, kinds, duplicates, ancestors)
    else:
        kinds[path] = "scalar"


def _key_of(key_node: yaml.Node) -> str:
    # Keys are names in ICL; the path form uses their text even when YAML would read `80:` as int.
    return key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.start_mark)
