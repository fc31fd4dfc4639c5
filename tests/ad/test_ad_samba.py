"""The AD connector against the real Samba AD DC the suite starts (a few hundred seeded objects)."""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import ldap3
import polars as pl
import pytest

from emulator.samba_loader import load_frames
from flows.connectors.ad import AdConnector, AdPartition, AdSettings
from flows.connectors.base import ImportResult
from flows.connectors.ldap_client import (
    CertificateValidationError,
    ConstraintViolationError,
    InsecureBindRefusedError,
    InvalidCredentialsError,
    LdapClient,
)
from tests.ad.forest import forest_frames
from tests.samba_fixture import REPO, SambaDC
from transforms.schema import PENDING_EXPORT_SCHEMA
from transforms.sync.obsoletion import obsoleted

pytestmark = pytest.mark.samba

USERS, GROUPS, CONTACTS, COMPUTERS = 200, 10, 20, 20


def settings_for(dc: SambaDC, base: str, **overrides: object) -> AdSettings:
    settings = AdSettings(
        name="corp",
        host=dc.host,
        bind_dn=dc.bind_dn,
        password=dc.password_ref,
        ca_file=str(dc.ca_file),
        tls_server_name=dc.tls_server_name,
        partitions=(AdPartition(dc.base_dn, include=(base,), exclude=(f"OU=Excluded,{base}",)),),
        page_size=100,
        writeback_ou=f"OU=IT,{base}",
    )
    return replace(settings, **overrides)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def forest(samba_dc: SambaDC) -> Iterator[str]:
    """An OU seeded with users, groups (with members), contacts, computers and sub-OUs."""
    base = f"OU=f-{uuid.uuid4().hex[:10]},{samba_dc.base_dn}"
    client = AdConnector(settings_for(samba_dc, base)).client
    assert isinstance(client, LdapClient)
    client.add(base, ["top", "organizationalUnit"], {})
    stats = load_frames(client, forest_frames(base, USERS, GROUPS, CONTACTS, COMPUTERS))
    assert stats.added == 4 + USERS + GROUPS + CONTACTS + COMPUTERS
    try:
        yield base
    finally:
        client.delete(base, tree=True)
        client.close()


@pytest.fixture
def connector(samba_dc: SambaDC, forest: str) -> Iterator[AdConnector]:
    conn = AdConnector(settings_for(samba_dc, forest))
    yield conn
    conn.close()


def _admin(connector: AdConnector) -> LdapClient:
    client = connector.client
    assert isinstance(client, LdapClient)
    return client


def _sam() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


def _frames(result: ImportResult, object_type: str) -> pl.DataFrame:
    frames = [b.frame for b in result.batches if b.object_type == object_type]
    return (
        pl.concat(frames, how="diagonal_relaxed")
        if frames
        else pl.DataFrame(schema={"_anchor": pl.String, "_dn": pl.String})
    )


def _anchor_of(connector: AdConnector, dn: str) -> str:
    entry = _admin(connector).read(dn, ["objectGUID"])
    assert entry is not None
    return base64.b64encode(entry["raw_attributes"]["objectGUID"][0]).decode()


