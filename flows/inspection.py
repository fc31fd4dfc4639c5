"""Read-only views of a state store for operators: run history, errors, search and one object.

The Synchronization Service Manager's Operations tab, Search Connector Space, Metaverse Search and the
connector-space / metaverse object properties (spec 7.13). Nothing here writes to the store; commands
open it read-only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import polars as pl

from flows.store import Store, cs_table_name, mv_table_name
from transforms.errors import InputError
from transforms.ops.conditions import Condition, check_attributes, conditions_expr
from transforms.ops.diff import attribute_values, contributors
from transforms.schema import ANCHOR, DN, MV_ID, PENDING
from transforms.sync.values import json_expr

RUN_COLUMNS: Final = ("run_id", "cycle_id", "connector", "profile", "status", "started_at", "ended_at")
ERROR_COLUMNS: Final = (
    "occurred_at",
    "run_id",
    "connector",
    "stage",
    "error_type",
    "_anchor",
    "_dn",
    "message",
    "detail",
)
PendingScope = Literal["import", "export"]
PendingOp = Literal["add", "update", "delete"]
# The import flags each --op selects: a delete-add is both a delete and an add.
IMPORT_FLAGS: Final[dict[str, tuple[str, ...]]] = {
    "add": ("add", "delete-add"),
    "update": ("update",),
    "delete": ("delete", "delete-add"),
}


class NotFoundError(InputError):
    """No run, object or table matches what the operator asked for (terminal)."""


class AmbiguousObjectError(InputError):
    """An object name matches several objects; the message lists them (terminal)."""


# -- run history -------------------------------------------------------------------------------------


def counters_summary(counters: dict[str, int], width: int = 6) -> str:
    """The non-zero counters, largest first (ties by name), at most ``width`` of them."""
    shown = sorted(((k, v) for k, v in counters.items() if v), key=lambda kv: (-kv[1], kv[0]))
    text = ", ".join(f"{k}={v}" for k, v in shown[:width])
    return text + (f", +{len(shown) - width} more" if len(shown) > width else "") if text else "-"


def run_history(store: Store, *, limit: int) -> list[dict[str, Any]]:
    """The latest runs, newest first, with their counters decoded."""
    runs = store.runs(limit=limit)
    return [_run_record(row) for row in runs.iter_rows(named=True)]  # one per run, at most ``limit``


def _run_record(row: dict[str, Any]) -> dict[str, Any]:
    record = {c: row[c] for c in RUN_COLUMNS}
    record["counters"] = json.loads(row["counters"]) if row["counters"] else {}
    record["message"] = row["message"]
    # A partition backfill's import names the partitions it read; other steps have none.
    record["partition"] = row.get("partition") or None
    return record


def find_run(store: Store, run_id: str) -> dict[str, Any]:
    """One run by id or by a unique prefix of it (as git resolves commits)."""
    rows = store.query("SELECT * FROM runs WHERE starts_with(run_id, ?) ORDER BY run_id", [run_id])
    if rows.is_empty():
        raise NotFoundError(f"no run {run_id!r} in the run history (see `forestsync runs`)")
    if rows.height > 1:
        ids = ", ".join(rows["run_id"].head(5).to_list())
        raise AmbiguousObjectError(f"run id prefix {run_id!r} matches {rows.height} runs: {ids}")
    return _run_record(rows.row(0, named=True))


def run_errors(
    store: Store,
    *,
    run_id: str | None = None,
    connector: str | None = None,
    error_type: str | None = None,
    limit: int = 100,
) -> pl.DataFrame:
    """Rows of the errors table, newest first, filtered in DuckDB."""
    clauses, params = [], []
    if run_id is not None:  # a run id or a prefix of it
        clauses.append("starts_with(run_id, ?)")
        params.append(run_id)
    for column, value in (("connector", connector), ("error_type", error_type)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    columns = ", ".join(ERROR_COLUMNS)
    return store.query(
        f"SELECT {columns} FROM errors{where} ORDER BY occurred_at DESC, connector, _anchor LIMIT ?",
        [*params, limit],
    )


# -- search ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchResult:
    """The first ``limit`` matches (attribute columns as JSON text) and how many matched in all."""

    objects: pl.DataFrame
    matched: int


def search(
    store: Store,
    *,
    mv_type: str | None = None,
    connector: str | None = None,
    object_type: str | None = None,
    conditions: Sequence[Condition] = (),
    pending: PendingScope | None = None,
    op: PendingOp | None = None,
    attributes: Sequence[str] = (),
    limit: int = 50,
) -> SearchResult:
    """Metaverse search (``mv_type``) or connector-space search (``connector``, maybe ``object_type``).

    ``pending="import"`` keeps connector-space objects with a pending import (``op`` narrows it);
    ``pending="export"`` lists the connector's objects with pending exports, their imported image (if
    any) joined so that conditions still apply.
    """
    if (mv_type is None) == (connector is None):
        raise InputError("search either the metaverse (--mv TYPE) or a connector space (--cs CONNECTOR)")
    if mv_type is not None and (pending or object_type):
        raise InputError("--pending and --type apply to a connector-space search (--cs)")
    if op is not None and pending is None:
        raise InputError("--op narrows a --pending search")
    if mv_type is not None:
        frames = [(mv_type, _metaverse_table(store, mv_type))]
        keys = ["object_type", MV_ID]
    elif pending == "export":
        assert connector is not None
        frames = _pending_export_frames(store, connector, object_type, op)
        keys = ["object_type", MV_ID]
    else:
        assert connector is not None
        frames = _connector_space_frames(store, connector, object_type)
        keys = ["object_type", ANCHOR]
    if pending != "export":  # objects only pending export may have no imported image to check against
        check_attributes(conditions, [f.schema for _, f in frames])
    shown = [
        a
        for a in dict.fromkeys([*attributes, *(c.attribute for c in conditions)])
        if not a.startswith("_")  # system columns are shown anyway
    ]
    parts: list[pl.DataFrame] = []
    matched = 0
    for table_type, frame in frames:  # one frame per object type, not per object
        hits = frame.lazy().filter(conditions_expr(conditions, frame.schema))
        if pending == "import":
            flags = IMPORT_FLAGS[op] if op else ("add", "update", "delete", "delete-add")
            hits = hits.filter(pl.col(PENDING).is_in(flags))
        found = hits.collect()
        matched += found.height
        parts.append(_display(found.head(limit), table_type, connector, shown))
    objects = pl.concat(parts, how="diagonal_relaxed") if parts else pl.DataFrame()
    if objects.height:
        objects = objects.sort(keys, nulls_last=True).head(limit)
    return SearchResult(objects, matched)


def _metaverse_table(store: Store, mv_type: str) -> pl.DataFrame:
    types = store.metaverse_types()
    if mv_type not in types:
        raise NotFoundError(
            f"no metaverse object type {mv_type!r}; the metaverse has: {', '.join(types) or '-'}"
        )
    frame = store.read_metaverse(mv_type)
    assert frame is not None
    return frame


def _connector_space_frames(
    store: Store, connector: str, object_type: str | None
) -> list[tuple[str, pl.DataFrame]]:
    registry = store.connector_space_types(connector)
    if registry.is_empty():
        known = store.connector_space_types()["connector"].unique().sort().to_list()
        raise NotFoundError(f"no connector space {connector!r}; the store has: {', '.join(known) or '-'}")
    types = registry["object_type"].to_list()
    if object_type is not None:
        if object_type not in types:
            raise NotFoundError(
                f"connector {connector!r} has no object type {object_type!r}; it has: {', '.join(types)}"
            )
        types = [object_type]
    links = store.query(
        "SELECT _anchor, _mv_id FROM links WHERE connector = ? AND _anchor IS NOT NULL", [connector]
    )
    frames = []
    for name in types:  # one per object type
        frame = store.read_connector_space(connector, name)
        if frame is not None:
            frames.append((name, frame.join(links, on=ANCHOR, how="left", maintain_order="left")))
    return frames


def _pending_export_frames(
    store: Store, connector: str, object_type: str | None, op: PendingOp | None
) -> list[tuple[str, pl.DataFrame]]:
    clauses, params = ["connector = ?"], [connector]
    for column, value in (("object_type", object_type), ("op", op)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    objects = store.query(
        f"""SELECT object_type, _mv_id, any_value(_anchor) AS _anchor, any_value(_dn) AS _dn, op AS _export,
                   count(attribute)::BIGINT AS _attributes
            FROM pending_exports WHERE {" AND ".join(clauses)}
            GROUP BY object_type, _mv_id, op ORDER BY object_type, _mv_id""",
        params,
    )
    frames = []
    for name in objects["object_type"].unique().sort().to_list():  # one per object type
        part = objects.filter(pl.col("object_type") == name).drop("object_type")
        image = store.read_connector_space(connector, name)
        if image is not None:
            image = image.select(ANCHOR, *(c for c in image.columns if not c.startswith("_")))
            part = part.join(image, on=ANCHOR, how="left", maintain_order="left")
        frames.append((name, part))
    return frames


def _display(
    found: pl.DataFrame, object_type: str, connector: str | None, shown: Sequence[str]
) -> pl.DataFrame:
    system = [c for c in (ANCHOR, DN, MV_ID, PENDING, "_export", "_attributes") if c in found.columns]
    columns = [
        pl.lit(object_type).alias("object_type"),
        *(pl.col(c) for c in system),
        *(
            json_expr(pl.col(a), found.schema[a]).alias(a)
            if a in found.columns
            else pl.lit(None, pl.String).alias(a)
            for a in shown
        ),
    ]
    if connector is not None:
        columns.insert(0, pl.lit(connector).alias("connector"))
    return found.select(columns)


# -- one object --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectRef:
    """Where a name resolved: a metaverse object, a connector-space object, or both."""

    mv_id: str | None
    mv_object_type: str | None
    cs: tuple[tuple[str, str, str | None, str | None], ...]  # (connector, object type, anchor, dn)


def resolve_object(store: Store, name: str, *, connector: str | None = None) -> ObjectRef:
    """A metaverse id, a connector-space anchor or a DN (case-insensitive) to one object.

    A connector-space object joined to the metaverse resolves to its metaverse object too; an object
    provisioned but not yet exported is found through its link. ``connector`` narrows the
    connector-space candidates (a metaverse id is unique and always resolves).
    """
    mv_type = _metaverse_type_of(store, name)
    if mv_type is not None:
        return ObjectRef(name, mv_type, ())
    hits: list[tuple[str, str, str | None, str | None]] = []
    for conn, object_type, table in store.connector_space_types(connector).iter_rows():  # per table
        rows = store.query(
            f'SELECT _anchor, _dn FROM "{table}" WHERE _anchor = ? OR lower(_dn) = lower(?)', [name, name]
        )
        hits.extend((conn, object_type, a, d) for a, d in rows.iter_rows())
    anchors = [a for _c, _t, a, _d in hits if a is not None]
    links = store.query(
        """SELECT connector, object_type, _anchor, _dn, _mv_id, mv_object_type FROM links
           WHERE (_anchor = ? OR lower(_dn) = lower(?) OR list_contains(?::VARCHAR[], _anchor))
             AND (?::VARCHAR IS NULL OR connector = ?)""",
        [name, name, anchors, connector, connector],
    )
    seen = {(c, a) for c, _t, a, _d in hits}
    for c, t, a, d, _m, _mt in links.iter_rows():  # the few links of the named object
        if (c, a) not in seen:
            hits.append((c, t, a, d))
            seen.add((c, a))
    mv_ids = links[MV_ID].drop_nulls().unique().sort().to_list()
    if len(mv_ids) > 1:
        listed = "; ".join(f"{c} {a or d} -> {m}" for c, _t, a, d, m, _mt in links.head(5).iter_rows())
        raise AmbiguousObjectError(
            f"{name!r} names {len(mv_ids)} metaverse objects ({listed}); narrow it with --connector"
        )
    if not mv_ids and len(seen) > 1:
        listed = "; ".join(f"{c}/{t} {a}" for c, t, a, _d in hits[:5])
        raise AmbiguousObjectError(
            f"{name!r} names {len(seen)} connector-space objects ({listed}); narrow it with --connector"
        )
    if not mv_ids and not hits:
        raise NotFoundError(f"no metaverse object, connector-space anchor or DN {name!r}")
    mv_id = mv_ids[0] if mv_ids else None
    if mv_id is not None:
        types = links.filter(pl.col(MV_ID) == mv_id)["mv_object_type"].drop_nulls().to_list()
        mv_type = types[0] if types else _metaverse_type_of(store, mv_id)
    ordered = tuple(sorted(hits, key=lambda h: tuple(v or "" for v in h)))
    return ObjectRef(mv_id, mv_type, ordered)


def _metaverse_type_of(store: Store, mv_id: str) -> str | None:
    for object_type in store.metaverse_types():  # one query per metaverse type
        table = mv_table_name(object_type)
        rows = store.query(f'SELECT count(*) AS n FROM "{table}" WHERE _mv_id = ?', [mv_id])
        if rows["n"][0]:
            return object_type
    return None


def describe_object(store: Store, ref: ObjectRef) -> dict[str, Any]:
    """The object's properties: metaverse attributes with provenance, lineage, connector-space images,
    pending exports and errors (values as JSON-compatible data)."""
    mv_id = ref.mv_id
    lineage = (
        store.query(
            """SELECT connector, object_type, _anchor, _dn, rule, link_type, direction FROM links
               WHERE _mv_id = ? ORDER BY connector, object_type, _anchor""",
            [mv_id],
        )
        if mv_id
        else pl.DataFrame()
    )
    attributes: list[dict[str, Any]] = []
    if mv_id and ref.mv_object_type:
        row = store.query(f'SELECT * FROM "{mv_table_name(ref.mv_object_type)}" WHERE _mv_id = ?', [mv_id])
        provenance = store.query("SELECT * FROM mv_provenance WHERE _mv_id = ?", [mv_id])
        values = attribute_values(row).join(contributors(provenance, mv_id), on="attribute", how="left")
        attributes = decoded(values, "value")
    objects = {(c, t, a, d) for c, t, a, d in ref.cs}
    if lineage.height:
        objects |= {(c, t, a, d) for c, t, a, d, *_ in lineage.iter_rows()}
    anchors = sorted({a for _c, _t, a, _d in objects if a is not None})
    pending = store.query(
        """SELECT connector, object_type, _anchor, _dn, op, attribute, old_value, new_value FROM pending_exports
           WHERE _mv_id = ? OR list_contains(?::VARCHAR[], _anchor) ORDER BY connector, op, attribute""",
        [mv_id, anchors],
    )
    errors = store.query(
        f"""SELECT {", ".join(ERROR_COLUMNS)} FROM errors
            WHERE list_contains(?::VARCHAR[], _anchor) OR (?::VARCHAR IS NOT NULL AND contains(detail, 'mv: ' || ?))
            ORDER BY occurred_at DESC""",
        [anchors, mv_id, mv_id],
    )
    return {
        "mv_id": mv_id,
        "mv_object_type": ref.mv_object_type,
        "attributes": attributes,
        "lineage": lineage.to_dicts(),
        "connector_objects": [_cs_image(store, c, t, a, d) for c, t, a, d in sorted(objects, key=_key)],
        "pending_exports": decoded(pending, "old_value", "new_value"),
        "errors": errors.to_dicts(),
    }


def _key(item: tuple[str | None, ...]) -> tuple[str, ...]:
    return tuple(v or "" for v in item)


def _cs_image(
    store: Store, connector: str, object_type: str, anchor: str | None, dn: str | None
) -> dict[str, Any]:
    image: dict[str, Any] = {"connector": connector, "object_type": object_type, "anchor": anchor, "dn": dn}
    table = cs_table_name(connector, object_type)
    if anchor is None or not store.has_table(table):
        return image | {"pending_import": None, "attributes": None}
    row = store.query(f'SELECT * FROM "{table}" WHERE _anchor = ?', [anchor])
    if row.is_empty():
        return image | {"pending_import": None, "attributes": None}
    values = attribute_values(row)
    return image | {
        "dn": row[DN][0],
        "pending_import": row[PENDING][0],
        "attributes": {r["attribute"]: r["value"] for r in decoded(values, "value")},
    }


def decoded(frame: pl.DataFrame, *json_columns: str) -> list[dict[str, Any]]:
    """Rows as dicts with the JSON-text columns decoded (reports of one object, not the hot path)."""
    rows = frame.to_dicts()
    for row in rows:
        for column in json_columns:
            text = row.get(column)
            row[column] = None if text is None else json.loads(text)
    return rows
