"""The import run step: read a connector, stage the changes, commit data and watermark together."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import polars as pl

from flows.connectors.base import Connector, ImportBatch, ImportResult
from flows.errors import ForestsyncError
from flows.store import Store
from transforms.sync.partitions import stage_partition_import
from transforms.sync.staging import STAGE_COUNTERS, StagedImport, stage_delta_import, stage_full_import

PROFILE_FULL = "Full Import"
PROFILE_DELTA = "Delta Import"


def import_connector_space(
    store: Store,
    connector: Connector,
    *,
    cycle_id: str,
    full: bool,
    flow_run_id: str | None = None,
    partitions: Sequence[str] | None = None,
    known_partitions: Sequence[str] = (),
) -> dict[str, Any]:
    """Run one import step of ``connector`` into ``store`` and record it in the run history.

    Everything the connector returns is read before anything is written; the staged connector spaces
    and the new watermarks are then committed in one transaction, so a failure leaves the previous
    state and watermark untouched.

    ``partitions``: a full import of these partitions only (of the connector's ``known_partitions``;
    ``connector`` reads just them). What they no longer show is deleted; the objects and watermarks of
    the other partitions are left alone. The run row names the partitions.
    """
    run_id = uuid.uuid4().hex
    watermarks = store.watermarks(connector.name)
    full = full or not watermarks or partitions is not None
    profile = PROFILE_FULL if full else PROFILE_DELTA
    store.start_run(
        run_id,
        cycle_id=cycle_id,
        connector=connector.name,
        profile=profile,
        partition=";".join(partitions or ()),
        flow_run_id=flow_run_id,
    )
    counters = dict.fromkeys(STAGE_COUNTERS, 0)
    scope = (tuple(partitions), tuple(known_partitions)) if partitions is not None else None
    try:
        result = connector.full_import() if full else connector.delta_import(watermarks)
        staged = _stage(store, connector.name, result, scope)
        with store.transaction():
            for object_type, frame in staged.items():
                store.write_connector_space(connector.name, object_type, frame[0])
                for key, value in frame[1].items():
                    counters[key] = counters.get(key, 0) + value
            if result.full and scope is None:
                store.clear_watermarks(connector.name)
            store.set_watermarks(connector.name, result.watermarks, run_id)
    except ForestsyncError as exc:
        store.finish_run(
            run_id,
            status="stopped-" + ("connectivity" if exc.transient else "error"),
            counters=counters,
            message=str(exc),
        )
        raise
    profile = PROFILE_FULL if result.full else PROFILE_DELTA
    store.execute("UPDATE runs SET profile = ? WHERE run_id = ?", [profile, run_id])
    status = "success" if _object_total(staged) else "completed-no-objects"
    store.finish_run(run_id, status=status, counters=counters)
    return {
        "run_id": run_id,
        "connector": connector.name,
        "profile": profile,
        "status": status,
        "counters": counters,
    }


def _object_total(staged: dict[str, tuple[pl.DataFrame, dict[str, int]]]) -> int:
    return sum(frame.height for frame, _ in staged.values())


Scope = tuple[tuple[str, ...], tuple[str, ...]]  # (chosen partitions, every partition of the connector)


def _stage(
    store: Store, name: str, result: ImportResult, scope: Scope | None = None
) -> dict[str, tuple[pl.DataFrame, dict[str, int]]]:
    by_type: dict[str, list[ImportBatch]] = defaultdict(list)
    for batch in result.batches:
        by_type[batch.object_type].append(batch)
    staged: dict[str, tuple[pl.DataFrame, dict[str, int]]] = {}
    for object_type, batches in by_type.items():
        previous = store.read_connector_space(name, object_type)
        if result.full:
            incoming = pl.concat([b.frame for b in batches], how="diagonal_relaxed")
            done = _stage_full(previous, incoming, scope)
        else:
            done = stage_delta_import(previous, batches)
        staged[object_type] = (done.frame, done.counters)
    if result.full:
        # Object types the connector no longer returns at all are obsoleted as a whole (in the
        # imported partitions).
        for known in store.connector_space_types(name)["object_type"].to_list():
            if known not in staged:
                previous = store.read_connector_space(name, known)
                if previous is not None:
                    empty = previous.clear().select("_anchor", "_dn", "_object_type")
                    done = _stage_full(previous, empty, scope)
                    staged[known] = (done.frame, done.counters)
    return staged


def _stage_full(previous: pl.DataFrame | None, incoming: pl.DataFrame, scope: Scope | None) -> StagedImport:
    if scope is None:
        return stage_full_import(previous, incoming)
    chosen, known = scope
    return stage_partition_import(previous, incoming, chosen=chosen, partitions=known)
