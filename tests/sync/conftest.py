"""Literal-frame builders for sync tests."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from transforms.rules.model import (
    AttributeFlow,
    ConnectorSelector,
    Direction,
    FlowType,
    JoinCondition,
    JoinGroup,
    LinkType,
    MergeType,
    ScopeCondition,
    ScopeGroup,
    ScopeOperator,
    SyncRule,
)
from transforms.sync import SyncState, apply_export_results, record_exports


def direct(destination: str, source: str | None = None, **kw: Any) -> AttributeFlow:
    return AttributeFlow(destination, FlowType.DIRECT, (source or destination,), **kw)


def constant(destination: str, value: object, **kw: Any) -> AttributeFlow:
    return AttributeFlow(destination, FlowType.CONSTANT, constant=value, **kw)  # type: ignore[arg-type]


def cond(attribute: str, operator: str, value: str | None = None) -> ScopeCondition:
    return ScopeCondition(attribute, ScopeOperator(operator), value)


def scope(*groups: list[ScopeCondition]) -> tuple[ScopeGroup, ...]:
    return tuple(ScopeGroup(tuple(g)) for g in groups)


def join(*groups: list[tuple[str, str]], case_sensitive: bool = True) -> tuple[JoinGroup, ...]:
    return tuple(JoinGroup(tuple(JoinCondition(s, t, case_sensitive) for s, t in g)) for g in groups)


def rule(
    name: str,
    precedence: int,
    *,
    connector: str = "ad",
    direction: str = "inbound",
    source: str = "user",
    target: str = "person",
    link: str = "Join",
    **kw: Any,
) -> SyncRule:
    return SyncRule(
        name=name,
        connector=ConnectorSelector(names=(connector,)),
        direction=Direction(direction),
        source_object_type=source,
        target_object_type=target,
        precedence=precedence,
        link_type=LinkType(link),
        **kw,
    )


def users(**columns: list[Any]) -> pl.DataFrame:
    n = len(next(iter(columns.values())))
    base: dict[str, Any] = {"_anchor": [f"u{i}" for i in range(1, n + 1)]}
    base.update(columns)
    if "_dn" not in base:
        base["_dn"] = [f"CN={a},DC=x" for a in base["_anchor"]]
    return pl.DataFrame(base)


def exported(state: SyncState, exports: pl.DataFrame) -> SyncState:
    """The state after every pending export was sent successfully (created objects get ``t-<mv id>``)."""
    state = record_exports(state, exports)
    adds = exports.filter(pl.col("op") == "add").select("connector", "_mv_id").unique()
    outcomes = adds.with_columns(
        pl.concat_str(pl.lit("t-"), pl.col("_mv_id")).alias("_anchor"),
        pl.lit("add").alias("op"),
        pl.lit("success").alias("status"),
    )
    return apply_export_results(state, outcomes)


__all__ = ["MergeType", "cond", "constant", "direct", "exported", "join", "rule", "scope", "users"]


@pytest.fixture
def project_rule() -> SyncRule:
    return rule(
        "In - User Join",
        10,
        link="Provision",
        join=join([("objectGUID", "sourceAnchor")]),
        flows=(direct("sourceAnchor", "objectGUID"),),
    )
