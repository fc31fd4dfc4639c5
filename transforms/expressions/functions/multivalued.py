"""Multi-valued functions (spec 4.7). Their ``mv`` arguments arrive without NULL elements."""

from __future__ import annotations

import polars as pl

from transforms.expressions.context import CompileContext, EvalContext
from transforms.expressions.elementwise import map_lists
from transforms.expressions.errors import ExpressionRuntimeError
from transforms.expressions.functions.registry import FunctionSpec, p, register
from transforms.expressions.lowered import Lowered, error_when

FAMILY = "multivalued"
_CASE = ("CaseSensitive", "CaseInsensitive")
_CODE = "expression-evaluation-error"
# Joins the values of a list to search them in one pass; a search text containing it takes the slow path.
_SEP = "\x00"


def contains_ref(
    ctx: EvalContext, values: list[object], search: str | None, mode: str | None = None
) -> int | None:
    if search is None:
        return None
    fold = mode == "CaseInsensitive"
    needle = search.lower() if fold else search
    for index, value in enumerate(values, 1):
        text = value if isinstance(value, str) else None
        if text is not None and needle in (text.lower() if fold else text):
            return index
    return 0


def contains_lower(
    ctx: CompileContext, values: Lowered, search: Lowered, mode: Lowered | None = None
) -> Lowered:
    fold = mode is not None and mode.const == "CaseInsensitive"

    def body(elements: list[pl.Expr], scalars: list[pl.Expr]) -> pl.Expr:
        hay = elements[0].str.to_lowercase() if fold else elements[0]
        needle = scalars[0] if scalars else search.expr
        needle = needle.str.to_lowercase() if fold else needle
        return hay.str.contains(needle, literal=True).fill_null(False)

    if search.is_const and isinstance(search.const, str) and search.const and _SEP not in search.const:
        joined = values.expr.list.join(_SEP)
        needle = search.const.lower() if fold else search.const
        hay = joined.str.to_lowercase() if fold else joined
        parts = hay.str.splitn(needle, 2)
        index = parts.struct.field("field_0").str.count_matches(_SEP, literal=True).cast(pl.Int64) + 1
        found = parts.struct.field("field_1").is_not_null()
        return Lowered(pl.when(found).then(index).otherwise(pl.lit(0, dtype=pl.Int64)), "num")
    captures = [] if search.is_const else [search]
    hits, _ = map_lists([values], captures, body)
    index = (
        pl.when(hits.list.any())
        .then(hits.list.arg_max().cast(pl.Int64) + 1)
        .otherwise(pl.lit(0, dtype=pl.Int64))
    )
    return Lowered(pl.when(search.expr.is_not_null()).then(index), "num")


def count_ref(ctx: EvalContext, values: list[object]) -> int:
    return len(values)


def count_lower(ctx: CompileContext, values: Lowered) -> Lowered:
    return Lowered(values.expr.list.len().cast(pl.Int64), "num")


def item_ref(ctx: EvalContext, values: list[object], index: int | None) -> object:
    if index is None:
        return None
    if not 1 <= index <= len(values):
        raise ExpressionRuntimeError(
            f"Item index {index} is out of range (the attribute has {len(values)} value(s))", _CODE
        )
    return values[index - 1]


def itemornull_ref(ctx: EvalContext, values: list[object], index: int | None) -> object:
    if index is None or not 1 <= index <= len(values):
        return None
    return values[index - 1]


def _item(values: Lowered, index: Lowered) -> pl.Expr:
    # An index below 1 is moved out of range instead of counting from the end.
    position = index.expr - 1 + (index.expr < 1).cast(pl.Int64) * (1 << 40)
    return values.expr.list.get(position, null_on_oob=True)


def item_lower(ctx: CompileContext, values: Lowered, index: Lowered) -> Lowered:
    # Each reference to the index re-evaluates it (Polars does not share subexpressions under
    # when/then), so the range check uses it once.
    in_range = index.expr.is_between(1, values.expr.list.len()).fill_null(True)
    # Rows with an index below 1 are errors, so their value does not matter (it is nulled).
    value = values.expr.list.get(index.expr - 1, null_on_oob=True)
    return Lowered(value, values.type, error=error_when(~in_range, "Item index is out of range"))


