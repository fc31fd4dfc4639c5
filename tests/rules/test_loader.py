"""Rule files: loading, positioned errors, rule-set checks."""

from __future__ import annotations

import textwrap

import pytest

from transforms.rules import (
    ConnectorSelector,
    Direction,
    FlowType,
    LinkType,
    MergeType,
    RuleFileError,
    ScopeOperator,
    default_expression_checker,
    load_rule_text,
    load_rule_texts,
)

GOOD = textwrap.dedent(
    """\
    name: In from AD - User Join
    description: projects users
    connector: {kind: [ad, ldif]}
    direction: inbound
    source_object_type: user
    target_object_type: person
    link_type: Provision
    precedence: 100
    immutable_tag: Microsoft.InfromADUserJoin.004
    scope:
      - - {attribute: isCriticalSystemObject, operator: NOTEQUAL, value: true}
        - {attribute: userAccountControl, operator: ISBITNOTSET, value: 2}
    join:
      - [{source: mS-DS-ConsistencyGuid, target: sourceAnchorBinary, case_sensitive: false}]
      - [{source: objectGUID, target: sourceAnchorBinary}]
    flows:
      - {destination: sourceAnchorBinary, expression: 'IIF(IsPresent([mS-DS-ConsistencyGuid]),[mS-DS-ConsistencyGuid],[objectGUID])'}
      - {destination: accountEnabled, type: Constant, value: true}
      - {destination: proxyAddresses, source: proxyAddresses, merge_type: MergeCaseInsensitive}
      - {destination: cloudCreated, value: false, apply_once: true}
    password_sync: false
    """
)


def test_a_complete_rule_loads() -> None:
    """Every field of the format lands in the model."""
    rule = load_rule_text(GOOD, "user-join.yaml", check_expression=default_expression_checker())
    assert rule.connector == ConnectorSelector(kinds=("ad", "ldif"))
    assert rule.direction is Direction.INBOUND and rule.link_type is LinkType.PROVISION
    assert rule.scope[0].conditions[0].value == "TRUE"
    assert rule.scope[0].conditions[1].operator is ScopeOperator.ISNOTBITSET
    assert [c.case_sensitive for g in rule.join for c in g.conditions] == [False, True]
    assert [f.type for f in rule.flows] == [
        FlowType.EXPRESSION,
        FlowType.CONSTANT,
        FlowType.DIRECT,
        FlowType.CONSTANT,
    ]
    assert rule.flows[2].merge_type is MergeType.MERGE_CASE_INSENSITIVE
    assert rule.flows[3].apply_once is True and rule.flows[1].constant is True


def test_every_error_of_a_file_is_reported_with_its_line() -> None:
    """Unknown keys, bad enums and missing keys are all reported, each at its own line."""
    text = GOOD.replace("direction: inbound", "direction: sideways").replace(
        "link_type: Provision", "linktype: x"
    )
    text = text.replace("operator: NOTEQUAL", "operator: NOTEQUALS")
    with pytest.raises(RuleFileError) as info:
        load_rule_text(text, "bad.yaml")
    lines = {(i.position.line, i.key) for i in info.value.issues}
    assert (4, "direction") in lines
    assert (7, "linktype") in lines
    assert (11, "scope[0][0].operator") in lines
    assert str(info.value).startswith("bad.yaml:")


def test_expression_errors_point_inside_the_expression() -> None:
    """A bad function name is reported at its column inside the expression, in file coordinates."""
    text = GOOD.replace("IIF(IsPresent(", "IIF(IsPresnt(")
    with pytest.raises(RuleFileError) as info:
        load_rule_text(text, "x.yaml", check_expression=default_expression_checker())
    (issue,) = info.value.issues
    line = (
        GOOD.splitlines().index(next(x for x in GOOD.splitlines() if "sourceAnchorBinary, expression" in x))
        + 1
    )
    column = text.splitlines()[line - 1].index("IsPresnt") + 1
    assert (issue.position.line, issue.position.column) == (line, column)
    assert "IsPresent" in issue.message  # did you mean


def test_custom_rules_use_precedence_1_to_99() -> None:
    """A rule without immutable_tag (a custom rule) outside 1-99 is an error."""
    text = GOOD.replace("immutable_tag: Microsoft.InfromADUserJoin.004\n", "")
    with pytest.raises(RuleFileError, match="1-99"):
        load_rule_text(text)


def test_precedence_is_unique_per_direction() -> None:
    """Two enabled rules of one direction with one precedence are reported."""
    other = GOOD.replace("name: In from AD - User Join", "name: Other")
    with pytest.raises(RuleFileError, match="precedence 100 already used"):
        load_rule_texts([("a.yaml", GOOD), ("b.yaml", other)])


def test_mixing_merge_types_on_one_attribute_is_reported() -> None:
    """Two rules flowing one destination with different merge types are a rule-set error."""
    other = GOOD.replace("name: In from AD - User Join", "name: Other").replace(
        "precedence: 100", "precedence: 101"
    )
    other = other.replace("merge_type: MergeCaseInsensitive", "merge_type: Merge")
    with pytest.raises(RuleFileError, match="mixing merge types"):
        load_rule_texts([("a.yaml", GOOD), ("b.yaml", other)])


@pytest.mark.parametrize(
    ("text", "selector"),
    [
        ("ad", ConnectorSelector(names=("ad",))),
        ('"*"', ConnectorSelector()),
        ("[a, b]", ConnectorSelector(names=("a", "b"))),
    ],
)
def test_connector_selectors(text: str, selector: ConnectorSelector) -> None:
    """connector: a name, "*" for all, or a list of names."""
    assert load_rule_text(GOOD.replace("{kind: [ad, ldif]}", text)).connector == selector


def test_operator_needs_a_value() -> None:
    """Operators other than ISNULL/ISNOTNULL need a value."""
    text = GOOD.replace("operator: ISBITNOTSET, value: 2", "operator: EQUAL")
    with pytest.raises(RuleFileError, match="needs a value"):
        load_rule_text(text)


def test_invalid_yaml_is_positioned() -> None:
    """A YAML syntax error names the line."""
    with pytest.raises(RuleFileError, match=r"x.yaml:2:"):
        load_rule_text("name: a\n  bad: [\n", "x.yaml")
