"""Math functions (spec 4.6)."""

from __future__ import annotations

import polars as pl

from transforms.expressions.context import CompileContext, EvalContext
from transforms.expressions.errors import ExpressionRuntimeError
from transforms.expressions.functions.registry import FunctionSpec, p, register
from transforms.expressions.lowered import Lowered, error_when

FAMILY = "math"


def bitand_ref(ctx: EvalContext, a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else a & b


def bitor_ref(ctx: EvalContext, a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else a | b


def bitand_lower(ctx: CompileContext, a: Lowered, b: Lowered) -> Lowered:
    return Lowered((a.expr & b.expr), "num")


def bitor_lower(ctx: CompileContext, a: Lowered, b: Lowered) -> Lowered:
    return Lowered((a.expr | b.expr), "num")


def randomnum_ref(ctx: EvalContext, start: int | None, end: int | None) -> int | None:
    if start is None or end is None:
        return None
    if end < start:
        raise ExpressionRuntimeError("RandomNum needs start <= end", "expression-evaluation-error")
    return ctx.rng.randint(start, end)


def randomnum_lower(ctx: CompileContext, start: Lowered, end: Lowered) -> Lowered:
    span = end.expr - start.expr + 1
    draw = (pl.int_range(pl.len(), dtype=pl.UInt64).hash(ctx.next_seed()) % (2**62)).cast(pl.Int64)
    value = pl.when(span > 0).then(start.expr + draw % pl.max_horizontal(span, pl.lit(1)))
    return Lowered(value, "num", error=error_when(span <= 0, "RandomNum needs start <= end"))


register(
    FunctionSpec("BitAnd", FAMILY, (p("value1", "num"), p("value2", "num")), "num", bitand_ref, bitand_lower)
)
register(
    FunctionSpec("BitOr", FAMILY, (p("value1", "num"), p("value2", "num")), "num", bitor_ref, bitor_lower)
)
register(
    FunctionSpec(
        "RandomNum",
        FAMILY,
        (p("start", "num"), p("end", "num")),
        "num",
        randomnum_ref,
        randomnum_lower,
        deterministic=False,
    )
)
