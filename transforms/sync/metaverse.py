"""Combine attribute contributions from every connector into metaverse values, with provenance."""

from __future__ import annotations

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


def final_values(combined: pl.DataFrame, old: pl.DataFrame, attributes: Sequence[str]) -> pl.DataFrame:
    """Apply IgnoreThisFlow (keep the old value) and drop the code columns."""
    prefixed = old.select(MV_ID, *[pl.col(a).alias("\x00old" + a) for a in attributes if a in old.columns])
    joined = combined.join(prefixed, on=MV_ID, how="left", maintain_order="left")
    exprs = [pl.col(MV_ID)]
    for a in attributes:
        code = pl.col(a + CODE)
        if "\x00old" + a in joined.columns:
            dtype = common_dtype([joined.schema[a], joined.schema["\x00old" + a]])
            value = (
                pl.when((code % 4) == KIND_IGNORE)
                .then(pl.col("\x00old" + a).cast(dtype, strict=False))
                .otherwise(pl.col(a).cast(dtype, strict=False))
            )
        else:
            value = pl.when((code % 4) == KIND_IGNORE).then(pl.lit(None)).otherwise(pl.col(a))
        exprs.append(value.alias(a))
    return joined.select(exprs)


def provenance(
    combined: pl.DataFrame, merges: Mapping[str, MergeType], rank_owner: pl.DataFrame
) -> pl.DataFrame:
    """Provenance rows: the winning rule of each valued attribute, every contributor of a merged one.

    ``rank_owner`` maps ``rank`` -> ``rule``, ``connector``.
    """
    frames: list[pl.DataFrame] = []
    for attribute, merge in merges.items():
        code = pl.col(attribute + CODE)
        if merge is MergeType.UPDATE:
            part = combined.filter(
                ((code % 4) == KIND_VALUE) & (code < IGNORE_OFFSET) & pl.col(attribute).is_not_null()
            ).select(MV_ID, (code // 4).alias("rank"))
        else:
            part = (
                combined.filter(pl.col(attribute).is_not_null())
                .select(MV_ID, pl.col(attribute + RANKS).alias("rank"))
                .explode("rank")
                .drop_nulls("rank")
                .unique(maintain_order=True)
            )
        frames.append(
            part.with_columns(pl.lit(attribute, dtype=PROVENANCE_SCHEMA["attribute"]).alias("attribute"))
        )
    if not frames:
        return pl.DataFrame(schema=PROVENANCE_SCHEMA)
    long = pl.concat(frames)
    ranks = rank_owner.get_column("rank").to_list()
    long = long.filter(pl.col("rank").is_in(ranks)).select(
        MV_ID,
        pl.col("attribute").cast(PROVENANCE_SCHEMA["attribute"]),
        pl.col("rank")
        .replace_strict(ranks, rank_owner.get_column("connector").to_list(), return_dtype=pl.String)
        .cast(PROVENANCE_SCHEMA["connector"])
        .alias("connector"),
        pl.col("rank")
        .replace_strict(ranks, rank_owner.get_column("rule").to_list(), return_dtype=pl.String)
        .cast(PROVENANCE_SCHEMA["rule"])
        .alias("rule"),
    )
    return long
