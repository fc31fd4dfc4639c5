"""Deprovisioned targets: a connector-space object with a staged delete export stays a disconnector
marked for deletion (neither joined nor projected) until an import confirms the deletion."""

from __future__ import annotations

from dataclasses import replace

import polars as pl

from tests.sync.conftest import cond, constant, direct, join, rule, scope
from tests.sync.conftest import exported as export_all
from transforms.sync import SyncResult, SyncState, record_exports, run_sync

PROJECT = rule(
    "In - User Join",
    10,
    link="Provision",
    join=join([("objectGUID", "sourceAnchor")]),
    flows=(direct("sourceAnchor", "objectGUID"), direct("displayName")),
)
OUT = rule(
    "Out - User",
    20,
    connector="aad",
    direction="outbound",
    source="person",
    target="user",
    link="Provision",
    flows=(direct("displayName"), direct("sourceAnchor")),
)
AAD_JOIN = rule("In - AAD Join", 30, connector="aad", join=join([("sourceAnchor", "sourceAnchor")]))
RULES = [PROJECT, OUT, AAD_JOIN]
CONNECTORS = {"ad": "ad", "aad": "aad"}
TARGET = "t-ad|u1"  # the anchor the target gives the object provisioned for ad|u1


def ad(*rows: tuple[str, str, str]) -> pl.DataFrame:
    """AD users as (anchor, objectGUID, pending)."""
    return pl.DataFrame(
        {
            "_anchor": [r[0] for r in rows],
            "_dn": [f"CN={r[0]},DC=x" for r in rows],
            "objectGUID": [r[1] for r in rows],
            "displayName": ["A"] * len(rows),
            "_pending": [r[2] for r in rows],
        },
        schema_overrides={"_anchor": pl.String, "_dn": pl.String, "objectGUID": pl.String},
    )


def aad(pending: str, anchor: str = TARGET, source_anchor: str = "g1") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "_anchor": [anchor],
            "_dn": [f"CN={anchor}"],
            "sourceAnchor": [source_anchor],
            "displayName": ["A"],
            "_pending": [pending],
        }
    )


def with_spaces(state: SyncState, **spaces: pl.DataFrame) -> SyncState:
    cs = {c: dict(types) for c, types in state.connector_spaces.items()}
    for connector, frame in spaces.items():
        cs.setdefault(connector, {})["user"] = frame
    return replace(state, connector_spaces=cs)


def exported(result: SyncResult) -> SyncState:
    """The state after every pending export of ``result`` was sent successfully."""
    return export_all(result.state, result.pending_exports)


def sync(state: SyncState, rules: list = RULES, mode: str = "delta") -> SyncResult:  # type: ignore[type-arg]
    return run_sync(state, rules, connectors=CONNECTORS, mode=mode)  # type: ignore[arg-type]


def deprovisioned(rules: list = RULES) -> SyncResult:  # type: ignore[type-arg]
    """ad|u1 provisioned to aad as t-ad|u1 (created, imported, joined), then its source deleted."""
    first = sync(SyncState(connector_spaces={"ad": {"user": ad(("u1", "g1", "add"))}}), rules, "full")
    state = exported(first)
    confirmed = sync(with_spaces(state, aad=aad("add")), rules)
    assert confirmed.state.links.filter(pl.col("connector") == "aad")["_anchor"].to_list() == [TARGET]
    deleted = sync(with_spaces(confirmed.state, ad=ad(("u1", "g1", "delete"))), rules)
    assert deleted.pending_exports.select("connector", "_anchor", "op").rows() == [("aad", TARGET, "delete")]
    return deleted


def aad_links(result: SyncResult) -> list[tuple[str | None, str]]:
    links = result.state.links.filter(pl.col("connector") == "aad")
    return sorted(links.select("_anchor", "_mv_id").rows(), key=str)


def test_a_target_awaiting_its_delete_is_not_joined_to_another_metaverse_object() -> None:
    """A deprovisioned target does not join a new metaverse object its join rule matches."""
    state = deprovisioned().state
    again = sync(with_spaces(state, ad=ad(("u2", "g1", "add"))))
    assert (TARGET, "ad|u2") not in aad_links(again)
    assert again.counter("aad", "inbound", "disconnector-joined-flow") == 0


