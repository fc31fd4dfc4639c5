"""Recorded disconnectors: a sync records the objects it leaves unjoined, and the next delta sync
re-evaluates every one of them (spec 1: disconnectors are re-evaluated each cycle) without scanning
the connector spaces against the links."""

from __future__ import annotations

from dataclasses import replace

import polars as pl

from tests.sync.conftest import cond, direct, join, rule, scope, users
from transforms.rules.model import SyncRule
from transforms.sync import SyncResult, SyncState, run_sync

PROJECT = rule(
    "In - User Join",
    10,
    link="Provision",
    scope=scope([cond("objectGUID", "ISNOTNULL")]),
    join=join([("objectGUID", "sourceAnchor")]),
    flows=(direct("sourceAnchor", "objectGUID"),),
)
AAD_JOIN = rule("In - AAD Join", 20, connector="aad", join=join([("sourceAnchor", "sourceAnchor")]))
CONNECTORS = {"ad": "ad", "aad": "aad"}


def sync(state: SyncState, rules: list[SyncRule], mode: str = "delta") -> SyncResult:
    return run_sync(state, rules, connectors=CONNECTORS, mode=mode)  # type: ignore[arg-type]


def recorded(result: SyncResult) -> list[tuple[str, str, str]]:
    assert result.state.disconnectors is not None
    return sorted(result.state.disconnectors.rows())


def with_ad_users(state: SyncState, frame: pl.DataFrame) -> SyncState:
    return replace(state, connector_spaces={**state.connector_spaces, "ad": {"user": frame}})


def test_a_sync_records_the_objects_it_leaves_unjoined() -> None:
    """Out of scope and unmatched objects are recorded; joined and projected ones are not."""
    cs = {
        "ad": {"user": users(objectGUID=["g1", None])},
        "aad": {"user": users(sourceAnchor=["g1", "nobody"])},
    }
    result = sync(SyncState(connector_spaces=cs), [PROJECT, AAD_JOIN], mode="full")
    assert recorded(result) == [("aad", "user", "u2"), ("ad", "user", "u2")]


def test_a_delta_sync_re_evaluates_a_recorded_disconnector() -> None:
    """An unmatched object (no pending import) joins once another object projects its match."""
    cs = {"ad": {"user": users(objectGUID=["g1"])}, "aad": {"user": users(sourceAnchor=["g2"])}}
    first = sync(SyncState(connector_spaces=cs), [PROJECT, AAD_JOIN], mode="full")
    assert ("aad", "user", "u1") in recorded(first)
    added = users(objectGUID=["g1", "g2"], _pending=["none", "add"])
    second = sync(with_ad_users(first.state, added), [PROJECT, AAD_JOIN])
    links = second.state.links.filter(pl.col("connector") == "aad").select("_anchor", "_mv_id").rows()
    assert links == [("u1", "ad|u2")]
    assert recorded(second) == []


def test_an_object_a_metaverse_deletion_unjoins_is_recorded_and_joins_again() -> None:
    """A joined object whose metaverse object is deleted (its source left) becomes a disconnector
    without being processed itself; the next delta sync still re-evaluates it."""
    cs = {"ad": {"user": users(objectGUID=["g1"])}, "aad": {"user": users(sourceAnchor=["g1"])}}
    first = sync(SyncState(connector_spaces=cs), [PROJECT, AAD_JOIN], mode="full")
    assert recorded(first) == []
    gone = users(objectGUID=["g1"], _pending=["delete"])
    second = sync(with_ad_users(first.state, gone), [PROJECT, AAD_JOIN])
    assert second.state.links.height == 0
    assert recorded(second) == [("aad", "user", "u1")]
    back = users(objectGUID=["g1"], _anchor=["u9"], _pending=["add"])
    third = sync(with_ad_users(second.state, back), [PROJECT, AAD_JOIN])
    links = third.state.links.filter(pl.col("connector") == "aad").select("_anchor", "_mv_id").rows()
    assert links == [("u1", "ad|u9")]
    full = sync(with_ad_users(second.state, back), [PROJECT, AAD_JOIN], mode="full")
    assert sorted(third.state.links.rows()) == sorted(full.state.links.rows())


def test_an_object_an_outbound_rule_disconnects_is_recorded() -> None:
    """A target joined by an outbound Join rule is disconnected when its source leaves the outbound
    scope; it is recorded as a disconnector."""
    out = rule(
        "Out - U",
        30,
        connector="aad",
        direction="outbound",
        source="person",
        target="user",
        scope=scope([cond("sourceAnchor", "NOTEQUAL", "g-out")]),
        join=join([("sourceAnchor", "sourceAnchor")]),
        flows=(direct("sourceAnchor"),),
    )
    cs = {"ad": {"user": users(objectGUID=["g1"])}, "aad": {"user": users(sourceAnchor=["g1"])}}
    first = sync(SyncState(connector_spaces=cs), [PROJECT, out], mode="full")
    assert first.state.links.filter(pl.col("connector") == "aad").height == 1
    assert ("aad", "user", "u1") not in recorded(first)
    moved = users(objectGUID=["g-out"], _pending=["update"])
    second = sync(with_ad_users(first.state, moved), [PROJECT, out])
    assert second.state.links.filter(pl.col("connector") == "aad").height == 0
    assert second.counter("aad", "outbound", "provisioned-disconnect") == 1
    assert ("aad", "user", "u1") in recorded(second)


def test_a_state_without_recorded_disconnectors_finds_them() -> None:
    """A state whose disconnectors are not known (``None``) gets the same delta sync as one that
    recorded them."""
    cs = {"ad": {"user": users(objectGUID=["g1"])}, "aad": {"user": users(sourceAnchor=["g2"])}}
    first = sync(SyncState(connector_spaces=cs), [PROJECT, AAD_JOIN], mode="full")
    added = with_ad_users(first.state, users(objectGUID=["g1", "g2"], _pending=["none", "add"]))
    known = sync(added, [PROJECT, AAD_JOIN])
    unknown = sync(replace(added, disconnectors=None), [PROJECT, AAD_JOIN])
    assert sorted(unknown.state.links.rows()) == sorted(known.state.links.rows())
    assert recorded(unknown) == recorded(known)
