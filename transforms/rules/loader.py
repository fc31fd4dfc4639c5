"""Load sync rules from YAML text with positioned errors.

The loader walks yaml's composed node tree rather than the constructed Python objects so that every
key and value keeps its line and column; it reports every problem of a file in one
:class:`RuleFileError`, and, for expressions, the column inside the expression text. Reading files is
the caller's business (``flows/cli_rules.py``): this module takes text and stays pure.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from transforms.errors import InputError
from transforms.rules.model import (
    DN_DESTINATION,
    OPERATOR_ALIASES,
    VALUELESS_OPERATORS,
    AttributeFlow,
    ConnectorSelector,
    Direction,
    FlowType,
    JoinCondition,
    JoinGroup,
    LinkType,
    MergeType,
    OptionCondition,
    Position,
    ScopeCondition,
    ScopeGroup,
    ScopeOperator,
    SyncRule,
)

CUSTOM_PRECEDENCE = range(1, 100)

_RULE_KEYS = frozenset(
    {
        "name",
        "description",
        "connector",
        "direction",
        "source_object_type",
        "target_object_type",
        "link_type",
        "precedence",
        "disabled",
        "scope",
        "join",
        "flows",
        "password_sync",
        "immutable_tag",
        "when",
    }
)
_REQUIRED = ("name", "connector", "direction", "source_object_type", "target_object_type", "precedence")
_CONDITION_KEYS = frozenset({"attribute", "operator", "value"})
_JOIN_KEYS = frozenset({"source", "target", "case_sensitive"})
_FLOW_KEYS = frozenset(
    {"destination", "type", "source", "sources", "expression", "value", "merge_type", "apply_once"}
)


@dataclass(frozen=True)
class RuleIssue:
    """One problem in a rule file, positioned at the offending key or value."""

    position: Position
    key: str
    message: str

    def __str__(self) -> str:
        return (
            f"{self.position}: {self.key}: {self.message}" if self.key else f"{self.position}: {self.message}"
        )


class RuleFileError(InputError):
    """Every problem found in one or more rule files."""

    def __init__(self, issues: Sequence[RuleIssue]) -> None:
        self.issues = tuple(issues)
        super().__init__("\n".join(str(i) for i in self.issues))


# An optional checker for expressions: raises with ``line``/``column`` attributes (1-based, inside
# the expression) on a bad expression. The default uses transforms.expressions when it is available.
ExpressionChecker = Callable[[str], None]


def default_expression_checker() -> ExpressionChecker | None:
    """Compile without a schema or parameters: syntax, unknown functions, arity and unbound variables.

    Type errors and unknown parameters depend on the connector's schema and parameters, so they are
    left to the sync run, which compiles every expression against the real frame.
    """
    try:
        from transforms.expressions import compile_expression
        from transforms.expressions.errors import ExpressionTypeError, UnknownParameterError
    except ImportError:  # pragma: no cover - the expression package ships with forestsync
        return None

    def check(text: str) -> None:
        with contextlib.suppress(ExpressionTypeError, UnknownParameterError):
            compile_expression(text)

    return check


class _FileReader:
    def __init__(self, file: str, check_expression: ExpressionChecker | None) -> None:
        self.file = file
        self.issues: list[RuleIssue] = []
        self.check_expression = check_expression
        self._constructor = yaml.SafeLoader("")

    def pos(self, node: yaml.Node) -> Position:
        return Position(self.file, node.start_mark.line + 1, node.start_mark.column + 1)

    def error(self, node: yaml.Node | Position, key: str, message: str) -> None:
        position = node if isinstance(node, Position) else self.pos(node)
        self.issues.append(RuleIssue(position, key, message))

    def scalar(self, node: yaml.Node) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            return _NOT_SCALAR
        return self._constructor.construct_object(node, deep=True)

    def mapping(
        self, node: yaml.Node, key: str, allowed: frozenset[str]
    ) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            self.error(node, key, "expected a mapping")
            return {}
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for k, v in node.value:
            name = self.scalar(k)
            if not isinstance(name, str):
                self.error(k, key, "keys must be strings")
                continue
            full = f"{key}.{name}" if key else name
            if name not in allowed:
                self.error(k, full, f"unknown key; expected one of {', '.join(sorted(allowed))}")
                continue
            if name in out:
                self.error(k, full, "duplicate key")
                continue
            out[name] = (k, v)
        return out

    def string(self, node: yaml.Node, key: str, *, allow_empty: bool = False) -> str | None:
        value = self.scalar(node)
        if isinstance(value, bool) or value is _NOT_SCALAR or value is None:
            self.error(node, key, "expected a string")
            return None
        text = str(value)
        if not text and not allow_empty:
            self.error(node, key, "must not be empty")
            return None
        return text

    def boolean(self, node: yaml.Node, key: str) -> bool | None:
        value = self.scalar(node)
        if not isinstance(value, bool):
            self.error(node, key, "expected true or false")
            return None
        return value

    def choice(self, node: yaml.Node, key: str, choices: Mapping[str, Any]) -> Any:
        value = self.scalar(node)
        if isinstance(value, str) and value in choices:
            return choices[value]
        lowered = {k.lower(): v for k, v in choices.items()}
        if isinstance(value, str) and value.lower() in lowered:
            return lowered[value.lower()]
        self.error(node, key, f"expected one of {', '.join(choices)}; got {value!r}")
        return None

    def sequence(self, node: yaml.Node, key: str) -> list[yaml.Node]:
        if isinstance(node, yaml.ScalarNode) and self.scalar(node) is None:
            return []
        if not isinstance(node, yaml.SequenceNode):
            self.error(node, key, "expected a list")
            return []
        return list(node.value)

    # --- parts -----------------------------------------------------------------------------

    def connector(self, node: yaml.Node) -> ConnectorSelector | None:
        if isinstance(node, yaml.ScalarNode):
            name = self.string(node, "connector")
            if name is None:
                return None
            return ConnectorSelector() if name == "*" else ConnectorSelector(names=(name,))
        if isinstance(node, yaml.SequenceNode):
            names = [self.string(n, "connector[]") for n in node.value]
            if not names:
                self.error(node, "connector", "must name at least one connector")
            return ConnectorSelector(names=tuple(n for n in names if n))
        fields = self.mapping(node, "connector", frozenset({"kind", "name"}))
        selected: dict[str, tuple[str, ...]] = {}
        for field in ("kind", "name"):
            if field not in fields:
                continue
            _, value = fields[field]
            items = value.value if isinstance(value, yaml.SequenceNode) else [value]
            selected[field] = tuple(s for s in (self.string(i, f"connector.{field}") for i in items) if s)
        if not selected:
            self.error(node, "connector", "a selector needs kind or name")
        return ConnectorSelector(names=selected.get("name", ()), kinds=selected.get("kind", ()))

    def scope(self, node: yaml.Node) -> tuple[ScopeGroup, ...]:
        groups: list[ScopeGroup] = []
        for gi, group in enumerate(self.sequence(node, "scope")):
            conditions: list[ScopeCondition] = []
            for ci, cond in enumerate(self.sequence(group, f"scope[{gi}]")):
                key = f"scope[{gi}][{ci}]"
                fields = self.mapping(cond, key, _CONDITION_KEYS)
                if not fields:
                    continue
                attribute = (
                    self.string(fields["attribute"][1], f"{key}.attribute") if "attribute" in fields else None
                )
                if "attribute" not in fields:
                    self.error(cond, key, "missing key attribute")
                operator: ScopeOperator | None = None
                if "operator" not in fields:
                    self.error(cond, key, "missing key operator")
                else:
                    choices: dict[str, ScopeOperator] = {o.value: o for o in ScopeOperator}
                    choices.update(OPERATOR_ALIASES)
                    operator = self.choice(fields["operator"][1], f"{key}.operator", choices)
                value: str | None = None
                if "value" in fields:
                    raw = self.scalar(fields["value"][1])
                    if raw is _NOT_SCALAR:
                        self.error(fields["value"][1], f"{key}.value", "expected a scalar")
                    elif raw is not None:
                        value = ("TRUE" if raw else "FALSE") if isinstance(raw, bool) else str(raw)
                if operator is not None and operator not in VALUELESS_OPERATORS and value is None:
                    self.error(cond, key, f"operator {operator.value} needs a value")
                if operator in (ScopeOperator.ISBITSET, ScopeOperator.ISNOTBITSET) and value is not None:
                    try:
                        int(value, 0)
                    except ValueError:
                        self.error(fields["value"][1], f"{key}.value", "bit operators need an integer value")
                if attribute and operator is not None:
                    conditions.append(ScopeCondition(attribute, operator, value, self.pos(cond)))
            groups.append(ScopeGroup(tuple(conditions)))
        return tuple(groups)

    def join(self, node: yaml.Node) -> tuple[JoinGroup, ...]:
        groups: list[JoinGroup] = []
        for gi, group in enumerate(self.sequence(node, "join")):
            conditions: list[JoinCondition] = []
            items = self.sequence(group, f"join[{gi}]")
            if not items:
                self.error(group, f"join[{gi}]", "a join group needs at least one condition")
            for ci, cond in enumerate(items):
                key = f"join[{gi}][{ci}]"
                fields = self.mapping(cond, key, _JOIN_KEYS)
                if not fields:
                    continue
                missing = [k for k in ("source", "target") if k not in fields]
                for k in missing:
                    self.error(cond, key, f"missing key {k}")
                source = self.string(fields["source"][1], f"{key}.source") if "source" in fields else None
                target = self.string(fields["target"][1], f"{key}.target") if "target" in fields else None
                case = True
                if "case_sensitive" in fields:
                    case = bool(self.boolean(fields["case_sensitive"][1], f"{key}.case_sensitive"))
                if source and target:
                    conditions.append(JoinCondition(source, target, case, self.pos(cond)))
            groups.append(JoinGroup(tuple(conditions)))
        return tuple(groups)

    def flow(self, node: yaml.Node, key: str) -> AttributeFlow | None:
        fields = self.mapping(node, key, _FLOW_KEYS)
        if not fields:
            return None
        destination = (
            self.string(fields["destination"][1], f"{key}.destination") if "destination" in fields else None
        )
        if "destination" not in fields:
            self.error(node, key, "missing key destination")
        flow_type: FlowType | None = None
        if "type" in fields:
            flow_type = self.choice(fields["type"][1], f"{key}.type", {t.value: t for t in FlowType})
        elif "expression" in fields:
            flow_type = FlowType.EXPRESSION
        elif "value" in fields:
            flow_type = FlowType.CONSTANT
        elif "source" in fields or "sources" in fields:
            flow_type = FlowType.DIRECT
        else:
            self.error(node, key, "missing key type (or one of source, value, expression)")
        sources: tuple[str, ...] = ()
        if "source" in fields:
            s = self.string(fields["source"][1], f"{key}.source")
            sources = (s,) if s else ()
        if "sources" in fields:
            items = self.sequence(fields["sources"][1], f"{key}.sources")
            sources += tuple(s for s in (self.string(i, f"{key}.sources[]") for i in items) if s)
        merge = MergeType.UPDATE
        if "merge_type" in fields:
            choices: dict[str, MergeType] = {m.value: m for m in MergeType}
            choices["Replace"] = MergeType.UPDATE  # spec 2.5: same as Update, unused
            merge = self.choice(fields["merge_type"][1], f"{key}.merge_type", choices) or MergeType.UPDATE
        apply_once = False
        if "apply_once" in fields:
            apply_once = bool(self.boolean(fields["apply_once"][1], f"{key}.apply_once"))
        expression: str | None = None
        expression_position = Position(self.file)
        constant: Any = None
        if flow_type is FlowType.DIRECT:
            if len(sources) != 1:
                self.error(node, key, "a Direct flow needs exactly one source")
            if "expression" in fields or "value" in fields:
                self.error(node, key, "a Direct flow takes no expression or value")
        elif flow_type is FlowType.CONSTANT:
            if "value" not in fields:
                self.error(node, key, "a Constant flow needs a value")
            else:
                constant = self.scalar(fields["value"][1])
                if constant is _NOT_SCALAR or constant is None:
                    self.error(fields["value"][1], f"{key}.value", "expected a string, number or boolean")
                    constant = None
        elif flow_type is FlowType.EXPRESSION:
            if "expression" not in fields:
                self.error(node, key, "an Expression flow needs an expression")
            else:
                enode = fields["expression"][1]
                expression = self.string(enode, f"{key}.expression")
                expression_position = self.expression_start(enode)
                if expression is not None:
                    self.check(expression, expression_position, enode, f"{key}.expression")
        if destination is None or flow_type is None:
            return None
        return AttributeFlow(
            destination=destination,
            type=flow_type,
            sources=sources,
            expression=expression,
            constant=constant,
            merge_type=merge,
            apply_once=apply_once,
            position=self.pos(node),
            expression_position=expression_position,
        )

    def expression_start(self, node: yaml.Node) -> Position:
        """Where the first character of the expression text is in the file."""
        style = getattr(node, "style", None)
        line, column = node.start_mark.line + 1, node.start_mark.column + 1
        if style in ('"', "'"):
            column += 1
        elif style in ("|", ">"):
            # A block scalar's text starts on the next line at the block's indentation.
            line += 1
            column = _block_indent(node)
        return Position(self.file, line, column)

    def check(self, text: str, start: Position, node: yaml.Node, key: str) -> None:
        if self.check_expression is None:
            return
        try:
            self.check_expression(text)
        except InputError as exc:
            eline = int(getattr(exc, "line", 1) or 1)
            ecol = int(getattr(exc, "column", 1) or 1)
            line = start.line + eline - 1
            column = start.column + ecol - 1 if eline == 1 else ecol + _block_indent(node) - 1
            message = getattr(exc, "message", None) or str(exc).splitlines()[0]
            self.error(
                Position(self.file, line, column),
                key,
                f"{message} (expression line {eline}, column {ecol})\n{exc}",
            )

    def when(self, node: yaml.Node) -> tuple[OptionCondition, ...]:
        """``when: {option: value | [values]}``: the rule-set options that choose this rule."""
        conditions: list[OptionCondition] = []
        if not isinstance(node, yaml.MappingNode):
            self.error(node, "when", "expected a mapping of rule-set option to value(s)")
            return ()
        for knode, vnode in node.value:
            option = self.string(knode, "when")
            if option is None:
                continue
            items = vnode.value if isinstance(vnode, yaml.SequenceNode) else [vnode]
            values = tuple(v for v in (self.string(i, f"when.{option}") for i in items) if v)
            if not values:
                self.error(vnode, f"when.{option}", "name at least one value")
                continue
            conditions.append(OptionCondition(option, values, self.pos(knode)))
        return tuple(conditions)

    def rule(self, root: yaml.Node) -> SyncRule | None:
        fields = self.mapping(root, "", _RULE_KEYS)
        if not fields and not isinstance(root, yaml.MappingNode):
            return None
        for k in _REQUIRED:
            if k not in fields:
                self.error(root, k, "missing required key")

        def get(name: str, fn: Callable[[yaml.Node, str], Any], default: Any = None) -> Any:
            return fn(fields[name][1], name) if name in fields else default

        name = get("name", self.string)
        description = get("description", lambda n, k: self.string(n, k, allow_empty=True), "") or ""
        connector = self.connector(fields["connector"][1]) if "connector" in fields else None
        direction = get("direction", lambda n, k: self.choice(n, k, {d.value: d for d in Direction}))
        source = get("source_object_type", self.string)
        target = get("target_object_type", self.string)
        link_type = get(
            "link_type", lambda n, k: self.choice(n, k, {t.value: t for t in LinkType}), LinkType.JOIN
        )
        precedence: int | None = None
        immutable_tag = get("immutable_tag", self.string)
        if "precedence" in fields:
            pnode = fields["precedence"][1]
            raw = self.scalar(pnode)
            if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
                self.error(pnode, "precedence", "expected a positive integer")
            else:
                precedence = raw
                if immutable_tag is None and raw not in CUSTOM_PRECEDENCE:
                    self.error(pnode, "precedence", "custom rules (no immutable_tag) use precedence 1-99")
                if immutable_tag is not None and raw in CUSTOM_PRECEDENCE:
                    self.error(
                        pnode, "precedence", "default rules (with immutable_tag) use precedence 100 and above"
                    )
        disabled = get("disabled", self.boolean, False) or False
        password_sync = get("password_sync", self.boolean, False) or False
        when = self.when(fields["when"][1]) if "when" in fields else ()
        scope = self.scope(fields["scope"][1]) if "scope" in fields else ()
        join = self.join(fields["join"][1]) if "join" in fields else ()
        flows: list[AttributeFlow] = []
        for fi, fnode in enumerate(self.sequence(fields["flows"][1], "flows") if "flows" in fields else []):
            flow = self.flow(fnode, f"flows[{fi}]")
            if flow is not None:
                flows.append(flow)
        self.check_rule_semantics(fields, direction, link_type, target, join, flows, password_sync)
        if None in (name, connector, direction, source, target, precedence):
            return None
        return SyncRule(
            name=name,
            description=description,
            connector=connector,  # type: ignore[arg-type]
            direction=direction,
            source_object_type=source,
            target_object_type=target,
            link_type=link_type or LinkType.JOIN,
            precedence=precedence,  # type: ignore[arg-type]
            disabled=disabled,
            scope=scope,
            join=join,
            flows=tuple(flows),
            password_sync=password_sync,
            immutable_tag=immutable_tag,
            when=when,
            position=self.pos(root),
        )

    def check_rule_semantics(
        self,
        fields: dict[str, tuple[yaml.Node, yaml.Node]],
        direction: Direction | None,
        link_type: LinkType | None,
        target: str | None,
        join: tuple[JoinGroup, ...],
        flows: list[AttributeFlow],
        password_sync: bool,
    ) -> None:
        if link_type is LinkType.PROVISION and target == "*":
            self.error(
                fields["target_object_type"][1],
                "target_object_type",
                "a Provision rule needs a concrete type",
            )
        if password_sync and direction is Direction.OUTBOUND:
            self.error(fields["password_sync"][1], "password_sync", "only inbound rules decide password sync")
        seen: dict[str, AttributeFlow] = {}
        for flow in flows:
            if flow.destination in seen:
                self.error(
                    flow.position, "flows", f"destination {flow.destination!r} flows twice in one rule"
                )
            seen[flow.destination] = flow
            if flow.destination == DN_DESTINATION and direction is Direction.INBOUND:
                self.error(flow.position, "flows", "only outbound rules flow to dn")
        del join


def _block_indent(node: yaml.Node) -> int:
    # The end mark of a block scalar sits after its last line; the indentation is the column of the
    # first non-space character of the text's first line, which yaml does not expose: the composer
    # node's start mark is on the indicator line, so read the buffer.
    mark = node.start_mark
    buffer = getattr(mark, "buffer", None)
    if not buffer:
        return mark.column + 3
    pos = buffer.find("\n", mark.pointer) + 1
    indent = 0
    while pos + indent < len(buffer) and buffer[pos + indent] == " ":
        indent += 1
    return indent + 1


_NOT_SCALAR: Any = object()


def load_rule_text(
    text: str, file: str = "<memory>", *, check_expression: ExpressionChecker | None = None
) -> SyncRule:
    """Parse one rule file's text; raise :class:`RuleFileError` with every problem found."""
    reader = _FileReader(file, check_expression)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        raise RuleFileError(
            [RuleIssue(Position(file, line, col), "", f"invalid YAML: {exc.problem}")]
        ) from exc
    if root is None:
        raise RuleFileError([RuleIssue(Position(file, 1, 1), "", "empty rule file")])
    rule = reader.rule(root)
    if reader.issues or rule is None:
        raise RuleFileError(reader.issues or [RuleIssue(Position(file, 1, 1), "", "not a rule")])
    return rule


