"""Partitions (naming contexts) of a directory connector space, and the full import of some of them.

An AD connector imports one or more partitions; a child domain's DN ends with its parent's, so an
object belongs to the most specific configured partition whose subtree holds it. A full import of
chosen partitions (a per-partition backfill) obsoletes only what those partitions no longer show:
the objects of the other partitions keep their image and their pending-import flag.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from transforms.schema import ANCHOR, DN
from transforms.sync.ou_scope import normalize_dn
from transforms.sync.staging import StagedImport, stage_full_import


def partition_of(dn: pl.Expr, partitions: Sequence[str]) -> pl.Expr:
    """The most specific of ``partitions`` (as written) whose subtree holds ``dn``; null for none.

    DNs compare case-insensitively, as AD does.
    """
    dn_lower = dn.str.to_lowercase()
    decision: pl.Expr = pl.lit(None, dtype=pl.String)
    # Least specific first, so that a child domain's partition overrides its parent's.
    for partition in sorted(partitions, key=lambda p: normalize_dn(p).count(",")):
        head = normalize_dn(partition)
        under = (dn_lower == head) | dn_lower.str.ends_with("," + head)
        decision = pl.when(under).then(pl.lit(partition)).otherwise(decision)
    return decision


def stage_partition_import(
    previous: pl.DataFrame | None,
    incoming: pl.DataFrame,
    *,
    chosen: Sequence[str],
    partitions: Sequence[str],
) -> StagedImport:
    """Stage a full import of the ``chosen`` partitions (of the connector's ``partitions``).

    Stored objects of a chosen partition that ``incoming`` lacks become deletes; stored objects of
    other partitions are kept as they are, unless ``incoming`` holds them (moved into a chosen
    partition: compared like any re-imported object). Counters describe the chosen partitions only.
    """
    if previous is None:
        return stage_full_import(None, incoming)
    wanted = {normalize_dn(p) for p in chosen}
    named = [p for p in partitions if normalize_dn(p) in wanted]
    mine = partition_of(pl.col(DN), partitions).is_in(named).fill_null(False) | pl.col(ANCHOR).is_in(
        incoming.get_column(ANCHOR).implode()
    )
    inside = previous.filter(mine)
    outside = previous.filter(~mine)
    done = stage_full_import(inside, incoming)
    if outside.height == 0:
        return done
    frame = pl.concat([done.frame, outside], how="diagonal_relaxed").select(done.frame.columns).sort(ANCHOR)
    return StagedImport(frame=frame, counters=done.counters)
