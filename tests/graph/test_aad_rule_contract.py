"""The attribute contract of the default outbound rules, honoured by the Entra connector against the emulator.

Rule destinations the connector translates for Graph v1.0: ``extension_<name>`` (directory extensions of
the schema app), ``onPremisesExtensionAttributes.extensionAttributeN`` (folded into the nested object),
``manager`` (a reference), ``alternativeSecurityIds`` (device certificates); and the objects Graph cannot
create come back as named errors without a request.
"""

from __future__ import annotations

import base64
import datetime
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import polars as pl
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID

from emulator.graph import FaultConfig, RunningEmulator
from emulator.graph.errors import GraphError as EmulatorGraphError
from flows.connectors.aad import AadConnector
from flows.connectors.aad_export import alternative_security_ids
from tests.graph.conftest import group_attrs, plan, settings_for, uid, user_attrs


def _result(out: pl.DataFrame) -> dict[str, dict[str, Any]]:
    return {r["_mv_id"]: r for r in out.iter_rows(named=True)}


def _ok(out: pl.DataFrame) -> pl.DataFrame:
    failed = out.filter(pl.col("status") != "success")
    assert failed.height == 0, failed.to_dicts()
    return out


def _ext(emu: RunningEmulator, name: str) -> str:
    return f"extension_{emu.client_id.replace('-', '')}_{name}"


def certificate_der(cn: str) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(Encoding.DER)


# ---- directory extensions ------------------------------------------------------------------------------


def test_extension_destinations_are_registered_once_written_under_the_app_and_imported_back(
    new_emulator: Callable[..., RunningEmulator],
) -> None:
    emu = new_emulator(seed=11)
    conn = AadConnector(settings_for(emu, extension_app_id=emu.client_id))
    t = uid()
    first = plan(
        {
            "mv_id": f"u{t}",
            "type": "user",
            "op": "add",
            "attrs": user_attrs(
                t,
                extension_onPremisesSamAccountName=f"sam{t}",
                extension_proxyAddresses=[f"SMTP:u{t}@corp.example.com", f"smtp:alias{t}@corp.example.com"],
            ),
        },
        {
            "mv_id": f"g{t}",
            "type": "group",
            "op": "add",
            "attrs": group_attrs(t, extension_forestsyncSourceAnchor=f"anchor-{t}"),
        },
    )
    out = _result(_ok(conn.export(first)))
    assert conn.last_export_stats.extensions_registered == 3
    registered = {e.name: e for e in emu.directory.extensions.values()}
    proxies = registered[_ext(emu, "proxyAddresses")]
    assert (proxies.data_type, proxies.is_multi_valued) == ("String", True)
    assert set(registered[_ext(emu, "forestsyncSourceAnchor")].target_objects) >= {"User", "Group", "Device"}
    assert registered[_ext(emu, "onPremisesSamAccountName")].is_multi_valued is False

    user = emu.directory.objects[out[f"u{t}"]["_anchor"]].props
    assert user[_ext(emu, "onPremisesSamAccountName")] == f"sam{t}"
    assert user[_ext(emu, "proxyAddresses")] == [
        f"SMTP:u{t}@corp.example.com",
        f"smtp:alias{t}@corp.example.com",
    ]
    assert not any(k.startswith("extension_") and k.count("_") == 1 for k in user)
    group = emu.directory.objects[out[f"g{t}"]["_anchor"]].props
    assert group[_ext(emu, "forestsyncSourceAnchor")] == f"anchor-{t}"

    # An update of the same extensions registers nothing more and patches the full name.
    again = plan(
        {
            "mv_id": f"u{t}",
            "anchor": out[f"u{t}"]["_anchor"],
            "type": "user",
            "op": "update",
            "attrs": {"extension_onPremisesSamAccountName": (f"sam{t}", f"new{t}")},
        }
    )
    _ok(conn.export(again))
    assert conn.last_export_stats.extensions_registered == 0
    assert len(emu.directory.extensions) == 3
    assert user is not None
    assert (
        emu.directory.objects[out[f"u{t}"]["_anchor"]].props[_ext(emu, "onPremisesSamAccountName")]
        == f"new{t}"
    )

    # Import exposes them under the rules' names, with their multi-valuedness.
    batches = {b.object_type: b.frame for b in conn.full_import().batches}
    users, groups = batches["user"], batches["group"]
    assert _ext(emu, "onPremisesSamAccountName") not in users.columns
    assert users.schema["extension_proxyAddresses"] == pl.List(pl.String())
    row = users.filter(pl.col("_anchor") == out[f"u{t}"]["_anchor"]).to_dicts()[0]
    assert row["extension_onPremisesSamAccountName"] == f"new{t}"
    assert row["extension_proxyAddresses"] == [
        f"SMTP:u{t}@corp.example.com",
        f"smtp:alias{t}@corp.example.com",
    ]
    grow = groups.filter(pl.col("_anchor") == out[f"g{t}"]["_anchor"]).to_dicts()[0]
    assert grow["extension_forestsyncSourceAnchor"] == f"anchor-{t}"


