"""The Entra ID connector against the emulator, through msgraph-core's transport and azure-identity."""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable

import polars as pl
import pytest

from emulator.graph import FaultConfig, RunningEmulator
from flows.connectors.aad import AadConnector
from flows.connectors.aad_settings import build_credential
from flows.connectors.base import Connector
from tests.graph.conftest import group_attrs, plan, settings_for, uid, user_attrs

pytestmark = pytest.mark.graph


def _ok(results: pl.DataFrame) -> pl.DataFrame:
    bad = results.filter(pl.col("status") != "success")
    assert bad.is_empty(), bad.to_dicts()
    return results


def cloud_user(tag: str) -> dict[str, object]:
    attrs: dict[str, object] = {**user_attrs(tag), "passwordProfile": {"password": "Str0ng!Passw0rd"}}
    del attrs["onPremisesImmutableId"]
    return attrs


def _by_mv(results: pl.DataFrame) -> dict[str, str]:
    return dict(zip(results["_mv_id"].to_list(), results["_anchor"].to_list(), strict=True))


def test_connector_satisfies_the_protocol(connector: AadConnector) -> None:
    """AadConnector is a Connector with Entra's four object types."""
    assert isinstance(connector, Connector)
    assert connector.object_types() == ["user", "group", "contact", "device"]


def test_create_update_delete_round_trip(connector: AadConnector, emulator: RunningEmulator) -> None:
    """Objects created, updated and deleted by export are what the next import reads back."""
    t = uid()
    created = _ok(
        connector.export(
            plan(
                {
                    "mv_id": f"a{t}",
                    "type": "user",
                    "op": "add",
                    "attrs": user_attrs(f"a{t}", department="Sales"),
                },
                {"mv_id": f"b{t}", "type": "user", "op": "add", "attrs": user_attrs(f"b{t}")},
                {"mv_id": f"c{t}", "type": "user", "op": "add", "attrs": user_attrs(f"c{t}")},
                {
                    "mv_id": f"g{t}",
                    "type": "group",
                    "op": "add",
                    "attrs": {**group_attrs(t), "members": [{"_mv_id": f"a{t}"}, {"_mv_id": f"b{t}"}]},
                },
            )
        )
    )
    anchors = _by_mv(created)
    assert all(re.fullmatch(r"[0-9a-f-]{36}", a) for a in anchors.values())

    full = connector.full_import()
    assert full.full and set(full.watermarks) == {"user", "group", "contact", "device"}
    users = next(b for b in full.batches if b.object_type == "user").frame
    a_row = users.filter(pl.col("_anchor") == anchors[f"a{t}"]).to_dicts()[0]
    assert a_row["_object_type"] == "user"
    assert a_row["userPrincipalName"] == f"ua{t}@contoso.com"
    assert a_row["department"] == "Sales"
    assert a_row["onPremisesImmutableId"] == f"imm-a{t}"
    groups = next(b for b in full.batches if b.object_type == "group").frame
    g_row = groups.filter(pl.col("_anchor") == anchors[f"g{t}"]).to_dicts()[0]
    assert sorted(g_row["members"]) == sorted([anchors[f"a{t}"], anchors[f"b{t}"]])

    writes_before = emulator.app.stats.writes
    noop_before = emulator.directory.noop_updates
    _ok(
        connector.export(
            plan(
                {
                    "mv_id": f"a{t}",
                    "anchor": anchors[f"a{t}"],
                    "type": "user",
                    "op": "update",
                    "attrs": {
                        "department": ("Sales", "Support"),
                        "displayName": (f"User a{t}", f"User a{t}"),
                    },
                },
                {
                    "mv_id": f"g{t}",
                    "anchor": anchors[f"g{t}"],
                    "type": "group",
                    "op": "update",
                    "attrs": {"members": ([anchors[f"a{t}"], anchors[f"b{t}"]], [anchors[f"a{t}"]])},
                },
                {"mv_id": f"c{t}", "anchor": anchors[f"c{t}"], "type": "user", "op": "delete"},
            )
        )
    )
    assert emulator.app.stats.writes - writes_before == 3  # one PATCH, one member removal, one DELETE
    assert emulator.directory.noop_updates == noop_before
    delta = connector.delta_import(full.watermarks)
    assert not delta.full
    users = next(b for b in delta.batches if b.object_type == "user")
    changed = users.frame.filter(pl.col("_anchor") == anchors[f"a{t}"]).to_dicts()
    assert changed[0]["department"] == "Support"
    assert "department" in changed[0]["_changed"]
    assert users.deleted.to_list() == [anchors[f"c{t}"]]
    groups = next(b for b in delta.batches if b.object_type == "group")
    g_row = groups.frame.filter(pl.col("_anchor") == anchors[f"g{t}"]).to_dicts()[0]
    assert anchors[f"b{t}"] in g_row["members@remove"]


