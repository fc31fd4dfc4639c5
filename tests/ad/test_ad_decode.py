"""Raw ldap3 entries decode into typed Polars frames."""

from __future__ import annotations

import base64

import polars as pl
from polars.testing import assert_frame_equal

from flows.connectors.ad_decode import AttributeTypes, RangedValue, decode_entries

GUID = bytes.fromhex("33221100554477668899aabbccddeeff")
SID = bytes.fromhex("010500000000000515000000")


def _entry(dn: str, **raw: list[bytes]) -> dict[str, object]:
    return {"dn": dn, "raw_attributes": {k.replace("_", "-"): v for k, v in raw.items()}}


def test_values_get_the_types_of_the_attribute_table() -> None:
    """Binary stays bytes, integers and booleans are typed, multi-valued attributes are lists."""
    entries = [
        _entry(
            "CN=a,DC=x",
            objectGUID=[GUID],
            objectSid=[SID],
            objectClass=[b"top", b"person", b"organizationalPerson", b"user"],
            userAccountControl=[b"512"],
            isCriticalSystemObject=[b"TRUE"],
            proxyAddresses=[b"SMTP:a@x.com", b"smtp:b@x.com"],
            displayName=["Zoë".encode()],
        ),
        _entry("CN=b,DC=x", objectGUID=[GUID[::-1]], objectClass=[b"top", b"contact"]),
    ]
    attrs = [
        "objectGUID",
        "objectSid",
        "objectClass",
        "userAccountControl",
        "isCriticalSystemObject",
        "proxyAddresses",
        "displayName",
        "mS-DS-ConsistencyGuid",
    ]
    frame = decode_entries(entries, attrs, AttributeTypes()).frame
    assert frame.schema["objectGUID"] == pl.Binary
    assert frame.schema["mS-DS-ConsistencyGuid"] == pl.Binary
    assert frame.schema["userAccountControl"] == pl.Int64
    assert frame.schema["isCriticalSystemObject"] == pl.Boolean
    assert frame.schema["proxyAddresses"] == pl.List(pl.String)
    row = frame.row(0, named=True)
    assert row["_anchor"] == base64.b64encode(GUID).decode()
    assert row["_object_type"] == "user"
    assert row["userAccountControl"] == 512
    assert row["isCriticalSystemObject"] is True
    assert row["proxyAddresses"] == ["SMTP:a@x.com", "smtp:b@x.com"]
    assert row["displayName"] == "Zoë"
    assert frame.row(1, named=True)["_object_type"] == "contact"
    assert frame.row(1, named=True)["userAccountControl"] is None


def test_attribute_names_match_case_insensitively() -> None:
    """The server may answer `objectguid`; the column keeps the schema casing."""
    frame = decode_entries([_entry("CN=a", objectguid=[GUID])], ["objectGUID"], AttributeTypes()).frame
    assert frame["objectGUID"].to_list() == [GUID]


def test_dirsync_incremental_member_values_become_add_and_remove_columns() -> None:
    entries = [
        {
            "dn": "CN=g",
            "raw_attributes": {
                "objectGUID": [GUID],
                "member;range=1-1": [b"CN=new"],
                "member;range=0-0": [b"CN=old1", b"CN=old2"],
            },
        }
    ]
    frame = decode_entries(entries, ["objectGUID", "member"], AttributeTypes(), incremental=True).frame
    assert frame["member@add"].to_list() == [["CN=new"]]
    assert frame["member@remove"].to_list() == [["CN=old1", "CN=old2"]]
    assert frame["member"].to_list() == [None]


def test_a_value_list_cut_short_is_reported_for_range_retrieval() -> None:
    """`member;range=0-1499` keeps its 1,500 values and says where to continue."""
    members = [f"CN=u{i}".encode() for i in range(1500)]
    entries = [{"dn": "CN=g", "raw_attributes": {"objectGUID": [GUID], "member;range=0-1499": members}}]
    page = decode_entries(entries, ["objectGUID", "member"], AttributeTypes())
    assert page.ranged == [RangedValue(row=0, dn="CN=g", attribute="member", next_start=1500)]
    assert len(page.frame["member"][0]) == 1500


def test_schema_learned_types_override_the_default() -> None:
    types = AttributeTypes()
    types.learn("extensionAttribute99", "2.5.5.9", single_valued=False)
    frame = decode_entries(
        [_entry("CN=a", extensionAttribute99=[b"1", b"2"])], ["extensionAttribute99"], types
    ).frame
    assert_frame_equal(
        frame.select("extensionAttribute99"),
        pl.DataFrame({"extensionAttribute99": [[1, 2]]}, schema={"extensionAttribute99": pl.List(pl.Int64)}),
    )
