"""Pure parts used by the AD connector: OU scope, obsoletion, ConsistencyGuid writeback."""

from __future__ import annotations

import polars as pl

from transforms.sync.obsoletion import obsoleted
from transforms.sync.ou_scope import in_ou_scope, search_bases

P = "DC=corp,DC=example,DC=com"
DNS = [
    f"CN=a,OU=Sales,{P}",
    f"CN=b,OU=New,OU=Sales,{P}",  # a child OU created after the configuration
    f"CN=c,OU=Old,OU=Sales,{P}",  # excluded subtree
    f"CN=d,OU=Keep,OU=Old,OU=Sales,{P}",  # included again below the exclusion
    f"CN=e,OU=IT,{P}",  # not included
    f"OU=Sales,{P}",
    f"OU=Old,OU=Sales,{P}",
    f"cn=F,ou=sales,{P.lower()}",  # case differs
]


def _scope(include: list[str], exclude: list[str]) -> list[bool]:
    frame = pl.DataFrame({"dn": DNS})
    return frame.select(in_ou_scope(pl.col("dn"), P, include, exclude).alias("s"))["s"].to_list()


def test_nearest_listed_container_decides() -> None:
    got = _scope([f"OU=Sales,{P}", f"OU=Keep,OU=Old,OU=Sales,{P}"], [f"OU=Old,OU=Sales,{P}"])
    assert got == [True, True, False, True, False, True, False, True]


def test_no_inclusion_list_means_the_whole_partition() -> None:
    assert _scope([], [f"OU=IT,{P}"]) == [True, True, True, True, False, True, True, True]


def test_configured_dns_may_have_blanks_after_commas() -> None:
    assert _scope(["OU=Sales, DC=corp, DC=example, DC=com"], [])[0] is True


def test_search_bases_skip_inclusions_below_another() -> None:
    assert search_bases(P, [f"OU=Sales,{P}", f"OU=Keep,OU=Old,OU=Sales,{P}", f"OU=IT,{P}"]) == [
        f"OU=Sales,{P}",
        f"OU=IT,{P}",
    ]
    assert search_bases(P) == [P]


def test_objects_a_full_import_no_longer_sees_are_obsoleted() -> None:
    stored = pl.DataFrame({"_anchor": ["a", "b", "c", "z"], "_partition": ["p1", "p1", "p1", "p2"]})
    imported = pl.DataFrame({"_anchor": ["b", "d"]})
    assert obsoleted(stored, imported)["_anchor"].to_list() == ["a", "c", "z"]
    assert obsoleted(stored, imported, partitions=["p1"])["_anchor"].to_list() == ["a", "c"]
    assert obsoleted(stored, imported["_anchor"], partitions=["p2"])["_anchor"].to_list() == ["z"]
