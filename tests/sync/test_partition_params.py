"""``%Domain.*%`` per partition (spec 3): an object sees the parameters of the domain it lives in."""

from __future__ import annotations

import polars as pl
import pytest

from tests.sync.conftest import direct, join, rule, users
from transforms.errors import InputError
from transforms.expressions import ColumnParameter, UnknownParameterError, compile_expression, evaluate
from transforms.rules.model import AttributeFlow, FlowType
from transforms.sync import SyncState, run_sync
from transforms.sync.params import params_for_dn, row_params, with_partition_columns

UPN = (
    "IIF(IsPresent([userPrincipalName]),[userPrincipalName],"
    'IIF(IsPresent([sAMAccountName]),([sAMAccountName]&"@"&%Domain.FQDN%),Error("AccountName is not present")))'
)
PARTITIONS = [
    ("DC=corp,DC=example", {"Domain.FQDN": "corp.example", "Domain.Netbios": "CORP"}),
    # A child domain: its DN ends with the parent's, the longest suffix wins.
    ("DC=eu,DC=corp,DC=example", {"Domain.FQDN": "eu.corp.example", "Domain.Netbios": "EU"}),
]
WIDE = {"Domain.FQDN": "corp.example", "Domain.Netbios": "CORP", "Forest.FQDN": "corp.example"}
DNS = [
    "CN=Ann,OU=Staff,DC=corp,DC=example",
    "CN=Bob,OU=Staff,DC=EU,DC=Corp,DC=Example",  # DN case differs from the configured partition
    "CN=Cid,DC=eu,DC=corp,DC=example",
    "CN=Dan,DC=elsewhere",  # under no partition: the connector-wide values
]

PROJECT = rule(
    "In - Join",
    50,
    link="Provision",
    join=join([("objectGUID", "sourceAnchor")]),
    flows=(direct("sourceAnchor", "objectGUID"),),
)


def expression(destination: str, text: str) -> AttributeFlow:
    return AttributeFlow(destination, FlowType.EXPRESSION, expression=text)


def _users() -> pl.DataFrame:
    return users(
        objectGUID=["g1", "g2", "g3", "g4"],
        sAMAccountName=["ann", "bob", "cid", "dan"],
        userPrincipalName=[None, None, "cid@custom.example", None],
        _dn=DNS,
    )


def test_hidden_columns_hold_each_objects_partition_values() -> None:
    frame = with_partition_columns(_users(), WIDE, PARTITIONS)
    assert frame["_param.Domain.FQDN"].to_list() == [
        "corp.example",
        "eu.corp.example",
        "eu.corp.example",
        "corp.example",
    ]
    assert frame["_param.Domain.Netbios"].to_list() == ["CORP", "EU", "EU", "CORP"]
    assert "_param.Forest.FQDN" not in frame.columns  # connector-wide names stay literals


def test_compiled_and_reference_agree_per_object() -> None:
    """The compiled form reads the hidden column; the reference evaluator the object's own parameters
    (``params_for_dn``) or the same column through ``ColumnParameter``: all three agree."""
    frame = with_partition_columns(_users(), WIDE, PARTITIONS)
    params = row_params(WIDE, PARTITIONS)
    assert params["Domain.FQDN"] == ColumnParameter("_param.Domain.FQDN")
    assert params["Forest.FQDN"] == "corp.example"
    text = UPN + ' & "|" & %Domain.Netbios% & "|" & %Forest.FQDN%'
    compiled = compile_expression(text, params=params, schema=frame.schema)
    vectorized = frame.select(compiled.expr.alias("v"))["v"].to_list()
    by_dn = [
        evaluate(text, row, params=params_for_dn(row["_dn"], WIDE, PARTITIONS)) for row in frame.to_dicts()
    ]
    by_column = [evaluate(text, row, params=params) for row in frame.to_dicts()]
    assert (
        vectorized
        == by_dn
        == by_column
        == [
            "ann@corp.example|CORP|corp.example",
            "bob@eu.corp.example|EU|corp.example",
            "cid@custom.example|EU|corp.example",
            "dan@corp.example|CORP|corp.example",
        ]
    )