def test_full_import_pages_beyond_999(new_emulator: Callable[..., RunningEmulator]) -> None:
    """A full import follows nextLinks past 999 objects and stores the final deltaLink."""
    emu = new_emulator()
    for i in range(2500):
        emu.directory.seed("user", {"displayName": f"P{i}", "userPrincipalName": f"p{i}@contoso.com"})
    conn = AadConnector(settings_for(emu, object_types=("user",)))
    result = conn.full_import()
    [batch] = result.batches
    assert batch.frame.height == 2500
    assert batch.frame["_anchor"].n_unique() == 2500
    assert conn.last_graph_stats.http_requests >= 3  # 999 + 999 + 502
    assert "$deltatoken=" in result.watermarks["user"]
    again = conn.delta_import(result.watermarks)
    assert again.batches[0].frame.height == 0


def test_delta_import_returns_only_later_changes(new_emulator: Callable[..., RunningEmulator]) -> None:
    """After a full import, a delta import reads only the objects changed since its deltaLink."""
    emu = new_emulator()
    ids = [
        emu.directory.seed("user", {"displayName": f"D{i}", "userPrincipalName": f"d{i}@contoso.com"}).id
        for i in range(30)
    ]
    conn = AadConnector(settings_for(emu, object_types=("user",)))
    first = conn.full_import()
    emu.directory.update(ids[3], "user", {"displayName": "changed"})
    emu.directory.delete(ids[7], "user")
    [batch] = conn.delta_import(first.watermarks).batches
    assert batch.partial
    assert batch.frame["_anchor"].to_list() == [ids[3]]
    assert batch.frame["displayName"].to_list() == ["changed"]
    assert batch.deleted.to_list() == [ids[7]]


def test_group_with_2000_members(new_emulator: Callable[..., RunningEmulator]) -> None:
    """2,000 members go out as 100 binds of 20 in 5 batches, and come back in the import."""
    emu = new_emulator()
    members = [
        emu.directory.seed("user", {"displayName": f"M{i}", "userPrincipalName": f"m{i}@contoso.com"}).id
        for i in range(2000)
    ]
    conn = AadConnector(settings_for(emu, object_types=("group",)))
    results = _ok(
        conn.export(
            plan(
                {
                    "mv_id": "big",
                    "type": "group",
                    "op": "add",
                    "attrs": {**group_attrs("big"), "members": members},
                }
            )
        )
    )
    group = emu.directory.get(results["_anchor"][0])
    assert sorted(group.members or {}) == sorted(members)
    assert conn.last_graph_stats.batch_requests == 6  # 1 create + 100 binds / 20 per $batch
    [batch] = conn.full_import().batches
    assert sorted(batch.frame["members"][0].to_list()) == sorted(members)


