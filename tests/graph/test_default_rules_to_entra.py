"""End to end: a tiny forest through the real engine and the default rules, exported to the emulated tenant.

Cycle 1 provisions what Graph can create (users, security groups, a device) with their references
(members, manager: placeholders the connector resolves to the ids it just created) and answers the rest
(a contact, a distribution group, a mail-enabled security group) with named errors; cycle 2 has no
reference left to export; cycle 3 imports the tenant and joins every created object back to its
metaverse object, with nothing left to export for them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from emulator.graph import RunningEmulator
from flows.connectors.aad import AadConnector
from flows.rulesets import load_rule_set
from tests.default_rules.world import (
    GROUP_UNIVERSAL_DISTRIBUTION,
    GROUP_UNIVERSAL_SECURITY,
    Forest,
    frame,
    sid_string,
)
from tests.graph.conftest import settings_for
from tests.graph.test_aad_rule_contract import certificate_der
from transforms.rules import SyncRule
from transforms.schema import MV_ID, PENDING_EXPORT_SCHEMA
from transforms.sync.engine import run_sync
from transforms.sync.exports import apply_export_results, record_exports
from transforms.sync.staging import stage_full_import
from transforms.sync.state import SyncResult, SyncState

RULES = Path(__file__).resolve().parents[2] / "rules"
CORP = Forest("corp", "contoso.com")
AAD = "aad"


@functools.cache
def _rules() -> tuple[SyncRule, ...]:
    return load_rule_set([RULES], {"user_matching": "objects-once"})


def _sync(state: SyncState, forest: dict[str, list[dict[str, Any]]]) -> SyncResult:
    spaces = {t: frame(rows) for t, rows in forest.items()}
    state = replace(state, connector_spaces={**state.connector_spaces, CORP.name: spaces})
    return run_sync(
        state,
        _rules(),
        connectors={CORP.name: "ad", AAD: "aad"},
        params_by_connector={CORP.name: CORP.params()},
    )


def _export(conn: AadConnector, result: SyncResult) -> tuple[SyncState, pl.DataFrame]:
    """Export the Entra pending exports and record the outcome as the export stage does."""
    pending = result.pending_exports.filter(pl.col("connector") == AAD).select(list(PENDING_EXPORT_SCHEMA))
    results = conn.export(pending)
    ok = results.filter(pl.col("status") == "success").select("connector", MV_ID)
    exported = pending.join(ok, on=["connector", MV_ID], how="semi", nulls_equal=True)
    return apply_export_results(record_exports(result.state, exported), results), results


@pytest.fixture
def tenant(new_emulator: Callable[..., RunningEmulator]) -> RunningEmulator:
    return new_emulator(seed=5)


def test_default_rules_provision_the_tenant(tenant: RunningEmulator) -> None:
    der = certificate_der("PC-01")
    boss = CORP.user(
        "Boss",
        1100,
        userPrincipalName="boss@contoso.com",
        displayName="Big Boss",
        givenName="Big",
        sn="Boss",
        title="CEO",
        telephoneNumber="+1 555 0100",
        mail="boss@contoso.com",
        proxyAddresses=["SMTP:boss@contoso.com", "smtp:ceo@contoso.com"],
        extensionAttribute3="cost-center-7",
    )
    alice = CORP.user("Alice", 1101, userPrincipalName="alice@contoso.com", manager=boss["_dn"], l="Oslo")
    carl = CORP.user("Carl", 1102, userPrincipalName="carl@contoso.com", userAccountControl=514)
    team = CORP.group("Team", 1201, member=[alice["_dn"], boss["_dn"]], description=["The team"])
    outer = CORP.group("All Staff", 1202, member=[team["_dn"], carl["_dn"]])
    announce = CORP.group(
        "Announce",
        1203,
        groupType=GROUP_UNIVERSAL_DISTRIBUTION,
        mail="announce@contoso.com",
        proxyAddresses=["SMTP:announce@contoso.com"],
        member=[alice["_dn"]],
    )
    mail_security = CORP.group(
        "Mail Sec",
        1204,
        groupType=GROUP_UNIVERSAL_SECURITY,
        mail="mailsec@contoso.com",
        proxyAddresses=["SMTP:mailsec@contoso.com"],
    )
    partner = CORP.contact(
        "Partner",
        mail="p@fabrikam.example",
        proxyAddresses=["SMTP:p@fabrikam.example"],
        displayName="Partner",
    )
    pc = CORP.computer(
        "PC-01", 1301, userCertificate=[der], operatingSystem="Windows", operatingSystemVersion="10.0 (22631)"
    )
    forest = {
        "user": [boss, alice, carl],
        "group": [team, outer, announce, mail_security],
        "contact": [partner],
        "computer": [pc],
    }
    conn = AadConnector(settings_for(tenant, extension_app_id=tenant.client_id))
    ext = f"extension_{tenant.client_id.replace('-', '')}_"

    # ---- cycle 1: provisioning ----------------------------------------------------------------------
    first = _sync(SyncState(), forest)
    assert first.errors.height == 0, first.errors.to_dicts()
    state, results = _export(conn, first)
    by_mv = {r[MV_ID]: r for r in results.iter_rows(named=True)}
    mv = {cn: f"corp|{obj['_anchor']}" for cn, obj in
          [("Boss", boss), ("Alice", alice), ("Carl", carl), ("Team", team), ("All Staff", outer),
           ("Announce", announce), ("Mail Sec", mail_security), ("Partner", partner)]}  # fmt: skip
    outcome = {cn: (by_mv[m]["status"], by_mv[m]["error_type"]) for cn, m in mv.items()}
    assert outcome == {
        "Boss": ("success", None),
        "Alice": ("success", None),
        "Carl": ("success", None),
        "Team": ("success", None),
        "All Staff": ("success", None),
        "Announce": ("error", "UnsupportedGroupType"),
        "Mail Sec": ("error", "UnsupportedGroupType"),
        "Partner": ("error", "UnsupportedObjectType"),
    }
    # Graph v1.0 creates no device for an application: the computer's device is a named error too.
    [device_result] = results.filter(~pl.col(MV_ID).is_in(list(mv.values()))).to_dicts()
    assert device_result["error_type"] == "UnsupportedObjectType"
    assert results.filter(pl.col("status") == "success").height == 5
    directory = tenant.directory

    def props(cn: str) -> dict[str, Any]:
        return directory.objects[by_mv[mv[cn]]["_anchor"]].props

    b = props("Boss")
    assert {
        k: b.get(k) for k in ("displayName", "givenName", "surname", "jobTitle", "mail", "accountEnabled")
    } == {
        "displayName": "Big Boss",
        "givenName": "Big",
        "surname": "Boss",
        "jobTitle": "CEO",
        "mail": "boss@contoso.com",
        "accountEnabled": True,
    }
    assert b["userPrincipalName"] == "boss@contoso.com"
    assert b["onPremisesImmutableId"] == boss["_anchor"]
    assert b["businessPhones"] == ["+1 555 0100"]
    assert b["onPremisesExtensionAttributes"] == {"extensionAttribute3": "cost-center-7"}
    assert b[ext + "proxyAddresses"] == ["SMTP:boss@contoso.com", "smtp:ceo@contoso.com"]
    assert b[ext + "onPremisesSamAccountName"] == "boss"
    assert b[ext + "onPremisesSecurityIdentifier"] == sid_string(1, 1100)
    assert b[ext + "onPremisesDistinguishedName"] == boss["_dn"]
    assert b[ext + "onPremisesDomainName"] == "contoso.com"
    assert b[ext + "onPremisesUserPrincipalName"] == "boss@contoso.com"
    assert props("Alice")["city"] == "Oslo"
    assert props("Carl")["accountEnabled"] is False
    t = props("Team")
    assert (t["securityEnabled"], t["mailEnabled"], t["description"]) == (True, False, "The team")
    assert t[ext + "forestsyncSourceAnchor"] == team["_anchor"]
    assert t[ext + "onPremisesSamAccountName"] == "Team"
    assert props("All Staff")["mailNickname"] == "All_Staff"
    assert directory.count("device") == 0
    proxies = next(e for e in directory.extensions.values() if e.name == ext + "proxyAddresses")
    assert proxies.is_multi_valued
    # Registered: what the exported objects use (extension_mail only comes with the mail-enabled groups).
    assert sorted(directory.extensions) == sorted(
        ext + n
        for n in (
            "forestsyncSourceAnchor",
            "onPremisesDistinguishedName",
            "onPremisesDomainName",
            "onPremisesSamAccountName",
            "onPremisesSecurityIdentifier",
            "onPremisesUserPrincipalName",
            "proxyAddresses",
        )
    )
    assert directory.count("user") == 3 and directory.count("group") == 2
    # The references to objects created by the same export are there after the first cycle.
    anchor = {cn: by_mv[m]["_anchor"] for cn, m in mv.items()}
    assert directory.managers == {anchor["Alice"]: anchor["Boss"]}
    assert set(directory.objects[anchor["Team"]].members or {}) == {anchor["Alice"], anchor["Boss"]}
    assert set(directory.objects[anchor["All Staff"]].members or {}) == {anchor["Team"], anchor["Carl"]}

    # ---- cycle 2: no reference left to export; only the named failures are retried ------------------
    second = _sync(state, forest)
    pending = second.pending_exports.filter(pl.col("connector") == AAD)
    assert pending.filter(pl.col("op") == "update").height == 0
    state, results = _export(conn, second)
    assert directory.managers == {anchor["Alice"]: anchor["Boss"]}
    # The objects Graph cannot create keep failing by name; they are never dropped.
    still = {
        r[MV_ID]: r["error_type"] for r in results.filter(pl.col("status") == "error").iter_rows(named=True)
    }
    assert still == {
        mv["Announce"]: "UnsupportedGroupType",
        mv["Mail Sec"]: "UnsupportedGroupType",
        mv["Partner"]: "UnsupportedObjectType",
        device_result[MV_ID]: "UnsupportedObjectType",
    }

    # ---- cycle 3: import the tenant; everything joins back, nothing left to export ----------------
    imported = conn.full_import()
    spaces = {b.object_type: stage_full_import(None, b.frame).frame for b in imported.batches}
    assert "extension_forestsyncSourceAnchor" in spaces["group"].columns
    assert "onPremisesExtensionAttributes.extensionAttribute3" in spaces["user"].columns
    third = _sync(replace(state, connector_spaces={**state.connector_spaces, AAD: spaces}), forest)
    assert third.errors.height == 0, third.errors.to_dicts()
    groups = {g["cn"]: g for g in third.state.metaverse["group"].to_dicts()}
    assert (groups["Team"]["cloudAnchor"], groups["Team"]["cloudSourceAnchor"]) == (
        anchor["Team"],
        team["_anchor"],
    )
    people = {p["cn"]: p for p in third.state.metaverse["person"].to_dicts()}
    assert people["Boss"]["cloudAnchor"] == anchor["Boss"]
    assert people["Boss"]["cloudMastered"] is False
    left = third.pending_exports.filter(pl.col("connector") == AAD)
    assert sorted(set(left[MV_ID].to_list())) == sorted(
        [mv["Announce"], mv["Mail Sec"], mv["Partner"], device_result[MV_ID]]
    )