def test_lost_group_creates_are_recovered_through_the_anchor_extension(
    new_emulator: Callable[..., RunningEmulator],
) -> None:
    """Dropped responses and timeouts: each group create is verified by its anchor extension before it
    is repeated, so every group exists once; the extension registration survives the faults too."""
    emu = new_emulator(faults=FaultConfig.uniform(0.25, timeout_delay_s=1.2, seed=21))
    conn = AadConnector(settings_for(emu, extension_app_id=emu.client_id, timeout_s=0.8, max_attempts=40))
    tags = [f"a{i}" for i in range(60)]
    groups = [
        {
            "mv_id": t,
            "type": "group",
            "op": "add",
            "attrs": group_attrs(t, extension_forestsyncSourceAnchor=f"anchor-{t}"),
        }
        for t in tags
    ]
    _ok(conn.export(plan(*groups)))
    injected = dict(emu.app.faults.injected)
    assert injected.get("drop", 0) > 0 and injected.get("timeout", 0) > 0, injected
    anchors = sorted(g.props[_ext(emu, "forestsyncSourceAnchor")] for g in emu.directory.of_kind("group"))
    assert anchors == sorted(f"anchor-{t}" for t in tags)
    assert [e.name for e in emu.directory.extensions.values()] == [_ext(emu, "forestsyncSourceAnchor")]


def test_without_a_schema_app_extension_destinations_fail_by_name_and_send_nothing(
    connector: AadConnector, emulator: RunningEmulator
) -> None:
    t = uid()
    before = emulator.app.stats.requests
    out = _result(
        connector.export(
            plan(
                {
                    "mv_id": f"u{t}",
                    "type": "user",
                    "op": "add",
                    "attrs": user_attrs(t, extension_onPremisesSamAccountName="sam"),
                },
                {
                    "mv_id": f"g{t}",
                    "type": "group",
                    "op": "add",
                    "attrs": group_attrs(
                        t, extension_forestsyncSourceAnchor="a", extension_mail="g@x.example"
                    ),
                },
            )
        )
    )
    assert {k: (v["status"], v["error_type"]) for k, v in out.items()} == {
        f"u{t}": ("error", "ExtensionAppNotConfigured"),
        f"g{t}": ("error", "ExtensionAppNotConfigured"),
    }
    assert "extension_app_id" in out[f"g{t}"]["message"]
    assert "extension_mail" in out[f"g{t}"]["message"]
    assert emulator.app.stats.requests == before


def test_an_unknown_schema_app_is_a_named_error(emulator: RunningEmulator) -> None:
    conn = AadConnector(settings_for(emulator, extension_app_id=str(uuid.uuid4())))
    t = uid()
    out = conn.export(
        plan(
            {
                "mv_id": f"u{t}",
                "type": "user",
                "op": "add",
                "attrs": user_attrs(t, extension_mail="x@y.example"),
            },
            {"mv_id": f"v{t}", "type": "user", "op": "add", "attrs": user_attrs(f"v{t}")},
        )
    ).sort("_mv_id")
    assert out["error_type"].to_list() == ["ExtensionAppNotFound", None]


def test_emulator_refuses_an_extension_the_app_has_not_registered(graph_http: httpx.Client) -> None:
    body = {
        "accountEnabled": True,
        "displayName": "x",
        "mailNickname": f"x{uid()}",
        "userPrincipalName": f"x{uid()}@forestsyncdemo.onmicrosoft.com",
        "passwordProfile": {"password": "Str0ng!Passw0rd"},
        f"extension_{'0' * 32}_notRegistered": "v",
    }
    resp = graph_http.post("users", json=body)
    assert resp.status_code == 400
    assert "does not exist as a declared property or extension property" in resp.json()["error"]["message"]


