"""A delta sync changes a few rows of large frames without copying them: rows are dropped by slicing
out the runs kept between them, nested values spliced between slices. Both equal the plain copy."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.sync import SyncState
from transforms.sync.engine import (
    _SPLICE_MAX,
    _focus_rows,
    _patch_rows,
    _remember_patch,
    _Run,
    _spliced,
    default_mv_ids,
)
from transforms.sync.frames import drop_rows, rows_where
from transforms.sync.schema import LINKS_SCHEMA, empty

HEIGHT = 1000  # few enough dropped rows (8 at most) to slice rather than filter


def frame(height: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "_anchor": [f"a{i}" for i in range(height)],
            "members": [[f"m{i}", f"n{i}"] if i % 3 else [] for i in range(height)],
        }
    )


@settings(max_examples=50, deadline=None)
@given(st.sets(st.integers(0, HEIGHT - 1), max_size=8), st.integers(1, 4))
def test_dropping_a_few_rows_equals_filtering_them(drop: set[int], chunks: int) -> None:
    """Whatever rows are dropped (first, last, adjacent) and however the frame is chunked."""
    whole = frame(HEIGHT)
    size = HEIGHT // chunks
    chunked = pl.concat([whole.slice(i, size) for i in range(0, HEIGHT, size)], rechunk=False)
    positions = pl.Series(sorted(drop), dtype=pl.UInt32)
    expected = whole.filter(~pl.int_range(HEIGHT, eager=True).is_in(sorted(drop)))
    assert drop_rows(chunked, positions).equals(expected)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, HEIGHT - 1), unique=True, max_size=8))
def test_splicing_nested_values_equals_setting_them(at: list[int]) -> None:
    """New list values at any positions, in any order, land where a per-row assignment puts them."""
    _check_splice(HEIGHT, at)


def test_many_nested_values_are_gathered_in_one_chunk() -> None:
    """More changed rows than are worth splicing: the same values, in one chunk."""
    height = 3 * (_SPLICE_MAX + 10)
    spliced = _check_splice(height, list(range(height))[::-3])  # every third row, last first
    assert spliced.n_chunks() == 1


def _check_splice(height: int, at: list[int]) -> pl.Series:
    column = frame(height).get_column("members")
    values = pl.Series("members", [[f"new{p}"] for p in at], dtype=column.dtype)
    expected = column.to_list()
    for p, value in zip(at, values.to_list(), strict=True):
        expected[p] = value
    spliced = _spliced(column, pl.Series(at, dtype=pl.UInt32), values)
    assert spliced.to_list() == expected
    assert spliced.len() == height
    return spliced


def test_a_contiguous_state_holds_the_same_frames_in_one_chunk() -> None:
    """What the store loads (one chunk per column) is the state as it was, frame for frame."""
    chunked = pl.concat([frame(10), frame(10)], rechunk=False)
    state = SyncState(
        connector_spaces={"corp": {"user": chunked}},
        metaverse={"person": chunked.rename({"_anchor": "_mv_id"})},
        links=empty(LINKS_SCHEMA),
    )
    whole = state.contiguous()
    assert whole.connector_spaces["corp"]["user"].n_chunks("all") == [1, 1]
    assert whole.metaverse["person"].n_chunks("all") == [1, 1]
    assert whole.connector_spaces["corp"]["user"].equals(chunked)
    assert whole.metaverse["person"].equals(state.metaverse["person"])
    assert whole.disconnectors is None and whole.links.equals(state.links)


def _delta_run() -> _Run:
    return _Run(
        state=SyncState(),
        rules=[],
        order=[],
        params={},
        partitions={},
        references=frozenset(),
        new_ids=default_mv_ids,
        full=False,
    )


def _patch(run: _Run, frame: pl.DataFrame, at: list[int], tag: str) -> pl.DataFrame:
    """Patch the rows at ``at`` as a delta does (members and a flat column), remembering the patch."""
    positions = pl.Series(at, dtype=pl.UInt32)
    old = frame[positions]
    updated = old.with_columns(
        pl.col("members").list.concat(pl.lit([tag])), (pl.col("title") + tag).alias("title")
    )
    after = _patch_rows(frame, positions, old, updated)
    _remember_patch(run, "group", frame, positions, updated, after)
    return after


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(0, HEIGHT - 1), unique=True, max_size=12),
    st.lists(st.integers(0, HEIGHT - 1), unique=True, max_size=12),
    st.lists(st.integers(0, HEIGHT - 1), unique=True, min_size=1, max_size=30),
)
def test_focus_rows_of_a_patched_frame_equal_a_gather(
    first: list[int], second: list[int], focus: list[int]
) -> None:
    """The outbound step's rows (patched ones from the kept rows, the others from the frame before the
    patches) are the rows of the patched frame, in its order, after one or two patches."""
    run = _delta_run()
    frame = frame_with_ids(HEIGHT)
    patched = _patch(run, _patch(run, frame, first, "1"), second, "2")
    ids = frame.get_column("_mv_id").gather(focus)
    expected = rows_where(patched, pl.col("_mv_id").is_in(ids.implode()))
    assert _focus_rows(run, "group", patched, ids).equals(expected)
    # A frame changed since (not the one patched) is read as it is.
    other = patched.head(HEIGHT - 1)
    assert _focus_rows(run, "group", other, ids).equals(
        rows_where(other, pl.col("_mv_id").is_in(ids.implode()))
    )


def frame_with_ids(height: int) -> pl.DataFrame:
    return (
        frame(height)
        .rename({"_anchor": "_mv_id"})
        .with_columns(pl.format("t{}", pl.col("_mv_id")).alias("title"))
    )
