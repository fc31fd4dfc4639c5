"""The part of the sync state a preview of one object needs, so that previewing costs one object.

A full sync decides an object's fate from a small neighbourhood: the metaverse object, every
connector-space object linked to it, the objects a join rule could pair it with (in either
direction: a disconnector that would join it, a metaverse object it would join, a target object an
outbound join would match), again with their links, and, for its references (manager, member...),
the referenced objects with their links and metaverse objects (what the DN-to-id and id-to-anchor
mappings read). :func:`preview_state` gathers that closure with whole-frame semi-joins and returns
the state restricted to it; the engine run on it gives the object the result a full sync gives it.

Join candidates are gathered by comparing values as lower-case text (Base64 for binary), which can
only take in more objects than the engine's comparison matches, never fewer. A join on a value the
sync itself computes (a metaverse attribute flowed in the same run) is covered by passing the
metaverse of a first restricted run as ``after``: the caller repeats until the closure is stable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import polars as pl

from transforms.rules.model import Direction
from transforms.schema import ANCHOR, DN, MV_ID
from transforms.sync.flows import BoundRule
from transforms.sync.schema import DEFAULT_REFERENCE_ATTRIBUTES
from transforms.sync.state import SyncState

CS_KEY = ("connector", ANCHOR)
MAX_ROUNDS = 16


def _no_keys() -> pl.DataFrame:
    return pl.DataFrame(schema={"connector": pl.String(), ANCHOR: pl.String()})


def _ids(values: Iterable[str | None] | pl.Series) -> pl.Series:
    return pl.Series(MV_ID, list(values), dtype=pl.String).drop_nulls().unique(maintain_order=True)


def _text(series: pl.Series) -> pl.Series:
    """Comparable text of a column's values: lists exploded, binary as Base64, lower case, no nulls."""
    if isinstance(series.dtype, pl.List):
        series = series.explode()
    if series.dtype == pl.Binary:
        series = series.bin.encode("base64")
    return series.cast(pl.String, strict=False).str.to_lowercase().drop_nulls()


def _rows_with(frame: pl.DataFrame, attribute: str, values: pl.Series) -> pl.DataFrame:
    """Rows of ``frame`` with a value of ``attribute`` among ``values`` (as :func:`_text` gives them)."""
    if attribute not in frame.columns or values.len() == 0 or frame.height == 0:
        return frame.clear()
    indexed = frame.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("__i"), pl.col(attribute))
    if isinstance(indexed.schema[attribute], pl.List):
        indexed = indexed.explode(attribute)
    column = indexed.get_column(attribute)
    hits = indexed.get_column("__i").filter(_text_aligned(column).is_in(values.implode()).fill_null(False))
    return frame[hits.unique().sort()]


def _text_aligned(series: pl.Series) -> pl.Series:
    """:func:`_text` without dropping nulls, so positions stay aligned with ``series``."""
    if series.dtype == pl.Binary:
        series = series.bin.encode("base64")
    return series.cast(pl.String, strict=False).str.to_lowercase()


class _Closure:
    """The growing sets of metaverse ids and connector-space keys (internal)."""

    def __init__(self, state: SyncState, mv_ids: pl.Series, cs_keys: pl.DataFrame) -> None:
        self.state = state
        self.mv = _ids(mv_ids)
        self.cs = cs_keys.select(*CS_KEY).unique(maintain_order=True)

    def size(self) -> tuple[int, int]:
        return self.mv.len(), self.cs.height

    def add_mv(self, ids: pl.Series) -> None:
        self.mv = _ids(pl.concat([self.mv, ids.cast(pl.String).rename(MV_ID)]))

    def add_cs(self, connector: str, anchors: pl.Series) -> None:
        keys = pl.DataFrame({"connector": connector, ANCHOR: anchors.cast(pl.String)}).drop_nulls()
        self.cs = pl.concat([self.cs, keys]).unique(maintain_order=True)

    def follow_links(self) -> None:
        links = self.state.links
        mine = links.filter(pl.col(MV_ID).is_in(self.mv.implode()))
        # A deprovisioned target waiting for its delete to be confirmed still belongs to the object.
        staged = self.state.staged_deletes.filter(pl.col(MV_ID).is_in(self.mv.implode()))
        found = [mine.select(*CS_KEY).drop_nulls(), staged.select(*CS_KEY).drop_nulls()]
        self.cs = pl.concat([self.cs, *found]).unique(maintain_order=True)
        linked = links.join(self.cs, on=list(CS_KEY), how="semi")
        self.add_mv(linked.get_column(MV_ID))

    def cs_rows(self, connector: str, object_type: str) -> pl.DataFrame:
        frame = self.state.connector_spaces.get(connector, {}).get(object_type)
        if frame is None:
            return pl.DataFrame(schema={ANCHOR: pl.String()})
        anchors = self.cs.filter(pl.col("connector") == connector).get_column(ANCHOR)
        return frame.filter(pl.col(ANCHOR).is_in(anchors.implode()))


