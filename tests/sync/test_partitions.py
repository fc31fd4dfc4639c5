"""A full import of chosen partitions obsoletes only what those partitions no longer hold."""

from __future__ import annotations

import polars as pl

from transforms.sync.partitions import partition_of, stage_partition_import

PARENT = "DC=corp,DC=example,DC=com"
CHILD = "DC=child,DC=corp,DC=example,DC=com"


def _cs(rows: list[tuple[str, str, str | None, str]]) -> pl.DataFrame:
    anchors, dns, titles, pending = zip(*rows, strict=True)
    return pl.DataFrame(
        {
            "_anchor": anchors,
            "_dn": dns,
            "_object_type": ["user"] * len(rows),
            "_hash": [0] * len(rows),
            "_pending": pending,
            "title": titles,
        },
        schema_overrides={"_hash": pl.UInt64, "title": pl.String},
    )


def test_an_object_belongs_to_the_most_specific_partition() -> None:
    """A child domain's objects are under the parent's DN too; they belong to the child."""
    dns = pl.DataFrame({"dn": [f"CN=a,{PARENT}", f"cn=b,ou=x,{CHILD.lower()}", "CN=c,DC=other,DC=net"]})
    got = dns.select(partition_of(pl.col("dn"), [CHILD, PARENT]).alias("p"))["p"].to_list()
    assert got == [PARENT, CHILD, None]


def test_unseen_objects_of_the_chosen_partition_are_deleted_and_the_others_kept() -> None:
    """Re-importing the child: its unseen object is a delete; the parent's objects keep image and flag."""
    stored = _cs(
        [
            ("p1", f"CN=p1,{PARENT}", "Boss", "update"),
            ("p2", f"CN=p2,{PARENT}", None, "none"),
            ("c1", f"CN=c1,{CHILD}", "Dev", "none"),
            ("c2", f"CN=c2,{CHILD}", "Ops", "none"),
        ]
    )
    incoming = pl.DataFrame(
        {"_anchor": ["c1"], "_dn": [f"CN=c1,{CHILD}"], "_object_type": ["user"], "title": ["Lead"]}
    )
    staged = stage_partition_import(stored, incoming, chosen=[CHILD.upper()], partitions=[PARENT, CHILD])
    out = staged.frame.select("_anchor", "_pending", "title")
    assert out.rows() == [
        ("c1", "update", "Lead"),
        ("c2", "delete", "Ops"),
        ("p1", "update", "Boss"),
        ("p2", "none", None),
    ]
    assert (staged.counters["stage-update"], staged.counters["stage-delete"]) == (1, 1)
    assert staged.counters["stage-no-change"] == 0


def test_an_object_moved_into_the_chosen_partition_is_compared_not_duplicated() -> None:
    """Its stored image (under the other partition) is the one the import compares with: a rename."""
    stored = _cs([("m", f"CN=m,{PARENT}", "Dev", "none")])
    incoming = pl.DataFrame(
        {"_anchor": ["m"], "_dn": [f"CN=m,{CHILD}"], "_object_type": ["user"], "title": ["Dev"]}
    )
    staged = stage_partition_import(stored, incoming, chosen=[CHILD], partitions=[PARENT, CHILD])
    assert staged.frame.select("_anchor", "_dn", "_pending").rows() == [("m", f"CN=m,{CHILD}", "update")]
    assert staged.counters["stage-rename"] == 1
