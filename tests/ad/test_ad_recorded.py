"""Connector behaviour that Samba never shows, replayed from responses shaped like Windows AD's.

Windows AD returns at most MaxValRange (1,500) values of an attribute per request and answers
``member;range=0-1499``; it caps pages at MaxPageSize (1,000) and splits DirSync results into several
passes (``more_results``). Samba does none of that, so these paths run against a recording client that
implements the connector's DirectoryClient protocol.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from flows.connectors.ad import NO_OBJECT_FILTER, AdConnector, AdPartition, AdSettings
from flows.connectors.ldap_client import DirSyncCookieRejectedError, LdapEndpoint, PageResult

P = "DC=fabrikam,DC=com"
GROUP = f"CN=Big,OU=Groups,{P}"


def _guid(n: int) -> bytes:
    return n.to_bytes(16, "little")


def _user(n: int) -> dict[str, Any]:
    return {
        "dn": f"CN=u{n},OU=Users,{P}",
        "raw_attributes": {
            "objectGUID": [_guid(n)],
            "objectClass": [b"top", b"person", b"organizationalPerson", b"user"],
            "userAccountControl": [b"512"],
        },
    }


MEMBERS = [f"CN=u{i},OU=Users,{P}".encode() for i in range(3700)]


class RecordedAd:
    """Replays a Windows AD: forced value ranging at 1,500 and pages of at most 1,000 entries."""

    max_page = 1000
    max_values = 1500

    def __init__(self, dirsync_pages: list[PageResult] | None = None, reject_cookie: bool = False) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.dirsync_pages = dirsync_pages or []
        self.reject_cookie = reject_cookie
        self.objects = [_user(i) for i in range(2500)]
        self.objects.append(
            {
                "dn": GROUP,
                "raw_attributes": {
                    "objectGUID": [_guid(9999)],
                    "objectClass": [b"top", b"group"],
                    "groupType": [b"-2147483646"],
                    f"member;range=0-{self.max_values - 1}": MEMBERS[: self.max_values],
                },
            }
        )

    def connect(self) -> None:
        self.calls.append(("connect", None))

    def close(self) -> None:
        pass

    def root_dse(self, attributes: Sequence[str]) -> dict[str, Any]:
        return {"dn": "", "raw_attributes": {"highestCommittedUSN": [b"4242"]}}

    def read(self, dn: str, attributes: Sequence[str], show_deleted: bool = False) -> dict[str, Any] | None:
        self.calls.append(("read", (dn, tuple(attributes))))
        (attribute,) = attributes
        start = int(attribute.split("=", 1)[1].split("-", 1)[0])
        end = start + self.max_values
        if end >= len(MEMBERS):
            return {"dn": dn, "raw_attributes": {f"member;range={start}-*": MEMBERS[start:]}}
        return {"dn": dn, "raw_attributes": {f"member;range={start}-{end - 1}": MEMBERS[start:end]}}

    def paged_search(
        self, base: str, flt: str, attributes: Sequence[str], page_size: int, show_deleted: bool = False
    ) -> Iterator[list[dict[str, Any]]]:
        self.calls.append(("search", (base, flt)))
        size = min(page_size, self.max_page)
        for start in range(0, len(self.objects), size):
            yield self.objects[start : start + size]

    def dir_sync(
        self, base: str, flt: str, attributes: Sequence[str], cookie: bytes, max_length: int = 0
    ) -> Iterator[PageResult]:
        self.calls.append(("dirsync", cookie))
        if self.reject_cookie and cookie:
            raise DirSyncCookieRejectedError("unavailableCriticalExtension", "DirSyncCookieRejected")
        if flt == NO_OBJECT_FILTER:
            yield PageResult([], b"cookie-now", False)
            return
        yield from self.dirsync_pages

    def add(self, dn: str, object_class: Sequence[str], attributes: dict[str, Any]) -> None:
        raise AssertionError("not used")

    def modify(self, dn: str, changes: dict[str, Any]) -> None:
        raise AssertionError("not used")

    def delete(self, dn: str, tree: bool = False) -> None:
        raise AssertionError("not used")


def _connector(recorded: RecordedAd, **overrides: Any) -> AdConnector:
    settings = AdSettings(
        name="fabrikam",
        host="dc.fabrikam.com",
        bind_dn="CN=sync,DC=fabrikam,DC=com",
        password="env:UNUSED_BY_RECORDING",
        partitions=(AdPartition(P),),
        attributes=("member", "groupType", "userAccountControl"),
        page_size=5000,
        discover_schema=False,
        **overrides,
    )

    def factory(endpoint: LdapEndpoint, password: str) -> RecordedAd:
        return recorded

    return AdConnector(settings, client_factory=factory)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNUSED_BY_RECORDING", "x")


def test_forced_ranging_beyond_1500_values_reads_the_whole_member_list() -> None:
    """A group of 3,700 members arrives as 0-1499, then 1500-2999 and 3000-* on the same object."""
    recorded = RecordedAd()
    result = _connector(recorded).full_import()
    (group,) = [b for b in result.batches if b.object_type == "group"]
    assert group.frame["member"].to_list()[0] == [m.decode() for m in MEMBERS]
    reads = [c[1] for c in recorded.calls if c[0] == "read"]
    assert reads == [(GROUP, ("member;range=1500-*",)), (GROUP, ("member;range=3000-*",))]


def test_pages_capped_by_the_server_are_all_read() -> None:
    """The server returns 1,000 per page although 5,000 were asked: every page is decoded."""
    result = _connector(RecordedAd()).full_import()
    (users,) = [b for b in result.batches if b.object_type == "user"]
    assert users.frame.height == 2500
    assert users.frame["_anchor"].n_unique() == 2500
    assert result.watermarks == {P: "dirsync:" + base64.b64encode(b"cookie-now").decode()}


def test_dirsync_passes_chain_their_cookies_and_end_with_the_last() -> None:
    """With more_results the delta keeps asking; the watermark is the cookie of the last pass."""
    pages = [
        PageResult(
            [
                {
                    "dn": f"CN=u1,OU=Users,{P}",
                    "raw_attributes": {"objectGUID": [_guid(1)], "userAccountControl": [b"514"]},
                }
            ],
            b"c1",
            True,
        ),
        PageResult(
            [
                {
                    "dn": GROUP,
                    "raw_attributes": {
                        "objectGUID": [_guid(9999)],
                        "member;range=1-1": [MEMBERS[5]],
                        "member;range=0-0": [MEMBERS[6]],
                    },
                }
            ],
            b"c2",
            False,
        ),
    ]
    recorded = RecordedAd(dirsync_pages=pages)
    # Types of rows whose objectClass DirSync left out come from a lookup by objectGUID.
    result = _connector(recorded).delta_import({P: "dirsync:" + base64.b64encode(b"c0").decode()})
    assert not result.full
    assert result.watermarks == {P: "dirsync:" + base64.b64encode(b"c2").decode()}
    by_type = {b.object_type: b for b in result.batches}
    assert by_type["user"].partial and by_type["user"].frame["userAccountControl"].to_list() == [514]
    assert by_type["user"].frame["_changed"].to_list() == [["userAccountControl"]]
    assert by_type["group"].frame["member@add"].to_list() == [[MEMBERS[5].decode()]]
    assert by_type["group"].frame["_changed"].to_list() == [[]]  # increments, not a new whole value
    assert by_type["group"].frame["member@remove"].to_list() == [[MEMBERS[6].decode()]]


def test_a_rejected_cookie_falls_back_to_a_full_import_with_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorded = RecordedAd(reject_cookie=True)
    with caplog.at_level(logging.WARNING, logger="flows.connectors.ad"):
        result = _connector(recorded).delta_import({P: "dirsync:" + base64.b64encode(b"stale").decode()})
    assert result.full
    assert sum(b.frame.height for b in result.batches) == 2501
    assert any("rejected" in r.getMessage() and "full import" in r.getMessage() for r in caplog.records)


def test_a_usn_watermark_reads_changes_with_show_deleted() -> None:
    recorded = RecordedAd()
    result = _connector(recorded, delta_method="usn").delta_import({P: "usn:100"})
    searches = [c[1] for c in recorded.calls if c[0] == "search"]
    assert searches[0][1].startswith("(&(uSNChanged>=101)")
    assert result.watermarks == {P: "usn:4242"}


def test_each_partition_has_its_own_watermark_and_batches() -> None:
    """Two naming contexts: one cookie each, batches tagged with their partition."""
    child = "DC=emea,DC=fabrikam,DC=com"
    recorded = RecordedAd()
    connector = _connector(recorded)
    settings = connector.settings
    two = AdConnector(
        type(settings)(**{**settings.__dict__, "partitions": (AdPartition(P), AdPartition(child))}),
        client_factory=lambda endpoint, password: recorded,  # type: ignore[arg-type,return-value]
    )
    result = two.full_import()
    assert sorted(result.watermarks) == sorted([P, child])
    # The recording answers every base with the same objects; scope keeps each partition's own.
    assert {b.partition for b in result.batches} == {P}
    searched = [c[1][0] for c in recorded.calls if c[0] == "search"]
    assert searched == [P, child]
