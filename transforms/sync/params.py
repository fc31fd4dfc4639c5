"""Per-partition ``%Parameter%`` values (spec 3): ``Domain.*`` of the domain an object lives in.

A connector's parameters are connector-wide (``Forest.*``, ``Connector.ID``, user parameters) except
those its partitions set: in Azure AD Connect ``%Domain.FQDN%`` is the FQDN of the object's own
partition, so a UPN built from sAMAccountName gets each domain's suffix. An object's partition is the
one whose DN is the longest case-insensitive suffix of the object's ``_dn``; an object under no
partition keeps the connector-wide value (if any).

The engine adds one hidden Utf8 column ``_param.<name>`` per partition parameter to a connector-space
frame (:func:`with_partition_columns`) and compiles ``%name%`` to a read of that column
(:func:`row_params`); :func:`params_for_dn` is the same lookup for one object, for the reference
evaluator and tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl

from transforms.errors import InputError
from transforms.expressions.values import ColumnParameter, ParamValue
from transforms.schema import DN
from transforms.sync.ou_scope import normalize_dn
from transforms.sync.partitions import partition_of

PARAM_PREFIX = "_param."
PARTITION = "\x00partition"

# connector -> [(partition DN, {parameter: value})]
PartitionParams = Mapping[str, Sequence[tuple[str, Mapping[str, str]]]]


def _ordered(partitions: Sequence[tuple[str, Mapping[str, str]]]) -> list[tuple[str, Mapping[str, str]]]:
    """Partitions longest DN first (a child domain's DN ends with its parent's), normalized."""
    seen: dict[str, Mapping[str, str]] = {}
    for dn, values in partitions:
        key = normalize_dn(dn)
        if not key:
            raise InputError(f"partition parameters: a partition has an empty DN ({dn!r})")
        if key in seen:
            raise InputError(f"partition parameters: partition {dn!r} is listed twice")
        seen[key] = values
    return sorted(seen.items(), key=lambda item: (-item[0].count(","), -len(item[0])))


def partition_names(partitions: Sequence[tuple[str, Mapping[str, str]]]) -> list[str]:
    """The parameter names any partition sets, sorted."""
    return sorted({name for _, values in partitions for name in values})


def row_params(
    connector_params: Mapping[str, str], partitions: Sequence[tuple[str, Mapping[str, str]]]
) -> dict[str, ParamValue]:
    """The connector's parameters with every per-partition name read from its hidden column."""
    out: dict[str, ParamValue] = dict(connector_params)
    for name in partition_names(partitions):
        out[name] = ColumnParameter(PARAM_PREFIX + name)
    return out


def with_partition_columns(
    frame: pl.DataFrame,
    connector_params: Mapping[str, str],
    partitions: Sequence[tuple[str, Mapping[str, str]]],
) -> pl.DataFrame:
    """``frame`` with a ``_param.<name>`` column per partition parameter: the value of the row's partition
    (longest matching DN suffix of ``_dn``, case-insensitive), else the connector-wide value, else null."""
    names = partition_names(partitions)
    if not names:
        return frame
    ordered = _ordered(partitions)
    suffixes = [suffix for suffix, _ in ordered]
    frame = frame.with_columns(partition_of(pl.col(DN).cast(pl.String), suffixes).alias(PARTITION))
    columns = []
    for name in names:
        fallback = connector_params.get(name)
        values = [values.get(name, fallback) for _, values in ordered]
        columns.append(
            pl.col(PARTITION)
            .replace_strict(suffixes, values, default=fallback, return_dtype=pl.String)
            .alias(PARAM_PREFIX + name)
        )
    return frame.with_columns(columns).drop(PARTITION)


def params_for_dn(
    dn: str | None, connector_params: Mapping[str, str], partitions: Sequence[tuple[str, Mapping[str, str]]]
) -> dict[str, str]:
    """The parameters of one object at ``dn`` (the per-object form of :func:`with_partition_columns`)."""
    out = dict(connector_params)
    folded = (dn or "").lower()
    for suffix, values in _ordered(partitions):
        if folded == suffix or folded.endswith("," + suffix):
            for name in partition_names(partitions):
                value = values.get(name, connector_params.get(name))
                if value is None:
                    out.pop(name, None)
                else:
                    out[name] = value
            break
    return out