def _mv_frames(metaverse: Mapping[str, pl.DataFrame], mv_type: str) -> list[pl.DataFrame]:
    return [f for t, f in metaverse.items() if mv_type in ("*", t)]


def _join_sides(bound: BoundRule) -> Iterable[tuple[str, str, str, str]]:
    """(connector-space type, its attribute, metaverse type, its attribute) of each join condition."""
    rule = bound.rule
    for group in rule.join:
        for condition in group.conditions:
            if rule.direction is Direction.INBOUND:
                yield rule.source_object_type, condition.source, rule.target_object_type, condition.target
            else:
                yield rule.target_object_type, condition.target, rule.source_object_type, condition.source


def _join_round(closure: _Closure, rules: Sequence[BoundRule], after: Mapping[str, pl.DataFrame]) -> None:
    state = closure.state
    for bound in rules:
        for cs_type, cs_attr, mv_type, mv_attr in _join_sides(bound):
            cs_frame = state.connector_spaces.get(bound.connector, {}).get(cs_type)
            if cs_frame is None:
                continue
            mine = closure.cs_rows(bound.connector, cs_type)
            if cs_attr in mine.columns:
                values = _text(mine.get_column(cs_attr))
                for frame in _mv_frames(state.metaverse, mv_type):
                    closure.add_mv(_rows_with(frame, mv_attr, values).get_column(MV_ID))
            mv_values = [
                _text(f.filter(pl.col(MV_ID).is_in(closure.mv.implode())).get_column(mv_attr))
                for source in (state.metaverse, after)
                for f in _mv_frames(source, mv_type)
                if mv_attr in f.columns
            ]
            if mv_values:
                values = pl.concat(mv_values).unique()
                closure.add_cs(bound.connector, _rows_with(cs_frame, cs_attr, values).get_column(ANCHOR))


def _referenced(
    closure: _Closure, references: frozenset[str], after: Mapping[str, pl.DataFrame]
) -> tuple[pl.Series, pl.DataFrame]:
    """Metaverse ids and connector-space keys the references of the closure's objects point at."""
    ids: list[pl.Series] = []
    keys: list[pl.DataFrame] = []
    state = closure.state
    for connector, types in state.connector_spaces.items():
        for object_type in types:
            mine = closure.cs_rows(connector, object_type)
            columns = [c for c in mine.columns if c in references]
            if not columns or mine.height == 0:
                continue
            values = pl.concat([_text(mine.get_column(c)) for c in columns]).unique()
            for frame in types.values():
                hit = frame.filter(
                    pl.col(DN).str.to_lowercase().is_in(values.implode())
                    | pl.col(ANCHOR).str.to_lowercase().is_in(values.implode())
                )
                keys.append(hit.select(pl.lit(connector).alias("connector"), ANCHOR))
    for source in (state.metaverse, after):
        for frame in source.values():
            mine = frame.filter(pl.col(MV_ID).is_in(closure.mv.implode()))
            for column in (c for c in mine.columns if c in references):
                series = mine.get_column(column)
                ids.append(
                    (series.explode() if isinstance(series.dtype, pl.List) else series).cast(pl.String)
                )
    return _ids(pl.concat(ids) if ids else []), pl.concat(keys) if keys else _no_keys()


