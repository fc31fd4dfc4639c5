"""The synchronization run step: load the sync state, run the pure engine, persist the result.

The whole state is read from the store, :func:`transforms.sync.engine.run_sync` computes the new one,
and everything it produced (connector-space flags, metaverse, links, provenance, export memory,
pending exports, errors, one run row per connector) is committed in one transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Literal

import polars as pl

from flows.config import AadConnectorConfig, AdConnectorConfig, Config, LdifConnectorConfig
from flows.store import Store
from transforms.errors import InputError
from transforms.rules import Direction, SyncRule
from transforms.schema import MV_ID, PENDING_EXPORT_SCHEMA
from transforms.sync.engine import bind_rules, run_sync
from transforms.sync.frames import conform
from transforms.sync.schema import (
    DISCONNECTORS_SCHEMA,
    EXPORT_MEMORY_SCHEMA,
    LINKS_SCHEMA,
    PROVENANCE_SCHEMA,
    REFERENCE_INDEX_SCHEMA,
    STAGED_DELETES_SCHEMA,
)
from transforms.sync.state import SyncResult, SyncState

PROFILE_FULL = "Full Synchronization"
PROFILE_DELTA = "Delta Synchronization"
# Set once a sync has written the ``disconnectors`` table: before that (a store from an older version)
# the table is empty without meaning "no disconnectors".
DISCONNECTORS_SETTING = "sync.disconnectors_recorded"


def with_read_attributes(
    spaces: Mapping[str, Mapping[str, pl.DataFrame]], rules: tuple[SyncRule, ...], kinds: Mapping[str, str]
) -> dict[str, dict[str, pl.DataFrame]]:
    """Give each connector-space frame a typed (null) column for every attribute its inbound rules read.

    A directory leaves out attributes no object has, so a snapshot may lack, say, ``mS-DS-ConsistencyGuid``
    entirely; the rules still read it, and must see a binary null, not an untyped one. Types come from
    the connectors' attribute-type table.
    """
    from flows.connectors.attribute_types import attribute_type

    wanted: dict[tuple[str, str], set[str]] = {}
    for rule in rules:
        if rule.direction.value != "inbound" or rule.disabled:
            continue
        for connector, kind in kinds.items():
            if rule.connector.matches(connector, kind):
                wanted.setdefault((connector, rule.source_object_type), set()).update(rule.source_attributes)
    out: dict[str, dict[str, pl.DataFrame]] = {}
    for connector, types in spaces.items():
        out[connector] = {}
        for object_type, frame in types.items():
            missing = sorted(a for a in wanted.get((connector, object_type), ()) if a not in frame.columns)
            out[connector][object_type] = (
                frame.with_columns(pl.lit(None, attribute_type(a).dtype).alias(a) for a in missing)
                if missing
                else frame
            )
    return out


def load_sync_state(store: Store) -> SyncState:
    spaces: dict[str, dict[str, pl.DataFrame]] = {}
    for connector, object_type, _table in store.connector_space_types().iter_rows():  # one row per table
        frame = store.read_connector_space(connector, object_type)
        if frame is not None:
            spaces.setdefault(connector, {})[object_type] = frame
    metaverse = {t: f for t in store.metaverse_types() if (f := store.read_metaverse(t)) is not None}
    return SyncState(
        connector_spaces=spaces,
        metaverse=metaverse,
        # Provenance travels with the metaverse rows (``_by.<attribute>`` columns); the long
        # ``mv_provenance`` table is written for lineage queries, not read back.
        links=conform(store.read_table("links"), LINKS_SCHEMA),
        export_memory=conform(store.read_table("export_memory"), EXPORT_MEMORY_SCHEMA),
        reference_index=conform(store.read_table("reference_index"), REFERENCE_INDEX_SCHEMA),
        staged_deletes=conform(store.read_table("staged_deletes"), STAGED_DELETES_SCHEMA),
        disconnectors=conform(store.read_table("disconnectors"), DISCONNECTORS_SCHEMA)
        if store.get_setting(DISCONNECTORS_SETTING)
        else None,
    )


def save_sync_state(store: Store, state: SyncState) -> None:
    with store.transaction():
        for connector, types in state.connector_spaces.items():
            for object_type, frame in types.items():
                store.write_connector_space(connector, object_type, frame)
        for object_type, frame in state.metaverse.items():
            store.write_metaverse(object_type, frame)
        store.overwrite("mv_provenance", state.provenance.select(list(PROVENANCE_SCHEMA)))
        store.overwrite("links", state.links.select(list(LINKS_SCHEMA)))
        store.overwrite("export_memory", state.export_memory.select(list(EXPORT_MEMORY_SCHEMA)))
        store.overwrite("reference_index", state.reference_index.select(list(REFERENCE_INDEX_SCHEMA)))
        store.overwrite("staged_deletes", state.staged_deletes.select(list(STAGED_DELETES_SCHEMA)))
        if state.disconnectors is not None:
            store.overwrite("disconnectors", state.disconnectors.select(list(DISCONNECTORS_SCHEMA)))
        store.set_setting(DISCONNECTORS_SETTING, state.disconnectors is not None)


def connector_parameters(config: Config) -> dict[str, dict[str, str]]:
    """The connector-wide ``%Parameter%`` values (spec 3: Domain.*, Forest.*, Connector.ID).

    ``Domain.*`` here are the first partition's: what outbound flows and objects outside every partition
    see. Inbound flows read each object's own domain from :func:`partition_parameters`.
    """
    params: dict[str, dict[str, str]] = {}
    for connector in config.connectors:
        values = {"Connector.ID": connector.name, **config.parameters}
        forest = getattr(connector, "forest", None)
        if isinstance(connector, AdConnectorConfig) and connector.partitions:
            first = connector.partitions[0]
            fqdn = first.fqdn or _fqdn(first.dn)
            values |= _domain_values(fqdn, first.netbios)
            forest = forest or fqdn
        elif isinstance(connector, LdifConnectorConfig) and forest:
            values |= _domain_values(forest, None)
        if forest:
            values |= {
                "Forest.FQDN": forest,
                "Forest.Netbios": forest.split(".")[0].upper(),
                "Forest.LDAP": ",".join(f"DC={part}" for part in forest.split(".")),
            }
        params[connector.name] = values | connector.parameters
    return params


def partition_parameters(config: Config) -> dict[str, list[tuple[str, dict[str, str]]]]:
    """``Domain.*`` per partition of each AD connector with more than one partition (spec 3: the
    parameters of the domain the object lives in). Names the connector's own ``parameters`` set stay
    connector-wide."""
    out: dict[str, list[tuple[str, dict[str, str]]]] = {}
    for connector in config.connectors:
        if not isinstance(connector, AdConnectorConfig) or len(connector.partitions) < 2:
            continue
        out[connector.name] = [
            (
                partition.dn,
                {
                    k: v
                    for k, v in _domain_values(
                        partition.fqdn or _fqdn(partition.dn), partition.netbios
                    ).items()
                    if k not in connector.parameters
                },
            )
            for partition in connector.partitions
        ]
    return out


def _fqdn(dn: str) -> str:
    return ".".join(part.split("=", 1)[1] for part in dn.split(",") if part.strip().lower().startswith("dc="))


def _domain_values(fqdn: str, netbios: str | None) -> dict[str, str]:
    return {
        "Domain.FQDN": fqdn,
        "Domain.Netbios": netbios or fqdn.split(".")[0].upper(),
        "Domain.LDAP": ",".join(f"DC={part}" for part in fqdn.split(".")),
    }


def connector_kinds(config: Config) -> dict[str, str]:
    """Connectors in the product's sync order (AD forests first, then Entra ID) with their kinds."""
    order = sorted(config.connectors, key=lambda c: 1 if isinstance(c, AadConnectorConfig) else 0)
    return {c.name: c.kind for c in order}


