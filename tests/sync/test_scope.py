"""Scoping operators on literal frames, eager and lazy."""

from __future__ import annotations

import polars as pl
import pytest

from tests.sync.conftest import cond, scope
from transforms.sync.scope import scope_expr

FRAME = pl.DataFrame(
    {
        "_dn": ["CN=a,DC=x", "CN=b,DC=x", "CN=c,DC=x"],
        "s": ["Sales", "IT", None],
        "n": [512, 514, None],
        "m": [["SMTP:a@x", "x500:/o"], [], None],
        "b": [True, False, None],
    }
)

CASES = [
    ("s", "EQUAL", "sales", [True, False, False]),
    ("s", "NOTEQUAL", "sales", [False, True, True]),
    ("s", "LESSTHAN", "J", [False, True, False]),
    ("s", "LESSTHAN_OR_EQUAL", "IT", [False, True, False]),
    ("s", "GREATERTHAN", "J", [True, False, False]),
    ("s", "GREATERTHAN_OR_EQUAL", "Sales", [True, False, False]),
    ("n", "LESSTHAN", "513", [True, False, False]),
    ("n", "GREATERTHAN_OR_EQUAL", "513", [False, True, False]),
    ("s", "CONTAINS", "al", [True, False, False]),
    ("s", "NOTCONTAINS", "al", [False, True, True]),
    ("s", "STARTSWITH", "sa", [True, False, False]),
    ("s", "NOTSTARTSWITH", "sa", [False, True, True]),
    ("s", "ENDSWITH", "T", [False, True, False]),
    ("s", "NOTENDSWITH", "T", [True, False, True]),
    ("s", "ISNULL", None, [False, False, True]),
    ("s", "ISNOTNULL", None, [True, True, False]),
    ("m", "ISNULL", None, [False, True, True]),
    ("m", "ISIN", "smtp:A@X", [True, False, False]),
    ("m", "ISNOTIN", "smtp:a@x", [False, True, True]),
    ("m", "STARTSWITH", "x500:", [True, False, False]),
    ("n", "ISBITSET", "2", [False, True, False]),
    ("n", "ISNOTBITSET", "2", [True, False, True]),
    ("b", "EQUAL", "TRUE", [True, False, False]),
    ("b", "NOTEQUAL", "True", [False, True, True]),
    ("absent", "ISNULL", None, [True, True, True]),
    ("absent", "EQUAL", "x", [False, False, False]),
]


@pytest.mark.parametrize(("attribute", "operator", "value", "expected"), CASES)
def test_operator(attribute: str, operator: str, value: str | None, expected: list[bool]) -> None:
    """Each scoping operator selects the documented rows; negations hold for null attributes."""
    expr = scope_expr(scope([cond(attribute, operator, value)]), FRAME.schema)
    assert FRAME.with_columns(expr.alias("x"))["x"].to_list() == expected
    assert FRAME.lazy().with_columns(expr.alias("x")).collect()["x"].to_list() == expected


def test_and_inside_or_across_groups() -> None:
    """Conditions of a group are ANDed, groups are ORed."""
    groups = scope([cond("s", "EQUAL", "IT"), cond("n", "EQUAL", "514")], [cond("s", "EQUAL", "Sales")])
    assert FRAME.with_columns(scope_expr(groups, FRAME.schema).alias("x"))["x"].to_list() == [
        True,
        True,
        False,
    ]


def test_empty_scope_selects_everything() -> None:
    """A rule without scope groups applies to every object."""
    assert FRAME.with_columns(scope_expr((), FRAME.schema).alias("x"))["x"].to_list() == [True, True, True]


def test_member_of_uses_group_members() -> None:
    """ISMEMBEROF is true for objects whose DN is a member of the named group; ISNOTMEMBEROF negates it."""
    members = {"cn=g,dc=x": ["cn=b,dc=x"]}
    lookup = lambda dn: members.get(dn.lower(), [])  # noqa: E731
    inside = scope_expr(scope([cond("_dn", "ISMEMBEROF", "CN=G,DC=X")]), FRAME.schema, lookup)
    outside = scope_expr(scope([cond("_dn", "ISNOTMEMBEROF", "CN=G,DC=X")]), FRAME.schema, lookup)
    assert FRAME.with_columns(inside.alias("x"))["x"].to_list() == [False, True, False]
    assert FRAME.with_columns(outside.alias("x"))["x"].to_list() == [True, False, True]