# ---- onPremisesExtensionAttributes -----------------------------------------------------------------


def test_extension_attributes_fold_into_the_nested_object_and_unfold_on_import(
    connector: AadConnector, emulator: RunningEmulator
) -> None:
    t = uid()
    prefix = "onPremisesExtensionAttributes."
    created = _ok(
        connector.export(
            plan(
                {
                    "mv_id": f"u{t}",
                    "type": "user",
                    "op": "add",
                    "attrs": user_attrs(
                        t,
                        **{
                            f"{prefix}extensionAttribute1": "one",
                            f"{prefix}extensionAttribute2": "two",
                            f"{prefix}extensionAttribute3": None,
                        },
                    ),
                }
            )
        )
    )
    anchor = created["_anchor"][0]
    props = emulator.directory.objects[anchor].props
    assert props["onPremisesExtensionAttributes"] == {
        "extensionAttribute1": "one",
        "extensionAttribute2": "two",
    }
    assert not any(k.startswith(prefix) for k in props)

    _ok(
        connector.export(
            plan(
                {
                    "mv_id": f"u{t}",
                    "anchor": anchor,
                    "type": "user",
                    "op": "update",
                    "attrs": {
                        f"{prefix}extensionAttribute1": ("one", None),  # cleared
                        f"{prefix}extensionAttribute2": ("two", "two"),  # unchanged: not sent
                        f"{prefix}extensionAttribute15": (None, "fifteen"),
                    },
                }
            )
        )
    )
    props = emulator.directory.objects[anchor].props
    assert props["onPremisesExtensionAttributes"] == {
        "extensionAttribute2": "two",
        "extensionAttribute15": "fifteen",
    }
    users = next(b.frame for b in connector.full_import().batches if b.object_type == "user")
    row = users.filter(pl.col("_anchor") == anchor).to_dicts()[0]
    assert (row[f"{prefix}extensionAttribute1"], row[f"{prefix}extensionAttribute2"]) == (None, "two")
    assert row[f"{prefix}extensionAttribute15"] == "fifteen"
    assert "onPremisesExtensionAttributes" not in users.columns


def test_emulator_refuses_flat_or_unknown_extension_attribute_names(graph_http: httpx.Client) -> None:
    resp = graph_http.post(
        "users",
        json={
            "accountEnabled": True,
            "displayName": "x",
            "mailNickname": f"x{uid()}",
            "userPrincipalName": f"x{uid()}@forestsyncdemo.onmicrosoft.com",
            "passwordProfile": {"password": "Str0ng!Passw0rd"},
            "onPremisesExtensionAttributes.extensionAttribute1": "flat",
        },
    )
    assert resp.status_code == 400
    resp = graph_http.post(
        "users",
        json={
            "accountEnabled": True,
            "displayName": "x",
            "mailNickname": f"x{uid()}",
            "userPrincipalName": f"x{uid()}@forestsyncdemo.onmicrosoft.com",
            "passwordProfile": {"password": "Str0ng!Passw0rd"},
            "onPremisesExtensionAttributes": {"extensionAttribute16": "no such key"},
        },
    )
    assert resp.status_code == 400


# ---- groups Graph cannot create --------------------------------------------------------------------


def test_mail_enabled_groups_are_a_named_error_without_a_request(
    connector: AadConnector, emulator: RunningEmulator
) -> None:
    t = uid()
    before = emulator.app.stats.requests
    out = _result(
        connector.export(
            plan(
                {
                    "mv_id": f"dl{t}",
                    "type": "group",
                    "op": "add",
                    "attrs": group_attrs(f"dl{t}", mailEnabled=True, securityEnabled=False),
                },
                {
                    "mv_id": f"ms{t}",
                    "type": "group",
                    "op": "add",
                    "attrs": group_attrs(f"ms{t}", mailEnabled=True),
                },
                {
                    "mv_id": f"no{t}",
                    "type": "group",
                    "op": "add",
                    "attrs": group_attrs(f"no{t}", securityEnabled=False),
                },
                {
                    "mv_id": f"c{t}",
                    "type": "contact",
                    "op": "add",
                    "attrs": {"displayName": "Partner", "mail": "p@x.example"},
                },
            )
        )
    )
    assert {k: v["error_type"] for k, v in out.items()} == {
        f"dl{t}": "UnsupportedGroupType",
        f"ms{t}": "UnsupportedGroupType",
        f"no{t}": "UnsupportedGroupType",
        f"c{t}": "UnsupportedObjectType",
    }
    assert "can only create security groups and Microsoft 365 groups" in out[f"dl{t}"]["message"]
    assert all(v["transient"] is False for v in out.values())
    assert emulator.app.stats.requests == before


