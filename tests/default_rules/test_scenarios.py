"""Scenarios of a fresh install: small literal forests through the real engine and the default rules.

Each test states a forest, runs a full sync and reads the metaverse and the pending exports to Entra ID
(Graph property names, JSON values) that result.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from tests.default_rules.world import (
    DISABLED,
    GROUP_UNIVERSAL_DISTRIBUTION,
    GROUP_UNIVERSAL_SECURITY,
    Forest,
    b64,
    guid,
    sid,
    sid_string,
    sync,
)

CORP = Forest("corp", "corp.example.com", 1)
PARTNER = Forest("partner", "partner.example.net", 2)
ACCOUNTS = Forest("accounts", "accounts.example.com", 3)
RESOURCES = Forest("resources", "resources.example.com", 4)


def test_system_and_service_objects_are_filtered() -> None:
    """cloudFiltered (spec 5.1) keeps service accounts, system mailboxes and role groups out of Entra ID."""
    alice = CORP.user("Alice", 1101, userPrincipalName="alice@corp.example.com")
    filtered = [
        CORP.user("Support", 1001, sAMAccountName="SUPPORT_388945a0"),
        CORP.user("Msol", 1002, sAMAccountName="MSOL_0a1b2c3d4e5f"),
        CORP.user("AadSync", 1003, sAMAccountName="AAD_0a1b2c3d4e5f"),
        CORP.user("SysMbx", 1004, mailNickname="SystemMailbox{1f05a927-5e5b-4b8d-a4b5-4b6e58e5e2a1}"),
        CORP.user("Cas", 1005, sAMAccountName="CAS_{8a7e9f0b}"),
        CORP.user("Discovery", 1006, msExchRecipientTypeDetails=536870912, mailNickname="DiscoverySearch"),
    ]
    krbtgt = CORP.user("krbtgt", 502, isCriticalSystemObject=True)
    admins = CORP.group("Domain Admins", 512, isCriticalSystemObject=True)
    role = CORP.group("Organization Management", 1201, msExchRecipientTypeDetails=1073741824)
    no_cert = CORP.computer("PC-OLD", 1301, operatingSystem="Windows 7")

    world = sync({CORP: {"user": [alice, *filtered, krbtgt], "group": [admins, role], "computer": [no_cert]}})

    for user in filtered:
        assert world.person(user["_anchor"], "corp")["cloudFiltered"] is True, user["cn"]
    assert world.person(alice["_anchor"], "corp")["cloudFiltered"] is None
    assert world.mv("group")["cn"].to_list() == ["Organization Management"]
    assert world.mv("group")["cloudFiltered"].to_list() == [True]
    assert world.mv("device")["cloudFiltered"].to_list() == [True]
    # Out of the join rule's scope: never projected at all.
    assert world.state.links.filter(world.state.links["_anchor"] == krbtgt["_anchor"]).height == 0
    exported = world.exports()
    assert exported["_mv_id"].unique().to_list() == [f"corp|{alice['_anchor']}"]
    assert exported["op"].unique().to_list() == ["add"]


def test_replication_conflict_objects_are_filtered() -> None:
    """A CNF object (DN with the escaped newline and CNF: marker) is cloudFiltered."""
    dup = CORP.user("Dave", 1107)
    dup["_dn"] = "CN=Dave\\0ACNF:0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0,OU=Users,DC=corp,DC=example,DC=com"

    world = sync({CORP: {"user": [dup]}})

    assert world.person(dup["_anchor"], "corp")["cloudFiltered"] is True
    assert world.exports().height == 0


def test_a_disabled_user_is_synced_with_account_enabled_false() -> None:
    bob = CORP.user("Bob", 1102, userAccountControl=DISABLED, userPrincipalName="bob@corp.example.com")

    world = sync({CORP: {"user": [bob]}})

    person = world.person(bob["_anchor"], "corp")
    assert (person["accountEnabled"], person["userPrincipalName"], person["sourceAnchor"]) == (
        False,
        "bob@corp.example.com",
        bob["_anchor"],
    )
    # The AccountEnabled rule (enabled accounts only) did not contribute.
    assert person["contributingConnectorUser"] is None
    assert world.exported(person["_mv_id"]) == {
        "__op": ["add"],
        "accountEnabled": False,
        "displayName": "Bob",
        "extension_onPremisesDistinguishedName": "CN=Bob,OU=Users,DC=corp,DC=example,DC=com",
        "extension_onPremisesDomainName": "corp.example.com",
        "extension_onPremisesSamAccountName": "bob",
        "extension_onPremisesSecurityIdentifier": sid_string(1, 1102),
        "extension_onPremisesUserPrincipalName": "bob@corp.example.com",
        "mailNickname": "bob",
        "onPremisesImmutableId": bob["_anchor"],
        "userPrincipalName": "bob@corp.example.com",
    }


def test_a_missing_upn_is_built_from_samaccountname_and_the_domain_fqdn() -> None:
    carol = CORP.user("Carol", 1103, sAMAccountName="carol.w", givenName="Carol", sn="White")

    world = sync({CORP: {"user": [carol]}})

    person = world.person(carol["_anchor"], "corp")
    assert person["userPrincipalName"] == "carol.w@corp.example.com"
    exported = world.exported(person["_mv_id"])
    assert exported["userPrincipalName"] == "carol.w@corp.example.com"
    assert (exported["givenName"], exported["surname"], exported["mailNickname"]) == (
        "Carol",
        "White",
        "carol.w",
    )


def test_ms_ds_consistencyguid_is_preferred_over_objectguid() -> None:
    consistency = guid("migrated", "erin")
    erin = CORP.user("Erin", 1104, **{"mS-DS-ConsistencyGuid": consistency})
    frank = CORP.user("Frank", 1105)

    world = sync({CORP: {"user": [erin, frank]}})

    erin_mv = world.person(erin["_anchor"], "corp")
    frank_mv = world.person(frank["_anchor"], "corp")
    assert (erin_mv["sourceAnchor"], erin_mv["sourceAnchorBinary"]) == (b64(consistency), consistency)
    assert (frank_mv["sourceAnchor"], frank_mv["sourceAnchorBinary"]) == (
        frank["_anchor"],
        CORP.guid("Frank"),
    )
    assert world.exported(erin_mv["_mv_id"])["onPremisesImmutableId"] == b64(consistency)
    assert world.exported(frank_mv["_mv_id"])["onPremisesImmutableId"] == frank["_anchor"]


def test_a_user_moved_between_forests_keeps_its_identity_through_ms_ds_consistencyguid() -> None:
    """The new forest's account carries the old objectGUID in mS-DS-ConsistencyGuid and joins (group 1)."""
    old = CORP.user("Gina", 1106, userAccountControl=DISABLED)
    new = PARTNER.user(
        "Gina",
        2106,
        **{"mS-DS-ConsistencyGuid": CORP.guid("Gina"), "userPrincipalName": "gina@partner.example.net"},
    )

    world = sync({CORP: {"user": [old]}, PARTNER: {"user": [new]}})

    person = world.person(new["_anchor"], "partner")
    assert person["_mv_id"] == world.person(old["_anchor"], "corp")["_mv_id"]
    assert (person["sourceAnchor"], person["userPrincipalName"], person["accountEnabled"]) == (
        old["_anchor"],
        "gina@partner.example.net",
        True,
    )
    assert world.exports()["_mv_id"].unique().to_list() == [person["_mv_id"]]


