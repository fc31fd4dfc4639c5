"""YAML with positions: load a document and map any key path back to its line and column.

Configuration and rule files report errors as ``file:line:column: key: message``; pydantic and our own
validators speak in key paths (``connectors.1.password``), so this module keeps the composed node tree
beside the plain data and resolves a path to the closest node that exists. Pure: takes text, not files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from transforms.errors import InputError


@dataclass(frozen=True)
class Position:
    line: int  # 1-based
    column: int  # 1-based


@dataclass(frozen=True)
class SourceIssue:
    """One problem in a YAML source file, at a key path."""

    path: tuple[str | int, ...]
    message: str
    position: Position

    def render(self, filename: str) -> str:
        key = ".".join(str(p) for p in self.path) or "(document)"
        return f"{filename}:{self.position.line}:{self.position.column}: {key}: {self.message}"


class YamlSourceError(InputError):
    """A YAML file that cannot be used; lists every problem found with file, line, column and key."""

    def __init__(self, filename: str, issues: Sequence[SourceIssue]) -> None:
        self.filename = filename
        self.issues = list(issues)
        lines = [issue.render(filename) for issue in self.issues]
        count = len(lines)
        head = f"{filename}: {count} error{'s' if count != 1 else ''}"
        super().__init__("\n".join([head, *("  " + line for line in lines)]))


@dataclass(frozen=True)
class YamlSource:
    """A parsed YAML document: plain data plus the node tree for positions."""

    filename: str
    data: Any
    root: yaml.Node | None

    def position(self, path: Sequence[str | int]) -> Position:
        """Position of the value at ``path``, or of the deepest existing ancestor (a missing key)."""
        node = self.root
        if node is None:
            return Position(1, 1)
        best = node
        for part in path:
            child = _child(node, part)
            if child is None:
                break
            node = best = child
        mark = best.start_mark
        return Position(mark.line + 1, mark.column + 1)

    def key_position(self, path: Sequence[str | int]) -> Position:
        """Position of the *key* at the end of ``path`` (where a user looks for a misspelt key)."""
        if not path:
            return self.position(path)
        parent = self.root
        for part in path[:-1]:
            parent = _child(parent, part) if parent is not None else None
        if isinstance(parent, yaml.MappingNode):
            for key_node, _ in parent.value:
                if key_node.value == path[-1]:
                    return Position(key_node.start_mark.line + 1, key_node.start_mark.column + 1)
        return self.position(path)

    def issue(self, path: Sequence[str | int], message: str, *, at_key: bool = False) -> SourceIssue:
        pos = self.key_position(path) if at_key else self.position(path)
        return SourceIssue(tuple(path), message, pos)


def _child(node: yaml.Node | None, part: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if key_node.value == part:
                return value_node  # type: ignore[no-any-return]
    elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        return node.value[part]  # type: ignore[no-any-return]
    return None


def load_yaml(text: str, filename: str) -> YamlSource:
    """Parse YAML text; a syntax error becomes a :class:`YamlSourceError` with its position."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = Position(mark.line + 1, mark.column + 1) if mark else Position(1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        raise YamlSourceError(filename, [SourceIssue((), f"YAML syntax: {problem}", pos)]) from None
    except yaml.YAMLError as exc:
        raise YamlSourceError(filename, [SourceIssue((), f"YAML: {exc}", Position(1, 1))]) from None
    return YamlSource(filename, data, root)