def test_a_security_group_turned_mail_enabled_is_a_named_error(connector: AadConnector) -> None:
    t = uid()
    created = _ok(
        connector.export(plan({"mv_id": f"g{t}", "type": "group", "op": "add", "attrs": group_attrs(t)}))
    )
    out = connector.export(
        plan(
            {
                "mv_id": f"g{t}",
                "anchor": created["_anchor"][0],
                "type": "group",
                "op": "update",
                "attrs": {"mailEnabled": (False, True)},
            }
        )
    )
    assert out["error_type"].to_list() == ["UnsupportedGroupType"]


# ---- manager -------------------------------------------------------------------------------------


def test_manager_is_set_as_a_reference_and_cleared_with_null(
    connector: AadConnector, emulator: RunningEmulator, graph_http: httpx.Client
) -> None:
    t = uid()
    out = _result(
        _ok(
            connector.export(
                plan(
                    {"mv_id": f"boss{t}", "type": "user", "op": "add", "attrs": user_attrs(f"boss{t}")},
                    {
                        "mv_id": f"emp{t}",
                        "type": "user",
                        "op": "add",
                        "attrs": user_attrs(f"emp{t}", manager={"_mv_id": f"boss{t}"}),
                    },
                )
            )
        )
    )
    boss, emp = out[f"boss{t}"]["_anchor"], out[f"emp{t}"]["_anchor"]
    resp = graph_http.get(f"users/{emp}/manager")
    assert resp.status_code == 200 and resp.json()["id"] == boss
    assert "manager" not in emulator.directory.objects[emp].props

    # Graph refuses manager as a property: only the $ref sets it.
    assert graph_http.patch(f"users/{emp}", json={"manager": boss}).status_code == 400

    _ok(
        connector.export(
            plan(
                {
                    "mv_id": f"emp{t}",
                    "anchor": emp,
                    "type": "user",
                    "op": "update",
                    "attrs": {"manager": (boss, None)},
                }
            )
        )
    )
    assert graph_http.get(f"users/{emp}/manager").status_code == 404
    # Clearing again (already cleared) is not an error.
    _ok(
        connector.export(
            plan(
                {
                    "mv_id": f"emp{t}",
                    "anchor": emp,
                    "type": "user",
                    "op": "update",
                    "attrs": {"manager": (boss, None)},
                }
            )
        )
    )


# ---- device certificates -------------------------------------------------------------------------


def test_device_certificates_become_graph_alternative_security_ids(
    connector: AadConnector, emulator: RunningEmulator
) -> None:
    der = certificate_der("PC-01")
    [alt] = alternative_security_ids([{"base64": base64.b64encode(der).decode()}])
    assert (alt["type"], alt["identityProvider"]) == (2, None)
    cert = x509.load_der_x509_certificate(der)
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    digest = hashes.Hash(hashes.SHA256())
    digest.update(spki)
    expected = (
        "X509:<SHA1-TP-PUBKEY>"
        + cert.fingerprint(hashes.SHA1()).hex().upper()
        + base64.b64encode(digest.finalize()).decode()
    )
    assert base64.b64decode(alt["key"]).decode("utf-16-le") == expected
    # The converted value is what the (emulated) service accepts; the rules' raw shape is refused.
    attrs = {
        "accountEnabled": True,
        "deviceId": str(uuid.uuid4()),
        "displayName": "PC-01",
        "operatingSystem": "Windows",
        "operatingSystemVersion": "10.0",
    }
    existing = emulator.directory.create("device", {**attrs, "alternativeSecurityIds": [alt]})
    with pytest.raises(EmulatorGraphError) as refused:
        emulator.directory.create(
            "device",
            {**attrs, "deviceId": str(uuid.uuid4()), "alternativeSecurityIds": [{"base64": "MAo="}]},
        )
    assert refused.value.status == 400

    # Something that is not a certificate is a named error, before anything is sent (an update: an
    # application cannot create devices at all, whatever their values).
    bad = {"alternativeSecurityIds": [{"base64": "bm90IGEgY2VydA=="}]}
    before = emulator.app.stats.requests
    failed = connector.export(
        plan({"mv_id": "bad", "anchor": existing.id, "type": "device", "op": "update", "attrs": bad})
    )
    assert failed["error_type"].to_list() == ["InvalidAttributeValue"]
    added = connector.export(plan({"mv_id": "new", "type": "device", "op": "add", "attrs": {**attrs, **bad}}))
    assert added["error_type"].to_list() == ["UnsupportedObjectType"]
    assert emulator.app.stats.requests == before


