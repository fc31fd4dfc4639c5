"""The sync cycle as Prefect flows and tasks.

Azure AD Connect's order: import every AD connector, then Entra ID; sync; export to Entra ID, then to
AD. Tasks are coarse (one per connector and stage), exchange names and run ids rather than frames,
and each opens the store for the duration of its step (DuckDB allows one writer process; tasks of a
cycle run one after another in the flow's process).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import uuid
from pathlib import Path
from typing import Any, Literal

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.context import get_run_context

from flows.config import AdConnectorConfig, Config, Partition, load_config
from flows.connectors.factory import build_connector
from flows.connectors.ldif import LdifConnector
from flows.errors import ConfigError
from flows.rulesets import load_rule_set, rule_set_hash
from flows.stages.exporting import export_connector
from flows.stages.importing import import_connector_space
from flows.stages.syncing import synchronize
from flows.store import Store
from transforms.sync.ou_scope import normalize_dn

Policy = Literal["delta", "initial"]
IMPORT_ORDER = {"ad": 0, "ldif": 0, "aad": 1}


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """The run's logger inside Prefect; a plain one when a task's ``.fn`` runs outside a flow (tests)."""
    try:
        return get_run_logger()
    except Exception:
        return logging.getLogger("forestsync.cycle")


def _flow_run_id() -> str | None:
    try:
        context = get_run_context()
    except Exception:
        return None
    run = getattr(context, "flow_run", None) or getattr(
        getattr(context, "task_run", None), "flow_run_id", None
    )
    return str(getattr(run, "id", run)) if run else None


OVERRIDES_SETTING = "connector_overrides"  # {connector: {"full_import": bool, "full_sync": bool}}


def scope_setting(connector: str) -> str:
    return f"connector_scope:{connector}"


def connector_scope_hash(config: Config, connector: str) -> str:
    """What a full import depends on: partitions, OU filters, object types, attribute list, source file."""
    settings = config.connector(connector).model_dump(
        mode="json", include={"partitions", "object_types", "attributes", "path", "host", "kind"}
    )
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def set_override_value(store: Store, connector: str, key: str, value: bool) -> None:
    overrides = dict(store.get_setting(OVERRIDES_SETTING) or {})
    overrides.setdefault(connector, {})[key] = value
    store.set_setting(OVERRIDES_SETTING, overrides)


def set_override(store: Store, connector: str, *, full_import: bool = False, full_sync: bool = False) -> None:
    """Record that the next cycle must run a full import and/or full sync (Set-ADSyncSchedulerConnectorOverride).

    Asking again never cancels an earlier request; the cycle clears a flag once it ran the full step.
    """
    for key, wanted in (("full_import", full_import), ("full_sync", full_sync)):
        if wanted:
            set_override_value(store, connector, key, True)


def chosen_partitions(config: Config, connector: str, partitions: list[str]) -> list[Partition]:
    """The configured partitions of the AD connector ``connector`` that ``partitions`` name (DNs compare
    case-insensitively); a name that is not one of them is a :class:`ConfigError` naming both."""
    connector_config = config.connector(connector)
    if not isinstance(connector_config, AdConnectorConfig):
        raise ConfigError(
            f"connector {connector!r} is of kind {connector_config.kind}: only an AD connector (kind ad) "
            "has partitions to import one by one"
        )
    by_dn = {normalize_dn(p.dn): p for p in connector_config.partitions}
    unknown = [dn for dn in partitions if normalize_dn(dn) not in by_dn]
    if unknown:
        configured = "; ".join(p.dn for p in connector_config.partitions)
        raise ConfigError(
            f"connector {connector!r} has no partition {', '.join(repr(u) for u in unknown)} "
            f"(its partitions: {configured})"
        )
    return list({normalize_dn(dn): by_dn[normalize_dn(dn)] for dn in partitions}.values())


@task(task_run_name="import {connector}", retries=0)
def import_task(
    config_path: str | None,
    connector: str,
    cycle_id: str,
    full: bool,
    snapshot: str | None = None,
    partitions: list[str] | None = None,
) -> dict[str, Any]:
    """Full or delta import of one connector into its connector space (one run step).

    A delta import becomes a full import when an override asks for it or when the connector's scope
    (partitions, OU filters, object types, attribute list) changed since its last full import.
    ``snapshot`` replays an LDIF snapshot into the connector's space instead of reading the directory.
    ``partitions`` (an AD connector's) runs a full import of those partitions only: the others, their
    objects and their watermarks are left as they are.
    """
    config = load_config(config_path)
    logger = _logger()
    connector_config = config.connector(connector)
    chosen = chosen_partitions(config, connector, partitions) if partitions is not None else None
    scope = connector_scope_hash(config, connector)
    with Store(config.resolve(config.store)) as store:
        override = (store.get_setting(OVERRIDES_SETTING) or {}).get(connector, {})
        if not full and override.get("full_import"):
            logger.info("%s: a full import was required (connector override)", connector)
            full = True
        if not full and store.get_setting(scope_setting(connector)) not in (None, scope):
            logger.info(
                "%s: the connector's scope or attribute list changed: running a full import", connector
            )
            full = True
        if snapshot:
            source: Any = LdifConnector(connector, Path(snapshot))
        elif chosen is not None:
            source = build_connector(connector_config.model_copy(update={"partitions": chosen}), config)
        else:
            source = build_connector(connector_config, config)
        step = import_connector_space(
            store,
            source,
            cycle_id=cycle_id,
            full=full,
            flow_run_id=_flow_run_id(),
            partitions=[p.dn for p in chosen] if chosen is not None else None,
            known_partitions=[p.dn for p in getattr(connector_config, "partitions", [])],
        )
        # A full import of some partitions is not a full import of the connector's whole scope.
        if step["profile"] == "Full Import" and chosen is None:
            store.set_setting(scope_setting(connector), scope)
            if override.get("full_import"):
                set_override_value(store, connector, "full_import", False)
    where = f" ({', '.join(p.dn for p in chosen)})" if chosen is not None else ""
    logger.info("%s %s%s: %s %s", connector, step["profile"], where, step["status"], step["counters"])
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
            _logger().info("the rule set changed since the last sync: running a full sync")
            mode = "full"
        overrides = store.get_setting(OVERRIDES_SETTING) or {}
        if mode == "delta" and any(o.get("full_sync") for o in overrides.values()):
            _logger().info("a full sync was required (connector override)")
            mode = "full"
        steps = synchronize(store, config, rules, cycle_id=cycle_id, mode=mode, flow_run_id=_flow_run_id())
        store.set_setting(RULE_HASH_SETTING, digest)
        for connector in overrides:
            set_override_value(store, connector, "full_sync", False)
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
    logger = _logger()
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
        _logger().info("run history: purged %d runs older than %d days", purged, days)
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


def backfill_connectors(
    config: Config, connectors: list[str] | None, snapshot: str | None, partitions: list[str] | None
) -> list[str]:
    """The connectors a backfill reruns; every mistake in its arguments is a :class:`ConfigError` before
    anything runs (unknown connectors or partitions, a snapshot or partitions for several connectors)."""
    chosen = connectors or ordered_connectors(config)
    if snapshot and len(chosen) != 1:
        raise ConfigError("a snapshot replays into exactly one connector: name it in connectors")
    if partitions and (len(chosen) != 1 or not connectors):
        raise ConfigError("partitions belong to exactly one AD connector: name it in connectors")
    if partitions and snapshot:
        raise ConfigError("a snapshot replays a whole connector: it cannot be combined with partitions")
    for name in chosen:
        config.connector(name)
    if partitions:
        chosen_partitions(config, chosen[0], partitions)
    return chosen


@flow(name="backfill")
def backfill(
    config_path: str | None = None,
    connectors: list[str] | None = None,
    snapshot: str | None = None,
    export: bool = False,
    partitions: list[str] | None = None,
) -> dict[str, Any]:
    """Rerun chosen connectors from scratch: full import (or replay of an LDIF snapshot), full sync.

    ``connectors`` defaults to every connector; ``snapshot`` replays an LDIF file into the (single)
    chosen connector's space instead of reading its directory; ``partitions`` re-imports only those
    partitions of the (single) chosen AD connector. Exports run only with ``export`` so a replay can
    be inspected first (``forestsync search --pending export``); staging mode still only previews.
    """
    config = load_config(config_path)
    chosen = backfill_connectors(config, connectors, snapshot, partitions)
    cycle_id = uuid.uuid4().hex[:12]
    steps: list[dict[str, Any]] = []
    for name in [c for c in ordered_connectors(config) if c in chosen]:
        steps.append(import_task(config_path, name, cycle_id, True, snapshot, partitions or None))
    steps.extend(sync_task(config_path, cycle_id, "full"))
    if export:
        for name in export_order(config):
            steps.append(export_task(config_path, name, cycle_id, False))
    report = {"cycle_id": cycle_id, "policy": "backfill", "steps": steps}
    _publish_report(report)
    return report
