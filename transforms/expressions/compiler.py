"""Compiler from the AST to Polars expressions over whole frames (one dispatch method per node type).

Each node lowers to a :class:`Lowered`: the value expression, its static type, whether it is a list,
and the error/flag channels. Functions with a scalar parameter given a list are applied per value
through :mod:`elementwise`; ``Where``/``Select`` bodies are compiled inside ``list.eval``, and frame
columns they read are carried in as captures.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import polars as pl

from transforms.expressions import nodes as n
from transforms.expressions.coerce import CoercionTypeError, coerce_lowered, to_text
from transforms.expressions.context import CompileContext
from transforms.expressions.elementwise import capture_expr, element_expr, map_lists
from transforms.expressions.errors import (
    ExpressionTypeError,
    NotVectorizableError,
    UnboundVariableError,
    UnknownParameterError,
)
from transforms.expressions.functions import REGISTRY
from transforms.expressions.functions.registry import SCALAR_KINDS, FunctionSpec
from transforms.expressions.lowered import DTYPES, Lowered, VType, constant, first_error, null
from transforms.expressions.values import (
    CRLF_TEXT,
    FLAG_AUTHORITATIVE_NULL,
    FLAG_IGNORE_THIS_FLOW,
    ColumnParameter,
    ParamValue,
)

IMPORTED_PREFIX = "_imported."
_FLAG = pl.UInt8
MULTI_RETURNS = frozenset({"mvstr", "mvattr"})
# Functions whose result is never NULL when no argument is NULL.
NEVER_NULL = frozenset(
    {
        "Trim",
        "LTrim",
        "RTrim",
        "LCase",
        "UCase",
        "PCase",
        "Left",
        "Right",
        "Mid",
        "Len",
        "Replace",
        "Word",
        "InStr",
        "InStrRev",
        "ConvertToUTF8Hex",
        "EscapeDNComponent",
    }
)


def schema_type(dtype: pl.DataType) -> tuple[VType, bool] | None:
    """(value type, multi-valued) of a frame column, or None when the dtype is not supported."""
    multi = isinstance(dtype, pl.List)
    base = dtype.inner if isinstance(dtype, pl.List) else dtype
    if base is None:
        return None
    if base == pl.Utf8 or base == pl.Categorical or base == pl.Null:
        return "str", multi
    if base.is_integer():
        return "num", multi
    if base == pl.Boolean:
        return "bool", multi
    if base == pl.Binary:
        return "bin", multi
    if isinstance(base, pl.Datetime) or base == pl.Date:
        return "dt", multi
    return None


@dataclass
class Binding:
    value: Lowered
    depth: int


@dataclass
class Scope:
    """One ``list.eval`` level; frame-level values used inside are captured into the packed struct."""

    parent: Env
    packed: bool
    captures: list[Lowered] = field(default_factory=list)
    errors: list[pl.Expr] = field(default_factory=list)

    def capture(self, value: Lowered) -> Lowered:
        if value.error is not None:
            self.errors.append(value.error)
        self.captures.append(replace(value, error=None, flag=None))
        return Lowered(capture_expr(len(self.captures) - 1), value.type, value.multi)


@dataclass
class Env:
    vars: dict[str, Binding]
    depth: int = 0
    scope: Scope | None = None


class Compiler:
    def __init__(
        self,
        source: str,
        params: Mapping[str, ParamValue],
        schema: Mapping[str, pl.DataType] | None,
        ctx: CompileContext,
    ) -> None:
        self.source = source
        self.params = params
        self.schema = schema
        self.ctx = ctx
        # Set while a fused per-value region is compiled: the attribute then stands for one value.
        self.element_attr: dict[str, Lowered] = {}

    def type_error(self, message: str, node: n.Node) -> ExpressionTypeError:
        return ExpressionTypeError(message, self.source, node.start, node.end)

    def coerce(self, value: Lowered, kind: str, node: n.Node, what: str) -> Lowered:
        try:
            return coerce_lowered(value, kind)
        except CoercionTypeError as exc:
            raise self.type_error(f"{what} expects {exc.expected}, got {exc.found}", node) from exc

    def compile(self, node: n.Node, env: Env) -> Lowered:
        if not self.element_attr and env.depth == 0 and isinstance(node, n.Call | n.BinaryOp | n.Negate):
            fused = self.fuse(node, env)
            if fused is not None:
                return fused
        method: Callable[[Any, Env], Lowered] = getattr(self, "compile_" + type(node).__name__)
        return method(node, env)

    # --- fusion: a per-value region over one multi-valued attribute becomes one list.eval ----------

    def fuse(self, node: n.Node, env: Env) -> Lowered | None:
        """``Trim([proxyAddresses])``, ``IIF(InStr([p],"SIP:")=1,NULL,[p])``: the whole region runs once
        per value inside a single ``list.eval`` instead of zipping intermediate lists."""
        if self.schema is None:
            return None
        names: set[str] = set()
        if not self._fusable(node, names) or len(names) != 1:
            return None
        name = names.pop()
        source = self.column(name, node)
        self.element_attr = {name: Lowered(pl.element(), source.type)}
        try:
            body = self.compile(node, env)
        finally:
            self.element_attr = {}
        if body.multi:
            return None
        maybe_null = not self._never_null(node)
        if body.error is None:
            return Lowered(source.expr.list.eval(body.expr), body.type, True, null_items=maybe_null)
        packed = source.expr.list.eval(pl.struct(body.expr.alias("v"), body.error.alias("e")))
        values = packed.list.eval(pl.element().struct.field("v"))
        errors = packed.list.eval(pl.element().struct.field("e")).list.drop_nulls().list.first()
        return Lowered(values, body.type, True, errors, null_items=True)

    def _never_null(self, node: n.Node) -> bool:
        """True when a fused region cannot produce NULL for a value (so no NULL elements to drop)."""
        if isinstance(node, n.Parameter):
            return not self._row_parameter(node)
        if isinstance(node, n.String | n.Number | n.Boolean | n.Attribute | n.EnumWord):
            return True
        if isinstance(node, n.Constant):
            return node.name == "CRLF"
        if isinstance(node, n.BinaryOp):
            if node.op == "&":
                return self._never_null(node.left) or self._never_null(node.right)
            return self._never_null(node.left) and self._never_null(node.right)
        if isinstance(node, n.Call) and node.name in NEVER_NULL:
            return all(self._never_null(arg) for arg in node.args)
        return False

    def _multi_attribute(self, name: str) -> bool:
        if self.schema is None or name not in self.schema:
            return False
        typed = schema_type(self.schema[name])
        return typed is not None and typed[1]

    def _row_parameter(self, node: n.Parameter) -> bool:
        return isinstance(self.params.get(node.name), ColumnParameter)

    def _fusable(self, node: n.Node, names: set[str]) -> bool:
        if isinstance(node, n.Parameter):
            # A per-row parameter is a frame column: it cannot be read inside a per-value region.
            return not self._row_parameter(node)
        if isinstance(node, n.String | n.Number | n.Boolean | n.Constant | n.EnumWord):
            return True
        if isinstance(node, n.Attribute):
            if not self._multi_attribute(node.name):
                return False
            names.add(node.name)
            return True
        if isinstance(node, n.Negate):
            return self._fusable(node.operand, names)
        if isinstance(node, n.BinaryOp):
            return self._fusable(node.left, names) and self._fusable(node.right, names)
        if not isinstance(node, n.Call):
            return False
        spec = REGISTRY[node.name]
        if node.name == "IIF":
            cond: set[str] = set()
            if not self._fusable(node.args[0], cond) or not cond:
                return False
            names.update(cond)
            return all(self._fusable(arg, names) for arg in node.args[1:])
        if node.name == "Error":
            return self._fusable(node.args[0], names)
        if spec.special or not spec.deterministic or spec.returns in MULTI_RETURNS or spec.waiver:
            return False
        for param, arg in zip(spec.params, node.args, strict=False):
            if param.kind in SCALAR_KINDS or param.kind == "enum":
                if not self._fusable(arg, names):
                    return False
            else:
                whole: set[str] = set()
                if not self._fusable(arg, whole) or whole:
                    return False
        return True

    # --- leaves -------------------------------------------------------------------------------

    def compile_String(self, node: n.String, env: Env) -> Lowered:
        return constant(node.value, "str")

    def compile_Number(self, node: n.Number, env: Env) -> Lowered:
        return constant(node.value, "num")

    def compile_Boolean(self, node: n.Boolean, env: Env) -> Lowered:
        return constant(node.value, "bool")

    def compile_Constant(self, node: n.Constant, env: Env) -> Lowered:
        if node.name == "CRLF":
            return constant(CRLF_TEXT, "str")
        if node.name == "NULL":
            return null()
        flag = FLAG_AUTHORITATIVE_NULL if node.name == "AuthoritativeNull" else FLAG_IGNORE_THIS_FLOW
        return Lowered(pl.lit(None, dtype=pl.Utf8), "null", flag=pl.lit(flag, dtype=_FLAG), const=None)

    def compile_EnumWord(self, node: n.EnumWord, env: Env) -> Lowered:
        raise self.type_error(f"{node.name} can only be passed as a function argument", node)

    def column(self, name: str, node: n.Node) -> Lowered:
        if self.schema is None:
            return Lowered(pl.col(name), "str")
        if name not in self.schema:
            # Absent from the frame: NULL of no particular type (as the NULL literal), so that it fits
            # wherever the attribute is used, e.g. IIF(IsPresent([binary]), [binary], [otherBinary]).
            return null()
        dtype = self.schema[name]
        typed = schema_type(dtype)
        if typed is None:
            raise self.type_error(f"attribute {name} has the unsupported column type {dtype}", node)
        vtype, multi = typed
        expr = pl.col(name)
        target = pl.List(DTYPES[vtype]) if multi else DTYPES[vtype]
        if dtype != target:
            expr = expr.cast(target)
        return Lowered(expr, vtype, multi)

    def frame_value(self, value: Lowered, env: Env) -> Lowered:
        """A frame-level value used at ``env``'s depth (captured through each enclosing scope)."""
        return self.lift_to(value, 0, env)

    def lift_to(self, value: Lowered, depth: int, env: Env) -> Lowered:
        if value.is_const or env.depth == depth:
            return value
        assert env.scope is not None
        outer = self.lift_to(value, depth, env.scope.parent)
        return env.scope.capture(outer)

    def compile_Attribute(self, node: n.Attribute, env: Env) -> Lowered:
        if node.name in self.element_attr:
            return self.element_attr[node.name]
        return self.frame_value(self.column(node.name, node), env)

    def compile_Parameter(self, node: n.Parameter, env: Env) -> Lowered:
        if node.name not in self.params:
            raise UnknownParameterError(
                f"parameter %{node.name}% is not defined", self.source, node.start, node.end
            )
        value = self.params[node.name]
        if isinstance(value, ColumnParameter):
            if self.schema is not None and value.column not in self.schema:
                raise UnknownParameterError(
                    f"parameter %{node.name}% is per object, but the frame has no column {value.column!r}",
                    self.source,
                    node.start,
                    node.end,
                )
            return self.frame_value(Lowered(pl.col(value.column).cast(pl.Utf8), "str"), env)
        return constant(value, "str")

    def compile_Variable(self, node: n.Variable, env: Env) -> Lowered:
        binding = env.vars.get(node.name)
        if binding is None:
            raise UnboundVariableError(
                f"variable ${node.name} is not bound here", self.source, node.start, node.end
            )
        return self.lift_to(binding.value, binding.depth, env)

    # --- operators --------------------------------------------------------------------------------

    def apply(
        self,
        node: n.Node,
        args: list[Lowered],
        scalar: list[bool],
        body: Callable[[list[Lowered]], Lowered],
        *,
        no_multi_result: str | None = None,
    ) -> Lowered:
        """``body`` on scalar arguments, per value when an argument flagged scalar is a list."""
        arg_error = first_error(*(a.error for a in args))
        lifted = [i for i, a in enumerate(args) if a.multi and scalar[i]]
        if not lifted:
            out = body(args)
            nulls = out.error_nulls_value and arg_error is None
            return replace(out, error=first_error(arg_error, out.error), flag=None, error_nulls_value=nulls)
        lists = [args[i] for i in lifted]
        captured = [i for i, a in enumerate(args) if i not in lifted and not a.is_const]
        result: dict[str, Lowered] = {}

        def element_body(elements: list[pl.Expr], scalars: list[pl.Expr]) -> pl.Expr:
            inner: list[Lowered] = []
            for i, a in enumerate(args):
                if i in lifted:
                    inner.append(Lowered(elements[lifted.index(i)], a.type))
                elif i in captured:
                    inner.append(Lowered(scalars[captured.index(i)], a.type, a.multi))
                else:
                    inner.append(replace(a, error=None, flag=None))
            out = body(inner)
            if out.multi:
                raise self.type_error(
                    no_multi_result or "this function cannot be applied to each value", node
                )
            result["out"] = out
            if out.error is not None:
                return pl.struct(out.expr.alias("v"), out.error.alias("e"))
            return out.expr

        expr, mismatch = map_lists(lists, [args[i] for i in captured], element_body)
        out = result["out"]
        error = first_error(arg_error, mismatch)
        if out.error is not None:
            values = expr.list.eval(pl.element().struct.field("v"))
            element_errors = expr.list.eval(pl.element().struct.field("e")).list.drop_nulls().list.first()
            expr = values
            error = first_error(error, element_errors)
        return Lowered(expr, out.type, True, error, null_items=True)

    def compile_Negate(self, node: n.Negate, env: Env) -> Lowered:
        operand = self.compile(node.operand, env)

        def body(args: list[Lowered]) -> Lowered:
            value = self.coerce(args[0], "num", node.operand, "-")
            return Lowered(-value.expr, "num", error=value.error)

        return self.apply(node, [operand], [True], body)

    def compile_BinaryOp(self, node: n.BinaryOp, env: Env) -> Lowered:
        test = self.instr_test(node, env)
        if test is not None:
            return test
        left = self.compile(node.left, env)
        right = self.compile(node.right, env)
        return self.apply(node, [left, right], [True, True], lambda args: self.binary(node, args[0], args[1]))

    def instr_test(self, node: n.BinaryOp, env: Env) -> Lowered | None:
        """``InStr(x,"lit")=1`` is starts_with and ``InStr(x,"lit")>0`` is contains (the default rules'
        idioms): same results, without computing a position."""
        call, bound = node.left, node.right
        if not (
            isinstance(call, n.Call)
            and call.name == "InStr"
            and len(call.args) == 2
            and isinstance(bound, n.Number)
        ):
            return None
        needle = call.args[1]
        if not (isinstance(needle, n.String) and needle.value):
            return None
        if (node.op, bound.value) == ("=", 1):
            test = "starts_with"
        elif (node.op, bound.value) == (">", 0):
            test = "contains"
        else:
            return None
        hay = self.compile(call.args[0], env)
        text = needle.value

        def body(args: list[Lowered]) -> Lowered:
            value = self.coerce(args[0], "str", call.args[0], "InStr argument string")
            expr = (
                value.expr.str.starts_with(text)
                if test == "starts_with"
                else value.expr.str.contains(text, literal=True)
            )
            return Lowered(expr, "bool", error=value.error)

        return self.apply(node, [hay], [True], body)

    def binary(self, node: n.BinaryOp, a: Lowered, b: Lowered) -> Lowered:
        op = node.op
        if op == "&":
            try:
                ta, tb = to_text(a), to_text(b)
            except CoercionTypeError as exc:
                raise self.type_error(f"& cannot concatenate {exc.found}", node) from exc
            both_null = ta.expr.is_null() & tb.expr.is_null()
            joined = ta.expr.fill_null("") + tb.expr.fill_null("")
            return Lowered(pl.when(~both_null).then(joined), "str", error=first_error(ta.error, tb.error))
        if op in ("&&", "||"):
            x = self.coerce(a, "bool", node.left, op)
            y = self.coerce(b, "bool", node.right, op)
            expr = x.expr & y.expr if op == "&&" else x.expr | y.expr
            return Lowered(expr, "bool", error=first_error(x.error, y.error))
        if op in n.COMPARISON:
            return self.compare(node, a, b)
        if op == "+" and {a.type, b.type} <= {"str", "null"} and "str" in (a.type, b.type):
            return Lowered(a.expr.cast(pl.Utf8) + b.expr.cast(pl.Utf8), "str")
        x = self.coerce(a, "num", node.left, op)
        y = self.coerce(b, "num", node.right, op)
        expr = x.expr + y.expr if op == "+" else x.expr - y.expr if op == "-" else x.expr * y.expr
        return Lowered(expr, "num", error=first_error(x.error, y.error))

    def compare(self, node: n.BinaryOp, a: Lowered, b: Lowered) -> Lowered:
        from transforms.expressions.coerce import parse_boolean_expr, parse_integer_expr

        x, y = a.expr, b.expr
        if "null" in (a.type, b.type):
            return Lowered(pl.lit(None, dtype=pl.Boolean), "bool")
        if a.type != b.type:
            pair = {a.type, b.type}
            if pair == {"num", "str"}:
                x = parse_integer_expr(x) if a.type == "str" else x
                y = parse_integer_expr(y) if b.type == "str" else y
            elif pair == {"bool", "str"}:
                x = parse_boolean_expr(x) if a.type == "str" else x
                y = parse_boolean_expr(y) if b.type == "str" else y
            elif pair == {"bool", "num"}:
                x = x != 0 if a.type == "num" else x
                y = y != 0 if b.type == "num" else y
            else:
                raise self.type_error(f"cannot compare {a.type} with {b.type}", node)
        elif a.type == "bin" and node.op not in ("=", "<>"):
            raise self.type_error("binary values can only be compared with = and <>", node)
        ops = {"=": x.eq, "<>": x.ne, "<": x.lt, "<=": x.le, ">": x.gt, ">=": x.ge}
        return Lowered(ops[node.op](y), "bool")

    # --- calls ---------------------------------------------------------------------------------------

    def compile_Call(self, node: n.Call, env: Env) -> Lowered:
        spec = REGISTRY[node.name]
        if spec.special:
            handler: Callable[[n.Call, Env], Lowered] = getattr(self, "call_" + node.name)
            return handler(node, env)
        if spec.lower is None:
            raise NotVectorizableError(
                f"{spec.name} has no vectorized lowering", self.source, node.start, node.end
            )
        return self.call_generic(spec, node, env)

    def as_list(self, value: Lowered) -> Lowered:
        """An ``mv`` argument: NULL elements dropped, absent values an empty list."""
        vtype: VType = "str" if value.type == "null" else value.type
        empty = pl.lit([], dtype=pl.List(DTYPES[vtype]))
        if value.multi:
            items = value.expr.list.drop_nulls() if value.null_items else value.expr
            expr = pl.when(value.expr.is_null()).then(empty).otherwise(items)
        else:
            expr = (
                pl.when(value.expr.is_null())
                .then(empty)
                .otherwise(pl.concat_list([value.expr.cast(DTYPES[vtype])]))
            )
        return Lowered(expr, vtype, True, value.error)

    def call_generic(self, spec: FunctionSpec, node: n.Call, env: Env) -> Lowered:
        args: list[Lowered] = []
        kinds: list[str] = []
        for param, arg in zip(spec.params, node.args, strict=False):
            kinds.append(param.kind)
            if param.kind == "enum":
                word = (
                    arg.name
                    if isinstance(arg, n.EnumWord)
                    else arg.value
                    if isinstance(arg, n.String)
                    else None
                )
                args.append(constant(word, "str"))
                continue
            value = self.compile(arg, env)
            if param.kind == "mv":
                value = self.as_list(value)
            args.append(replace(value, flag=None))
        scalar = [kind in SCALAR_KINDS for kind in kinds]

        def body(items: list[Lowered]) -> Lowered:
            coerced = []
            for item, param, arg in zip(items, spec.params, node.args, strict=False):
                if param.kind in SCALAR_KINDS:
                    item = self.coerce(item, param.kind, arg, f"{spec.name} argument {param.name}")
                coerced.append(item)
            assert spec.lower is not None
            try:
                out: Lowered = spec.lower(self.ctx, *coerced)
            except NotVectorizableError as exc:
                raise NotVectorizableError(exc.message, self.source, node.start, node.end) from exc
            extra = first_error(*(c.error for c in coerced))
            nulls = out.error_nulls_value and extra is None
            return replace(out, error=first_error(extra, out.error), error_nulls_value=nulls)

        return self.apply(
            node,
            args,
            scalar,
            body,
            no_multi_result=f"{spec.name} cannot be applied to each value of a multi-valued argument",
        )

    def unify(self, values: list[Lowered], node: n.Node, what: str, join_lists: bool = True) -> list[Lowered]:
        """Branches of IIF/Switch share one column type: NULL takes the other type, scalars join lists."""
        typed = [v.type for v in values if v.type != "null"]
        if len(set(typed)) > 1:
            raise self.type_error(
                f"{what} values have different types: {', '.join(sorted(set(typed)))}", node
            )
        vtype: VType = typed[0] if typed else "null"
        multi = any(v.multi for v in values) and join_lists
        out = []
        for v in values:
            expr = v.expr.cast(DTYPES[vtype]) if v.type == "null" else v.expr
            if multi and not v.multi:
                expr = pl.when(expr.is_not_null()).then(pl.concat_list([expr]))
                if v.type == "null":
                    expr = pl.lit(None, dtype=pl.List(DTYPES[vtype]))
            out.append(replace(v, expr=expr, type=vtype, multi=multi or v.multi))
        return out

    def call_IIF(self, node: n.Call, env: Env) -> Lowered:
        cond = self.compile(node.args[0], env)
        branches = [self.compile(node.args[1], env), self.compile(node.args[2], env)]
        if cond.multi:
            then, other = self.unify(branches, node, "IIF", join_lists=False)
            return self.iif_per_value(node, cond, then, other)
        then, other = self.unify(branches, node, "IIF")
        c = self.coerce(cond, "bool", node.args[0], "IIF condition")
        chosen = c.expr.fill_null(False)
        expr = pl.when(chosen).then(then.expr).otherwise(other.expr)
        error = first_error(c.error, self.choose(chosen, then.error, other.error))
        flag = self.choose(chosen, then.flag, other.flag, default=pl.lit(0, dtype=_FLAG))
        nulls = c.error is None and all(b.error is None or b.error_nulls_value for b in (then, other))
        return Lowered(
            expr,
            then.type,
            then.multi,
            error,
            flag,
            null_items=then.null_items or other.null_items,
            error_nulls_value=nulls,
        )

    @staticmethod
    def choose(
        cond: pl.Expr, a: pl.Expr | None, b: pl.Expr | None, default: pl.Expr | None = None
    ) -> pl.Expr | None:
        if a is None and b is None:
            return None
        fill = default if default is not None else pl.lit(None, dtype=pl.Utf8)
        return pl.when(cond).then(a if a is not None else fill).otherwise(b if b is not None else fill)

    def iif_per_value(self, node: n.Call, cond: Lowered, then: Lowered, other: Lowered) -> Lowered:
        if then.type == "null" and other.type == "null":
            then = replace(then, expr=then.expr.cast(pl.Utf8), type="str")
            other = replace(other, expr=other.expr.cast(pl.Utf8), type="str")
        cond = Lowered(cond.expr, cond.type, True, cond.error)

        def body(args: list[Lowered]) -> Lowered:
            c = self.coerce(args[0], "bool", node.args[0], "IIF condition")
            picked = pl.when(c.expr.fill_null(False)).then(args[1].expr).otherwise(args[2].expr)
            return Lowered(picked, then.type if then.type != "null" else other.type, error=c.error)

        t = replace(then, error=None, flag=None)
        o = replace(other, error=None, flag=None)
        out = self.apply(node, [cond, t, o], [True, True, True], body)
        bools = (
            cond.expr.list.eval(pl.element().cast(pl.Boolean, strict=False).fill_null(False))
            if cond.type == "bool"
            else None
        )
        branch_errors = None
        if then.error is not None or other.error is not None:
            chooses_then = bools.list.any() if bools is not None else pl.lit(True)
            chooses_other = (~bools.list.all()) if bools is not None else pl.lit(True)
            branch_errors = first_error(
                pl.when(chooses_then).then(then.error) if then.error is not None else None,
                pl.when(chooses_other).then(other.error) if other.error is not None else None,
            )
        return replace(out, error=first_error(out.error, branch_errors))

    def call_Switch(self, node: n.Call, env: Env) -> Lowered:
        conds: list[Lowered] = []
        for cond_node in node.args[0::2]:
            cond = self.compile(cond_node, env)
            if cond.multi:
                raise self.type_error("Switch conditions must be single-valued", cond_node)
            conds.append(self.coerce(cond, "bool", cond_node, "Switch condition"))
        values = self.unify([self.compile(v, env) for v in node.args[1::2]], node, "Switch")
        expr: Any = pl
        error_chain: Any = pl
        flag_chain: Any = pl
        any_error = any(v.error is not None for v in values)
        any_flag = any(v.flag is not None for v in values)
        null_str = pl.lit(None, dtype=pl.Utf8)
        for c, v in zip(conds, values, strict=True):
            hit = c.expr.fill_null(False)
            expr = expr.when(hit).then(v.expr)
            error_chain = error_chain.when(hit).then(v.error if v.error is not None else null_str)
            flag_chain = flag_chain.when(hit).then(v.flag if v.flag is not None else pl.lit(0, dtype=_FLAG))
        value = expr.otherwise(pl.lit(None, dtype=values[0].dtype))
        chosen_error = error_chain.otherwise(null_str) if any_error else None
        flag = flag_chain.otherwise(pl.lit(0, dtype=_FLAG)) if any_flag else None
        error = first_error(*(c.error for c in conds), chosen_error)
        return Lowered(
            value, values[0].type, values[0].multi, error, flag, null_items=any(v.null_items for v in values)
        )

    def call_Error(self, node: n.Call, env: Env) -> Lowered:
        message = self.compile(node.args[0], env)
        if message.multi:
            message = Lowered(
                message.expr.list.join(" "),
                message.type if message.type != "null" else "str",
                False,
                message.error,
            )
        try:
            text = to_text(message)
        except CoercionTypeError as exc:
            raise self.type_error("Error expects a message text", node.args[0]) from exc
        raised = text.expr.fill_null("")
        return Lowered(
            pl.lit(None, dtype=pl.Utf8),
            "null",
            error=first_error(message.error, raised),
            error_nulls_value=True,
        )

    def call_With(self, node: n.Call, env: Env) -> Lowered:
        var = node.args[0]
        assert isinstance(var, n.Variable)
        bound = self.compile(node.args[1], env)
        inner = Env(
            {**env.vars, var.name: Binding(replace(bound, error=None, flag=None), env.depth)},
            env.depth,
            env.scope,
        )
        out = self.compile(node.args[2], inner)
        nulls = out.error_nulls_value and bound.error is None
        return replace(out, error=first_error(bound.error, out.error), error_nulls_value=nulls)

    def _each(self, node: n.Call, env: Env, select: bool) -> Lowered:
        var = node.args[0]
        assert isinstance(var, n.Variable)
        source = self.as_list(self.compile(node.args[1], env))
        source_error = source.error
        source = replace(source, error=None)
        body_node = node.args[2]

        def compile_body(packed: bool) -> tuple[Lowered, Scope]:
            scope = Scope(env, packed)
            item_expr = element_expr(0, 1) if packed else pl.element()
            item = Lowered(item_expr, source.type)
            inner = Env({**env.vars, var.name: Binding(item, env.depth + 1)}, env.depth + 1, scope)
            return self.compile(body_node, inner), scope

        body, scope = compile_body(True)
        if not scope.captures:
            body, scope = compile_body(False)
        if body.multi:
            what = (
                "the Select function must give one value per item"
                if select
                else "the Where condition must be single-valued"
            )
            raise self.type_error(what, body_node)
        item_expr = element_expr(0, 1) if scope.captures else pl.element()
        if select:
            result_type: VType = body.type if body.type != "null" else "str"
            value_expr = body.expr.cast(DTYPES[result_type])
        else:
            cond = self.coerce(body, "bool", body_node, "Where condition")
            value_expr = item_expr.filter(cond.expr.fill_null(False))
            result_type = source.type
            body = replace(body, error=cond.error)
        values, _ = map_lists([source], scope.captures, lambda e, s: value_expr)
        error = first_error(source_error, *scope.errors)
        if body.error is not None:
            element_errors, _ = map_lists([source], scope.captures, lambda e, s: body.error)  # type: ignore[arg-type,return-value]
            error = first_error(error, element_errors.list.drop_nulls().list.first())
        return Lowered(values, result_type, True, error, null_items=select)

    def call_Where(self, node: n.Call, env: Env) -> Lowered:
        return self._each(node, env, select=False)

    def call_Select(self, node: n.Call, env: Env) -> Lowered:
        return self._each(node, env, select=True)

    def imported_column(self, name: str, node: n.Node) -> Lowered:
        if self.schema is not None and IMPORTED_PREFIX + name in self.schema:
            return self.column(IMPORTED_PREFIX + name, node)
        return self.column(name, node)

    def call_ImportedValue(self, node: n.Call, env: Env) -> Lowered:
        arg = node.args[0]
        assert isinstance(arg, n.String)
        return self.frame_value(self.imported_column(arg.value, node), env)

    def call_ValueCount(self, node: n.Call, env: Env) -> Lowered:
        arg = node.args[0]
        assert isinstance(arg, n.String)
        column = self.column(arg.value, node)
        if column.multi:
            count = column.expr.list.len().cast(pl.Int64).fill_null(0)
        else:
            count = column.expr.is_not_null().cast(pl.Int64)
        return self.frame_value(Lowered(count, "num"), env)


