"""Delta sync: processes only what changed, and on the same state equals a full sync (property)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from unittest.mock import patch

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.sync.conftest import cond, constant, direct, join, rule, scope
from transforms.rules.model import AttributeFlow, FlowType, MergeType
from transforms.schema import EXPORT_RESULT_SCHEMA
from transforms.sync import SyncResult, SyncState, apply_export_results, engine, record_exports, run_sync

RULES = [
    rule(
        "In - User Join",
        10,
        link="Provision",
        scope=scope([cond("adminDescription", "NOTSTARTSWITH", "User_")]),
        join=join([("objectGUID", "sourceAnchor")]),
        flows=(direct("sourceAnchor", "objectGUID"),),
    ),
    rule(
        "In - User Enabled",
        11,
        scope=scope([cond("uac", "ISNOTBITSET", "2")]),
        flows=(constant("accountEnabled", True), direct("displayName", "cn")),
    ),
    rule(
        "In - User Common",
        12,
        flows=(
            direct("displayName"),
            direct("manager"),
            AttributeFlow(
                "title", FlowType.EXPRESSION, expression='IIF(IsPresent([dept]), "T-" & [dept], NULL)'
            ),
            direct("proxyAddresses", "pa", merge_type=MergeType.MERGE),
        ),
    ),
    rule(
        "In - Group Join",
        13,
        source="group",
        target="group",
        link="Provision",
        join=join([("objectGUID", "sourceAnchor")]),
        flows=(direct("sourceAnchor", "objectGUID"), direct("member"), direct("displayName", "cn")),
    ),
    rule(
        "In - AAD Join",
        14,
        connector="aad",
        join=join([("sourceAnchor", "sourceAnchor")]),
        # usageLocation only the target flows; displayName is the forest's, unless the forest has none.
        flows=(direct("cloudAnchor", "_anchor"), direct("usageLocation"), direct("displayName")),
    ),
    rule(
        "Out - User",
        15,
        connector="aad",
        direction="outbound",
        source="person",
        target="user",
        link="Provision",
        scope=scope([cond("accountEnabled", "EQUAL", "TRUE")]),
        flows=(direct("displayName"), direct("sourceAnchor"), direct("manager"), direct("title")),
    ),
    rule(
        "Out - Group",
        16,
        connector="aad",
        direction="outbound",
        source="group",
        target="group",
        link="Provision",
        flows=(direct("displayName"), direct("member")),
    ),
]
CONNECTORS = {"ad": "ad", "aad": "aad"}
N = 8


def world(users: list[dict[str, Any]], groups: list[dict[str, Any]]) -> SyncState:
    u = pl.DataFrame(
        users,
        schema={
            "_anchor": pl.String(),
            "_dn": pl.String(),
            "objectGUID": pl.String(),
            "cn": pl.String(),
            "displayName": pl.String(),
            "uac": pl.Int64(),
            "dept": pl.String(),
            "manager": pl.String(),
            "adminDescription": pl.String(),
            "pa": pl.List(pl.String()),
            "_pending": pl.String(),
        },
    )
    g = pl.DataFrame(
        groups,
        schema={
            "_anchor": pl.String(),
            "_dn": pl.String(),
            "objectGUID": pl.String(),
            "cn": pl.String(),
            "member": pl.List(pl.String()),
            "_pending": pl.String(),
        },
    )
    return SyncState(connector_spaces={"ad": {"user": u, "group": g}, "aad": {}})


def user_st(i: int, renames: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    dns = [f"CN=u{i},DC=x", f"CN=u{i}r,DC=x"] if renames else [f"CN=u{i},DC=x"]
    return st.fixed_dictionaries(
        {
            "_anchor": st.just(f"u{i}"),
            "_dn": st.sampled_from(dns),
            "objectGUID": st.just(f"g{i}"),
            "cn": st.sampled_from([f"cn{i}", None]),
            "displayName": st.sampled_from(["D", None]),
            "uac": st.sampled_from([512, 514]),
            "dept": st.sampled_from(["IT", "HR", None]),
            "manager": st.sampled_from([None, "CN=u0,DC=x", "CN=u3,DC=x", "CN=u9,DC=x"]),
            "adminDescription": st.sampled_from([None, None, "User_x"]),
            "pa": st.sampled_from([None, ["a"], ["a", "B"]]),
            "_pending": st.just("add"),
        }
    )


def group_st(i: int, membership: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    """A group; ``membership`` adds renames, disconnector groups and member DNs in another case."""
    dns = [f"CN=u{j},DC=x" for j in range(N + 2)]
    if membership:
        dns += [f"cn=U{j},dc=X" for j in range(N + 2)] + [f"CN=u{j}r,DC=x" for j in range(N)]
    members = st.lists(st.sampled_from(dns), max_size=4, unique=True)
    return st.fixed_dictionaries(
        {
            "_anchor": st.just(f"grp{i}"),
            "_dn": st.sampled_from(
                [f"CN=grp{i},DC=x", f"CN=grp{i}b,DC=x"] if membership else [f"CN=grp{i},DC=x"]
            ),
            "objectGUID": st.just(f"gg{i}"),
            "cn": st.sampled_from([f"group{i}", "skip"] if membership else [f"group{i}"]),
            "member": members,
            "_pending": st.just("add"),
        }
    )


@st.composite
def scenario(
    draw: st.DrawFn, membership: bool = False
) -> tuple[SyncState, list[dict[str, Any]], list[dict[str, Any]]]:
    users = [draw(user_st(i, membership)) for i in range(N)]
    groups = [draw(group_st(i, membership)) for i in range(3)]
    changed_users = []
    for i in range(N + 2):
        action = draw(st.sampled_from(["keep", "keep", "update", "delete"]))
        if i >= N:
            if draw(st.booleans()):
                changed_users.append({**draw(user_st(i)), "_pending": "add"})
            continue
        if action == "keep":
            changed_users.append({**users[i], "_pending": "none"})
        elif action == "update":
            changed_users.append({**draw(user_st(i, membership)), "_pending": "update"})
        else:
            changed_users.append({**users[i], "_pending": "delete"})
    changed_groups = []
    for i, g in enumerate(groups):
        if draw(st.booleans()):
            changed_groups.append({**g, "_pending": "none"})
        else:
            changed_groups.append({**draw(group_st(i, membership)), "_pending": "update"})
    return world(users, groups), changed_users, changed_groups


def exported(result: SyncResult) -> SyncState:
    """The state after a successful export of every pending export (anchors assigned by the target)."""
    state = record_exports(result.state, result.pending_exports)
    adds = result.pending_exports.filter(pl.col("op") == "add").select("connector", "_mv_id").unique()
    outcomes = adds.with_columns(
        pl.concat_str(pl.lit("obj-"), pl.col("_mv_id")).alias("_anchor"),
        pl.lit("add").alias("op"),
        pl.lit("success").alias("status"),
    )
    return apply_export_results(
        state, outcomes.select([c for c in EXPORT_RESULT_SCHEMA if c in outcomes.columns])
    )


def rows(frame: pl.DataFrame) -> list[str]:
    """Rows as text, sorted: state frames keep their construction order, which differs by mode."""
    return sorted(str(r) for r in frame.select(sorted(frame.columns)).rows())


def comparable(result: SyncResult) -> dict[str, Any]:
    s = result.state
    return {
        "mv": {t: rows(f) for t, f in s.metaverse.items()},
        "links": rows(s.links),
        "provenance": rows(s.provenance),
        "memory": rows(s.export_memory),
        "cs": {c: {t: rows(f) for t, f in ts.items()} for c, ts in s.connector_spaces.items()},
        "exports": rows(result.pending_exports),
        "errors": rows(result.errors),
    }


def recorded(result: SyncResult) -> set[tuple[str, ...]]:
    """The disconnectors a sync recorded; a delta may record more than a full sync (a superset is
    safe: the next delta re-evaluates them), never fewer."""
    assert result.state.disconnectors is not None
    return set(result.state.disconnectors.rows())


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario())
def test_delta_sync_equals_full_sync_on_the_same_state(case: tuple[SyncState, list[Any], list[Any]]) -> None:
    """After a full sync and an export, a delta sync of any set of changes equals a full sync of them."""
    initial, users, groups = case
    first = run_sync(initial, RULES, connectors=CONNECTORS)
    base = exported(first)
    changed = world(users, groups)
    spaces = {"ad": changed.connector_spaces["ad"], "aad": {}}
    state = replace(base, connector_spaces=spaces)
    full = run_sync(state, RULES, connectors=CONNECTORS, mode="full")
    delta = run_sync(state, RULES, connectors=CONNECTORS, mode="delta")
    assert comparable(delta) == comparable(full)
    assert recorded(full) <= recorded(delta)


# ISMEMBEROF scoping: the joining rule drops members of grp1, accountEnabled follows membership of grp0
# (so outbound provisioning does too); groups named "skip" stay disconnectors.
MEMBER_RULES = [
    replace(
        RULES[0],
        scope=scope(
            [cond("adminDescription", "NOTSTARTSWITH", "User_"), cond("_dn", "ISNOTMEMBEROF", "cn=GRP1,dc=x")]
        ),
    ),
    replace(RULES[1], scope=scope([cond("_dn", "ISMEMBEROF", "CN=grp0,DC=x")])),
    RULES[2],
    replace(RULES[3], scope=scope([cond("cn", "NOTEQUAL", "skip")])),
    *RULES[4:],
]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario(membership=True))
def test_delta_sync_with_membership_scoping_equals_full_sync(
    case: tuple[SyncState, list[Any], list[Any]],
) -> None:
    """With ISMEMBEROF scoping, a delta sync of any membership changes (group renames, disconnector
    groups, member DNs in another case) equals a full sync."""
    initial, users, groups = case
    base = exported(run_sync(initial, MEMBER_RULES, connectors=CONNECTORS))
    changed = world(users, groups)
    state = replace(base, connector_spaces={"ad": changed.connector_spaces["ad"], "aad": {}})
    full = run_sync(state, MEMBER_RULES, connectors=CONNECTORS, mode="full")
    delta = run_sync(state, MEMBER_RULES, connectors=CONNECTORS, mode="delta")
    assert comparable(delta) == comparable(full)
    assert recorded(full) <= recorded(delta)


def test_delta_sync_processes_only_pending_objects() -> None:
    """A delta sync with one changed object touches only that object's metaverse object."""
    users = [
        {
            "_anchor": f"u{i}",
            "_dn": f"CN=u{i},DC=x",
            "objectGUID": f"g{i}",
            "cn": f"c{i}",
            "uac": 512,
            "_pending": "add",
        }
        for i in range(3)
    ]
    first = run_sync(world(users, []), RULES, connectors=CONNECTORS)
    base = exported(first)
    cs = base.connector_spaces["ad"]["user"].with_columns(
        pl.when(pl.col("_anchor") == "u1").then(pl.lit("new")).otherwise(pl.col("cn")).alias("cn"),
        pl.when(pl.col("_anchor") == "u1").then(pl.lit("update")).otherwise(pl.lit("none")).alias("_pending"),
    )
    state = replace(base, connector_spaces={"ad": {**base.connector_spaces["ad"], "user": cs}, "aad": {}})
    delta = run_sync(state, RULES, connectors=CONNECTORS, mode="delta")
    assert delta.pending_exports.select("_mv_id", "attribute", "new_value").rows() == [
        ("ad|u1", "displayName", '"new"')
    ]
    assert delta.counter("ad", "inbound", "connector-flow") == 1
    assert delta.counter("ad", "inbound", "connector-no-flow") == 0