def test_nested_security_and_mail_enabled_groups() -> None:
    alice = CORP.user("Alice", 1101)
    bob = CORP.user("Bob", 1102)
    inner = CORP.group("Inner", 1201, sAMAccountName="Inner Circle (EU)", member=[alice["_dn"]])
    outer = CORP.group("Outer", 1202, member=[inner["_dn"], bob["_dn"]], description=["All staff"])
    mail_security = CORP.group(
        "Mail Sec",
        1203,
        groupType=GROUP_UNIVERSAL_SECURITY,
        mail="mailsec@corp.example.com",
        mailNickname="MailSec",
        proxyAddresses=["SMTP:mailsec@corp.example.com", "smtp:ms@corp.example.com"],
        member=[outer["_dn"]],
    )
    distribution = CORP.group(
        "Announce",
        1204,
        groupType=GROUP_UNIVERSAL_DISTRIBUTION,
        mail="announce@corp.example.com",
        proxyAddresses=["SMTP:announce@corp.example.com"],
        member=[mail_security["_dn"]],
    )
    not_mail_enabled = CORP.group("Old List", 1205, groupType=GROUP_UNIVERSAL_DISTRIBUTION)
    x500_only = CORP.group(
        "X500 List",
        1206,
        groupType=GROUP_UNIVERSAL_DISTRIBUTION,
        mail="x@corp.example.com",
        proxyAddresses=["X500:/o=Corp/cn=x"],
    )
    secondary_only = CORP.group(
        "Secondary",
        1207,
        groupType=GROUP_UNIVERSAL_DISTRIBUTION,
        proxyAddresses=["smtp:secondary@corp.example.com"],
    )
    forest = {
        CORP: {
            "user": [alice, bob],
            "group": [inner, outer, mail_security, distribution, not_mail_enabled, x500_only, secondary_only],
        }
    }

    world = sync(forest)

    groups = {g["cn"]: g for g in world.mv("group").to_dicts()}
    summary = {
        cn: (g["securityEnabled"], g["mailEnabled"], g["cloudFiltered"], g["memberCount"])
        for cn, g in groups.items()
    }
    assert summary == {
        "Inner": (True, False, None, 1),
        "Outer": (True, False, None, 2),
        "Mail Sec": (True, True, None, 1),
        "Announce": (False, True, None, 1),
        "Old List": (False, False, True, 0),
        "X500 List": (False, False, True, 0),
        "Secondary": (False, True, None, 0),
    }
    assert sorted(groups["Outer"]["member"]) == sorted([f"corp|{inner['_anchor']}", f"corp|{bob['_anchor']}"])
    # Graph cannot create distribution or mail-enabled security groups: they stay pending exports (the
    # Entra connector answers with a named error) instead of being dropped.
    announce = world.exported(f"corp|{distribution['_anchor']}")
    assert {
        k: announce[k] for k in ("__op", "mailEnabled", "securityEnabled", "mailNickname", "extension_mail")
    } == {
        "__op": ["add"],
        "mailEnabled": True,
        "securityEnabled": False,
        "mailNickname": "Announce",
        "extension_mail": "announce@corp.example.com",
    }
    mail_sec = world.exported(f"corp|{mail_security['_anchor']}")
    assert (mail_sec["mailEnabled"], mail_sec["securityEnabled"], mail_sec["mailNickname"]) == (
        True,
        True,
        "MailSec",
    )
    assert mail_sec["extension_proxyAddresses"] == [
        "SMTP:mailsec@corp.example.com",
        "smtp:ms@corp.example.com",
    ]
    # Graph requires a mailNickname and refuses spaces and parentheses in it.
    assert world.exported(f"corp|{inner['_anchor']}")["mailNickname"] == "Inner_Circle__EU_"
    outer_export = world.exported(f"corp|{outer['_anchor']}")
    assert (outer_export["description"], outer_export["mailNickname"], outer_export["securityEnabled"]) == (
        "All staff",
        "Outer",
        True,
    )
    assert world.exports("group")["_mv_id"].n_unique() == 5

    # Members reference Entra objects: those the same export creates travel as placeholders that the
    # Entra connector resolves once it created them, so they reach Entra in the first cycle.
    def placeholders(*objects: dict[str, Any]) -> str:
        return "[" + ",".join(sorted(f'{{"_mv_id":"corp|{o["_anchor"]}"}}' for o in objects)) + "]"

    members = {
        row["_mv_id"]: row["new_value"]
        for row in world.exports("group").iter_rows(named=True)
        if row["attribute"] == "members"
    }
    assert members == {
        f"corp|{inner['_anchor']}": placeholders(alice),
        f"corp|{outer['_anchor']}": placeholders(bob, inner),
        f"corp|{mail_security['_anchor']}": placeholders(outer),
        f"corp|{distribution['_anchor']}": placeholders(mail_security),
    }
    # Once exported, the memory names the ids Entra assigned; the next sync has no member to send.
    state = world.export_succeeds()
    remembered = state.export_memory.filter(pl.col("attribute") == "members")
    assert dict(remembered.select("_mv_id", "value").iter_rows())[f"corp|{outer['_anchor']}"] == str(
        sorted([f"aad-corp|{bob['_anchor']}", f"aad-corp|{inner['_anchor']}"])
    ).replace("'", '"').replace(", ", ",")
    second = sync(forest, state=state)
    assert second.exports("group").filter(pl.col("attribute") == "members").height == 0


