"""Operator commands (the Synchronization Service Manager's views): ``runs``, ``errors``, ``search``,
``show`` and ``preview``. Mounted by ``flows/cli.py``; every command opens the store read-only.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from flows.errors import ForestsyncError

if TYPE_CHECKING:
    from flows.config import Config
    from flows.store import Store

runs_app = typer.Typer(
    help="Run history: one row per run step (connector, profile, status, counters).",
    invoke_without_command=True,
)

console = Console()
err_console = Console(stderr=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="forestsync.yaml (default: $FORESTSYNC_CONFIG or ./forestsync.yaml)"),
]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]
ConnectorOption = Annotated[
    str | None,
    typer.Option("--connector", help="only objects of this connector (disambiguates an anchor or DN)"),
]
CELL = 100


def _fail(exc: ForestsyncError, code: int = 2) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _open(config: Path | None) -> tuple[Config, Store]:
    from flows.config import load_config
    from flows.store import Store

    cfg = load_config(config)
    return cfg, Store(cfg.resolve(cfg.store), read_only=True)


def _cell(value: Any) -> str:
    if isinstance(value, datetime):
        value = value.strftime("%Y-%m-%d %H:%M:%S")
    text = "-" if value is None else value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= CELL else text[: CELL - 1] + "…"


def _table(title: str, rows: list[dict[str, Any]], columns: list[str]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(row.get(c)) for c in columns))
    return table


# -- runs --------------------------------------------------------------------------------------------


@runs_app.callback()
def runs(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="how many runs, newest first")] = 20,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """The run history, newest first: run id, cycle, connector, profile, status, start, end, counters."""
    if ctx.invoked_subcommand is not None:
        return
    from flows.inspection import counters_summary, run_history

    try:
        _cfg, store = _open(config)
        with store:
            history = run_history(store, limit=limit)
    except ForestsyncError as exc:
        raise _fail(exc) from None
    if as_json:
        _print_json(history)
        return
    rows = [r | {"counters": counters_summary(r["counters"])} for r in history]
    columns = ["run_id", "cycle_id", "connector", "profile", "status", "started_at", "ended_at", "counters"]
    console.print(_table("run history", rows, columns))


@runs_app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(help="a run id or a unique prefix of one")],
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """One run: every counter, the message, and the errors of that run."""
    from flows.inspection import find_run, run_errors

    try:
        _cfg, store = _open(config)
        with store:
            run = find_run(store, run_id)
            errors = run_errors(store, run_id=run["run_id"], limit=5000).to_dicts()
    except ForestsyncError as exc:
        raise _fail(exc) from None
    if as_json:
        _print_json(run | {"errors": errors})
        return
    keys = ("run_id", "cycle_id", "connector", "profile", "partition", "status", "started_at", "ended_at")
    for key in (*keys, "message"):
        console.print(f"[bold]{key}[/]: {_cell(run[key])}", highlight=False)
    counters = [{"counter": k, "value": v} for k, v in sorted(run["counters"].items())]
    console.print(_table("counters", counters, ["counter", "value"]))
    console.print(
        _table(f"errors ({len(errors)})", errors, ["connector", "error_type", "_anchor", "message"])
    )


# -- errors ------------------------------------------------------------------------------------------


def errors(
    run: Annotated[
        str | None, typer.Option("--run", help="only the errors of this run (its id or a prefix of it)")
    ] = None,
    connector: Annotated[str | None, typer.Option("--connector", help="only this connector")] = None,
    error_type: Annotated[
        str | None,
        typer.Option("--type", help="only this error type, e.g. sync-rule-error-function-triggered"),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1)] = 100,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Synchronization and export errors, newest first."""
    from flows.inspection import run_errors

    try:
        _cfg, store = _open(config)
        with store:
            rows = run_errors(
                store, run_id=run, connector=connector, error_type=error_type, limit=limit
            ).to_dicts()
    except ForestsyncError as exc:
        raise _fail(exc) from None
    if as_json:
        _print_json(rows)
        return
    columns = ["occurred_at", "run_id", "connector", "stage", "error_type", "_anchor", "_dn", "message"]
    console.print(_table(f"errors ({len(rows)})", rows, columns))


# -- search ------------------------------------------------------------------------------------------


