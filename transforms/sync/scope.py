"""Scoping filters as Polars boolean expressions (spec 2.3).

AND inside a group, OR across groups, no groups = every object. String comparisons for EQUAL, ISIN,
CONTAINS, STARTSWITH and ENDSWITH ignore case (directory values such as ``TRUE``/``True`` are spelled
both ways in the default rules); the ordinal comparisons (LESSTHAN...) are case-sensitive, and numeric
when the attribute is an integer column. A multi-valued attribute satisfies a positive operator when
any of its values does. Every negative operator is the negation of its positive one, so a null
attribute satisfies it (``isCriticalSystemObject NOTEQUAL TRUE`` holds when the attribute is absent,
as tshoot-connect-object-not-syncing.md says).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import polars as pl
from polars._typing import PolarsDataType

from transforms.rules.model import ScopeCondition, ScopeGroup, ScopeOperator
from transforms.schema import DN

# Returns the lower-cased DNs of the members of the group with the given DN (for ISMEMBEROF).
MemberLookup = Callable[[str], "Sequence[str] | pl.Series"]

_NEGATIONS: dict[ScopeOperator, ScopeOperator] = {
    ScopeOperator.NOTEQUAL: ScopeOperator.EQUAL,
    ScopeOperator.NOTCONTAINS: ScopeOperator.CONTAINS,
    ScopeOperator.NOTSTARTSWITH: ScopeOperator.STARTSWITH,
    ScopeOperator.NOTENDSWITH: ScopeOperator.ENDSWITH,
    ScopeOperator.ISNOTNULL: ScopeOperator.ISNULL,
    ScopeOperator.ISNOTIN: ScopeOperator.ISIN,
    ScopeOperator.ISNOTBITSET: ScopeOperator.ISBITSET,
    ScopeOperator.ISNOTMEMBEROF: ScopeOperator.ISMEMBEROF,
}

_INTEGER_TYPES = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64)


def scope_expr(
    groups: Sequence[ScopeGroup],
    schema: Mapping[str, pl.DataType],
    members: MemberLookup | None = None,
) -> pl.Expr:
    """A Boolean expression, never null, true for the rows in scope."""
    if not groups:
        return pl.lit(True)
    out: pl.Expr | None = None
    for group in groups:
        part: pl.Expr = pl.lit(True)
        for condition in group.conditions:
            part = part & condition_expr(condition, schema, members)
        out = part if out is None else out | part
    assert out is not None
    return out


def condition_expr(
    condition: ScopeCondition, schema: Mapping[str, pl.DataType], members: MemberLookup | None = None
) -> pl.Expr:
    op = condition.operator
    if op in _NEGATIONS:
        return ~_positive(_NEGATIONS[op], condition, schema, members)
    return _positive(op, condition, schema, members)


def _positive(
    op: ScopeOperator,
    condition: ScopeCondition,
    schema: Mapping[str, pl.DataType],
    members: MemberLookup | None,
) -> pl.Expr:
    name = condition.attribute
    value = condition.value or ""
    if op is ScopeOperator.ISMEMBEROF:
        found = members(value) if members is not None else []
        dns = found if isinstance(found, pl.Series) else pl.Series(list(found), dtype=pl.String)
        return pl.col(DN).str.to_lowercase().is_in(dns.implode()).fill_null(False)
    dtype = schema.get(name)
    if dtype is None:
        # An attribute the connector does not hold is null on every object.
        return pl.lit(op is ScopeOperator.ISNULL)
    column = pl.col(name)
    if isinstance(dtype, pl.List):
        inner = dtype.inner
        if op is ScopeOperator.ISNULL:
            return column.is_null() | (column.list.len() == 0)
        element = _element_predicate(op, value, inner)
        return column.list.eval(element).list.any().fill_null(False)
    if op is ScopeOperator.ISNULL:
        if dtype == pl.String:
            return column.is_null() | (column == "")
        return column.is_null()
    return _value_predicate(op, value, column, dtype).fill_null(False)


def _element_predicate(op: ScopeOperator, value: str, inner: PolarsDataType) -> pl.Expr:
    return _value_predicate(op, value, pl.element(), inner)


def _as_int(value: str) -> int | None:
    try:
        return int(value, 0)
    except ValueError:
        return None


def _value_predicate(op: ScopeOperator, value: str, column: pl.Expr, dtype: PolarsDataType) -> pl.Expr:
    if op is ScopeOperator.ISBITSET:
        bits = _as_int(value) or 0
        number = (
            column
            if isinstance(dtype, _INTEGER_TYPES)
            else _to_text(column, dtype).cast(pl.Int64, strict=False)
        )
        return (number.cast(pl.Int64) & bits) != 0
    numeric = isinstance(dtype, _INTEGER_TYPES) and _as_int(value) is not None
    if numeric and op in _ORDINAL:
        return _ORDINAL[op](column.cast(pl.Int64), pl.lit(_as_int(value), dtype=pl.Int64))
    text = _to_text(column, dtype)
    if op in _ORDINAL:
        return _ORDINAL[op](text, pl.lit(value, dtype=pl.String))
    lowered = text.str.to_lowercase()
    needle = value.lower()
    if op in (ScopeOperator.EQUAL, ScopeOperator.ISIN):
        return lowered == needle
    if op is ScopeOperator.CONTAINS:
        return lowered.str.contains(needle, literal=True)
    if op is ScopeOperator.STARTSWITH:
        return lowered.str.starts_with(needle)
    if op is ScopeOperator.ENDSWITH:
        return lowered.str.ends_with(needle)
    raise AssertionError(f"unhandled scope operator {op}")  # pragma: no cover - enum is exhaustive


_ORDINAL: dict[ScopeOperator, Callable[[pl.Expr, pl.Expr], pl.Expr]] = {
    ScopeOperator.LESSTHAN: lambda a, b: a < b,
    ScopeOperator.LESSTHAN_OR_EQUAL: lambda a, b: a <= b,
    ScopeOperator.GREATERTHAN: lambda a, b: a > b,
    ScopeOperator.GREATERTHAN_OR_EQUAL: lambda a, b: a >= b,
}


def _to_text(column: pl.Expr, dtype: PolarsDataType) -> pl.Expr:
    if dtype == pl.String:
        return column
    if dtype == pl.Binary:
        return column.bin.encode("base64")
    if dtype == pl.Boolean:
        return pl.when(column).then(pl.lit("TRUE")).when(~column).then(pl.lit("FALSE"))
    if isinstance(dtype, pl.Datetime):
        return column.dt.to_string("%Y-%m-%dT%H:%M:%S%.fZ")
    return column.cast(pl.String)
