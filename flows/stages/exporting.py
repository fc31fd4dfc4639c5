"""The export run step: send a connector's pending exports, safely.

Before anything is sent: staging mode writes the export preview and sends nothing; an export to
Entra ID with more pending deletes than the threshold stops with ``stopped-deletion-threshold-exceeded``
and sends nothing (spec 7.1). After the connector ran: successful objects leave the pending exports and
their values enter the export memory until an import confirms them; created objects give their links
the anchors the target assigned; failures stay pending (retried next cycle) and are recorded as errors.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import polars as pl

from flows.connectors.base import Connector
from flows.store import Store
from transforms.schema import EXPORT_ADD, EXPORT_DELETE, EXPORT_UPDATE, MV_ID, PENDING_EXPORT_SCHEMA
from transforms.sync.exports import apply_export_results, record_exports
from transforms.sync.schema import EXPORT_MEMORY_SCHEMA, LINKS_SCHEMA, STAGED_DELETES_SCHEMA
from transforms.sync.state import SyncState

PROFILE = "Export"
STATUS_THRESHOLD = "stopped-deletion-threshold-exceeded"
STATUS_STAGING = "staging-preview"


def pending_exports(store: Store, connector: str) -> pl.DataFrame:
    return store.query(
        "SELECT * FROM pending_exports WHERE connector = ? ORDER BY object_type, _mv_id, attribute",
        [connector],
    ).select(list(PENDING_EXPORT_SCHEMA))


def export_preview(plan: pl.DataFrame) -> dict[str, Any]:
    """Creates, updates and deletes per object, with attribute values: what an export would send."""
    objects: dict[str, list[dict[str, Any]]] = {EXPORT_ADD: [], EXPORT_UPDATE: [], EXPORT_DELETE: []}
    if plan.height:
        grouped = plan.group_by(["op", "object_type", MV_ID, "_anchor", "_dn"], maintain_order=True).agg(
            pl.struct("attribute", "old_value", "new_value")
            .filter(pl.col("attribute").is_not_null())
            .alias("changes")
        )
        for row in grouped.iter_rows(
            named=True
        ):  # one row per object: the preview is a report, not the hot path
            objects.setdefault(row["op"], []).append(
                {
                    "object_type": row["object_type"],
                    "mv_id": row[MV_ID],
                    "anchor": row["_anchor"],
                    "dn": row["_dn"],
                    "attributes": {
                        c["attribute"]: {"old": _json(c["old_value"]), "new": _json(c["new_value"])}
                        for c in row["changes"]
                    },
                }
            )
    return {
        "counts": {op: len(items) for op, items in objects.items()},
        "objects": objects,
    }


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def export_connector(
    store: Store,
    connector: Connector,
    *,
    kind: str,
    cycle_id: str,
    staging: bool,
    deletion_threshold: int | None,
    allow_deletes_once: bool = False,
    preview_dir: Path | None = None,
    flow_run_id: str | None = None,
) -> dict[str, Any]:
    run_id = uuid.uuid4().hex
    store.start_run(
        run_id, cycle_id=cycle_id, connector=connector.name, profile=PROFILE, flow_run_id=flow_run_id
    )
    plan = pending_exports(store, connector.name)
    deletes = plan.filter(pl.col("op") == EXPORT_DELETE)[MV_ID].n_unique()
    step: dict[str, Any] = {"run_id": run_id, "connector": connector.name, "profile": PROFILE}
    if staging:
        preview = export_preview(plan)
        if preview_dir is not None:
            preview_dir.mkdir(parents=True, exist_ok=True)
            path = preview_dir / f"export-preview-{connector.name}.json"
            path.write_text(json.dumps(preview, indent=2, default=str), encoding="utf-8")
            step["preview_file"] = str(path)
        counters = {f"preview-{op}": n for op, n in preview["counts"].items()}
        message = "staging mode: nothing exported"
        store.finish_run(run_id, status=STATUS_STAGING, counters=counters, message=message)
        return step | {"status": STATUS_STAGING, "counters": counters, "message": message, "preview": preview}
    if (
        kind == "aad"
        and deletion_threshold is not None
        and deletes > deletion_threshold
        and not allow_deletes_once
    ):
        message = (
            f"Export to {connector.name} stopped: {deletes} pending deletes exceed the deletion threshold of "
            f"{deletion_threshold} objects; nothing was exported. Review the pending deletes, then raise the "
            "threshold or allow the deletes once."
        )
        counters = {"pending-delete": deletes}
        store.finish_run(run_id, status=STATUS_THRESHOLD, counters=counters, message=message)
        return step | {"status": STATUS_THRESHOLD, "counters": counters, "message": message}
    if not plan.height:
        counters = {"export-add": 0, "export-update": 0, "export-delete": 0, "export-failure": 0}
        store.finish_run(run_id, status="completed-no-objects", counters=counters)
        return step | {"status": "completed-no-objects", "counters": counters}

    results = connector.export(plan)
    ok = results.filter(pl.col("status") == "success").select("connector", MV_ID, "op")
    failed = results.filter(pl.col("status") != "success")
    exported = plan.join(ok.select("connector", MV_ID), on=["connector", MV_ID], how="semi", nulls_equal=True)
    state = SyncState(
        links=store.read_table("links").select(list(LINKS_SCHEMA)),
        export_memory=store.read_table("export_memory").select(list(EXPORT_MEMORY_SCHEMA)),
        staged_deletes=store.read_table("staged_deletes").select(list(STAGED_DELETES_SCHEMA)),
    )
    state = apply_export_results(record_exports(state, exported), results)
    remaining = store.read_table("pending_exports").select(list(PENDING_EXPORT_SCHEMA))
    remaining = remaining.join(
        ok.select("connector", MV_ID), on=["connector", MV_ID], how="anti", nulls_equal=True
    )
    counts = dict(ok.group_by("op").len().iter_rows()) if ok.height else {}
    counters = {
        "export-add": int(counts.get(EXPORT_ADD, 0)),
        "export-update": int(counts.get(EXPORT_UPDATE, 0)),
        "export-delete": int(counts.get(EXPORT_DELETE, 0)),
        "export-failure": failed.height,
    }
    status = "success" if not failed.height else "completed-export-errors"
    with store.transaction():
        store.overwrite("links", state.links.select(list(LINKS_SCHEMA)))
        store.overwrite("export_memory", state.export_memory.select(list(EXPORT_MEMORY_SCHEMA)))
        store.overwrite("staged_deletes", state.staged_deletes.select(list(STAGED_DELETES_SCHEMA)))
        store.overwrite("pending_exports", remaining)
        if failed.height:
            store.record_errors(
                failed.select(
                    pl.lit(run_id).alias("run_id"),
                    "connector",
                    "_anchor",
                    pl.lit(None, pl.String).alias("_dn"),
                    pl.lit("export").alias("stage"),
                    "error_type",
                    "message",
                    pl.concat_str(
                        pl.lit("mv: "),
                        pl.col(MV_ID).fill_null("-"),
                        pl.lit("; op: "),
                        pl.col("op"),
                        pl.lit("; transient: "),
                        pl.col("transient").cast(pl.String),
                    ).alias("detail"),
                )
            )
        store.finish_run(run_id, status=status, counters=counters)
    return step | {"status": status, "counters": counters}
