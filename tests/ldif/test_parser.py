"""RFC 2849 parsing into connector-space frames."""

from __future__ import annotations

import base64

import polars as pl
import pytest

from flows.connectors.ldif import LdifSyntaxError, parse_ldif

GUID_A = bytes(range(16))
GUID_B = bytes(range(16, 32))
GUID_C = bytes(range(32, 48))


def b64(raw: bytes | str) -> str:
    return base64.b64encode(raw.encode() if isinstance(raw, str) else raw).decode()


def user(dn: str, guid: bytes, *lines: str) -> str:
    head = [f"dn: {dn}", "objectClass: top", "objectClass: person", "objectClass: organizationalPerson"]
    return "\n".join([*head, "objectClass: user", f"objectGUID:: {b64(guid)}", *lines]) + "\n"


def parse(text: str) -> dict[str, pl.DataFrame]:
    return parse_ldif(text.encode(), name="t.ldif").frames


def test_base64_values_are_decoded_as_utf8_text() -> None:
    """A `attr:: value` line carries base64; string attributes decode it as UTF-8."""
    frames = parse("version: 1\n\n" + user("CN=j,DC=x", GUID_A, f"givenName:: {b64('Jürgen')}"))
    assert frames["user"]["givenName"].to_list() == ["Jürgen"]


def test_base64_dn_is_decoded() -> None:
    """The DN itself may be base64 (non-ASCII RDN)."""
    text = user("X", GUID_A).replace("dn: X", f"dn:: {b64('CN=Zoë,DC=x')}")
    assert parse(text)["user"]["_dn"].to_list() == ["CN=Zoë,DC=x"]


def test_folded_lines_are_unfolded_removing_one_leading_space() -> None:
    """A line starting with one space continues the previous line; only that one space is dropped."""
    text = user("CN=a,DC=x", GUID_A, "description: first", "  second", " third")
    assert parse(text)["user"]["description"].to_list() == [["first secondthird"]]


def test_folded_base64_value() -> None:
    """Folding can split a base64 value anywhere; the parts join before decoding."""
    encoded = b64("a rather long display name that needs folding")
    text = user(
        "CN=a,DC=x", GUID_A, f"displayName:: {encoded[:10]}", f" {encoded[10:30]}", f" {encoded[30:]}"
    )
    assert parse(text)["user"]["displayName"].to_list() == ["a rather long display name that needs folding"]


def test_folded_dn_line() -> None:
    text = user("X", GUID_A).replace("dn: X", "dn: CN=long name,OU=Us\n ers,DC=x")
    assert parse(text)["user"]["_dn"].to_list() == ["CN=long name,OU=Users,DC=x"]


def test_multi_valued_attributes_become_lists_in_file_order() -> None:
    text = user("CN=a,DC=x", GUID_A, "proxyAddresses: SMTP:a@x.com", "proxyAddresses: smtp:b@x.com")
    text += "\n" + user("CN=b,DC=x", GUID_B)
    frame = parse(text)["user"]
    assert frame.schema["proxyAddresses"] == pl.List(pl.String)
    assert frame["proxyAddresses"].to_list() == [["SMTP:a@x.com", "smtp:b@x.com"], None]
    assert frame["objectClass"].to_list()[0] == ["top", "person", "organizationalPerson", "user"]


def test_binary_attributes_stay_bytes_and_anchor_is_base64_of_object_guid() -> None:
    sid = bytes([1, 5, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0]) + bytes(16)
    text = user("CN=a,DC=x", GUID_A, f"objectSid:: {b64(sid)}", f"userCertificate:: {b64(b'cert1')}")
    frame = parse(text)["user"]
    assert frame.schema["objectGUID"] == pl.Binary
    assert frame["objectGUID"].to_list() == [GUID_A]
    assert frame["objectSid"].to_list() == [sid]
    assert frame.schema["userCertificate"] == pl.List(pl.Binary)
    assert frame["userCertificate"].to_list() == [[b"cert1"]]
    assert frame["_anchor"].to_list() == [b64(GUID_A)]


def test_integers_booleans_and_empty_values_are_typed() -> None:
    text = user(
        "CN=a,DC=x",
        GUID_A,
        "userAccountControl: 514",
        "isCriticalSystemObject: TRUE",
        "pwdLastSet: 0",
        "info:",
    )
    frame = parse(text)["user"]
    assert frame.select("userAccountControl", "isCriticalSystemObject", "pwdLastSet", "info").row(0) == (
        514,
        True,
        0,
        "",
    )
    assert frame.schema["userAccountControl"] == pl.Int64
    assert frame.schema["isCriticalSystemObject"] == pl.Boolean


