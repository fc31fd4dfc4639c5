"""The ``forestsync`` command line.

Heavy libraries (Polars, DuckDB, Prefect, ldap3, msgraph) are imported inside the commands, so that
``forestsync --help`` and ``forestsync expr check`` start fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer
from rich.console import Console
from rich.table import Table

from flows.cli_emulator import emulator_app
from flows.cli_expr import expr_app
from flows.cli_generate import generate
from flows.cli_ops import errors, preview, runs_app, search, show
from flows.cli_rules import rules_app
from flows.demo import demo
from flows.environment import prepare_prefect_environment
from flows.errors import ForestsyncError

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

app = typer.Typer(
    name="forestsync",
    help="Azure AD Connect sync semantics on Linux: AD forests to Entra ID, rules as code.",
    no_args_is_help=True,
    add_completion=False,
)
cs_app = typer.Typer(help="Connector spaces: what each connector imported.", no_args_is_help=True)
app.add_typer(cs_app, name="cs")
app.command("generate")(generate)
app.command("demo")(demo)
app.add_typer(expr_app, name="expr")
app.add_typer(rules_app, name="rules")
app.add_typer(emulator_app, name="emulator")
app.add_typer(runs_app, name="runs")
app.command("errors")(errors)
app.command("search")(search)
app.command("show")(show)
app.command("preview")(preview)

console = Console()
err_console = Console(stderr=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="forestsync.yaml (default: $FORESTSYNC_CONFIG or ./forestsync.yaml)"),
]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]


def fail(exc: ForestsyncError, code: int = 2) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False, soft_wrap=True)
    return typer.Exit(code)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, sort_keys=False, default=str) + "\n")


@app.command()
def sync(
    config: ConfigOption = None,
    policy: Annotated[str, typer.Option(help="delta or initial (full import + full sync)")] = "delta",
    allow_deletes_once: Annotated[
        bool,
        typer.Option("--allow-deletes-once", help="export even past the deletion threshold, this cycle only"),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Run one sync cycle now (import every connector, sync, export), as a Prefect flow."""
    if policy not in {"delta", "initial"}:
        raise typer.BadParameter("policy is delta or initial")
    prepare_prefect_environment()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from flows.cli_progress import CycleProgress, cycle_steps
    from flows.config import load_config
    from flows.cycle import export_order, sync_cycle

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        cfg = load_config(config)
        total = cycle_steps(len(cfg.connectors), len(export_order(cfg)))
        with (
            Progress(
                *columns, console=err_console, disable=as_json or not err_console.is_terminal
            ) as progress,
            CycleProgress(progress, total) as steps,
        ):
            report = sync_cycle(
                config_path=str(config) if config else None,
                policy="initial" if policy == "initial" else "delta",
                allow_deletes_once=allow_deletes_once,
            )
            steps.finish()
    except ForestsyncError as exc:
        raise fail(exc) from None
    _print_report(report, as_json)


