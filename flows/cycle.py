"""The sync cycle as Prefect flows and tasks.

Azure AD Connect's order: import every AD connector, then Entra ID; sync; export to Entra ID, then to
AD. Tasks are coarse (one per connector and stage), exchange names and run ids rather than frames,
and each opens the store for the duration of its step (DuckDB allows one writer process; tasks of a
cycle run one after another in the flow's process).
"""

from __future__ import annotations

import contextlib
import uuid
from pathlib import Path
from typing import Any, Literal

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.context import get_run_context

from flows.config import Config, load_config
from flows.connectors.factory import build_connector
from flows.rulesets import load_rule_set, rule_set_hash
from flows.stages.exporting import export_connector
from flows.stages.importing import import_connector_space
from flows.stages.syncing import synchronize
from flows.store import Store

Policy = Literal["delta", "initial"]
IMPORT_ORDER = {"ad": 0, "ldif": 0, "aad": 1}


def _flow_run_id() -> str | None:
    try:
        context = get_run_context()
    except Exception:
        return None
    run = getattr(context, "flow_run", None) or getattr(
        getattr(context, "task_run", None), "flow_run_id", None
    )
    return str(getattr(run, "id", run)) if run else None


@task(task_run_name="import {connector}", retries=0)
def import_task(config_path: str | None, connector: str, cycle_id: str, full: bool) -> dict[str, Any]:
    """Full or delta import of one connector into its connector space (one run step)."""
    config = load_config(config_path)
    logger = get_run_logger()
    connector_config = config.connector(connector)
    with Store(config.resolve(config.store)) as store:
        step = import_connector_space(
            store,
            build_connector(connector_config, config),
            cycle_id=cycle_id,
            full=full,
            flow_run_id=_flow_run_id(),
        )
    logger.info("%s %s: %s %s", connector, step["profile"], step["status"], step["counters"])
    return step


RULE_HASH_SETTING = "rule_set_hash"


@task(task_run_name="sync ({mode})")
def sync_task(config_path: str | None, cycle_id: str, mode: Literal["full", "delta"]) -> list[dict[str, Any]]:
    """Full or delta synchronization of every connector through the rule set (one step per connector)."""
    config = load_config(config_path)
    folders = [config.resolve(p) for p in config.rules]
    rules = load_rule_set(folders, config.rule_options)
    digest = rule_set_hash(folders, config.rule_options)
    with Store(config.resolve(config.store)) as store:
        if mode == "delta" and store.get_setting(RULE_HASH_SETTING) != digest:
            get_run_logger().info("the rule set changed since the last sync: running a full sync")
            mode = "full"
        steps = synchronize(store, config, rules, cycle_id=cycle_id, mode=mode, flow_run_id=_flow_run_id())
        store.set_setting(RULE_HASH_SETTING, digest)
    return steps


@task(task_run_name="export {connector}")
def export_task(
    config_path: str | None, connector: str, cycle_id: str, allow_deletes_once: bool
) -> dict[str, Any]:
    """Send one connector's pending exports (or, in staging mode, only write the export preview)."""
    config = load_config(config_path)
    connector_config = config.connector(connector)
    with Store(config.resolve(config.store)) as store:
        step = export_connector(
            store,
            build_connector(connector_config, config),
            kind=connector_config.kind,
            cycle_id=cycle_id,
            staging=config.export.staging,
            deletion_threshold=config.export.deletion_threshold,
            allow_deletes_once=allow_deletes_once,
            preview_dir=config.resolve(config.store).parent,
            flow_run_id=_flow_run_id(),
        )
    logger = get_run_logger()
    if step["status"] == "stopped-deletion-threshold-exceeded":
        logger.warning(step["message"])
    else:
        logger.info("%s Export: %s %s", connector, step["status"], step["counters"])
    if "preview" in step:
        _publish_preview(connector, step["preview"])
        del step["preview"]
    return step


def export_order(config: Config) -> list[str]:
    """Entra ID first, then the AD forests that have rules writing back; snapshots are never exported."""
    return [
        c.name
        for c in sorted(config.connectors, key=lambda c: 0 if c.kind == "aad" else 1)
        if c.kind != "ldif"
    ]


def _publish_preview(connector: str, preview: dict[str, Any]) -> None:
    counts = preview["counts"]
    lines = [
        f"# Export preview: {connector}",
        "",
        f"creates {counts.get('add', 0)}, updates {counts.get('update', 0)}, deletes {counts.get('delete', 0)}",
        "",
        "| op | type | object | attributes |",
        "|---|---|---|---|",
    ]
    for op, items in preview["objects"].items():
        for item in items[:200]:
            attrs = ", ".join(f"{k}={v['new']}" for k, v in list(item["attributes"].items())[:8])
            lines.append(f"| {op} | {item['object_type']} | {item['dn'] or item['mv_id']} | {attrs} |")
    with contextlib.suppress(Exception):
        create_markdown_artifact(
            markdown="\n".join(lines), key=f"export-preview-{connector}", description="Staging mode"
        )


def purge_run_history(config_path: str | None, days: int) -> int:
    """Delete the runs (and their errors) older than ``days``; returns how many runs went."""
    config = load_config(config_path)
    with Store(config.resolve(config.store)) as store:
        return store.purge_runs(days)


@task(task_run_name="purge run history")
def purge_task(config_path: str | None, days: int) -> int:
    """The end of every cycle: run history older than the retention goes (spec 1.6: 7 days by default)."""
    purged = purge_run_history(config_path, days)
    if purged:
        get_run_logger().info("run history: purged %d runs older than %d days", purged, days)
    return purged


def ordered_connectors(config: Config) -> list[str]:
    return [c.name for c in sorted(config.connectors, key=lambda c: IMPORT_ORDER.get(c.kind, 9))]


@flow(name="sync-cycle", log_prints=False)
def sync_cycle(
    config_path: str | None = None, policy: Policy = "delta", allow_deletes_once: bool = False
) -> dict[str, Any]:
    """One sync cycle in the product's order, with policy ``delta`` or ``initial``.

    ``allow_deletes_once`` lets this one cycle export more deletes than the deletion threshold.
    """
    config = load_config(config_path)
    cycle_id = uuid.uuid4().hex[:12]
    steps: list[dict[str, Any]] = []
    for name in ordered_connectors(config):
        steps.append(import_task(config_path, name, cycle_id, policy == "initial"))
    steps.extend(sync_task(config_path, cycle_id, "full" if policy == "initial" else "delta"))
    for name in export_order(config):
        steps.append(export_task(config_path, name, cycle_id, allow_deletes_once))
    purged = purge_task(config_path, config.schedule.purge_run_history_days)
    report = {"cycle_id": cycle_id, "policy": policy, "steps": steps, "purged_runs": purged}
    _publish_report(report)
    return report


def _publish_report(report: dict[str, Any]) -> None:
    lines = [
        f"# Sync cycle {report['cycle_id']} ({report['policy']})",
        "",
        "| connector | profile | status | counters |",
        "|---|---|---|---|",
    ]
    for step in report["steps"]:
        counters = ", ".join(f"{k}={v}" for k, v in step["counters"].items() if v) or "-"
        lines.append(f"| {step['connector']} | {step['profile']} | {step['status']} | {counters} |")
    # An artifact is a view of the run; the run history in the store is the record.
    with contextlib.suppress(Exception):
        create_markdown_artifact(
            markdown="\n".join(lines), key="sync-cycle-report", description="Run history of the cycle"
        )


def config_path_str(path: Path | None) -> str | None:
    return str(path) if path else None