def test_comments_are_ignored_even_when_folded() -> None:
    text = "# a comment\n#  folded\n continuation of the comment\n" + user(
        "CN=a,DC=x", GUID_A, "# inside", "sn: S"
    )
    assert parse(text)["user"]["sn"].to_list() == ["S"]


def test_crlf_line_endings() -> None:
    text = user("CN=a,DC=x", GUID_A, "sn: S").replace("\n", "\r\n")
    frame = parse(text)["user"]
    assert frame["sn"].to_list() == ["S"]
    assert frame["_dn"].to_list() == ["CN=a,DC=x"]


def test_attribute_names_are_case_insensitive_and_use_schema_casing() -> None:
    text = user(
        "CN=a,DC=x", GUID_A, "SAMACCOUNTNAME: a", "proxyaddresses: SMTP:a@x", "PROXYADDRESSES: smtp:b@x"
    )
    frame = parse(text)["user"]
    assert frame["sAMAccountName"].to_list() == ["a"]
    assert frame["proxyAddresses"].to_list() == [["SMTP:a@x", "smtp:b@x"]]


def test_attribute_options_are_dropped() -> None:
    text = user("CN=a,DC=x", GUID_A, f"userCertificate;binary:: {b64(b'c')}")
    assert parse(text)["user"]["userCertificate"].to_list() == [[b"c"]]


def test_unknown_attribute_with_several_values_becomes_a_list() -> None:
    text = user("CN=a,DC=x", GUID_A, "fooBar: 1", "fooBar: 2") + "\n" + user("CN=b,DC=x", GUID_B, "fooBar: 3")
    assert parse(text)["user"]["fooBar"].to_list() == [["1", "2"], ["3"]]


def test_object_type_is_the_most_specific_class() -> None:
    computer = user("CN=pc,DC=x", GUID_A).replace(
        "objectClass: user", "objectClass: user\nobjectClass: computer"
    )
    inet = user("CN=i,DC=x", GUID_B).replace(
        "objectClass: user", "objectClass: user\nobjectClass: inetOrgPerson"
    )
    group = f"dn: CN=g,DC=x\nobjectClass: top\nobjectClass: group\nobjectGUID:: {b64(GUID_C)}\n"
    frames = parse("\n".join([computer, inet, group]))
    assert {t: f["_object_type"].to_list() for t, f in frames.items()} == {
        "computer": ["computer"],
        "inetOrgPerson": ["inetOrgPerson"],
        "group": ["group"],
    }


def test_changetype_add_is_a_content_record() -> None:
    text = user("CN=a,DC=x", GUID_A, "sn: S").replace(
        "objectClass: top", "changetype: add\nobjectClass: top", 1
    )
    assert parse(text)["user"]["sn"].to_list() == ["S"]


def test_version_line_without_blank_line_after_it() -> None:
    assert parse("version: 1\n" + user("CN=a,DC=x", GUID_A))["user"].height == 1


def error_of(text: str) -> LdifSyntaxError:
    with pytest.raises(LdifSyntaxError) as info:
        parse(text)
    return info.value


def test_line_without_colon_is_an_error_naming_file_and_line() -> None:
    text = "version: 1\n\n" + user("CN=a,DC=x", GUID_A, "sn: S", "this line has no separator")
    err = error_of(text)
    assert (err.line, err.column) == (10, 1)
    assert str(err).startswith("t.ldif:10:1: ")
    assert "colon" in str(err)


def test_line_numbers_count_physical_lines_after_folding_and_comments() -> None:
    text = "# c\n" + user("CN=a,DC=x", GUID_A, "description: a", " b", "# c", "broken")
    assert error_of(text).line == 11


def test_bad_base64_is_an_error_with_the_value_column() -> None:
    err = error_of(user("CN=a,DC=x", GUID_A, "sn:: !!notbase64"))
    assert (err.line, err.column) == (7, 6)
    assert "base64" in str(err)


def test_continuation_line_at_file_start_is_an_error() -> None:
    err = error_of(" dn: CN=a\n" + user("CN=b,DC=x", GUID_A))
    assert (err.line, err.column) == (1, 1)


def test_continuation_after_blank_line_is_an_error() -> None:
    assert error_of(user("CN=a,DC=x", GUID_A) + "\n cont\n").line == 8


