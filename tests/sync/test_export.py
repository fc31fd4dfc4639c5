"""Outbound: pending exports as attribute-level deltas, export memory, references to target anchors."""

from __future__ import annotations

from dataclasses import replace

import polars as pl
import pytest

from tests.sync.conftest import cond, direct, exported, join, rule, scope, users
from transforms.rules.model import AttributeFlow, FlowType
from transforms.sync import SyncState, apply_export_results, exports, record_exports, run_sync

PROJECT = rule(
    "In - Join",
    10,
    link="Provision",
    join=join([("objectGUID", "sourceAnchor")]),
    flows=(direct("sourceAnchor", "objectGUID"), direct("displayName"), direct("manager")),
)
OUT = rule(
    "Out - User",
    20,
    connector="aad",
    direction="outbound",
    source="person",
    target="user",
    link="Provision",
    scope=scope([cond("displayName", "ISNOTNULL")]),
    flows=(direct("displayName"), direct("manager")),
)
CONNECTORS = {"ad": "ad", "aad": "aad"}


def changed(state: SyncState, **values: object) -> SyncState:
    cs = state.connector_spaces["ad"]["user"].with_columns(
        *[pl.lit(v).alias(k) for k, v in values.items()], pl.lit("update").alias("_pending")
    )
    return replace(state, connector_spaces={**state.connector_spaces, "ad": {"user": cs}})


def first() -> tuple[SyncState, pl.DataFrame]:
    r = run_sync(
        SyncState(connector_spaces={"ad": {"user": users(objectGUID=["g1"], displayName=["A"])}}),
        [PROJECT, OUT],
        connectors=CONNECTORS,
    )
    return r.state, r.pending_exports


def test_provisioning_exports_an_add_with_every_value() -> None:
    """A newly provisioned object is an add with one row per valued attribute."""
    _, exports = first()
    assert exports.select("op", "attribute", "old_value", "new_value").rows() == [
        ("add", "displayName", None, '"A"')
    ]


def test_a_changed_value_is_an_update_with_old_and_new() -> None:
    """After the add was exported, a change is an update row carrying the old and the new value."""
    state, exports = first()
    r = run_sync(
        changed(exported(state, exports), displayName="B"),
        [PROJECT, OUT],
        connectors=CONNECTORS,
        mode="delta",
    )
    assert r.pending_exports.select("_anchor", "op", "attribute", "old_value", "new_value").rows() == [
        ("t-ad|u1", "update", "displayName", '"A"', '"B"')
    ]


def test_export_memory_suppresses_resending_an_exported_value() -> None:
    """A value already exported and remembered is not exported again while unconfirmed."""
    state, exports = first()
    r = run_sync(changed(exported(state, exports)), [PROJECT, OUT], connectors=CONNECTORS, mode="delta")
    assert r.pending_exports.height == 0
    assert r.state.export_memory.select("attribute", "value").rows() == [("displayName", '"A"')]


def test_the_memory_keeps_the_last_value_exported_for_an_attribute() -> None:
    """Exporting an attribute again replaces its remembered value, also within one batch."""
    state, exports = first()
    state = record_exports(state, exports)
    again = exports.filter(pl.col("attribute") == "displayName")
    batch = pl.concat(
        [
            again.with_columns(pl.lit('"B"').alias("new_value")),
            again.with_columns(pl.lit('"C"').alias("new_value")),
        ]
    )
    memory = record_exports(state, batch).export_memory
    assert memory.filter(pl.col("attribute") == "displayName").get_column("value").to_list() == ['"C"']
    assert memory.height == state.export_memory.height


def test_an_import_confirming_the_value_clears_the_memory() -> None:
    """When the target's imported value equals the remembered one, the memory is cleared."""
    state, exports = first()
    state = exported(state, exports)
    target = pl.DataFrame(
        {"_anchor": ["t-ad|u1"], "_dn": [None], "displayName": ["A"], "_pending": ["add"]},
        schema_overrides={"_dn": pl.String},
    )
    state = replace(state, connector_spaces={**state.connector_spaces, "aad": {"user": target}})
    r = run_sync(state, [PROJECT, OUT], connectors=CONNECTORS, mode="delta")
    assert r.state.export_memory.height == 0
    assert r.pending_exports.height == 0


def test_leaving_outbound_scope_deprovisions() -> None:
    """An object leaving the outbound Provision rule's scope becomes a delete export."""
    state, exports = first()
    r = run_sync(
        changed(exported(state, exports), displayName=None),
        [PROJECT, OUT],
        connectors=CONNECTORS,
        mode="delta",
    )
    assert r.pending_exports.select("_anchor", "op").rows() == [("t-ad|u1", "delete")]
    assert r.counter("aad", "outbound", "provisioned-delete") == 1


