"""A delta sync changes a few rows of large frames without copying them: rows are dropped by slicing
out the runs kept between them, nested values spliced between slices. Both equal the plain copy."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.sync import SyncState
from transforms.sync.engine import _SPLICE_MAX, _spliced
from transforms.sync.frames import drop_rows
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