def check_attribute_lists(config: Config, rules: tuple[SyncRule, ...]) -> None:
    """Every attribute an outbound rule writes to an AD connector is in that connector's attribute list.

    An attribute left out of ``attributes:`` is never imported, so an export of it could never be
    confirmed and would be sent again every cycle. Raises one error naming each rule (file, line and
    column), the attribute and the connector.
    """
    listed = {
        c.name: {a.lower() for a in c.attributes}
        for c in config.connectors
        if isinstance(c, AdConnectorConfig) and c.attributes is not None
    }
    if not listed:
        return
    problems = [
        f"{flow.position}: rule {bound.name!r} writes {flow.destination!r} to connector {bound.connector!r},"
        f" whose attributes list leaves it out (an export of it could never be confirmed by an import);"
        f" add it to the connector's attributes"
        for bound in bind_rules(rules, list(connector_kinds(config)), connector_kinds(config))
        if bound.connector in listed and bound.rule.direction is Direction.OUTBOUND
        for flow in bound.rule.flows
        if flow.destination.lower() not in listed[bound.connector] and flow.destination.lower() != "dn"
    ]
    if problems:
        raise InputError("\n".join(problems))


def synchronize(
    store: Store,
    config: Config,
    rules: tuple[SyncRule, ...],
    *,
    cycle_id: str,
    mode: Literal["full", "delta"],
    flow_run_id: str | None = None,
) -> list[dict[str, Any]]:
    """Run one full or delta sync over the stored state; returns one run step per connector."""
    profile = PROFILE_FULL if mode == "full" else PROFILE_DELTA
    check_attribute_lists(config, rules)
    state = load_sync_state(store)
    kinds = connector_kinds(config)
    state = replace(state, connector_spaces=with_read_attributes(state.connector_spaces, rules, kinds))
    result = run_sync(
        state,
        rules,
        mode=mode,
        connectors=kinds,
        params_by_connector=connector_parameters(config),
        partition_params_by_connector=partition_parameters(config),
    )
    steps = _steps(result, config, cycle_id, profile)
    with store.transaction():
        save_sync_state(store, result.state)
        _save_pending_exports(store, result, full=mode == "full")
        for step in steps:
            store.start_run(
                step["run_id"],
                cycle_id=cycle_id,
                connector=step["connector"],
                profile=profile,
                flow_run_id=flow_run_id,
            )
            store.finish_run(step["run_id"], status=step["status"], counters=step["counters"])
        if result.errors.height:
            run_of = {s["connector"]: s["run_id"] for s in steps}
            store.record_errors(
                result.errors.select(
                    pl.col("connector").replace_strict(run_of, default=None).alias("run_id"),
                    "connector",
                    "_anchor",
                    pl.lit(None, pl.String).alias("_dn"),
                    pl.lit("sync").alias("stage"),
                    "error_type",
                    "message",
                    pl.concat_str(
                        pl.lit("rule: "),
                        pl.col("rule").fill_null("-"),
                        pl.lit("; mv: "),
                        pl.col(MV_ID).fill_null("-"),
                    ).alias("detail"),
                )
            )
    return steps