def load_rule_texts(
    files: Iterable[tuple[str, str]],
    *,
    check_expression: ExpressionChecker | None = None,
    options: Mapping[str, str] | None = None,
) -> tuple[SyncRule, ...]:
    """Load ``(file name, text)`` pairs as one rule set; raise one error listing every problem.

    ``options`` are the rule-set options (the install wizard's choices, e.g. ``user_matching``): a
    rule with ``when`` conditions is kept only when every condition holds (:func:`select_rules`).
    Besides each file's own problems this checks the selected set: unique names, precedence unique per
    direction (per connector selector overlap is not considered: precedence is global, as in the
    product), and one merge type per (direction, target object type, destination attribute).
    """
    rules: list[SyncRule] = []
    issues: list[RuleIssue] = []
    for file, text in files:
        try:
            rules.append(load_rule_text(text, file, check_expression=check_expression))
        except RuleFileError as exc:
            issues.extend(exc.issues)
    rules, option_issues = select_rules(rules, options or {})
    issues.extend(option_issues)
    issues.extend(check_rule_set(rules))
    if issues:
        raise RuleFileError(issues)
    return tuple(sorted(rules, key=lambda r: (r.direction.value, r.precedence)))


def select_rules(
    rules: Sequence[SyncRule], options: Mapping[str, str]
) -> tuple[list[SyncRule], list[RuleIssue]]:
    """The rules chosen by ``options``, and the problems with the options themselves.

    Every option some rule's ``when`` names must be set, to a value some rule names: a missing or
    misspelt option would otherwise silently drop the rules it chooses (for ``user_matching``, the
    user join rules, so no user would sync). Options that no rule names are ignored, so that one
    configuration serves rule folders with and without the default rules.
    """
    known: dict[str, dict[str, None]] = {}
    first: dict[str, Position] = {}
    for rule in rules:
        for condition in rule.when:
            known.setdefault(condition.option, {}).update(dict.fromkeys(condition.values))
            first.setdefault(condition.option, condition.position)
    issues: list[RuleIssue] = []
    for option, values in known.items():
        choices = ", ".join(values)
        if option not in options:
            issues.append(
                RuleIssue(
                    first[option], "when", f"rule-set option {option!r} is not set; choose one of {choices}"
                )
            )
        elif options[option] not in values:
            issues.append(
                RuleIssue(
                    first[option],
                    "when",
                    f"rule-set option {option}={options[option]!r} is not offered; choose one of {choices}",
                )
            )
    return [r for r in rules if r.selected_by(options)], issues