def preview_state(
    state: SyncState,
    rules: Sequence[BoundRule],
    *,
    mv_ids: Sequence[str],
    cs_keys: pl.DataFrame,
    after: Mapping[str, pl.DataFrame] | None = None,
    references: frozenset[str] = DEFAULT_REFERENCE_ATTRIBUTES,
) -> SyncState:
    """``state`` restricted to what a full sync of the objects ``mv_ids`` and ``cs_keys``
    (``connector``, ``_anchor``) reads; see the module docstring. ``rules`` are the bound rules
    (:func:`transforms.sync.bind_rules`); ``after`` the metaverse of an earlier restricted run."""
    ids, keys = preview_scope(
        state, rules, mv_ids=mv_ids, cs_keys=cs_keys, after=after, references=references
    )
    return restrict(state, ids, keys)


def scope_columns(
    rules: Sequence[BoundRule], references: frozenset[str] = DEFAULT_REFERENCE_ATTRIBUTES
) -> set[str]:
    """The attributes :func:`preview_scope` reads besides the system columns: every join attribute
    of ``rules`` and the reference attributes. A state with only these columns gives the same scope."""
    columns = set(references)
    for bound in rules:
        for group in bound.rule.join:
            for condition in group.conditions:
                columns.update((condition.source, condition.target))
    return columns


def preview_scope(
    state: SyncState,
    rules: Sequence[BoundRule],
    *,
    mv_ids: Sequence[str],
    cs_keys: pl.DataFrame,
    after: Mapping[str, pl.DataFrame] | None = None,
    references: frozenset[str] = DEFAULT_REFERENCE_ATTRIBUTES,
) -> tuple[pl.Series, pl.DataFrame]:
    """The metaverse ids and connector-space keys (``connector``, ``_anchor``) of the neighbourhood
    :func:`preview_state` keeps. ``state`` needs only the system columns and :func:`scope_columns`."""
    after = after or {}
    closure = _Closure(state, _ids(mv_ids), cs_keys)
    joining = [b for b in rules if b.rule.join]
    for _ in range(MAX_ROUNDS):
        size = closure.size()
        closure.follow_links()
        _join_round(closure, joining, after)
        if closure.size() == size:
            break
    referenced_ids, referenced_keys = _referenced(closure, references, after)
    # Referenced objects come with their metaverse objects and everything linked to those (a link and
    # both its ends are kept or dropped together), but not with their own join candidates or references.
    kept = _Closure(state, pl.concat([closure.mv, referenced_ids]), pl.concat([closure.cs, referenced_keys]))
    for _ in range(MAX_ROUNDS):
        size = kept.size()
        kept.follow_links()
        if kept.size() == size:
            break
    return kept.mv, kept.cs


def restrict(state: SyncState, mv_ids: pl.Series, cs_keys: pl.DataFrame) -> SyncState:
    """``state`` with only the metaverse objects ``mv_ids``, the connector-space objects ``cs_keys``,
    and the links, export memory, reference index and staged-delete rows of those."""
    ids = mv_ids.implode()
    spaces: dict[str, dict[str, pl.DataFrame]] = {}
    for connector, types in state.connector_spaces.items():
        anchors = cs_keys.filter(pl.col("connector") == connector).get_column(ANCHOR).implode()
        spaces[connector] = {t: f.filter(pl.col(ANCHOR).is_in(anchors)) for t, f in types.items()}
    keyed = state.links.with_row_index("__i")
    by_key = keyed.join(cs_keys, on=list(CS_KEY), how="semi").get_column("__i")
    links = keyed.filter(pl.col(MV_ID).is_in(ids) | pl.col("__i").is_in(by_key.implode())).drop("__i")
    return SyncState(
        connector_spaces=spaces,
        metaverse={t: f.filter(pl.col(MV_ID).is_in(ids)) for t, f in state.metaverse.items()},
        links=links,
        export_memory=state.export_memory.filter(pl.col(MV_ID).is_in(ids)),
        reference_index=state.reference_index.join(cs_keys, on=list(CS_KEY), how="semi"),
        staged_deletes=state.staged_deletes.filter(
            pl.col(MV_ID).is_in(ids)
            | pl.struct(*CS_KEY).is_in(cs_keys.select(pl.struct(*CS_KEY)).to_series().implode())
        ),
    )
