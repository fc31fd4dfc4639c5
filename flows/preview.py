"""Preview of one object (the Synchronization Service Manager's *Generate Preview*), never committed.

A full sync in memory of the part of the state the object's result depends on (its metaverse object,
the connector-space objects joined to it, its join candidates, what its references point at: see
:mod:`transforms.ops.preview_scope`), reported for that object only (metaverse attribute changes with
the winning rule, link changes, pending exports, errors). The neighbourhood is found on the system,
join and reference columns of the stored tables; only its rows are then read whole and synced. The
store is never written. ``whole_store=True`` syncs everything instead: the reference the
neighbourhood's answer must equal.
"""

from __future__ import annotations

from collections.abc import Callable
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
from flows.store import Store, mv_table_name
from transforms.ops.diff import contributors, object_diff
from transforms.ops.preview_scope import preview_scope, scope_columns
from transforms.rules import SyncRule
from transforms.schema import ANCHOR, MV_ID, PENDING_EXPORT_SCHEMA
from transforms.sync.engine import bind_rules, run_sync
from transforms.sync.frames import conform
from transforms.sync.schema import (
    EXPORT_MEMORY_SCHEMA,
    LINKS_SCHEMA,
    REFERENCE_INDEX_SCHEMA,
    STAGED_DELETES_SCHEMA,
)
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
    """What a full sync would change on the object ``ref`` names; the store is not written.

    The neighbourhood is found on the stored state's system and join/reference columns only, then
    just its rows are read whole (:func:`load_rows`) and synced; a join on a value the sync computes
    widens it, and the sync is repeated until it is stable.
    """
    if whole_store:
        before = load_sync_state(store)
        return object_report(before, sync_in_memory(before, config, rules), ref)
    kinds = connector_kinds(config)
    bound = bind_rules(rules, list(kinds), kinds)
    narrow = load_columns(store, scope_columns(bound))
    seeds = pl.DataFrame(
        [(c, a) for c, _t, a, _d in ref.cs if a is not None],
        schema={"connector": pl.String(), ANCHOR: pl.String()},
        orient="row",
    )
    ids = [ref.mv_id] if ref.mv_id else []
    scope = preview_scope(narrow, bound, mv_ids=ids, cs_keys=seeds)
    before = load_rows(store, *scope)
    result = sync_in_memory(before, config, rules)
    for _ in range(ROUNDS):
        wider = preview_scope(narrow, bound, mv_ids=ids, cs_keys=seeds, after=result.state.metaverse)
        if _same(wider, scope):
            break
        scope = wider
        before = load_rows(store, *scope)
        result = sync_in_memory(before, config, rules)
    return object_report(before, result, ref)


def load_columns(store: Store, columns: set[str]) -> SyncState:
    """The stored state with only the system columns and ``columns`` of the connector spaces and the
    metaverse (links and staged deletes whole; no export memory or reference index)."""
    spaces, metaverse = _read_objects(
        store,
        lambda _connector, table: (
            f'SELECT {_wanted(store, table, columns)} FROM "{table}" ORDER BY _anchor',
            [],
        ),
        lambda table: (f'SELECT {_wanted(store, table, columns)} FROM "{table}" ORDER BY _mv_id', []),
    )
    return SyncState(
        connector_spaces=spaces,
        metaverse=metaverse,
        links=store.read_table("links").select(list(LINKS_SCHEMA)),
        staged_deletes=store.read_table("staged_deletes").select(list(STAGED_DELETES_SCHEMA)),
    )


def _read_objects(
    store: Store,
    cs_query: Callable[[str, str], tuple[str, list[Any]]],
    mv_query: Callable[[str], tuple[str, list[Any]]],
) -> tuple[dict[str, dict[str, pl.DataFrame]], dict[str, pl.DataFrame]]:
    """Connector-space and metaverse frames of the store, each table read by the SQL and parameters
    ``cs_query(connector, table)`` / ``mv_query(table)`` give (the one walk over the object tables)."""
    spaces: dict[str, dict[str, pl.DataFrame]] = {}
    for connector, object_type, table in store.connector_space_types().iter_rows():  # one per table
        spaces.setdefault(connector, {})[object_type] = store.query(*cs_query(connector, table))
    metaverse = {}
    for object_type in store.metaverse_types():
        table = mv_table_name(object_type)
        if store.has_table(table):
            metaverse[object_type] = store.query(*mv_query(table))
    return spaces, metaverse


def _wanted(store: Store, table: str, columns: set[str]) -> str:
    names = store.query(f'SELECT * FROM "{table}" LIMIT 0').columns
    keep = [n for n in names if (n.startswith("_") and not n.startswith("_by.")) or n in columns]
    return ", ".join('"' + n.replace('"', '""') + '"' for n in keep)


def load_rows(store: Store, mv_ids: pl.Series, cs_keys: pl.DataFrame) -> SyncState:
    """The stored state restricted to the metaverse objects ``mv_ids`` and the connector-space objects
    ``cs_keys`` (``connector``, ``_anchor``), whole rows, read with the same order as a full load."""
    ids = mv_ids.drop_nulls().to_list()
    keys = cs_keys.select(pl.concat_str("connector", pl.lit("\x00"), ANCHOR)).to_series().to_list()
    spaces, metaverse = _read_objects(
        store,
        lambda connector, table: (
            f'SELECT * FROM "{table}" WHERE _anchor IN (SELECT unnest(?::VARCHAR[])) ORDER BY _anchor',
            [cs_keys.filter(pl.col("connector") == connector).get_column(ANCHOR).to_list()],
        ),
        lambda table: (
            f'SELECT * FROM "{table}" WHERE _mv_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY _mv_id',
            [ids],
        ),
    )
    by_key = "(connector || chr(0) || _anchor) IN (SELECT unnest(?::VARCHAR[]))"
    by_id = "_mv_id IN (SELECT unnest(?::VARCHAR[]))"

    def rows(table: str, where: str, *params: list[str]) -> pl.DataFrame:
        return store.query(f"SELECT * FROM {table} WHERE {where}", list(params))

    return SyncState(
        connector_spaces=spaces,
        metaverse=metaverse,
        links=conform(rows("links", f"{by_id} OR {by_key}", ids, keys), LINKS_SCHEMA),
        export_memory=conform(rows("export_memory", by_id, ids), EXPORT_MEMORY_SCHEMA),
        reference_index=conform(rows("reference_index", by_key, keys), REFERENCE_INDEX_SCHEMA),
        staged_deletes=conform(
            rows("staged_deletes", f"{by_id} OR {by_key}", ids, keys), STAGED_DELETES_SCHEMA
        ),
    )


def _same(one: tuple[pl.Series, pl.DataFrame], other: tuple[pl.Series, pl.DataFrame]) -> bool:
    return set(one[0].to_list()) == set(other[0].to_list()) and set(one[1].iter_rows()) == set(
        other[1].iter_rows()
    )


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
    keep = pl.lit(False) if mv_id is None else pl.col(MV_ID) == mv_id  # a disconnector has no MV object
    return SyncState(metaverse={t: f.filter(keep) for t, f in state.metaverse.items()})


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