@pytest.mark.parametrize(
    ("order", "user_matching"),
    [(("user", "contact"), "objects-once"), (("contact", "user"), "mail")],
    ids=["user-forest-first", "contact-forest-first-mail-matching"],
)
def test_a_contact_and_a_user_with_the_same_mail_become_one_user(
    order: tuple[str, str], user_matching: str
) -> None:
    user = CORP.user(
        "Henry",
        1108,
        mail="henry@corp.example.com",
        userPrincipalName="henry@corp.example.com",
        mailNickname="henry",
        proxyAddresses=["SMTP:henry@corp.example.com"],
    )
    contact = PARTNER.contact(
        "Henry (Corp)",
        mail="henry@corp.example.com",
        proxyAddresses=["SMTP:henry@corp.example.com"],
        targetAddress="SMTP:henry@corp.example.com",
        company="Corp",
    )
    forests = {CORP: {"user": [user]}, PARTNER: {"contact": [contact]}}
    if order[0] == "contact":
        forests = {PARTNER: forests[PARTNER], CORP: forests[CORP]}

    world = sync(forests, user_matching=user_matching)

    person = world.person(user["_anchor"], "corp")
    assert world.person(contact["_anchor"], "partner")["_mv_id"] == person["_mv_id"]
    assert (person["sourceObjectType"], person["sourceAnchor"], person["displayName"], person["company"]) == (
        "User",
        user["_anchor"],
        "Henry",
        "Corp",
    )
    assert world.mv().height == 1
    assert world.exports("contact").height == 0
    assert world.exports("user")["_mv_id"].unique().to_list() == [person["_mv_id"]]
    assert world.exported(person["_mv_id"])["companyName"] == "Corp"


