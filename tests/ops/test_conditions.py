"""Search conditions parse from the command line and filter wide frames in one Polars expression."""

from __future__ import annotations

import polars as pl
import pytest

from transforms.ops.conditions import (
    Condition,
    ConditionError,
    Operator,
    check_attributes,
    conditions_expr,
    parse_condition,
)

FRAME = pl.DataFrame(
    {
        "_anchor": ["a", "b", "c"],
        "displayName": ["Karen Tanaka", "Mark Smith", None],
        "proxyAddresses": [["SMTP:karen@x.com", "smtp:kt@y.com"], [], None],
        "accountEnabled": [True, False, None],
        "objectGUID": [b"\x01\x02", b"\x03", None],
    },
    schema_overrides={"proxyAddresses": pl.List(pl.String)},
)


def _match(*texts: str) -> list[str]:
    conditions = [parse_condition(t) for t in texts]
    return FRAME.filter(conditions_expr(conditions, FRAME.schema))["_anchor"].to_list()


def test_parse_splits_at_the_first_operator() -> None:
    """The first ``=`` or ``~`` separates the attribute from the value; the value keeps the rest."""
    assert parse_condition("mail=a=b~c") == Condition("mail", Operator.EQUALS, "a=b~c")
    assert parse_condition("cn~x=y") == Condition("cn", Operator.CONTAINS, "x=y")
    assert parse_condition("mail?") == Condition("mail", Operator.PRESENT)


@pytest.mark.parametrize("text", ["mail", "=x", "~x", "?"])
def test_parse_rejects_text_without_an_attribute_and_operator(text: str) -> None:
    """A clause without ``ATTR`` and an operator is a ConditionError naming the expected forms."""
    with pytest.raises(ConditionError, match="ATTR=VALUE"):
        parse_condition(text)


def test_equals_is_exact() -> None:
    """``=`` compares the whole value, case included."""
    assert _match("displayName=Karen Tanaka") == ["a"]
    assert _match("displayName=karen tanaka") == []


def test_contains_ignores_case() -> None:
    """``~`` finds a substring in any case."""
    assert _match("displayName~TANAKA") == ["a"]


def test_multi_valued_attribute_matches_when_any_value_does() -> None:
    """A list column matches when one of its values satisfies the clause."""
    assert _match("proxyAddresses=smtp:kt@y.com") == ["a"]
    assert _match("proxyAddresses~@Y.COM") == ["a"]


def test_present_needs_a_value_and_a_non_empty_list() -> None:
    """``?`` excludes nulls and empty lists."""
    assert _match("proxyAddresses?") == ["a"]
    assert _match("displayName?") == ["a", "b"]


def test_booleans_and_binary_compare_as_text() -> None:
    """Booleans compare as true/false and binary values as base64."""
    assert _match("accountEnabled=false") == ["b"]
    assert _match("objectGUID=AQI=") == ["a"]


def test_all_clauses_must_hold_and_a_missing_column_matches_nothing() -> None:
    """Clauses are ANDed; an attribute the frame lacks matches no row."""
    assert _match("displayName~a", "accountEnabled=true") == ["a"]
    assert _match("mail?") == []


def test_unknown_attribute_fails_with_a_suggestion() -> None:
    """An attribute no searched table has is an error that suggests a near name."""
    with pytest.raises(ConditionError, match="did you mean displayName"):
        check_attributes([parse_condition("displayname=x")], [FRAME.schema])
