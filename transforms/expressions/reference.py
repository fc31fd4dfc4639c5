"""Reference evaluator: one object at a time, straight from the AST.

It is the oracle of the tests and the engine of single-object preview; the vectorized compiler must
agree with it. Special literals come back as the module-level sentinels of :mod:`values`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from transforms.expressions import nodes as n
from transforms.expressions.coerce import CoercionTypeError, coerce_value, text_of
from transforms.expressions.context import EvalContext
from transforms.expressions.elementwise import MISMATCH
from transforms.expressions.errors import (
    ExpressionRuntimeError,
    ExpressionTypeError,
    UnboundVariableError,
    UnknownParameterError,
)
from transforms.expressions.functions import REGISTRY
from transforms.expressions.functions.registry import SCALAR_KINDS, FunctionSpec
from transforms.expressions.values import (
    AUTHORITATIVE_NULL,
    CRLF_TEXT,
    IGNORE_THIS_FLOW,
    ColumnParameter,
    ParamValue,
    Special,
    parse_boolean,
    parse_integer,
)

_CODE = "expression-evaluation-error"
MULTI_RETURNS = frozenset({"mvstr", "mvattr"})


def _strip(value: object) -> object:
    return None if isinstance(value, Special) else value


def _as_list(value: object) -> list[object]:
    value = _strip(value)
    if value is None:
        return []
    if isinstance(value, list):
        return [v for v in value if v is not None]
    return [value]


def normalize_input(value: object, multi: bool = False) -> object:
    """A row value as the evaluator sees it (lists copied, absent multi-valued attributes empty)."""
    if isinstance(value, tuple | list):
        return list(value)
    if value is None and multi:
        return []
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    return value


class Evaluator:
    def __init__(
        self,
        source: str | n.Node,
        row: Mapping[str, object],
        params: Mapping[str, ParamValue],
        imported: Mapping[str, object] | None,
        multi_valued: frozenset[str],
        ctx: EvalContext,
    ) -> None:
        # Text for error messages; a tree is rendered only when an error needs it.
        self._source = source
        self.row = row
        self.params = params
        self.imported = imported
        self.multi_valued = multi_valued
        self.ctx = ctx

    @property
    def source(self) -> str:
        if not isinstance(self._source, str):
            from transforms.expressions.render import render

            self._source = render(self._source)
        return self._source

    def type_error(self, message: str, node: n.Node) -> ExpressionTypeError:
        return ExpressionTypeError(message, self.source, node.start, node.end)

    # --- entry ----------------------------------------------------------------------------------

    def run(self, node: n.Node) -> object:
        value = self.eval(node, {})
        if isinstance(value, list):
            kept = [v for v in value if v is not None]
            return kept or None
        return value

    def eval(self, node: n.Node, scope: dict[str, object]) -> object:
        method: Callable[[Any, dict[str, object]], object] = getattr(self, "eval_" + type(node).__name__)
        return method(node, scope)

    # --- leaves ---------------------------------------------------------------------------------

    def eval_String(self, node: n.String, scope: dict[str, object]) -> object:
        return node.value

    def eval_Number(self, node: n.Number, scope: dict[str, object]) -> object:
        return node.value

    def eval_Boolean(self, node: n.Boolean, scope: dict[str, object]) -> object:
        return node.value

    def eval_Constant(self, node: n.Constant, scope: dict[str, object]) -> object:
        return {
            "NULL": None,
            "AuthoritativeNull": AUTHORITATIVE_NULL,
            "IgnoreThisFlow": IGNORE_THIS_FLOW,
            "CRLF": CRLF_TEXT,
        }[node.name]

    def eval_EnumWord(self, node: n.EnumWord, scope: dict[str, object]) -> object:
        raise self.type_error(f"{node.name} can only be passed as a function argument", node)

    def read_attribute(self, name: str, imported: bool = False) -> object:
        if imported and self.imported is not None and name in self.imported:
            value = self.imported[name]
        else:
            value = self.row.get(name)
        return normalize_input(value, name in self.multi_valued)

    def eval_Attribute(self, node: n.Attribute, scope: dict[str, object]) -> object:
        return self.read_attribute(node.name)

    def eval_Parameter(self, node: n.Parameter, scope: dict[str, object]) -> object:
        if node.name not in self.params:
            raise UnknownParameterError(
                f"parameter %{node.name}% is not defined", self.source, node.start, node.end
            )
        value = self.params[node.name]
        if isinstance(value, ColumnParameter):
            text = self.row.get(value.column)
            return None if text is None else str(text)
        return value

    def eval_Variable(self, node: n.Variable, scope: dict[str, object]) -> object:
        if node.name not in scope:
            raise UnboundVariableError(
                f"variable ${node.name} is not bound here", self.source, node.start, node.end
            )
        return scope[node.name]

    # --- operators --------------------------------------------------------------------------------

    def lift(self, fn: Callable[..., object], values: list[object], node: n.Node) -> object:
        lists = [v for v in values if isinstance(v, list)]
        if not lists:
            return fn(*values)
        size = len(lists[0])
        if any(len(v) != size for v in lists):
            raise ExpressionRuntimeError(MISMATCH, _CODE)
        return [fn(*[v[i] if isinstance(v, list) else v for v in values]) for i in range(size)]

    def eval_Negate(self, node: n.Negate, scope: dict[str, object]) -> object:
        value = _strip(self.eval(node.operand, scope))

        def negate(v: object) -> object:
            number = self.coerce(v, "num", node.operand, "-")
            return None if number is None else -number  # type: ignore[operator]

        return self.lift(negate, [value], node)

    def eval_BinaryOp(self, node: n.BinaryOp, scope: dict[str, object]) -> object:
        left = _strip(self.eval(node.left, scope))
        right = _strip(self.eval(node.right, scope))
        return self.lift(lambda a, b: self.binary(node, a, b), [left, right], node)

    def binary(self, node: n.BinaryOp, a: object, b: object) -> object:
        op = node.op
        if op == "&":
            try:
                ta, tb = text_of(a), text_of(b)
            except CoercionTypeError as exc:
                raise self.type_error(f"& cannot concatenate {exc.found}", node) from exc
            if ta is None and tb is None:
                return None
            return (ta or "") + (tb or "")
        if op in ("&&", "||"):
            x = self.coerce(a, "bool", node.left, op)
            y = self.coerce(b, "bool", node.right, op)
            if op == "&&":
                if x is False or y is False:
                    return False
                return None if x is None or y is None else True
            if x is True or y is True:
                return True
            return None if x is None or y is None else False
        if op in n.COMPARISON:
            return self.compare(node, a, b)
        if op == "+" and isinstance(a, str) and isinstance(b, str):
            return a + b
        if (op == "+" and a is None and isinstance(b, str)) or (
            b is None and isinstance(a, str) and op == "+"
        ):
            return None
        x = self.coerce(a, "num", node.left, op)
        y = self.coerce(b, "num", node.right, op)
        if x is None or y is None:
            return None
        result = x + y if op == "+" else x - y if op == "-" else x * y  # type: ignore[operator]
        return result

    def compare(self, node: n.BinaryOp, a: object, b: object) -> object:
        if a is None or b is None:
            return None
        ta, tb = _kind(a), _kind(b)
        if ta != tb:
            pair = {ta, tb}
            if pair == {"num", "str"}:
                a, b = (
                    (parse_integer(a) if isinstance(a, str) else a),
                    (parse_integer(b) if isinstance(b, str) else b),
                )
            elif pair == {"bool", "str"}:
                a, b = (
                    (parse_boolean(a) if isinstance(a, str) else a),
                    (parse_boolean(b) if isinstance(b, str) else b),
                )
            elif pair == {"bool", "num"}:
                a, b = (a != 0 if _kind(a) == "num" else a), (b != 0 if _kind(b) == "num" else b)
            else:
                raise self.type_error(f"cannot compare {ta} with {tb}", node)
            if a is None or b is None:
                return None
        elif ta == "bin" and node.op not in ("=", "<>"):
            raise self.type_error("binary values can only be compared with = and <>", node)
        op = node.op
        if op == "=":
            return a == b
        if op == "<>":
            return a != b
        ordered: Any = a
        if op == "<":
            return bool(ordered < b)
        if op == "<=":
            return bool(ordered <= b)
        if op == ">":
            return bool(ordered > b)
        return bool(ordered >= b)

    def coerce(self, value: object, kind: str, node: n.Node, what: str) -> Any:
        try:
            return coerce_value(value, kind)
        except CoercionTypeError as exc:
            raise self.type_error(f"{what} expects {exc.expected}, got {exc.found}", node) from exc

    # --- calls --------------------------------------------------------------------------------------

    def eval_Call(self, node: n.Call, scope: dict[str, object]) -> object:
        spec = REGISTRY[node.name]
        if spec.special:
            handler: Callable[[n.Call, dict[str, object]], object] = getattr(self, "call_" + node.name)
            return handler(node, scope)
        return self.call_generic(spec, node, scope)

    def call_generic(self, spec: FunctionSpec, node: n.Call, scope: dict[str, object]) -> object:
        values: list[object] = []
        lifted = False
        for param, arg in zip(spec.params, node.args, strict=False):
            if param.kind == "enum":
                values.append(
                    arg.name
                    if isinstance(arg, n.EnumWord)
                    else arg.value
                    if isinstance(arg, n.String)
                    else None
                )
                continue
            value = _strip(self.eval(arg, scope))
            if param.kind == "mv":
                value = _as_list(value)
            elif isinstance(value, list) and param.kind in SCALAR_KINDS:
                lifted = True
            values.append(value)
        if lifted and spec.returns in MULTI_RETURNS:
            raise self.type_error(
                f"{spec.name} cannot be applied to each value of a multi-valued argument", node
            )
        params = spec.params

        def call(*items: object) -> object:
            coerced = []
            for param, arg, item in zip(params, node.args, items, strict=False):
                coerced.append(
                    item
                    if param.kind in ("enum", "mv", "var")
                    else self.coerce(item, param.kind, arg, f"{spec.name} argument {param.name}")
                )
            assert spec.reference is not None
            return spec.reference(self.ctx, *coerced)

        if not lifted:
            return call(*values)
        mv_positions = [
            i
            for i, (param, v) in enumerate(zip(params, values, strict=False))
            if isinstance(v, list) and param.kind in SCALAR_KINDS
        ]
        lists = [values[i] for i in mv_positions]
        size = len(lists[0])  # type: ignore[arg-type]
        if any(len(v) != size for v in lists):  # type: ignore[arg-type]
            raise ExpressionRuntimeError(MISMATCH, _CODE)
        out = []
        for index in range(size):
            items = [values[i][index] if i in mv_positions else values[i] for i in range(len(values))]  # type: ignore[index]
            out.append(call(*items))
        return out

    def call_IIF(self, node: n.Call, scope: dict[str, object]) -> object:
        cond = _strip(self.eval(node.args[0], scope))
        if isinstance(cond, list):
            flags = [self.coerce(c, "bool", node.args[0], "IIF condition") for c in cond]
            then = self.eval(node.args[1], scope) if any(f is True for f in flags) else None
            other = self.eval(node.args[2], scope) if any(f is not True for f in flags) else None
            then, other = _strip(then), _strip(other)
            return self.lift(lambda f, t, o: t if f is True else o, [flags, then, other], node)
        flag = self.coerce(cond, "bool", node.args[0], "IIF condition")
        return self.eval(node.args[1] if flag is True else node.args[2], scope)

    def call_Switch(self, node: n.Call, scope: dict[str, object]) -> object:
        flags = []
        for cond_node in node.args[0::2]:
            cond = _strip(self.eval(cond_node, scope))
            if isinstance(cond, list):
                raise self.type_error("Switch conditions must be single-valued", cond_node)
            flags.append(self.coerce(cond, "bool", cond_node, "Switch condition"))
        for flag, value_node in zip(flags, node.args[1::2], strict=True):
            if flag is True:
                return self.eval(value_node, scope)
        return None

    def call_Error(self, node: n.Call, scope: dict[str, object]) -> object:
        message = _strip(self.eval(node.args[0], scope))
        if isinstance(message, list):
            message = " ".join(str(m) for m in message if m is not None)
        try:
            text = text_of(message)
        except CoercionTypeError as exc:
            raise self.type_error("Error expects a message text", node.args[0]) from exc
        raise ExpressionRuntimeError(text or "")

    def call_With(self, node: n.Call, scope: dict[str, object]) -> object:
        var = node.args[0]
        assert isinstance(var, n.Variable)
        value = _strip(self.eval(node.args[1], scope))
        return self.eval(node.args[2], {**scope, var.name: value})

    def _items(self, node: n.Call, scope: dict[str, object]) -> tuple[str, list[object]]:
        var = node.args[0]
        assert isinstance(var, n.Variable)
        return var.name, _as_list(self.eval(node.args[1], scope))

    def call_Where(self, node: n.Call, scope: dict[str, object]) -> object:
        name, items = self._items(node, scope)
        kept = []
        for item in items:
            cond = _strip(self.eval(node.args[2], {**scope, name: item}))
            if isinstance(cond, list):
                raise self.type_error("the Where condition must be single-valued", node.args[2])
            if self.coerce(cond, "bool", node.args[2], "Where condition") is True:
                kept.append(item)
        return kept

    def call_Select(self, node: n.Call, scope: dict[str, object]) -> object:
        name, items = self._items(node, scope)
        out = []
        for item in items:
            value = _strip(self.eval(node.args[2], {**scope, name: item}))
            if isinstance(value, list):
                raise self.type_error("the Select function must give one value per item", node.args[2])
            out.append(value)
        return out

    def call_ImportedValue(self, node: n.Call, scope: dict[str, object]) -> object:
        arg = node.args[0]
        assert isinstance(arg, n.String)
        return self.read_attribute(arg.value, imported=True)

    def call_ValueCount(self, node: n.Call, scope: dict[str, object]) -> object:
        arg = node.args[0]
        assert isinstance(arg, n.String)
        return len(_as_list(self.read_attribute(arg.value)))


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "num"
    if isinstance(value, str):
        return "str"
    if isinstance(value, bytes):
        return "bin"
    if isinstance(value, datetime):
        return "dt"
    return type(value).__name__
