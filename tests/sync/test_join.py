"""Join, projection, disjoin and metaverse lifetime on literal frames."""

from __future__ import annotations

import polars as pl

from tests.sync.conftest import cond, constant, direct, join, rule, scope, users
from transforms.sync import SyncState, run_sync

PROJECT = rule(
    "In - User Join",
    10,
    link="Provision",
    join=join([("objectGUID", "sourceAnchor")]),
    flows=(direct("sourceAnchor", "objectGUID"),),
)


def sync(cs: dict[str, dict[str, pl.DataFrame]], rules: list, **kw: object) -> object:
    return run_sync(SyncState(connector_spaces=cs), rules, connectors={c: c for c in cs}, **kw)  # type: ignore[arg-type]


def test_provision_projects_a_metaverse_object() -> None:
    """A disconnector in scope of a Provision rule with no join match projects a new MV object."""
    result = sync({"ad": {"user": users(objectGUID=["g1"])}}, [PROJECT])
    assert result.state.metaverse["person"].select("_mv_id", "sourceAnchor").rows() == [("ad|u1", "g1")]
    assert result.counter("ad", "inbound", "disconnector-projected-flow") == 1


def test_projection_needs_a_join_attribute_value() -> None:
    """Provision does not project an object whose join attributes are all null."""
    result = sync({"ad": {"user": users(objectGUID=[None])}}, [PROJECT])
    assert "person" not in result.state.metaverse or result.state.metaverse["person"].height == 0
    assert result.counter("ad", "inbound", "disconnector-remains") == 1


def test_join_links_exactly_one_match() -> None:
    """A second connector's object joins the MV object its join group matches exactly once."""
    aad_join = rule("In - AAD Join", 20, connector="aad", join=join([("sourceAnchor", "sourceAnchor")]))
    cs = {"ad": {"user": users(objectGUID=["g1"])}, "aad": {"user": users(sourceAnchor=["g1"])}}
    result = sync(cs, [PROJECT, aad_join])
    links = result.state.links.select("connector", "_anchor", "_mv_id", "rule").rows()
    assert ("aad", "u1", "ad|u1", "In - AAD Join") in links
    assert result.counter("aad", "inbound", "disconnector-joined-flow") == 1


def test_join_group_with_two_matches_falls_through_to_the_next_group() -> None:
    """A group with more than one match does not count; the next group decides."""
    projector = rule(
        "In - P", 10, link="Provision", join=join([("g", "key")]), flows=(direct("key", "g"), direct("mail"))
    )
    joiner = rule("In - J", 20, connector="aad", join=join([("mail", "mail")], [("g", "key")]))
    cs = {
        "ad": {"user": users(g=["k1", "k2"], mail=["same@x", "same@x"])},
        "aad": {"user": users(g=["k2"], mail=["same@x"])},
    }
    result = sync(cs, [projector, joiner])
    assert result.state.links.filter(pl.col("connector") == "aad")["_mv_id"].to_list() == ["ad|u2"]


def test_join_rule_without_match_leaves_a_disconnector() -> None:
    """A Join rule with no match leaves the object unlinked."""
    joiner = rule("In - J", 20, connector="aad", join=join([("sourceAnchor", "sourceAnchor")]))
    result = sync({"aad": {"user": users(sourceAnchor=["nope"])}}, [joiner])
    assert result.state.links.height == 0
    assert result.counter("aad", "inbound", "disconnector-remains") == 1


def test_join_is_case_insensitive_when_asked() -> None:
    """case_sensitive: false lower-cases both sides of a join condition."""
    joiner = rule("In - J", 20, connector="aad", join=join([("upn", "upn")], case_sensitive=False))
    projector = rule("In - P", 10, link="Provision", join=join([("upn", "upn")]), flows=(direct("upn"),))
    cs = {"ad": {"user": users(upn=["Bob@X"])}, "aad": {"user": users(upn=["bob@x"])}}
    result = sync(cs, [projector, joiner])
    assert result.state.links.filter(pl.col("connector") == "aad").height == 1