def test_without_mail_matching_a_contact_synced_first_stays_a_separate_contact() -> None:
    """By design (spec 5.4): the user does not join the contact, both are exported, and the contact,
    which Graph cannot create, is a pending export the connector reports as an error."""
    user = CORP.user("Henry", 1108, mail="henry@corp.example.com")
    contact = PARTNER.contact("Henry (Corp)", mail="henry@corp.example.com")

    world = sync({PARTNER: {"contact": [contact]}, CORP: {"user": [user]}})

    assert world.mv().height == 2
    assert world.person(contact["_anchor"], "partner")["sourceObjectType"] == "Contact"
    assert world.exported(f"partner|{contact['_anchor']}") == {
        "__op": ["add"],
        "displayName": "Henry (Corp)",
        "extension_forestsyncSourceAnchor": contact["_anchor"],
        "mail": "henry@corp.example.com",
        "mailNickname": "Henry (Corp)",
    }
    assert world.exports("user")["_mv_id"].unique().to_list() == [f"corp|{user['_anchor']}"]


def _linked_mailbox() -> tuple[dict[str, object], dict[str, object]]:
    account = ACCOUNTS.user("Ivan", 3101, userPrincipalName="ivan@accounts.example.com", givenName="Ivan")
    mailbox = RESOURCES.user(
        "Ivan Mailbox",
        4101,
        userAccountControl=DISABLED,
        userPrincipalName="ivan.mbx@resources.example.com",
        msExchRecipientTypeDetails=2,
        msExchMasterAccountSid=sid(3, 3101),
        mailNickname="ivan",
        mail="ivan@example.com",
        proxyAddresses=["SMTP:ivan@example.com"],
        department="Sales",
    )
    return account, mailbox


