"""Attribute diffs of one metaverse object credit the rule that set the new value."""

from __future__ import annotations

import polars as pl

from transforms.ops.diff import attribute_values, contributors, object_diff

OLD = pl.DataFrame(
    {"_mv_id": ["m1"], "displayName": ["Karen"], "title": ["Lead"], "proxyAddresses": [["b", "a"]]}
)
NEW = pl.DataFrame(
    {
        "_mv_id": ["m1"],
        "displayName": ["Karen T"],
        "title": [None],
        "proxyAddresses": [["a", "b"]],
        "mail": ["k@x"],
    },
    schema_overrides={"title": pl.String},
)
PROVENANCE = pl.DataFrame(
    {
        "_mv_id": ["m1", "m1", "m1", "m2"],
        "attribute": ["displayName", "mail", "proxyAddresses", "displayName"],
        "connector": ["lab", "lab", "lab", "other"],
        "rule": ["In from AD - User Common", "In from AD - User Common", "In from AD - User Exchange", "x"],
    }
)
OLD_PROVENANCE = pl.DataFrame(
    {"_mv_id": ["m1"], "attribute": ["title"], "connector": ["lab"], "rule": ["In from AD - User Title"]}
)


def test_attribute_values_are_json_text_without_system_columns_or_nulls() -> None:
    """One row becomes attribute/value rows, sorted, nulls and ``_`` columns left out."""
    values = attribute_values(NEW)
    assert values.to_dicts() == [
        {"attribute": "displayName", "value": '"Karen T"'},
        {"attribute": "mail", "value": '"k@x"'},
        {"attribute": "proxyAddresses", "value": '["a","b"]'},
    ]


def test_diff_lists_adds_updates_and_deletes_with_the_contributing_rule() -> None:
    """Changed values only (a reordered list is unchanged); a deleted value credits its old rule."""
    diff = object_diff(OLD, NEW, contributors(OLD_PROVENANCE, "m1"), contributors(PROVENANCE, "m1"))
    assert diff.to_dicts() == [
        {
            "attribute": "displayName",
            "change": "update",
            "old_value": '"Karen"',
            "new_value": '"Karen T"',
            "connector": "lab",
            "rule": "In from AD - User Common",
        },
        {
            "attribute": "mail",
            "change": "add",
            "old_value": None,
            "new_value": '"k@x"',
            "connector": "lab",
            "rule": "In from AD - User Common",
        },
        {
            "attribute": "title",
            "change": "delete",
            "old_value": '"Lead"',
            "new_value": None,
            "connector": "lab",
            "rule": "In from AD - User Title",
        },
    ]


def test_diff_of_a_new_object_adds_every_value() -> None:
    """An object absent before (empty frame) shows every attribute as added."""
    diff = object_diff(
        pl.DataFrame(), NEW, contributors(OLD_PROVENANCE, "m1"), contributors(PROVENANCE, "m1")
    )
    assert diff["change"].to_list() == ["add", "add", "add"]
