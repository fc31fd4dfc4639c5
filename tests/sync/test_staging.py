"""The import stage's comparison: pending-import kinds and counters from full and delta imports."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from transforms.sync.staging import stage_delta_import, stage_full_import

USER_SCHEMA = {
    "_anchor": pl.String,
    "_dn": pl.String,
    "_object_type": pl.String,
    "mail": pl.String,
    "member": pl.List(pl.String),
}


def users(*rows: tuple[str, str, str | None, list[str] | None]) -> pl.DataFrame:
    return pl.DataFrame(
        [(a, dn, "user", mail, member) for a, dn, mail, member in rows], schema=USER_SCHEMA, orient="row"
    )


@dataclass(frozen=True)
class Batch:
    frame: pl.DataFrame
    deleted: pl.Series = field(default_factory=lambda: pl.Series("_anchor", [], dtype=pl.String))
    partial: bool = False


def kinds(frame: pl.DataFrame) -> dict[str, str]:
    return dict(zip(frame["_anchor"], frame["_pending"], strict=True))


def test_first_full_import_stages_every_object_as_add() -> None:
    """Nothing stored yet: every object is an add."""
    staged = stage_full_import(None, users(("a", "CN=A", "a@x", None), ("b", "CN=B", None, None)))
    assert kinds(staged.frame) == {"a": "add", "b": "add"}
    assert staged.counters["stage-add"] == 2


def test_changed_file_yields_exactly_the_changes() -> None:
    """Against the stored image: one update, one rename, one delete, one add, one unchanged."""
    before = stage_full_import(
        None,
        users(
            ("a", "CN=A", "a@x", None),
            ("b", "CN=B", "b@x", None),
            ("c", "CN=C", None, None),
            ("d", "CN=D", None, None),
        ),
    ).frame.with_columns(pl.lit("none").alias("_pending"))
    after = users(
        ("a", "CN=A", "a@x", None),
        ("b", "CN=B", "b2@x", None),
        ("c", "CN=C2", None, None),
        ("e", "CN=E", None, None),
    )
    staged = stage_full_import(before, after)
    assert kinds(staged.frame) == {"a": "none", "b": "update", "c": "update", "d": "delete", "e": "add"}
    assert staged.counters == {
        "stage-add": 1,
        "stage-update": 1,
        "stage-rename": 1,
        "stage-delete": 1,
        "stage-delete-add": 0,
        "stage-no-change": 1,
    }


def test_unprocessed_add_survives_a_second_import() -> None:
    """An add no sync has processed stays an add when the next import sees the object unchanged."""
    first = stage_full_import(None, users(("a", "CN=A", "a@x", None))).frame
    second = stage_full_import(first, users(("a", "CN=A", "a@x2", None)))
    assert kinds(second.frame) == {"a": "add"}
    assert second.counters["stage-update"] == 1


def test_delta_partial_row_changes_only_reported_attributes() -> None:
    """A DirSync row carrying mail only keeps the stored member list and DN."""
    stored = stage_full_import(None, users(("a", "CN=A", "a@x", ["CN=G1"]))).frame.with_columns(
        pl.lit("none").alias("_pending")
    )
    delta = pl.DataFrame(
        {"_anchor": ["a"], "_dn": [None], "_object_type": [None], "mail": ["new@x"], "_changed": [["mail"]]},
        schema={
            "_anchor": pl.String,
            "_dn": pl.String,
            "_object_type": pl.String,
            "mail": pl.String,
            "_changed": pl.List(pl.String),
        },
    )
    staged = stage_delta_import(stored, [Batch(delta, partial=True)])
    row = staged.frame.row(0, named=True)
    assert (row["_dn"], row["mail"], row["member"], row["_pending"]) == ("CN=A", "new@x", ["CN=G1"], "update")
    assert staged.counters["stage-update"] == 1


def test_delta_reported_null_clears_the_attribute() -> None:
    """An attribute listed in _changed with no value was cleared in the directory."""
    stored = stage_full_import(None, users(("a", "CN=A", "a@x", None))).frame.with_columns(
        pl.lit("none").alias("_pending")
    )
    delta = pl.DataFrame(
        {"_anchor": ["a"], "_dn": ["CN=A"], "_object_type": ["user"], "mail": [None], "_changed": [["mail"]]},
        schema={
            "_anchor": pl.String,
            "_dn": pl.String,
            "_object_type": pl.String,
            "mail": pl.String,
            "_changed": pl.List(pl.String),
        },
    )
    staged = stage_delta_import(stored, [Batch(delta, partial=True)])
    assert staged.frame["mail"].to_list() == [None]


def test_delta_incremental_member_values_apply_to_the_stored_list() -> None:
    """member@add values are appended and member@remove values removed; other members stay."""
    stored = stage_full_import(
        None, users(("g", "CN=G", None, ["CN=U1", "CN=U2", "CN=U3"]))
    ).frame.with_columns(pl.lit("none").alias("_pending"))
    delta = pl.DataFrame(
        {
            "_anchor": ["g"],
            "_dn": [None],
            "_object_type": [None],
            "member@add": [["CN=U4"]],
            "member@remove": [["CN=U2"]],
            "_changed": [[]],
        },
        schema={
            "_anchor": pl.String,
            "_dn": pl.String,
            "_object_type": pl.String,
            "member@add": pl.List(pl.String),
            "member@remove": pl.List(pl.String),
            "_changed": pl.List(pl.String),
        },
    )
    staged = stage_delta_import(stored, [Batch(delta, partial=True)])
    assert sorted(staged.frame["member"][0].to_list()) == ["CN=U1", "CN=U3", "CN=U4"]
    assert "member@add" not in staged.frame.columns and "_changed" not in staged.frame.columns


def test_delta_deletes_new_objects_and_untouched_objects() -> None:
    """Deleted anchors become pending deletes, whole new rows adds, the rest keeps its image and flag."""
    stored = stage_full_import(
        None, users(("a", "CN=A", "a@x", None), ("b", "CN=B", None, None), ("c", "CN=C", None, None))
    ).frame.with_columns(pl.Series("_pending", ["none", "update", "none"]))
    batch = Batch(users(("d", "CN=D", "d@x", None)), deleted=pl.Series("_anchor", ["c"]))
    staged = stage_delta_import(stored, [batch])
    assert kinds(staged.frame) == {"a": "none", "b": "update", "c": "delete", "d": "add"}
    assert staged.counters["stage-add"] == 1 and staged.counters["stage-delete"] == 1
    assert staged.counters["stage-update"] == 0


def test_delta_for_unknown_deleted_anchor_changes_nothing() -> None:
    """A deletion of an object never imported (outside scope) is not a delete of ours."""
    stored = stage_full_import(None, users(("a", "CN=A", None, None))).frame
    staged = stage_delta_import(stored, [Batch(users(), deleted=pl.Series("_anchor", ["zzz"]))])
    assert kinds(staged.frame) == {"a": "add"}
    assert staged.counters["stage-delete"] == 0
