"""Attribute flow and precedence (spec 2.5, 2.6) on literal frames."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from tests.sync.conftest import cond, constant, direct, join, rule, scope, users
from transforms.rules.model import AttributeFlow, FlowType, MergeType, SyncRuleError
from transforms.sync import SyncState, run_sync

PROJECT = rule(
    "In - Join",
    50,
    link="Provision",
    join=join([("objectGUID", "sourceAnchor")]),
    flows=(direct("sourceAnchor", "objectGUID"),),
)


def expression(destination: str, text: str, **kw: Any) -> AttributeFlow:
    return AttributeFlow(destination, FlowType.EXPRESSION, expression=text, **kw)


def person(rules: list[Any], cs: pl.DataFrame, **kw: Any) -> pl.DataFrame:
    result = run_sync(
        SyncState(connector_spaces={"ad": {"user": cs}}), [PROJECT, *rules], connectors={"ad": "ad"}, **kw
    )
    return result.state.metaverse["person"].sort("_mv_id")


def test_update_takes_the_first_non_null_in_precedence_order() -> None:
    """The lower precedence number wins; a null contribution lets the next rule contribute."""
    high = rule("High", 10, flows=(direct("title", "t1"),))
    low = rule("Low", 20, flows=(direct("title", "t2"),))
    mv = person([low, high], users(objectGUID=["g1", "g2"], t1=["A", None], t2=["B", "C"]))
    assert mv["title"].to_list() == ["A", "C"]


def test_null_contributes_nothing() -> None:
    """An expression returning NULL does not block lower-priority rules."""
    high = rule("High", 10, flows=(expression("title", "NULL"),))
    low = rule("Low", 20, flows=(constant("title", "fallback"),))
    assert person([high, low], users(objectGUID=["g1"]))["title"].to_list() == ["fallback"]


def test_authoritative_null_wins_as_no_value() -> None:
    """AuthoritativeNull from a higher-priority rule clears the value although lower rules contribute."""
    high = rule("High", 10, flows=(expression("title", "AuthoritativeNull"),))
    low = rule("Low", 20, flows=(constant("title", "x"),))
    assert person([high, low], users(objectGUID=["g1"]))["title"].to_list() == [None]


def test_ignore_this_flow_leaves_the_value_untouched() -> None:
    """IgnoreThisFlow with no other contributor keeps the metaverse value it had."""
    first = rule("Set", 10, flows=(direct("title", "t"),))
    state = run_sync(
        SyncState(connector_spaces={"ad": {"user": users(objectGUID=["g1"], t=["kept"])}}), [PROJECT, first]
    )
    ignore = rule("Set", 10, flows=(expression("title", "IgnoreThisFlow"),))
    cs = state.state.connector_spaces["ad"]["user"].with_columns(pl.lit("update").alias("_pending"))
    again = run_sync(
        SyncState(**{**state.state.__dict__, "connector_spaces": {"ad": {"user": cs}}}), [PROJECT, ignore]
    )
    assert again.state.metaverse["person"].sort("_mv_id")["title"].to_list() == ["kept"]


def test_out_of_scope_rule_does_not_contribute() -> None:
    """Only rules whose scope holds for the object contribute."""
    scoped = rule("Scoped", 10, scope=scope([cond("dept", "EQUAL", "IT")]), flows=(constant("flag", "it"),))
    mv = person([scoped], users(objectGUID=["g1", "g2"], dept=["IT", "HR"]))
    assert mv["flag"].to_list() == ["it", None]


def test_merge_unions_contributions() -> None:
    """Merge takes the union of every rule's values, exact duplicates removed."""
    a = rule("A", 10, flows=(direct("proxyAddresses", "pa", merge_type=MergeType.MERGE),))
    b = rule("B", 20, flows=(direct("proxyAddresses", "pb", merge_type=MergeType.MERGE),))
    cs = users(objectGUID=["g1"], pa=[["SMTP:a@x", "b"]], pb=[["b", "smtp:A@x"]])
    assert person([a, b], cs)["proxyAddresses"].to_list() == [["SMTP:a@x", "b", "smtp:A@x"]]


def test_merge_case_insensitive_drops_case_duplicates() -> None:
    """MergeCaseInsensitive keeps one of the values that differ only by case."""
    ci = MergeType.MERGE_CASE_INSENSITIVE
    a = rule("A", 10, flows=(direct("proxyAddresses", "pa", merge_type=ci),))
    b = rule("B", 20, flows=(direct("proxyAddresses", "pb", merge_type=ci),))
    cs = users(objectGUID=["g1"], pa=[["SMTP:a@x"]], pb=[["smtp:A@x", "c"]])
    assert person([a, b], cs)["proxyAddresses"].to_list() == [["SMTP:a@x", "c"]]


def test_mixing_merge_types_is_a_rule_error() -> None:
    """Two rules flowing one attribute with different merge types cannot run."""
    a = rule("A", 10, flows=(direct("proxyAddresses", "pa", merge_type=MergeType.MERGE),))
    b = rule("B", 20, flows=(direct("proxyAddresses", "pb"),))
    with pytest.raises(SyncRuleError, match="merge"):
        person([a, b], users(objectGUID=["g1"], pa=[["x"]], pb=[["y"]]))


