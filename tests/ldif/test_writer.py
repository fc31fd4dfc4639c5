"""The LDIF writer: SAFE-STRING rules, base64, folding only where needed, absent values."""

from __future__ import annotations

import base64

import polars as pl

from emulator.ldif import entry_texts, to_ldif
from flows.connectors.ldif import parse_ldif


def one(frame: pl.DataFrame, fold: int | None = None) -> str:
    return str(entry_texts(frame, fold)[0])


def test_safe_strings_are_plain_and_others_base64() -> None:
    values = ["plain text", " leading space", ":colon", "<less", "trailing ", "Jürgen", "line\nfeed", "a:b<c"]
    frame = pl.DataFrame({"dn": ["CN=x"] * len(values), "sn": values})
    lines = [str(t).splitlines()[1] for t in entry_texts(frame, None)]
    assert lines[0] == "sn: plain text"
    assert lines[-1] == "sn: a:b<c"
    for line, value in zip(lines[1:-1], values[1:-1], strict=True):
        assert line == "sn:: " + base64.b64encode(value.encode()).decode()


def test_types_lists_and_nulls() -> None:
    frame = pl.DataFrame(
        {
            "dn": ["CN=a"],
            "objectClass": [["top", "user"]],
            "objectGUID": [b"\x00\x01"],
            "userAccountControl": [512],
            "isCriticalSystemObject": [False],
            "mail": [None],
            "proxyAddresses": [None],
        },
        schema_overrides={"mail": pl.String, "proxyAddresses": pl.List(pl.String)},
    )
    assert one(frame) == (
        "dn: CN=a\nobjectClass: top\nobjectClass: user\nobjectGUID:: AAE=\n"
        "userAccountControl: 512\nisCriticalSystemObject: FALSE\n"
    )


def test_folding_only_long_lines() -> None:
    frame = pl.DataFrame({"dn": ["CN=a"], "description": ["x" * 30], "info": ["y" * 10]})
    text = one(frame, fold=16)
    assert text.splitlines() == [
        "dn: CN=a",
        "description: xxx",
        " " + "x" * 15,
        " " + "x" * 12,
        "info: yyyyyyyyyy",
    ]
    assert all(len(line) <= 16 for line in text.splitlines())


def test_file_starts_with_version_and_separates_entries() -> None:
    frame = pl.DataFrame({"dn": ["CN=a", "CN=b"], "sn": ["A", "B"]})
    assert to_ldif({"x": frame}) == b"version: 1\n\ndn: CN=a\nsn: A\n\ndn: CN=b\nsn: B\n\n"


def test_written_text_parses_back() -> None:
    frame = pl.DataFrame(
        {
            "dn": ["CN=Zoë\\, A,DC=x"],
            "objectClass": [["top", "person", "organizationalPerson", "user"]],
            "objectGUID": [bytes(range(16))],
            "displayName": ["  spaced  "],
            "proxyAddresses": [["SMTP:a@x", "X500:/o=" + "long" * 40]],
        }
    )
    parsed = parse_ldif(to_ldif({"user": frame}, fold_width=20)).frames["user"]
    assert parsed["_dn"].to_list() == ["CN=Zoë\\, A,DC=x"]
    assert parsed["displayName"].to_list() == ["  spaced  "]
    assert parsed["proxyAddresses"].to_list() == frame["proxyAddresses"].to_list()
