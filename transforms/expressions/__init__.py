"""The Azure AD Connect expression language: parser, reference evaluator and Polars compiler.

Public API::

    parse(text) -> Node
    compile_expression(text_or_node, *, params=None, schema=None) -> CompiledExpression
    evaluate(text_or_node, row, *, params=None, imported=None, schema=None) -> object

Conventions of the compiled form (see :class:`CompiledExpression`): ``expr`` is the value (null for NULL,
AuthoritativeNull, IgnoreThisFlow and for rows with an error), ``flag_expr`` tells the special literals
apart per row (0 value/NULL, 1 AuthoritativeNull, 2 IgnoreThisFlow), ``error_expr`` holds the per-row
runtime error message (``Error("...")``, an Item out of range, a failed conversion) or null.

Frame conventions: single-valued text Utf8, multi-valued List(Utf8)/List(Binary), binary Binary,
numbers Int64, booleans Boolean, dates Datetime("us", "UTC"). ``schema`` tells the compiler the column
types; without it every attribute is single-valued text. With a schema, an attribute absent from it is
NULL. ``ImportedValue("x")`` reads column ``_imported.x`` when the schema has it, else column ``x``.

``params`` maps parameter names (``Domain.FQDN``) to text, or to a :class:`ColumnParameter` naming the
column that holds the value of each row (a per-object parameter: the compiled form reads the column,
the reference evaluator ``row[column]``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from transforms.expressions import render as _render_module  # the module; the function below takes its name
from transforms.expressions.errors import (
    ArityError,
    ExpressionError,
    ExpressionRuntimeError,
    ExpressionSyntaxError,
    ExpressionTypeError,
    NotVectorizableError,
    UnboundVariableError,
    UnknownFunctionError,
    UnknownParameterError,
)
from transforms.expressions.nodes import Node
from transforms.expressions.values import (
    AUTHORITATIVE_NULL,
    FLAG_AUTHORITATIVE_NULL,
    FLAG_IGNORE_THIS_FLOW,
    FLAG_NONE,
    IGNORE_THIS_FLOW,
    ColumnParameter,
    ParamValue,
    Special,
)

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "AUTHORITATIVE_NULL",
    "FLAG_AUTHORITATIVE_NULL",
    "FLAG_IGNORE_THIS_FLOW",
    "FLAG_NONE",
    "IGNORE_THIS_FLOW",
    "ArityError",
    "ColumnParameter",
    "CompiledExpression",
    "ExpressionError",
    "ExpressionRuntimeError",
    "ExpressionSyntaxError",
    "ExpressionTypeError",
    "Node",
    "NotVectorizableError",
    "ParamValue",
    "Special",
    "UnboundVariableError",
    "UnknownFunctionError",
    "UnknownParameterError",
    "attributes_of",
    "compile_expression",
    "evaluate",
    "parse",
    "render",
]


def parse(text: str) -> Node:
    """Parse one expression; raises an :class:`ExpressionError` subclass carrying the position."""
    from transforms.expressions.parser import parse as _parse

    return _parse(text)


def render(node: Node) -> str:
    """Canonical text of a tree: ``parse(render(tree)) == tree``."""
    return _render_module.render(node)


def _source_and_node(text_or_node: str | Node) -> tuple[str, Node]:
    if isinstance(text_or_node, str):
        return text_or_node, parse(text_or_node)
    return render(text_or_node), text_or_node


def attributes_of(node: Node) -> frozenset[str]:
    """Attribute names read: ``[x]`` references and the names inside ImportedValue/ValueCount."""
    from transforms.expressions import nodes as n

    names: set[str] = set()
    for item in n.walk(node):
        if isinstance(item, n.Attribute):
            names.add(item.name)
        elif isinstance(item, n.Call) and item.name in ("ImportedValue", "ValueCount"):
            arg = item.args[0] if item.args else None
            if isinstance(arg, n.String):
                names.add(arg.value)
    return frozenset(names)


@dataclass(frozen=True)
class CompiledExpression:
    """An expression lowered to Polars.

    ``expr`` evaluates over a frame whose columns are the attribute names. ``flag_expr`` (UInt8, or None
    when the expression cannot produce a special literal): 0 normal value or NULL, 1 AuthoritativeNull,
    2 IgnoreThisFlow. ``error_expr`` (Utf8, or None when no runtime error is possible): the message of
    the row's runtime error, with ``expr`` null on those rows. ``multi`` says the value is a list.
    """

    source: str
    node: Node
    expr: pl.Expr
    attributes: frozenset[str]
    flag_expr: pl.Expr | None
    error_expr: pl.Expr | None
    value_type: str
    multi: bool
    waivers: tuple[str, ...] = ()


def compile_expression(
    text_or_node: str | Node,
    *,
    params: Mapping[str, ParamValue] | None = None,
    schema: Mapping[str, pl.DataType] | None = None,
    now: datetime | None = None,
    seed: int | None = None,
) -> CompiledExpression:
    """Compile to Polars; raises :class:`ExpressionError` subclasses (type errors, unvectorizable uses)."""
    from transforms.expressions import nodes as n
    from transforms.expressions.compiler import Compiler, Env, finish
    from transforms.expressions.context import CompileContext
    from transforms.expressions.functions import REGISTRY

    source, node = _source_and_node(text_or_node)
    ctx = CompileContext()
    if now is not None:
        ctx.now = now
    if seed is not None:
        ctx.seed = seed
    lowered = Compiler(source, params if params is not None else {}, schema, ctx).compile(node, Env({}))
    expr, error, flag = finish(lowered)
    waivers = tuple(
        sorted(
            {
                f"{item.name}: {REGISTRY[item.name].waiver}"
                for item in n.walk(node)
                if isinstance(item, n.Call) and REGISTRY[item.name].waiver
            }
        )
    )
    return CompiledExpression(
        source=source,
        node=node,
        expr=expr,
        attributes=attributes_of(node),
        flag_expr=flag,
        error_expr=error,
        value_type="str" if lowered.type == "null" else lowered.type,
        multi=lowered.multi,
        waivers=waivers,
    )


def evaluate(
    text_or_node: str | Node,
    row: Mapping[str, object],
    *,
    params: Mapping[str, ParamValue] | None = None,
    imported: Mapping[str, object] | None = None,
    schema: Mapping[str, pl.DataType] | None = None,
    now: datetime | None = None,
    seed: int | None = None,
) -> object:
    """Reference evaluation over one object.

    Returns None, str, int, bool, bytes, a UTC datetime, a list (multi-valued, NULLs dropped, never
    empty) or one of the sentinels :data:`AUTHORITATIVE_NULL` / :data:`IGNORE_THIS_FLOW`. ``Error()``
    and invalid values raise :class:`ExpressionRuntimeError`. ``schema`` (optional) marks list columns so
    that an absent multi-valued attribute behaves as the vectorized back end's null list.
    """
    import random

    from transforms.expressions.context import EvalContext
    from transforms.expressions.reference import Evaluator

    source: str | Node
    if isinstance(text_or_node, str):
        source, node = text_or_node, parse(text_or_node)
    else:
        source, node = text_or_node, text_or_node
    ctx = EvalContext()
    if now is not None:
        ctx.now = now
    if seed is not None:
        ctx.rng = random.Random(seed)
    multi: frozenset[str] = frozenset()
    if schema is not None:
        import polars as pl

        multi = frozenset(name for name, dtype in schema.items() if isinstance(dtype, pl.List))
    return Evaluator(source, row, params or {}, imported, multi, ctx).run(node)