def test_full_import_reads_every_type_in_scope_with_binary_and_typed_columns(
    connector: AdConnector, forest: str
) -> None:
    result = connector.full_import()
    assert result.full
    counts = {b.object_type: b.frame.height for b in result.batches}
    in_scope_users = USERS - USERS // 4  # one user in four lives in OU=Excluded
    assert counts == {
        "user": in_scope_users,
        "group": GROUPS,
        "contact": CONTACTS,
        "computer": COMPUTERS,
        "organizationalUnit": 4,  # the seeded OU, Sales, EMEA, IT (Excluded is out)
    }
    users = _frames(result, "user")
    assert users.schema["objectGUID"] == pl.Binary and users.schema["objectSid"] == pl.Binary
    assert users.schema["mS-DS-ConsistencyGuid"] == pl.Binary
    assert users.schema["userCertificate"] == pl.List(pl.Binary)
    assert users.schema["userAccountControl"] == pl.Int64
    assert users.schema["proxyAddresses"] == pl.List(pl.String)
    assert not users["_dn"].str.contains("OU=Excluded").any()
    guid = users["objectGUID"][0]
    assert users["_anchor"][0] == base64.b64encode(guid).decode()
    groups = _frames(result, "group")
    assert sorted(len(m) for m in groups["member"].to_list()) == [USERS // GROUPS] * GROUPS
    assert set(result.watermarks) == {connector.settings.partitions[0].dn}
    assert next(iter(result.watermarks.values())).startswith("dirsync:")


def test_whole_domain_import_includes_foreign_security_principals_and_inetorgpersons(
    samba_dc: SambaDC, forest: str
) -> None:
    conn = AdConnector(settings_for(samba_dc, forest, partitions=(AdPartition(samba_dc.base_dn),)))
    client = _admin(conn)
    dn = f"CN=iop-{uuid.uuid4().hex[:6]},OU=Sales,{forest}"
    client.add(
        dn, ["top", "person", "organizationalPerson", "user", "inetOrgPerson"], {"sAMAccountName": _sam()}
    )
    result = conn.full_import()
    types = {b.object_type for b in result.batches}
    assert {"foreignSecurityPrincipal", "inetOrgPerson", "user", "group", "computer"} <= types
    assert dn in _frames(result, "inetOrgPerson")["_dn"].to_list()
    client.delete(dn)
    conn.close()


def test_a_new_child_ou_of_an_included_ou_is_included(connector: AdConnector, forest: str) -> None:
    client = _admin(connector)
    ou = f"OU=New{uuid.uuid4().hex[:6]},OU=Sales,{forest}"
    client.add(ou, ["top", "organizationalUnit"], {})
    client.add(
        f"CN=newbie,{ou}", ["top", "person", "organizationalPerson", "user"], {"sAMAccountName": _sam()}
    )
    try:
        users = _frames(connector.full_import(), "user")
        assert f"CN=newbie,{ou}" in users["_dn"].to_list()
    finally:
        client.delete(ou, tree=True)


def test_delta_sees_exactly_the_changes_made(connector: AdConnector, forest: str) -> None:
    """Modify, rename, move within scope, move out of scope, delete, membership add and remove."""
    client = _admin(connector)
    watermarks = connector.full_import().watermarks
    sales, it, excluded = f"OU=Sales,{forest}", f"OU=IT,{forest}", f"OU=Excluded,{forest}"
    modified, renamed, moved, moved_out, deleted = (
        f"CN=user0000,{sales}",
        f"CN=user0004,{sales}",
        f"CN=user0008,{sales}",
        f"CN=user0012,{sales}",
        f"CN=user0016,{sales}",
    )
    group = f"CN=group03,{it}"
    added_member, removed_member = f"CN=user0020,{sales}", f"CN=user0013,OU=EMEA,{sales}"
    anchors = {dn: _anchor_of(connector, dn) for dn in (modified, renamed, moved, moved_out, deleted, group)}

    client.modify(
        modified,
        {"department": [(ldap3.MODIFY_REPLACE, ["Changed"])], "title": [(ldap3.MODIFY_REPLACE, ["Boss"])]},
    )
    client.modify_dn(renamed, "CN=renamed0004")
    client.modify_dn(moved, "CN=user0008", new_superior=it)
    client.modify_dn(moved_out, "CN=user0012", new_superior=excluded)
    client.delete(deleted)
    client.modify(
        group, {"member": [(ldap3.MODIFY_ADD, [added_member]), (ldap3.MODIFY_DELETE, [removed_member])]}
    )

    delta = connector.delta_import(watermarks)
    assert not delta.full
    partial = {b.object_type: b.frame for b in delta.batches if b.partial and b.frame.height}
    whole = {b.object_type: b.frame for b in delta.batches if not b.partial and b.frame.height}
    gone = sorted(a for b in delta.batches for a in b.deleted.to_list())

    assert sorted(partial) == ["group", "user"]
    user_row = partial["user"].row(0, named=True)
    assert partial["user"].height == 1 and user_row["_anchor"] == anchors[modified]
    assert (user_row["department"], user_row["title"]) == ("Changed", "Boss")
    assert sorted(user_row["_changed"]) == ["department", "title"]
    group_row = partial["group"].row(0, named=True)
    assert partial["group"].height == 1 and group_row["_anchor"] == anchors[group]
    assert group_row["member@add"] == [added_member] and group_row["member@remove"] == [removed_member]

    assert sorted(whole) == ["user"]
    assert dict(zip(whole["user"]["_anchor"], whole["user"]["_dn"], strict=True)) == {
        anchors[renamed]: f"CN=renamed0004,{sales}",
        anchors[moved]: f"CN=user0008,{it}",
    }
    assert whole["user"]["sAMAccountName"].null_count() == 0  # whole objects, not just the change
    assert gone == sorted([anchors[moved_out], anchors[deleted]])

    again = connector.delta_import(delta.watermarks)
    assert [b for b in again.batches if b.frame.height or b.deleted.len()] == []


def test_full_import_obsoletes_what_it_no_longer_sees(samba_dc: SambaDC, forest: str) -> None:
    """A delete and the rename of an explicitly included OU: its objects drop out of scope."""
    team = f"OU=Team{uuid.uuid4().hex[:6]},{forest}"
    conn = AdConnector(
        settings_for(samba_dc, forest, partitions=(AdPartition(samba_dc.base_dn, include=(team,)),))
    )
    client = _admin(conn)
    client.add(team, ["top", "organizationalUnit"], {})
    try:
        load_frames(
            client,
            [
                pl.DataFrame(
                    {
                        "dn": [f"CN=t{i},{team}" for i in range(5)],
                        "objectClass": [["top", "person", "organizationalPerson", "user"]] * 5,
                        "sAMAccountName": [_sam() for _ in range(5)],
                    }
                )
            ],
        )
        first = _frames(conn.full_import(), "user").with_columns(pl.lit(samba_dc.base_dn).alias("_partition"))
        client.delete(f"CN=t0,{team}")
        second = conn.full_import()
        gone = obsoleted(first, _frames(second, "user"), partitions=[samba_dc.base_dn])
        assert gone["_dn"].to_list() == [f"CN=t0,{team}"]
        client.modify_dn(team, f"OU=Renamed{team[7:13]}")
        third = conn.full_import()
        assert sorted(obsoleted(first, _frames(third, "user"))["_dn"].to_list()) == sorted(
            first["_dn"].to_list()
        )
    finally:
        for dn in (team, f"OU=Renamed{team[7:13]},{forest}"):
            with contextlib.suppress(Exception):
                client.delete(dn, tree=True)
        conn.close()


def _consistency_guid_plan(users: pl.DataFrame) -> pl.DataFrame:
    """What the rule Out to AD - User ImmutableId exports for users with an empty ConsistencyGuid."""
    return users.select(
        pl.lit("corp").alias("connector"),
        pl.col("_object_type").alias("object_type"),
        pl.concat_str(pl.lit("mv-"), pl.col("_anchor")).alias("_mv_id"),
        "_anchor",
        "_dn",
        pl.lit("update").alias("op"),
        pl.lit("mS-DS-ConsistencyGuid").alias("attribute"),
        pl.lit(None, pl.String()).alias("old_value"),
        pl.format('{{"base64":"{}"}}', pl.col("_anchor")).alias("new_value"),
    )


def test_consistency_guid_writeback_writes_objectguid_into_empty_values(connector: AdConnector) -> None:
    users = _frames(connector.full_import(), "user")
    assert users["mS-DS-ConsistencyGuid"].null_count() == users.height
    plan = _consistency_guid_plan(users.head(25))
    results = connector.export(plan)
    assert results["status"].to_list() == ["success"] * 25
    after = _frames(connector.full_import(), "user").join(plan.select("_anchor"), on="_anchor")
    assert (after["mS-DS-ConsistencyGuid"] == after["objectGUID"]).all()
    # The same plan again must not overwrite a value that is now set: an add into a full attribute.
    again = connector.export(plan.head(1))
    assert again["status"].to_list() == ["error"] and again["transient"].to_list() == [False]


def test_export_adds_modifies_and_deletes_under_the_writeback_ou(connector: AdConnector, forest: str) -> None:
    it = f"OU=IT,{forest}"
    member = f"CN=user0001,OU=EMEA,OU=Sales,{forest}"
    rows = [
        ("group", "mv1", None, f"CN=wb-group,{it}", "add", "sAMAccountName", None, '"wbgroup1"'),
        ("group", "mv1", None, f"CN=wb-group,{it}", "add", "member", None, json.dumps([member])),
        ("group", "mv2", None, f"CN=outside,OU=Sales,{forest}", "add", "sAMAccountName", None, '"wbgroup2"'),
    ]
    columns = ["object_type", "_mv_id", "_anchor", "_dn", "op", "attribute", "old_value", "new_value"]
    plan = (
        pl.DataFrame([dict(zip(columns, r, strict=True)) | {"connector": "corp"} for r in rows])
        .select(list(PENDING_EXPORT_SCHEMA))
        .cast(PENDING_EXPORT_SCHEMA)
    )  # type: ignore[arg-type]
    results = connector.export(plan)
    assert results["status"].to_list() == ["success", "error"]
    assert results["error_type"].to_list()[1] == "OutsideWritebackScopeError"
    anchor = results["_anchor"][0]
    assert anchor is not None
    group = _frames(connector.full_import(), "group").filter(pl.col("_anchor") == anchor)
    assert group["member"].to_list() == [[member]]

    update = plan.head(1).with_columns(
        pl.lit(anchor).alias("_anchor"),
        pl.lit("update").alias("op"),
        pl.lit("description").alias("attribute"),
        pl.lit('["written back"]').alias("new_value"),
    )
    assert connector.export(update)["status"].to_list() == ["success"]
    delete = update.with_columns(pl.lit("delete").alias("op"), pl.lit(None, pl.String).alias("attribute"))
    assert connector.export(delete)["status"].to_list() == ["success"]
    missing = connector.export(update)
    assert missing["error_type"].to_list() == ["noSuchObject"] and missing["transient"].to_list() == [False]


def test_a_cookie_resumes_in_a_new_sync_process(connector: AdConnector, forest: str) -> None:
    """The watermark is all a restarted process needs: a fresh interpreter sees the later change."""
    watermarks = connector.full_import().watermarks
    target = f"CN=user0024,OU=Sales,{forest}"
    _admin(connector).modify(target, {"title": [(ldap3.MODIFY_REPLACE, ["After restart"])]})
    script = """
import json, sys
from dataclasses import replace
from flows.connectors.ad import AdConnector, AdPartition, AdSettings
settings = AdSettings(**json.loads(sys.argv[1]))
settings = replace(settings, partitions=tuple(AdPartition(p["dn"], tuple(p["include"]), tuple(p["exclude"])) for p in settings.partitions))
result = AdConnector(settings).delta_import(json.loads(sys.argv[2]))
print(json.dumps([[b.object_type, b.frame["_dn"].to_list(), b.frame["title"].to_list()] for b in result.batches if b.frame.height]))
"""
    from dataclasses import asdict

    proc = subprocess.run(
        [sys.executable, "-c", script, json.dumps(asdict(connector.settings)), json.dumps(watermarks)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=os.environ.copy(),
        check=True,
        timeout=120,
    )
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [["user", [target], ["After restart"]]]


def test_usn_delta_is_the_fallback_where_dirsync_is_not_used(samba_dc: SambaDC, forest: str) -> None:
    conn = AdConnector(settings_for(samba_dc, forest, delta_method="usn"))
    watermarks = conn.full_import().watermarks
    assert next(iter(watermarks.values())).startswith("usn:")
    client = _admin(conn)
    target, victim = f"CN=user0028,OU=Sales,{forest}", f"CN=user0032,OU=Sales,{forest}"
    victim_anchor = _anchor_of(conn, victim)
    client.modify(target, {"title": [(ldap3.MODIFY_REPLACE, ["Via USN"])]})
    client.delete(victim)
    delta = conn.delta_import(watermarks)
    users = _frames(delta, "user")
    assert users["_dn"].to_list() == [target] and users["title"].to_list() == ["Via USN"]
    assert [a for b in delta.batches for a in b.deleted.to_list()] == [victim_anchor]
    conn.close()


def test_an_invalid_cookie_falls_back_to_a_full_import(
    connector: AdConnector, caplog: pytest.LogCaptureFixture
) -> None:
    partition = connector.settings.partitions[0].dn
    with caplog.at_level(logging.WARNING, logger="flows.connectors.ad"):
        result = connector.delta_import({partition: "dirsync:" + base64.b64encode(b"not a cookie").decode()})
    assert result.full and _frames(result, "user").height > 100
    assert any("rejected" in r.getMessage() for r in caplog.records)


def test_starttls_binds_with_validation(samba_dc: SambaDC, forest: str) -> None:
    conn = AdConnector(settings_for(samba_dc, forest, tls="starttls"))
    assert conn.client is not None
    conn.close()


def test_a_plain_ldap_bind_is_refused_unless_allowed(samba_dc: SambaDC, forest: str) -> None:
    with pytest.raises(InsecureBindRefusedError):
        _ = AdConnector(settings_for(samba_dc, forest, tls="none")).client
    allowed = AdConnector(settings_for(samba_dc, forest, tls="none", allow_insecure=True))
    assert allowed.client is not None
    allowed.close()


def test_a_wrong_password_is_terminal_and_not_echoed(
    samba_dc: SambaDC, forest: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("FORESTSYNC_TEST_WRONG_PW", "Wr0ng-Passw0rd-42")
    with caplog.at_level(logging.DEBUG), pytest.raises(InvalidCredentialsError) as info:
        _ = AdConnector(settings_for(samba_dc, forest, password="env:FORESTSYNC_TEST_WRONG_PW")).client
    assert "Wr0ng-Passw0rd-42" not in str(info.value) and "Wr0ng-Passw0rd-42" not in caplog.text


def test_an_untrusted_ca_is_refused(samba_dc: SambaDC, forest: str, tmp_path: Path) -> None:
    """A CA file that did not sign the DC's certificate fails the bind as a certificate error."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "other CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    other_ca = tmp_path / "other.pem"
    other_ca.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(CertificateValidationError):
        _ = AdConnector(settings_for(samba_dc, forest, ca_file=str(other_ca))).client


def test_explicit_range_retrieval_reads_the_rest_of_a_value_list(connector: AdConnector, forest: str) -> None:
    """The `member;range=N-*` loop used for Windows' forced ranging works against a real DC too."""
    group = f"CN=group03,OU=IT,{forest}"
    full = _admin(connector).read(group, ["member"])
    assert full is not None
    members = sorted(v.decode() for v in full["raw_attributes"]["member"])
    rest = connector._read_range(group, "member", 5).to_list()
    assert len(rest) == len(members) - 5 and set(rest) <= set(members)


def test_loader_reports_existing_objects_instead_of_failing(connector: AdConnector, forest: str) -> None:
    frame = pl.DataFrame({"dn": [f"OU=Sales,{forest}"], "objectClass": [["top", "organizationalUnit"]]})
    stats = load_frames(_admin(connector), [frame])
    assert (stats.added, stats.existing) == (0, 1)
    with pytest.raises(ConstraintViolationError):
        load_frames(_admin(connector), [frame], skip_existing=False)


def test_delta_after_an_ou_rename_and_move_reads_the_subtrees_again(samba_dc: SambaDC, forest: str) -> None:
    """Children of a renamed OU get their new DNs; children of an OU moved out of scope are deleted."""
    conn = AdConnector(settings_for(samba_dc, forest))
    client = _admin(conn)
    tag = uuid.uuid4().hex[:6]
    renamed, leaving = f"OU=Ren{tag},OU=Sales,{forest}", f"OU=Out{tag},OU=Sales,{forest}"
    for ou in (renamed, leaving):
        client.add(ou, ["top", "organizationalUnit"], {})
        for i in range(3):
            client.add(
                f"CN=c{i},{ou}", ["top", "person", "organizationalPerson", "user"], {"sAMAccountName": _sam()}
            )
    try:
        watermarks = conn.full_import().watermarks
        leaving_anchors = sorted(_anchor_of(conn, f"CN=c{i},{leaving}") for i in range(3))
        leaving_anchors.append(_anchor_of(conn, leaving))
        client.modify_dn(renamed, f"OU=Now{tag}")
        client.modify_dn(leaving, f"OU=Out{tag}", new_superior=f"OU=Excluded,{forest}")
        delta = conn.delta_import(watermarks)
        whole_users = _frames(ImportResult([b for b in delta.batches if not b.partial], full=False), "user")
        assert sorted(whole_users["_dn"].to_list()) == [
            f"CN=c{i},OU=Now{tag},OU=Sales,{forest}" for i in range(3)
        ]
        assert sorted(a for b in delta.batches for a in b.deleted.to_list()) == sorted(leaving_anchors)
    finally:
        for ou in (f"OU=Now{tag},OU=Sales,{forest}", f"OU=Out{tag},OU=Excluded,{forest}", renamed, leaving):
            with contextlib.suppress(Exception):
                client.delete(ou, tree=True)
        conn.close()


def test_without_the_replication_right_the_delta_falls_back_to_usn(
    samba_dc: SambaDC, forest: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bind account that may not use DirSync gets a USN watermark and USN deltas (delta: dirsync)."""
    admin_conn = AdConnector(settings_for(samba_dc, forest))
    admin = _admin(admin_conn)
    password = f"Pw-{uuid.uuid4().hex}-9x"
    reader = f"CN=reader-{uuid.uuid4().hex[:6]},OU=IT,{forest}"
    admin.add(
        reader,
        ["top", "person", "organizationalPerson", "user"],
        {
            "sAMAccountName": _sam(),
            "unicodePwd": f'"{password}"'.encode("utf-16-le"),
            "userAccountControl": "512",
        },
    )
    monkeypatch.setenv("FORESTSYNC_TEST_READER_PW", password)
    conn = AdConnector(
        settings_for(samba_dc, forest, bind_dn=reader, password="env:FORESTSYNC_TEST_READER_PW")
    )
    try:
        with caplog.at_level(logging.WARNING, logger="flows.connectors.ad"):
            watermarks = conn.full_import().watermarks
        assert next(iter(watermarks.values())).startswith("usn:")
        assert any("DirSync not permitted" in r.getMessage() for r in caplog.records)
        target = f"CN=user0036,OU=Sales,{forest}"
        admin.modify(target, {"title": [(ldap3.MODIFY_REPLACE, ["Seen by a reader"])]})
        users = _frames(conn.delta_import(watermarks), "user")
        assert users.filter(pl.col("_dn") == target)["title"].to_list() == ["Seen by a reader"]
    finally:
        conn.close()
        admin.delete(reader)
        admin_conn.close()