def _print_report(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(report)
        return
    table = Table(title=f"sync cycle {report['cycle_id']} ({report['policy']})")
    for column in ("connector", "profile", "status", "counters"):
        table.add_column(column)
    for step in report["steps"]:
        counters = ", ".join(f"{k}={v}" for k, v in step["counters"].items() if v)
        table.add_row(step["connector"], step["profile"], step["status"], counters or "-")
    console.print(table)


@app.command()
def serve(config: ConfigOption = None) -> None:
    """Serve the deployments (delta cycle every schedule.interval_minutes, initial cycle, backfill) until stopped.

    Runs without a work pool; the runs show in the Prefect UI of PREFECT_API_URL (or a temporary local
    server). Stop with Ctrl-C or SIGTERM.
    """
    from datetime import timedelta

    prepare_prefect_environment()
    from prefect import serve as prefect_serve

    from flows.config import load_config
    from flows.cycle import backfill, sync_cycle

    try:
        cfg = load_config(config)
    except ForestsyncError as exc:
        raise fail(exc) from None
    path = str(config) if config else None
    interval = timedelta(minutes=cfg.schedule.interval_minutes)
    console.print(
        f"serving forestsync deployments: delta cycle every {interval}, initial cycle and backfill on demand"
    )
    deployments = [
        sync_cycle.to_deployment(
            name="delta-cycle",
            interval=interval,
            parameters={"config_path": path, "policy": "delta"},
            concurrency_limit=1,
        ),
        sync_cycle.to_deployment(name="initial-cycle", parameters={"config_path": path, "policy": "initial"}),
        backfill.to_deployment(name="backfill", parameters={"config_path": path}),
    ]
    # to_deployment is typed as sync-or-async; called from sync code it returns the deployment.
    prefect_serve(*(cast("RunnerDeployment", d) for d in deployments))


@app.command()
def override(
    connector: Annotated[str, typer.Argument(help="connector name")],
    full_import: Annotated[
        bool, typer.Option("--full-import", help="the next cycle runs a full import")
    ] = False,
    full_sync: Annotated[bool, typer.Option("--full-sync", help="the next cycle runs a full sync")] = False,
    config: ConfigOption = None,
) -> None:
    """Require a full import and/or full sync of one connector in the next cycle (a scheduler override)."""
    from flows.config import load_config
    from flows.cycle import set_override
    from flows.store import Store

    if not (full_import or full_sync):
        raise typer.BadParameter("say --full-import and/or --full-sync")
    try:
        cfg = load_config(config)
        cfg.connector(connector)
        with Store(cfg.resolve(cfg.store)) as store:
            set_override(store, connector, full_import=full_import, full_sync=full_sync)
    except ForestsyncError as exc:
        raise fail(exc) from None
    console.print(
        f"{connector}: next cycle runs"
        + (" a full import" if full_import else "")
        + (" and" if full_import and full_sync else "")
        + (" a full sync" if full_sync else "")
    )


@app.command()
def backfill(
    connector: Annotated[
        list[str] | None, typer.Option("--connector", help="connector to rerun (repeatable; default all)")
    ] = None,
    snapshot: Annotated[
        Path | None, typer.Option(help="replay this LDIF snapshot into the one chosen connector")
    ] = None,
    partition: Annotated[
        list[str] | None,
        typer.Option(
            "--partition",
            help="re-import only this partition (naming context DN) of the one AD --connector; repeatable",
        ),
    ] = None,
    export: Annotated[
        bool, typer.Option("--export", help="export the result (default: only stage it)")
    ] = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Rerun chosen connectors from scratch (full import or snapshot replay, full sync), as a Prefect flow.

    With --partition, only those partitions of one AD connector are re-imported: what they no longer
    hold is deleted, the other partitions are left as they are.
    """
    prepare_prefect_environment()
    from flows.config import load_config
    from flows.cycle import backfill as backfill_flow
    from flows.cycle import backfill_connectors

    try:
        # The arguments are checked before a flow run starts: mistakes cost no Prefect start-up.
        backfill_connectors(
            load_config(config), connector or None, str(snapshot) if snapshot else None, partition or None
        )
        report = backfill_flow(
            config_path=str(config) if config else None,
            connectors=connector or None,
            snapshot=str(snapshot) if snapshot else None,
            export=export,
            partitions=partition or None,
        )
    except ForestsyncError as exc:
        raise fail(exc) from None
    _print_report(report, as_json)


@cs_app.command("stats")
def cs_stats(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Objects per connector and object type, with pending imports."""
    from flows.config import load_config
    from flows.store import Store

    try:
        cfg = load_config(config)
        with Store(cfg.resolve(cfg.store)) as store:
            stats = store.connector_space_stats()
    except ForestsyncError as exc:
        raise fail(exc) from None
    rows = stats.to_dicts()
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"connector spaces ({cfg.resolve(cfg.store)})")
    for column in stats.columns:
        table.add_column(column, justify="right" if column not in {"connector", "object_type"} else "left")
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    console.print(table)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
