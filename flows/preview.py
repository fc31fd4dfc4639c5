"""Preview of one object (the Synchronization Service Manager's *Generate Preview*), never committed.

A full sync in memory of the part of the state the object's result depends on (its metaverse object,
the connector-space objects joined to it, its join candidates, what its references point at: see
:mod:`transforms.ops.preview_scope`), reported for that object only (metaverse attribute changes with
the winning rule, link changes, pending exports, errors). The engine's cost is that of the object's
neighbourhood, not of the store; the store is read (whole tables, then restricted in memory), never
written. ``whole_store=True`` syncs everything instead: the reference the restricted preview must equal.
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
from transforms.ops.preview_scope import preview_state
from transforms.rules import SyncRule
from transforms.schema import ANCHOR, MV_ID, PENDING_EXPORT_SCHEMA
from transforms.sync.engine import bind_rules, run_sync
from transforms.sync.state import SyncResult, SyncState

LINEAGE_COLUMNS = ("connector", "object_type", ANCHOR, "_dn", "rule", "link_type", "direction")


ROUNDS = 4  # restricted runs until the neighbourhood is stable (a join on a value computed in the run)


def preview_object(
    store: Store,
    config: Config,
    rules: tuple[SyncRule, ...],
    ref: ObjectRef,
    *,
    whole_store: bool = False,
) -> dict[str, Any]:
    """What a full sync would change on the object ``ref`` names; the store is not written."""
    before = load_sync_state(store)
    if whole_store:
        return object_report(before, sync_in_memory(before, config, rules), ref)
    kinds = connector_kinds(config)
    bound = bind_rules(rules, list(kinds), kinds)
    seeds = pl.DataFrame(
        [(c, a) for c, _t, a, _d in ref.cs if a is not None],
        schema={"connector": pl.String(), ANCHOR: pl.String()},
        orient="row",
    )
    ids = [ref.mv_id] if ref.mv_id else []
    state = preview_state(before, bound, mv_ids=ids, cs_keys=seeds)
    result = sync_in_memory(state, config, rules)
    for _ in range(ROUNDS):
        wider = preview_state(before, bound, mv_ids=ids, cs_keys=seeds, after=result.state.metaverse)
        if _keys(wider) == _keys(state):
            break
        state = wider
        result = sync_in_memory(state, config, rules)
    return object_report(before, result, ref)


def sync_in_memory(state: SyncState, config: Config, rules: tuple[SyncRule, ...]) -> SyncResult:
    """A full sync of ``state`` with the configuration's connectors and parameters; nothing is stored."""
    kinds = connector_kinds(config)
    typed = with_read_attributes(state.connector_spaces, rules, kinds)
    return run_sync(
        replace(state, connector_spaces=typed),
        rules,
        mode="full",
        connectors=kinds,
        params_by_connector=connector_parameters(config),
        partition_params_by_connector=partition_parameters(config),
    )


def object_report(before: SyncState, result: SyncResult, ref: ObjectRef) -> dict[str, Any]:
    """The share of the object ``ref`` names in a sync from ``before`` to ``result``."""
    after = result.state
    mv_before = ref.mv_id
    mv_after = ref.mv_id if _mv_row(after, ref.mv_id).height else _linked_id(after.links, ref)
    old_row = _mv_row(before, mv_before)
    new_row = _mv_row(after, mv_after)
    # Provenance of the one row only: unfolding the whole metaverse's would cost the store's size.
    diff = object_diff(
        old_row,
        new_row,
        contributors(_only(before, mv_before).provenance, mv_before or ""),
        contributors(_only(after, mv_after).provenance, mv_after or ""),
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


def _only(state: SyncState, mv_id: str | None) -> SyncState:
    """``state`` with only the metaverse object ``mv_id`` (for its provenance)."""
    return SyncState(metaverse={t: f.filter(pl.col(MV_ID) == mv_id) for t, f in state.metaverse.items()})


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


def _keys(state: SyncState) -> tuple[frozenset[str], frozenset[tuple[str, str]]]:
    ids = frozenset(i for f in state.metaverse.values() for i in f.get_column(MV_ID).to_list())
    anchors = frozenset(
        (c, a) for c, types in state.connector_spaces.items() for f in types.values() for a in f[ANCHOR]
    )
    return ids, anchors
