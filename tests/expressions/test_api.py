"""The compiled form as the sync engine uses it: value, flag and error columns per row."""

from __future__ import annotations

import polars as pl
import pytest

from transforms.expressions import (
    AUTHORITATIVE_NULL,
    FLAG_AUTHORITATIVE_NULL,
    FLAG_IGNORE_THIS_FLOW,
    IGNORE_THIS_FLOW,
    NotVectorizableError,
    compile_expression,
    evaluate,
)

RULE = 'IIF([a]="x", AuthoritativeNull, IIF([a]="y", IgnoreThisFlow, IIF([a]="e", Error("bad " & [a]), [a])))'


@pytest.mark.parametrize("lazy", [False, True])
def test_flag_and_error_columns_tell_the_special_results_apart(lazy: bool) -> None:
    frame = pl.DataFrame({"a": ["x", "y", "e", "v", None]})
    compiled = compile_expression(RULE, schema=frame.schema)
    assert compiled.flag_expr is not None and compiled.error_expr is not None
    exprs = [
        compiled.expr.alias("value"),
        compiled.flag_expr.alias("flag"),
        compiled.error_expr.alias("error"),
    ]
    out = frame.lazy().select(exprs).collect() if lazy else frame.select(exprs)
    assert out.schema["flag"] == pl.UInt8
    assert out.to_dicts() == [
        {"value": None, "flag": FLAG_AUTHORITATIVE_NULL, "error": None},
        {"value": None, "flag": FLAG_IGNORE_THIS_FLOW, "error": None},
        {"value": None, "flag": 0, "error": "bad e"},
        {"value": "v", "flag": 0, "error": None},
        {"value": None, "flag": 0, "error": None},
    ]


def test_reference_evaluator_returns_the_sentinels() -> None:
    assert evaluate(RULE, {"a": "x"}) is AUTHORITATIVE_NULL
    assert evaluate(RULE, {"a": "y"}) is IGNORE_THIS_FLOW


def test_plain_expressions_have_no_flag_or_error_channel() -> None:
    compiled = compile_expression("Trim([givenName])")
    assert compiled.flag_expr is None and compiled.error_expr is None


def test_attributes_include_names_in_quotes() -> None:
    compiled = compile_expression('IIF(ValueCount("member") > 0, ImportedValue("proxyAddresses"), [mail])')
    assert compiled.attributes == frozenset({"member", "proxyAddresses", "mail"})


def test_imported_value_reads_the_imported_column_when_the_schema_has_it() -> None:
    frame = pl.DataFrame({"sourceAnchor": ["staged"], "_imported.sourceAnchor": ["confirmed"]})
    compiled = compile_expression('ImportedValue("sourceAnchor")', schema=frame.schema)
    assert frame.select(compiled.expr).item() == "confirmed"
    fallback = compile_expression('ImportedValue("sourceAnchor")', schema={"sourceAnchor": pl.Utf8()})
    assert frame.select(fallback.expr).item() == "staged"


def test_multi_valued_result_is_a_list_column_without_nulls() -> None:
    frame = pl.DataFrame({"p": [["SIP:a", "smtp:b"], ["SIP:c"], None]})
    compiled = compile_expression('IIF(InStr([p],"SIP:")=1,NULL,[p])', schema=frame.schema)
    assert compiled.multi
    assert frame.select(compiled.expr).to_series().to_list() == [["smtp:b"], None, None]


def test_unvectorizable_use_is_reported_when_compiling() -> None:
    with pytest.raises(NotVectorizableError) as info:
        compile_expression('ReplaceChars("abc", [pattern])')
    assert info.value.column == 1


def test_certificate_functions_declare_their_waiver() -> None:
    compiled = compile_expression("CertThumbprint([c])", schema={"c": pl.Binary()})
    assert any("X.509" in w for w in compiled.waivers)


def test_an_attribute_absent_from_the_schema_is_an_untyped_null() -> None:
    """An attribute the frame lacks is NULL of no particular type (as the NULL literal), so it fits a
    binary IIF; the compiled form agrees with the reference evaluator."""
    text = "IIF(IsPresent([mS-DS-ConsistencyGuid]), [mS-DS-ConsistencyGuid], [objectGUID])"
    frame = pl.DataFrame({"objectGUID": [b"\x01\x02", None]})
    compiled = compile_expression(text, schema=frame.schema)
    assert compiled.value_type == "bin"
    values = frame.select(compiled.expr.alias("v"))["v"].to_list()
    assert (
        values
        == [evaluate(text, row, schema=frame.schema) for row in frame.to_dicts()]
        == [b"\x01\x02", None]
    )
    assert (
        frame.select(compile_expression('[absent] & "x"', schema=frame.schema).expr.alias("v"))["v"].to_list()
        == [evaluate('[absent] & "x"', {})] * 2
    )
