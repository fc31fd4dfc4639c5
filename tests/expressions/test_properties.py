"""Property tests: robustness of the parser, render round trip, and agreement of the two back ends."""

from __future__ import annotations

import contextlib
import string
from typing import Any

import polars as pl
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.expressions.harness import load_cases
from transforms.expressions import (
    ExpressionError,
    ExpressionRuntimeError,
    compile_expression,
    evaluate,
    parse,
    render,
)
from transforms.expressions import nodes as n

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- robustness -------------------------------------------------------------------------------------

ALPHABET = string.ascii_letters + string.digits + ' \n\t[]()"%$&|<>=+-*,.\\_{}\u201c'
TOKENS = st.sampled_from(
    [
        "Left(",
        "IIF(",
        "Trim(",
        "Where(",
        "$item",
        "[a]",
        "[b-c]",
        '"x"',
        '"\\\\"',
        "&H1F",
        "-",
        "&&",
        "||",
        "&",
        ",",
        ")",
        "(",
        "%P.Q%",
        "1",
        "True",
        "NULL",
        "vbTextCompare",
        " ",
    ]
)


@SETTINGS
@given(st.one_of(st.text(ALPHABET, max_size=40), st.lists(TOKENS, max_size=15).map("".join)))
def test_random_input_raises_only_expression_errors(text: str) -> None:
    try:
        node = parse(text)
    except ExpressionError as exc:
        assert exc.line >= 1 and exc.column >= 1
        assert "^" in str(exc) or not exc.source
        return
    with contextlib.suppress(ExpressionError):
        compile_expression(node, params={"P.Q": "v"})


# --- render round trip ---------------------------------------------------------------------------------

NAMES = st.sampled_from(["a", "sAMAccountName", "mS-DS-ConsistencyGuid", "x_1"])
LEAVES = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=8).map(n.String),
    st.integers(-(2**40), 2**40).map(n.Number),
    st.booleans().map(n.Boolean),
    st.sampled_from(sorted(n.CONSTANTS)).map(n.Constant),
    NAMES.map(n.Attribute),
    st.sampled_from(["Domain.FQDN", "Connector.ID"]).map(n.Parameter),
    st.sampled_from(["item", "v"]).map(n.Variable),
)


def _trees(children: st.SearchStrategy[n.Node]) -> st.SearchStrategy[n.Node]:
    ops = st.sampled_from([*n.ARITHMETIC, *n.COMPARISON, *n.LOGICAL])
    return st.one_of(
        st.builds(n.BinaryOp, ops, children, children),
        children.filter(lambda c: not isinstance(c, n.Number)).map(n.Negate),
        st.builds(lambda a, b: n.Call("Left", (a, b)), children, children),
        st.builds(lambda a, b, c: n.Call("IIF", (a, b, c)), children, children, children),
        st.builds(lambda a: n.Call("Trim", (a,)), children),
        st.builds(lambda a, b: n.Call("Switch", (a, b)), children, children),
    )


TREES = st.recursive(LEAVES, _trees, max_leaves=12)


@SETTINGS
@given(TREES)
def test_render_then_parse_gives_the_same_tree(tree: n.Node) -> None:
    assert parse(render(tree)) == tree


def test_render_round_trips_every_compliance_expression() -> None:
    for _, case in load_cases():
        try:
            tree = parse(case["expression"])
        except ExpressionError:
            continue
        assert parse(render(tree)) == tree, case["expression"]


# --- back-end agreement ----------------------------------------------------------------------------------

SCHEMA: dict[str, pl.DataType] = {
    "s1": pl.Utf8(),
    "s2": pl.Utf8(),
    "n1": pl.Int64(),
    "n2": pl.Int64(),
    "m1": pl.List(pl.Utf8()),
}
TEXT = st.text(alphabet="abAB é,-:@ x", max_size=8)
ROWS = st.lists(
    st.fixed_dictionaries(
        {
            "s1": st.none() | TEXT,
            "s2": st.none() | TEXT,
            "n1": st.none() | st.integers(-50, 50),
            "n2": st.none() | st.integers(-50, 50),
            "m1": st.none() | st.lists(TEXT, max_size=4),
        }
    ),
    min_size=1,
    max_size=5,
)
SMALL = st.integers(-3, 9).map(str)
LIT = st.sampled_from(['"a"', '"x "', '""', '"é,"', '" b"', '"-"'])