@pytest.mark.parametrize(
    "resource_first", [True, False], ids=["resource-forest-first", "account-forest-first"]
)
def test_an_account_resource_forest_with_a_linked_mailbox(resource_first: bool) -> None:
    """The enabled account supplies the sign-in attributes, the mailbox forest the mail attributes."""
    account, mailbox = _linked_mailbox()
    forests = {ACCOUNTS: {"user": [account]}, RESOURCES: {"user": [mailbox]}}
    if resource_first:
        forests = {RESOURCES: forests[RESOURCES], ACCOUNTS: forests[ACCOUNTS]}

    world = sync(forests, user_matching="account-resource")

    person = world.person(str(account["_anchor"]), "accounts")
    assert world.person(str(mailbox["_anchor"]), "resources")["_mv_id"] == person["_mv_id"]
    assert world.mv().height == 1
    assert {
        k: person[k]
        for k in (
            "sourceAnchor",
            "userPrincipalName",
            "accountEnabled",
            "mail",
            "department",
            "sourceObjectType",
        )
    } == {
        "sourceAnchor": account["_anchor"],
        "userPrincipalName": "ivan@accounts.example.com",
        "accountEnabled": True,
        "mail": "ivan@example.com",
        "department": "Sales",
        "sourceObjectType": "User",
    }
    exported = world.exported(person["_mv_id"])
    assert {
        k: exported[k]
        for k in ("onPremisesImmutableId", "userPrincipalName", "mail", "mailNickname", "accountEnabled")
    } == {
        "onPremisesImmutableId": account["_anchor"],
        "userPrincipalName": "ivan@accounts.example.com",
        "mail": "ivan@example.com",
        "mailNickname": "ivan",
        "accountEnabled": True,
    }
    assert exported["extension_proxyAddresses"] == ["SMTP:ivan@example.com"]
    assert world.exports()["_mv_id"].unique().to_list() == [person["_mv_id"]]


def test_a_linked_mailbox_without_its_account_is_not_exported() -> None:
    _, mailbox = _linked_mailbox()

    world = sync({RESOURCES: {"user": [mailbox]}}, user_matching="account-resource")

    person = world.person(str(mailbox["_anchor"]), "resources")
    assert (person["sourceAnchor"], person["userPrincipalName"], person["sourceObjectType"]) == (
        None,
        None,
        None,
    )
    assert person["mail"] == "ivan@example.com"
    assert world.exports().height == 0


CUSTOM_DISPLAY_NAME = """\
name: Custom - In from AD - User DisplayName
description: Display names as "Surname, Given name".
connector: {kind: [ad, ldif]}
direction: inbound
source_object_type: user
target_object_type: person
precedence: 50
scope:
  - - {attribute: adminDescription, operator: NOTSTARTSWITH, value: User_}
flows:
  - destination: displayName
    expression: '[sn] & ", " & [givenName]'
"""

CUSTOM_NO_PHONE = """\
name: Custom - In from AD - User No Phone
connector: {kind: [ad, ldif]}
direction: inbound
source_object_type: user
target_object_type: person
precedence: 51
flows:
  - destination: telephoneNumber
    expression: AuthoritativeNull
"""


def test_a_custom_rule_at_precedence_50_overrides_one_attribute() -> None:
    alice = CORP.user(
        "Alice", 1101, givenName="Alice", sn="Smith", displayName="Alice Smith", title="Engineer"
    )

    world = sync(
        {CORP: {"user": [alice]}}, custom=[("rules/custom/050-displayname.yaml", CUSTOM_DISPLAY_NAME)]
    )

    person = world.person(alice["_anchor"], "corp")
    assert (person["displayName"], person["title"]) == ("Smith, Alice", "Engineer")
    exported = world.exported(person["_mv_id"])
    assert (exported["displayName"], exported["jobTitle"]) == ("Smith, Alice", "Engineer")
    winner = world.state.provenance.filter(
        (world.state.provenance["_mv_id"] == person["_mv_id"])
        & (world.state.provenance["attribute"] == "displayName")
    )
    assert winner["rule"].to_list() == ["Custom - In from AD - User DisplayName"]