def test_version_inside_the_file_is_an_error() -> None:
    err = error_of(user("CN=a,DC=x", GUID_A) + "\nversion: 1\n")
    assert err.line == 8
    assert "version" in str(err)


def test_unsupported_version_is_an_error() -> None:
    assert "version" in str(error_of("version: 2\n\n" + user("CN=a,DC=x", GUID_A)))


def test_unknown_changetype_is_an_error() -> None:
    err = error_of("dn: CN=a,DC=x\nchangetype: frobnicate\nobjectClass: user\n")
    assert err.line == 2
    assert "unknown changetype" in str(err)


def test_change_records_are_refused() -> None:
    err = error_of("dn: CN=a,DC=x\nchangetype: modify\nreplace: sn\nsn: S\n-\n")
    assert err.line == 2
    assert "not supported" in str(err)
    assert {p.line for p in err.problems} >= {2, 5}


def test_entry_not_starting_with_dn_is_an_error() -> None:
    assert error_of("objectClass: user\n").line == 1


def test_bad_attribute_description_is_an_error() -> None:
    assert error_of(user("CN=a,DC=x", GUID_A, "bad name: x")).line == 7


def test_url_values_are_refused() -> None:
    assert "URL" in str(error_of(user("CN=a,DC=x", GUID_A, "jpegPhoto:< file:///tmp/x.jpg")))


def test_invalid_integer_is_an_error_on_its_line() -> None:
    err = error_of(user("CN=a,DC=x", GUID_A, "userAccountControl: lots"))
    assert err.line == 7
    assert "userAccountControl" in str(err)


def test_base64_text_that_is_not_utf8_is_an_error() -> None:
    not_utf8 = b64(b"\xff\xfe")
    assert error_of(user("CN=a,DC=x", GUID_A, f"sn:: {not_utf8}")).line == 7


def test_raw_bytes_that_are_not_utf8_are_an_error() -> None:
    data = user("CN=a,DC=x", GUID_A).encode() + b"sn: \xff\n"
    with pytest.raises(LdifSyntaxError) as info:
        parse_ldif(data, name="t.ldif")
    assert (info.value.line, info.value.column) == (7, 5)


def test_missing_anchor_is_an_error() -> None:
    text = "dn: CN=a,DC=x\nobjectClass: user\n"
    assert "objectGUID" in str(error_of(text))


def test_duplicate_dn_and_duplicate_anchor_are_errors() -> None:
    assert error_of(user("CN=a,DC=x", GUID_A) + "\n" + user("cn=A,dc=x", GUID_B)).line == 8
    assert "anchor" in str(error_of(user("CN=a,DC=x", GUID_A) + "\n" + user("CN=b,DC=x", GUID_A)))


def test_single_valued_attribute_with_two_values_is_an_error() -> None:
    assert error_of(user("CN=a,DC=x", GUID_A, "sn: a", "sn: b")).line == 8


def test_every_problem_is_reported_in_file_order() -> None:
    text = user("CN=a,DC=x", GUID_A, "oops", "sn:: ###") + "\n" + user("CN=b,DC=x", GUID_B, "again")
    err = error_of(text)
    assert [p.line for p in err.problems] == [7, 8, 16]


@pytest.mark.parametrize(
    "text", ["", "version: 1\n", "# only a comment\n", "\n\n", "version: 1\n\n# trailing\n"]
)
def test_files_without_entries_give_no_frames(text: str) -> None:
    parsed = parse_ldif(text.encode())
    assert (parsed.frames, parsed.entries) == ({}, 0)


def test_many_bad_lines_report_the_first_fifty() -> None:
    body = "".join(f"bad name{i}: x\n" for i in range(80))
    err = error_of(user("CN=a,DC=x", GUID_A) + body)
    assert len(err.problems) == 50
    assert err.line == 7
    assert "invalid attribute description 'bad name0'" in str(err)


def test_chunked_split_gives_the_same_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lines are split in chunks; attribute spellings first seen in a later chunk still line up."""
    import flows.connectors.ldif as ldif

    text = "\n".join(
        user(f"CN=u{i},DC=x", bytes([i]) * 16, f"sn: S{i}", f"mail: u{i}@x" if i % 2 else f"fooBar{i % 3}: v")
        for i in range(1, 40)
    )
    whole = parse(text)
    monkeypatch.setattr(ldif, "_SPLIT_CHUNK", 7)
    chunked = parse(text)
    assert whole.keys() == chunked.keys()
    for t in whole:
        assert whole[t].equals(chunked[t])
