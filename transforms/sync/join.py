"""Join: ordered join groups with "exactly one match" semantics (spec 2.4), as equi-joins."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
from polars._typing import PolarsDataType

from transforms.rules.model import JoinGroup

SOURCE_KEY = "__skey"
TARGET_KEY = "__tkey"
MATCH = "__match"


def _keys(
    frame: pl.DataFrame, key: str, attributes: Sequence[str], case_insensitive: Sequence[bool]
) -> pl.DataFrame:
    """One row per (key, value combination): multi-valued attributes exploded, nulls dropped."""
    exprs = [pl.col(key)]
    for i, (attribute, ci) in enumerate(zip(attributes, case_insensitive, strict=True)):
        dtype = frame.schema[attribute]
        column = pl.col(attribute)
        if isinstance(dtype, pl.List):
            inner = dtype.inner
            column = column.list.eval(_normalise(pl.element(), inner, ci))
        else:
            column = _normalise(column, dtype, ci)
        exprs.append(column.alias(f"__k{i}"))
    out = frame.select(exprs)
    for i, attribute in enumerate(attributes):
        if isinstance(frame.schema[attribute], pl.List):
            out = out.explode(f"__k{i}")
    return out.drop_nulls()


def _normalise(column: pl.Expr, dtype: PolarsDataType, case_insensitive: bool) -> pl.Expr:
    # Keys compare as text so that a GUID held as binary on one side and base64 on the other can meet
    # only when both sides are the same type; binary stays binary (base64 text of it).
    if dtype == pl.Binary:
        return column.bin.encode("base64")
    text = column.cast(pl.String)
    return text.str.to_lowercase() if case_insensitive else text


def match_groups(
    sources: pl.DataFrame,
    source_key: str,
    targets: pl.DataFrame,
    target_key: str,
    groups: Sequence[JoinGroup],
) -> pl.DataFrame:
    """For each source row, the one target its first successful join group finds.

    Returns ``(source_key, target_key)`` for sources where some group, tried in order, matched exactly
    one distinct target. Sources whose join attributes are absent in a group skip that group.
    """
    result = pl.DataFrame(schema={source_key: sources.schema[source_key], target_key: pl.String()})
    remaining = sources
    for group in groups:
        if remaining.height == 0:
            break
        src_attrs = [c.source for c in group.conditions]
        tgt_attrs = [c.target for c in group.conditions]
        cis = [not c.case_sensitive for c in group.conditions]
        if any(a not in remaining.columns for a in src_attrs) or any(
            a not in targets.columns for a in tgt_attrs
        ):
            continue
        left = _keys(remaining, source_key, src_attrs, cis)
        right = _keys(targets, target_key, tgt_attrs, cis)
        names = [f"__k{i}" for i in range(len(src_attrs))]
        if target_key == source_key:
            right = right.rename({target_key: MATCH})
            tk = MATCH
        else:
            tk = target_key
        matched = (
            left.join(right, on=names, how="inner", maintain_order="left")
            .group_by(source_key, maintain_order=True)
            .agg(pl.col(tk).unique().alias(tk))
            .filter(pl.col(tk).list.len() == 1)
            .select(pl.col(source_key), pl.col(tk).list.first().cast(pl.String).alias(target_key))
        )
        result = pl.concat([result, matched])
        remaining = remaining.join(matched.select(source_key), on=source_key, how="anti")
    return result
