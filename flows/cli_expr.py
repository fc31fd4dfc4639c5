"""``forestsync expr``: check and evaluate sync-rule expressions from the command line.

Mounted by the main CLI as ``forestsync expr``; imports stay inside the commands so that startup is fast.
Exit codes: 0 ok, 2 the expression (or an input) is invalid, 3 ``Error(...)`` raised for the single row.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

expr_app = typer.Typer(
    name="expr",
    help="Check and evaluate Azure AD Connect sync-rule expressions.",
    no_args_is_help=True,
    add_completion=False,
)

EXIT_INVALID = 2
EXIT_RUNTIME_ERROR = 3


def _params(values: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            typer.echo(f"--param expects NAME=VALUE, got {item!r}", err=True)
            raise typer.Exit(EXIT_INVALID)
        out[name.strip("%")] = value
    return out


@expr_app.command("check")
def check(
    expression: Annotated[str, typer.Argument(help="The expression text.")],
) -> None:
    """Parse and type-check EXPRESSION; print the positioned error and exit 2 if it is invalid."""
    from transforms.expressions import ExpressionError, NotVectorizableError, compile_expression, parse

    try:
        parse(expression)
        try:
            compile_expression(expression, params=_AnyParams())
        except NotVectorizableError as exc:
            # Valid for the reference evaluator (single-object preview); the sync path refuses it.
            typer.echo(f"warning: {exc}", err=True)
    except ExpressionError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(EXIT_INVALID) from exc
    typer.echo("ok")


class _AnyParams(dict[str, str]):
    """Parameters are supplied by the connector at run time; a check accepts any name."""

    def __contains__(self, key: object) -> bool:
        return True

    def __missing__(self, key: str) -> str:
        return ""


def _load_rows(row: str | None, rows: Path | None) -> list[dict[str, Any]]:
    if (row is None) == (rows is None):
        typer.echo("give exactly one of --row JSON or --rows FILE.jsonl", err=True)
        raise typer.Exit(EXIT_INVALID)
    try:
        if row is not None:
            texts = [row]
        else:
            assert rows is not None
            texts = [line for line in rows.read_text(encoding="utf-8").splitlines() if line.strip()]
        loaded = [json.loads(text) for text in texts]
    except (OSError, json.JSONDecodeError) as exc:
        typer.echo(f"cannot read the input rows: {exc}", err=True)
        raise typer.Exit(EXIT_INVALID) from exc
    for item in loaded:
        if not isinstance(item, dict):
            typer.echo("each row must be a JSON object", err=True)
            raise typer.Exit(EXIT_INVALID)
    return loaded


def _evaluate_reference(
    expression: str, rows: list[dict[str, object]], params: dict[str, str], imported: dict[str, object] | None
) -> list[object]:
    from transforms.expressions import ExpressionRuntimeError, evaluate
    from transforms.expressions.jsonvalue import encode, infer_schema

    schema = infer_schema(rows)
    out: list[object] = []
    for row in rows:
        try:
            out.append(encode(evaluate(expression, row, params=params, imported=imported, schema=schema)))
        except ExpressionRuntimeError as exc:
            out.append({"error": exc.message})
    return out


def _evaluate_vectorized(
    expression: str, rows: list[dict[str, object]], params: dict[str, str], imported: dict[str, object] | None
) -> list[object]:
    import polars as pl

    from transforms.expressions import AUTHORITATIVE_NULL, IGNORE_THIS_FLOW, compile_expression
    from transforms.expressions.jsonvalue import encode, frame, infer_schema

    data = [dict(row) for row in rows]
    if imported is not None:
        for row in data:
            row.update({f"_imported.{k}": v for k, v in imported.items()})
    schema = infer_schema(data)
    compiled = compile_expression(expression, params=params, schema=schema)
    exprs = [compiled.expr.alias("value")]
    if compiled.error_expr is not None:
        exprs.append(compiled.error_expr.alias("error"))
    if compiled.flag_expr is not None:
        exprs.append(compiled.flag_expr.alias("flag"))
    df = frame([{"_row": i, **row} for i, row in enumerate(data)], {"_row": pl.Int64(), **schema})
    out: list[object] = []
    for record in df.select(exprs).iter_rows(named=True):
        if record.get("error") is not None:
            out.append({"error": record["error"]})
        elif record.get("flag"):
            out.append(encode(AUTHORITATIVE_NULL if record["flag"] == 1 else IGNORE_THIS_FLOW))
        else:
            out.append(encode(record["value"]))
    return out


@expr_app.command("eval")
def eval_(
    expression: Annotated[str, typer.Argument(help="The expression text.")],
    row: Annotated[str | None, typer.Option("--row", help="One object as JSON.")] = None,
    rows: Annotated[
        Path | None, typer.Option("--rows", help="A JSON-lines file, one object per line.")
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", help="NAME=VALUE, e.g. Domain.FQDN=contoso.com.")
    ] = None,
    imported: Annotated[
        str | None, typer.Option("--imported", help="Confirmed values for ImportedValue, as JSON.")
    ] = None,
    engine: Annotated[str, typer.Option("--engine", help="vectorized or reference.")] = "vectorized",
) -> None:
    """Evaluate EXPRESSION for each object and print one JSON value per line.

    Multi-valued values are arrays, binary {"base64": ...}, dates ISO-8601 UTC, NULL null, special
    literals {"special": ...}, an Error(...) raised for the object {"error": "<message>"}.
    Input values use the same forms; dates are {"datetime": "..."}.
    """
    from transforms.errors import InputError
    from transforms.expressions import ExpressionError
    from transforms.expressions.jsonvalue import decode

    if engine not in ("vectorized", "reference"):
        typer.echo("--engine must be vectorized or reference", err=True)
        raise typer.Exit(EXIT_INVALID)
    try:
        objects = [{k: decode(v) for k, v in item.items()} for item in _load_rows(row, rows)]
        imported_values = None
        if imported is not None:
            loaded = json.loads(imported)
            imported_values = {k: decode(v) for k, v in loaded.items()}
        params = _params(param)
        run = _evaluate_vectorized if engine == "vectorized" else _evaluate_reference
        results = run(expression, objects, params, imported_values)
    except ExpressionError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(EXIT_INVALID) from exc
    except (InputError, json.JSONDecodeError) as exc:
        typer.echo(f"invalid input: {exc}", err=True)
        raise typer.Exit(EXIT_INVALID) from exc
    for value in results:
        sys.stdout.write(json.dumps(value, ensure_ascii=False) + "\n")
    if row is not None and isinstance(results[0], dict) and "error" in results[0]:
        raise typer.Exit(EXIT_RUNTIME_ERROR)


if __name__ == "__main__":
    expr_app()
