"""The sync-rule model: frozen dataclasses that a rule file loads into and the sync engine reads.

A rule is the declarative unit of Azure AD Connect sync (spec section 2.1): scope + join + attribute
flows + precedence, for one direction and one (source, target) object-type pair. Connectors are chosen
by a :class:`ConnectorSelector` so that one default rule applies to every AD connector, as the
out-of-box rules do; the engine binds a rule to each matching connector and breaks precedence ties by
connector order (spec 5.4: the first forest added wins).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property

from transforms.errors import InputError

CONSTANT_SCALAR = str | bool | int | float


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class LinkType(StrEnum):
    JOIN = "Join"
    PROVISION = "Provision"
    STICKY_JOIN = "StickyJoin"


class FlowType(StrEnum):
    DIRECT = "Direct"
    CONSTANT = "Constant"
    EXPRESSION = "Expression"


class MergeType(StrEnum):
    UPDATE = "Update"
    MERGE = "Merge"
    MERGE_CASE_INSENSITIVE = "MergeCaseInsensitive"


class ScopeOperator(StrEnum):
    EQUAL = "EQUAL"
    NOTEQUAL = "NOTEQUAL"
    LESSTHAN = "LESSTHAN"
    LESSTHAN_OR_EQUAL = "LESSTHAN_OR_EQUAL"
    GREATERTHAN = "GREATERTHAN"
    GREATERTHAN_OR_EQUAL = "GREATERTHAN_OR_EQUAL"
    CONTAINS = "CONTAINS"
    NOTCONTAINS = "NOTCONTAINS"
    STARTSWITH = "STARTSWITH"
    NOTSTARTSWITH = "NOTSTARTSWITH"
    ENDSWITH = "ENDSWITH"
    NOTENDSWITH = "NOTENDSWITH"
    ISNULL = "ISNULL"
    ISNOTNULL = "ISNOTNULL"
    ISIN = "ISIN"
    ISNOTIN = "ISNOTIN"
    ISBITSET = "ISBITSET"
    ISNOTBITSET = "ISNOTBITSET"
    ISMEMBEROF = "ISMEMBEROF"
    ISNOTMEMBEROF = "ISNOTMEMBEROF"


# Spellings seen in rule exports and docs that mean the same operator (spec 2.3).
OPERATOR_ALIASES: dict[str, ScopeOperator] = {
    "ISBITNOTSET": ScopeOperator.ISNOTBITSET,
    "NOTSTARTWITH": ScopeOperator.NOTSTARTSWITH,
}

# Operators that take no value.
VALUELESS_OPERATORS = frozenset({ScopeOperator.ISNULL, ScopeOperator.ISNOTNULL})

# Destination attribute of an outbound flow that names the target object's DN (used to provision
# and to reverse-join on DN, spec 2.4).
DN_DESTINATION = "dn"


@dataclass(frozen=True)
class Position:
    """Where something was written: file, 1-based line and column."""

    file: str = "<memory>"
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class ConnectorSelector:
    """Which connectors a rule applies to: explicit names, connector kinds (``ad``, ``aad``...), or all.

    ``names`` empty and ``kinds`` empty means every connector (YAML ``connector: "*"``).
    """

    names: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()

    def matches(self, name: str, kind: str | None) -> bool:
        if not self.names and not self.kinds:
            return True
        return name in self.names or (kind is not None and kind in self.kinds)


@dataclass(frozen=True)
class ScopeCondition:
    attribute: str
    operator: ScopeOperator
    value: str | None = None
    position: Position = Position()


@dataclass(frozen=True)
class ScopeGroup:
    """Conditions ANDed together; a rule's groups are ORed."""

    conditions: tuple[ScopeCondition, ...]


@dataclass(frozen=True)
class JoinCondition:
    """``source`` is the attribute of the rule's source object, ``target`` the attribute of the target."""

    source: str
    target: str
    case_sensitive: bool = True
    position: Position = Position()


@dataclass(frozen=True)
class JoinGroup:
    """Conditions ANDed together; groups are tried in order and count only with exactly one match."""

    conditions: tuple[JoinCondition, ...]


@dataclass(frozen=True)
class AttributeFlow:
    destination: str
    type: FlowType
    sources: tuple[str, ...] = ()
    expression: str | None = None
    constant: CONSTANT_SCALAR | None = None
    merge_type: MergeType = MergeType.UPDATE
    apply_once: bool = False
    position: Position = Position()
    # Where the expression text starts in the file (for columns inside the expression).
    expression_position: Position = Position()


@dataclass(frozen=True)
class OptionCondition:
    """A rule-set option a rule is chosen by: the rule belongs to the set only when the option has one of
    ``values``. This is how the install wizard's choices (the user-matching option of spec 5.4) pick
    among alternative rules that share a name and precedence."""

    option: str
    values: tuple[str, ...]
    position: Position = Position()


@dataclass(frozen=True)
class SyncRule:
    name: str
    connector: ConnectorSelector
    direction: Direction
    source_object_type: str
    target_object_type: str
    precedence: int
    link_type: LinkType = LinkType.JOIN
    description: str = ""
    disabled: bool = False
    scope: tuple[ScopeGroup, ...] = ()
    join: tuple[JoinGroup, ...] = ()
    flows: tuple[AttributeFlow, ...] = ()
    password_sync: bool = False
    immutable_tag: str | None = None
    when: tuple[OptionCondition, ...] = ()
    position: Position = Position()

    def selected_by(self, options: Mapping[str, str]) -> bool:
        """Whether the rule belongs to a rule set configured with ``options`` (every ``when`` holds)."""
        return all(options.get(c.option) in c.values for c in self.when)

    @property
    def is_joining(self) -> bool:
        """A rule that relates objects (join conditions, or projection/provisioning); spec 2.4."""
        return bool(self.join) or self.link_type is LinkType.PROVISION

    @property
    def keeps_alive(self) -> bool:
        """An inbound rule whose being in scope keeps the metaverse object alive (spec 1.4)."""
        return self.direction is Direction.INBOUND and self.link_type in (
            LinkType.PROVISION,
            LinkType.STICKY_JOIN,
        )

    @property
    def join_source_attributes(self) -> frozenset[str]:
        return frozenset(c.source for g in self.join for c in g.conditions)

    @cached_property
    def source_attributes(self) -> frozenset[str]:
        """Every attribute of the source object the rule reads: scope, join, flow sources, expressions
        (parsed once per rule: every sync asks)."""
        from transforms.expressions import attributes_of, parse  # the model stays importable on its own

        names = {c.attribute for g in self.scope for c in g.conditions} | set(self.join_source_attributes)
        for flow in self.flows:
            names.update(flow.sources)
            if flow.expression is not None:
                names.update(attributes_of(parse(flow.expression)))
        return frozenset(names)


class SyncRuleError(InputError):
    """A rule set that cannot run: mixed merge types on one attribute, duplicate precedence, ..."""
