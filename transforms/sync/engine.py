"""The sync run: inbound (scope, disjoin, join, project, MV lifetime, attribute flow) then outbound
(scope, deprovision, join, provision, export attribute flow, diff), all over whole frames.

Connectors run in order (the ``connectors`` mapping's order, else sorted names), as the product's
per-connector sync steps do: a later connector joins metaverse objects an earlier one projected in
the same run. A delta run processes the connector-space objects with pending imports plus every
disconnector (re-evaluated each cycle, as in the product), and recomputes the metaverse objects they
touch; on the same state it produces what a full run produces.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import polars as pl

from transforms.expressions.values import ParamValue
from transforms.rules.loader import check_rule_set
from transforms.rules.model import DN_DESTINATION, Direction, LinkType, SyncRule, SyncRuleError
from transforms.schema import (
    ANCHOR,
    DN,
    EXPORT_ADD,
    EXPORT_DELETE,
    EXPORT_UPDATE,
    MV_ID,
    PENDING,
    PENDING_ADD,
    PENDING_DELETE,
    PENDING_DELETE_ADD,
    PENDING_EXPORT_SCHEMA,
    PENDING_NONE,
)
from transforms.sync.flows import CODE, KIND_IGNORE, BoundRule, Resolution, compile_flow, resolve
from transforms.sync.frames import (
    concat,
    conform,
    drop_rows,
    ids_frame,
    positions_where,
    rows_where,
    with_system_columns,
)
from transforms.sync.join import match_groups
from transforms.sync.metaverse import LABEL_SEPARATOR, PROVENANCE_PREFIX, combine, final_values
from transforms.sync.params import PartitionParams, row_params, with_partition_columns
from transforms.sync.schema import (
    COUNTERS_SCHEMA,
    DEFAULT_REFERENCE_ATTRIBUTES,
    DISCONNECTORS_SCHEMA,
    ERROR_AMBIGUOUS_JOIN,
    ERROR_FUNCTION_TRIGGERED,
    ERROR_MULTIPLE_JOINING_RULES,
    EXPORT_MEMORY_SCHEMA,
    LINKS_SCHEMA,
    REFERENCE_INDEX_SCHEMA,
    STAGED_DELETES_SCHEMA,
    SYNC_ERRORS_SCHEMA,
)
from transforms.sync.scope import MemberLookup, scope_expr
from transforms.sync.state import SyncResult, SyncState
from transforms.sync.values import (
    decode_json_expr,
    json_expr,
    map_references,
    markers_to_placeholders,
    placeholder_marker,
)

# Makes metaverse ids for objects a connector projects: (connector, anchors) -> ids.
MvIdFactory = Callable[[str, pl.Series], pl.Series]


def default_mv_ids(connector: str, anchors: pl.Series) -> pl.Series:
    """Deterministic ids: ``<connector>|<anchor>`` of the projecting object."""
    return pl.select(pl.concat_str(pl.lit(connector + "|"), pl.lit(anchors.cast(pl.String)))).to_series()


@dataclass
class _Run:
    """Mutable accumulator of one run (internal; the public surface is frozen)."""

    state: SyncState
    rules: Sequence[BoundRule]
    order: list[str]
    params: Mapping[str, Mapping[str, str]]
    partitions: PartitionParams
    references: frozenset[str]
    new_ids: MvIdFactory
    full: bool
    cs: dict[str, dict[str, pl.DataFrame]] = field(default_factory=dict)
    mv: dict[str, pl.DataFrame] = field(default_factory=dict)
    links: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=LINKS_SCHEMA))
    ref_index: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=REFERENCE_INDEX_SCHEMA))
    memory: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=EXPORT_MEMORY_SCHEMA))
    staged: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=STAGED_DELETES_SCHEMA))
    staged_new: list[pl.DataFrame] = field(default_factory=list)  # deletes staged by this run
    touched: pl.Series = field(default_factory=lambda: _no_ids())
    touched_by: dict[str, pl.Series] = field(default_factory=dict)  # connector -> mv ids its objects touched
    projected: pl.Series = field(default_factory=lambda: _no_ids())
    link_changed: dict[str, pl.Series] = field(default_factory=dict)  # connector -> mv ids
    processed: dict[tuple[str, str], pl.Series] = field(default_factory=dict)
    # Objects this run left unjoined (DISCONNECTORS_SCHEMA rows): processed ones no rule joined, and
    # objects whose link a metaverse deletion or an outbound disconnect removed.
    unjoined: list[pl.DataFrame] = field(default_factory=list)
    outbound_joined: list[pl.DataFrame] = field(default_factory=list)  # disconnectors joined outbound
    errors: list[pl.DataFrame] = field(default_factory=list)
    counters: list[tuple[str, str, str, int]] = field(default_factory=list)
    exports: list[pl.DataFrame] = field(default_factory=list)
    deleted_mv: pl.Series = field(default_factory=lambda: _no_ids())
    disjoined_rows: list[pl.DataFrame] = field(default_factory=list)
    kept: dict[str, pl.Series] = field(default_factory=dict)  # connector -> mv ids of existing connectors
    changed_mv: pl.Series = field(default_factory=lambda: _no_ids())
    provisioned: dict[str, pl.Series] = field(default_factory=dict)  # connector -> mv ids provisioned now
    # (connector, object type) -> attributes its inbound rules read that its frame lacks, with the type
    # another connector-space frame gives them (a snapshot has columns only for attributes some object has).
    implied: dict[tuple[str, str], dict[str, pl.DataType]] = field(default_factory=dict)
    # Export memory of the connector being synced outbound, cut down to the objects in focus once.
    memory_view: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=EXPORT_MEMORY_SCHEMA))
    # mv type -> (the frame before this run patched it in place, the rows patched since, with their
    # positions as ``__pos``, the patched frame they belong to): see _focus_rows.
    patched: dict[str, tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]] = field(default_factory=dict)

    def changed_link(self, connector: str, *ids: pl.Series) -> None:
        self.link_changed[connector] = _union(self.link_changed.get(connector, _no_ids()), *ids)

    def count(self, connector: str, step: str, name: str, value: int) -> None:
        self.counters.append((connector, step, name, value))

    def error(self, frame: pl.DataFrame, **constants: str) -> None:
        if frame.height:
            self.errors.append(
                conform(
                    frame.with_columns(pl.lit(v).alias(k) for k, v in constants.items()), SYNC_ERRORS_SCHEMA
                )
            )


def _no_ids() -> pl.Series:
    return pl.Series(MV_ID, [], dtype=pl.String)


def _union(*parts: pl.Series) -> pl.Series:
    """Metaverse ids of several series, each once, in first-seen order (deterministic)."""
    series = [p.cast(pl.String).rename(MV_ID) for p in parts if p.len()]
    if not series:
        return _no_ids()
    return pl.concat(series).drop_nulls().unique(maintain_order=True)


def _minus(ids: pl.Series, other: pl.Series) -> pl.Series:
    return ids.filter(~ids.is_in(other.implode())) if other.len() else ids


def bind_rules(rules: Sequence[SyncRule], order: Sequence[str], kinds: Mapping[str, str]) -> list[BoundRule]:
    """Bind each enabled rule to every connector it selects; rank = precedence, then connector order."""
    bound: list[BoundRule] = []
    for rule in rules:
        if rule.disabled:
            continue
        for index, connector in enumerate(order):
            if rule.connector.matches(connector, kinds.get(connector)):
                bound.append(BoundRule(rule, connector, rule.precedence * 1000 + index))
    return sorted(bound, key=lambda b: b.rank)


def run_sync(
    state: SyncState,
    rules: Sequence[SyncRule],
    *,
    mode: Literal["full", "delta"] = "full",
    connectors: Mapping[str, str] | None = None,
    params_by_connector: Mapping[str, Mapping[str, str]] | None = None,
    partition_params_by_connector: PartitionParams | None = None,
    reference_attributes: frozenset[str] = DEFAULT_REFERENCE_ATTRIBUTES,
    new_mv_ids: MvIdFactory = default_mv_ids,
) -> SyncResult:
    """Run a full or delta sync over ``state`` with ``rules``; pure.

    ``connectors`` maps connector name -> kind (``ad``, ``ldif``, ``aad``...) in run order; rules select
    connectors by name or kind. ``params_by_connector`` gives each connector's ``%Parameter%`` values
    (``Domain.FQDN``, ``Connector.ID``...). ``partition_params_by_connector`` gives per-partition values
    ``[(partition DN, {name: value})]``: inbound flows see those of the object's own partition (longest
    matching DN suffix), other objects and outbound flows the connector-wide ones.
    """
    issues = check_rule_set([r for r in rules if not r.disabled])
    if issues:
        raise SyncRuleError("\n".join(str(i) for i in issues))
    order = list(connectors) if connectors is not None else sorted(state.connector_spaces)
    order += [c for c in sorted(state.connector_spaces) if c not in order]
    run = _Run(
        state=state,
        rules=bind_rules(rules, order, connectors or {}),
        order=order,
        params=params_by_connector or {},
        partitions=partition_params_by_connector or {},
        references=reference_attributes,
        new_ids=new_mv_ids,
        full=mode == "full",
    )
    run.cs = {
        c: {t: with_system_columns(f, t) for t, f in types.items()}
        for c, types in state.connector_spaces.items()
    }
    run.mv = dict(state.metaverse)
    run.links = conform(state.links, LINKS_SCHEMA)
    run.ref_index = conform(state.reference_index, REFERENCE_INDEX_SCHEMA)
    run.implied = _implied_types(run)
    run.memory = conform(state.export_memory, EXPORT_MEMORY_SCHEMA)
    run.staged = conform(state.staged_deletes, STAGED_DELETES_SCHEMA)
    _confirm_memory(run)
    for index, connector in enumerate(order):
        _inbound_connector(run, connector, later=order[index + 1 :])
    _lifetime(run)
    _inbound_flows(run)
    for connector in order:
        _outbound_connector(run, connector)
    return _result(run)


# --- helpers ---------------------------------------------------------------------------------


def _implied_types(run: _Run) -> dict[tuple[str, str], dict[str, pl.DataType]]:
    """Types for attributes a frame lacks but its inbound rules read, from the frames that have them
    (first in connector order, then object type). Attributes no frame has stay untyped NULLs."""
    known: dict[str, pl.DataType] = {}
    for connector in run.order:
        for _, frame in sorted(run.cs.get(connector, {}).items()):
            for name, dtype in frame.schema.items():
                if not name.startswith("_") and dtype != pl.Null:
                    known.setdefault(name, dtype)
    implied: dict[tuple[str, str], dict[str, pl.DataType]] = {}
    for connector, types in run.cs.items():
        for object_type, frame in types.items():
            read: set[str] = set()
            for bound in _inbound_rules(run, connector, object_type):
                read |= bound.rule.source_attributes
            missing = {a: known[a] for a in sorted(read) if a in known and a not in frame.columns}
            if missing:
                implied[(connector, object_type)] = missing
    return implied


def _inbound_rules(run: _Run, connector: str, object_type: str) -> list[BoundRule]:
    return [
        b
        for b in run.rules
        if b.connector == connector
        and b.rule.direction is Direction.INBOUND
        and b.rule.source_object_type == object_type
    ]


def _member_lookup(run: _Run, connector: str) -> MemberLookup:
    def members(group_dn: str) -> pl.Series:
        parts: list[pl.Series] = []
        for frame in run.cs.get(connector, {}).values():
            if "member" not in frame.columns:
                continue
            # A group the import reported deleted (a tombstone) has no members any more.
            rows = frame.filter(
                (pl.col(DN).str.to_lowercase() == group_dn.lower()) & (pl.col(PENDING) != PENDING_DELETE)
            )
            parts.append(_values(rows, "member").str.to_lowercase())
        return pl.concat(parts) if parts else pl.Series("v", [], dtype=pl.String)

    return members


def _values(frame: pl.DataFrame, column: str) -> pl.Series:
    """The non-null values of a single- or multi-valued column, as text."""
    values = frame.get_column(column)
    if isinstance(values.dtype, pl.List):
        values = values.explode()
    return values.cast(pl.String).drop_nulls().rename("v")


def _scope_columns(
    frame: pl.DataFrame,
    rules: Sequence[BoundRule],
    members: MemberLookup | None,
    extra: pl.Expr | None = None,
) -> tuple[pl.DataFrame, list[tuple[BoundRule, str]]]:
    cols: list[tuple[BoundRule, str]] = []
    exprs: list[pl.Expr] = []
    for i, bound in enumerate(rules):
        name = f"\x00s{i}"
        expr = scope_expr(bound.rule.scope, frame.schema, members)
        if extra is not None:
            expr = expr & extra
        exprs.append(expr.alias(name))
        cols.append((bound, name))
    return (frame.with_columns(exprs) if exprs else frame), cols


def _any(columns: Sequence[str]) -> pl.Expr:
    return pl.any_horizontal([pl.col(c) for c in columns]) if columns else pl.lit(False)


def _dn_map(run: _Run, connector: str, wanted: pl.Series | None = None) -> pl.DataFrame:
    """DN -> metaverse id for the joined objects of one connector, read from their links (an inbound
    step writes its object's current DN into the link); only DNs in ``wanted`` if given, compared as
    written, and lower-cased for the wanted DNs no object has as written."""
    joined = (pl.col("connector") == connector) & pl.col(ANCHOR).is_not_null() & pl.col(DN).is_not_null()
    links = run.links.lazy().filter(joined).select(pl.col(DN).alias("key"), pl.col(MV_ID).alias("value"))
    if wanted is None:
        found = links.collect()
    else:
        # (Repeats are fine for a lookup; counting the distinct keys costs half of listing them.)
        keys = wanted.drop_nulls().rename("key").to_frame()
        columns = run.links.select("connector", ANCHOR, DN, MV_ID)
        found = (
            _links_where(columns, DN, keys.get_column("key"))
            .filter(joined)
            .select(pl.col(DN).alias("key"), pl.col(MV_ID).alias("value"))
        )
        distinct = found.get_column("key").n_unique()
        if distinct < keys.get_column("key").n_unique():
            misses = keys.join(found, on="key", how="anti").get_column("key").unique().str.to_lowercase()
            folded = pl.col("key").str.to_lowercase().is_in(misses.implode())
            found = pl.concat([found, links.filter(folded).collect()])
        elif distinct == found.height:
            return found  # every key once
    return found.unique("key", keep="first", maintain_order=True)


def _reference_values(frame: pl.DataFrame, columns: Sequence[str]) -> pl.Series:
    """The reference values of ``columns``, repeats included (the lookups they feed need no
    ``unique``, which costs as much as the lookup over a delta's hundreds of thousands of members)."""
    parts = [_values(frame, column) for column in columns]
    return pl.concat(parts) if parts else pl.Series("v", [], dtype=pl.String)


def _confirm_memory(run: _Run) -> None:
    """Clear export memory that an import confirmed (the imported value equals the exported one).

    One pass over the memory per remembered attribute (not per attribute and object type): after an
    initial export the memory holds tens of millions of values, all confirmed by the next import.
    """
    if run.memory.height == 0:
        return
    pending: list[tuple[str, pl.DataFrame]] = []
    for connector, types in run.cs.items():
        for object_type, frame in types.items():
            changed = rows_where(frame, pl.col(PENDING) != PENDING_NONE)
            if changed.height == 0:
                continue
            links = (
                run.links.lazy()
                .filter(
                    (pl.col("connector") == connector)
                    & (pl.col("object_type") == object_type)
                    & pl.col(ANCHOR).is_not_null()
                )
                .select(ANCHOR, MV_ID)
                .collect()
            )
            changed = changed.join(links, on=ANCHOR, how="inner", maintain_order="left")
            if changed.height:
                pending.append((connector, changed))
    connectors = sorted({c for c, _ in pending})
    if not connectors:
        return
    remembered_connectors = set(run.memory.get_column("connector").unique().to_list())
    if remembered_connectors <= set(connectors):
        memory, keep = run.memory, []  # no copy of a memory of tens of millions of values
    else:
        involved = pl.col("connector").is_in(connectors)
        memory, keep = run.memory.filter(involved), [run.memory.filter(~involved)]
    for attribute in memory.get_column("attribute").unique().sort().to_list():
        remembered = memory.filter(pl.col("attribute") == attribute).with_row_index("__row")
        hits: list[pl.Series] = []
        for connector, changed in pending:
            if attribute not in changed.columns:
                continue
            imported = changed.select(
                MV_ID, json_expr(pl.col(attribute), changed.schema[attribute]).alias("imported")
            )
            hits.append(
                remembered.filter(pl.col("connector") == connector)
                .join(imported, on=MV_ID, how="inner")
                .filter(pl.col("value").eq_missing(pl.col("imported")))
                .get_column("__row")
            )
        if hits:
            confirmed = pl.concat(hits).implode()
            remembered = remembered.filter(~pl.col("__row").is_in(confirmed))
        keep.append(remembered.drop("__row"))
    run.memory = pl.concat(keep) if keep else run.memory.clear()


# --- inbound ---------------------------------------------------------------------------------


def _inbound_connector(run: _Run, connector: str, later: Sequence[str]) -> None:
    counts: dict[str, int] = {}
    parts: list[pl.Series] = []
    # Before any object type of the connector rewrites its part of the reference index.
    membership = None if run.full else _membership_changes(run, connector)
    indexed: list[tuple[pl.DataFrame, pl.DataFrame]] = []
    for object_type in sorted(run.cs.get(connector, {})):
        parts.append(_inbound_type(run, connector, object_type, counts, membership, indexed))
    _update_reference_index(run, connector, indexed)
    newly_linked = _union(*parts)
    for name, value in sorted(counts.items()):
        run.count(connector, "inbound", name, value)
    # Later connectors may join on attributes of objects this connector just projected or joined.
    targets = frozenset(
        c.target
        for b in run.rules
        if b.connector in later
        and b.rule.direction is Direction.INBOUND
        and any(f.height for f in run.cs.get(b.connector, {}).values())
        for g in b.rule.join
        for c in g.conditions
    )
    if newly_linked.len() and targets:
        _apply_flows(run, newly_linked, only=targets, record=False)


def _inbound_type(
    run: _Run,
    connector: str,
    object_type: str,
    counts: dict[str, int],
    membership: pl.Series | None,
    indexed: list[tuple[pl.DataFrame, pl.DataFrame]],
) -> pl.Series:
    """Scope, disjoin, join and project the objects of one type; ``indexed`` collects (frame, processed
    rows) for the connector's reference index, rewritten once after every type."""
    cs = run.cs[connector][object_type]
    rules = _inbound_rules(run, connector, object_type)
    of_type = (
        (pl.col("connector") == connector)
        & (pl.col("object_type") == object_type)
        & pl.col(ANCHOR).is_not_null()
    )
    if run.full:
        links_ct = run.links.filter(of_type)
        work = cs
    else:
        unlinked = _disconnectors_of(run, connector, object_type, cs, of_type)
        todo = (pl.col(PENDING) != PENDING_NONE) | pl.col(ANCHOR).is_in(unlinked.implode())
        every = _uses_membership(rules) and membership is None  # membership changes not known
        if _uses_membership(rules) and membership is not None and membership.len():
            todo = todo | pl.col(DN).str.to_lowercase().is_in(membership.implode())
        work = cs if every else rows_where(cs, todo)
        # (Semi-joined first: the links of one type are a million rows a filter would copy.)
        links_ct = (
            run.links.lazy().join(work.lazy().select(ANCHOR), on=ANCHOR, how="semi").filter(of_type).collect()
        )
    run.processed[(connector, object_type)] = work.get_column(ANCHOR)
    if work.height == 0:
        return _no_ids()
    members = _member_lookup(run, connector) if _uses_membership(rules) else None
    work, scope_cols = _scope_columns(work, rules, members)
    joining = [(b, c) for b, c in scope_cols if b.rule.is_joining]
    sustain = [c for b, c in scope_cols if b.rule.keeps_alive]
    n_join = pl.sum_horizontal([pl.col(c).cast(pl.Int32) for _, c in joining]) if joining else pl.lit(0)
    jrule: pl.Expr = pl.lit(None, dtype=pl.Int32)
    for i, (_, c) in reversed(list(enumerate(joining))):
        jrule = pl.when(pl.col(c)).then(pl.lit(i, dtype=pl.Int32)).otherwise(jrule)
    lscope: pl.Expr = pl.lit(False)
    for bound, c in scope_cols:
        lscope = pl.when(pl.col("rule") == bound.name).then(pl.col(c)).otherwise(lscope)
    deleted = pl.col(PENDING).is_in([PENDING_DELETE])
    delete_add = pl.col(PENDING) == PENDING_DELETE_ADD
    work = work.join(
        links_ct.drop("connector", "object_type").rename({DN: "__ldn"}),
        on=ANCHOR,
        how="left",
        maintain_order="left",
    ).with_columns(
        n_join.alias("__n"),
        jrule.alias("__j"),
        _any(sustain).alias("__sustain"),
        deleted.alias("__deleted"),
    )
    work = work.with_columns((~pl.col("__deleted") & (pl.col("__n") > 1)).alias("__multi"))
    work = _mark_staged(run, connector, object_type, work)
    run.error(
        work.filter(pl.col("__multi")).select(ANCHOR, MV_ID),
        connector=connector,
        object_type=object_type,
        error_type=ERROR_MULTIPLE_JOINING_RULES,
        message="more than one joining rule is in scope: " + ", ".join(b.name for b, _ in joining),
    )
    is_linked = pl.col(MV_ID).is_not_null()
    inbound_link = pl.col("direction") == Direction.INBOUND.value
    disjoin_delete = is_linked & (pl.col("__deleted") | delete_add)
    disjoin_scope = is_linked & ~disjoin_delete & inbound_link & ~pl.col("__multi") & ~lscope.fill_null(False)
    work = work.with_columns(disjoin_delete.alias("__dd"), disjoin_scope.alias("__ds"))
    disjoined = work.filter(pl.col("__dd") | pl.col("__ds"))
    keep = work.filter(is_linked & ~pl.col("__dd") & ~pl.col("__ds"))
    free = work.filter(~pl.col("__deleted") & (~is_linked | pl.col("__dd") | pl.col("__ds")))
    free = free.with_columns(pl.lit(None, dtype=pl.String).alias(MV_ID))
    # An object marked for deletion is neither met by an export object, joined nor projected.
    joinable = free.filter(~pl.col("__staged"))
    # An export object (provisioned, no anchor yet) meets its imported object by DN.
    confirmed = _confirm_export_objects(run, connector, object_type, joinable)
    joinable = joinable.join(confirmed.select(ANCHOR), on=ANCHOR, how="anti")
    candidates = joinable.filter(~pl.col("__multi") & (pl.col("__n") == 1))
    new_links, projected, ambiguous = _join_and_project(
        run, connector, candidates, joining, released=disjoined.get_column(ANCHOR)
    )
    run.error(
        ambiguous,
        connector=connector,
        object_type=object_type,
        error_type=ERROR_AMBIGUOUS_JOIN,
        message="the join matches a metaverse object already joined to another object of this connector",
    )
    # Rebuild the links of the processed rows.
    # Every new link is of a processed row: its DN (now) and whether its rule keeps the object alive.
    own = work.select(ANCHOR, pl.col(DN).alias("__dn"), pl.col("__sustain").alias("sustains"))
    kept = keep.select(ANCHOR, DN, MV_ID, "mv_object_type", "rule", "link_type", "direction")
    all_new = pl.concat([conform(kept, LINKS_SCHEMA), conform(confirmed, LINKS_SCHEMA), new_links])
    all_new = (
        all_new.drop("sustains")
        .join(own, on=ANCHOR, how="left", maintain_order="left")
        .with_columns(
            pl.lit(connector).alias("connector"),
            pl.lit(object_type).alias("object_type"),
            pl.col("__dn").alias(DN),
        )
    )
    processed = work.get_column(ANCHOR)
    rebuilt = conform(all_new, LINKS_SCHEMA)
    if not run.full:
        # Only the links that differ are replaced (a delta mostly re-derives the links it had).
        flags = pl.col("anchor_assigned").fill_null(False)
        processed = _changed_anchors(links_ct.with_columns(flags), rebuilt.with_columns(flags))
        rebuilt = rebuilt.filter(pl.col(ANCHOR).is_in(processed.implode()))
    if processed.len():
        run.links = pl.concat(
            [
                run.links.filter(
                    ~(
                        (pl.col("connector") == connector)
                        & (pl.col("object_type") == object_type)
                        & pl.col(ANCHOR).is_in(processed.implode())
                    )
                ),
                rebuilt,
            ]
        )
    indexed.append((cs, work))
    newly = _union(new_links.get_column(MV_ID), confirmed.get_column(MV_ID))
    changed = _union(newly, disjoined.get_column(MV_ID))
    run.changed_link(connector, changed)
    if not run.full:
        # A renamed connector: references to its former DN break, references to its new one resolve.
        renamed = keep.filter(
            pl.col("__ldn").str.to_lowercase().ne_missing(pl.col(DN).str.to_lowercase())
            & pl.col("__ldn").is_not_null()
        )
        moved = pl.concat([renamed.get_column(DN), renamed.get_column("__ldn")])
        referrers = _referrers(run, connector, work, changed, moved)
        touched = _union(changed, keep.get_column(MV_ID), referrers)
        run.touched = _union(run.touched, touched)
        run.touched_by[connector] = _union(run.touched_by.get(connector, _no_ids()), touched)
    # Counters (names of the product's run history).
    n_projected = projected.height
    _add(counts, "disconnector-projected-flow", n_projected)
    _add(counts, "disconnector-joined-flow", new_links.height - n_projected + confirmed.height)
    linked_anchors = all_new.get_column(ANCHOR)
    remaining = free.filter(~pl.col(ANCHOR).is_in(linked_anchors.implode()))
    run.unjoined.append(
        _unjoined(remaining.with_columns(connector=pl.lit(connector), object_type=pl.lit(object_type)))
    )
    _add(counts, "disconnector-filtered", remaining.filter(pl.col("__n") == 0).height)
    _add(counts, "disconnector-remains", remaining.filter(pl.col("__n") > 0).height)
    run.disjoined_rows.append(
        disjoined.select(pl.lit(connector).alias("connector"), MV_ID, pl.col("__dd").alias("deleted"))
    )
    run.kept[connector] = _union(run.kept.get(connector, _no_ids()), keep.get_column(MV_ID))
    return newly


def _disconnectors_of(
    run: _Run, connector: str, object_type: str, cs: pl.DataFrame, of_type: pl.Expr
) -> pl.Series:
    """Anchors of the objects of one type the last sync left unjoined: as it recorded them, else (not
    known) by an anti-join of the connector space with its links (``of_type`` selects them)."""
    known = run.state.disconnectors
    if known is None:
        links = run.links.filter(of_type).select(ANCHOR)
        return cs.select(ANCHOR).join(links, on=ANCHOR, how="anti").get_column(ANCHOR)
    return known.filter(
        (pl.col("connector") == connector) & (pl.col("object_type") == object_type)
    ).get_column(ANCHOR)


def _unjoined(rows: pl.DataFrame) -> pl.DataFrame:
    """DISCONNECTORS_SCHEMA rows of the objects (``connector``, ``object_type``, anchor) of ``rows``."""
    return conform(rows.select("connector", "object_type", ANCHOR).drop_nulls(ANCHOR), DISCONNECTORS_SCHEMA)


def _changed_anchors(left: pl.DataFrame, right: pl.DataFrame) -> pl.Series:
    """Anchors whose rows differ between ``left`` and ``right`` (frames of the same columns, such as
    an object's links or its reference-index values): a row one side lacks, or a different number of
    rows (a value listed twice)."""
    columns = left.columns
    # Rows are paired by a hash of the whole row (one 64-bit key instead of every column, which costs
    # three times more on the hundreds of thousands of member rows of a delta's changed groups), and a
    # pair counts as equal only if its values are (a hash collision pairs rows that differ).
    row = pl.struct(columns).hash().alias("__h")
    lefts = left.with_columns(row).with_row_index("__l")
    rights = right.with_columns(row).with_row_index("__r")
    equal = (
        lefts.join(rights, on="__h", how="inner", suffix="__right")
        .filter(pl.all_horizontal(pl.col(c).eq_missing(pl.col(c + "__right")) for c in columns))
        .select("__l", "__r")
    )
    gone = lefts.filter(~pl.col("__l").is_in(equal.get_column("__l").implode())).get_column(ANCHOR)
    added = rights.filter(~pl.col("__r").is_in(equal.get_column("__r").implode())).get_column(ANCHOR)
    counts = (
        left.group_by(ANCHOR)
        .len()
        .join(right.group_by(ANCHOR).len(), on=ANCHOR, how="full", coalesce=True, nulls_equal=True)
        .filter(pl.col("len").ne_missing(pl.col("len_right")))
        .get_column(ANCHOR)
    )
    return pl.concat([gone, added, counts]).drop_nulls().unique(maintain_order=True)


def _add(counts: dict[str, int], name: str, value: int) -> None:
    counts[name] = counts.get(name, 0) + value


_MEMBERSHIP_OPERATORS = ("ISMEMBEROF", "ISNOTMEMBEROF")


def _uses_membership(rules: Sequence[BoundRule]) -> bool:
    return any(
        c.operator.value in _MEMBERSHIP_OPERATORS for b in rules for g in b.rule.scope for c in g.conditions
    )


def _staged_anchors(run: _Run, connector: str, object_type: str) -> pl.Series:
    return run.staged.filter(
        (pl.col("connector") == connector) & (pl.col("object_type") == object_type)
    ).get_column(ANCHOR)


def _mark_staged(run: _Run, connector: str, object_type: str, work: pl.DataFrame) -> pl.DataFrame:
    """Flag (``__staged``) the objects marked for deletion; release those an import settled.

    An import reporting the object deleted confirms the staged delete; one reporting it as a fresh add
    (or delete-add) brings a new object, a join candidate like any other.
    """
    staged = _staged_anchors(run, connector, object_type)
    if not staged.len():
        return work.with_columns(pl.lit(False).alias("__staged"))
    marked = pl.col(ANCHOR).is_in(staged.implode())
    settled = marked & pl.col(PENDING).is_in([PENDING_DELETE, PENDING_ADD, PENDING_DELETE_ADD])
    released = work.filter(settled).get_column(ANCHOR)
    if released.len():
        run.staged = run.staged.filter(
            ~(
                (pl.col("connector") == connector)
                & (pl.col("object_type") == object_type)
                & pl.col(ANCHOR).is_in(released.implode())
            )
        )
    return work.with_columns((marked & ~settled).alias("__staged"))


def _stage_deletes(run: _Run, deletes: pl.DataFrame) -> None:
    """Mark deprovisioned objects for deletion (spec 1.4: flagged deleted, a staged delete export)."""
    rows = deletes.filter(pl.col(ANCHOR).is_not_null())
    if rows.height == 0:
        return
    new = conform(rows.with_columns(pl.lit(False).alias("exported")), STAGED_DELETES_SCHEMA)
    run.staged_new.append(new)
    run.staged = pl.concat([run.staged, new]).unique(["connector", ANCHOR], keep="first", maintain_order=True)


def _membership_groups(run: _Run, connector: str) -> frozenset[str]:
    """Lower-cased DNs of the groups ISMEMBEROF / ISNOTMEMBEROF conditions of the connector name."""
    return frozenset(
        (c.value or "").lower()
        for b in run.rules
        if b.connector == connector and b.rule.direction is Direction.INBOUND
        for g in b.rule.scope
        for c in g.conditions
        if c.operator.value in _MEMBERSHIP_OPERATORS
    )


def _membership_changes(run: _Run, connector: str) -> pl.Series | None:
    """Lower-cased DNs of the objects whose membership of a group named by an ISMEMBEROF condition
    changed since the last sync; ``None`` when that cannot be told (re-process every object).

    The reference index holds each object's reference values as of the last sync; the groups with a
    pending import are compared with it. A group that kept a named DN contributes the members added and
    removed; one that gained or lost a named DN (added, deleted, renamed) all its members. A group's
    former DN is its link's DN (the DN the last sync saw) or its tombstone's; a changed group that is a
    disconnector has none, so if it holds a named DN now all its members count, and if a named group has
    disappeared the former members of every such group count.
    """
    groups = _membership_groups(run, connector)
    if not groups:
        return _no_ids()
    if "member" not in run.references:
        return None
    named = pl.lit(pl.Series(sorted(groups), dtype=pl.String)).implode()
    changed_frames = [
        changed
        for frame in run.cs.get(connector, {}).values()
        if "member" in frame.columns
        and (changed := rows_where(frame, pl.col(PENDING) != PENDING_NONE)).height
    ]
    if not changed_frames:
        return _no_ids()
    links = (
        run.links.lazy()
        .filter((pl.col("connector") == connector) & pl.col(ANCHOR).is_not_null())
        .select(ANCHOR, pl.col(DN).alias("__old_dn"))
        .unique(ANCHOR, keep="first", maintain_order=True)
        .collect()
    )
    rows: list[pl.DataFrame] = []
    new_values: list[pl.DataFrame] = []
    for changed in changed_frames:
        rows.append(
            changed.select(ANCHOR, DN, PENDING).join(links, on=ANCHOR, how="left", maintain_order="left")
        )
        for column in _indexed_columns(run, connector, changed):
            values = pl.col(column)
            if not isinstance(changed.schema[column], pl.List):
                values = pl.concat_list(values)
            new_values.append(
                changed.filter(pl.col(PENDING) != PENDING_DELETE)
                .select(ANCHOR, values.alias("target_dn"))
                .explode("target_dn")
                .drop_nulls("target_dn")
                .select(ANCHOR, pl.col("target_dn").cast(pl.String).str.to_lowercase())
            )
    pending = pl.col(PENDING)
    new_in = (pending != PENDING_DELETE) & pl.col(DN).str.to_lowercase().is_in(named).fill_null(False)
    old_in = (
        pl.when(pending == PENDING_ADD)
        .then(pl.lit(False))
        .when(pending == PENDING_DELETE)
        .then(pl.col(DN).str.to_lowercase().is_in(named).fill_null(False))
        .otherwise(pl.col("__old_dn").str.to_lowercase().is_in(named))
    )
    frame = pl.concat(rows).with_columns(new_in.alias("__new_in"), old_in.alias("__old_in"))
    unknown = frame.filter(pl.col("__old_in").is_null() & ~pl.col("__new_in"))
    vanished = unknown.height > 0 and _named_group_missing(run, connector, groups)
    mode = (
        pl.when(pl.col("__old_in").is_null())
        .then(
            pl.when(pl.col("__new_in")).then(pl.lit("all")).otherwise(pl.lit("old" if vanished else "none"))
        )
        .when(pl.col("__old_in") & pl.col("__new_in"))
        .then(pl.lit("diff"))
        .when(pl.col("__old_in"))
        .then(pl.lit("old"))
        .when(pl.col("__new_in"))
        .then(pl.lit("new"))
        .otherwise(pl.lit("none"))
    )
    modes = frame.select(ANCHOR, mode.alias("__mode")).filter(pl.col("__mode") != "none")
    if modes.height == 0:
        return _no_ids()
    old = (
        run.ref_index.filter(pl.col("connector") == connector)
        .select(ANCHOR, "target_dn")
        .join(modes, on=ANCHOR, how="inner")
    )
    new = pl.concat(new_values).join(modes, on=ANCHOR, how="inner") if new_values else old.clear()
    keys = [ANCHOR, "target_dn"]
    diff_old = old.filter(pl.col("__mode") == "diff")
    diff_new = new.filter(pl.col("__mode") == "diff")
    parts = [
        old.filter(pl.col("__mode").is_in(["old", "all"])),
        new.filter(pl.col("__mode").is_in(["new", "all"])),
        diff_old.join(diff_new, on=keys, how="anti"),
        diff_new.join(diff_old, on=keys, how="anti"),
    ]
    return pl.concat([p.get_column("target_dn") for p in parts]).unique().rename(DN)


def _named_group_missing(run: _Run, connector: str, groups: frozenset[str]) -> bool:
    """Whether some group an ISMEMBEROF condition names is held by no live object of the connector."""
    held: list[pl.Series] = []
    for frame in run.cs.get(connector, {}).values():
        if "member" in frame.columns:
            dns = (
                frame.filter(pl.col(PENDING) != PENDING_DELETE).get_column(DN).drop_nulls().str.to_lowercase()
            )
            held.append(dns.filter(dns.is_in(sorted(groups))))
    present = pl.concat(held).unique() if held else pl.Series([], dtype=pl.String)
    return present.len() < len(groups)


def _confirm_export_objects(run: _Run, connector: str, object_type: str, free: pl.DataFrame) -> pl.DataFrame:
    pending = run.links.filter(
        (pl.col("connector") == connector)
        & (pl.col("object_type") == object_type)
        & pl.col(ANCHOR).is_null()
        & pl.col(DN).is_not_null()
    )
    if pending.height == 0 or free.height == 0:
        return pl.DataFrame(schema=LINKS_SCHEMA)
    matched = (
        free.select(ANCHOR, pl.col(DN).str.to_lowercase().alias("__key"))
        .join(
            pending.drop(ANCHOR).with_columns(pl.col(DN).str.to_lowercase().alias("__key")),
            on="__key",
            how="inner",
        )
        .unique("__key", keep="first", maintain_order=True)
    )
    if matched.height == 0:
        return pl.DataFrame(schema=LINKS_SCHEMA)
    run.links = run.links.join(
        matched.select(pl.lit(connector).alias("connector"), MV_ID),
        on=["connector", MV_ID],
        how="anti",
    ).pipe(
        lambda links: pl.concat(
            [
                links,
                run.links.filter(
                    (pl.col("connector") == connector)
                    & pl.col(MV_ID).is_in(matched.get_column(MV_ID).implode())
                    & pl.col(ANCHOR).is_not_null()
                ),
            ]
        )
    )
    return conform(matched, LINKS_SCHEMA)


def _join_and_project(
    run: _Run,
    connector: str,
    candidates: pl.DataFrame,
    joining: Sequence[tuple[BoundRule, str]],
    *,
    released: pl.Series,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """New links (joined and projected), the projected rows, and ambiguous-join error rows."""
    empty_err = pl.DataFrame(schema={ANCHOR: pl.String(), MV_ID: pl.String()})
    if candidates.height == 0:
        return pl.DataFrame(schema=LINKS_SCHEMA), candidates, empty_err
    # Links disjoined in this run (their objects are among the candidates) no longer hold their MV object.
    joined_mv = (
        run.links.lazy()
        .filter(
            (pl.col("connector") == connector) & ~pl.col(ANCHOR).is_in(released.implode()).fill_null(False)
        )
        .select(MV_ID)
        .collect()
        .get_column(MV_ID)
    )
    link_frames: list[pl.DataFrame] = []
    projected_frames: list[pl.DataFrame] = []
    errors: list[pl.DataFrame] = []
    for i, (bound, _) in enumerate(joining):
        rows = candidates.filter(pl.col("__j") == i)
        if rows.height == 0:
            continue
        rule = bound.rule
        types = [rule.target_object_type] if rule.target_object_type != "*" else sorted(run.mv)
        targets = concat_mv(run, types)
        matches = match_groups(rows, ANCHOR, targets, MV_ID, rule.join) if rule.join else _no_matches()
        matches = matches.join(targets.select(MV_ID, "__mvtype"), on=MV_ID, how="left", maintain_order="left")
        dup = matches.group_by(MV_ID).len().filter(pl.col("len") > 1).get_column(MV_ID)
        bad = matches.filter(pl.col(MV_ID).is_in(dup.implode()) | pl.col(MV_ID).is_in(joined_mv.implode()))
        good = matches.join(bad.select(ANCHOR), on=ANCHOR, how="anti")
        errors.append(bad.select(ANCHOR, MV_ID))
        link_frames.append(
            good.select(
                ANCHOR,
                MV_ID,
                pl.col("__mvtype").alias("mv_object_type"),
                pl.lit(rule.name).alias("rule"),
                pl.lit(rule.link_type.value).alias("link_type"),
                pl.lit(Direction.INBOUND.value).alias("direction"),
            )
        )
        joined_mv = pl.concat([joined_mv, good.get_column(MV_ID)])
        if rule.link_type is not LinkType.PROVISION:
            continue
        rest = rows.join(matches.select(ANCHOR), on=ANCHOR, how="anti")
        sources = [a for a in rule.join_source_attributes if a in rest.columns]
        if rule.join:
            has_value = (
                pl.any_horizontal(
                    [
                        pl.col(a).list.len() > 0
                        if isinstance(rest.schema[a], pl.List)
                        else pl.col(a).is_not_null()
                        for a in sources
                    ]
                ).fill_null(False)
                if sources
                else pl.lit(False)
            )
            rest = rest.filter(has_value)
        if rest.height == 0:
            continue
        ids = run.new_ids(connector, rest.get_column(ANCHOR))
        new = rest.select(ANCHOR).with_columns(ids.alias(MV_ID))
        run.projected = _union(run.projected, new.get_column(MV_ID))
        mv_type = rule.target_object_type
        existing = run.mv.get(mv_type, pl.DataFrame(schema={MV_ID: pl.String()}))
        run.mv[mv_type] = pl.concat([existing, new.select(MV_ID)], how="diagonal_relaxed")
        projected_frames.append(new)
        link_frames.append(
            new.with_columns(
                pl.lit(mv_type).alias("mv_object_type"),
                pl.lit(rule.name).alias("rule"),
                pl.lit(LinkType.PROVISION.value).alias("link_type"),
                pl.lit(Direction.INBOUND.value).alias("direction"),
            )
        )
    links = concat(link_frames, LINKS_SCHEMA)
    projected = (
        pl.concat(projected_frames) if projected_frames else pl.DataFrame(schema={ANCHOR: pl.String()})
    )
    return links, projected, pl.concat(errors) if errors else empty_err


def _no_matches() -> pl.DataFrame:
    return pl.DataFrame(schema={ANCHOR: pl.String(), MV_ID: pl.String()})


def concat_mv(run: _Run, types: Sequence[str]) -> pl.DataFrame:
    frames = [run.mv[t].with_columns(pl.lit(t).alias("__mvtype")) for t in types if t in run.mv]
    if not frames:
        return pl.DataFrame(schema={MV_ID: pl.String(), "__mvtype": pl.String()})
    return pl.concat(frames, how="diagonal_relaxed")


def _reference_columns(run: _Run, frame: pl.DataFrame) -> list[str]:
    return sorted(a for a in run.references if a in frame.columns)


def _indexed_columns(run: _Run, connector: str, frame: pl.DataFrame) -> list[str]:
    """The reference attributes of ``connector``'s objects the reference index holds: those its
    inbound rules read (a reference that resolves or breaks changes what they flow), and ``member``
    when its rules scope by group membership. A target connector's members and managers (millions
    of values) are not indexed when no rule reads them; a changed rule set runs a full sync, which
    re-indexes."""
    read = {
        a.lower()
        for b in run.rules
        if b.connector == connector and b.rule.direction is Direction.INBOUND
        for a in b.rule.source_attributes
    }
    if _membership_groups(run, connector):
        read.add("member")
    return [a for a in _reference_columns(run, frame) if a.lower() in read]


def _update_reference_index(
    run: _Run, connector: str, processed: Sequence[tuple[pl.DataFrame, pl.DataFrame]]
) -> None:
    """Re-index the reference values of the processed rows of a connector (one pass over the index,
    which holds tens of millions of values: one per group member)."""
    works: list[pl.DataFrame] = []
    new_rows: list[pl.DataFrame] = []
    for cs, work in processed:
        if not run.full:
            # An object without a pending import has the values it was indexed with.
            work = work.filter(pl.col(PENDING) != PENDING_NONE)
        if work.height == 0:
            continue
        works.append(work.select(ANCHOR))
        new_rows.append(
            _index_rows(connector, work.filter(~pl.col("__deleted")), _indexed_columns(run, connector, cs))
        )
    if not works:
        return
    anchors = pl.concat(works).get_column(ANCHOR)
    new = pl.concat(new_rows)
    if run.full:
        indexed = (pl.col("connector") == connector) & pl.col(ANCHOR).is_in(anchors.implode())
        run.ref_index = pl.concat([run.ref_index.filter(~indexed), new])
        return
    # A delta re-indexes only the objects whose reference values changed (most keep theirs).
    # Positions by anchor alone, the connector checked on the few rows found (a comparison over
    # tens of millions of rows costs a third of the lookup).
    positions = positions_where(run.ref_index, pl.col(ANCHOR).is_in(anchors.implode()))
    old = run.ref_index[positions]
    of_connector = old.get_column("connector") == connector
    if not of_connector.all():
        positions, old = positions.filter(of_connector), old.filter(of_connector)
    changed = _changed_anchors(old.drop("connector"), new.drop("connector"))  # (all of ``connector``)
    if changed.len() == 0:
        return
    drop = old.get_column(ANCHOR).is_in(changed.implode())
    rest = drop_rows(run.ref_index, positions.filter(drop))
    run.ref_index = pl.concat([rest, new.filter(pl.col(ANCHOR).is_in(changed.implode()))], rechunk=False)


def _index_rows(connector: str, live: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
    """Reference index rows (REFERENCE_INDEX_SCHEMA) of connector-space rows."""
    parts = [pl.DataFrame(schema=REFERENCE_INDEX_SCHEMA)]
    for column in columns:
        values = pl.col(column)
        if not isinstance(live.schema[column], pl.List):
            values = pl.concat_list(values)
        parts.append(
            live.select(pl.lit(connector).alias("connector"), ANCHOR, values.alias("target_dn"))
            .explode("target_dn")
            .drop_nulls("target_dn")
            .with_columns(pl.col("target_dn").cast(pl.String).str.to_lowercase())
        )
    return pl.concat([conform(p, REFERENCE_INDEX_SCHEMA) for p in parts])


def _referrers(
    run: _Run, connector: str, work: pl.DataFrame, changed: pl.Series, moved: pl.Series
) -> pl.Series:
    """Metaverse objects whose references resolve or break because objects were (dis)joined or
    renamed (``moved``: their former and new DNs)."""
    if not changed.len() and not moved.len():
        return _no_ids()
    # (Dis)joined objects by their DN now and the DN their link recorded (they may be renamed too).
    dns = work.filter(pl.col(MV_ID).is_in(changed.implode()) | pl.col("__dd") | pl.col("__ds"))
    dns = pl.concat([dns.select(DN), dns.select(pl.col("__ldn").alias(DN))])
    new_dns = run.links.filter(
        (pl.col("connector") == connector) & pl.col(MV_ID).is_in(changed.implode())
    ).select(DN)
    # DNs compare case-insensitively (as reference resolution does); the index holds them lower-cased.
    keys = pl.concat([dns.get_column(DN), new_dns.get_column(DN), moved.cast(pl.String).rename(DN)])
    keys = keys.drop_nulls().str.to_lowercase()
    anchors = run.ref_index.filter(
        (pl.col("connector") == connector) & pl.col("target_dn").is_in(keys.implode())
    ).get_column(ANCHOR)
    mv = run.links.filter((pl.col("connector") == connector) & pl.col(ANCHOR).is_in(anchors.implode()))
    return mv.get_column(MV_ID)


def _lifetime(run: _Run) -> None:
    """Delete metaverse objects no inbound Provision/StickyJoin rule keeps alive (spec 1.4)."""
    links = run.links
    if not run.full:
        # A delta only looks at the objects it touched.
        links = rows_where(links.select(MV_ID, "sustains"), pl.col(MV_ID).is_in(run.touched.implode()))
    sustained = links.filter(pl.col("sustains").fill_null(False)).get_column(MV_ID).unique()
    # A delta only looks at the touched objects no link sustains (usually none).
    unsustained = None if run.full else _minus(run.touched, sustained)
    parts: list[pl.Series] = []
    for mv_type, frame in run.mv.items():
        ids = frame.get_column(MV_ID)
        if unsustained is not None:
            if not unsustained.len():
                continue
            ids = ids.filter(ids.is_in(unsustained.implode()))
        dead = ids.filter(~ids.is_in(sustained.implode()))
        if dead.len():
            parts.append(dead)
            run.mv[mv_type] = frame.filter(~pl.col(MV_ID).is_in(dead.implode()))
    doomed = _union(*parts)
    if not doomed.len():
        _lifetime_counters(run, doomed)
        return
    run.deleted_mv = doomed
    dead = doomed.implode()
    gone = run.links.filter(pl.col(MV_ID).is_in(dead))
    run.unjoined.append(_unjoined(gone))
    deletes = gone.filter(
        (pl.col("direction") == Direction.OUTBOUND.value) & (pl.col("link_type") == LinkType.PROVISION.value)
    )
    run.exports.append(_delete_rows(deletes))
    _stage_deletes(run, deletes)
    for connector in deletes.get_column("connector").unique().sort().to_list():
        run.count(
            connector,
            "outbound",
            "provisioned-delete",
            deletes.filter(pl.col("connector") == connector).height,
        )
        run.changed_link(connector, deletes.filter(pl.col("connector") == connector).get_column(MV_ID))
    run.links = run.links.filter(~pl.col(MV_ID).is_in(dead))
    run.memory = run.memory.filter(~pl.col(MV_ID).is_in(dead))
    run.touched = _minus(run.touched, doomed)
    run.projected = _minus(run.projected, doomed)
    _lifetime_counters(run, doomed)


def _lifetime_counters(run: _Run, dead: pl.Series) -> None:
    for part in run.disjoined_rows:
        if part.height == 0:
            continue
        connector = part.get_column("connector")[0]
        removed = part.get_column(MV_ID).is_in(dead.implode())
        deleted = part.get_column("deleted")
        for name, mask in (
            ("connector-delete-remove-mv", deleted & removed),
            ("connector-delete-leave-mv", deleted & ~removed),
            ("connector-filtered-remove-mv", ~deleted & removed),
            ("connector-filtered-leave-mv", ~deleted & ~removed),
        ):
            if int(mask.sum()):
                run.count(connector, "inbound", name, int(mask.sum()))


def _delete_rows(deletes: pl.DataFrame) -> pl.DataFrame:
    return conform(
        deletes.select(
            "connector",
            pl.col("object_type"),
            MV_ID,
            ANCHOR,
            DN,
            pl.lit(EXPORT_DELETE).alias("op"),
        ),
        PENDING_EXPORT_SCHEMA,
    )


# --- inbound attribute flow ------------------------------------------------------------------


def _inbound_flows(run: _Run) -> None:
    if run.full:
        ids = _minus(_union(*(f.get_column(MV_ID) for f in run.mv.values())), run.deleted_mv)
        if ids.len():
            _apply_flows(run, ids, only=None, record=True)
        return
    for ids, only in _flow_groups(run):
        _apply_flows(run, ids, only=only, record=True)


def _flow_groups(run: _Run) -> list[tuple[pl.Series, frozenset[str] | None]]:
    """The touched metaverse objects of a delta, grouped by the attributes that can have changed
    (``None``: every attribute).

    Only the contributions of the connectors whose objects this run processed can differ from the
    last run's. An object only the target connector touched (as the import confirming an export
    touches every exported object) recomputes the attributes that connector's inbound rules flow,
    not those the source forest's rules flow. Objects this run projected recompute every attribute.
    """
    ids = _minus(run.touched, run.deleted_mv)
    if not ids.len():
        return []
    every = _inbound_destinations(run, None)
    bits = {c: 1 << i for i, c in enumerate(run.order)}
    parts = [
        pl.DataFrame({MV_ID: touched}).with_columns(pl.lit(bits[c], dtype=pl.Int64).alias("__bit"))
        for c, touched in run.touched_by.items()
        if touched.len()
    ]
    if not parts or all(_inbound_destinations(run, c) == every for c in run.touched_by):
        return [(ids, None)]
    masks = (
        pl.concat(parts)
        .join(ids_frame(ids, MV_ID), on=MV_ID, how="semi")
        .join(ids_frame(run.projected, MV_ID), on=MV_ID, how="anti")
        .group_by(MV_ID, maintain_order=True)
        .agg(pl.col("__bit").unique().sum().alias("__mask"))
    )
    groups: list[tuple[pl.Series, frozenset[str] | None]] = []
    rest = _minus(ids, masks.get_column(MV_ID))
    if rest.len():
        groups.append((rest, None))
    for mask in masks.get_column("__mask").unique(maintain_order=True).to_list():
        only = frozenset().union(*(_inbound_destinations(run, c) for c, bit in bits.items() if mask & bit))
        of_mask = masks.filter(pl.col("__mask") == mask).get_column(MV_ID)
        groups.append((of_mask, None if only == every else only))
    return groups


def _inbound_destinations(run: _Run, connector: str | None) -> frozenset[str]:
    """The metaverse attributes the inbound rules of ``connector`` (of every connector: ``None``) flow."""
    return frozenset(
        f.destination
        for b in run.rules
        if b.rule.direction is Direction.INBOUND and connector in (None, b.connector)
        for f in b.rule.flows
    )


def _apply_flows(run: _Run, ids: pl.Series, *, only: frozenset[str] | None, record: bool) -> None:
    """Recompute the metaverse attributes of ``ids`` from every joined object of every connector."""
    id_frame = ids_frame(ids, MV_ID)
    # The links and export memory of the objects in focus, cut out once (a delta's focus is small).
    focus_links = run.links.join(id_frame, on=MV_ID, how="semi")
    focus_memory = run.memory.join(id_frame, on=MV_ID, how="semi") if run.memory.height else run.memory
    remembered = set(focus_memory.get_column("connector").unique().to_list())
    partials: list[Resolution] = []
    errors: list[pl.DataFrame] = []
    unmapped: list[tuple[int, list[str]]] = []
    for connector in run.order:
        for object_type, cs in sorted(run.cs.get(connector, {}).items()):
            rules = _inbound_rules(run, connector, object_type)
            if not any(only is None or f.destination in only for b in rules for f in b.rule.flows):
                continue
            links = focus_links.filter(
                (pl.col("connector") == connector)
                & (pl.col("object_type") == object_type)
                & pl.col(ANCHOR).is_not_null()
            )
            if links.height == 0:
                continue
            frame = cs.join(
                links.select(ANCHOR, MV_ID, "mv_object_type"), on=ANCHOR, how="inner", maintain_order="left"
            ).filter(pl.col(PENDING) != PENDING_DELETE)
            frame = frame.with_columns(pl.col(MV_ID).is_in(run.projected.implode()).alias("__new"))
            if connector in remembered:
                memory = focus_memory.join(frame.select(MV_ID), on=MV_ID, how="semi")
                frame = _overlay_memory(frame, memory.filter(pl.col("connector") == connector))
            implied = run.implied.get((connector, object_type))
            if implied:
                frame = frame.with_columns(pl.lit(None, dtype=t).alias(a) for a, t in implied.items())
            if "dn" not in frame.columns:
                # Expressions of the product read the object's DN as [dn].
                frame = frame.with_columns(pl.col(DN).alias("dn"))
            linked_type = pl.col("mv_object_type")
            scoped: list[tuple[BoundRule, str]] = []
            exprs = []
            members = _member_lookup(run, connector) if _uses_membership(rules) else None
            for i, bound in enumerate(rules):
                target = bound.rule.target_object_type
                expr = scope_expr(bound.rule.scope, frame.schema, members)
                if target != "*":
                    expr = expr & (linked_type == target)
                exprs.append(expr.alias(f"\x00s{i}"))
                scoped.append((bound, f"\x00s{i}"))
            frame = frame.with_columns(exprs)
            params: Mapping[str, Mapping[str, ParamValue]] = run.params
            if run.partitions.get(connector):
                # Domain.* of each object's own partition: hidden columns, read by the compiled flows.
                own = {"Connector.ID": connector, **run.params.get(connector, {})}
                frame = with_partition_columns(frame, own, run.partitions[connector])
                params = {**run.params, connector: row_params(own, run.partitions[connector])}
            resolution = resolve(
                frame, MV_ID, scoped, params_by_connector=params, new_column="__new", only=only
            )
            if not resolution.attributes:
                continue
            errors.append(
                resolution.errors.with_columns(
                    pl.lit(connector).alias("connector"), pl.lit(object_type).alias("object_type")
                )
            )
            partials.append(resolution)
            refs = [a for a in resolution.attributes if a in run.references]
            if refs:
                unmapped.append((len(partials) - 1, refs))
        if unmapped:
            # One DN map per connector for the references of all its object types.
            wanted = None
            if not run.full:
                wanted = pl.concat([_reference_values(partials[i].frame, refs) for i, refs in unmapped])
            mapping = _dn_map(run, connector, wanted)
            for i, refs in unmapped:
                part = partials[i]
                resolved = part.frame
                for attribute in refs:
                    resolved = map_references(resolved, attribute, mapping, lower=True)
                partials[i] = Resolution(resolved, part.attributes, part.merge_types, part.errors)
            unmapped = []
    failed = pl.concat(errors) if errors else pl.DataFrame(schema={MV_ID: pl.String()})
    if record and failed.height:
        run.error(
            failed.join(
                run.links.lazy()
                .filter(pl.col("direction") == Direction.INBOUND.value)
                .select("connector", "object_type", MV_ID, ANCHOR)
                .collect(),
                on=["connector", "object_type", MV_ID],
                how="left",
            ),
            error_type=ERROR_FUNCTION_TRIGGERED,
        )
    types = (
        focus_links.select(MV_ID, "mv_object_type")
        .unique(MV_ID, maintain_order=True)
        .join(failed.select(MV_ID).unique(), on=MV_ID, how="anti")
    )
    labels = {b.rank: f"{b.connector}{LABEL_SEPARATOR}{b.name}" for b in run.rules}
    for mv_type in sorted(run.mv):
        type_ids = types.filter(pl.col("mv_object_type") == mv_type).select(MV_ID)
        if type_ids.height == 0:
            continue
        typed: list[Resolution] = []
        for part in partials:
            rows_of_type = part.frame.join(type_ids, on=MV_ID, how="semi")
            if rows_of_type.height:
                typed.append(Resolution(rows_of_type, part.attributes, part.merge_types, part.errors))
        rows, merges = combine(typed, type_ids) if typed else (type_ids, {})
        destinations = {
            f.destination
            for b in run.rules
            if b.rule.direction is Direction.INBOUND and b.rule.target_object_type in (mv_type, "*")
            for f in b.rule.flows
        }
        attributes = [a for a in merges if a in destinations]
        frame = run.mv[mv_type]
        # Attributes no joined object contributes to any more (their connector's objects of these ids
        # were all disjoined or deleted): no value, no provenance.
        vanished = [
            a for a in frame.columns if a in destinations and a not in merges and (only is None or a in only)
        ]
        if not attributes and not vanished:
            continue
        recomputed = attributes + vanished
        replaced = [a for a in recomputed if a in frame.columns]
        if record:
            replaced += [PROVENANCE_PREFIX + a for a in recomputed if PROVENANCE_PREFIX + a in frame.columns]
        # A delta replaces a few rows in place (their positions found once); a full run rebuilds.
        positions = None if run.full else _positions(frame, rows.get_column(MV_ID))
        # Many rows, a few attributes (the import confirming an export of every object): only the
        # columns recomputed are read and patched, not every column of every row.
        narrow = only is not None and positions is not None and positions.len() > _SPLICE_MAX
        if positions is None:
            old = frame.join(rows.select(MV_ID), on=MV_ID, how="semi")
        else:
            old = frame.select(MV_ID, *replaced)[positions] if narrow else frame[positions]
        values = final_values(rows, old, attributes, merges, labels).with_columns(
            pl.lit(None, dtype=frame.schema[c]).alias(c)
            for a in vanished
            for c in (a, PROVENANCE_PREFIX + a)
            if c in frame.columns
        )
        if not record:
            values = values.drop([PROVENANCE_PREFIX + a for a in recomputed], strict=False)
        updated = old.drop(replaced).join(values, on=MV_ID, how="left", maintain_order="left")
        if record:
            # Only objects that were joined before this run count as "connectors with flow updates".
            existing = _union(*run.kept.values())
            if existing.len():
                # (Rows compared where they are, the known ones picked after: filtering both wide
                # frames first copied them, every row of them in a settling sync.)
                changed = _changed_ids(old, updated)
                run.changed_mv = _union(run.changed_mv, changed.filter(changed.is_in(existing.implode())))
        if positions is not None:
            run.mv[mv_type] = _patch_rows(frame, positions, old, updated)
            if narrow:  # (the outbound step reads the patched frame: its rows are not at hand)
                run.patched.pop(mv_type, None)
            else:
                _remember_patch(run, mv_type, frame, positions, updated, run.mv[mv_type])
            continue
        rest = frame.join(rows.select(MV_ID), on=MV_ID, how="anti")
        run.mv[mv_type] = pl.concat([rest, updated], how="diagonal_relaxed")


def _remember_patch(
    run: _Run,
    mv_type: str,
    before: pl.DataFrame,
    positions: pl.Series,
    updated: pl.DataFrame,
    after: pl.DataFrame,
) -> None:
    """Keep the rows a delta patched (``updated``, at ``positions`` of ``before``, giving ``after``)
    and the frame as it was before this run's first patch of it, for :func:`_focus_rows`."""
    schema = after.schema
    rows = updated.select([pl.col(c).cast(t) for c, t in schema.items()]).with_columns(
        positions.cast(pl.UInt32).alias("__pos")
    )
    kept = run.patched.get(mv_type)
    base = before
    if kept is not None and kept[2] is before:  # patched again (a second pass of this run)
        base, earlier, _ = kept
        rest = earlier.filter(~pl.col("__pos").is_in(positions.cast(pl.UInt32).implode()))
        rows = pl.concat([rest, rows], how="diagonal_relaxed")
    run.patched[mv_type] = (base, rows, after)


def _focus_rows(run: _Run, mv_type: str, frame: pl.DataFrame, focus: pl.Series) -> pl.DataFrame:
    """The rows of ``focus`` in ``frame``, in frame order. Rows this run patched in place come from the
    rows it kept, the others from the frame before its first patch (the same rows): a gather from a
    nested column that splices cut into chunks (a thousand changed groups' members) copies the whole
    column first."""
    kept = run.patched.get(mv_type)
    if kept is None or kept[2] is not frame:  # not patched, or changed since
        return rows_where(frame, pl.col(MV_ID).is_in(focus.implode()))
    base, rows, _ = kept
    positions = positions_where(frame, pl.col(MV_ID).is_in(focus.implode()))
    patched = rows.get_column("__pos")
    fresh = rows.filter(patched.is_in(positions.implode()))
    others = positions.filter(~positions.is_in(patched.implode()))
    stale = base[others].with_columns(others.alias("__pos"))
    schema = frame.schema
    return (
        pl.concat([stale, fresh], how="diagonal_relaxed")
        .sort("__pos")
        .select([pl.col(c).cast(t) for c, t in schema.items()])
    )


def _positions(frame: pl.DataFrame, ids: pl.Series) -> pl.Series | None:
    """Row positions of ``ids`` in ``frame`` (in the order of ``ids``), None if one is missing."""
    found = (
        frame.get_column(MV_ID)
        .to_frame()
        .with_row_index("__pos")
        .join(ids.rename(MV_ID).to_frame(), on=MV_ID, how="inner", maintain_order="right")
    )
    if found.height != ids.len():
        return None
    return found.get_column("__pos")


def _patch_rows(
    frame: pl.DataFrame, positions: pl.Series, old: pl.DataFrame, updated: pl.DataFrame
) -> pl.DataFrame:
    """``frame`` with the rows at ``positions`` (``old``, aligned with ``updated``) replaced by
    ``updated``; only columns with a changed value are rebuilt (a delta changes a few columns), and
    columns ``updated`` lacks are kept."""
    height = frame.height
    existing = frame.schema
    unchanged = _unchanged_columns(existing, old, updated)
    columns: list[pl.Series] = []
    for name in [*existing, *[c for c in updated.columns if c not in existing]]:
        if name in unchanged or name not in updated.columns:
            columns.append(frame.get_column(name))
            continue
        new = updated.get_column(name)
        if name in existing:
            column = frame.get_column(name)
            before = old.get_column(name)
        else:
            column = pl.Series(name, [None] * height, dtype=new.dtype)
            before = pl.Series(name, [None] * old.height, dtype=new.dtype)
        if column.dtype != new.dtype:
            dtype = pl.concat(
                [column.head(0).rename(name).to_frame(), new.head(0).rename(name).to_frame()],
                how="vertical_relaxed",
            ).schema[name]
            column, before, new = column.cast(dtype), before.cast(dtype), new.cast(dtype)
        try:
            differs = before.ne_missing(new)
        except pl.exceptions.PolarsError:
            differs = pl.Series([True] * new.len())
        if not differs.any():
            columns.append(column)
            continue
        values = new.filter(differs)
        at = positions.filter(differs)
        if not isinstance(column.dtype, pl.List | pl.Array | pl.Struct | pl.Object | pl.Null):
            # In place on a copy-on-write clone (the input frame keeps its values): a flat column
            # is patched without copying it.
            columns.append(column.clone().scatter(at, values).rename(name))
            continue
        columns.append(_spliced(column, at, values).rename(name))
    return pl.DataFrame(columns)


def _unchanged_columns(
    schema: Mapping[str, pl.DataType], old: pl.DataFrame, updated: pl.DataFrame
) -> frozenset[str]:
    """Columns of the same type everywhere whose ``updated`` values equal the ``old`` ones, compared
    in one parallel pass (a comparison per column costs a delta as much again); empty when that
    comparison cannot be made, and the columns are then compared one by one."""
    old_schema, new_schema = old.schema, updated.schema
    same = [n for n, t in schema.items() if old_schema.get(n) == t and new_schema.get(n) == t]
    if old.height == 0:
        return frozenset(same)
    if not same:
        return frozenset()
    try:
        pairs = old.select(same).hstack(updated.select(pl.col(n).alias("\x00" + n) for n in same))
        flags = pairs.select(pl.col(n).ne_missing(pl.col("\x00" + n)).any().alias(n) for n in same).row(0)
    except pl.exceptions.PolarsError:
        return frozenset()
    return frozenset(n for n, differs in zip(same, flags, strict=True) if not differs)


_SPLICE_MAX = 2048
# Objects per batch of the export attribute flow (see _export_flow).
_EXPORT_BATCH = 100_000


def _spliced(column: pl.Series, at: pl.Series, values: pl.Series) -> pl.Series:
    """``column`` with ``values`` at positions ``at``, for nested values, which cannot be scattered.

    A few changed rows (a delta's changed groups among a hundred thousand, each with its members)
    are spliced between zero-copy slices of the column; many are gathered with the column. Each
    splice adds two chunks, and a gather from such a column copies it whole first: the outbound step
    reads the rows a run patched from the rows it kept (:func:`_focus_rows`), not from the column."""
    height = column.len()
    if at.len() > _SPLICE_MAX or column.n_chunks() > 1024:
        index = pl.int_range(height, dtype=pl.UInt32, eager=True).scatter(
            at, pl.int_range(height, height + values.len(), dtype=pl.UInt32, eager=True)
        )
        return pl.concat([column, values]).gather(index)
    order = at.arg_sort()
    parts: list[pl.Series] = []
    start = 0
    for i, position in zip(order.to_list(), at.gather(order).to_list(), strict=True):
        if position > start:
            parts.append(column.slice(start, position - start))
        parts.append(values.slice(i, 1))
        start = position + 1
    if start < height:
        parts.append(column.slice(start, height - start))
    return pl.concat(parts, rechunk=False)


def _overlay_memory(frame: pl.DataFrame, memory: pl.DataFrame) -> pl.DataFrame:
    """Show exported-but-unconfirmed values as the attribute's value (as the product's hologram does),
    keeping the imported one as ``_imported.<attribute>`` for ``ImportedValue``."""
    memory = memory.join(frame.select(MV_ID), on=MV_ID, how="semi")
    if memory.height == 0:
        return frame
    for attribute in memory.get_column("attribute").unique().sort().to_list():
        if attribute not in frame.columns or attribute.startswith("_"):
            continue
        dtype = frame.schema[attribute]
        remembered = memory.filter(pl.col("attribute") == attribute).select(
            MV_ID, pl.col("value").alias("__mem"), pl.lit(True).alias("__has")
        )
        frame = (
            frame.join(remembered, on=MV_ID, how="left", maintain_order="left")
            .with_columns(
                pl.col(attribute).alias(f"_imported.{attribute}"),
                pl.when(pl.col("__has"))
                .then(decode_json_expr(pl.col("__mem"), dtype))
                .otherwise(pl.col(attribute))
                .alias(attribute),
            )
            .drop("__mem", "__has")
        )
    return frame


def _changed_ids(old: pl.DataFrame, new: pl.DataFrame) -> pl.Series:
    """Ids whose row differs; ``new`` is ``old`` with columns replaced, so rows are aligned."""
    columns = [c for c in new.columns if c != MV_ID and not c.startswith(PROVENANCE_PREFIX)]
    before = old
    after = new
    before = before.select(
        MV_ID, *[pl.col(c) if c in before.columns else pl.lit(None).alias(c) for c in columns]
    )
    after = after.select(MV_ID, *columns)
    schema = after.schema  # (built anew on every access: once, not once per column)
    before = before.select(MV_ID, *[pl.col(c).cast(schema[c], strict=False) for c in columns])
    differs = before.drop(MV_ID).hash_rows() != after.drop(MV_ID).hash_rows()
    return after.get_column(MV_ID).filter(differs)


# --- outbound --------------------------------------------------------------------------------


def _outbound_connector(run: _Run, connector: str) -> None:
    rules = [b for b in run.rules if b.connector == connector and b.rule.direction is Direction.OUTBOUND]
    if not rules:
        return
    source_types = sorted({b.rule.source_object_type for b in rules})
    changed_here = run.link_changed.get(connector, _no_ids())
    assigned = run.links.filter(
        (pl.col("connector") == connector) & pl.col("anchor_assigned").fill_null(False)
    )
    changed_here = _union(changed_here, assigned.get_column(MV_ID))
    focus: pl.Series | None = None
    if not run.full:
        referrers = _mv_referrers(run, _union(changed_here, run.deleted_mv))
        focus = _union(run.touched, changed_here, referrers)
    counts: dict[str, int] = {}
    flows: list[Callable[[], None]] = []

    def process(ids: pl.Series | None) -> None:
        for mv_type in source_types:
            frame = run.mv.get(mv_type)
            if frame is None:
                continue
            if ids is not None:
                frame = _focus_rows(run, mv_type, frame, ids)
            if frame.height == 0:
                continue
            typed = [b for b in rules if b.rule.source_object_type == mv_type]
            flows.append(_outbound_type(run, connector, mv_type, frame, typed, counts))

    process(focus)
    if focus is not None:
        # Objects outside the focus that name one this step provisioned or deprovisioned export
        # that reference anew (a group loses a member who left the target's scope).
        moved = _minus(run.link_changed.get(connector, _no_ids()), changed_here)
        extra = _minus(_mv_referrers(run, moved), focus) if moved.len() else _no_ids()
        if extra.len():
            process(extra)
            focus = _union(focus, extra)
    memory = run.memory
    if focus is not None:
        memory = memory.join(pl.DataFrame({MV_ID: focus}), on=MV_ID, how="semi")
    run.memory_view = memory.filter(pl.col("connector") == connector)
    # Export attribute flow once every type is provisioned: a reference may name an object of another
    # type that this run provisions (a group's members), which it carries as a placeholder.
    for export_flow in flows:
        export_flow()
    for name, value in sorted(counts.items()):
        run.count(connector, "outbound", name, value)


def _links_of(run: _Run, frame: pl.DataFrame, connector: str, columns: Sequence[str]) -> pl.DataFrame:
    """``columns`` of the links to ``connector`` of the metaverse objects of ``frame`` (all of them in
    a full run, whose focus is all). The columns are picked first: a settling sync's focus is every
    object, whose links would be copied whole."""
    links = run.links.select("connector", *columns)
    if not run.full:
        links = _links_where(links, MV_ID, frame.get_column(MV_ID))
    return links.filter(pl.col("connector") == connector).drop("connector")


def _links_where(links: pl.DataFrame, column: str, values: pl.Series) -> pl.DataFrame:
    """The links whose ``column`` is one of ``values``, in link order: found first, filtered after (a
    filter on the connector first would copy the million links of a connector, only to keep a few)."""
    return rows_where(links, pl.col(column).is_in(values.implode()))


def _mv_referrers(run: _Run, ids: pl.Series) -> pl.Series:
    """Metaverse objects whose reference attributes name one of ``ids``."""
    if not ids.len():
        return _no_ids()
    parts: list[pl.Series] = []
    wanted = ids.implode()
    for frame in run.mv.values():
        schema = frame.schema
        for column in _reference_columns(run, frame):
            values = frame.select(MV_ID, pl.col(column))
            if isinstance(schema[column], pl.List):
                values = values.explode(column)
            parts.append(values.filter(pl.col(column).is_in(wanted)).get_column(MV_ID))
    return _union(*parts)


def _outbound_type(
    run: _Run,
    connector: str,
    mv_type: str,
    frame: pl.DataFrame,
    rules: Sequence[BoundRule],
    counts: dict[str, int],
) -> Callable[[], None]:
    """Scope, deprovision, join and provision; returns the export attribute flow, run later."""
    frame, scope_cols = _scope_columns(frame, rules, None)
    joining = [(b, c) for b, c in scope_cols if b.rule.is_joining]
    links_c = _links_of(
        run, frame, connector, [MV_ID, ANCHOR, DN, "object_type", "rule", "link_type", "direction"]
    )
    work = frame.join(
        links_c.rename({DN: "__ldn"}),
        on=MV_ID,
        how="left",
    )
    lscope: pl.Expr = pl.lit(False)
    for bound, c in scope_cols:
        lscope = pl.when(pl.col("rule") == bound.name).then(pl.col(c)).otherwise(lscope)
    n_join = pl.sum_horizontal([pl.col(c).cast(pl.Int32) for _, c in joining]) if joining else pl.lit(0)
    jrule: pl.Expr = pl.lit(None, dtype=pl.Int32)
    for i, (_, c) in reversed(list(enumerate(joining))):
        jrule = pl.when(pl.col(c)).then(pl.lit(i, dtype=pl.Int32)).otherwise(jrule)
    linked = pl.col("rule").is_not_null()
    work = work.with_columns(n_join.alias("__n"), jrule.alias("__j"))
    work = work.with_columns((pl.col("__n") > 1).alias("__multi"))
    run.error(
        work.filter(pl.col("__multi")).select(MV_ID, ANCHOR, "object_type"),
        connector=connector,
        error_type=ERROR_MULTIPLE_JOINING_RULES,
        message="more than one outbound joining rule is in scope: " + ", ".join(b.name for b, _ in joining),
    )
    leaving = work.filter(
        linked
        & (pl.col("direction") == Direction.OUTBOUND.value)
        & ~pl.col("__multi")
        & ~lscope.fill_null(False)
    )
    if leaving.height:
        gone = leaving.select(
            pl.lit(connector).alias("connector"),
            "object_type",
            MV_ID,
            ANCHOR,
            pl.col("__ldn").alias(DN),
            "link_type",
        )
        run.unjoined.append(_unjoined(gone))
        deletes = gone.filter(pl.col("link_type") == LinkType.PROVISION.value)
        run.exports.append(_delete_rows(deletes))
        _stage_deletes(run, deletes)
        _add(counts, "provisioned-delete", deletes.height)
        _add(counts, "provisioned-disconnect", gone.height - deletes.height)
        run.links = run.links.join(gone.select("connector", MV_ID), on=["connector", MV_ID], how="anti")
        run.memory = run.memory.join(gone.select("connector", MV_ID), on=["connector", MV_ID], how="anti")
        run.changed_link(connector, gone.get_column(MV_ID))
    unlinked = work.filter(~linked & ~pl.col("__multi") & (pl.col("__n") == 1))
    created = _no_ids()
    for i, (bound, _) in enumerate(joining):
        rows = unlinked.filter(pl.col("__j") == i)
        if rows.height == 0:
            continue
        created = _union(created, _outbound_join_or_provision(run, connector, mv_type, rows, bound, counts))
    run.provisioned[connector] = _union(run.provisioned.get(connector, _no_ids()), created)

    def export_flow() -> None:
        """Export attribute flow for every linked object of the focus."""
        for target_type in sorted({b.rule.target_object_type for b in rules}):
            typed = [(b, c) for b, c in scope_cols if b.rule.target_object_type == target_type]
            _export_flow(run, connector, target_type, frame, typed, created, counts)

    return export_flow


def _outbound_join_or_provision(
    run: _Run, connector: str, mv_type: str, rows: pl.DataFrame, bound: BoundRule, counts: dict[str, int]
) -> pl.Series:
    rule = bound.rule
    target_type = rule.target_object_type
    cs = run.cs.get(connector, {}).get(target_type)
    matches = pl.DataFrame(schema={MV_ID: pl.String(), ANCHOR: pl.String()})
    live = None
    if cs is not None and cs.height:
        # Neither a deleted object nor one marked for deletion is joined: the source gets a fresh object.
        live = cs.filter(pl.col(PENDING) != PENDING_DELETE)
        staged = _staged_anchors(run, connector, target_type)
        if staged.len():
            live = live.filter(~pl.col(ANCHOR).is_in(staged.implode()))
        if rule.join:
            matches = match_groups(rows, MV_ID, live, ANCHOR, rule.join)
    dn_values = None
    dn_flow = next((f for f in rule.flows if f.destination == DN_DESTINATION), None)
    if dn_flow is not None:
        params = {"Connector.ID": connector, **run.params.get(connector, {})}
        compiled = compile_flow(dn_flow, rule.name, rows.schema, params)
        dn_values = rows.select(MV_ID, compiled.value.cast(pl.String).alias("__dn"))
        if live is not None:
            rest = dn_values.join(matches.select(MV_ID), on=MV_ID, how="anti").drop_nulls("__dn")
            by_dn = rest.with_columns(pl.col("__dn").str.to_lowercase().alias("__key")).join(
                live.select(ANCHOR, pl.col(DN).str.to_lowercase().alias("__key")),
                on="__key",
                how="inner",
            )
            matches = pl.concat([matches, by_dn.select(MV_ID, ANCHOR)])
    linked_anchors = (
        run.links.lazy()
        .filter((pl.col("connector") == connector) & pl.col(ANCHOR).is_not_null())
        .select(ANCHOR)
        .collect()
        .get_column(ANCHOR)
    )
    dup = matches.group_by(ANCHOR).len().filter(pl.col("len") > 1).get_column(ANCHOR)
    bad = matches.filter(pl.col(ANCHOR).is_in(dup.implode()) | pl.col(ANCHOR).is_in(linked_anchors.implode()))
    good = matches.join(bad.select(MV_ID), on=MV_ID, how="anti")
    run.error(
        bad.select(MV_ID, ANCHOR),
        connector=connector,
        object_type=target_type,
        rule=rule.name,
        error_type=ERROR_AMBIGUOUS_JOIN,
        message="the outbound join matches a target object already joined to another metaverse object",
    )
    run.outbound_joined.append(
        _unjoined(good.with_columns(connector=pl.lit(connector), object_type=pl.lit(target_type)))
    )
    frames = [
        good.join(cs.select(ANCHOR, DN), on=ANCHOR, how="left", maintain_order="left")
        if cs is not None
        else good,
    ]
    created = _no_ids()
    if rule.link_type is LinkType.PROVISION:
        rest = rows.join(matches.select(MV_ID), on=MV_ID, how="anti").select(MV_ID)
        if dn_values is not None:
            rest = rest.join(dn_values.rename({"__dn": DN}), on=MV_ID, how="left", maintain_order="left")
        frames.append(rest.with_columns(pl.lit(None, dtype=pl.String).alias(ANCHOR)))
        created = rest.get_column(MV_ID)
    new = concat(
        [
            f.with_columns(
                pl.lit(connector).alias("connector"),
                pl.lit(target_type).alias("object_type"),
                pl.lit(mv_type).alias("mv_object_type"),
                pl.lit(rule.name).alias("rule"),
                pl.lit(rule.link_type.value).alias("link_type"),
                pl.lit(Direction.OUTBOUND.value).alias("direction"),
                pl.lit(False).alias("sustains"),
            )
            for f in frames
        ],
        LINKS_SCHEMA,
    )
    run.links = pl.concat([run.links, new])
    _add(counts, "provisioned-add-flow", created.len())
    _add(counts, "provisioned-join", good.height)
    run.changed_link(connector, new.get_column(MV_ID))
    return created


def _export_flow(
    run: _Run,
    connector: str,
    target_type: str,
    frame: pl.DataFrame,
    scope_cols: Sequence[tuple[BoundRule, str]],
    created: pl.Series,
    counts: dict[str, int],
) -> None:
    links = _links_of(run, frame, connector, ["object_type", MV_ID, ANCHOR, DN])
    links = links.filter(pl.col("object_type") == target_type)
    # The linked rows' positions, their links and whether this run created them, found once.
    linked = (
        frame.select(MV_ID)
        .with_row_index("__pos")
        .join(
            links.select(MV_ID, ANCHOR, pl.col(DN).alias("__ldn")),
            on=MV_ID,
            how="inner",
            maintain_order="left",
        )
        .with_columns(pl.col(MV_ID).is_in(created.implode()).alias("__new"))
        .drop(MV_ID)
    )
    # A full run's references name any linked object: their targets are found once for every batch.
    flowed = {f.destination for b, _ in scope_cols for f in b.rule.flows}
    targets = _reference_targets(run, connector, None) if run.full and flowed & run.references else None
    # In batches of objects: the values, their JSON and the current values of a million objects at
    # once (the settling sync after an initial export compares them all) would cost gigabytes.
    for start in range(0, linked.height, _EXPORT_BATCH):
        batch = linked.slice(start, _EXPORT_BATCH)
        at = batch.get_column("__pos")  # (ascending: gathered from the slice they span)
        first = at[0]
        rows = frame.slice(first, at[-1] - first + 1)[at - first].hstack(batch.drop("__pos"))
        _export_batch(run, connector, target_type, rows, scope_cols, targets, counts)


def _export_batch(
    run: _Run,
    connector: str,
    target_type: str,
    rows: pl.DataFrame,
    scope_cols: Sequence[tuple[BoundRule, str]],
    targets: pl.DataFrame | None,
    counts: dict[str, int],
) -> None:
    """Export attribute flow for ``rows`` (focus objects with their links to ``connector``);
    ``targets``: the reference targets (:func:`_reference_targets`) when found already, else those
    the rows' references name are looked up."""
    resolution = resolve(rows, MV_ID, scope_cols, params_by_connector=run.params, new_column="__new")
    run.error(
        resolution.errors.join(rows.select(MV_ID, ANCHOR), on=MV_ID, how="left", maintain_order="left"),
        connector=connector,
        object_type=target_type,
        error_type=ERROR_FUNCTION_TRIGGERED,
    )
    resolved = resolution.frame.join(resolution.errors.select(MV_ID), on=MV_ID, how="anti")
    refs = [a for a in resolution.attributes if a in run.references]
    if refs:
        if targets is None:
            targets = _reference_targets(run, connector, _reference_values(resolved, refs))
        for attribute in refs:
            resolved = map_references(resolved, attribute, targets, lower=False)
    resolved = resolved.join(rows.select(MV_ID, ANCHOR, "__ldn"), on=MV_ID, how="left", maintain_order="left")
    cs = run.cs.get(connector, {}).get(target_type)
    attributes = list(resolution.attributes)
    if cs is not None:
        cs_schema = cs.schema
        present = [a for a in attributes if a in cs_schema]
        current_frame = rows_where(
            cs.select(ANCHOR, *present),
            pl.col(ANCHOR).is_in(resolved.get_column(ANCHOR).drop_nulls().implode()),
        ).select(ANCHOR, *[json_expr(pl.col(a), cs_schema[a]).alias("\x00cur" + a) for a in present])
        resolved = resolved.join(current_frame, on=ANCHOR, how="left", maintain_order="left")
    memory = run.memory_view.join(resolved.select(MV_ID), on=MV_ID, how="semi")
    if memory.height:
        wide = memory.pivot(on="attribute", index=MV_ID, values="value")
        wide = wide.rename({c: "\x00mem" + c for c in wide.columns if c != MV_ID})
        resolved = resolved.join(wide, on=MV_ID, how="left", maintain_order="left")
    is_add = pl.col(ANCHOR).is_null()
    resolved_schema = resolved.schema
    # One parallel pass computes every attribute's JSON and change flag.
    computed: list[pl.Expr] = [
        pl.col(MV_ID),
        pl.col(ANCHOR),
        pl.col("__ldn").alias(DN),
        is_add.alias("__add"),
    ]
    for i, attribute in enumerate(attributes):
        desired = json_expr(pl.col(attribute), resolved_schema[attribute])
        if attribute in refs:
            desired = markers_to_placeholders(desired)
        current_parts = [
            pl.col(p + attribute) for p in ("\x00mem", "\x00cur") if p + attribute in resolved_schema
        ]
        current: pl.Expr = pl.coalesce(current_parts) if current_parts else pl.lit(None, dtype=pl.String)
        code = pl.col(attribute + CODE)
        keep = (code % 4 != KIND_IGNORE).fill_null(True)
        change = pl.when(is_add).then(desired.is_not_null()).otherwise(desired.ne_missing(current))
        computed += [
            (keep & change).alias(f"__c{i}"),
            desired.alias(f"__n{i}"),
            pl.when(is_add).then(pl.lit(None, dtype=pl.String)).otherwise(current).alias(f"__o{i}"),
        ]
    diffs = resolved.select(computed)
    op = pl.when(pl.col("__add")).then(pl.lit(EXPORT_ADD)).otherwise(pl.lit(EXPORT_UPDATE)).alias("op")
    # (A filter per attribute: stacking every attribute first, to filter once, costs a full sync
    # tens of millions of rows.)
    parts: list[pl.DataFrame] = [
        diffs.filter(pl.col(f"__c{i}")).select(
            MV_ID,
            ANCHOR,
            DN,
            op,
            pl.lit(attribute).alias("attribute"),
            pl.col(f"__o{i}").alias("old_value"),
            pl.col(f"__n{i}").alias("new_value"),
        )
        for i, attribute in enumerate(attributes)
    ]
    if not parts:
        return
    out = pl.concat(parts).with_columns(
        pl.lit(connector).alias("connector"), pl.lit(target_type).alias("object_type")
    )
    run.exports.append(conform(out, PENDING_EXPORT_SCHEMA))
    updated = out.filter(pl.col("op") == EXPORT_UPDATE).get_column(MV_ID).n_unique()
    existing = resolved.filter(~is_add).height
    _add(counts, "connector-flow", updated)
    _add(counts, "connector-no-flow", existing - updated)


def _reference_targets(run: _Run, connector: str, wanted: pl.Series | None) -> pl.DataFrame:
    """``key`` (metaverse id) -> ``value`` (what a reference to it exports to ``connector``) for the
    ``wanted`` ids (every linked one: ``None``): the anchor, else the DN; an object this run
    provisions (no anchor, no DN: created by this export) is a placeholder. Older pending adds (their
    create failed) are left out until they exist."""
    columns = run.links.select("connector", MV_ID, ANCHOR, DN)
    if wanted is not None:
        columns = _links_where(columns, MV_ID, wanted)
    new_here = run.provisioned.get(connector, _no_ids())
    placeholder = pl.when(pl.col(MV_ID).is_in(new_here.implode())).then(placeholder_marker(pl.col(MV_ID)))
    return (
        columns.lazy()
        .filter(pl.col("connector") == connector)
        .unique(MV_ID, keep="first", maintain_order=True)
        .select(
            pl.col(MV_ID).alias("key"),
            pl.coalesce(pl.col(ANCHOR), pl.col(DN), placeholder).alias("value"),
        )
        .drop_nulls("value")
        .collect()
    )


# --- result ----------------------------------------------------------------------------------


def _disconnectors(run: _Run, spaces: Mapping[str, Mapping[str, pl.DataFrame]]) -> pl.DataFrame:
    """The objects this run leaves unjoined: those it processed and left unjoined or unlinked, and the
    recorded ones it did not process, less those an outbound rule joined (a superset would be safe: a
    delta re-evaluates them and finds their links)."""
    keys = ["connector", "object_type", ANCHOR]
    parts = list(run.unjoined)
    known = run.state.disconnectors
    if not run.full and known is not None and known.height:  # a full run processes every object
        processed = [
            pl.DataFrame({ANCHOR: anchors}).with_columns(connector=pl.lit(c), object_type=pl.lit(t))
            for (c, t), anchors in run.processed.items()
            if anchors.len()
        ]
        rest = conform(known, DISCONNECTORS_SCHEMA)
        if processed:
            rest = rest.join(concat(processed, DISCONNECTORS_SCHEMA), on=keys, how="anti")
        parts.insert(0, rest)
    found = concat(parts, DISCONNECTORS_SCHEMA).unique(maintain_order=True)
    if run.outbound_joined:
        found = found.join(concat(run.outbound_joined, DISCONNECTORS_SCHEMA), on=keys, how="anti")
    # Only objects still in their connector space (a processed deletion is gone).
    present: list[pl.DataFrame] = []
    for (connector, object_type), rows in found.partition_by(
        "connector", "object_type", as_dict=True, maintain_order=True
    ).items():
        frame = spaces.get(str(connector), {}).get(str(object_type))
        if frame is not None:
            here = frame.filter(pl.col(ANCHOR).is_in(rows.get_column(ANCHOR).implode())).get_column(ANCHOR)
            present.append(rows.filter(pl.col(ANCHOR).is_in(here.implode())))
    return concat(present, DISCONNECTORS_SCHEMA)


def _result(run: _Run) -> SyncResult:
    spaces: dict[str, dict[str, pl.DataFrame]] = {}
    for connector, types in run.cs.items():
        spaces[connector] = {}
        for object_type, frame in types.items():
            processed = run.processed.get((connector, object_type))
            if processed is None or not processed.len():
                spaces[connector][object_type] = frame
                continue
            # Processed imports are consumed: deletions leave the connector space, other flags clear.
            # Only what changes is rewritten (a delta processes a few rows of wide frames).
            # Column operations, not frame ones: a frame operation costs a pass per column.
            done = frame.get_column(ANCHOR).is_in(processed.implode())
            pending = frame.get_column(PENDING)
            if (done & (pending == PENDING_DELETE)).any():
                frame = frame.filter(~(done & (pending == PENDING_DELETE)))
                done = frame.get_column(ANCHOR).is_in(processed.implode())
                pending = frame.get_column(PENDING)
            clear = (done & (pending != PENDING_NONE)).arg_true()
            if clear.len():
                frame = frame.clone()  # (shallow) the input state keeps its frame
                frame.replace_column(
                    frame.get_column_index(PENDING), pending.clone().scatter(clear, PENDING_NONE)
                )
            spaces[connector][object_type] = frame
    links = run.links.with_columns(pl.lit(False).alias("anchor_assigned"))
    # A delete staged by an earlier sync and not sent yet is listed again (a full sync rebuilds the
    # pending exports, and must not lose it).
    waiting = run.staged.join(
        conform(run.state.staged_deletes, STAGED_DELETES_SCHEMA).filter(~pl.col("exported").fill_null(False)),
        on=["connector", ANCHOR],
        how="semi",
    )
    if waiting.height and run.staged_new:
        waiting = waiting.join(pl.concat(run.staged_new), on=["connector", ANCHOR], how="anti")
    if waiting.height:
        run.exports.insert(0, _delete_rows(waiting))
    state = SyncState(
        connector_spaces=spaces,
        metaverse=dict(run.mv),
        links=links,
        export_memory=run.memory,
        reference_index=run.ref_index,
        staged_deletes=run.staged,
        disconnectors=_disconnectors(run, spaces),
    )
    # Large frames keep their construction order, which is deterministic (ordered joins, rules and
    # attributes in a fixed order, metaverse frames sorted by id): sorting tens of millions of rows by
    # string keys would cost more than the sync itself.
    exports = concat(run.exports, PENDING_EXPORT_SCHEMA)
    errors = concat(run.errors, SYNC_ERRORS_SCHEMA).sort(
        ["connector", "object_type", ANCHOR, MV_ID, "error_type"], nulls_last=True
    )
    for connector, kept in sorted(run.kept.items()):
        flowed = int(kept.is_in(run.changed_mv.implode()).sum())
        run.count(connector, "inbound", "connector-flow", flowed)
        run.count(connector, "inbound", "connector-no-flow", _minus(kept, run.deleted_mv).len() - flowed)
    counter_rows = [r for r in run.counters if not r[2].startswith("__")]
    counters = pl.DataFrame(counter_rows, schema=COUNTERS_SCHEMA, orient="row")
    counters = counters.group_by(["connector", "step", "counter"], maintain_order=True).agg(
        pl.col("value").sum()
    )
    return SyncResult(
        state=state,
        pending_exports=exports,
        errors=errors,
        counters=counters.sort(["connector", "step", "counter"]),
    )
