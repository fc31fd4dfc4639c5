"""The default rule files: they load, their expressions parse, and they keep the layout's conventions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.default_rules.ruleset import DEFAULT_DIR, USER_MATCHING, load_default_rules, rule_files
from transforms.rules import (
    Direction,
    LinkType,
    RuleFileError,
    SyncRule,
    default_expression_checker,
    load_rule_text,
)

# The Entra ID connector's contract: outbound destinations are Graph v1.0 property names a client may
# write, one onPremisesExtensionAttributes.extensionAttributeN per attribute, or extension_<name>.
GRAPH_WRITABLE = {
    "user": {
        "accountEnabled", "businessPhones", "city", "companyName", "country", "department", "displayName",
        "employeeId", "faxNumber", "givenName", "jobTitle", "mail", "mailNickname", "manager", "mobilePhone",
        "officeLocation", "onPremisesImmutableId", "postalCode", "preferredLanguage", "state",
        "streetAddress", "surname", "usageLocation", "userPrincipalName",
        *(f"onPremisesExtensionAttributes.extensionAttribute{i}" for i in range(1, 16)),
    },
    "group": {"description", "displayName", "mailEnabled", "mailNickname", "members", "securityEnabled"},
    # Organizational contacts are read-only in Graph; the rule still names their Graph properties.
    "contact": {"companyName", "department", "displayName", "givenName", "jobTitle", "mail", "mailNickname", "surname"},
    "device": {
        "accountEnabled", "alternativeSecurityIds", "deviceId", "displayName", "operatingSystem",
        "operatingSystemVersion", "trustType",
    },
}  # fmt: skip


@pytest.mark.parametrize("user_matching", USER_MATCHING)
def test_the_default_rules_load_for_every_user_matching_option(user_matching: str) -> None:
    rules = load_default_rules(user_matching)
    joins = [r for r in rules if r.name == "In from AD - User Join"]
    assert len(joins) == 1
    assert joins[0].when[0].values == (user_matching,)


def test_every_expression_parses() -> None:
    checker = default_expression_checker()
    if checker is None:
        pytest.skip("transforms.expressions is not merged into this branch yet")
    for file, text in rule_files():
        load_rule_text(text, file, check_expression=checker)


def test_the_rule_set_needs_the_user_matching_option() -> None:
    with pytest.raises(RuleFileError, match="rule-set option 'user_matching' is not set"):
        from transforms.rules import load_rule_texts

        load_rule_texts(rule_files())


def test_file_names_carry_the_precedence_and_directories_the_direction() -> None:
    directions = {
        "in-from-ad": Direction.INBOUND,
        "in-from-aad": Direction.INBOUND,
        "out-to-aad": Direction.OUTBOUND,
        "out-to-ad": Direction.OUTBOUND,
    }
    # Snapshots (ldif) are read, never written: the rules to AD select only kind ad.
    kinds = {
        "in-from-ad": ("ad", "ldif"),
        "in-from-aad": ("aad",),
        "out-to-aad": ("aad",),
        "out-to-ad": ("ad",),
    }
    prefixes = {
        "in-from-ad": "In from AD - ",
        "in-from-aad": "In from AAD - ",
        "out-to-aad": "Out to AAD - ",
        "out-to-ad": "Out to AD - ",
    }
    files = sorted(DEFAULT_DIR.rglob("*.yaml"))
    assert {p.parent.name for p in files} == set(directions)
    for path in files:
        rule = load_rule_text(path.read_text(encoding="utf-8"), str(path))
        folder = path.parent.name
        assert re.fullmatch(r"\d{3}-[a-z-]+(\.[a-z-]+)?\.yaml", path.name), path.name
        assert int(path.name[:3]) == rule.precedence, path.name
        assert rule.direction is directions[folder], path.name
        assert rule.connector.kinds == kinds[folder] and not rule.connector.names, path.name
        assert rule.name.startswith(prefixes[folder]), path.name
        assert rule.immutable_tag is not None and rule.precedence >= 100, path.name


def test_user_join_variants_differ_only_in_their_extra_join_groups() -> None:
    for stem in ("100-user-join", "101-inetorgperson-join"):
        variants = {
            option: load_rule_text((DEFAULT_DIR / "in-from-ad" / f"{stem}.{option}.yaml").read_text(), stem)
            for option in USER_MATCHING
        }
        base = variants["objects-once"]
        assert [len(g.conditions) for g in base.join] == [1, 1]
        for option, rule in variants.items():
            assert (rule.name, rule.precedence, rule.link_type) == (
                base.name,
                base.precedence,
                base.link_type,
            )
            assert _scope(rule) == _scope(base), option
            assert _joins(rule)[:2] == _joins(base), option
            flows = {f.destination: f.expression for f in rule.flows}
            base_flows = {f.destination: f.expression for f in base.flows}
            assert flows["sourceAnchorBinary"] == base_flows["sourceAnchorBinary"]
            expected_filter = base_flows["cloudFiltered"]
            if option == "mail":
                assert expected_filter is not None
                expected_filter = expected_filter.replace(
                    ", True, NULL)", " || IsPresent([mail]) = False, True, NULL)"
                )
            assert flows["cloudFiltered"] == expected_filter, option
        assert _joins(variants["mail"])[2:] == [[("mail", "mail", False)]]
        assert _joins(variants["account-resource"])[2:] == [
            [("objectSid", "msExchMasterAccountSid", True)],
            [("msExchMasterAccountSid", "objectSid", True)],
            [("objectSid", "msRTCSIP-OriginatorSid", True)],
            [("msRTCSIP-OriginatorSid", "objectSid", True)],
        ]
        assert _joins(variants["samaccountname-mailnickname"])[2:] == [
            [("sAMAccountName", "accountName", False), ("mailNickname", "mailNickname", False)]
        ]


def _scope(rule: SyncRule) -> list[list[tuple[str, str, str | None]]]:
    return [[(c.attribute, c.operator.value, c.value) for c in g.conditions] for g in rule.scope]


def _joins(rule: SyncRule) -> list[list[tuple[str, str, bool]]]:
    return [[(c.source, c.target, c.case_sensitive) for c in g.conditions] for g in rule.join]


def test_outbound_rules_write_only_what_graph_lets_a_client_write() -> None:
    for rule in load_default_rules():
        if rule.direction is not Direction.OUTBOUND or rule.connector.kinds != ("aad",):
            continue
        allowed = GRAPH_WRITABLE[rule.target_object_type]
        for flow in rule.flows:
            assert flow.destination in allowed or re.fullmatch(r"extension_[A-Za-z]+", flow.destination), (
                rule.name,
                flow.destination,
            )


def test_every_object_type_has_exactly_one_provisioning_rule_per_direction() -> None:
    rules = [r for r in load_default_rules() if r.link_type is LinkType.PROVISION]
    inbound = sorted(r.source_object_type for r in rules if r.direction is Direction.INBOUND)
    outbound = sorted(r.target_object_type for r in rules if r.direction is Direction.OUTBOUND)
    assert inbound == ["computer", "contact", "group", "inetOrgPerson", "user"]
    assert outbound == ["contact", "device", "group", "user"]


def test_the_rules_directory_holds_only_rule_files() -> None:
    stray = [p for p in DEFAULT_DIR.rglob("*") if p.is_file() and p.suffix != ".yaml"]
    assert stray == [Path()] * 0