def test_outbound_references_are_target_anchors() -> None:
    """A metaverse reference flows out as the anchor of the referenced object in the target; to an object
    the same sync provisions, as a placeholder the Entra connector resolves when it created the object."""
    cs = users(objectGUID=["g1", "g2"], displayName=["A", "B"], manager=[None, "CN=u1,DC=x"])
    r = run_sync(SyncState(connector_spaces={"ad": {"user": cs}}), [PROJECT, OUT], connectors=CONNECTORS)
    assert r.pending_exports.filter(pl.col("attribute") == "manager").select(
        "_mv_id", "op", "new_value"
    ).rows() == [("ad|u2", "add", '{"_mv_id":"ad|u1"}')]
    state = exported(r.state, r.pending_exports)
    # The export memory now names the anchor the target assigned, as an import will show it.
    assert state.export_memory.filter(pl.col("attribute") == "manager").select("_mv_id", "value").rows() == [
        ("ad|u2", '"t-ad|u1"')
    ]
    again = run_sync(state, [PROJECT, OUT], connectors=CONNECTORS, mode="delta")
    assert again.pending_exports.height == 0
    full = run_sync(state, [PROJECT, OUT], connectors=CONNECTORS, mode="full")
    assert full.pending_exports.height == 0
    # A later change of manager to an existing object is an update with anchors on both sides.
    moved = changed(again.state, manager=None)
    cs = moved.connector_spaces["ad"]["user"].with_columns(
        pl.when(pl.col("_anchor") == "u1").then(pl.lit("CN=u2,DC=x")).alias("manager")
    )
    moved = replace(moved, connector_spaces={**moved.connector_spaces, "ad": {"user": cs}})
    out = run_sync(moved, [PROJECT, OUT], connectors=CONNECTORS, mode="delta")
    assert out.pending_exports.select("_mv_id", "attribute", "old_value", "new_value").sort(
        "_mv_id"
    ).rows() == [
        ("ad|u1", "manager", None, '"t-ad|u2"'),
        ("ad|u2", "manager", '"t-ad|u1"', None),
    ]


def test_members_created_in_the_same_export_are_placeholders() -> None:
    """A group provisioned with members provisioned by the same sync: every member is a placeholder,
    whatever the order of the object types; once exported, the memory holds the sorted anchors."""
    group = rule(
        "In - Group",
        11,
        source="group",
        target="group",
        link="Provision",
        join=join([("objectGUID", "sourceAnchor")]),
        flows=(direct("sourceAnchor", "objectGUID"), direct("displayName"), direct("member")),
    )
    out_group = rule(
        "Out - Group",
        21,
        connector="aad",
        direction="outbound",
        source="group",
        target="group",
        link="Provision",
        flows=(direct("displayName"), direct("members", "member")),
    )
    groups = pl.DataFrame(
        {
            "_anchor": ["g"],
            "_dn": ["CN=g,DC=x"],
            "objectGUID": ["gg"],
            "displayName": ["G"],
            "member": [["CN=u2,DC=x", "CN=u1,DC=x"]],
        }
    )
    cs = users(objectGUID=["g1", "g2"], displayName=["A", "B"])
    rules = [PROJECT, OUT, group, out_group]
    r = run_sync(
        SyncState(connector_spaces={"ad": {"user": cs, "group": groups}}), rules, connectors=CONNECTORS
    )
    members = r.pending_exports.filter(pl.col("attribute") == "members")
    assert members.select("_mv_id", "op", "new_value").rows() == [
        ("ad|g", "add", '[{"_mv_id":"ad|u1"},{"_mv_id":"ad|u2"}]')
    ]
    state = exported(r.state, r.pending_exports)
    assert state.export_memory.filter(pl.col("attribute") == "members")["value"].to_list() == [
        '["t-ad|u1","t-ad|u2"]'
    ]
    assert run_sync(state, rules, connectors=CONNECTORS, mode="delta").pending_exports.height == 0
    assert run_sync(state, rules, connectors=CONNECTORS, mode="full").pending_exports.height == 0


def test_a_reference_to_an_object_whose_create_failed_waits_for_it() -> None:
    """The placeholder of an object the export did not create is not remembered; later syncs leave the
    reference out (no update each cycle) until the object has an anchor, then export it."""
    cs = users(objectGUID=["g1", "g2"], displayName=["A", "B"], manager=[None, "CN=u1,DC=x"])
    r = run_sync(SyncState(connector_spaces={"ad": {"user": cs}}), [PROJECT, OUT], connectors=CONNECTORS)
    ok = r.pending_exports.filter(pl.col("_mv_id") == "ad|u2")
    state = exported(r.state, ok)  # u1's create failed: only u2 was exported (without its manager)
    assert state.export_memory.filter(pl.col("attribute") == "manager").height == 0
    again = run_sync(state, [PROJECT, OUT], connectors=CONNECTORS, mode="full")
    assert again.pending_exports.select("_mv_id", "op").unique().rows() == [("ad|u1", "add")]
    state = exported(again.state, again.pending_exports)
    last = run_sync(state, [PROJECT, OUT], connectors=CONNECTORS, mode="delta")
    assert last.pending_exports.select("_mv_id", "op", "attribute", "new_value").rows() == [
        ("ad|u2", "update", "manager", '"t-ad|u1"')
    ]


