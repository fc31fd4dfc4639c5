"""Attribute conditions of ``forestsync search`` (the Metaverse Search clauses), lowered to Polars.

``ATTR=VALUE`` equals, ``ATTR~TEXT`` contains (case-insensitive) and ``ATTR?`` is present. A
multi-valued attribute matches when any of its values does; binary values compare as base64 text,
booleans as ``true``/``false``. Every clause of a search must hold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

import polars as pl
from polars._typing import PolarsDataType

from transforms.errors import InputError


class ConditionError(InputError):
    """A search condition that cannot be parsed or names no searched attribute (terminal)."""


class Operator(Enum):
    EQUALS = "="
    CONTAINS = "~"
    PRESENT = "?"


@dataclass(frozen=True)
class Condition:
    attribute: str
    operator: Operator
    value: str = ""

    def __str__(self) -> str:
        return f"{self.attribute}{self.operator.value}{self.value}"


def parse_condition(text: str) -> Condition:
    """``ATTR=VALUE``, ``ATTR~TEXT`` or ``ATTR?``; the first ``=`` or ``~`` splits name from value."""
    if text.endswith("?") and "=" not in text and "~" not in text:
        name = text[:-1].strip()
        if name:
            return Condition(name, Operator.PRESENT)
    cut = min((i for i in (text.find("="), text.find("~")) if i > 0), default=-1)
    if cut <= 0 or not text[:cut].strip():
        raise ConditionError(f"not a condition: {text!r} (expected ATTR=VALUE, ATTR~TEXT or ATTR?)")
    return Condition(text[:cut].strip(), Operator(text[cut]), text[cut + 1 :])


def _as_text(element: pl.Expr, dtype: PolarsDataType) -> pl.Expr:
    if dtype == pl.Binary:
        return element.bin.encode("base64")
    if dtype == pl.Boolean:
        return pl.when(element).then(pl.lit("true")).when(~element).then(pl.lit("false"))
    if isinstance(dtype, pl.Datetime):
        return element.dt.to_string("%Y-%m-%dT%H:%M:%S%.fZ")
    return element.cast(pl.String)


def _test(text: pl.Expr, condition: Condition) -> pl.Expr:
    if condition.operator is Operator.EQUALS:
        return text == pl.lit(condition.value)
    if condition.operator is Operator.CONTAINS:
        return text.str.to_lowercase().str.contains(condition.value.lower(), literal=True)
    return text.is_not_null() & (text != "")


def condition_expr(condition: Condition, dtype: pl.DataType | None) -> pl.Expr:
    """A boolean expression over one frame; an attribute the frame lacks matches nothing."""
    if dtype is None or dtype == pl.Null:
        return pl.lit(False)
    column = pl.col(condition.attribute)
    if isinstance(dtype, pl.List):
        inner = dtype.inner
        matched = column.list.eval(_test(_as_text(pl.element(), inner), condition)).list.any()
        return matched.fill_null(False)
    return _test(_as_text(column, dtype), condition).fill_null(False)


def conditions_expr(conditions: Sequence[Condition], schema: Mapping[str, pl.DataType]) -> pl.Expr:
    """All conditions at once (true when there are none)."""
    expr = pl.lit(True)
    for condition in conditions:  # one clause per command-line option, not per row
        expr = expr & condition_expr(condition, schema.get(condition.attribute))
    return expr


def check_attributes(conditions: Sequence[Condition], schemas: Sequence[Mapping[str, pl.DataType]]) -> None:
    """Every condition names an attribute of at least one searched table (typos fail loudly)."""
    known = {name for schema in schemas for name in schema}
    unknown = [c for c in conditions if c.attribute not in known]
    if unknown:
        names = ", ".join(sorted({c.attribute for c in unknown}))
        hints = []
        for condition in unknown:
            lower = condition.attribute.lower()
            # Engine columns (``_by.*`` provenance, ``_anchor``...) are not attributes to suggest.
            names_ = [k for k in known if not k.startswith("_")]
            close = sorted(k for k in names_ if k.lower() == lower or lower in k.lower())[:3]
            if close:
                hints.append(f"{condition.attribute}: did you mean {', '.join(close)}?")
        raise ConditionError(
            f"no searched object has the attribute {names}" + (f" ({'; '.join(hints)})" if hints else "")
        )