def test_a_per_object_parameter_inside_a_per_value_region() -> None:
    """A multi-valued attribute combined with a per-row parameter is not fused into one list.eval (which
    could not read the frame column) and still gives each value the row's domain."""
    frame = with_partition_columns(
        users(objectGUID=["g1", "g2"], otherMailbox=[["a", "b"], ["c"]], _dn=DNS[:2]), WIDE, PARTITIONS
    )
    text = 'Trim([otherMailbox]) & "@" & %Domain.FQDN%'
    params = row_params(WIDE, PARTITIONS)
    compiled = compile_expression(text, params=params, schema=frame.schema)
    vectorized = frame.select(compiled.expr.alias("v"))["v"].to_list()
    reference = [evaluate(text, row, params=params, schema=frame.schema) for row in frame.to_dicts()]
    assert vectorized == reference == [["a@corp.example", "b@corp.example"], ["c@eu.corp.example"]]


def test_a_per_object_parameter_needs_its_column() -> None:
    with pytest.raises(UnknownParameterError, match="per object"):
        compile_expression(
            "%Domain.FQDN%",
            params={"Domain.FQDN": ColumnParameter("_param.Domain.FQDN")},
            schema={"sAMAccountName": pl.String()},
        )


def test_a_partition_listed_twice_is_an_input_error() -> None:
    with pytest.raises(InputError, match="listed twice"):
        with_partition_columns(_users(), WIDE, [PARTITIONS[0], ("dc=corp, dc=example", {})])


def test_sync_builds_each_upn_with_the_objects_own_domain() -> None:
    """Two partitions: the UPN built from sAMAccountName gets each object's own domain suffix;
    Forest.* and Connector.ID stay connector-wide."""
    flows = rule(
        "UPN",
        10,
        flows=(
            expression("userPrincipalName", UPN),
            expression("domainNetBios", "%Domain.Netbios%"),
            expression("forest", '%Forest.FQDN% & "/" & %Connector.ID%'),
        ),
    )
    result = run_sync(
        SyncState(connector_spaces={"ad": {"user": _users()}}),
        [PROJECT, flows],
        connectors={"ad": "ad"},
        params_by_connector={"ad": WIDE},
        partition_params_by_connector={"ad": PARTITIONS},
    )
    assert result.errors.height == 0
    mv = result.state.metaverse["person"].sort("sourceAnchor")
    assert mv["userPrincipalName"].to_list() == [
        "ann@corp.example",
        "bob@eu.corp.example",
        "cid@custom.example",
        "dan@corp.example",
    ]
    assert mv["domainNetBios"].to_list() == ["CORP", "EU", "EU", "CORP"]
    assert mv["forest"].to_list() == ["corp.example/ad"] * 4
    # The hidden columns never reach the connector space or the metaverse.
    assert not [c for c in mv.columns if c.startswith("_param.")]
    assert not [c for c in result.state.connector_spaces["ad"]["user"].columns if c.startswith("_param.")]


def test_delta_sync_keeps_per_partition_values() -> None:
    """A delta sync over one changed object of the second domain gives it that domain's suffix."""
    flows = rule("UPN", 10, flows=(expression("userPrincipalName", UPN),))
    kw = {
        "connectors": {"ad": "ad"},
        "params_by_connector": {"ad": WIDE},
        "partition_params_by_connector": {"ad": PARTITIONS},
    }
    first = run_sync(SyncState(connector_spaces={"ad": {"user": _users()}}), [PROJECT, flows], **kw)  # type: ignore[arg-type]
    cs = first.state.connector_spaces["ad"]["user"].with_columns(
        pl.when(pl.col("_anchor") == "u2")
        .then(pl.lit("bobby"))
        .otherwise(pl.col("sAMAccountName"))
        .alias("sAMAccountName"),
        pl.when(pl.col("_anchor") == "u2")
        .then(pl.lit("update"))
        .otherwise(pl.col("_pending"))
        .alias("_pending"),
    )
    state = SyncState(**{**first.state.__dict__, "connector_spaces": {"ad": {"user": cs}}})
    again = run_sync(state, [PROJECT, flows], mode="delta", **kw)  # type: ignore[arg-type]
    mv = again.state.metaverse["person"].sort("sourceAnchor")
    assert mv["userPrincipalName"].to_list() == [
        "ann@corp.example",
        "bobby@eu.corp.example",
        "cid@custom.example",
        "dan@corp.example",
    ]