def test_apply_once_writes_only_on_creation() -> None:
    """An apply-once flow sets the value when the metaverse object is created and never again."""
    once = rule("Once", 10, flows=(direct("initial", "v", apply_once=True),))
    first = run_sync(
        SyncState(connector_spaces={"ad": {"user": users(objectGUID=["g1"], v=["first"])}}), [PROJECT, once]
    )
    cs = first.state.connector_spaces["ad"]["user"].with_columns(
        pl.lit("second").alias("v"), pl.lit("update").alias("_pending")
    )
    again = run_sync(
        SyncState(**{**first.state.__dict__, "connector_spaces": {"ad": {"user": cs}}}), [PROJECT, once]
    )
    assert first.state.metaverse["person"].sort("_mv_id")["initial"].to_list() == ["first"]
    assert again.state.metaverse["person"].sort("_mv_id")["initial"].to_list() == ["first"]


def test_provenance_names_the_winning_rule_and_connector() -> None:
    """Each metaverse value records the rule and connector that contributed it."""
    high = rule("High", 10, flows=(direct("title", "t1"),))
    low = rule("Low", 20, flows=(direct("title", "t2"),))
    result = run_sync(
        SyncState(
            connector_spaces={"ad": {"user": users(objectGUID=["g1", "g2"], t1=["A", None], t2=["B", "C"])}}
        ),
        [PROJECT, high, low],
    )
    rows = result.state.provenance.filter(pl.col("attribute") == "title").rows()
    assert rows == [("ad|u1", "title", "ad", "High"), ("ad|u2", "title", "ad", "Low")]


def test_error_function_is_reported_and_keeps_the_object_unchanged() -> None:
    """Error("...") fires a sync-rule-error-function-triggered error for that object only."""
    guard = rule("Guard", 10, flows=(expression("upn", 'IIF(IsPresent([upn]),[upn],Error("no upn"))'),))
    result = run_sync(
        SyncState(connector_spaces={"ad": {"user": users(objectGUID=["g1", "g2"], upn=["a@x", None])}}),
        [PROJECT, guard],
    )
    assert result.errors.select("_anchor", "error_type", "message").rows() == [
        ("u2", "sync-rule-error-function-triggered", "no upn")
    ]
    assert result.state.metaverse["person"].sort("_mv_id")["upn"].to_list() == ["a@x", None]


def test_expression_reads_connector_parameters() -> None:
    """%Parameter% values come from the connector's parameters."""
    fqdn = rule("Fqdn", 10, flows=(expression("domainFQDN", "%Domain.FQDN%"),))
    mv = person([fqdn], users(objectGUID=["g1"]), params_by_connector={"ad": {"Domain.FQDN": "corp.example"}})
    assert mv["domainFQDN"].to_list() == ["corp.example"]


def test_inbound_reference_resolves_to_metaverse_id() -> None:
    """A DN-valued attribute flows as the metaverse id of the referenced object."""
    refs = rule("Refs", 10, flows=(direct("manager"),))
    mv = person([refs], users(objectGUID=["g1", "g2"], manager=[None, "cn=U1,dc=x"]))
    assert mv["manager"].to_list() == [None, "ad|u1"]


def test_reference_to_an_absent_object_resolves_when_it_appears() -> None:
    """A reference to an object not yet imported stays pending, then resolves in a later delta sync."""
    refs = rule("Refs", 10, flows=(direct("manager"),))
    first = run_sync(
        SyncState(connector_spaces={"ad": {"user": users(objectGUID=["g1"], manager=["CN=u2,DC=x"])}}),
        [PROJECT, refs],
    )
    assert first.state.metaverse["person"].sort("_mv_id")["manager"].to_list() == [None]
    cs = pl.concat(
        [
            first.state.connector_spaces["ad"]["user"],
            users(objectGUID=["g1", "g2"], manager=[None, None])[1:].with_columns(
                pl.lit("add").alias("_pending"),
                pl.lit(None, dtype=pl.UInt64).alias("_hash"),
                pl.lit("user").alias("_object_type"),
            ),
        ],
        how="diagonal_relaxed",
    )
    again = run_sync(
        SyncState(**{**first.state.__dict__, "connector_spaces": {"ad": {"user": cs}}}),
        [PROJECT, refs],
        mode="delta",
    )
    assert again.state.metaverse["person"].sort("_mv_id")["manager"].to_list() == ["ad|u2", None]


def test_an_attribute_one_frame_lacks_takes_the_type_another_frame_gives_it() -> None:
    """A snapshot has columns only for the attributes some object has: a forest where no user has a
    photo still flows a binary null beside another forest's binary photos, into one binary attribute."""
    photo = rule("Photo", 10, flows=(direct("thumbnailPhoto"),))
    photo2 = rule("Photo 2", 11, connector="ad2", flows=(direct("thumbnailPhoto"),))
    join2 = rule("In - Join 2", 52, connector="ad2", join=join([("objectGUID", "sourceAnchor")]))
    without = users(objectGUID=["g1", "g2"])
    with_photo = users(objectGUID=["g1"], thumbnailPhoto=[b"\xff\xd8\xff"])
    result = run_sync(
        SyncState(connector_spaces={"ad": {"user": without}, "ad2": {"user": with_photo}}),
        [PROJECT, join2, photo, photo2],
        connectors={"ad": "ad", "ad2": "ad"},
    )
    assert result.errors.height == 0
    mv = result.state.metaverse["person"].sort("sourceAnchor")
    assert mv.schema["thumbnailPhoto"] == pl.Binary
    assert mv["thumbnailPhoto"].to_list() == [b"\xff\xd8\xff", None]
    # The added null column is the engine's own: the connector space keeps what was imported.
    assert "thumbnailPhoto" not in result.state.connector_spaces["ad"]["user"].columns