def test_delta_sync_resolves_a_reference_written_in_another_case() -> None:
    """A referrer whose value differs from the referenced DN in case (not all lower case) is re-resolved
    when the referenced object is projected in a delta sync."""
    u2 = {"_anchor": "u2", "_dn": "CN=u2,DC=x", "objectGUID": "g2", "uac": 512, "manager": "cn=U1,dc=X"}
    first = run_sync(world([{**u2, "_pending": "add"}], []), RULES, connectors=CONNECTORS)
    assert first.state.metaverse["person"].select("manager").rows() == [(None,)]
    base = exported(first)
    u1 = {"_anchor": "u1", "_dn": "CN=u1,DC=x", "objectGUID": "g1", "uac": 512, "_pending": "add"}
    changed = world([u1, {**u2, "_pending": "none"}], [])
    state = replace(base, connector_spaces={"ad": changed.connector_spaces["ad"], "aad": {}})
    delta = run_sync(state, RULES, connectors=CONNECTORS, mode="delta")
    person = delta.state.metaverse["person"].sort("_mv_id")
    assert person.select("_mv_id", "manager").rows() == [("ad|u1", None), ("ad|u2", "ad|u1")]


def test_delta_sync_re_resolves_references_to_a_renamed_object() -> None:
    """When a joined object is renamed, a referrer naming its new DN resolves and one naming its former
    DN breaks, though neither referrer changed."""
    u1 = {"_anchor": "u1", "_dn": "CN=u1,DC=x", "objectGUID": "g1", "uac": 512}
    u2 = {"_anchor": "u2", "_dn": "CN=u2,DC=x", "objectGUID": "g2", "uac": 512, "manager": "CN=u1new,DC=x"}
    u3 = {"_anchor": "u3", "_dn": "CN=u3,DC=x", "objectGUID": "g3", "uac": 512, "manager": "CN=u1,DC=x"}
    first = run_sync(
        world([{**u, "_pending": "add"} for u in (u1, u2, u3)], []), RULES, connectors=CONNECTORS
    )
    base = exported(first)
    renamed = {**u1, "_dn": "CN=u1new,DC=x", "_pending": "update"}
    changed = world([renamed, {**u2, "_pending": "none"}, {**u3, "_pending": "none"}], [])
    state = replace(base, connector_spaces={"ad": changed.connector_spaces["ad"], "aad": {}})
    delta = run_sync(state, RULES, connectors=CONNECTORS, mode="delta")
    person = delta.state.metaverse["person"].sort("_mv_id")
    assert person.select("_mv_id", "manager").rows() == [("ad|u1", None), ("ad|u2", "ad|u1"), ("ad|u3", None)]


