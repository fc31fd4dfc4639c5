"""Pending-import kinds and counters of a full import against the stored connector space."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from transforms.errors import InputError
from transforms.sync.staging import STAGE_COUNTERS, attribute_hash, stage_full_import

LIST = pl.List(pl.String)


def cs(rows: list[tuple[str, str, str, str | None, list[str] | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "_anchor": pl.String,
            "_dn": pl.String,
            "_object_type": pl.String,
            "mail": pl.String,
            "proxyAddresses": LIST,
        },
        orient="row",
    )


PREVIOUS = cs(
    [
        ("a", "CN=a", "user", "a@x", ["SMTP:a@x"]),
        ("b", "CN=b", "user", "b@x", None),
        ("c", "CN=c", "user", None, None),
        ("d", "CN=d", "user", "d@x", ["SMTP:d@x"]),
        ("f", "CN=f", "user", "f@x", None),
    ]
)


def test_every_pending_import_kind() -> None:
    incoming = cs(
        [
            ("a", "CN=a", "user", "a@x", ["SMTP:a@x", "smtp:q@x"]),  # multi-valued value added
            ("b", "CN=b2", "user", "b@x", None),  # renamed
            ("c", "CN=c", "contact", None, None),  # object type changed
            ("e", "CN=e", "user", "e@x", None),  # new
            ("f", "CN=f", "user", "f@x", None),  # unchanged
        ]
    )
    result = stage_full_import(PREVIOUS, incoming)
    assert result.frame.select("_anchor", "_pending").rows() == [
        ("a", "update"),
        ("b", "update"),
        ("c", "delete-add"),
        ("d", "delete"),
        ("e", "add"),
        ("f", "none"),
    ]
    assert result.counters == {
        "stage-add": 1,
        "stage-update": 1,
        "stage-rename": 1,
        "stage-delete": 1,
        "stage-delete-add": 1,
        "stage-no-change": 1,
    }
    assert list(result.counters) == list(STAGE_COUNTERS)
    assert result.frame.columns == [
        "_anchor",
        "_dn",
        "_object_type",
        "_hash",
        "_pending",
        "mail",
        "proxyAddresses",
    ]
    deleted = result.frame.filter(pl.col("_pending") == "delete")
    assert deleted.select("_dn", "mail").row(0) == ("CN=d", "d@x")


def test_no_previous_state_means_all_adds() -> None:
    result = stage_full_import(None, PREVIOUS)
    assert result.counters["stage-add"] == PREVIOUS.height
    assert set(result.frame["_pending"]) == {"add"}


def test_null_and_absent_columns_compare_equal_and_new_values_are_updates() -> None:
    previous = PREVIOUS.drop("proxyAddresses").filter(pl.col("_anchor").is_in(["b", "c"]))
    incoming = PREVIOUS.filter(pl.col("_anchor").is_in(["b", "c"])).with_columns(
        department=pl.Series([None, "Sales"], dtype=pl.String)
    )
    result = stage_full_import(previous, incoming)
    assert result.frame.select("_anchor", "_pending").rows() == [("b", "none"), ("c", "update")]


def test_objects_already_pending_deletion_are_not_deleted_twice() -> None:
    previous = PREVIOUS.with_columns(
        _pending=pl.when(pl.col("_anchor") == "d").then(pl.lit("delete")).otherwise(pl.lit("none"))
    )
    result = stage_full_import(previous, PREVIOUS.filter(pl.col("_anchor") != "d"))
    assert result.counters["stage-delete"] == 0
    assert result.counters["stage-no-change"] == 4


def test_identical_import_is_no_change_and_keeps_the_hash() -> None:
    first = stage_full_import(None, PREVIOUS).frame
    again = stage_full_import(first, PREVIOUS)
    assert again.counters["stage-no-change"] == PREVIOUS.height
    assert_frame_equal(first.drop("_pending"), again.frame.drop("_pending"))


def test_hash_ignores_column_order_and_absent_versus_null() -> None:
    h = attribute_hash(PREVIOUS)
    reordered = attribute_hash(PREVIOUS.select("proxyAddresses", "_anchor", "mail", "_dn", "_object_type"))
    with_null_column = attribute_hash(PREVIOUS.with_columns(title=pl.lit(None, dtype=pl.String)))
    assert h.to_list() == reordered.to_list() == with_null_column.to_list()
    moved = attribute_hash(PREVIOUS.rename({"mail": "title"}))
    assert (h != moved).sum() == PREVIOUS["mail"].drop_nulls().len()
    changed = attribute_hash(PREVIOUS.with_columns(mail=pl.lit("z@x")))
    assert (h != changed).all()


def test_duplicate_anchors_are_an_input_error() -> None:
    with pytest.raises(InputError, match="duplicate anchor 'a'"):
        stage_full_import(None, pl.concat([PREVIOUS, PREVIOUS.head(1)]))
