"""Preview of one object (the Synchronization Service Manager's *Generate Preview*), never committed.

Correctness first: the whole stored state goes through a full sync in memory, and only the named
object's share of the result is reported (metaverse attribute changes with the winning rule, link
changes, pending exports, errors). The cost is that of a full sync of the store, without the writes;
the store is only read.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import polars as pl

from flows.config import Config
from flows.inspection import ObjectRef, decoded
from flows.stages.syncing import (
    connector_kinds,
    connector_parameters,
    load_sync_state,
    partition_parameters,
    with_read_attributes,
)
from flows.store import Store
from transforms.ops.diff import contributors, object_diff
from transforms.rules import SyncRule
from transforms.schema import ANCHOR, MV_ID, PENDING_EXPORT_SCHEMA
from transforms.sync.engine import run_sync
from transforms.sync.state import SyncState

LINEAGE_COLUMNS = ("connector", "object_type", ANCHOR, "_dn", "rule", "link_type", "direction")


def preview_object(
    store: Store, config: Config, rules: tuple[SyncRule, ...], ref: ObjectRef
) -> dict[str, Any]:
    """What a full sync would change on the object ``ref`` names; the store is not written."""
    before = load_sync_state(store)
    kinds = connector_kinds(config)
    state = replace(before, connector_spaces=with_read_attributes(before.connector_spaces, rules, kinds))
    result = run_sync(
        state,
        rules,
        mode="full",
        connectors=kinds,
        params_by_connector=connector_parameters(config),
        partition_params_by_connector=partition_parameters(config),
    )
    after = result.state
    mv_before = ref.mv_id
    mv_after = ref.mv_id if _mv_row(after, ref.mv_id).height else _linked_id(after.links, ref)
    old_row = _mv_row(before, mv_before)
    new_row = _mv_row(after, mv_after)
    diff = object_diff(
        old_row,
        new_row,
        contributors(before.provenance, mv_before or ""),
        contributors(after.provenance, mv_after or ""),
    )
    ids = [i for i in {mv_before, mv_after} if i is not None]
    old_links = before.links.filter(pl.col(MV_ID).is_in(ids)).select(LINEAGE_COLUMNS)
    new_links = after.links.filter(pl.col(MV_ID).is_in(ids)).select(LINEAGE_COLUMNS)
    exports = result.pending_exports.filter(pl.col(MV_ID).is_in(ids)).select(list(PENDING_EXPORT_SCHEMA))
    anchors = [a for _c, _t, a, _d in ref.cs if a is not None]
    errors = result.errors.filter(pl.col(MV_ID).is_in(ids) | pl.col(ANCHOR).is_in(anchors))
    return {
        "mv_id_before": mv_before,
        "mv_id_after": mv_after,
        "mv_object_type": _type_of(after, mv_after) or ref.mv_object_type,
        "changes": decoded(diff, "old_value", "new_value"),
        "links_added": new_links.join(
            old_links, on=list(LINEAGE_COLUMNS), how="anti", nulls_equal=True
        ).to_dicts(),
        "links_removed": old_links.join(
            new_links, on=list(LINEAGE_COLUMNS), how="anti", nulls_equal=True
        ).to_dicts(),
        "pending_exports": decoded(
            exports.drop(MV_ID).sort("connector", "op", "attribute"), "old_value", "new_value"
        ),
        "errors": errors.to_dicts(),
    }


def _mv_row(state: SyncState, mv_id: str | None) -> pl.DataFrame:
    if mv_id is not None:
        for frame in state.metaverse.values():  # one frame per metaverse type
            row = frame.filter(pl.col(MV_ID) == mv_id)
            if row.height:
                return row
    return pl.DataFrame()


def _type_of(state: SyncState, mv_id: str | None) -> str | None:
    for object_type, frame in state.metaverse.items():  # one frame per metaverse type
        if mv_id is not None and frame.filter(pl.col(MV_ID) == mv_id).height:
            return object_type
    return None


def _linked_id(links: pl.DataFrame, ref: ObjectRef) -> str | None:
    """The metaverse object the named connector-space object is linked to after the sync."""
    for connector, _type, anchor, _dn in ref.cs:  # the one or few objects the name resolved to
        hit = links.filter((pl.col("connector") == connector) & (pl.col(ANCHOR) == anchor))[
            MV_ID
        ].drop_nulls()
        if hit.len():
            return str(hit[0])
    return None