def test_two_joining_rules_in_scope_is_an_error() -> None:
    """An object in scope of two joining rules gets a multiple-joining-rules error and is not projected."""
    other = rule("In - Other Join", 11, link="Provision", join=join([("objectGUID", "sourceAnchor")]))
    result = sync({"ad": {"user": users(objectGUID=["g1"])}}, [PROJECT, other])
    assert result.errors.select("_anchor", "error_type").rows() == [("u1", "multiple-joining-rules")]
    assert result.state.links.height == 0


def test_two_objects_joining_one_metaverse_object_is_ambiguous() -> None:
    """Two objects of one connector matching the same MV object are ambiguous-join errors."""
    joiner = rule("In - J", 20, connector="aad", join=join([("sourceAnchor", "sourceAnchor")]))
    cs = {"ad": {"user": users(objectGUID=["g1"])}, "aad": {"user": users(sourceAnchor=["g1", "g1"])}}
    result = sync(cs, [PROJECT, joiner])
    assert sorted(result.errors.filter(pl.col("error_type") == "ambiguous-join")["_anchor"].to_list()) == [
        "u1",
        "u2",
    ]


def test_link_persists_when_join_attribute_changes() -> None:
    """Once joined, a link stays although the join attribute no longer matches."""
    first = sync({"ad": {"user": users(objectGUID=["g1"])}}, [PROJECT])
    cs = first.state.connector_spaces["ad"]["user"].with_columns(
        pl.lit("g9").alias("objectGUID"), pl.lit("update").alias("_pending")
    )
    state = SyncState(**{**first.state.__dict__, "connector_spaces": {"ad": {"user": cs}}})
    second = run_sync(state, [PROJECT], connectors={"ad": "ad"})
    assert second.state.links["_mv_id"].to_list() == ["ad|u1"]
    assert second.state.metaverse["person"].sort("_mv_id")["sourceAnchor"].to_list() == ["g9"]


def test_leaving_scope_disjoins_and_deletes_the_unsustained_metaverse_object() -> None:
    """An object leaving the projecting rule's scope is disjoined and its MV object deleted."""
    scoped = rule(
        "In - User Join",
        10,
        link="Provision",
        join=join([("objectGUID", "sourceAnchor")]),
        scope=scope([cond("uac", "ISNOTBITSET", "2")]),
        flows=(direct("sourceAnchor", "objectGUID"),),
    )
    first = sync({"ad": {"user": users(objectGUID=["g1"], uac=[512])}}, [scoped])
    cs = first.state.connector_spaces["ad"]["user"].with_columns(
        pl.lit(514).alias("uac"), pl.lit("update").alias("_pending")
    )
    state = SyncState(**{**first.state.__dict__, "connector_spaces": {"ad": {"user": cs}}})
    second = run_sync(state, [scoped], connectors={"ad": "ad"})
    assert second.state.links.height == 0
    assert second.state.metaverse["person"].height == 0
    assert second.counter("ad", "inbound", "connector-filtered-remove-mv") == 1


def test_join_only_link_does_not_keep_the_metaverse_object() -> None:
    """When the projecting object is deleted, an object joined by a Join rule cannot keep the MV object."""
    joiner = rule("In - J", 20, connector="aad", join=join([("sourceAnchor", "sourceAnchor")]))
    cs = {"ad": {"user": users(objectGUID=["g1"])}, "aad": {"user": users(sourceAnchor=["g1"])}}
    first = sync(cs, [PROJECT, joiner])
    deleted = first.state.connector_spaces["ad"]["user"].with_columns(pl.lit("delete").alias("_pending"))
    spaces = {"ad": {"user": deleted}, "aad": first.state.connector_spaces["aad"]}
    state = SyncState(**{**first.state.__dict__, "connector_spaces": spaces})
    second = run_sync(state, [PROJECT, joiner], connectors={"ad": "ad", "aad": "aad"})
    assert second.state.metaverse["person"].height == 0
    assert second.state.links.height == 0
    assert second.state.connector_spaces["ad"]["user"].height == 0


