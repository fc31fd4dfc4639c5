"""Per-value application over list columns without per-row Python.

``list.eval`` only sees ``pl.element()``; it cannot read other columns. To apply a function to the
values of one or more list columns together with per-row scalars, the inputs are packed into one list
of structs: each list contributes its values under its own field, and one trailing element carries the
scalars. Inside ``list.eval`` the values are sliced back out and the scalars broadcast with ``last()``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import polars as pl

from transforms.expressions.lowered import Lowered, error_when

Body = Callable[[list[pl.Expr], list[pl.Expr]], pl.Expr]
MISMATCH = "multi-valued arguments have different numbers of values"


def map_lists(
    lists: Sequence[Lowered], captures: Sequence[Lowered], body: Body
) -> tuple[pl.Expr, pl.Expr | None]:
    """``body(elements, scalars)`` evaluated inside ``list.eval``; returns (list expr, error expr)."""
    if len(lists) == 1 and not captures:
        return lists[0].expr.list.eval(body([pl.element()], [])), None
    k = len(lists)
    list_fields = {f"m{i}": lst.dtype.inner for i, lst in enumerate(lists)}  # type: ignore[attr-defined]
    capture_fields = {f"c{j}": cap.dtype for j, cap in enumerate(captures)}
    fields = {**list_fields, **capture_fields}

    def packed(values: dict[str, pl.Expr]) -> pl.Expr:
        return pl.struct(
            [values.get(name, pl.lit(None, dtype=dtype)).alias(name) for name, dtype in fields.items()]
        )

    pieces = [lst.expr.list.eval(packed({f"m{i}": pl.element()})) for i, lst in enumerate(lists)]
    pieces.append(pl.concat_list([packed({f"c{j}": cap.expr for j, cap in enumerate(captures)})]))
    zipped = pl.concat_list(pieces)
    elements = [element_expr(i, k) for i in range(k)]
    scalars = [capture_expr(j) for j in range(len(captures))]
    result = zipped.list.eval(body(elements, scalars))
    error = None
    if k > 1:
        lengths = [lst.expr.list.len() for lst in lists]
        differs = pl.any_horizontal([length != lengths[0] for length in lengths[1:]]).fill_null(False)
        error = error_when(differs, MISMATCH)
        result = pl.when(~differs).then(result)
    return result, error


def element_expr(i: int, k: int) -> pl.Expr:
    """Inside a packed ``list.eval``: the values of the i-th of k lists (layout of :func:`map_lists`)."""
    size = (pl.len() - 1) // k
    return pl.element().struct.field(f"m{i}").slice(i * size, size)


def capture_expr(j: int) -> pl.Expr:
    return pl.element().struct.field(f"c{j}").last()