def _save_pending_exports(store: Store, result: SyncResult, *, full: bool) -> None:
    """A full sync recomputes every pending export; a delta sync replaces those of the objects it touched."""
    fresh = result.pending_exports.select(list(PENDING_EXPORT_SCHEMA))
    if full:
        store.overwrite("pending_exports", fresh)
        return
    kept = store.read_table("pending_exports").select(list(PENDING_EXPORT_SCHEMA))
    kept = kept.join(
        fresh.select("connector", MV_ID).unique(), on=["connector", MV_ID], how="anti", nulls_equal=True
    )
    store.overwrite("pending_exports", pl.concat([kept, fresh]))


def _steps(result: SyncResult, config: Config, cycle_id: str, profile: str) -> list[dict[str, Any]]:
    steps = []
    errors_by_connector = (
        dict(result.errors.group_by("connector").len().iter_rows()) if result.errors.height else {}
    )
    for connector in connector_kinds(config):
        rows = result.counters.filter(pl.col("connector") == connector)
        counters = {f"{step}:{name}": int(value) for _, step, name, value in rows.iter_rows()}
        errors = int(errors_by_connector.get(connector, 0))
        counters["sync-errors"] = errors
        status = (
            "success" if not errors else ("stopped-error-limit" if errors > 5000 else "completed-sync-errors")
        )
        steps.append(
            {
                "run_id": uuid.uuid4().hex,
                "connector": connector,
                "profile": profile,
                "status": status,
                "counters": counters,
            }
        )
    return steps