def typed(kind: str, depth: int) -> st.SearchStrategy[str]:
    """Random well-typed expression text of the given kind ("str", "num", "bool", "mv")."""
    if depth <= 0:
        return {
            "str": st.sampled_from(["[s1]", "[s2]"]) | LIT,
            "num": st.sampled_from(["[n1]", "[n2]"]) | SMALL,
            "bool": st.sampled_from(["True", "False", "IsPresent([s1])", "IsNull([n1])"]),
            "mv": st.just("[m1]"),
        }[kind]
    s, num, b = typed("str", depth - 1), typed("num", depth - 1), typed("bool", depth - 1)
    choices: dict[str, list[st.SearchStrategy[str]]] = {
        "str": [
            s.map(lambda x: f"Trim({x})"),
            s.map(lambda x: f"UCase({x})"),
            st.tuples(s, num).map(lambda t: f"Left({t[0]}, {t[1]})"),
            st.tuples(s, num).map(lambda t: f"Right({t[0]}, {t[1]})"),
            st.tuples(s, num, num).map(lambda t: f"Mid({t[0]}, {t[1]}, {t[2]})"),
            st.tuples(s, s).map(lambda t: f"{t[0]} & {t[1]}"),
            st.tuples(b, s, s).map(lambda t: f"IIF({t[0]}, {t[1]}, {t[2]})"),
            st.tuples(s, LIT, LIT).map(lambda t: f"Replace({t[0]}, {t[1]}, {t[2]})"),
            st.tuples(s, num).map(lambda t: f'Word({t[0]}, {t[1]}, ", ")'),
            st.tuples(s, SMALL).map(lambda t: f'PadLeft({t[0]}, {t[1]}, "0")'),
            num.map(lambda x: f"CStr({x})"),
            typed("mv", depth - 1).map(lambda x: f'Join({x}, ",")'),
            st.tuples(typed("mv", depth - 1), num).map(lambda t: f"ItemOrNull({t[0]}, {t[1]})"),
        ],
        "num": [
            s.map(lambda x: f"Len({x})"),
            st.tuples(s, s).map(lambda t: f"InStr({t[0]}, {t[1]})"),
            st.tuples(s, s).map(lambda t: f"InStrRev({t[0]}, {t[1]})"),
            st.tuples(num, num).map(lambda t: f"{t[0]} + {t[1]}"),
            st.tuples(num, num).map(lambda t: f"({t[0]}) - ({t[1]})"),
            st.tuples(num, num).map(lambda t: f"BitAnd({t[0]}, {t[1]})"),
            st.tuples(b, num, num).map(lambda t: f"IIF({t[0]}, {t[1]}, {t[2]})"),
            typed("mv", depth - 1).map(lambda x: f"Count({x})"),
            st.tuples(typed("mv", depth - 1), s).map(lambda t: f"Contains({t[0]}, {t[1]})"),
        ],
        "bool": [
            st.tuples(s, s).map(lambda t: f"{t[0]} = {t[1]}"),
            st.tuples(num, num).map(lambda t: f"{t[0]} < {t[1]}"),
            st.tuples(b, b).map(lambda t: f"({t[0]}) && ({t[1]})"),
            st.tuples(b, b).map(lambda t: f"({t[0]}) || ({t[1]})"),
            s.map(lambda x: f"IsPresent({x})"),
            num.map(lambda x: f"CBool({x})"),
        ],
        "mv": [
            st.just("Trim([m1])"),
            st.just('Select($item, [m1], UCase($item) & "!")'),
            s.map(lambda x: f"Where($item, [m1], $item <> {x})"),
            s.map(lambda x: f'Split({x}, ",")'),
            st.just('IIF(InStr([m1], "a") = 1, NULL, [m1])'),
            st.just("RemoveDuplicates([m1])"),
            s.map(lambda x: f"[m1] & {x}"),
        ],
    }
    base = typed(kind, 0)
    return st.one_of(base, *choices[kind])


# No shrinking: each example compiles and runs a frame, and shrinking a failure took minutes.
@settings(
    max_examples=60,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.sampled_from(["str", "num", "bool", "mv"]).flatmap(lambda k: typed(k, 3)), ROWS)
def test_compiled_and_reference_agree(text: str, rows: list[dict[str, Any]]) -> None:
    try:
        compiled = compile_expression(text, schema=SCHEMA)
    except ExpressionError as exc:
        raise AssertionError(f"generated expression does not compile: {exc}") from exc
    exprs = [compiled.expr.alias("value")]
    if compiled.error_expr is not None:
        exprs.append(compiled.error_expr.alias("error"))
    frame = pl.DataFrame(rows, schema=SCHEMA)
    for lazy in (False, True):
        result = frame.lazy().select(exprs).collect() if lazy else frame.select(exprs)
        for row, record in zip(rows, result.iter_rows(named=True), strict=True):
            try:
                expected: Any = evaluate(text, row, schema=SCHEMA)
                failed = False
            except ExpressionRuntimeError:
                expected, failed = None, True
            got_error = record.get("error") is not None
            assert got_error == failed, (text, row, record, expected)
            if not failed:
                assert record["value"] == expected, (text, row, record["value"], expected)
