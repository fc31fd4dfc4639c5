"""Small frame utilities shared by the sync stages."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import polars as pl

from transforms.schema import DN, OBJECT_TYPE, PENDING, PENDING_NONE


def conform(frame: pl.DataFrame, schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """Select ``schema``'s columns in order, adding missing ones as nulls and casting."""
    return frame.select(
        (pl.col(n).cast(t) if n in frame.columns else pl.lit(None, dtype=t)).alias(n)
        for n, t in schema.items()
    )


def with_system_columns(frame: pl.DataFrame, object_type: str) -> pl.DataFrame:
    """A connector-space frame with the system columns the sync reads (``_pending`` defaults to none)."""
    adds: list[pl.Expr] = []
    if DN not in frame.columns:
        adds.append(pl.lit(None, dtype=pl.String).alias(DN))
    if OBJECT_TYPE not in frame.columns:
        adds.append(pl.lit(object_type).alias(OBJECT_TYPE))
    if PENDING not in frame.columns:
        adds.append(pl.lit(PENDING_NONE).alias(PENDING))
    out = frame.with_columns(adds) if adds else frame
    if out.get_column(PENDING).null_count():  # a null count is known without a pass over the rows
        out = out.with_columns(pl.col(PENDING).fill_null(PENDING_NONE))
    return out


def concat(frames: Iterable[pl.DataFrame], schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    parts = [conform(f, schema) for f in frames if f.height]
    return pl.concat(parts) if parts else pl.DataFrame(schema=dict(schema))


def ids_frame(ids: Iterable[str] | pl.Series, name: str) -> pl.DataFrame:
    series = ids if isinstance(ids, pl.Series) else pl.Series(name, list(ids), dtype=pl.String)
    return pl.DataFrame({name: series.cast(pl.String)}).unique(maintain_order=True)


def drop_rows(frame: pl.DataFrame, positions: pl.Series) -> pl.DataFrame:
    """``frame`` without the rows at ``positions`` (ascending). When they are few, the runs of rows
    kept between them are sliced out (zero-copy chunks) instead of copying every row of a table of
    tens of millions; a frame already cut into many chunks is filtered (one chunk again)."""
    if positions.len() == 0:
        return frame
    if positions.len() * 64 > frame.height or max(frame.n_chunks("all")) > 1024:
        keep = pl.repeat(True, frame.height, dtype=pl.Boolean, eager=True).scatter(positions, False)
        return frame.filter(keep)
    at = positions.cast(pl.Int64)
    bounds = pl.DataFrame(
        {
            "start": pl.concat([pl.Series([0], dtype=pl.Int64), at + 1]),
            "end": pl.concat([at, pl.Series([frame.height], dtype=pl.Int64)]),
        }
    ).filter(pl.col("end") > pl.col("start"))
    parts = [frame.slice(start, end - start) for start, end in bounds.iter_rows()]
    return pl.concat(parts, rechunk=False) if parts else frame.clear()


def contiguous(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with one chunk per column. Gathering rows by position from a column of several
    chunks (what a delta sync does to wide frames of a million rows) costs several times more, as a
    string column's gather merges the buffers of every chunk; frames read in batches come chunked."""
    return frame.rechunk() if frame.width and max(frame.n_chunks("all")) > 1 else frame


def positions_where(frame: pl.DataFrame, predicate: pl.Expr) -> pl.Series:
    """The positions (ascending) of the rows of ``frame`` where ``predicate`` holds; ``predicate``
    must be a column (not a literal)."""
    return frame.lazy().select(pl.arg_where(predicate)).collect().to_series()


def rows_where(frame: pl.DataFrame, predicate: pl.Expr) -> pl.DataFrame:
    """The rows of ``frame`` where ``predicate`` holds, gathered by position: a filter scans its
    whole mask once per column, which dominates on a wide frame of a million rows when a delta
    wants a few of them. ``predicate`` must be a column (not a literal)."""
    positions = positions_where(frame, predicate)
    if positions.len() == frame.height:
        return frame  # every row, not a copy (a settling sync processes whole connector spaces)
    return frame[positions]