def cloud_st() -> st.SearchStrategy[dict[str, Any]]:
    """An imported target object's values: its source anchor may be another object's."""
    return st.fixed_dictionaries(
        {
            "own_anchor": st.sampled_from([True, True, False]),
            "usageLocation": st.sampled_from([None, "DK", "US"]),
            "displayName": st.sampled_from([None, "Cloud"]),
        }
    )


def cloud_users(base: SyncState, draws: list[dict[str, Any]], pending: list[str]) -> pl.DataFrame:
    """Target objects of the users ``base`` provisioned, with drawn values and pending flags ("absent":
    not imported)."""
    provisioned = dict(
        base.links.filter((pl.col("connector") == "aad") & pl.col("_anchor").is_not_null())
        .select("_mv_id", pl.struct("_anchor", "_dn"))
        .rows()
    )
    objects = []
    for i, (values, flag) in enumerate(zip(draws, pending, strict=True)):
        link = provisioned.get(f"ad|u{i}")
        if link is None or flag == "absent":
            continue
        source_anchor = f"g{i}" if values["own_anchor"] else f"g{(i + 1) % N}"
        objects.append(
            {
                **link,
                "sourceAnchor": source_anchor,
                "usageLocation": values["usageLocation"],
                "displayName": values["displayName"],
                "_pending": flag,
            }
        )
    schema = {c: pl.String() for c in ("_anchor", "_dn", "sourceAnchor", "usageLocation", "displayName")}
    return pl.DataFrame(objects, schema={**schema, "_pending": pl.String()})


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    scenario(),
    st.lists(cloud_st(), min_size=N, max_size=N),
    st.lists(cloud_st(), min_size=N, max_size=N),
    st.lists(st.sampled_from(["absent", "add"]), min_size=N, max_size=N),
    st.lists(st.sampled_from(["none", "none", "update", "delete"]), min_size=N, max_size=N),
)
def test_delta_sync_of_target_imports_equals_full_sync(
    case: tuple[SyncState, list[Any], list[Any]],
    imported: list[dict[str, Any]],
    reimported: list[dict[str, Any]],
    first_flags: list[str],
    next_flags: list[str],
) -> None:
    """A delta of imports from the target connector (alone, or with changes in the forest) recomputes
    only the attributes the target's rules flow for the objects the forest did not change, and equals
    a full sync, for a few objects and for as many as a settling sync has."""
    initial, users, groups = case
    base = exported(run_sync(initial, RULES, connectors=CONNECTORS))
    unchanged = {
        t: f.with_columns(pl.lit("none").alias("_pending")) for t, f in base.connector_spaces["ad"].items()
    }
    cloud = cloud_users(base, imported, first_flags)
    state = replace(base, connector_spaces={"ad": unchanged, "aad": {"user": cloud}})
    base = exported(run_sync(state, RULES, connectors=CONNECTORS, mode="delta"))
    kept = ["none" if f == "add" else "absent" for f in first_flags]
    again = cloud_users(
        base,
        [r if f == "update" else i for i, r, f in zip(imported, reimported, next_flags, strict=True)],
        [n if k == "none" else k for k, n in zip(kept, next_flags, strict=True)],
    )
    forest = world(users, groups).connector_spaces["ad"]
    for spaces in ({"ad": unchanged, "aad": {"user": again}}, {"ad": forest, "aad": {"user": again}}):
        state = replace(base, connector_spaces=spaces)
        full = run_sync(state, RULES, connectors=CONNECTORS, mode="full")
        delta = run_sync(state, RULES, connectors=CONNECTORS, mode="delta")
        assert comparable(delta) == comparable(full)
        # As many rows as a settling sync patches: the columns recomputed are read and patched alone.
        with patch.object(engine, "_SPLICE_MAX", 0):
            narrow = run_sync(state, RULES, connectors=CONNECTORS, mode="delta")
        assert comparable(narrow) == comparable(full)