def search(
    mv: Annotated[str | None, typer.Option("--mv", help="search the metaverse objects of this type")] = None,
    cs: Annotated[str | None, typer.Option("--cs", help="search this connector's connector space")] = None,
    object_type: Annotated[
        str | None, typer.Option("--type", help="connector-space object type (default: every type)")
    ] = None,
    where: Annotated[
        list[str] | None,
        typer.Option(
            "--where",
            "-w",
            help="ATTR=VALUE (equals), ATTR~TEXT (contains, any case) or ATTR? (present); repeatable, all must hold",
        ),
    ] = None,
    pending: Annotated[
        str | None, typer.Option("--pending", help="import or export: objects with a pending import/export")
    ] = None,
    op: Annotated[
        str | None,
        typer.Option("--op", help="with --pending: add, update or delete (a pending delete-add is both)"),
    ] = None,
    attribute: Annotated[
        list[str] | None, typer.Option("--attr", "-a", help="also show this attribute; repeatable")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1)] = 50,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Search the metaverse (--mv TYPE) or a connector space (--cs CONNECTOR) by attribute conditions."""
    if pending not in (None, "import", "export"):
        raise typer.BadParameter("--pending is import or export")
    if op not in (None, "add", "update", "delete"):
        raise typer.BadParameter("--op is add, update or delete")
    from flows.inspection import decoded
    from flows.inspection import search as run_search
    from transforms.ops.conditions import parse_condition

    try:
        conditions = [parse_condition(w) for w in where or []]
        _cfg, store = _open(config)
        with store:
            result = run_search(
                store,
                mv_type=mv,
                connector=cs,
                object_type=object_type,
                conditions=conditions,
                pending=pending,  # type: ignore[arg-type]  # checked against the literals above
                op=op,  # type: ignore[arg-type]  # checked against the literals above
                attributes=attribute or [],
                limit=limit,
            )
    except ForestsyncError as exc:
        raise _fail(exc) from None
    frame = result.objects
    shown = [c for c in frame.columns if c not in {"connector", "object_type"} and not c.startswith("_")]
    rows = decoded(frame, *shown)
    if as_json:
        _print_json({"matched": result.matched, "objects": rows})
        return
    where_text = " and ".join(where or []) or "all"
    title = f"{mv or cs}: {where_text} — {result.matched} matched" + (
        f", first {len(rows)} shown" if len(rows) < result.matched else ""
    )
    console.print(_table(title, rows, frame.columns))


# -- show and preview ------------------------------------------------------------------------------


def show(
    name: Annotated[
        str, typer.Argument(metavar="OBJECT", help="a metaverse id, a connector-space anchor or a DN")
    ],
    connector: ConnectorOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """One object: attributes with provenance, lineage, connector-space images, pending exports, errors."""
    from flows.inspection import describe_object, resolve_object

    try:
        _cfg, store = _open(config)
        with store:
            report = describe_object(store, resolve_object(store, name, connector=connector))
    except ForestsyncError as exc:
        raise _fail(exc) from None
    if as_json:
        _print_json(report)
        return
    console.print(
        f"[bold]metaverse object[/]: {report['mv_id'] or '- (disconnector)'} ({report['mv_object_type'] or '-'})"
    )
    console.print(_table("attributes", report["attributes"], ["attribute", "value", "connector", "rule"]))
    lineage = ["connector", "object_type", "_anchor", "_dn", "rule", "link_type", "direction"]
    console.print(_table("lineage", report["lineage"], lineage))
    for image in report["connector_objects"]:
        if image["attributes"] is None:
            console.print(f"connector space {image['connector']}/{image['object_type']}: not imported yet")
            continue
        attrs = [{"attribute": k, "value": v} for k, v in (image["attributes"] or {}).items()]
        title = f"connector space {image['connector']}/{image['object_type']} {image['anchor'] or '(not created yet)'}"
        console.print(
            _table(f"{title} pending import: {image['pending_import'] or '-'}", attrs, ["attribute", "value"])
        )
    pending = ["connector", "object_type", "op", "attribute", "old_value", "new_value"]
    console.print(_table("pending exports", report["pending_exports"], pending))
    console.print(
        _table("errors", report["errors"], ["occurred_at", "connector", "stage", "error_type", "message"])
    )


def preview(
    name: Annotated[
        str, typer.Argument(metavar="OBJECT", help="a metaverse id, a connector-space anchor or a DN")
    ],
    connector: ConnectorOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """What a full sync would change on one object, computed in memory; nothing is written.

    Only the object's neighbourhood is synced (its metaverse object, the objects joined to it, its join
    candidates, what its references point at): the answer a full sync gives for it, at the cost of one
    object.
    """
    from flows.inspection import resolve_object
    from flows.preview import preview_object
    from flows.rulesets import load_rule_set

    try:
        cfg, store = _open(config)
        rules = load_rule_set([cfg.resolve(p) for p in cfg.rules], cfg.rule_options)
        with store:
            report = preview_object(store, cfg, rules, resolve_object(store, name, connector=connector))
    except ForestsyncError as exc:
        raise _fail(exc) from None
    if as_json:
        _print_json(report)
        return
    before, after = report["mv_id_before"] or "-", report["mv_id_after"] or "-"
    console.print(
        f"[bold]preview (full sync, not committed)[/]: {before} -> {after} ({report['mv_object_type'] or '-'})"
    )
    columns = ["attribute", "change", "old_value", "new_value", "rule", "connector"]
    console.print(_table("metaverse attribute changes", report["changes"], columns))
    lineage = ["connector", "object_type", "_anchor", "_dn", "rule", "link_type", "direction"]
    console.print(_table("links added", report["links_added"], lineage))
    console.print(_table("links removed", report["links_removed"], lineage))
    pending = ["connector", "object_type", "op", "attribute", "old_value", "new_value"]
    console.print(_table("pending exports", report["pending_exports"], pending))
    console.print(_table("errors", report["errors"], ["connector", "rule", "error_type", "message"]))
