"""Old and new values of one metaverse object, attribute by attribute, with the winning rule."""

from __future__ import annotations

from typing import Final

import polars as pl

from transforms.schema import MV_ID
from transforms.sync.values import json_expr

ATTRIBUTE_VALUES_SCHEMA: Final[dict[str, pl.DataType]] = {
    "attribute": pl.String(),
    "value": pl.String(),  # JSON text, as in pending exports
}

ATTRIBUTE_DIFF_SCHEMA: Final[dict[str, pl.DataType]] = {
    "attribute": pl.String(),
    "change": pl.String(),  # add | update | delete
    "old_value": pl.String(),
    "new_value": pl.String(),
    "connector": pl.String(),  # the contributor after the sync (before it, for a deleted value)
    "rule": pl.String(),
}


def attribute_values(row: pl.DataFrame) -> pl.DataFrame:
    """The non-null attributes of a one-row wide frame as ``attribute``/``value`` (JSON text) rows.

    System columns (leading ``_``) are left out; rows are sorted by attribute name.
    """
    columns = [c for c in row.columns if not c.startswith("_")]
    if not columns or row.is_empty():
        return pl.DataFrame(schema=ATTRIBUTE_VALUES_SCHEMA)
    texts = row.head(1).select(json_expr(pl.col(c), row.schema[c]).alias(c) for c in columns)
    long = texts.unpivot(variable_name="attribute", value_name="value")
    return long.drop_nulls("value").sort("attribute").select(list(ATTRIBUTE_VALUES_SCHEMA))


def contributors(provenance: pl.DataFrame, mv_id: str) -> pl.DataFrame:
    """``attribute``, ``connector``, ``rule`` of one object; a merged attribute lists every contributor."""
    # The engine keeps provenance labels Categorical; reports speak plain strings.
    return (
        provenance.filter(pl.col(MV_ID) == mv_id)
        .with_columns(pl.col("attribute", "connector", "rule").cast(pl.String))
        .group_by("attribute")
        .agg(
            pl.col("connector").unique(maintain_order=True).str.join(", "),
            pl.col("rule").unique(maintain_order=True).str.join(", "),
        )
        .sort("attribute")
    )


def object_diff(
    old: pl.DataFrame, new: pl.DataFrame, old_provenance: pl.DataFrame, new_provenance: pl.DataFrame
) -> pl.DataFrame:
    """Attributes whose value differs between two images of one object (one-row frames, maybe empty).

    ``*_provenance`` are the contributors (:func:`contributors`) before and after.
    """
    before = attribute_values(old).rename({"value": "old_value"})
    after = attribute_values(new).rename({"value": "new_value"})
    both = before.join(after, on="attribute", how="full", coalesce=True)
    changed = both.filter(pl.col("old_value").ne_missing(pl.col("new_value")))
    credited = (
        changed.join(new_provenance, on="attribute", how="left")
        .join(old_provenance, on="attribute", how="left", suffix="_old")
        .with_columns(
            pl.when(pl.col("old_value").is_null())
            .then(pl.lit("add"))
            .when(pl.col("new_value").is_null())
            .then(pl.lit("delete"))
            .otherwise(pl.lit("update"))
            .alias("change"),
            pl.coalesce("connector", "connector_old").alias("connector"),
            pl.coalesce("rule", "rule_old").alias("rule"),
        )
    )
    return credited.select(list(ATTRIBUTE_DIFF_SCHEMA)).sort("attribute")