def test_delta_sync_clears_an_attribute_whose_only_contributor_is_deleted() -> None:
    """When the one target object that flowed cloudAnchor is deleted, a delta sync clears cloudAnchor and
    its provenance (no other object contributes), as a full sync does."""
    users = [
        {"_anchor": "u0", "_dn": "CN=u0,DC=x", "objectGUID": "g0", "cn": "c0", "uac": 512, "_pending": "add"}
    ]
    base = exported(run_sync(world(users, []), RULES, connectors=CONNECTORS))
    forest = {
        t: f.with_columns(pl.lit("none").alias("_pending")) for t, f in base.connector_spaces["ad"].items()
    }
    values = [{"own_anchor": True, "usageLocation": "DK", "displayName": None}]
    state = replace(
        base, connector_spaces={"ad": forest, "aad": {"user": cloud_users(base, values, ["add"])}}
    )
    joined = run_sync(state, RULES, connectors=CONNECTORS, mode="delta")
    person = joined.state.metaverse["person"]
    assert person.select("cloudAnchor", "usageLocation").rows() == [("obj-ad|u0", "DK")]
    base = exported(joined)
    gone = cloud_users(base, values, ["delete"])
    delta = run_sync(
        replace(base, connector_spaces={"ad": forest, "aad": {"user": gone}}),
        RULES,
        connectors=CONNECTORS,
        mode="delta",
    )
    person = delta.state.metaverse["person"]
    assert person.select("cloudAnchor", "usageLocation", "_by.cloudAnchor").rows() == [(None, None, None)]


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario())
def test_the_export_flow_in_batches_equals_one_batch(case: tuple[SyncState, list[Any], list[Any]]) -> None:
    """The export attribute flow runs in batches of objects; batches of one and of three (references to objects
    of other batches, provisioned now or earlier, included) give what one batch gives."""
    initial, users, groups = case

    def cycle() -> list[dict[str, Any]]:
        first = run_sync(initial, RULES, connectors=CONNECTORS)
        state = replace(
            exported(first), connector_spaces={"ad": world(users, groups).connector_spaces["ad"], "aad": {}}
        )
        return [comparable(first)] + [
            comparable(run_sync(state, RULES, connectors=CONNECTORS, mode=mode)) for mode in ("full", "delta")
        ]

    whole = cycle()
    for size in (1, 3):
        with patch.object(engine, "_EXPORT_BATCH", size):
            assert cycle() == whole