def test_an_authoritative_null_rule_clears_one_attribute() -> None:
    alice = CORP.user("Alice", 1101, telephoneNumber="+1 555 0100", mobile="+1 555 0199")
    plain = sync({CORP: {"user": [alice]}})
    assert plain.exported(f"corp|{alice['_anchor']}")["businessPhones"] == ["+1 555 0100"]

    world = sync({CORP: {"user": [alice]}}, custom=[("rules/custom/051-no-phone.yaml", CUSTOM_NO_PHONE)])

    person = world.person(alice["_anchor"], "corp")
    assert (person["telephoneNumber"], person["mobile"]) == (None, "+1 555 0199")
    exported = world.exported(person["_mv_id"])
    assert "businessPhones" not in exported
    assert exported["mobilePhone"] == "+1 555 0199"


CUSTOM_NO_SYNC = """\
name: Custom - In from AD - User NoSync filter
connector: {kind: [ad, ldif]}
direction: inbound
source_object_type: user
target_object_type: person
precedence: 40
scope:
  - - {attribute: extensionAttribute15, operator: EQUAL, value: NoSync}
flows:
  - destination: cloudFiltered
    value: true
"""


def test_filtering_by_attribute_value_with_cloudfiltered() -> None:
    keep = CORP.user("Keep", 1110)
    skip = CORP.user("Skip", 1111, extensionAttribute15="NoSync")

    world = sync({CORP: {"user": [keep, skip]}}, custom=[("rules/custom/040-nosync.yaml", CUSTOM_NO_SYNC)])

    assert world.person(skip["_anchor"], "corp")["cloudFiltered"] is True
    assert world.exports()["_mv_id"].unique().to_list() == [f"corp|{keep['_anchor']}"]


def test_a_changed_source_anchor_is_an_export_error_until_reverted() -> None:
    alice = CORP.user("Alice", 1101, userPrincipalName="alice@corp.example.com")
    first = sync({CORP: {"user": [alice]}})
    mv_id = f"corp|{alice['_anchor']}"
    entra = {"_anchor": f"aad-{mv_id}", "onPremisesImmutableId": alice["_anchor"], "accountEnabled": True}
    # The export wrote the objectGUID into Alice's empty mS-DS-ConsistencyGuid; the import confirms it.
    written = dict(alice, **{"mS-DS-ConsistencyGuid": alice["objectGUID"]})
    imported = sync(
        {CORP: {"user": [dict(written, _pending="update")]}},
        aad={"user": [entra]},
        state=first.export_succeeds(),
    )
    person = imported.person(alice["_anchor"], "corp")
    assert (person["cloudAnchor"], person["cloudSourceAnchor"], person["cloudMastered"]) == (
        f"aad-{mv_id}",
        alice["_anchor"],
        False,
    )
    changed = dict(alice, **{"mS-DS-ConsistencyGuid": guid("another", "anchor")})

    world = sync({CORP: {"user": [changed]}}, aad={"user": [entra]}, state=imported.state)

    assert world.errors() == [
        ("Out to AAD - User Join", "sync-rule-error-function-triggered", "sourceAnchor attribute has changed")
    ]
    assert world.exports().height == 0
    reverted = sync({CORP: {"user": [written]}}, aad={"user": [entra]}, state=world.state)
    assert reverted.errors() == []


def test_a_computer_with_a_user_certificate_becomes_a_device() -> None:
    certificate = b"0\x82\x01\x07 DER bytes of the device certificate"
    pc = CORP.computer(
        "PC-01",
        1301,
        userCertificate=[certificate],
        operatingSystem="Windows",
        operatingSystemVersion="10.0 (22631)",
    )

    world = sync({CORP: {"computer": [pc]}})

    device = world.mv("device").to_dicts()[0]
    device_id = "-".join(
        [
            CORP.guid("PC-01")[3::-1].hex(),
            CORP.guid("PC-01")[5:3:-1].hex(),
            CORP.guid("PC-01")[7:5:-1].hex(),
            CORP.guid("PC-01")[8:10].hex(),
            CORP.guid("PC-01")[10:].hex(),
        ]
    )
    assert (
        device["deviceId"],
        device["sourceObjectType"],
        device["cloudFiltered"],
        device["cloudCreated"],
    ) == (
        device_id,
        "Computer",
        None,
        False,
    )
    assert world.exported(device["_mv_id"]) == {
        "__op": ["add"],
        "accountEnabled": True,
        "alternativeSecurityIds": [{"base64": b64(certificate)}],
        "deviceId": device_id,
        "displayName": "PC-01",
        "extension_onPremisesSecurityIdentifier": sid_string(1, 1301),
        "operatingSystem": "Windows",
        "operatingSystemVersion": "10.0 (22631)",
        "trustType": "ServerAd",
    }