def test_twenty_percent_faults_converge_without_duplicates(
    new_emulator: Callable[..., RunningEmulator],
) -> None:
    """With 20% of requests failing (429, 503, timeouts, dropped connections) the export converges:
    every object exists once, every update lands."""
    emu = new_emulator(faults=FaultConfig.uniform(0.2, timeout_delay_s=1.2, seed=9))
    conn = AadConnector(settings_for(emu, timeout_s=0.8, max_attempts=30, object_types=("user", "group")))
    n = 200
    tags = [f"f{i}" for i in range(n)]
    creates = [{"mv_id": t, "type": "user", "op": "add", "attrs": user_attrs(t)} for t in tags]
    group = {
        "mv_id": "fg",
        "type": "group",
        "op": "add",
        "attrs": {**group_attrs("fg"), "members": [{"_mv_id": t} for t in tags]},
    }
    results = _ok(conn.export(plan(*creates, group)))
    injected = dict(emu.app.faults.injected)
    assert injected.get("drop", 0) > 0 and injected.get("timeout", 0) > 0, injected
    users = list(emu.directory.of_kind("user"))
    assert len(users) == n
    assert sorted(u.props["onPremisesImmutableId"] for u in users) == sorted(f"imm-{t}" for t in tags)
    anchors = _by_mv(results)
    assert len(emu.directory.get(anchors["fg"]).members or {}) == n

    updates = [
        {
            "mv_id": t,
            "anchor": anchors[t],
            "type": "user",
            "op": "update",
            "attrs": {"displayName": (f"User {t}", f"Renamed {t}")},
        }
        for t in tags
    ]
    _ok(conn.export(plan(*updates)))
    assert sorted(u.props["displayName"] for u in emu.directory.of_kind("user")) == sorted(
        f"Renamed {t}" for t in tags
    )
    assert len(list(emu.directory.of_kind("user"))) == n


def test_duplicate_upn_is_quarantined(connector: AadConnector, emulator: RunningEmulator) -> None:
    """Two synced users with one UPN: both export successfully, the second holds a placeholder UPN."""
    t = uid()
    upn = f"same{t}@contoso.com"
    results = _ok(
        connector.export(
            plan(
                {
                    "mv_id": f"q1{t}",
                    "type": "user",
                    "op": "add",
                    "attrs": user_attrs(f"q1{t}", userPrincipalName=upn),
                },
                {
                    "mv_id": f"q2{t}",
                    "type": "user",
                    "op": "add",
                    "attrs": user_attrs(f"q2{t}", userPrincipalName=upn),
                },
            )
        )
    )
    anchors = _by_mv(results)
    first = emulator.directory.get(anchors[f"q1{t}"])
    second = emulator.directory.get(anchors[f"q2{t}"])
    assert first.props["userPrincipalName"] == upn
    assert re.fullmatch(
        rf"same{t}\d{{4}}@forestsyncdemo\.onmicrosoft\.com", second.props["userPrincipalName"]
    )
    [error] = second.props["onPremisesProvisioningErrors"]
    assert (error["propertyCausingError"], error["value"]) == ("UserPrincipalName", upn)


def test_soft_match_on_upn_takes_over_a_cloud_user(
    connector: AadConnector, emulator: RunningEmulator
) -> None:
    """A new synced user whose UPN a cloud user holds is matched onto it and gets its immutable id."""
    t = uid()
    cloud = emulator.directory.create(
        "user",
        cloud_user(t),
    )
    results = _ok(
        connector.export(
            plan({"mv_id": t, "type": "user", "op": "add", "attrs": user_attrs(t, jobTitle="Engineer")})
        )
    )
    assert results["_anchor"][0] == cloud.id
    assert cloud.props["onPremisesImmutableId"] == f"imm-{t}"
    assert cloud.props["jobTitle"] == "Engineer"


