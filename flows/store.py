"""The state store: one DuckDB file, one writer process.

Tables follow ARCHITECTURE.md's data model. Connector spaces and the metaverse are wide tables whose
columns follow the data (one table per connector and object type, one per metaverse object type),
registered in ``cs_tables`` / ``mv_tables``; everything else has a fixed schema created by versioned
migrations. Frames go in and out through Arrow (``CREATE TABLE ... AS SELECT * FROM frame`` and
``.pl()``), never a Python loop over rows. A multi-table change is one transaction: a watermark is
only ever committed together with the data it covers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import duckdb
import polars as pl

from flows.errors import StoreError, StoreLockedError
from transforms.sync.frames import contiguous


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[duckdb.DuckDBPyConnection], None]


def _sql(*statements: str) -> Callable[[duckdb.DuckDBPyConnection], None]:
    def run(con: duckdb.DuckDBPyConnection) -> None:
        for statement in statements:
            con.execute(statement).fetchall()

    return run


MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration(
        1,
        "core tables: registries, links, provenance, pending exports, export memory, runs, watermarks, errors",
        _sql(
            """CREATE TABLE cs_tables (connector VARCHAR, object_type VARCHAR, table_name VARCHAR,
                   PRIMARY KEY (connector, object_type))""",
            """CREATE TABLE mv_tables (object_type VARCHAR PRIMARY KEY, table_name VARCHAR)""",
            """CREATE TABLE links (connector VARCHAR, _anchor VARCHAR, _mv_id VARCHAR, rule VARCHAR,
                   link_type VARCHAR, run_id VARCHAR, PRIMARY KEY (connector, _anchor))""",
            """CREATE TABLE mv_provenance (_mv_id VARCHAR, attribute VARCHAR, connector VARCHAR, rule VARCHAR)""",
            """CREATE TABLE pending_exports (connector VARCHAR, object_type VARCHAR, _mv_id VARCHAR,
                   _anchor VARCHAR, _dn VARCHAR, op VARCHAR, attribute VARCHAR, old_value VARCHAR,
                   new_value VARCHAR, run_id VARCHAR)""",
            """CREATE TABLE export_memory (connector VARCHAR, _mv_id VARCHAR, _anchor VARCHAR,
                   attribute VARCHAR, value VARCHAR, run_id VARCHAR)""",
            """CREATE TABLE runs (run_id VARCHAR PRIMARY KEY, cycle_id VARCHAR, connector VARCHAR,
                   profile VARCHAR, partition VARCHAR, started_at TIMESTAMPTZ, ended_at TIMESTAMPTZ,
                   status VARCHAR, counters JSON, flow_run_id VARCHAR, message VARCHAR)""",
            """CREATE TABLE watermarks (connector VARCHAR, partition VARCHAR, value VARCHAR,
                   run_id VARCHAR, updated_at TIMESTAMPTZ, PRIMARY KEY (connector, partition))""",
            """CREATE TABLE errors (run_id VARCHAR, connector VARCHAR, _anchor VARCHAR, _dn VARCHAR,
                   stage VARCHAR, error_type VARCHAR, message VARCHAR, detail VARCHAR, occurred_at TIMESTAMPTZ)""",
        ),
    ),
    Migration(
        2,
        "settings: key/value state of the scheduler (rule hash, connector overrides)",
        _sql("CREATE TABLE settings (key VARCHAR PRIMARY KEY, value JSON, updated_at TIMESTAMPTZ)"),
    ),
    Migration(
        3,
        "sync state tables in the engine's schemas: links with direction and lifetime, export memory per "
        "metaverse object, the reference index",
        _sql(
            """CREATE TABLE links_v3 (connector VARCHAR, object_type VARCHAR, _anchor VARCHAR, _dn VARCHAR,
                   _mv_id VARCHAR, mv_object_type VARCHAR, rule VARCHAR, link_type VARCHAR, direction VARCHAR,
                   sustains BOOLEAN, anchor_assigned BOOLEAN)""",
            """INSERT INTO links_v3 SELECT connector, NULL, _anchor, NULL, _mv_id, NULL, rule, link_type,
                   'inbound', link_type IN ('Provision', 'StickyJoin'), FALSE FROM links""",
            "DROP TABLE links",
            "ALTER TABLE links_v3 RENAME TO links",
            """CREATE TABLE export_memory_v3 (connector VARCHAR, _mv_id VARCHAR, attribute VARCHAR, value VARCHAR)""",
            """INSERT INTO export_memory_v3 SELECT connector, _mv_id, attribute, value FROM export_memory""",
            "DROP TABLE export_memory",
            "ALTER TABLE export_memory_v3 RENAME TO export_memory",
            "CREATE TABLE reference_index (connector VARCHAR, _anchor VARCHAR, target_dn VARCHAR)",
        ),
    ),
    Migration(
        4,
        "the reference index holds DNs lower-cased (DNs compare case-insensitively)",
        _sql("UPDATE reference_index SET target_dn = lower(target_dn)"),
    ),
    Migration(
        5,
        "staged deletes: deprovisioned connector-space objects awaiting the import that confirms the deletion",
        _sql(
            """CREATE TABLE staged_deletes (connector VARCHAR, object_type VARCHAR, _anchor VARCHAR,
                   _dn VARCHAR, _mv_id VARCHAR, exported BOOLEAN)"""
        ),
    ),
    Migration(
        6,
        "disconnectors: the connector-space objects the last sync left unjoined (recorded from the next "
        "sync on; until then a delta sync finds them itself)",
        _sql("CREATE TABLE disconnectors (connector VARCHAR, object_type VARCHAR, _anchor VARCHAR)"),
    ),
)

_IDENT = re.compile(r"[^a-z0-9_]+")


def cs_table_name(connector: str, object_type: str) -> str:
    return f"cs__{_IDENT.sub('_', connector.lower())}__{_IDENT.sub('_', object_type.lower())}"


def mv_table_name(object_type: str) -> str:
    return f"mv__{_IDENT.sub('_', object_type.lower())}"


def _now() -> datetime:
    return datetime.now(UTC)


class Store:
    """A DuckDB state file opened by this process (the only writer)."""

    def __init__(
        self,
        path: Path | str,
        *,
        read_only: bool = False,
        migrations: Sequence[Migration] = MIGRATIONS,
    ) -> None:
        self.path = Path(path)
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        elif not self.path.exists():
            raise StoreError(f"{self.path}: no state store here yet (run an import first)")
        try:
            self._con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise StoreLockedError(
                    f"{self.path}: the state store is open in another forestsync process "
                    "(one writer per store); wait for it to finish"
                ) from None
            raise StoreError(f"{self.path}: cannot open the state store: {exc}") from None
        self._in_transaction = False
        if not read_only:
            self._migrate(migrations)

    # -- lifecycle -----------------------------------------------------------------------------
    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """All writes inside commit together or not at all."""
        if self._in_transaction:
            yield self
            return
        self._con.begin()
        self._in_transaction = True
        try:
            yield self
        except BaseException:
            self._con.rollback()
            raise
        else:
            self._con.commit()
        finally:
            self._in_transaction = False

    # -- migrations ----------------------------------------------------------------------------
    def _migrate(self, migrations: Sequence[Migration]) -> None:
        self._exec(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, description VARCHAR, applied_at TIMESTAMPTZ)"
        )
        done = {row[0] for row in self._exec("SELECT version FROM schema_migrations")}
        known = max((m.version for m in migrations), default=0)
        newer = [v for v in done if v > known]
        if newer:
            raise StoreError(
                f"{self.path}: written by a newer forestsync (schema version {max(newer)}, this one knows {known}); "
                "upgrade forestsync instead of opening it with an older one"
            )
        for migration in sorted(migrations, key=lambda m: m.version):
            if migration.version in done:
                continue
            with self.transaction():
                migration.apply(self._con)
                self._exec(
                    "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                    [migration.version, migration.description, _now()],
                )

    def schema_version(self) -> int:
        row = self._one("SELECT coalesce(max(version), 0) FROM schema_migrations")
        return int(row[0]) if row else 0

    # -- generic frame I/O ---------------------------------------------------------------------
    def query(self, sql: str, params: Sequence[Any] | None = None) -> pl.DataFrame:
        relation = self._con.sql(sql, params=params) if params else self._con.sql(sql)
        # DuckDB hands its rows over in batches (~122k rows each); one chunk per column makes the
        # sync's gathers by position several times cheaper (transforms.sync.frames.contiguous).
        return contiguous(relation.pl())

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        self._exec(sql, params)

    def _exec(self, sql: str, params: Sequence[Any] | None = None) -> list[Any]:
        # DuckDB 2 keeps an unfinished result on the connection until it is fetched to the end.
        return self._con.execute(sql, params or []).fetchall()

    def _one(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        rows = self._exec(sql, params)
        return rows[0] if rows else None

    @contextmanager
    def _registered(self, frame: pl.DataFrame) -> Iterator[str]:
        view = "_frame_in"
        self._con.register(view, frame.to_arrow())
        try:
            yield view
        finally:
            self._con.unregister(view)

    def has_table(self, name: str) -> bool:
        row = self._one("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name])
        return bool(row and row[0])

    def replace_table(self, name: str, frame: pl.DataFrame) -> None:
        """Replace a wide table with a frame, column types from the frame."""
        _check_ident(name)
        with self._registered(frame) as view:
            self._exec(f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM {view}')

    def append(self, name: str, frame: pl.DataFrame) -> None:
        """Append rows to a fixed-schema table; columns are matched by name."""
        _check_ident(name)
        if frame.is_empty():
            return
        columns = ", ".join(f'"{c}"' for c in frame.columns)
        with self._registered(frame) as view:
            self._exec(f'INSERT INTO "{name}" ({columns}) SELECT {columns} FROM {view}')

    def overwrite(self, name: str, frame: pl.DataFrame) -> None:
        """Replace the rows of a fixed-schema table, keeping its declared columns and types."""
        with self.transaction():
            self._exec(f'DELETE FROM "{name}"')
            self.append(name, frame)

    def read_table(self, name: str, *, order_by: str | None = None) -> pl.DataFrame:
        _check_ident(name)
        order = f' ORDER BY "{order_by}"' if order_by else ""
        return self.query(f'SELECT * FROM "{name}"{order}')

    # -- connector spaces ----------------------------------------------------------------------
    def write_connector_space(self, connector: str, object_type: str, frame: pl.DataFrame) -> None:
        table = cs_table_name(connector, object_type)
        with self.transaction():
            self.replace_table(table, frame)
            self._exec("INSERT OR REPLACE INTO cs_tables VALUES (?, ?, ?)", [connector, object_type, table])

    def connector_space_types(self, connector: str | None = None) -> pl.DataFrame:
        if connector is None:
            return self.query("SELECT * FROM cs_tables ORDER BY connector, object_type")
        return self.query("SELECT * FROM cs_tables WHERE connector = ? ORDER BY object_type", [connector])

    def read_connector_space(self, connector: str, object_type: str) -> pl.DataFrame | None:
        table = cs_table_name(connector, object_type)
        if not self.has_table(table):
            return None
        return self.read_table(table, order_by="_anchor")

    def connector_space_stats(self) -> pl.DataFrame:
        """Object counts per connector and object type, with pending-import counts."""
        registry = self.connector_space_types()
        parts = []
        for connector, object_type, table in registry.iter_rows():  # one row per table, not per object
            parts.append(
                f"""SELECT '{_lit(connector)}' AS connector, '{_lit(object_type)}' AS object_type,
                    count(*)::BIGINT AS objects,
                    count(*) FILTER (WHERE _pending = 'add')::BIGINT AS pending_add,
                    count(*) FILTER (WHERE _pending = 'update')::BIGINT AS pending_update,
                    count(*) FILTER (WHERE _pending = 'delete')::BIGINT AS pending_delete
                    FROM "{table}" """
            )
        if not parts:
            return pl.DataFrame(
                schema={
                    "connector": pl.String,
                    "object_type": pl.String,
                    "objects": pl.Int64,
                    "pending_add": pl.Int64,
                    "pending_update": pl.Int64,
                    "pending_delete": pl.Int64,
                }
            )
        return self.query(" UNION ALL ".join(parts) + " ORDER BY connector, object_type")

    # -- metaverse -----------------------------------------------------------------------------
    def write_metaverse(self, object_type: str, frame: pl.DataFrame) -> None:
        table = mv_table_name(object_type)
        with self.transaction():
            self.replace_table(table, frame)
            self._exec("INSERT OR REPLACE INTO mv_tables VALUES (?, ?)", [object_type, table])

    def read_metaverse(self, object_type: str) -> pl.DataFrame | None:
        table = mv_table_name(object_type)
        if not self.has_table(table):
            return None
        return self.read_table(table, order_by="_mv_id")

    def metaverse_types(self) -> list[str]:
        return [r[0] for r in self._exec("SELECT object_type FROM mv_tables ORDER BY 1")]

    # -- watermarks ----------------------------------------------------------------------------
    def watermarks(self, connector: str) -> dict[str, str]:
        rows = self._exec("SELECT partition, value FROM watermarks WHERE connector = ?", [connector])
        return {str(p): str(v) for p, v in rows}

    def set_watermarks(self, connector: str, watermarks: Mapping[str, str], run_id: str) -> None:
        with self.transaction():
            for partition, value in watermarks.items():  # one row per partition
                self._exec(
                    "INSERT OR REPLACE INTO watermarks VALUES (?, ?, ?, ?, ?)",
                    [connector, partition, value, run_id, _now()],
                )

    def clear_watermarks(self, connector: str) -> None:
        self._exec("DELETE FROM watermarks WHERE connector = ?", [connector])

    # -- settings ------------------------------------------------------------------------------
    def get_setting(self, key: str) -> Any:
        row = self._one("SELECT value FROM settings WHERE key = ?", [key])
        return json.loads(row[0]) if row else None

    def set_setting(self, key: str, value: Any) -> None:
        self._exec("INSERT OR REPLACE INTO settings VALUES (?, ?, ?)", [key, json.dumps(value), _now()])

    # -- run history ---------------------------------------------------------------------------
    def start_run(
        self,
        run_id: str,
        *,
        cycle_id: str,
        connector: str,
        profile: str,
        partition: str = "",
        flow_run_id: str | None = None,
    ) -> None:
        self._exec(
            "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, NULL, 'in-progress', '{}', ?, NULL)",
            [run_id, cycle_id, connector, profile, partition, _now(), flow_run_id],
        )

    def finish_run(
        self, run_id: str, *, status: str, counters: Mapping[str, int], message: str | None = None
    ) -> None:
        self._exec(
            "UPDATE runs SET ended_at = ?, status = ?, counters = ?, message = ? WHERE run_id = ?",
            [_now(), status, json.dumps(dict(counters), sort_keys=True), message, run_id],
        )

    def runs(self, *, limit: int = 50) -> pl.DataFrame:
        return self.query("SELECT * FROM runs ORDER BY started_at DESC, run_id DESC LIMIT ?", [limit])

    def purge_runs(self, older_than_days: int) -> int:
        cutoff = f"now() - INTERVAL {int(older_than_days)} DAY"
        with self.transaction():
            row = self._one(f"SELECT count(*) FROM runs WHERE started_at < {cutoff}")
            self._exec(
                f"DELETE FROM errors WHERE run_id IN (SELECT run_id FROM runs WHERE started_at < {cutoff})"
            )
            self._exec(f"DELETE FROM runs WHERE started_at < {cutoff}")
        return int(row[0]) if row else 0

    def record_errors(self, frame: pl.DataFrame) -> None:
        """Append per-object errors (columns of the ``errors`` table; missing ones are null)."""
        if frame.is_empty():
            return
        if "occurred_at" not in frame.columns:
            frame = frame.with_columns(pl.lit(_now()).alias("occurred_at"))
        self.append("errors", frame)


def _check_ident(name: str) -> None:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise StoreError(f"not a table name: {name!r}")


def _lit(text: str) -> str:
    return text.replace("'", "''")
