"""Out to AD - User / InetOrgPerson ImmutableId: the objectGUID goes into an empty mS-DS-ConsistencyGuid
of every user synced to Entra ID, and nowhere else (spec 7.11)."""

from __future__ import annotations

import json

import polars as pl

from tests.default_rules.world import Forest, b64, guid, sync

CORP = Forest("corp", "corp.example.com", 1)
CG = "mS-DS-ConsistencyGuid"


def writes(world_exports: pl.DataFrame) -> dict[str, tuple[str, str | None, object]]:
    """``{anchor: (object type, old value, decoded new value)}`` of the ConsistencyGuid exports."""
    rows = world_exports.filter(pl.col("attribute") == CG)
    assert set(rows["op"]) <= {"update"}
    return {
        r["_anchor"]: (r["object_type"], r["old_value"], json.loads(r["new_value"]))
        for r in rows.iter_rows(named=True)
    }


def test_an_empty_consistency_guid_gets_the_object_guid() -> None:
    """A user without mS-DS-ConsistencyGuid: one update to its AD object, the objectGUID as a binary value."""
    alice = CORP.user("Alice", 1101, userPrincipalName="alice@corp.example.com")
    world = sync({CORP: {"user": [alice]}})
    assert writes(world.exports(connector="corp")) == {
        alice["_anchor"]: ("user", None, {"base64": alice["_anchor"]})
    }


def test_an_inetorgperson_is_written_like_a_user() -> None:
    """InetOrgPerson objects are users too: the rule of their own object type writes them."""
    ines = CORP.user("Ines", 1102, userPrincipalName="ines@corp.example.com")
    world = sync({CORP: {"inetOrgPerson": [ines]}})
    assert writes(world.exports(connector="corp")) == {
        ines["_anchor"]: ("inetOrgPerson", None, {"base64": ines["_anchor"]})
    }


def test_an_existing_consistency_guid_is_left_alone() -> None:
    """A user that has one (moved from another forest: not its objectGUID) gets no export to AD."""
    moved = CORP.user("Moved", 1103, **{CG: guid("old-forest", "Moved")})
    world = sync({CORP: {"user": [moved]}})
    assert writes(world.exports(connector="corp")) == {}
    assert world.person(moved["_anchor"], "corp")["sourceAnchor"] == b64(guid("old-forest", "Moved"))


def test_objects_out_of_the_sync_scope_get_nothing() -> None:
    """Filtered accounts (cloudFiltered), groups, contacts and computers are never written."""
    msol = CORP.user("Msol", 1002, sAMAccountName="MSOL_0a1b2c3d4e5f")
    krbtgt = CORP.user("krbtgt", 502, isCriticalSystemObject=True)
    group = CORP.group("Staff", 1201)
    contact = CORP.contact("Partner", mail="partner@example.net")
    world = sync({CORP: {"user": [msol, krbtgt], "group": [group], "contact": [contact]}})
    assert writes(world.exports(connector="corp")) == {}
    # Leaving the scope never clears a value the user has.
    with_value = dict(msol, **{CG: msol["objectGUID"]})
    assert writes(sync({CORP: {"user": [with_value]}}).exports(connector="corp")) == {}


def test_the_write_is_not_repeated_once_an_import_confirms_it() -> None:
    """After the export, the imported value equals the sourceAnchor: no further export."""
    alice = CORP.user("Alice", 1101, userPrincipalName="alice@corp.example.com")
    first = sync({CORP: {"user": [alice]}})
    confirmed = dict(alice, **{CG: alice["objectGUID"]}, _pending="update")
    second = sync({CORP: {"user": [confirmed]}}, state=first.export_succeeds())
    assert writes(second.exports(connector="corp")) == {}
