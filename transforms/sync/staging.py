"""The import stage's comparison: which objects a full import added, changed, renamed or deleted.

Given the stored connector-space image (``previous``) and what a full import just read (``incoming``),
each object gets its pending-import kind by anchor (spec 1.2-1.3): ``add`` (new anchor), ``update``
(attribute values or DN changed; a DN change is also counted as a rename), ``delete-add`` (same anchor,
different object type), ``delete`` (stored but not seen: obsoletion) or ``none``. Values are compared
column by column (exact, independent of any hash), and ``_hash`` is computed for the store's own cheap
change checks.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

import polars as pl

from transforms.errors import InputError
from transforms.schema import (
    ANCHOR,
    DN,
    HASH,
    OBJECT_TYPE,
    PENDING,
    PENDING_ADD,
    PENDING_DELETE,
    PENDING_DELETE_ADD,
    PENDING_NONE,
    PENDING_UPDATE,
)


class DeltaBatch(Protocol):
    """What a delta import hands over per object type (``flows.connectors.base.ImportBatch`` fits)."""

    @property
    def frame(self) -> pl.DataFrame: ...
    @property
    def deleted(self) -> pl.Series: ...
    @property
    def partial(self) -> bool: ...


STAGE_ADD: Final = "stage-add"
STAGE_UPDATE: Final = "stage-update"
STAGE_RENAME: Final = "stage-rename"
STAGE_DELETE: Final = "stage-delete"
STAGE_DELETE_ADD: Final = "stage-delete-add"
STAGE_NO_CHANGE: Final = "stage-no-change"
STAGE_COUNTERS: Final = (
    STAGE_ADD,
    STAGE_UPDATE,
    STAGE_RENAME,
    STAGE_DELETE,
    STAGE_DELETE_ADD,
    STAGE_NO_CHANGE,
)

STAGED_SYSTEM_SCHEMA: Final[dict[str, pl.DataType]] = {
    ANCHOR: pl.String(),
    DN: pl.String(),
    OBJECT_TYPE: pl.String(),
    HASH: pl.UInt64(),
    PENDING: pl.String(),
}

# Delta rows (DirSync) carry only what changed: CHANGED lists the attributes the directory reported
# (a null value there means cleared); ADD/REMOVE suffixes carry incremental multi-valued changes.
CHANGED: Final = "_changed"
INCREMENTAL_ADD: Final = "@add"
INCREMENTAL_REMOVE: Final = "@remove"

_HASH_SEED: Final = 0x5EED_F0E5
_PREV: Final = "__prev"
_SEEN: Final = "__seen"


@dataclass(frozen=True)
class StagedImport:
    """The staged connector space after a full import, and the run-history counters.

    ``frame``: :data:`STAGED_SYSTEM_SCHEMA` columns, then the attribute columns (incoming's, then any
    only the stored image had), one row per incoming object plus one per deleted object (its stored
    image), sorted by anchor. ``counters``: every name of :data:`STAGE_COUNTERS`; renames are counted
    apart from other updates, so the counters add up to the number of rows.
    """

    frame: pl.DataFrame
    counters: dict[str, int]


def attribute_columns(frame: pl.DataFrame) -> list[str]:
    return [c for c in frame.columns if not c.startswith("_")]


def attribute_hash(frame: pl.DataFrame) -> pl.Series:
    """A UInt64 digest of each row's attribute values (system columns excluded).

    Null values contribute nothing, so a column that is absent and a column that is all null hash the
    same; each column is hashed with a seed derived from its name, so moving a value to another
    attribute changes the digest. Stable across processes for one Polars version (Polars does not
    promise more), which is why the comparison itself never relies on it.
    """
    names = sorted(attribute_columns(frame))
    if not names:
        return pl.Series(HASH, [0] * frame.height, dtype=pl.UInt64)
    # Hashing a null yields a value too; mask it so that absent and null agree.
    parts = [
        pl.when(pl.col(c).is_null())
        .then(pl.lit(0, dtype=pl.UInt64))
        .otherwise(pl.col(c).hash(seed=_HASH_SEED ^ zlib.crc32(c.encode())))
        for c in names
    ]
    return frame.select(pl.reduce(lambda a, b: a ^ b, parts).alias(HASH)).to_series()


def _aligned(frame: pl.DataFrame, columns: list[str], dtypes: dict[str, pl.DataType]) -> pl.DataFrame:
    # with_columns broadcasts a literal to the frame's height (a select of literals alone gives one row).
    missing = [pl.lit(None, dtype=dtypes[c]).alias(c) for c in columns if c not in frame.columns]
    widened = frame.with_columns(missing) if missing else frame
    return widened.select(
        pl.col(c) if widened.schema[c] == dtypes[c] else pl.col(c).cast(dtypes[c], strict=False)
        for c in columns
    )


def stage_full_import(previous: pl.DataFrame | None, incoming: pl.DataFrame) -> StagedImport:
    """Compare a full import with the stored image by anchor; see :class:`StagedImport` for the output.

    ``previous`` rows already pending deletion are treated as gone. Both frames need ``_anchor``,
    ``_dn`` and ``_object_type``; anchors must be unique in each.
    """
    for label, f in (("incoming", incoming), ("previous", previous)):
        if f is None:
            continue
        missing = [c for c in (ANCHOR, DN, OBJECT_TYPE) if c not in f.columns]
        if missing:
            raise InputError(f"{label} frame lacks system column(s) {', '.join(missing)}")
        if f[ANCHOR].is_duplicated().any():
            dup = f.filter(pl.col(ANCHOR).is_duplicated())[ANCHOR][0]
            raise InputError(f"{label} frame has duplicate anchor {dup!r}")
    prev = previous if previous is not None else incoming.clear()
    if PENDING in prev.columns:
        prev = prev.filter(pl.col(PENDING).ne_missing(pl.lit(PENDING_DELETE)))

    in_attrs = attribute_columns(incoming)
    prev_attrs = attribute_columns(prev)
    columns = in_attrs + [c for c in prev_attrs if c not in in_attrs]
    dtypes: dict[str, pl.DataType] = {c: prev.schema[c] for c in prev_attrs}
    dtypes.update({c: incoming.schema[c] for c in in_attrs})

    inc = pl.concat(
        [incoming.select(ANCHOR, DN, OBJECT_TYPE), _aligned(incoming, columns, dtypes)], how="horizontal"
    )
    old = pl.concat([prev.select(ANCHOR, DN, OBJECT_TYPE), _aligned(prev, columns, dtypes)], how="horizontal")
    inc = inc.with_columns(attribute_hash(inc))

    old_side = old.select(
        pl.col(ANCHOR),
        pl.lit(True).alias(_SEEN),
        *[pl.col(c).alias(c + _PREV) for c in (DN, OBJECT_TYPE, *columns)],
    )
    joined = inc.join(old_side, on=ANCHOR, how="left", maintain_order="left")
    seen = pl.col(_SEEN).fill_null(False)
    changed = pl.any_horizontal([pl.lit(False), *[pl.col(c).ne_missing(pl.col(c + _PREV)) for c in columns]])
    renamed = pl.col(DN).ne_missing(pl.col(DN + _PREV))
    retyped = pl.col(OBJECT_TYPE).ne_missing(pl.col(OBJECT_TYPE + _PREV))
    staged = joined.with_columns(
        pl.when(~seen)
        .then(pl.lit(PENDING_ADD))
        .when(retyped)
        .then(pl.lit(PENDING_DELETE_ADD))
        .when(renamed | changed)
        .then(pl.lit(PENDING_UPDATE))
        .otherwise(pl.lit(PENDING_NONE))
        .alias(PENDING),
        (seen & ~retyped & renamed).alias("__renamed"),
    )
    renames = int(staged["__renamed"].sum())
    counted = staged[PENDING]
    staged = _carry_unprocessed(staged, prev).select(ANCHOR, DN, OBJECT_TYPE, HASH, PENDING, *columns)

    deleted = old.join(incoming.select(ANCHOR), on=ANCHOR, how="anti", maintain_order="left")
    old_hash = (
        prev.select(ANCHOR, HASH).join(deleted.select(ANCHOR), on=ANCHOR, how="semi", maintain_order="left")[
            HASH
        ]
        if HASH in prev.columns
        else attribute_hash(deleted)
    )
    deleted = deleted.with_columns(
        old_hash.cast(pl.UInt64).alias(HASH), pl.lit(PENDING_DELETE).alias(PENDING)
    )
    frame = pl.concat([staged, deleted.select(staged.columns)]).sort(ANCHOR)

    kinds = pl.concat([counted, deleted[PENDING]]).to_frame(PENDING).get_column(PENDING).value_counts()
    count = dict(zip(kinds[PENDING].to_list(), kinds["count"].to_list(), strict=True))
    counters = {
        STAGE_ADD: int(count.get(PENDING_ADD, 0)),
        STAGE_UPDATE: int(count.get(PENDING_UPDATE, 0)) - renames,
        STAGE_RENAME: renames,
        STAGE_DELETE: int(count.get(PENDING_DELETE, 0)),
        STAGE_DELETE_ADD: int(count.get(PENDING_DELETE_ADD, 0)),
        STAGE_NO_CHANGE: int(count.get(PENDING_NONE, 0)),
    }
    return StagedImport(frame=frame, counters=counters)


def _carry_unprocessed(staged: pl.DataFrame, previous: pl.DataFrame) -> pl.DataFrame:
    """Keep a pending-import kind that no sync has processed yet.

    Two imports without a sync between them must not lose the first one's news: an object added by the
    first import and unchanged in the second is still an add for the next sync (an update on top of an
    unprocessed add is still an add). The counters describe this import alone; only the flag carries.
    """
    if PENDING not in previous.columns:
        return staged
    before = previous.select(ANCHOR, pl.col(PENDING).alias("__before"))
    joined = staged.join(before, on=ANCHOR, how="left", maintain_order="left")
    carried = (
        pl.when(
            pl.col("__before").is_in([PENDING_ADD, PENDING_DELETE_ADD])
            & pl.col(PENDING).is_in([PENDING_NONE, PENDING_UPDATE])
        )
        .then(pl.col("__before"))
        .when((pl.col("__before") == PENDING_UPDATE) & (pl.col(PENDING) == PENDING_NONE))
        .then(pl.lit(PENDING_UPDATE))
        .otherwise(pl.col(PENDING))
    )
    return joined.with_columns(carried.alias(PENDING)).drop("__before")


def stage_delta_import(previous: pl.DataFrame | None, batches: Sequence[DeltaBatch]) -> StagedImport:
    """Apply a delta import (changed objects, partial rows, incremental values, deletions) to the image.

    Whole rows replace the stored object; partial rows (``batch.partial``) change only the attributes
    named in their ``_changed`` list and apply ``<attr>@add`` / ``<attr>@remove`` value lists to the
    stored multi-valued attribute; ``batch.deleted`` anchors become pending deletes. Objects the delta
    does not mention keep their stored image and pending flag. Counters describe this delta alone.
    """
    prev = previous if previous is not None else pl.DataFrame(schema=STAGED_SYSTEM_SCHEMA)
    whole = [b.frame for b in batches if not b.partial and b.frame.height]
    partial = [b.frame for b in batches if b.partial and b.frame.height]
    deleted = pl.concat([b.deleted.cast(pl.String) for b in batches] or [pl.Series(ANCHOR, [], pl.String)])
    changed_parts = list(whole)
    if partial:
        changed_parts.append(_merge_partial(prev, pl.concat(partial, how="diagonal_relaxed")))
    incoming = (
        pl.concat(changed_parts, how="diagonal_relaxed").unique(ANCHOR, keep="last", maintain_order=True)
        if changed_parts
        else pl.DataFrame(schema={ANCHOR: pl.String, DN: pl.String, OBJECT_TYPE: pl.String})
    )
    incoming = incoming.filter(~pl.col(ANCHOR).is_in(deleted.implode()))
    touched = pl.concat([incoming[ANCHOR], deleted]).unique()
    prev_touched = prev.filter(pl.col(ANCHOR).is_in(touched.implode()))
    known_deletes = prev_touched.filter(pl.col(ANCHOR).is_in(deleted.implode()))
    staged = stage_full_import(prev_touched, incoming)
    untouched = prev.filter(~pl.col(ANCHOR).is_in(touched.implode()))
    frame = pl.concat([untouched, staged.frame], how="diagonal_relaxed").sort(ANCHOR)
    frame = frame.select(*STAGED_SYSTEM_SCHEMA, *[c for c in frame.columns if c not in STAGED_SYSTEM_SCHEMA])
    counters = dict(staged.counters)
    counters[STAGE_DELETE] = (
        known_deletes.filter(pl.col(PENDING).ne_missing(PENDING_DELETE)).height
        if PENDING in known_deletes.columns
        else known_deletes.height
    )
    # Objects the delta reported unchanged are not news; the product does not count them.
    counters[STAGE_NO_CHANGE] = 0
    return StagedImport(frame=frame, counters=counters)


def _merge_partial(prev: pl.DataFrame, rows: pl.DataFrame) -> pl.DataFrame:
    """Partial rows merged with the stored image into whole rows."""
    if CHANGED not in rows.columns:
        raise InputError("partial delta rows need a _changed column naming the reported attributes")
    incremental = {c for c in rows.columns if c.endswith((INCREMENTAL_ADD, INCREMENTAL_REMOVE))}
    reported = [c for c in attribute_columns(rows) if c not in incremental]
    stored = [c for c in attribute_columns(prev)]
    base = prev.select(ANCHOR, DN, OBJECT_TYPE, *stored).rename(lambda c: c + _PREV if c != ANCHOR else c)
    joined = rows.join(base, on=ANCHOR, how="left", maintain_order="left")
    exprs: list[pl.Expr] = [
        pl.col(ANCHOR),
        pl.coalesce(pl.col(DN), pl.col(DN + _PREV)).alias(DN),
        pl.coalesce(pl.col(OBJECT_TYPE), pl.col(OBJECT_TYPE + _PREV)).alias(OBJECT_TYPE),
    ]
    names = reported + [c for c in stored if c not in reported]
    for c in names:
        new = pl.col(c) if c in reported else None
        old = pl.col(c + _PREV) if c in stored else None
        if new is not None and old is not None:
            value = (
                pl.when(pl.col(CHANGED).list.contains(pl.lit(c)))
                .then(new)
                .otherwise(old.cast(joined.schema[c], strict=False))
            )
        else:
            value = new if new is not None else old  # type: ignore[assignment]
        assert value is not None
        if c + INCREMENTAL_ADD in incremental:
            value = (
                value.fill_null(pl.lit([], dtype=pl.List(pl.String)))
                .list.concat(pl.col(c + INCREMENTAL_ADD).fill_null(pl.lit([], dtype=pl.List(pl.String))))
                .list.unique(maintain_order=True)
            )
        if c + INCREMENTAL_REMOVE in incremental:
            value = value.list.set_difference(
                pl.col(c + INCREMENTAL_REMOVE).fill_null(pl.lit([], dtype=pl.List(pl.String)))
            )
        exprs.append(value.alias(c))
    for column in sorted(incremental):
        attribute = column.rsplit("@", 1)[0]
        if attribute not in names:  # values added to an attribute the image never had
            add = (
                pl.col(attribute + INCREMENTAL_ADD)
                if attribute + INCREMENTAL_ADD in incremental
                else pl.lit([], dtype=pl.List(pl.String))
            )
            exprs.append(add.alias(attribute))
            names.append(attribute)
    return joined.select(exprs)
