"""After an export: remember what was sent (export memory) and learn the anchors targets assigned."""

from __future__ import annotations

from dataclasses import replace

import polars as pl

from transforms.schema import ANCHOR, EXPORT_ADD, EXPORT_DELETE, MV_ID
from transforms.sync.frames import conform, drop_rows, rows_where
from transforms.sync.schema import EXPORT_MEMORY_SCHEMA, LINKS_SCHEMA, STAGED_DELETES_SCHEMA
from transforms.sync.state import SyncState
from transforms.sync.values import (
    PLACEHOLDER_PREFIX,
    decode_json_expr,
    json_expr,
    placeholders_to_markers,
)

_ROW = "\x00row"
# Remembered text per batch when placeholders are resolved (see _resolve_placeholders).
_PLACEHOLDER_BYTES = 32 * 2**20


def record_exports(state: SyncState, exported: pl.DataFrame) -> SyncState:
    """Remember the values of exported rows (PENDING_EXPORT_SCHEMA) until an import confirms them.

    A deleted object's memory is dropped; its link was already removed by the sync that deprovisioned it.
    Its staged delete is marked exported (no later sync lists it again); the object stays marked for
    deletion until an import confirms the deletion.
    """
    keys = ["connector", MV_ID, "attribute"]
    deletes = rows_where(exported.select("connector", MV_ID, "op"), pl.col("op") == EXPORT_DELETE)
    deletes = deletes.select("connector", MV_ID).unique()
    # (Columns first, rows after: an initial export keeps every row of tens of millions, which a
    # filter of the whole frame would copy.)
    values = rows_where(
        exported.select("connector", MV_ID, "attribute", pl.col("new_value").alias("value"), "op"),
        (pl.col("op") != EXPORT_DELETE) & pl.col("attribute").is_not_null(),
    ).drop("op")
    # A value exported twice keeps the last one. An initial export has tens of millions of values,
    # each once: distinct row hashes prove it without a unique over the string keys (equal hashes,
    # a repeat or a collision, take the exact unique).
    if values.select(pl.struct(keys).hash().is_duplicated().any()).item():
        values = values.unique(keys, keep="last", maintain_order=True)
    memory = conform(state.export_memory, EXPORT_MEMORY_SCHEMA)
    if memory.height:
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

    Only successful adds with an anchor are used; other outcomes leave the links as they are. Export
    memory holding ``{"_mv_id": ...}`` placeholders (references to objects created in the same export)
    then names those objects' anchors, as the target now does, so that the next sync and import compare
    equal; a placeholder whose object was not created was not sent and is dropped from the memory.
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
    memory = _resolve_placeholders(conform(state.export_memory, EXPORT_MEMORY_SCHEMA), created)
    return replace(state, links=links, export_memory=memory)


def _resolve_placeholders(memory: pl.DataFrame, created: pl.DataFrame) -> pl.DataFrame:
    """Placeholders in remembered reference values -> the anchors ``created`` assigned (see above)."""
    has = memory.select(pl.col("value").str.contains('{"_mv_id":', literal=True).fill_null(False)).to_series()
    todo = memory.filter(has)
    if todo.height == 0:
        return memory
    # In batches of about _PLACEHOLDER_BYTES of remembered text: a group's members are one value,
    # and an initial export's groups hold ten million placeholders, once exploded and joined at once.
    todo = todo.with_row_index(_ROW)
    ends = todo.get_column("value").str.len_bytes().cast(pl.Int64).cum_sum()
    batches = (
        ((ends - 1) // _PLACEHOLDER_BYTES)
        .rename("__batch")
        .to_frame()
        .with_row_index("__start")
        .group_by("__batch", maintain_order=True)
        .agg(pl.col("__start").first(), pl.len().alias("__rows"))
    )
    fixed = pl.concat(
        [
            _placeholders_resolved(todo.slice(start, rows), created)
            for start, rows in batches.select("__start", "__rows").iter_rows()
        ]
    )
    # The rest of the memory (tens of millions of values) is kept by slices, not copied.
    return pl.concat([drop_rows(memory, has.arg_true()), fixed])


def _placeholders_resolved(todo: pl.DataFrame, created: pl.DataFrame) -> pl.DataFrame:
    """Remembered values with placeholders (rows numbered ``_ROW``) with the anchors ``created``
    assigned in their place (EXPORT_MEMORY_SCHEMA rows)."""
    text = placeholders_to_markers(pl.col("value"))
    is_list = pl.col("value").str.starts_with("[")
    todo = todo.with_columns(is_list.alias("__list"))
    as_list = pl.List(pl.String())
    values = pl.concat(
        [
            todo.filter(pl.col("__list")).select(
                _ROW, "connector", decode_json_expr(text, as_list).alias("__v")
            ),
            todo.filter(~pl.col("__list")).select(
                _ROW, "connector", pl.concat_list(decode_json_expr(text, pl.String())).alias("__v")
            ),
        ]
    ).explode("__v")
    marker = pl.col("__v").str.starts_with(PLACEHOLDER_PREFIX)
    values = (
        values.with_columns(
            pl.when(marker).then(pl.col("__v").str.strip_prefix(PLACEHOLDER_PREFIX)).alias("__ref")
        )
        .join(
            created.select("connector", pl.col(MV_ID).alias("__ref"), "__assigned"),
            on=["connector", "__ref"],
            how="left",
            maintain_order="left",
        )
        .select(_ROW, pl.when(marker).then(pl.col("__assigned")).otherwise(pl.col("__v")).alias("__v"))
    )
    resolved = values.group_by(_ROW, maintain_order=True).agg(pl.col("__v").drop_nulls())
    todo = todo.join(resolved, on=_ROW, how="left", maintain_order="left")
    lists = todo.filter(pl.col("__list")).with_columns(json_expr(pl.col("__v"), as_list).alias("value"))
    # A single reference that was not created was not sent: nothing to remember.
    singles = todo.filter(~pl.col("__list") & (pl.col("__v").list.len() > 0)).with_columns(
        json_expr(pl.col("__v").list.first(), pl.String()).alias("value")
    )
    return pl.concat([lists, singles]).select(list(EXPORT_MEMORY_SCHEMA))
