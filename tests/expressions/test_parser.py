"""Parser: grammar levels, literals, and errors that carry positions."""

from __future__ import annotations

import pytest

from transforms.expressions import (
    ArityError,
    ExpressionSyntaxError,
    ExpressionTypeError,
    UnknownFunctionError,
    parse,
    render,
)
from transforms.expressions import nodes as n


def test_arithmetic_and_concatenation_share_one_left_to_right_level() -> None:
    tree = parse("3+2*5")
    assert tree == n.BinaryOp("*", n.BinaryOp("+", n.Number(3), n.Number(2)), n.Number(5))


def test_comparisons_bind_tighter_than_logical_operators() -> None:
    tree = parse('[a] = "x" || [b] = "y"')
    assert isinstance(tree, n.BinaryOp) and tree.op == "||"
    assert isinstance(tree.left, n.BinaryOp) and tree.left.op == "="


def test_negative_literal_and_hex_numbers() -> None:
    assert parse("-2147483648") == n.Number(-2147483648)
    assert parse("&H21C07000") == n.Number(0x21C07000)
    assert parse("-(5)") == n.Negate(n.Number(5))


def test_string_escapes_keep_unknown_sequences() -> None:
    assert parse('"\\\\0ACNF:"') == n.String("\\0ACNF:")
    assert parse('"a\\nb\\"c"') == n.String('a\nb"c')
    assert parse('"\\0A"') == n.String("\\0A")


def test_attribute_names_may_contain_dashes() -> None:
    assert parse("[mS-DS-ConsistencyGuid]") == n.Attribute("mS-DS-ConsistencyGuid")


def test_whitespace_and_line_breaks_between_tokens_are_ignored() -> None:
    assert parse("IIF(\n True ,\r\n 1,\t2 )") == parse("IIF(True,1,2)")


def test_unknown_function_suggests_the_case_sensitive_name() -> None:
    with pytest.raises(UnknownFunctionError) as info:
        parse('Trim([a]) & ucase("x")')
    error = info.value
    assert error.suggestion == "UCase"
    assert (error.line, error.column) == (1, 13)
    assert str(error).splitlines()[-1].strip() == "^^^^^"


def test_error_position_on_a_later_line() -> None:
    with pytest.raises(ExpressionSyntaxError) as info:
        parse('IIF(True,\n  "a" "b",\n  "c")')
    assert (info.value.line, info.value.column) == (2, 7)
    lines = str(info.value).splitlines()
    assert lines[1].strip() == '"a" "b",'
    assert lines[2].index("^") == lines[1].index('"b"')


def test_arity_error_shows_the_signature() -> None:
    with pytest.raises(ArityError) as info:
        parse('Left("x")')
    assert "Left takes 2 argument(s), got 1" in str(info.value)
    assert "str string, num numChars" in str(info.value)


def test_switch_requires_pairs() -> None:
    with pytest.raises(ArityError):
        parse('Switch(True, "a", False)')


def test_enum_argument_must_be_one_of_the_choices() -> None:
    with pytest.raises(ExpressionTypeError):
        parse('InStr("a","b",1,UTF8)')


def test_smart_quotes_are_rejected_with_a_hint() -> None:
    with pytest.raises(ExpressionSyntaxError, match="straight double quotes"):
        parse("Left(\u201cx\u201d, 1)")


def test_render_is_canonical_and_reparses_to_the_same_tree() -> None:
    text = 'IIF(( [a] & "x" ) = "y" || -[n] * (2 + 3) > 0, Mid([s],1,2), NULL)'
    tree = parse(text)
    assert parse(render(tree)) == tree
    assert render(tree) == 'IIF([a] & "x" = "y" || -[n] * (2 + 3) > 0, Mid([s], 1, 2), NULL)'