def test_a_target_awaiting_its_delete_is_not_projected() -> None:
    """A deprovisioned target in scope of an inbound Provision rule is not projected."""
    projecting = rule(
        "In - AAD Project",
        30,
        connector="aad",
        link="Provision",
        join=join([("sourceAnchor", "sourceAnchor")]),
        flows=(direct("sourceAnchor"),),
    )
    # The rule change makes the next sync a full one.
    again = sync(deprovisioned().state, [PROJECT, OUT, projecting], mode="full")
    assert aad_links(again) == []
    assert again.counter("aad", "inbound", "disconnector-projected-flow") == 0


def test_a_staged_delete_is_pending_until_it_is_exported() -> None:
    """Every sync (a full one too) lists the staged delete until an export sends it."""
    state = deprovisioned().state
    for mode in ("full", "delta"):
        again = sync(state, mode=mode)
        assert again.pending_exports.select("_anchor", "op").rows() == [(TARGET, "delete")], mode
    sent = record_exports(state, sync(state).pending_exports)
    assert sync(sent).pending_exports.height == 0


def test_a_source_back_before_the_delete_is_exported_is_provisioned_fresh() -> None:
    """A new source object with the same join value gets a new target object; the delete still goes out."""
    state = deprovisioned().state
    again = sync(with_spaces(state, ad=ad(("u2", "g1", "add"))))
    assert sorted(again.pending_exports.select("_mv_id", "_anchor", "op").unique().rows(), key=str) == [
        ("ad|u1", TARGET, "delete"),
        ("ad|u2", None, "add"),
    ]
    assert aad_links(again) == [(None, "ad|u2")]


def test_an_import_confirming_the_delete_releases_the_object() -> None:
    """When an import reports the target deleted, the object and its staged delete are gone."""
    state = record_exports(deprovisioned().state, deprovisioned().pending_exports)
    assert state.staged_deletes.select("_anchor", "exported").rows() == [(TARGET, True)]
    again = sync(with_spaces(state, aad=aad("delete")))
    assert again.state.connector_spaces["aad"]["user"].height == 0
    assert again.state.staged_deletes.height == 0


def test_an_object_imported_again_as_a_fresh_add_joins() -> None:
    """An object an import reports as a fresh add is a join candidate again."""
    state = deprovisioned().state
    assert state.staged_deletes.height == 1
    fresh = sync(with_spaces(state, ad=ad(("u2", "g1", "add")), aad=aad("add")))
    assert aad_links(fresh) == [(TARGET, "ad|u2")]
    assert fresh.state.staged_deletes.height == 0


def test_provisioning_does_not_join_a_target_awaiting_its_delete_by_dn() -> None:
    """Outbound provisioning whose DN names an object marked for deletion creates a fresh object."""
    out_dn = replace(OUT, flows=(*OUT.flows, constant("dn", "CN=" + TARGET)))
    rules = [PROJECT, out_dn, AAD_JOIN]
    state = deprovisioned(rules).state
    again = sync(with_spaces(state, ad=ad(("u2", "g1", "add"))), rules)
    assert aad_links(again) == [(None, "ad|u2")]
    assert again.counter("aad", "outbound", "provisioned-join") == 0
    assert again.counter("aad", "outbound", "provisioned-add-flow") == 1


def test_leaving_the_outbound_scope_marks_the_target_for_deletion() -> None:
    """A target deprovisioned because its metaverse object left the Provision rule's scope is not
    joined back by the inbound join rule."""
    scoped = replace(OUT, scope=scope([cond("displayName", "NOTEQUAL", "gone")]))
    rules = [PROJECT, scoped, AAD_JOIN]
    first = sync(SyncState(connector_spaces={"ad": {"user": ad(("u1", "g1", "add"))}}), rules, "full")
    confirmed = sync(with_spaces(exported(first), aad=aad("add")), rules)
    gone = ad(("u1", "g1", "update")).with_columns(pl.lit("gone").alias("displayName"))
    left = sync(with_spaces(confirmed.state, ad=gone), rules)
    assert left.pending_exports.select("_anchor", "op").rows() == [(TARGET, "delete")]
    again = sync(with_spaces(left.state, ad=gone.with_columns(pl.lit("none").alias("_pending"))), rules)
    assert aad_links(again) == []