def finish(value: Lowered) -> tuple[pl.Expr, pl.Expr | None, pl.Expr | None]:
    """Top-level value, error and flag expressions with the engine's conventions applied."""
    expr = value.expr
    if value.type == "null":
        expr = expr.cast(pl.List(pl.Utf8) if value.multi else pl.Utf8)
    if value.multi:
        if value.null_items:
            expr = expr.list.drop_nulls()
        expr = pl.when(expr.list.len() > 0).then(expr)
    error = value.error
    flag = value.flag
    # Masking re-evaluates the error expression (Polars shares no subexpressions under when/then), so
    # it is skipped when the value is already null on error rows (then the flag is 0 there too).
    if error is not None and not value.error_nulls_value:
        expr = pl.when(error.is_null()).then(expr)
        if flag is not None:
            flag = pl.when(error.is_null()).then(flag).otherwise(pl.lit(0, dtype=_FLAG))
    if flag is not None:
        flag = flag.fill_null(0).cast(_FLAG)
    return (
        _per_row(expr),
        _per_row(error) if error is not None else None,
        _per_row(flag) if flag is not None else None,
    )


def _per_row(expr: pl.Expr) -> pl.Expr:
    """A constant expression would give one row in ``select``; repeat it to the frame's height."""
    if expr.meta.root_names():
        return expr
    return pl.when(pl.repeat(True, pl.len())).then(expr)
