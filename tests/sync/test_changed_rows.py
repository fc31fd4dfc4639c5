"""A delta finds the objects whose rows (links, reference-index values) changed by pairing rows on a hash
of the whole row; the answer equals comparing every column (nulls equal, repeats counted)."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.sync.engine import _changed_anchors

ROWS = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.sampled_from(["x", "X", "y", None])), max_size=12
)


def _frame(rows: list[tuple[str, str | None]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"_anchor": pl.String, "target_dn": pl.String}, orient="row")


def _by_every_column(left: pl.DataFrame, right: pl.DataFrame) -> set[str]:
    columns = left.columns
    gone = left.join(right, on=columns, how="anti", nulls_equal=True).get_column("_anchor")
    added = right.join(left, on=columns, how="anti", nulls_equal=True).get_column("_anchor")
    counts = (
        left.group_by("_anchor")
        .len()
        .join(right.group_by("_anchor").len(), on="_anchor", how="full", coalesce=True)
    )
    recount = counts.filter(pl.col("len").ne_missing(pl.col("len_right"))).get_column("_anchor")
    return set(pl.concat([gone, added, recount]).drop_nulls().to_list())


@settings(max_examples=200, deadline=None)
@given(ROWS, ROWS)
def test_changed_anchors_equal_a_comparison_of_every_column(
    left: list[tuple[str, str | None]], right: list[tuple[str, str | None]]
) -> None:
    old, new = _frame(left), _frame(right)
    assert set(_changed_anchors(old, new).to_list()) == _by_every_column(old, new)


def test_case_and_null_differences_count() -> None:
    old = _frame([("a", "x"), ("b", None), ("c", "y")])
    new = _frame([("a", "X"), ("b", None), ("c", "y"), ("c", "y")])
    assert sorted(_changed_anchors(old, new).to_list()) == ["a", "c"]  # case, and a value listed twice
