"""Rule-set options: ``when`` chooses among alternative rules by the configuration's choices."""

from __future__ import annotations

import pytest

from transforms.rules import OptionCondition, RuleFileError, load_rule_text, load_rule_texts

VARIANT = """\
name: In from AD - User Join
connector: {{kind: ad}}
direction: inbound
source_object_type: user
target_object_type: person
link_type: Provision
precedence: 100
immutable_tag: t
when: {{user_matching: {value}}}
join:
  - - {{source: {join}, target: {join}}}
"""

PLAIN = """\
name: In from AD - User Common
connector: {kind: ad}
direction: inbound
source_object_type: user
target_object_type: person
precedence: 106
immutable_tag: t
"""


def _variants() -> list[tuple[str, str]]:
    return [
        ("once.yaml", VARIANT.format(value="objects-once", join="objectGUID")),
        ("mail.yaml", VARIANT.format(value="[mail, mail-or-upn]", join="mail")),
        ("common.yaml", PLAIN),
    ]


def test_when_loads_as_option_conditions_with_one_or_several_values() -> None:
    rule = load_rule_text(VARIANT.format(value="[mail, mail-or-upn]", join="mail"), "mail.yaml")
    assert [(c.option, c.values) for c in rule.when] == [("user_matching", ("mail", "mail-or-upn"))]
    assert isinstance(rule.when[0], OptionCondition)
    assert (rule.when[0].position.line, rule.when[0].position.column) == (9, 8)


def test_options_choose_one_of_the_variants_that_share_name_and_precedence() -> None:
    rules = load_rule_texts(_variants(), options={"user_matching": "mail-or-upn"})
    assert sorted(r.name for r in rules) == ["In from AD - User Common", "In from AD - User Join"]
    join = next(r for r in rules if r.link_type.value == "Provision")
    assert join.join[0].conditions[0].source == "mail"


def test_rules_without_when_belong_to_every_configuration() -> None:
    rules = load_rule_texts(_variants(), options={"user_matching": "objects-once"})
    assert {r.name: r.join[0].conditions[0].source if r.join else None for r in rules} == {
        "In from AD - User Join": "objectGUID",
        "In from AD - User Common": None,
    }


def test_an_unset_option_is_an_error_naming_its_choices() -> None:
    with pytest.raises(RuleFileError) as caught:
        load_rule_texts(_variants())
    assert [str(i) for i in caught.value.issues] == [
        "once.yaml:9:8: when: rule-set option 'user_matching' is not set; "
        "choose one of objects-once, mail, mail-or-upn"
    ]


def test_a_value_no_rule_offers_is_an_error() -> None:
    with pytest.raises(RuleFileError, match=r"user_matching='sid' is not offered"):
        load_rule_texts(_variants(), options={"user_matching": "sid"})


def test_options_no_rule_names_are_ignored() -> None:
    """One configuration serves rule folders with and without the default rules."""
    rules = load_rule_texts([("common.yaml", PLAIN)], options={"user_matching": "mail"})
    assert [r.name for r in rules] == ["In from AD - User Common"]


def test_when_must_map_options_to_values() -> None:
    text = VARIANT.format(value="objects-once", join="mail").replace(
        "when: {user_matching: objects-once}", "when: [user_matching]"
    )
    with pytest.raises(RuleFileError, match=r":9:7: when: expected a mapping of rule-set option to value"):
        load_rule_text(text, "bad.yaml")


def test_unselected_variants_are_not_checked_against_the_selected_one() -> None:
    # Both variants use precedence 100 and the same name: only the selected one is in the set.
    rules = load_rule_texts(_variants()[:2], options={"user_matching": "objects-once"})
    assert len(rules) == 1