def test_the_reference_index_holds_only_references_some_rule_reads() -> None:
    """The forest's managers are indexed (a rule flows manager); the target's are not (no rule of the
    target reads them)."""
    users = [
        {"_anchor": "u0", "_dn": "CN=u0,DC=x", "objectGUID": "g0", "uac": 512, "_pending": "add"},
        {
            "_anchor": "u1",
            "_dn": "CN=u1,DC=x",
            "objectGUID": "g1",
            "uac": 512,
            "manager": "CN=u0,DC=x",
            "_pending": "add",
        },
    ]
    cloud = pl.DataFrame(
        {"_anchor": ["c1"], "_dn": [None], "sourceAnchor": ["g1"], "manager": ["c0"], "_pending": ["add"]},
        schema_overrides={"_dn": pl.String},
    )
    state = replace(
        world(users, []), connector_spaces={**world(users, []).connector_spaces, "aad": {"user": cloud}}
    )
    result = run_sync(state, RULES, connectors=CONNECTORS)
    assert result.state.reference_index.rows() == [("ad", "u1", "cn=u0,dc=x")]


def test_a_delta_re_exports_a_group_whose_member_it_deprovisions() -> None:
    """A user leaving the target's scope is deprovisioned; the group naming him, unchanged itself,
    exports its members without him, as a full sync does."""
    u = [{"_anchor": f"u{i}", "_dn": f"CN=u{i},DC=x", "objectGUID": f"g{i}", "uac": 512} for i in range(2)]
    g = {"_anchor": "grp0", "_dn": "CN=grp0,DC=x", "objectGUID": "gg0", "cn": "group0"}
    members = {**g, "member": ["CN=u0,DC=x", "CN=u1,DC=x"]}
    base = exported(
        run_sync(
            world([{**x, "_pending": "add"} for x in u], [{**members, "_pending": "add"}]),
            RULES,
            connectors=CONNECTORS,
        )
    )
    # A cycle with nothing changed: the anchors the export assigned are settled.
    base = exported(run_sync(base, RULES, connectors=CONNECTORS, mode="delta"))
    changed = world(
        [{**u[0], "_pending": "none"}, {**u[1], "uac": 514, "_pending": "update"}],
        [{**members, "_pending": "none"}],
    )
    state = replace(base, connector_spaces={"ad": changed.connector_spaces["ad"], "aad": {}})
    delta = run_sync(state, RULES, connectors=CONNECTORS, mode="delta")
    exports = delta.pending_exports.filter(pl.col("_mv_id") == "ad|grp0")
    assert exports.select("attribute", "old_value", "new_value").rows() == [
        ("member", '["obj-ad|u0","obj-ad|u1"]', '["obj-ad|u0"]')
    ]