@pytest.mark.parametrize(
    "overrides,expected",
    [
        ({"block_soft_match": True}, "AttributeValueMustBeUnique"),
        ({"soft_match_on_upn": False}, "AttributeValueMustBeUnique"),
    ],
)
def test_soft_match_switches(emulator: RunningEmulator, overrides: dict[str, bool], expected: str) -> None:
    """BlockSoftMatch (and SoftMatchOnUpn off) turn a UPN conflict into an export error."""
    t = uid()
    emulator.directory.create(
        "user",
        cloud_user(t),
    )
    conn = AadConnector(settings_for(emulator, **overrides))
    results = conn.export(plan({"mv_id": t, "type": "user", "op": "add", "attrs": user_attrs(t)}))
    assert results["status"].to_list() == ["error"]
    assert results["error_type"].to_list() == [expected]
    assert results["transient"].to_list() == [False]


def test_soft_match_never_onto_another_immutable_id(
    connector: AadConnector, emulator: RunningEmulator
) -> None:
    """A conflicting mail held by an object with another immutable id is InvalidSoftMatch."""
    t = uid()
    mail = f"m{t}@contoso.com"
    emulator.directory.seed("user", {**user_attrs(f"o{t}"), "mail": mail})
    results = connector.export(
        plan({"mv_id": t, "type": "user", "op": "add", "attrs": user_attrs(t, mail=mail)})
    )
    assert results["error_type"].to_list() == ["InvalidSoftMatch"]


def test_conflict_with_another_object_type(connector: AadConnector, emulator: RunningEmulator) -> None:
    """A user whose mail a group holds gets ObjectTypeMismatch."""
    t = uid()
    emulator.directory.seed(
        "group",
        {
            "displayName": "G",
            "mailNickname": f"g{t}",
            "mail": f"shared{t}@contoso.com",
            "mailEnabled": True,
            "securityEnabled": False,
            "groupTypes": ["Unified"],
        },
    )
    results = connector.export(
        plan({"mv_id": t, "type": "user", "op": "add", "attrs": user_attrs(t, mail=f"shared{t}@contoso.com")})
    )
    assert results["error_type"].to_list() == ["ObjectTypeMismatch"]


def test_hard_match_and_its_block(emulator: RunningEmulator) -> None:
    """An existing cloud-managed object with the same immutable id is taken over, unless blocked."""
    t = uid()
    existing = emulator.directory.seed(
        "user", {**user_attrs(t), "onPremisesSyncEnabled": False, "city": "Oslo"}
    )
    blocked = AadConnector(settings_for(emulator, block_cloud_object_takeover_through_hard_match=True))
    out = blocked.export(
        plan({"mv_id": t, "type": "user", "op": "add", "attrs": user_attrs(t, city="Bergen")})
    )
    assert out["error_type"].to_list() == ["InvalidHardMatch"]
    assert existing.props["city"] == "Oslo"
    allowed = AadConnector(settings_for(emulator))
    out = _ok(
        allowed.export(plan({"mv_id": t, "type": "user", "op": "add", "attrs": user_attrs(t, city="Bergen")}))
    )
    assert out["_anchor"].to_list() == [existing.id]
    assert existing.props["city"] == "Bergen"


def test_contacts_cannot_be_exported(connector: AadConnector, emulator: RunningEmulator) -> None:
    """Organizational contacts are read-only in Graph: a named export error, no request sent."""
    before = emulator.app.stats.requests
    out = connector.export(
        plan({"mv_id": uid(), "type": "contact", "op": "add", "attrs": {"displayName": "C"}})
    )
    assert out["error_type"].to_list() == ["UnsupportedObjectType"]
    assert emulator.app.stats.requests == before


def test_service_errors_map_to_export_error_types(connector: AadConnector) -> None:
    """Graph's 400s become named, terminal export errors."""
    t = uid()
    out = connector.export(
        plan(
            {
                "mv_id": f"r{t}",
                "type": "user",
                "op": "add",
                "attrs": user_attrs(f"r{t}", proxyAddresses=["SMTP:x@contoso.com"]),
            },
            {
                "mv_id": f"d{t}",
                "type": "user",
                "op": "add",
                "attrs": user_attrs(
                    f"d{t}", userPrincipalName=f"d{t}@nowhere.example", onPremisesImmutableId=None
                ),
            },
            {"mv_id": f"g{t}", "type": "group", "op": "add", "attrs": group_attrs(f"g{t}", mailEnabled=True)},
        )
    )
    assert out.sort("_mv_id")["error_type"].to_list() == [
        "IdentityDataValidationFailed",
        "UnsupportedGroupType",  # refused before any request: Graph creates security / M365 groups only
        "AttributeNotWritable",
    ]
    assert out["transient"].to_list() == [False, False, False]


