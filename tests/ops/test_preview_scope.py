"""``forestsync preview`` syncs only the object's neighbourhood, and reports what a full sync reports."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import polars as pl
import pytest

from emulator.forest import generate_forest
from emulator.ldif import write_ldif
from flows.connectors.factory import build_connector
from flows.inspection import resolve_object
from flows.preview import object_report, preview_object, sync_in_memory
from flows.stages.importing import import_connector_space
from flows.stages.syncing import load_sync_state
from flows.store import Store
from tests.ops.conftest import Lab, build_lab
from transforms.rules import SyncRule


@pytest.fixture(scope="module")
def pending(tmp_path_factory: pytest.TempPathFactory, rules: tuple[SyncRule, ...]) -> Lab:
    """A synced and exported lab whose forest then changed, imported but not synced: one user's
    department, the deletion of the user who manages most others, a new user, a manager changed."""
    lab = build_lab(tmp_path_factory.mktemp("pending"), rules, export=True)
    forest = generate_forest(60, 6, 1, seed=5)  # the forest build_lab generated
    users = forest.users
    boss = users["dn"][0]
    newcomer = users[5].with_columns(
        pl.lit("CN=Newcomer\\, Nina,OU=Finance,DC=corp,DC=example,DC=com").alias("dn"),
        pl.lit("Newcomer, Nina").alias("cn"),
        pl.lit("nnewcomer").alias("sAMAccountName"),
        pl.lit("nina.newcomer@corp.example.com").alias("userPrincipalName"),
        pl.lit("nina.newcomer@corp.example.com").alias("mail"),
        pl.lit("Nina Newcomer").alias("displayName"),
        pl.lit(uuid.uuid4().bytes).alias("objectGUID"),
        pl.lit(None, pl.Binary).alias("mS-DS-ConsistencyGuid"),
        pl.lit(users["dn"][3]).alias("manager"),
    )
    changed = (
        users.with_columns(
            pl.when(pl.col("dn") == users["dn"][2])
            .then(pl.lit("Quantum Research"))
            .otherwise(pl.col("department"))
            .alias("department"),
            pl.when(pl.col("dn") == users["dn"][7])
            .then(pl.lit(users["dn"][3]))
            .otherwise(pl.col("manager"))
            .alias("manager"),
        )
        .filter(pl.col("dn") != boss)
        .vstack(newcomer.select(users.columns))
    )
    write_ldif(dataclasses.replace(forest, users=changed), lab.ldif)
    with Store(lab.config.store) as store:
        step = import_connector_space(
            store, build_connector(lab.config.connector("lab"), lab.config), cycle_id="c2", full=True
        )
    assert (step["counters"]["stage-add"], step["counters"]["stage-delete"]) == (1, 1)
    return lab


def _names(lab: Lab) -> list[str]:
    """Objects of every kind, the changed ones first."""
    forest = generate_forest(60, 6, 1, seed=5)
    users = forest.users["dn"].to_list()
    picks = [users[2], users[0], users[1], users[7], users[3], "nina.newcomer@corp.example.com"]
    picks += users[10:60:16]
    picks += forest.groups["dn"].to_list()[:2] + forest.contacts["dn"].to_list()[:2]
    picks += forest.computers["dn"].to_list()[:2] + forest.inet_org_persons["dn"].to_list()[:1]
    with Store(lab.config.store, read_only=True) as store:
        newcomer = store.query("SELECT _dn FROM cs__lab__user WHERE sAMAccountName = 'nnewcomer'")["_dn"][0]
        filtered = store.query(
            "SELECT min(_mv_id) AS m FROM mv__person WHERE cloudFiltered"  # a system account
        )["m"][0]
    return [newcomer if "@" in p else p for p in picks] + [filtered]


def _preview(lab: Lab, rules: tuple[SyncRule, ...], name: str) -> dict[str, Any]:
    with Store(lab.config.store, read_only=True) as store:
        return preview_object(store, lab.config, rules, resolve_object(store, name))


def test_the_preview_of_each_object_equals_the_full_sync_answer(
    pending: Lab, rules: tuple[SyncRule, ...]
) -> None:
    """Changed, deleted, new, managing, managed, filtered users, groups, contacts, computers: each
    preview reports what one full sync of the whole store reports for that object."""
    names = _names(pending)
    assert len(names) >= 16
    with Store(pending.config.store, read_only=True) as store:
        before = load_sync_state(store)
        refs = {name: resolve_object(store, name) for name in names}
    full = sync_in_memory(before, pending.config, rules)
    for name in names:
        assert _preview(pending, rules, name) == object_report(before, full, refs[name]), name


def test_the_changed_objects_do_change_in_the_preview(pending: Lab, rules: tuple[SyncRule, ...]) -> None:
    """The comparison above is not between two empty answers: the changes are there."""
    forest = generate_forest(60, 6, 1, seed=5)
    moved = _preview(pending, rules, forest.users["dn"][2])
    assert {"attribute": "department", "new_value": "Quantum Research"}.items() <= next(
        c for c in moved["changes"] if c["attribute"] == "department"
    ).items()
    deleted = _preview(pending, rules, forest.users["dn"][0])
    assert deleted["mv_id_after"] is None and deleted["links_removed"]
    managed = _preview(pending, rules, forest.users["dn"][1])
    assert [c["change"] for c in managed["changes"] if c["attribute"] == "manager"] == ["delete"]


def test_the_preview_syncs_a_small_part_of_the_store(pending: Lab, rules: tuple[SyncRule, ...]) -> None:
    """The state the engine runs on for one user holds a handful of objects, not the store."""
    from flows.stages.syncing import connector_kinds
    from transforms.ops.preview_scope import preview_state
    from transforms.sync.engine import bind_rules

    forest = generate_forest(60, 6, 1, seed=5)
    with Store(pending.config.store, read_only=True) as store:
        state = load_sync_state(store)
        ref = resolve_object(store, forest.users["dn"][20])
    kinds = connector_kinds(pending.config)
    keys = pl.DataFrame(
        [(c, a) for c, _t, a, _d in ref.cs],
        schema={"connector": pl.String, "_anchor": pl.String},
        orient="row",
    )
    small = preview_state(
        state, bind_rules(rules, list(kinds), kinds), mv_ids=[ref.mv_id or ""], cs_keys=keys
    )
    total = sum(f.height for types in state.connector_spaces.values() for f in types.values())
    kept = sum(f.height for types in small.connector_spaces.values() for f in types.values())
    assert 1 <= kept <= 5 < total
    assert sum(f.height for f in small.metaverse.values()) <= 3
