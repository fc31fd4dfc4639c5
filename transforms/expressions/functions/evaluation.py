"""Evaluation functions (spec 4.5): predicates over values, never null."""

from __future__ import annotations

import re
from datetime import datetime

import polars as pl

from transforms.expressions.context import CompileContext, EvalContext
from transforms.expressions.functions.registry import FunctionSpec, p, register
from transforms.expressions.lowered import Lowered
from transforms.expressions.values import GUID_RE, parse_date, parse_integer

FAMILY = "evaluation"


def _bool(expr: pl.Expr) -> Lowered:
    return Lowered(expr, "bool")


def _is_empty_value(value: object) -> bool:
    return (
        value is None
        or value in ("", b"")
        or (isinstance(value, list) and not [v for v in value if v is not None])
    )


def isbitset_ref(ctx: EvalContext, value: int | None, flag: int | None) -> bool | None:
    if value is None or flag is None:
        return None
    return value & flag == flag


def isbitset_lower(ctx: CompileContext, value: Lowered, flag: Lowered) -> Lowered:
    return _bool((value.expr & flag.expr) == flag.expr)


def isnull_ref(ctx: EvalContext, value: object) -> bool:
    return value is None or (isinstance(value, list) and not [v for v in value if v is not None])


def isnull_lower(ctx: CompileContext, value: Lowered) -> Lowered:
    if value.multi:
        return _bool(value.expr.is_null() | (value.expr.list.drop_nulls().list.len() == 0))
    return _bool(value.expr.is_null())


def isnullorempty_ref(ctx: EvalContext, value: object) -> bool:
    return _is_empty_value(value)


def _empty_expr(value: Lowered) -> pl.Expr:
    e = value.expr
    if value.multi:
        return e.is_null() | (e.list.drop_nulls().list.len() == 0)
    if value.type == "str":
        return e.is_null() | (e == "")
    if value.type == "bin":
        return e.is_null() | (e.bin.size() == 0)
    return e.is_null()


def isnullorempty_lower(ctx: CompileContext, value: Lowered) -> Lowered:
    return _bool(_empty_expr(value))


def ispresent_ref(ctx: EvalContext, value: object) -> bool:
    return not _is_empty_value(value)


def ispresent_lower(ctx: CompileContext, value: Lowered) -> Lowered:
    return _bool(~_empty_expr(value))


def isempty_ref(ctx: EvalContext, value: object) -> bool:
    return value == ""


def isempty_lower(ctx: CompileContext, value: Lowered) -> Lowered:
    if value.type == "str" and not value.multi:
        return _bool((value.expr == "").fill_null(False))
    return _bool(pl.lit(False))


def isguid_ref(ctx: EvalContext, value: str | None) -> bool:
    return value is not None and re.match(GUID_RE, value) is not None


def isguid_lower(ctx: CompileContext, value: Lowered) -> Lowered:
    return _bool(value.expr.str.contains(GUID_RE).fill_null(False))


def isnumeric_ref(ctx: EvalContext, value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and parse_integer(value) is not None


def isnumeric_lower(ctx: CompileContext, value: Lowered) -> Lowered:
    if value.multi:
        return _bool(pl.lit(False))
    if value.type == "num":
        return _bool(value.expr.is_not_null())
    if value.type == "str":
        from transforms.expressions.coerce import parse_integer_expr

        return _bool(parse_integer_expr(value.expr).is_not_null())
    return _bool(pl.lit(False))


def isdate_ref(ctx: EvalContext, value: object) -> bool:
    if isinstance(value, datetime):
        return True
    return isinstance(value, str) and parse_date(value) is not None


def isdate_lower(ctx: CompileContext, value: Lowered) -> Lowered:
    if value.multi:
        return _bool(pl.lit(False))
    if value.type == "dt":
        return _bool(value.expr.is_not_null())
    if value.type == "str":
        from transforms.expressions.coerce import parse_date_expr

        return _bool(parse_date_expr(value.expr).is_not_null())
    return _bool(pl.lit(False))


def isstring_ref(ctx: EvalContext, value: object) -> bool:
    return value is not None and not isinstance(value, bytes | list)


def isstring_lower(ctx: CompileContext, value: Lowered) -> Lowered:
    if value.multi or value.type in ("bin", "null"):
        return _bool(pl.lit(False))
    return _bool(value.expr.is_not_null())


register(
    FunctionSpec(
        "IsBitSet", FAMILY, (p("value", "num"), p("flag", "num")), "bool", isbitset_ref, isbitset_lower
    )
)
register(FunctionSpec("IsDate", FAMILY, (p("expression", "var"),), "bool", isdate_ref, isdate_lower))
register(FunctionSpec("IsEmpty", FAMILY, (p("expression", "var"),), "bool", isempty_ref, isempty_lower))
register(FunctionSpec("IsGuid", FAMILY, (p("expression", "str"),), "bool", isguid_ref, isguid_lower))
register(FunctionSpec("IsNull", FAMILY, (p("expression", "var"),), "bool", isnull_ref, isnull_lower))
register(
    FunctionSpec(
        "IsNullOrEmpty", FAMILY, (p("expression", "var"),), "bool", isnullorempty_ref, isnullorempty_lower
    )
)
register(FunctionSpec("IsNumeric", FAMILY, (p("expression", "var"),), "bool", isnumeric_ref, isnumeric_lower))
register(FunctionSpec("IsPresent", FAMILY, (p("expression", "var"),), "bool", ispresent_ref, ispresent_lower))
register(FunctionSpec("IsString", FAMILY, (p("expression", "var"),), "bool", isstring_ref, isstring_lower))