def test_sticky_join_keeps_the_metaverse_object() -> None:
    """A StickyJoin link in scope keeps the MV object alive after the projecting object is deleted."""
    sticky = rule(
        "In - S", 20, connector="aad", link="StickyJoin", join=join([("sourceAnchor", "sourceAnchor")])
    )
    cs = {"ad": {"user": users(objectGUID=["g1"])}, "aad": {"user": users(sourceAnchor=["g1"])}}
    first = sync(cs, [PROJECT, sticky])
    deleted = first.state.connector_spaces["ad"]["user"].with_columns(pl.lit("delete").alias("_pending"))
    spaces = {"ad": {"user": deleted}, "aad": first.state.connector_spaces["aad"]}
    state = SyncState(**{**first.state.__dict__, "connector_spaces": spaces})
    second = run_sync(state, [PROJECT, sticky], connectors={"ad": "ad", "aad": "aad"})
    assert second.state.metaverse["person"].sort("_mv_id")["_mv_id"].to_list() == ["ad|u1"]


def test_deleting_the_metaverse_object_deprovisions_targets() -> None:
    """A deleted MV object turns its outbound Provision links into delete exports."""
    out = rule(
        "Out - U",
        30,
        connector="aad",
        direction="outbound",
        source="person",
        target="user",
        link="Provision",
        flows=(direct("sourceAnchor"),),
    )
    first = sync({"ad": {"user": users(objectGUID=["g1"])}, "aad": {}}, [PROJECT, out])
    deleted = first.state.connector_spaces["ad"]["user"].with_columns(pl.lit("delete").alias("_pending"))
    state = SyncState(**{**first.state.__dict__, "connector_spaces": {"ad": {"user": deleted}, "aad": {}}})
    second = run_sync(state, [PROJECT, out], connectors={"ad": "ad", "aad": "aad"})
    assert second.pending_exports.select("connector", "_mv_id", "op").rows() == [("aad", "ad|u1", "delete")]


def test_outbound_provisioning_joins_an_existing_target_by_dn() -> None:
    """Outbound provisioning first joins a target object holding the DN being provisioned."""
    out = rule(
        "Out - U",
        30,
        connector="ad2",
        direction="outbound",
        source="person",
        target="user",
        link="Provision",
        flows=(constant("dn", "cn=T1,DC=x"), direct("sourceAnchor")),
    )
    cs = {
        "ad": {"user": users(objectGUID=["g1"])},
        "ad2": {"user": users(sourceAnchor=["g1"], _anchor=["t1"])},
    }
    result = sync(cs, [PROJECT, out])
    link = result.state.links.filter(pl.col("connector") == "ad2")
    assert link.select("_anchor", "_mv_id").rows() == [("t1", "ad|u1")]
    assert result.pending_exports.filter(pl.col("op") == "add").height == 0


def test_delete_add_rejoins_as_a_new_object() -> None:
    """A delete-add (object type changed under one anchor) disjoins and then joins/projects afresh."""
    first = sync({"ad": {"user": users(objectGUID=["g1"])}}, [PROJECT])
    cs = first.state.connector_spaces["ad"]["user"].with_columns(pl.lit("delete-add").alias("_pending"))
    state = SyncState(**{**first.state.__dict__, "connector_spaces": {"ad": {"user": cs}}})
    second = run_sync(state, [PROJECT], connectors={"ad": "ad"})
    assert second.state.links.select("_anchor", "_mv_id", "rule").rows() == [
        ("u1", "ad|u1", "In - User Join")
    ]
    assert second.counter("ad", "inbound", "connector-delete-leave-mv") == 1
    assert (
        second.counter("ad", "inbound", "disconnector-projected-flow")
        + second.counter("ad", "inbound", "disconnector-joined-flow")
        == 1
    )
