"""ISMEMBEROF scoping in a delta sync: a group membership change re-processes exactly the objects whose
membership of a group a scoping filter names changed."""

from __future__ import annotations

from dataclasses import dataclass, replace

import polars as pl

from tests.sync.conftest import cond, constant, direct, join, rule, scope
from transforms.rules.model import SyncRule
from transforms.sync import SyncResult, SyncState, run_sync
from transforms.sync.staging import stage_delta_import

PILOT = "CN=Pilot,DC=x"
USER_JOIN = rule(
    "In - User Join",
    10,
    link="Provision",
    join=join([("objectGUID", "sourceAnchor")]),
    flows=(direct("sourceAnchor", "objectGUID"),),
)
GROUP_JOIN = rule(
    "In - Group Join",
    11,
    source="group",
    target="group",
    link="Provision",
    join=join([("objectGUID", "sourceAnchor")]),
    flows=(direct("sourceAnchor", "objectGUID"),),
)
PILOT_FLAG = rule(
    "In - Pilot", 12, scope=scope([cond("_dn", "ISMEMBEROF", PILOT)]), flows=(constant("pilot", "yes"),)
)
RULES = [USER_JOIN, GROUP_JOIN, PILOT_FLAG]
# The pilot group decides which users are synchronized at all.
PILOT_ONLY = [replace(USER_JOIN, scope=scope([cond("_dn", "ISMEMBEROF", PILOT)])), GROUP_JOIN]


@dataclass(frozen=True)
class Batch:
    frame: pl.DataFrame
    deleted: pl.Series
    partial: bool = True


def synced(rules: list[SyncRule]) -> SyncResult:
    """Users u1..u4; the pilot group holds u1 and u2."""
    users = pl.DataFrame(
        {
            "_anchor": ["u1", "u2", "u3", "u4"],
            "_dn": [f"CN=u{i},DC=x" for i in range(1, 5)],
            "objectGUID": ["g1", "g2", "g3", "g4"],
            "_pending": ["add"] * 4,
        }
    )
    groups = pl.DataFrame(
        {
            "_anchor": ["grp"],
            "_dn": [PILOT],
            "objectGUID": ["gg"],
            "member": [["CN=u1,DC=x", "cn=U2,DC=X"]],
            "_pending": ["add"],
        }
    )
    return run_sync(SyncState(connector_spaces={"ad": {"user": users, "group": groups}}), rules)


def delta(rules: list[SyncRule], column: str, dn: str, **kw: object) -> SyncResult:
    """A delta import that changes only the pilot group's members (DirSync-style incremental values),
    then a delta sync."""
    state = synced(rules).state
    row = pl.DataFrame(
        {"_anchor": ["grp"], "_dn": [None], "_object_type": [None], "_changed": [[]], column: [[dn]]},
        schema={
            "_anchor": pl.String,
            "_dn": pl.String,
            "_object_type": pl.String,
            "_changed": pl.List(pl.String),
            column: pl.List(pl.String),
        },
    )
    staged = stage_delta_import(
        state.connector_spaces["ad"]["group"], [Batch(row, pl.Series("_anchor", [], pl.String))]
    )
    spaces = {"ad": {**state.connector_spaces["ad"], "group": staged.frame}}
    return run_sync(replace(state, connector_spaces=spaces), rules, mode="delta", **kw)  # type: ignore[arg-type]


def pilots(result: SyncResult) -> list[str]:
    person = result.state.metaverse["person"]
    return sorted(person.filter(pl.col("pilot") == "yes")["_mv_id"].to_list())


def test_a_member_added_to_the_scoping_group_is_updated_alone() -> None:
    """A member@add of the pilot group brings that user (already joined) into the rule's scope; no other
    connector is re-processed."""
    assert pilots(synced(RULES)) == ["ad|u1", "ad|u2"]
    result = delta(RULES, "member@add", "CN=u3,DC=x")
    assert pilots(result) == ["ad|u1", "ad|u2", "ad|u3"]
    assert result.counter("ad", "inbound", "connector-flow") == 1  # u3
    assert result.counter("ad", "inbound", "connector-no-flow") == 1  # the changed group itself


def test_a_member_removed_from_the_scoping_group_is_updated_alone() -> None:
    """A member@remove of the pilot group takes that user out of the rule's scope (DNs ignore case)."""
    result = delta(RULES, "member@remove", "cn=U2,DC=X")
    assert pilots(result) == ["ad|u1"]
    assert result.counter("ad", "inbound", "connector-flow") == 1  # u2
    assert result.counter("ad", "inbound", "connector-no-flow") == 1  # the changed group itself


def test_a_member_removed_from_the_group_scoping_the_join_is_disjoined() -> None:
    """When the pilot group scopes the joining rule, a removed member is disjoined and its metaverse
    object deleted; the other member is not re-processed."""
    assert sorted(synced(PILOT_ONLY).state.metaverse["person"]["_mv_id"].to_list()) == ["ad|u1", "ad|u2"]
    result = delta(PILOT_ONLY, "member@remove", "cn=U2,DC=X")
    assert result.state.metaverse["person"]["_mv_id"].to_list() == ["ad|u1"]
    assert result.counter("ad", "inbound", "connector-filtered-remove-mv") == 1
    assert result.counter("ad", "inbound", "connector-no-flow") == 1  # the changed group itself


def test_without_indexed_members_every_object_is_re_processed() -> None:
    """When the reference index leaves out ``member`` (membership changes cannot be told), a delta
    sync re-processes every object of a type scoped by ISMEMBEROF, and gets the membership right."""
    references = frozenset({"manager"})
    result = delta(RULES, "member@add", "CN=u3,DC=x", reference_attributes=references)
    assert pilots(result) == ["ad|u1", "ad|u2", "ad|u3"]
    assert result.counter("ad", "inbound", "connector-flow") == 1  # u3
    assert result.counter("ad", "inbound", "connector-no-flow") == 4  # u1, u2, u4 and the group