def check_rule_set(rules: Sequence[SyncRule]) -> list[RuleIssue]:
    """Problems between rules: duplicate names or precedences, mixed merge types on one attribute."""
    issues: list[RuleIssue] = []
    names: dict[str, SyncRule] = {}
    precedences: dict[tuple[Direction, int], SyncRule] = {}
    merges: dict[tuple[Direction, str, str], tuple[MergeType, SyncRule]] = {}
    for rule in rules:
        if rule.name in names:
            issues.append(
                RuleIssue(rule.position, "name", f"duplicate rule name; also in {names[rule.name].position}")
            )
        names.setdefault(rule.name, rule)
        if rule.disabled:
            continue
        key = (rule.direction, rule.precedence)
        if key in precedences:
            other = precedences[key]
            issues.append(
                RuleIssue(
                    rule.position,
                    "precedence",
                    f"precedence {rule.precedence} already used by {other.name!r} ({other.position})",
                )
            )
        precedences.setdefault(key, rule)
        for flow in rule.flows:
            mkey = (rule.direction, rule.target_object_type, flow.destination)
            if mkey in merges and merges[mkey][0] is not flow.merge_type:
                other_merge, other_rule = merges[mkey]
                issues.append(
                    RuleIssue(
                        flow.position,
                        "merge_type",
                        f"{flow.destination!r} is merged with {flow.merge_type.value} here but with "
                        f"{other_merge.value} by {other_rule.name!r}; mixing merge types is an error",
                    )
                )
            merges.setdefault(mkey, (flow.merge_type, rule))
    return issues
