"""Combine attribute contributions from every connector into metaverse values, with provenance."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import polars as pl

from transforms.rules.model import MergeType
from transforms.schema import MV_ID
from transforms.sync.flows import (
    CODE,
    IGNORE_OFFSET,
    KIND_IGNORE,
    KIND_VALUE,
    RANKS,
    Resolution,
    common_dtype,
    dedupe,
)
from transforms.sync.frames import concat
from transforms.sync.schema import PROVENANCE_SCHEMA


def combine(partials: Sequence[Resolution], ids: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, MergeType]]:
    """One row per id in ``ids`` (column ``_mv_id``) with the winning value/code of every attribute.

    Attributes fed by one partial are taken as they are (one join per partial); attributes fed by
    several partials (several connectors or object types) are resolved by code across them.
    """
    sources: dict[str, list[int]] = {}
    merges: dict[str, MergeType] = {}
    for i, part in enumerate(partials):
        for attribute in part.attributes:
            sources.setdefault(attribute, []).append(i)
            merges[attribute] = part.merge_types[attribute]
    if len(partials) > 1:
        fast = _disjoint(partials, ids, merges)
        if fast is not None:
            return fast, merges
    out = ids
    for i, part in enumerate(partials):
        single = [a for a in part.attributes if sources[a] == [i]]
        if not single:
            continue
        cols = [MV_ID]
        for a in single:
            cols += [a, a + CODE] + ([a + RANKS] if merges[a] is not MergeType.UPDATE else [])
        out = out.join(part.frame.select(cols), on=MV_ID, how="left", maintain_order="left")
    for attribute, owners in sources.items():
        if len(owners) == 1:
            continue
        merge = merges[attribute]
        dtype = common_dtype([partials[i].frame.schema[attribute] for i in owners])
        cols = [attribute, attribute + CODE] + ([attribute + RANKS] if merge is not MergeType.UPDATE else [])
        stacked = pl.concat(
            [
                partials[i]
                .frame.select(MV_ID, *cols)
                .with_columns(pl.col(attribute).cast(dtype, strict=False))
                .filter(pl.col(attribute + CODE).is_not_null())
                for i in owners
            ]
        )
        if merge is MergeType.UPDATE:
            best = stacked.sort(attribute + CODE).unique(MV_ID, keep="first", maintain_order=True)
        else:
            list_type = dtype if isinstance(dtype, pl.List) else pl.List(dtype)
            best = stacked.group_by(MV_ID, maintain_order=True).agg(
                dedupe(pl.col(attribute).explode().drop_nulls().implode(), merge, list_type).alias(attribute),
                pl.col(attribute + CODE).min(),
                pl.col(attribute + RANKS).explode().implode(),
            )
            best = best.with_columns(
                pl.when(pl.col(attribute).list.len() > 0).then(pl.col(attribute)).alias(attribute)
            )
        out = out.join(best, on=MV_ID, how="left", maintain_order="left")
    return out, merges


def _disjoint(
    partials: Sequence[Resolution], ids: pl.DataFrame, merges: Mapping[str, MergeType]
) -> pl.DataFrame | None:
    """When no id appears in two partials (the usual case: one object type per metaverse object and
    connector), combining is a vertical concatenation; None when ids overlap."""
    stacked_ids = pl.concat([p.frame.select(MV_ID) for p in partials])
    if stacked_ids.get_column(MV_ID).n_unique() != stacked_ids.height:
        return None
    frames = []
    for part in partials:
        cols = [MV_ID]
        for a in part.attributes:
            cols += [a, a + CODE] + ([a + RANKS] if merges[a] is not MergeType.UPDATE else [])
        frames.append(part.frame.select(cols))
    try:
        stacked = pl.concat(frames, how="diagonal_relaxed")
    except pl.exceptions.PolarsError:
        return None
    return ids.join(stacked, on=MV_ID, how="left", maintain_order="left")


PROVENANCE_PREFIX = "_by."
LABEL_SEPARATOR = "\x1f"


def final_values(
    combined: pl.DataFrame,
    old: pl.DataFrame,
    attributes: Sequence[str],
    merges: Mapping[str, MergeType],
    labels: Mapping[int, str],
) -> pl.DataFrame:
    """Metaverse values and their provenance columns from the resolved codes.

    IgnoreThisFlow keeps the old value (and its provenance). The provenance of attribute ``a`` is
    column ``_by.a``: the ``connector<US>rule`` label of the winning contribution (Categorical), or the
    list of contributing labels for a merged attribute.
    """
    keep = [c for a in attributes for c in (a, PROVENANCE_PREFIX + a) if c in old.columns]
    prefixed = old.select(MV_ID, *[pl.col(c).alias("\x00old" + c) for c in keep])
    joined = combined.join(prefixed, on=MV_ID, how="left", maintain_order="left")
    key = (
        tuple(joined.schema.items()),
        tuple(attributes),
        tuple((a, merges[a]) for a in attributes),
        tuple(labels.items()),
    )
    try:
        exprs = _final_exprs(*key)
    except TypeError:  # unhashable: build without the cache
        exprs = _final_exprs.__wrapped__(*key)
    return joined.select(exprs)


@functools.lru_cache(maxsize=256)
def _final_exprs(
    schema_key: tuple[tuple[str, pl.DataType], ...],
    attributes: tuple[str, ...],
    merges_key: tuple[tuple[str, MergeType], ...],
    labels_key: tuple[tuple[int, str], ...],
) -> list[pl.Expr]:
    """The expressions of :func:`final_values` (built once per schema, attributes and rule labels)."""
    schema = dict(schema_key)
    merges = dict(merges_key)
    ranks = [r for r, _ in labels_key]
    names = [n for _, n in labels_key]
    exprs = [pl.col(MV_ID)]
    for a in attributes:
        code = pl.col(a + CODE)
        ignored = (code % 4) == KIND_IGNORE
        if "\x00old" + a in schema:
            dtype = common_dtype([schema[a], schema["\x00old" + a]])
            value = (
                pl.when(ignored)
                .then(pl.col("\x00old" + a).cast(dtype, strict=False))
                .otherwise(pl.col(a).cast(dtype, strict=False))
            )
        else:
            value = pl.when(ignored).then(pl.lit(None)).otherwise(pl.col(a))
        exprs.append(value.alias(a))
        if merges[a] is MergeType.UPDATE:
            won = ((code % 4) == KIND_VALUE) & (code < IGNORE_OFFSET) & pl.col(a).is_not_null()
            label = (
                (code // 4)
                .replace_strict(ranks, names, default=None, return_dtype=pl.String)
                .cast(pl.Categorical())
            )
            by: pl.Expr = pl.when(won).then(label)
            kind: pl.DataType = pl.Categorical()
        else:
            label_list = pl.col(a + RANKS).list.eval(
                pl.element().replace_strict(ranks, names, default=None, return_dtype=pl.String)
            )
            by = pl.when(pl.col(a).is_not_null()).then(label_list.cast(pl.List(pl.Categorical())))
            kind = pl.List(pl.Categorical())
        old_by = "\x00old" + PROVENANCE_PREFIX + a
        if old_by in schema:
            by = pl.when(ignored).then(pl.col(old_by).cast(kind, strict=False)).otherwise(by)
        exprs.append(by.alias(PROVENANCE_PREFIX + a))
    return exprs


def provenance_frame(metaverse: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    """The long provenance frame (PROVENANCE_SCHEMA) from the metaverse's ``_by.*`` columns."""
    frames: list[pl.DataFrame] = []
    for mv_type in sorted(metaverse):
        frame = metaverse[mv_type]
        for column in frame.columns:
            if not column.startswith(PROVENANCE_PREFIX):
                continue
            part = frame.select(MV_ID, pl.col(column).alias("label"))
            if isinstance(part.schema["label"], pl.List):
                part = part.explode("label")
            part = part.drop_nulls("label").with_columns(
                pl.col("label").cast(pl.String).str.split(LABEL_SEPARATOR)
            )
            frames.append(
                part.select(
                    MV_ID,
                    pl.lit(column[len(PROVENANCE_PREFIX) :]).alias("attribute"),
                    pl.col("label").list.get(0).alias("connector"),
                    pl.col("label").list.get(1).alias("rule"),
                )
            )
    return concat(frames, PROVENANCE_SCHEMA)
