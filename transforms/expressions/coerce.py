"""Implicit conversions of arguments, identical in both back ends.

An attribute whose type the compiler does not know is text, so text is converted where a function wants
a number, a boolean or a date (failing values are a per-object runtime error). Other mismatches are
type errors: the language is strongly typed.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from transforms.expressions.errors import ExpressionRuntimeError
from transforms.expressions.lowered import DTYPES, Lowered, VType, error_when, first_error
from transforms.expressions.values import (
    DATE_BODY_RE,
    DATE_FORMATS,
    DATE_ONLY_FORMATS,
    INTEGER_RE,
    OFFSET_RE,
    WHITESPACE,
    format_scalar_as_text,
    parse_boolean,
    parse_date,
    parse_integer,
)

_CODE = "expression-evaluation-error"

# kind -> the value types it accepts without conversion, and those it converts from.
ACCEPTS: dict[str, frozenset[str]] = {
    "str": frozenset({"str"}),
    "num": frozenset({"num", "str"}),
    "bool": frozenset({"bool", "num", "str"}),
    "bin": frozenset({"bin"}),
    "binstr": frozenset({"bin", "str"}),
    "dt": frozenset({"dt", "str"}),
}
TARGET: dict[str, VType] = {"str": "str", "num": "num", "bool": "bool", "bin": "bin", "dt": "dt"}


class CoercionTypeError(Exception):
    """Raised by the coercions; the back ends turn it into a positioned ExpressionTypeError."""

    def __init__(self, expected: str, found: str) -> None:
        self.expected = expected
        self.found = found
        super().__init__(f"expected {expected}, got {found}")


# --- reference -------------------------------------------------------------------------------------


def coerce_value(value: object, kind: str) -> object:
    if value is None or kind not in ACCEPTS:
        return value
    found = _type_of(value)
    if found not in ACCEPTS[kind]:
        raise CoercionTypeError(kind, found)
    if kind in ("str", "bin", "binstr") or found == kind:
        return value
    if kind == "num":
        number = parse_integer(str(value))
        if number is None:
            raise ExpressionRuntimeError(f"cannot convert '{value}' to a number", _CODE)
        return number
    if kind == "bool":
        if found == "num":
            return value != 0
        flag = parse_boolean(str(value))
        if flag is None:
            raise ExpressionRuntimeError(f"cannot convert '{value}' to a boolean", _CODE)
        return flag
    if kind == "dt":
        date = parse_date(str(value))
        if date is None:
            raise ExpressionRuntimeError(f"cannot convert '{value}' to a date", _CODE)
        return date
    return value


def _type_of(value: object) -> str:
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
    return "mv" if isinstance(value, list) else type(value).__name__


def text_of(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        raise CoercionTypeError("str", "bin")
    return format_scalar_as_text(value)


# --- compiler ----------------------------------------------------------------------------------------


def parse_integer_expr(text: pl.Expr) -> pl.Expr:
    body = text.str.strip_chars(WHITESPACE)
    return pl.when(body.str.contains(INTEGER_RE)).then(
        body.str.strip_prefix("+").str.to_integer(strict=False)
    )


def parse_boolean_expr(text: pl.Expr) -> pl.Expr:
    lowered = text.str.strip_chars(WHITESPACE).str.to_lowercase()
    return (
        pl.when(lowered == "true")
        .then(pl.lit(True))
        .when(lowered == "false")
        .then(pl.lit(False))
        .otherwise(pl.lit(None, dtype=pl.Boolean))
    )


def parse_date_expr(text: pl.Expr) -> pl.Expr:
    """The same layouts and offset rule as :func:`values.parse_date`."""
    body = text.str.strip_chars()
    groups = body.str.extract_groups(OFFSET_RE)
    head = groups.struct.field("1")
    sign = groups.struct.field("3")
    looks_like_date_tail = (
        sign.is_not_null() & head.str.contains(r"\d{4}-\d{1,2}$") & ~head.str.contains(r"\s")
    )
    use_offset = (
        head.is_not_null() & head.str.contains(DATE_BODY_RE) & (head != body) & ~looks_like_date_tail
    ).fill_null(False)
    stripped = pl.when(use_offset).then(head).otherwise(body)
    minutes = groups.struct.field("4").cast(pl.Int64, strict=False) * 60 + groups.struct.field("5").cast(
        pl.Int64, strict=False
    ).fill_null(0)
    signed = pl.when(sign == "-").then(-minutes).otherwise(minutes)
    offset = pl.when(use_offset & sign.is_not_null()).then(signed).otherwise(0)
    attempts = [
        stripped.str.strptime(pl.Datetime("us"), fmt, strict=False, exact=True) for fmt in DATE_FORMATS
    ]
    attempts += [
        stripped.str.to_date(fmt, strict=False, exact=True).cast(pl.Datetime("us"))
        for fmt in DATE_ONLY_FORMATS
    ]
    parsed = pl.coalesce(attempts)
    return (parsed - pl.duration(minutes=offset)).dt.replace_time_zone("UTC")


def to_text(value: Lowered) -> Lowered:
    """Text of a scalar as ``&`` and CStr produce it."""
    e = value.expr
    if value.type in ("str", "null"):
        return Lowered(e.cast(pl.Utf8), "str", value.multi, value.error)
    if value.type == "bin":
        raise CoercionTypeError("str", "bin")
    if value.type == "bool":
        text = (
            pl.when(e)
            .then(pl.lit("True"))
            .when(~e)
            .then(pl.lit("False"))
            .otherwise(pl.lit(None, dtype=pl.Utf8))
        )
    elif value.type == "dt":
        text = e.dt.strftime("%m/%d/%Y %H:%M:%S")
    else:
        text = e.cast(pl.Utf8)
    return Lowered(text, "str", value.multi, value.error)


def coerce_lowered(value: Lowered, kind: str) -> Lowered:
    """Convert a scalar (or, element-wise, list) value to what a parameter of ``kind`` wants."""
    if kind not in ACCEPTS:
        return value
    if value.type == "null":
        target = "str" if kind == "binstr" else TARGET[kind]
        return Lowered(pl.lit(None, dtype=DTYPES[target]), target, False, value.error, const=None)
    if value.type not in ACCEPTS[kind]:
        raise CoercionTypeError(kind, value.type)
    if kind in ("str", "bin", "binstr") or value.type == kind:
        return value
    e = value.expr
    if kind == "num":
        converted, what = parse_integer_expr(e), "a number"
    elif kind == "bool" and value.type == "num":
        return Lowered(e != 0, "bool", value.multi, value.error)
    elif kind == "bool":
        converted, what = parse_boolean_expr(e), "a boolean"
    else:
        converted, what = parse_date_expr(e), "a date"
    message = pl.concat_str([pl.lit("cannot convert '"), e, pl.lit(f"' to {what}")])
    error = error_when(e.is_not_null() & converted.is_null(), message)
    return Lowered(converted, TARGET[kind], value.multi, first_error(value.error, error))