def itemornull_lower(ctx: CompileContext, values: Lowered, index: Lowered) -> Lowered:
    return Lowered(_item(values, index), values.type)


def join_ref(ctx: EvalContext, values: list[object], delimiter: str | None = " ") -> str | None:
    if not values:
        return None
    from transforms.expressions.values import format_scalar_as_text

    return (delimiter or "").join(format_scalar_as_text(v) for v in values)


def join_lower(ctx: CompileContext, values: Lowered, delimiter: Lowered | None = None) -> Lowered:
    from transforms.expressions.coerce import to_text

    if values.type != "str":
        inner = to_text(Lowered(pl.element(), values.type))
        values = Lowered(values.expr.list.eval(inner.expr), "str", multi=True)
    sep = delimiter.expr.fill_null("") if delimiter is not None else pl.lit(" ")
    return Lowered(pl.when(values.expr.list.len() > 0).then(values.expr.list.join(sep)), "str")


def removeduplicates_ref(ctx: EvalContext, values: list[object]) -> list[object]:
    seen: list[object] = []
    for value in values:
        if value not in seen:
            seen.append(value)
    return seen


def removeduplicates_lower(ctx: CompileContext, values: Lowered) -> Lowered:
    return Lowered(values.expr.list.unique(maintain_order=True), values.type, multi=True)


def split_ref(
    ctx: EvalContext, text: str | None, delimiter: str | None, limit: int | None = None
) -> list[str] | None:
    if text is None:
        return None
    if not delimiter:
        return [text]
    if limit is not None and limit >= 1:
        return text.split(delimiter, limit - 1)
    return text.split(delimiter)


def split_lower(
    ctx: CompileContext, text: Lowered, delimiter: Lowered, limit: Lowered | None = None
) -> Lowered:
    parts = text.expr.str.split(delimiter.expr)
    if limit is not None:
        n = limit.expr
        keep = pl.max_horizontal(n - 1, pl.lit(0))
        folded = pl.concat_list([parts.list.head(keep), parts.list.slice(keep).list.join(delimiter.expr)])
        parts = pl.when((n >= 1) & (parts.list.len() > n)).then(folded).otherwise(parts)
    whole = pl.concat_list([text.expr])
    value = (
        pl.when(text.expr.is_null())
        .then(pl.lit(None, dtype=pl.List(pl.Utf8)))
        .when(delimiter.expr.fill_null("") == "")
        .then(whole)
        .otherwise(parts)
    )
    return Lowered(value, "str", multi=True)


register(
    FunctionSpec(
        "Contains",
        FAMILY,
        (p("attribute", "mv"), p("search", "str"), p("casetype", "enum", True, _CASE)),
        "num",
        contains_ref,
        contains_lower,
    )
)
register(FunctionSpec("Count", FAMILY, (p("attribute", "mv"),), "num", count_ref, count_lower))
register(FunctionSpec("Item", FAMILY, (p("attribute", "mv"), p("index", "num")), "var", item_ref, item_lower))
register(
    FunctionSpec(
        "ItemOrNull",
        FAMILY,
        (p("attribute", "mv"), p("index", "num")),
        "var",
        itemornull_ref,
        itemornull_lower,
    )
)
register(
    FunctionSpec(
        "Join", FAMILY, (p("attribute", "mv"), p("delimiter", "str", True)), "str", join_ref, join_lower
    )
)
register(
    FunctionSpec(
        "RemoveDuplicates",
        FAMILY,
        (p("attribute", "mv"),),
        "mvstr",
        removeduplicates_ref,
        removeduplicates_lower,
    )
)
register(
    FunctionSpec(
        "Split",
        FAMILY,
        (p("value", "str"), p("delimiter", "str"), p("limit", "num", True)),
        "mvstr",
        split_ref,
        split_lower,
    )
)