def test_no_secret_reaches_the_logs(emulator: RunningEmulator, caplog: pytest.LogCaptureFixture) -> None:
    """Neither the client secret, a bearer token nor a generated password is logged, even at DEBUG."""
    caplog.set_level(logging.DEBUG)
    conn = AadConnector(settings_for(emulator))
    t = uid()
    conn.export(plan({"mv_id": t, "type": "user", "op": "add", "attrs": user_attrs(t)}))
    conn.full_import()
    text = caplog.text + repr(conn) + repr(conn.settings)
    assert emulator.client_secret not in text
    assert "emu." not in text
    assert "passwordProfile" not in text
    assert json.dumps(emulator.client_secret) not in text


def test_export_replayed_after_a_crash_creates_nothing_new(
    connector: AadConnector, emulator: RunningEmulator
) -> None:
    """Re-running a create plan (a crash before results were stored) hard-matches each object by its
    immutable id: same anchors, no duplicate, and no write since nothing differs."""
    t = uid()
    creates = plan(
        *(
            {"mv_id": f"c{i}{t}", "type": "user", "op": "add", "attrs": user_attrs(f"c{i}{t}")}
            for i in range(30)
        )
    )
    first = _ok(connector.export(creates))
    users_before = emulator.directory.count("user")
    writes_before = emulator.app.stats.writes
    again = _ok(connector.export(creates))
    assert _by_mv(again) == _by_mv(first)
    assert emulator.directory.count("user") == users_before
    assert emulator.app.stats.writes == writes_before
    assert connector.last_export_stats.hard_matches == 30


def test_certificate_credential_and_contact_import(emulator: RunningEmulator) -> None:
    """The connector authenticates with a client certificate and imports organizational contacts."""
    contact = emulator.directory.seed(
        "orgContact",
        {
            "displayName": "Partner",
            "mail": f"p{uid()}@fabrikam.com",
            "proxyAddresses": ["SMTP:p@fabrikam.com"],
        },
    )
    conn = AadConnector(
        settings_for(
            emulator,
            credential_kind="certificate",
            certificate_path=str(emulator.client_certificate_path),
            secret_ref=None,
            object_types=("contact",),
        )
    )
    [batch] = conn.full_import().batches
    row = batch.frame.filter(pl.col("_anchor") == contact.id).to_dicts()[0]
    assert row["_object_type"] == "contact"
    assert row["displayName"] == "Partner"
    assert row["proxyAddresses"] == ["SMTP:p@fabrikam.com"]


def test_connector_from_forestsync_yaml_config(emulator: RunningEmulator) -> None:
    """The ``aad`` connector of forestsync.yaml binds to the emulator: private authority, its CA, env secret."""
    from flows.config import AadConnectorConfig

    settings_for(emulator)  # puts the secret in the environment variable the reference names
    config = AadConnectorConfig(
        name="aad",
        kind="aad",
        tenant_id=emulator.tenant_id,
        client_id=emulator.client_id,
        client_secret=f"env:FS_TEST_AAD_SECRET_{emulator.port}",
        authority=emulator.authority,
        graph_url=emulator.base_url,
        ca_file=emulator.ca_cert_path,
        object_types=["device"],
        extension_app_id=emulator.client_id,
    )
    conn = AadConnector.from_config(config)
    assert conn.settings.disable_instance_discovery
    assert conn.settings.anchor_attributes["group"].startswith(
        "extension_" + emulator.client_id.replace("-", "")
    )
    result = conn.full_import()
    assert [b.object_type for b in result.batches] == ["device"]
    assert "device" in result.watermarks