def test_a_foreign_security_principal_resolves_a_cross_forest_member() -> None:
    alice = CORP.user("Alice", 1101)
    fsp_dn = f"CN={sid_string(1, 1101)},CN=ForeignSecurityPrincipals,{PARTNER.ldap}"
    fsp = {
        "_anchor": b64(guid("fsp", "alice")),
        "_dn": fsp_dn,
        "cn": sid_string(1, 1101),
        "objectGUID": guid("fsp", "alice"),
    }
    group = PARTNER.group("Partner Readers", 2201, member=[fsp_dn])

    world = sync({CORP: {"user": [alice]}, PARTNER: {"group": [group], "foreignSecurityPrincipal": [fsp]}})

    assert world.person(fsp["_anchor"], "partner")["_mv_id"] == f"corp|{alice['_anchor']}"
    assert world.mv("group")["member"].to_list() == [[f"corp|{alice['_anchor']}"]]


def test_an_inetorgperson_syncs_as_a_user_with_its_exchange_and_lync_attributes() -> None:
    person_row = CORP.user(
        "Jane",
        1112,
        userPrincipalName="jane@corp.example.com",
        mailNickname="jane",
        mail="jane@corp.example.com",
        msExchUsageLocation="DK",
        **{"msRTCSIP-PrimaryUserAddress": "sip:jane@corp.example.com"},
    )

    world = sync({CORP: {"inetOrgPerson": [person_row]}})

    person = world.person(person_row["_anchor"], "corp")
    assert {
        k: person[k]
        for k in (
            "sourceObjectType",
            "userPrincipalName",
            "usageLocation",
            "mailNickname",
            "msRTCSIP-PrimaryUserAddress",
        )
    } == {
        "sourceObjectType": "User",
        "userPrincipalName": "jane@corp.example.com",
        "usageLocation": "DK",
        "mailNickname": "jane",
        "msRTCSIP-PrimaryUserAddress": "sip:jane@corp.example.com",
    }
    exported = world.exported(person["_mv_id"])
    assert (exported["usageLocation"], exported["mailNickname"], exported["mail"]) == (
        "DK",
        "jane",
        "jane@corp.example.com",
    )


def test_samaccountname_and_mailnickname_matching_joins_users_across_forests() -> None:
    enabled = CORP.user(
        "Kim", 1113, sAMAccountName="kim", mailNickname="kim.lee", userPrincipalName="kim@corp.example.com"
    )
    other = PARTNER.user(
        "Kim Lee",
        2113,
        sAMAccountName="KIM",
        mailNickname="Kim.Lee",
        userAccountControl=DISABLED,
        department="Legal",
    )
    stranger = PARTNER.user("Kim Park", 2114, sAMAccountName="kim", mailNickname="kim.park")

    world = sync(
        {CORP: {"user": [enabled]}, PARTNER: {"user": [other, stranger]}},
        user_matching="samaccountname-mailnickname",
    )

    person = world.person(enabled["_anchor"], "corp")
    assert world.person(other["_anchor"], "partner")["_mv_id"] == person["_mv_id"]
    assert world.person(stranger["_anchor"], "partner")["_mv_id"] != person["_mv_id"]
    assert (person["userPrincipalName"], person["department"], person["accountEnabled"]) == (
        "kim@corp.example.com",
        "Legal",
        True,
    )