def test_ignore_this_flow_exports_nothing_for_the_attribute() -> None:
    """An outbound IgnoreThisFlow leaves the target attribute untouched."""
    ignoring = rule(
        "Out - User",
        20,
        connector="aad",
        direction="outbound",
        source="person",
        target="user",
        link="Provision",
        flows=(
            AttributeFlow("displayName", FlowType.EXPRESSION, expression="IgnoreThisFlow"),
            direct("sourceAnchor"),
        ),
    )
    r = run_sync(
        SyncState(connector_spaces={"ad": {"user": users(objectGUID=["g1"], displayName=["A"])}}),
        [PROJECT, ignoring],
        connectors=CONNECTORS,
    )
    assert r.pending_exports.get_column("attribute").to_list() == ["sourceAnchor"]


def test_imported_value_reads_only_the_confirmed_value() -> None:
    """Inbound, [x] shows a value exported but unconfirmed; ImportedValue("x") shows the imported one."""
    join_aad = rule(
        "In - AAD",
        30,
        connector="aad",
        join=join([("sourceAnchor", "sourceAnchor")]),
        flows=(
            direct("cloudDisplayName", "displayName"),
            AttributeFlow("cloudConfirmed", FlowType.EXPRESSION, expression='ImportedValue("displayName")'),
        ),
    )
    out = rule(
        "Out - User",
        20,
        connector="aad",
        direction="outbound",
        source="person",
        target="user",
        link="Provision",
        flows=(direct("displayName"), direct("sourceAnchor")),
    )
    rules = [PROJECT, out, join_aad]
    r = run_sync(
        SyncState(connector_spaces={"ad": {"user": users(objectGUID=["g1"], displayName=["New"])}}),
        rules,
        connectors=CONNECTORS,
    )
    state = exported(r.state, r.pending_exports)
    target = pl.DataFrame(
        {
            "_anchor": ["t-ad|u1"],
            "_dn": ["x"],
            "sourceAnchor": ["g1"],
            "displayName": ["Old"],
            "_pending": ["add"],
        }
    )
    state = replace(state, connector_spaces={**state.connector_spaces, "aad": {"user": target}})
    again = run_sync(state, rules, connectors=CONNECTORS, mode="delta")
    person = again.state.metaverse["person"]
    assert person.select("cloudDisplayName", "cloudConfirmed").rows() == [("New", "Old")]


def test_a_delta_sync_carries_placeholders_for_objects_it_provisions() -> None:
    """New objects arriving by delta import: a new user's new manager is a placeholder too."""
    state, exports = first()
    state = exported(state, exports)
    old = state.connector_spaces["ad"]["user"]
    new = users(
        objectGUID=["g1", "g2", "g3"], displayName=["A", "B", "C"], manager=[None, "CN=u3,DC=x", None]
    )
    cs = pl.concat([old, new[1:].with_columns(pl.lit("add").alias("_pending"))], how="diagonal_relaxed")
    state = replace(state, connector_spaces={**state.connector_spaces, "ad": {"user": cs}})
    r = run_sync(state, [PROJECT, OUT], connectors=CONNECTORS, mode="delta")
    assert r.pending_exports.filter(pl.col("attribute") == "manager").select(
        "_mv_id", "op", "new_value"
    ).rows() == [("ad|u2", "add", '{"_mv_id":"ad|u3"}')]


def test_placeholders_resolve_alike_in_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remembered placeholders become the anchors the export assigned (one not created is dropped),
    in one batch or in batches of one value (an initial export resolves millions in batches)."""
    memory = pl.DataFrame(
        {
            "connector": ["aad"] * 5,
            "_mv_id": ["g1", "g2", "u1", "u2", "u3"],
            "attribute": ["members", "members", "manager", "manager", "displayName"],
            "value": [
                '[{"_mv_id":"u2"},{"_mv_id":"u1"}]',
                '[{"_mv_id":"u9"},"t-x"]',
                '{"_mv_id":"u2"}',
                '{"_mv_id":"u9"}',
                '"U3"',
            ],
        }
    )
    results = pl.DataFrame(
        {"connector": ["aad"] * 2, "_mv_id": ["u1", "u2"], "_anchor": ["t-u1", "t-u2"], "op": ["add"] * 2}
    ).with_columns(pl.lit("success").alias("status"))
    state = SyncState(export_memory=memory)
    expected = [
        ("u3", "displayName", '"U3"'),
        ("g1", "members", '["t-u1","t-u2"]'),
        ("g2", "members", '["t-x"]'),
        ("u1", "manager", '"t-u2"'),
    ]
    whole = apply_export_results(state, results).export_memory
    assert whole.select("_mv_id", "attribute", "value").rows() == expected
    monkeypatch.setattr(exports, "_PLACEHOLDER_BYTES", 1)
    assert apply_export_results(state, results).export_memory.equals(whole)
