"""After an export: remember what was sent (export memory) and learn the anchors targets assigned."""

from __future__ import annotations

from dataclasses import replace

import polars as pl

from transforms.schema import ANCHOR, EXPORT_ADD, EXPORT_DELETE, MV_ID
from transforms.sync.frames import conform
from transforms.sync.schema import EXPORT_MEMORY_SCHEMA, LINKS_SCHEMA, STAGED_DELETES_SCHEMA
from transforms.sync.state import SyncState


def record_exports(state: SyncState, exported: pl.DataFrame) -> SyncState:
    """Remember the values of exported rows (PENDING_EXPORT_SCHEMA) until an import confirms them.

    A deleted object's memory is dropped; its link was already removed by the sync that deprovisioned it.
    Its staged delete is marked exported (no later sync lists it again); the object stays marked for
    deletion until an import confirms the deletion.
    """
    keys = ["connector", MV_ID, "attribute"]
    deletes = exported.filter(pl.col("op") == EXPORT_DELETE).select("connector", MV_ID).unique()
    values = (
        exported.filter((pl.col("op") != EXPORT_DELETE) & pl.col("attribute").is_not_null())
        .select("connector", MV_ID, "attribute", pl.col("new_value").alias("value"))
        .unique(keys, keep="last", maintain_order=True)
    )
    memory = conform(state.export_memory, EXPORT_MEMORY_SCHEMA)
    memory = memory.join(values.select(keys), on=keys, how="anti").join(
        deletes, on=["connector", MV_ID], how="anti"
    )
    memory = pl.concat([memory, conform(values, EXPORT_MEMORY_SCHEMA)])
    sent = exported.filter((pl.col("op") == EXPORT_DELETE) & pl.col(ANCHOR).is_not_null()).select(
        "connector", ANCHOR, pl.lit(True).alias("__sent")
    )
    staged = conform(state.staged_deletes, STAGED_DELETES_SCHEMA)
    if sent.height and staged.height:
        staged = (
            staged.join(sent.unique(), on=["connector", ANCHOR], how="left", maintain_order="left")
            .with_columns(
                (pl.col("exported").fill_null(False) | pl.col("__sent").fill_null(False)).alias("exported")
            )
            .drop("__sent")
        )
    return replace(state, export_memory=memory, staged_deletes=staged)


def apply_export_results(state: SyncState, results: pl.DataFrame) -> SyncState:
    """Give provisioned links the anchors their targets assigned (EXPORT_RESULT_SCHEMA rows).

    Only successful adds with an anchor are used; other outcomes leave the links as they are.
    """
    created = results.filter(
        (pl.col("op") == EXPORT_ADD) & (pl.col("status") == "success") & pl.col(ANCHOR).is_not_null()
    ).select("connector", MV_ID, pl.col(ANCHOR).alias("__assigned"))
    links = conform(state.links, LINKS_SCHEMA).join(created, on=["connector", MV_ID], how="left")
    assigned = pl.col(ANCHOR).is_null() & pl.col("__assigned").is_not_null()
    links = links.with_columns(
        pl.coalesce(pl.col(ANCHOR), pl.col("__assigned")).alias(ANCHOR),
        (pl.col("anchor_assigned").fill_null(False) | assigned).alias("anchor_assigned"),
    ).drop("__assigned")
    return replace(state, links=links)
