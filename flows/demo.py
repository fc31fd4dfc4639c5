"""``forestsync demo``: the whole job on generated data, end to end, on this machine.

Generates a forest, starts the emulated tenant on loopback, runs an initial cycle into it (Prefect
flow), prints the counters and a few objects as the tenant holds them, changes some objects in the
forest, runs a delta cycle and prints what changed. Everything lands under ``out/``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

console = Console()

SECRET_ENV = "FORESTSYNC_DEMO_CLIENT_SECRET"
SHOWN = (
    "userPrincipalName",
    "displayName",
    "department",
    "jobTitle",
    "accountEnabled",
    "onPremisesImmutableId",
)


def demo(
    users: Annotated[int, typer.Option(help="users in the generated forest")] = 10_000,
    out: Annotated[Path, typer.Option(help="folder for the forest, the tenant and the state")] = Path("out"),
    budget_scale: Annotated[
        float,
        typer.Option(help="the emulated tenant's write budget, as a multiple of Graph's 3,000 per 150 s"),
    ] = 50.0,
) -> None:
    """Generate a forest, sync it into the emulated tenant, change it, sync the delta; show each step."""
    from emulator.forest import generate_forest
    from emulator.graph import ThrottleConfig, start
    from emulator.ldif import write_ldif
    from flows.cycle import sync_cycle
    from flows.environment import prepare_prefect_environment

    prepare_prefect_environment()
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("demo.duckdb", "tenant.json"):
        (out / stale).unlink(missing_ok=True)

    console.rule("1. generate a forest")
    started = time.perf_counter()
    forest = generate_forest(users, max(1, users // 10), 2, seed=7)
    ldif = out / "forest.ldif"
    write_ldif(forest, ldif)
    console.print(f"{forest.object_count:,} objects -> {ldif} ({time.perf_counter() - started:.1f} s)")

    console.rule("2. start the emulated tenant (loopback only)")
    throttle = ThrottleConfig(writes=int(3000 * budget_scale), window_s=150.0)
    # The forest's UPN suffixes are the tenant's verified domains, as an admin sets them up before syncing.
    domains = [d.dns_name for d in forest.domains] + [d.mail_domain for d in forest.domains]
    tenant = start(state_file=out / "tenant.json", throttle=throttle, seed=7, verified_domains=domains)
    try:
        os.environ[SECRET_ENV] = tenant.client_secret
        config = _write_config(out, ldif, tenant, throttle.writes, throttle.window_s)
        console.print(f"Graph {tenant.base_url}  tenant {tenant.tenant_id}  config {config}")
        console.print(f"write budget {throttle.writes_per_s:,.0f} writes/s ({budget_scale:g}x Graph's)")

        console.rule("3. initial cycle: full import, full sync, export")
        started = time.perf_counter()
        report = sync_cycle(config_path=str(config), policy="initial")
        _print_report(report, time.perf_counter() - started)
        _print_tenant(tenant, "users in the tenant")

        console.rule("4. change the forest: departments, disabled accounts, deletions")
        changed = _change_forest(forest, ldif)
        console.print(changed["summary"])

        console.rule("5. delta cycle")
        started = time.perf_counter()
        report = sync_cycle(config_path=str(config), policy="delta")
        _print_report(report, time.perf_counter() - started)
        _print_tenant(tenant, "changed users in the tenant", only=changed["anchors"])
        tenant.save()
    finally:
        tenant.stop()


def _write_config(out: Path, ldif: Path, tenant: Any, writes: int, window_s: float) -> Path:
    config = out / "demo.yaml"
    config.write_text(
        f"""# Written by `forestsync demo`: a generated forest synced into the emulated tenant.
store: demo.duckdb
rules: [{Path("rules").resolve()}]
connectors:
  - name: lab
    kind: ldif
    path: {ldif.name}
    forest: corp.example.com
  - name: aad
    kind: aad
    tenant_id: {tenant.tenant_id}
    client_id: {tenant.client_id}
    client_secret: env:{SECRET_ENV}
    authority: {tenant.authority}
    graph_url: {tenant.base_url}
    ca_file: {tenant.ca_cert_path}
    extension_app_id: {tenant.client_id}
    write_budget: {writes}          # the demo tenant's budget ({writes:,} writes per {window_s:g} s)
    write_window_s: {window_s}
""",
        encoding="utf-8",
    )
    return config


def _print_report(report: dict[str, Any], seconds: float) -> None:
    table = Table(title=f"cycle {report['cycle_id']} ({report['policy']}) in {seconds:.1f} s")
    for column in ("connector", "profile", "status", "counters"):
        table.add_column(column)
    for step in report["steps"]:
        counters = ", ".join(f"{k}={v}" for k, v in step["counters"].items() if v) or "-"
        table.add_row(step["connector"], step["profile"], step["status"], counters)
    console.print(table)


def _print_tenant(tenant: Any, title: str, only: set[str] | None = None) -> None:
    """Users as the tenant holds them; ``only`` picks them by immutable id (the sourceAnchor)."""
    with tenant.directory.lock:
        users = [o.view() for o in tenant.directory.of_kind("user")]
        groups = tenant.directory.count("group")
        devices = tenant.directory.count("device")
    console.print(f"tenant: {len(users):,} users, {groups:,} groups, {devices:,} devices")
    picked = [u for u in users if only is None or u.get("onPremisesImmutableId") in only]
    picked.sort(key=lambda u: str(u.get("userPrincipalName")))
    table = Table(title=title)
    for column in SHOWN:
        table.add_column(column)
    for user in picked[:8]:
        table.add_row(*(str(user.get(c, "")) for c in SHOWN))
    console.print(table)


def _change_forest(forest: Any, ldif: Path) -> dict[str, Any]:
    import dataclasses

    import polars as pl

    from emulator.ldif import write_ldif

    users = forest.users.with_row_index("_i")
    n = users.height
    moved = (pl.col("_i") % 97) == 3  # about 1%: new department
    disabled = (pl.col("_i") % 211) == 5  # about 0.5%: account disabled
    deleted = (pl.col("_i") % 331) == 7  # about 0.3%: deleted
    changed = users.with_columns(
        pl.when(moved)
        .then(pl.lit("Platform Engineering"))
        .otherwise(pl.col("department"))
        .alias("department"),
        pl.when(disabled)
        .then(pl.col("userAccountControl") | 2)
        .otherwise(pl.col("userAccountControl"))
        .alias("userAccountControl"),
    )
    anchors = set(changed.filter(moved | disabled)["objectGUID"].bin.encode("base64").to_list())
    counts = changed.select(moved.sum().alias("m"), disabled.sum().alias("d"), deleted.sum().alias("x")).row(
        0
    )
    changed = changed.filter(~deleted).drop("_i")
    write_ldif(dataclasses.replace(forest, users=changed), ldif)
    return {
        "summary": f"of {n:,} users: {counts[0]} moved to Platform Engineering, {counts[1]} disabled, {counts[2]} deleted",
        "anchors": anchors,
    }