# ---- configuration -------------------------------------------------------------------------------


def test_extension_names_from_the_configuration() -> None:
    from flows.config import AadConnectorConfig
    from flows.connectors.aad_settings import AadSettings

    other = "extension_" + "ab" * 16 + "_sourceAnchor"
    config = AadConnectorConfig(
        name="aad",
        kind="aad",
        tenant_id="t",
        client_id="c",
        client_secret="env:X",
        extension_app_id="0bd8a4ad-6f0b-4b49-9bb0-0dbe5fd1bc52",
        extension_names={"forestsyncSourceAnchor": other},
    )
    settings = AadSettings.from_config(config)
    assert settings.anchor_attribute("group") == other
    assert settings.extension_full_name("forestsyncSourceAnchor") == other
    assert settings.extension_full_name("mail") == "extension_0bd8a4ad6f0b4b499bb00dbe5fd1bc52_mail"
    bare = AadSettings.from_config(
        config.model_copy(update={"extension_app_id": None, "extension_names": None})
    )
    assert bare.extension_full_name("mail") is None
    assert bare.anchor_attribute("group") is None


def test_a_delta_import_carries_changed_extension_values_under_their_short_names(
    new_emulator: Callable[..., RunningEmulator],
) -> None:
    emu = new_emulator(seed=13)
    conn = AadConnector(settings_for(emu, extension_app_id=emu.client_id, object_types=("user",)))
    t = uid()
    out = _ok(
        conn.export(
            plan(
                {
                    "mv_id": t,
                    "type": "user",
                    "op": "add",
                    "attrs": user_attrs(t, extension_onPremisesDomainName="a.example"),
                }
            )
        )
    )
    marks = conn.full_import().watermarks
    _ok(
        conn.export(
            plan(
                {
                    "mv_id": t,
                    "anchor": out["_anchor"][0],
                    "type": "user",
                    "op": "update",
                    "attrs": {"extension_onPremisesDomainName": ("a.example", "b.example")},
                }
            )
        )
    )
    [batch] = conn.delta_import(marks).batches
    assert batch.partial
    assert batch.frame.filter(pl.col("_anchor") == out["_anchor"][0])[
        "extension_onPremisesDomainName"
    ].to_list() == ["b.example"]


def test_emulator_refuses_turning_a_security_group_mail_enabled(graph_http: httpx.Client) -> None:
    t = uid()
    created = graph_http.post(
        "groups", json={"displayName": t, "mailNickname": t, "mailEnabled": False, "securityEnabled": True}
    )
    assert created.status_code == 201
    resp = graph_http.patch(f"groups/{created.json()['id']}", json={"mailEnabled": True})
    assert resp.status_code == 400
    assert "security groups and Microsoft 365 groups" in resp.json()["error"]["message"]


def test_emulator_refuses_more_than_one_business_phone(graph_http: httpx.Client) -> None:
    t = uid()
    body = {
        "accountEnabled": True,
        "displayName": t,
        "mailNickname": t,
        "userPrincipalName": f"{t}@contoso.com",
        "passwordProfile": {"password": "Str0ng!Passw0rd"},
        "businessPhones": ["+1 555 0100", "+1 555 0101"],
    }
    assert graph_http.post("users", json=body).status_code == 400
    assert graph_http.post("users", json={**body, "businessPhones": ["+1 555 0100"]}).status_code == 201