def test_an_object_filtered_after_its_export_is_deleted_in_entra() -> None:
    alice = CORP.user("Alice", 1101)
    first = sync({CORP: {"user": [alice]}}, custom=[("rules/custom/040-nosync.yaml", CUSTOM_NO_SYNC)])
    assert first.exported(f"corp|{alice['_anchor']}")["__op"] == ["add"]

    world = sync(
        {CORP: {"user": [dict(alice, extensionAttribute15="NoSync")]}},
        custom=[("rules/custom/040-nosync.yaml", CUSTOM_NO_SYNC)],
        state=first.export_succeeds(),
    )

    assert world.exports().select("_mv_id", "_anchor", "op").rows() == [
        (f"corp|{alice['_anchor']}", f"aad-corp|{alice['_anchor']}", "delete")
    ]


def test_entra_groups_and_devices_join_back_on_their_anchors() -> None:
    """After the first export, the imported Entra objects join the metaverse objects they came from."""
    group = CORP.group("Readers", 1207)
    pc = CORP.computer(
        "PC-02",
        1302,
        userCertificate=[b"certificate"],
        operatingSystem="Windows",
        operatingSystemVersion="11",
    )
    forest = {CORP: {"group": [group], "computer": [pc]}}
    first = sync(forest)
    device = first.mv("device").to_dicts()[0]
    group_mv = f"corp|{group['_anchor']}"
    entra = {
        "group": [
            {
                "_anchor": f"aad-{group_mv}",
                "extension_forestsyncSourceAnchor": group["_anchor"],
                "displayName": "Readers",
            }
        ],
        "device": [
            {"_anchor": f"aad-{device['_mv_id']}", "deviceId": device["deviceId"], "displayName": "PC-02"}
        ],
    }

    world = sync(forest, aad=entra, state=first.export_succeeds())

    groups = world.mv("group").to_dicts()
    assert [(g["cloudAnchor"], g["cloudSourceAnchor"], g["cloudMastered"]) for g in groups] == [
        (f"aad-{group_mv}", group["_anchor"], False)
    ]
    assert world.mv("device")["cloudAnchor"].to_list() == [f"aad-{device['_mv_id']}"]
    assert world.errors() == []


def test_a_rebuilt_server_joins_the_users_already_in_entra_instead_of_creating_them() -> None:
    """Hard match by anchor: the Entra user with the on-premises immutable id joins (In from AAD - User
    Join) and only the differing values are exported as updates; a cloud-only user stays alone."""
    alice = CORP.user("Alice", 1101, displayName="Alice Smith", userPrincipalName="alice@corp.example.com")
    entra = {
        "user": [
            {
                "_anchor": "entra-alice",
                "onPremisesImmutableId": alice["_anchor"],
                "displayName": "Alice S.",
                "userPrincipalName": "alice@corp.example.com",
                "accountEnabled": True,
            },
            {
                "_anchor": "entra-cloud",
                "displayName": "Cloud Admin",
                "userPrincipalName": "admin@contoso.onmicrosoft.com",
            },
        ]
    }

    world = sync({CORP: {"user": [alice]}}, aad=entra)

    person = world.person(alice["_anchor"], "corp")
    assert world.person("entra-alice", "aad")["_mv_id"] == person["_mv_id"]
    assert (person["cloudAnchor"], person["cloudSourceAnchor"], person["cloudMastered"]) == (
        "entra-alice",
        alice["_anchor"],
        False,
    )
    assert world.state.links.filter(world.state.links["_anchor"] == "entra-cloud").height == 0
    updates = world.exports().filter(world.exports()["attribute"] == "displayName")
    assert updates.select("_anchor", "op", "old_value", "new_value").rows() == [
        ("entra-alice", "update", '"Alice S."', '"Alice Smith"')
    ]
    assert world.exports()["op"].unique().to_list() == ["update"]


def test_a_forest_where_no_object_has_ms_ds_consistencyguid_still_syncs() -> None:
    """An LDIF snapshot has columns only for the attributes some object has."""
    alice = CORP.user("Alice", 1101)

    world = sync({CORP: {"user": [alice]}}, typed_columns=False)

    assert world.exported(f"corp|{alice['_anchor']}")["onPremisesImmutableId"] == alice["_anchor"]
