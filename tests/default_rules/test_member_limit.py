"""The 250,000-member limit of *Out to AAD - Group Join*, on literal metaverse rows."""

from __future__ import annotations

import polars as pl

from tests.default_rules.ruleset import load_default_rules
from transforms.sync.flows import compile_flow


def test_groups_over_250000_members_fail_with_the_named_error() -> None:
    rule = next(r for r in load_default_rules() if r.name == "Out to AAD - Group Join")
    flow = next(f for f in rule.flows if f.destination == "members")
    groups = pl.DataFrame(
        {
            "_mv_id": ["at-limit", "over-limit", "empty"],
            "member": [[f"m{i}" for i in range(250_000)], [f"m{i}" for i in range(250_001)], None],
        },
        schema={"_mv_id": pl.String(), "member": pl.List(pl.String())},
    )
    compiled = compile_flow(flow, rule.name, groups.schema, {})
    assert compiled.error is not None

    out = groups.select(
        "_mv_id",
        compiled.value.list.len().alias("members"),
        compiled.error.alias("error"),
    )

    assert out.rows() == [
        ("at-limit", 250_000, None),
        ("over-limit", None, "Maximum Group member count exceeded"),
        ("empty", None, None),
    ]