def test_device_export_and_import(connector: AadConnector, emulator: RunningEmulator) -> None:
    """Graph v1.0 creates no device for an application: a create is a named error without a request (or
    the service's 403 for a credential that might be delegated); a registered device is updated and
    imported; its trustType is read-only."""
    device_id = str(uuid.uuid4())
    attrs = {
        "accountEnabled": True,
        "alternativeSecurityIds": [{"type": 2, "key": "dGVzdA=="}],
        "deviceId": device_id,
        "displayName": "WS-001",
        "operatingSystem": "Windows",
        "operatingSystemVersion": "10.0.22631",
    }
    device_plan = plan({"mv_id": f"dev{device_id}", "type": "device", "op": "add", "attrs": attrs})
    before = emulator.app.stats.requests
    out = connector.export(device_plan)
    assert (out["error_type"][0], out["transient"][0]) == ("UnsupportedObjectType", False)
    assert "delegated" in out["message"][0]
    assert emulator.app.stats.requests == before

    maybe_delegated = AadConnector(
        settings_for(emulator, credential_kind="default"),
        credential=build_credential(settings_for(emulator)),
    )
    out = maybe_delegated.export(device_plan)
    assert out["error_type"].to_list() == ["AccessDenied"]
    assert "Insufficient privileges" in out["message"][0] and "delegated" in out["message"][0]

    registered = emulator.directory.seed("device", {**attrs, "trustType": "ServerAd"})
    update = plan(
        {
            "mv_id": f"dev{device_id}",
            "anchor": registered.id,
            "type": "device",
            "op": "update",
            "attrs": {"displayName": ("WS-001", "WS-001-renamed"), "accountEnabled": (True, False)},
        }
    )
    _ok(connector.export(update))
    devices = next(b for b in connector.full_import().batches if b.object_type == "device").frame
    row = devices.filter(pl.col("_anchor") == registered.id).to_dicts()[0]
    assert (row["deviceId"], row["displayName"], row["accountEnabled"]) == (
        device_id,
        "WS-001-renamed",
        False,
    )
    trust = plan(
        {
            "mv_id": f"dev{device_id}",
            "anchor": registered.id,
            "type": "device",
            "op": "update",
            "attrs": {"trustType": ("ServerAd", "AzureAd")},
        }
    )
    assert connector.export(trust)["error_type"].to_list() == ["AttributeNotWritable"]


def test_a_placeholder_whose_object_was_not_created_is_left_out(
    connector: AadConnector, emulator: RunningEmulator
) -> None:
    """References to an object the same export could not create (a contact) are left out: the group and
    the user are created with the references that resolved; only the contact reports its error."""
    t = uid()
    results = connector.export(
        plan(
            {"mv_id": f"c{t}", "type": "contact", "op": "add", "attrs": {"displayName": f"Contact {t}"}},
            {"mv_id": f"b{t}", "type": "user", "op": "add", "attrs": user_attrs(f"b{t}")},
            {
                "mv_id": f"a{t}",
                "type": "user",
                "op": "add",
                "attrs": user_attrs(f"a{t}", manager={"_mv_id": f"c{t}"}),
            },
            {
                "mv_id": f"g{t}",
                "type": "group",
                "op": "add",
                "attrs": {**group_attrs(t), "members": [{"_mv_id": f"b{t}"}, {"_mv_id": f"c{t}"}]},
            },
        )
    )
    status = dict(zip(results["_mv_id"].to_list(), results["status"].to_list(), strict=True))
    assert status == {f"c{t}": "error", f"b{t}": "success", f"a{t}": "success", f"g{t}": "success"}
    anchors = _by_mv(results)
    assert set(emulator.directory.get(anchors[f"g{t}"]).members or {}) == {anchors[f"b{t}"]}
    assert anchors[f"a{t}"] not in emulator.directory.managers
