"""AST of the expression language: frozen dataclasses that declare their arguments.

Positions (``start``/``end`` offsets into the source) do not take part in equality, so a tree parsed
from rendered text compares equal to the original.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Node:
    start: int = field(default=0, compare=False, kw_only=True, repr=False)
    end: int = field(default=0, compare=False, kw_only=True, repr=False)

    def children(self) -> tuple[Node, ...]:
        return ()


@dataclass(frozen=True)
class String(Node):
    value: str


@dataclass(frozen=True)
class Number(Node):
    value: int
    hex: bool = field(default=False, compare=False)


@dataclass(frozen=True)
class Boolean(Node):
    value: bool


@dataclass(frozen=True)
class Constant(Node):
    """``NULL``, ``AuthoritativeNull``, ``IgnoreThisFlow`` or ``CRLF``."""

    name: str


@dataclass(frozen=True)
class EnumWord(Node):
    """A bare enum word such as ``vbTextCompare`` or ``UTF8``."""

    name: str


@dataclass(frozen=True)
class Attribute(Node):
    name: str


@dataclass(frozen=True)
class Parameter(Node):
    name: str


@dataclass(frozen=True)
class Variable(Node):
    name: str


@dataclass(frozen=True)
class Negate(Node):
    operand: Node

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


@dataclass(frozen=True)
class BinaryOp(Node):
    op: str
    left: Node
    right: Node

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


@dataclass(frozen=True)
class Call(Node):
    name: str
    args: tuple[Node, ...]

    def children(self) -> tuple[Node, ...]:
        return self.args


CONSTANTS = frozenset({"NULL", "AuthoritativeNull", "IgnoreThisFlow", "CRLF"})
ENUM_WORDS = frozenset(
    {"vbTextCompare", "vbBinaryCompare", "CaseSensitive", "CaseInsensitive", "UTF8", "ASCII", "Unicode"}
)
ARITHMETIC = ("+", "-", "*", "&")
COMPARISON = ("=", "<>", "<", "<=", ">", ">=")
LOGICAL = ("&&", "||")
PRECEDENCE = {**dict.fromkeys(LOGICAL, 1), **dict.fromkeys(COMPARISON, 2), **dict.fromkeys(ARITHMETIC, 3)}


def walk(node: Node) -> list[Node]:
    """Every node of the tree, parents before children."""
    out = [node]
    for child in node.children():
        out.extend(walk(child))
    return out
