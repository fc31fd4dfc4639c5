"""Runs one compliance case through both back ends (reference; vectorized on eager and lazy frames)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from transforms.expressions import (
    AUTHORITATIVE_NULL,
    IGNORE_THIS_FLOW,
    ExpressionError,
    ExpressionRuntimeError,
    compile_expression,
    evaluate,
)
from transforms.expressions.jsonvalue import decode, frame, infer_schema

CASES = Path(__file__).parent / "cases"


@dataclass(frozen=True)
class Outcome:
    """("value", v) or ("error", kind, message)."""

    status: str
    value: object = None
    kind: str = ""
    message: str = ""


def load_cases() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(CASES.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        for index, case in enumerate(data["cases"]):
            out.append((f"{path.stem}-{index}", case))
    return out


def case_inputs(
    case: dict[str, Any],
) -> tuple[dict[str, object], dict[str, pl.DataType], dict[str, object] | None]:
    row = {k: decode(v) for k, v in case.get("row", {}).items()}
    imported = {k: decode(v) for k, v in case["imported"].items()} if "imported" in case else None
    rows: list[dict[str, object]] = [row]
    schema = infer_schema(rows, case.get("schema"))
    if imported is not None:
        imported_schema = infer_schema([imported])
        schema.update({f"_imported.{k}": v for k, v in imported_schema.items()})
    return row, schema, imported


def run_reference(case: dict[str, Any]) -> Outcome:
    row, schema, imported = case_inputs(case)
    try:
        value = evaluate(case["expression"], row, params=case.get("params"), imported=imported, schema=schema)
    except ExpressionRuntimeError as exc:
        return Outcome("error", kind="runtime", message=exc.message)
    except ExpressionError as exc:
        return Outcome("error", kind=exc.kind, message=str(exc))
    return Outcome("value", value)


def run_vectorized(case: dict[str, Any], lazy: bool) -> Outcome:
    row, schema, imported = case_inputs(case)
    data = dict(row)
    if imported is not None:
        data.update({f"_imported.{k}": v for k, v in imported.items()})
    full_schema = {"_row": pl.Int64(), **schema}
    df = frame([{"_row": 0, **data}], full_schema)
    try:
        compiled = compile_expression(case["expression"], params=case.get("params"), schema=schema)
    except ExpressionError as exc:
        return Outcome("error", kind=exc.kind, message=str(exc))
    exprs = [compiled.expr.alias("value")]
    if compiled.error_expr is not None:
        exprs.append(compiled.error_expr.alias("error"))
    if compiled.flag_expr is not None:
        exprs.append(compiled.flag_expr.alias("flag"))
    result = df.lazy().select(exprs).collect() if lazy else df.select(exprs)
    assert result.height == 1, f"expected one row, got {result.height}"
    record = result.row(0, named=True)
    if record.get("error") is not None:
        assert record["value"] is None, "a row with an error must have a null value"
        return Outcome("error", kind="runtime", message=record["error"])
    flag = record.get("flag") or 0
    if flag:
        assert record["value"] is None
        return Outcome("value", AUTHORITATIVE_NULL if flag == 1 else IGNORE_THIS_FLOW)
    return Outcome("value", record["value"])
