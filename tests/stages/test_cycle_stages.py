"""The cycle's stages over a real DuckDB store: import, sync and export persisted, step by step."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from emulator.forest import generate_forest
from emulator.ldif import write_ldif
from flows.config import Config
from flows.connectors.factory import build_connector
from flows.rulesets import load_rule_set
from flows.stages.exporting import STATUS_STAGING, STATUS_THRESHOLD, export_connector
from flows.stages.importing import import_connector_space
from flows.stages.syncing import (
    DISCONNECTORS_SETTING,
    load_sync_state,
    synchronize,
    with_read_attributes,
)
from flows.store import Store
from tests.lab import RULES, StandInTarget, generated_ldif, lab_config
from transforms.rules import SyncRule


@pytest.fixture(scope="module")
def rules() -> tuple[SyncRule, ...]:
    return load_rule_set([RULES], {"user_matching": "objects-once"})


def test_import_then_sync_projects_the_forest_and_persists_the_state(
    tmp_path: Path, rules: tuple[SyncRule, ...]
) -> None:
    """A generated forest imported from LDIF and synced with the default rules lands in the metaverse."""
    forest = generate_forest(200, 20, 1, seed=3)
    ldif = tmp_path / "forest.ldif"
    write_ldif(forest, ldif)
    _, config = lab_config(tmp_path, ldif, with_aad=False)
    with Store(config.store) as store:
        step = import_connector_space(
            store, build_connector(config.connector("lab"), config), cycle_id="c1", full=True
        )
        assert step["status"] == "success"
        assert step["counters"]["stage-add"] == forest.object_count
        steps = synchronize(store, config, rules, cycle_id="c1", mode="full")
        assert [s["connector"] for s in steps] == ["lab"]
        projected = steps[0]["counters"]["inbound:disconnector-projected-flow"]
        persons = store.read_metaverse("person")
        assert persons is not None and projected > 0
        # System objects are projected but filtered from the cloud; real users are not.
        filtered = persons.filter(pl.col("cloudFiltered").fill_null(False))
        assert 0 < filtered.height < persons.height
        assert store.query("SELECT count(*) AS n FROM links")["n"][0] >= projected
        assert (
            store.query("SELECT count(*) AS n FROM runs WHERE profile = 'Full Synchronization'")["n"][0] == 1
        )
        # The pending flags were consumed by the sync.
        users = store.read_connector_space("lab", "user")
        assert users is not None and set(users["_pending"]) == {"none"}


def test_missing_binary_attribute_reaches_the_rules_as_a_typed_null() -> None:
    """A connector space without mS-DS-ConsistencyGuid still gives the join rule a binary column."""
    frame = pl.DataFrame(
        {"_anchor": ["a"], "_dn": ["CN=a"], "_object_type": ["user"], "objectGUID": [b"\x01" * 16]}
    )
    rules = load_rule_set([RULES], {"user_matching": "objects-once"})
    out = with_read_attributes({"lab": {"user": frame}}, rules, {"lab": "ldif"})
    assert out["lab"]["user"].schema["mS-DS-ConsistencyGuid"] == pl.Binary
    assert out["lab"]["user"].schema["userAccountControl"] == pl.Int64


def _synced_store(tmp_path: Path, rules: tuple[SyncRule, ...]) -> tuple[Config, Store]:
    _, config = lab_config(tmp_path, generated_ldif(tmp_path))
    store = Store(config.store)
    import_connector_space(store, build_connector(config.connector("lab"), config), cycle_id="c", full=True)
    synchronize(store, config, rules, cycle_id="c", mode="full")
    return config, store


def test_export_sends_pending_exports_and_remembers_them(tmp_path: Path, rules: tuple[SyncRule, ...]) -> None:
    """Exported objects leave the pending exports, enter the export memory and get their anchors."""
    _, store = _synced_store(tmp_path, rules)
    with store:
        pending = store.query("SELECT count(DISTINCT _mv_id) AS n FROM pending_exports")["n"][0]
        assert pending > 0
        target = StandInTarget("aad")
        step = export_connector(
            store, target, kind="aad", cycle_id="c", staging=False, deletion_threshold=500
        )
        assert step["status"] == "success"
        assert step["counters"]["export-add"] == pending
        assert store.query("SELECT count(*) AS n FROM pending_exports")["n"][0] == 0
        assert store.query("SELECT count(*) AS n FROM export_memory")["n"][0] > 0
        links = store.query("SELECT * FROM links WHERE connector = 'aad'")
        assert links.height == pending and links["_anchor"].null_count() == 0


def test_staging_mode_sends_nothing_and_writes_the_preview(
    tmp_path: Path, rules: tuple[SyncRule, ...]
) -> None:
    """In staging mode the connector is never called; the preview file lists the creates with values."""
    _, store = _synced_store(tmp_path, rules)
    with store:
        target = StandInTarget("aad")
        step = export_connector(
            store,
            target,
            kind="aad",
            cycle_id="c",
            staging=True,
            deletion_threshold=500,
            preview_dir=tmp_path,
        )
        assert step["status"] == STATUS_STAGING and target.plans == []
        assert step["preview"]["counts"]["add"] > 0
        assert Path(step["preview_file"]).read_text().count('"userPrincipalName"') > 0
        assert store.query("SELECT count(*) AS n FROM pending_exports")["n"][0] > 0


def test_deletion_threshold_stops_the_export_and_a_one_time_override_allows_it(
    tmp_path: Path, rules: tuple[SyncRule, ...]
) -> None:
    """More pending deletes than the threshold: nothing is sent, status says so; the override sends them."""
    config, store = _synced_store(tmp_path, rules)
    with store:
        export_connector(
            store, StandInTarget("aad"), kind="aad", cycle_id="c", staging=False, deletion_threshold=500
        )
        # Every user leaves scope: the forest is now empty of them.
        empty = store.read_connector_space("lab", "user")
        assert empty is not None
        store.write_connector_space("lab", "user", empty.with_columns(pl.lit("delete").alias("_pending")))
        synchronize(store, config, rules, cycle_id="c2", mode="delta")
        deletes = store.query("SELECT count(DISTINCT _mv_id) AS n FROM pending_exports WHERE op = 'delete'")[
            "n"
        ][0]
        assert deletes > 3
        target = StandInTarget("aad")
        stopped = export_connector(
            store, target, kind="aad", cycle_id="c2", staging=False, deletion_threshold=3
        )
        assert stopped["status"] == STATUS_THRESHOLD and target.plans == []
        assert f"{deletes} pending deletes exceed the deletion threshold of 3" in stopped["message"]
        assert (
            store.query("SELECT status FROM runs WHERE run_id = ?", [stopped["run_id"]])["status"][0]
            == STATUS_THRESHOLD
        )
        allowed = export_connector(
            store,
            target,
            kind="aad",
            cycle_id="c3",
            staging=False,
            deletion_threshold=3,
            allow_deletes_once=True,
        )
        assert allowed["counters"]["export-delete"] == deletes


def test_sync_state_round_trips_through_the_store(tmp_path: Path, rules: tuple[SyncRule, ...]) -> None:
    """What a sync saved loads back: a delta sync over it with nothing pending changes nothing."""
    config, store = _synced_store(tmp_path, rules)
    with store:
        before = store.query("SELECT * FROM pending_exports ORDER BY _mv_id, attribute")
        state = load_sync_state(store)
        assert set(state.metaverse) >= {"person", "group"}
        # The disconnectors the sync recorded (system objects the rules filter) load back.
        assert state.disconnectors is not None and state.disconnectors.height > 0
        assert state.disconnectors.equals(store.read_table("disconnectors"))
        synchronize(store, config, rules, cycle_id="c2", mode="delta")
        after = store.query("SELECT * FROM pending_exports ORDER BY _mv_id, attribute")
        assert after.equals(before)


def test_a_store_without_recorded_disconnectors_loads_them_as_unknown(
    tmp_path: Path, rules: tuple[SyncRule, ...]
) -> None:
    """A store no sync has recorded disconnectors in (one written by an older version) gives ``None``,
    not "no disconnectors", and the next delta sync finds them itself and records them."""
    config, store = _synced_store(tmp_path, rules)
    with store:
        recorded = store.read_table("disconnectors").sort("connector", "object_type", "_anchor")
        store.execute("DELETE FROM disconnectors")
        store.execute("DELETE FROM settings WHERE key = ?", [DISCONNECTORS_SETTING])
        assert load_sync_state(store).disconnectors is None
        synchronize(store, config, rules, cycle_id="c2", mode="delta")
        state = load_sync_state(store)
        assert state.disconnectors is not None
        assert state.disconnectors.sort("connector", "object_type", "_anchor").equals(recorded)


def test_a_full_sync_keeps_staged_deletes_until_the_export_sends_them(
    tmp_path: Path, rules: tuple[SyncRule, ...]
) -> None:
    """Deletes staged by a delta sync survive a full sync before the export; once sent, no sync lists them."""
    config, store = _synced_store(tmp_path, rules)
    with store:
        export_connector(
            store, StandInTarget("aad"), kind="aad", cycle_id="c", staging=False, deletion_threshold=None
        )
        users = store.read_connector_space("lab", "user")
        assert users is not None
        store.write_connector_space("lab", "user", users.with_columns(pl.lit("delete").alias("_pending")))
        synchronize(store, config, rules, cycle_id="c2", mode="delta")
        count = "SELECT count(*) AS n FROM pending_exports WHERE op = 'delete'"
        deletes = store.query(count)["n"][0]
        assert deletes > 3
        assert store.read_table("staged_deletes").height == deletes
        synchronize(store, config, rules, cycle_id="c3", mode="full")
        assert store.query(count)["n"][0] == deletes
        sent = export_connector(
            store, StandInTarget("aad"), kind="aad", cycle_id="c4", staging=False, deletion_threshold=None
        )
        assert sent["counters"]["export-delete"] == deletes
        assert store.read_table("staged_deletes")["exported"].all()
        synchronize(store, config, rules, cycle_id="c5", mode="full")
        assert store.query(count)["n"][0] == 0
