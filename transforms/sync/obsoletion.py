"""Obsoletion: what a full import no longer sees becomes a delete.

A full import re-reads the whole scope of a partition, so every stored object of that partition
whose anchor it did not return was deleted, moved out of scope, or lost its place through an OU
rename (Azure AD Connect, import algorithm step 4). One anti-join, no per-object work.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from transforms.schema import ANCHOR


def obsoleted(
    stored: pl.DataFrame,
    imported: pl.DataFrame | pl.Series,
    *,
    partitions: Sequence[str] | None = None,
    partition_column: str = "_partition",
) -> pl.DataFrame:
    """Rows of ``stored`` (with ``_anchor``) whose anchor is absent from ``imported``.

    ``partitions`` limits obsoletion to the partitions the full import covered; rows of other
    partitions are never obsoleted by it. The result keeps the stored columns, sorted by anchor.
    """
    seen = (
        imported.select(ANCHOR) if isinstance(imported, pl.DataFrame) else imported.alias(ANCHOR).to_frame()
    )
    candidates = stored
    if partitions is not None:
        candidates = stored.filter(pl.col(partition_column).is_in(list(partitions)))
    return candidates.join(seen.unique(), on=ANCHOR, how="anti").sort(ANCHOR)
