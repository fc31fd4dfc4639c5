"""What the Polars compiler produces for one node: a value expression plus its static type and channels.

``error`` is a Utf8 expression holding the first runtime error of the row (or null), ``flag`` a UInt8
expression for the special literals. A node with ``multi`` set evaluates to a list column.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final, Literal

import polars as pl

VType = Literal["str", "num", "bool", "bin", "dt", "null"]

DTYPES: Final[dict[str, pl.DataType]] = {
    "str": pl.Utf8(),
    "num": pl.Int64(),
    "bool": pl.Boolean(),
    "bin": pl.Binary(),
    "dt": pl.Datetime("us", "UTC"),
    "null": pl.Utf8(),
}

_MISSING: Final = object()


@dataclass(frozen=True)
class Lowered:
    expr: pl.Expr
    type: VType
    multi: bool = False
    error: pl.Expr | None = None
    flag: pl.Expr | None = None
    const: object = _MISSING
    # A list value that may hold NULL elements (per-value results); attribute lists hold none.
    null_items: bool = False
    # The value is already null on every row with an error, so the result needs no masking.
    error_nulls_value: bool = False

    @property
    def is_const(self) -> bool:
        return self.const is not _MISSING

    def with_expr(self, expr: pl.Expr, type_: VType | None = None) -> Lowered:
        return replace(self, expr=expr, type=type_ or self.type, const=_MISSING)

    @property
    def dtype(self) -> pl.DataType:
        base = DTYPES[self.type]
        return pl.List(base) if self.multi else base


def constant(value: object, type_: VType) -> Lowered:
    return Lowered(pl.lit(value, dtype=DTYPES[type_]), type_, const=value)


def null(type_: VType = "null") -> Lowered:
    return Lowered(pl.lit(None, dtype=DTYPES[type_]), type_, const=None)


def first_error(*errors: pl.Expr | None) -> pl.Expr | None:
    present = [e for e in errors if e is not None]
    if not present:
        return None
    return present[0] if len(present) == 1 else pl.coalesce(present)


def error_when(condition: pl.Expr, message: pl.Expr | str) -> pl.Expr:
    text = pl.lit(message, dtype=pl.Utf8) if isinstance(message, str) else message
    return pl.when(condition).then(text).otherwise(pl.lit(None, dtype=pl.Utf8))
