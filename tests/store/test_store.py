"""The DuckDB state store: frames round-trip, migrations keep data, one writer, atomic commits."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from flows.errors import StoreError
from flows.store import MIGRATIONS, Migration, Store


def _awkward_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "_anchor": ["b", "a", "c"],
            "displayName": ["Zoë Ångström", None, "李小龍"],
            "proxyAddresses": [["SMTP:zoe@corp.example.com", "smtp:z@corp.example.com"], None, []],
            "objectGUID": [bytes(range(16)), None, b"\x00\xff\x00"],
            "userCertificate": [[b"\x30\x82", b"\x00"], None, []],
            "userAccountControl": [512, None, 514],
            "isCriticalSystemObject": [None, True, False],
        },
        schema={
            "_anchor": pl.String,
            "displayName": pl.String,
            "proxyAddresses": pl.List(pl.String),
            "objectGUID": pl.Binary,
            "userCertificate": pl.List(pl.Binary),
            "userAccountControl": pl.Int64,
            "isCriticalSystemObject": pl.Boolean,
        },
    )


def test_connector_space_round_trips_multivalued_binary_null_and_non_ascii(tmp_path: Path) -> None:
    """A frame written to a connector space reads back equal, types included, in anchor order."""
    frame = _awkward_frame()
    with Store(tmp_path / "state.duckdb") as store:
        store.write_connector_space("corp", "user", frame)
    with Store(tmp_path / "state.duckdb") as store:
        back = store.read_connector_space("corp", "user")
    assert back is not None
    assert_frame_equal(back, frame.sort("_anchor"))


def test_metaverse_round_trip(tmp_path: Path) -> None:
    """Metaverse tables are wide frames keyed by _mv_id."""
    frame = pl.DataFrame({"_mv_id": ["m2", "m1"], "member": [["m1"], None]})
    with Store(tmp_path / "s.duckdb") as store:
        store.write_metaverse("group", frame)
        assert store.metaverse_types() == ["group"]
        assert_frame_equal(store.read_metaverse("group"), frame.sort("_mv_id"))  # type: ignore[arg-type]


def test_new_store_has_every_table_of_the_data_model(tmp_path: Path) -> None:
    """Links, provenance, pending exports, export memory, runs, watermarks and errors exist from the start."""
    with Store(tmp_path / "s.duckdb") as store:
        for table in (
            "cs_tables",
            "mv_tables",
            "links",
            "mv_provenance",
            "pending_exports",
            "export_memory",
            "runs",
            "watermarks",
            "errors",
            "settings",
            "reference_index",
            "staged_deletes",
        ):
            assert store.has_table(table), table
        assert store.schema_version() == max(m.version for m in MIGRATIONS)


def test_a_migration_keeps_existing_data(tmp_path: Path) -> None:
    """Opening a store written by an older schema version applies the new migrations and loses nothing."""
    path = tmp_path / "s.duckdb"
    old = MIGRATIONS[:1]
    with Store(path, migrations=old) as store:
        store.write_connector_space("corp", "user", _awkward_frame())
        store.set_watermarks("corp", {"DC=corp,DC=example,DC=com": "cookie-1"}, "run-1")
        assert store.schema_version() == 1
        assert not store.has_table("settings")

    extra = Migration(
        99,
        "test: a column added to runs",
        lambda con: con.execute("ALTER TABLE runs ADD COLUMN note VARCHAR").fetchall(),
    )
    with Store(path, migrations=(*MIGRATIONS, extra)) as store:
        assert store.schema_version() == 99
        assert store.has_table("settings")
        assert store.watermarks("corp") == {"DC=corp,DC=example,DC=com": "cookie-1"}
        assert_frame_equal(store.read_connector_space("corp", "user"), _awkward_frame().sort("_anchor"))  # type: ignore[arg-type]
        assert "note" in store.query("SELECT * FROM runs").columns


def test_a_store_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    """An older forestsync does not write into a store whose schema it does not know."""
    path = tmp_path / "s.duckdb"
    extra = Migration(50, "future", lambda con: None)
    Store(path, migrations=(*MIGRATIONS, extra)).close()
    with pytest.raises(StoreError, match="newer forestsync"):
        Store(path)


def test_transaction_rolls_back_data_and_watermark_together(tmp_path: Path) -> None:
    """A failure inside a transaction leaves neither the data nor the watermark behind."""
    with Store(tmp_path / "s.duckdb") as store:
        with pytest.raises(RuntimeError), store.transaction():
            store.write_connector_space("corp", "user", _awkward_frame())
            store.set_watermarks("corp", {"p": "w"}, "r")
            raise RuntimeError("import failed half way")
        assert store.read_connector_space("corp", "user") is None
        assert store.watermarks("corp") == {}


def test_second_writer_process_gets_a_clear_error(tmp_path: Path) -> None:
    """One writer per store file: another process is told so, not shown a DuckDB lock trace."""
    path = tmp_path / "s.duckdb"
    with Store(path):
        probe = subprocess.run(
            [sys.executable, "-c", f"from flows.store import Store; Store({str(path)!r})"],
            capture_output=True,
            text=True,
            check=False,
        )
    assert probe.returncode != 0
    assert "StoreLockedError" in probe.stderr
    assert "one writer per store" in probe.stderr


def test_stats_count_objects_and_pending_imports(tmp_path: Path) -> None:
    """cs stats reports objects and pending-import kinds per connector and object type."""
    with Store(tmp_path / "s.duckdb") as store:
        store.write_connector_space(
            "corp", "user", pl.DataFrame({"_anchor": ["a", "b", "c"], "_pending": ["add", "add", "update"]})
        )
        store.write_connector_space("corp", "group", pl.DataFrame({"_anchor": ["g"], "_pending": ["none"]}))
        stats = store.connector_space_stats()
    assert stats.to_dicts() == [
        {
            "connector": "corp",
            "object_type": "group",
            "objects": 1,
            "pending_add": 0,
            "pending_update": 0,
            "pending_delete": 0,
        },
        {
            "connector": "corp",
            "object_type": "user",
            "objects": 3,
            "pending_add": 2,
            "pending_update": 1,
            "pending_delete": 0,
        },
    ]


def test_run_history_records_counters_and_purges_old_runs(tmp_path: Path) -> None:
    """A run row carries status and counters; purge removes runs older than the retention."""
    with Store(tmp_path / "s.duckdb") as store:
        store.start_run("r1", cycle_id="c1", connector="corp", profile="Full Import")
        store.finish_run("r1", status="success", counters={"stage-add": 3})
        store.execute("UPDATE runs SET started_at = now() - INTERVAL 10 DAY WHERE run_id = 'r1'")
        store.start_run("r2", cycle_id="c2", connector="corp", profile="Delta Import")
        runs = store.runs()
        assert set(runs["run_id"]) == {"r1", "r2"}
        assert store.purge_runs(7) == 1
        assert store.runs()["run_id"].to_list() == ["r2"]


def test_unknown_table_name_is_refused(tmp_path: Path) -> None:
    """Table names are identifiers, never SQL."""
    with Store(tmp_path / "s.duckdb") as store, pytest.raises(StoreError):
        store.read_table('x"; DROP TABLE runs; --')


def test_store_file_is_plain_duckdb(tmp_path: Path) -> None:
    """The state is a real DuckDB file that other tools can read."""
    path = tmp_path / "s.duckdb"
    with Store(path) as store:
        store.write_connector_space("corp", "user", _awkward_frame())
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("SELECT count(*) FROM cs__corp__user").fetchall() == [(3,)]
    con.close()


def test_the_reference_index_migration_lower_cases_dns(tmp_path: Path) -> None:
    """A store from before version 4 gets its reference index lower-cased, as the sync now writes it."""
    path = tmp_path / "s.duckdb"
    with Store(path, migrations=MIGRATIONS[:3]) as store:
        store.append(
            "reference_index",
            pl.DataFrame({"connector": ["c"], "_anchor": ["a"], "target_dn": ["CN=B,DC=x"]}),
        )
    with Store(path) as store:
        assert store.read_table("reference_index").rows() == [("c", "a", "cn=b,dc=x")]


def test_frames_are_read_in_one_chunk_per_column(tmp_path: Path) -> None:
    """DuckDB hands rows over in batches; the store joins them (the sync gathers rows by position)."""
    rows = 300_000  # more than two of DuckDB's batches
    frame = pl.DataFrame({"_anchor": [f"a{i:06d}" for i in range(rows)], "n": list(range(rows))})
    with Store(tmp_path / "s.duckdb") as store:
        store.write_connector_space("corp", "user", frame)
        assert store.query('SELECT * FROM "cs__corp__user"').n_chunks("all") == [1, 1]  # any query
        read = store.read_connector_space("corp", "user")
    assert read is not None and read.n_chunks("all") == [1, 1]
    assert_frame_equal(read, frame)
