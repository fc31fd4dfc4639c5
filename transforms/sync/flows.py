"""Attribute flows and precedence over one frame of source objects (spec 2.5, 2.6).

Input: a frame of source objects (connector-space rows inbound, metaverse rows outbound) with one
Boolean scope column per bound rule. Output: one row per source object with, per destination
attribute, the resolved value and an Int64 *code* column ``<attribute>\\x00code`` telling how it was
decided: ``rank * 4 + kind`` where kind 1 = a value, 2 = AuthoritativeNull (decided: no value),
3 = IgnoreThisFlow only (offset by IGNORE_OFFSET so that any decision beats it); null = nobody
contributed. ``rank`` is the bound rule's global precedence key (lower wins), so the provenance of a
value is recovered from its code. Merged attributes also carry ``<attribute>\\x00ranks``.

Everything is a composed expression evaluated by Polars over the whole frame; the Python loops run
over rules and attributes, never over objects.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
from polars._typing import PolarsDataType

from transforms.expressions.values import ParamValue
from transforms.rules.model import AttributeFlow, FlowType, MergeType, SyncRule, SyncRuleError

IGNORE_OFFSET = 1 << 40
KIND_VALUE = 1
KIND_AUTHORITATIVE_NULL = 2
KIND_IGNORE = 3
CODE = "\x00code"
RANKS = "\x00ranks"


@dataclass(frozen=True)
class BoundRule:
    """A rule bound to one connector, with its global precedence key ``rank`` (lower wins)."""

    rule: SyncRule
    connector: str
    rank: int

    @property
    def name(self) -> str:
        return self.rule.name


@dataclass(frozen=True)
class CompiledFlow:
    flow: AttributeFlow
    value: pl.Expr
    flag: pl.Expr | None
    error: pl.Expr | None


@dataclass(frozen=True)
class Resolution:
    """Resolved attributes per source row (``key`` + value/code columns) and flow errors."""

    frame: pl.DataFrame
    attributes: tuple[str, ...]
    merge_types: Mapping[str, MergeType]
    errors: pl.DataFrame  # key, rule, message


@dataclass(frozen=True)
class _Compiled:
    value: pl.Expr
    flag: pl.Expr | None
    error: pl.Expr | None
    attributes_: frozenset[str]


def _compile_expression(
    flow: AttributeFlow,
    params: Mapping[str, ParamValue] | None,
    schema: Mapping[str, pl.DataType] | None,
    rule: str,
) -> _Compiled:
    from transforms.errors import InputError

    try:
        from transforms.expressions import compile_expression  # type: ignore[attr-defined,unused-ignore]
    except ImportError as exc:  # pragma: no cover - the expression package ships with forestsync
        raise SyncRuleError(f"{flow.position}: Expression flows need transforms.expressions") from exc
    assert flow.expression is not None
    try:
        compiled: Any = compile_expression(flow.expression, params=params, schema=schema)
    except InputError as exc:
        raise SyncRuleError(
            f"{flow.expression_position}: rule {rule!r}, flow {flow.destination!r}: {exc}"
        ) from exc
    return _Compiled(compiled.expr, compiled.flag_expr, compiled.error_expr, frozenset(compiled.attributes))


def _constant(value: object) -> pl.Expr:
    if isinstance(value, bool):
        return pl.lit(value, dtype=pl.Boolean)
    if isinstance(value, int):
        return pl.lit(value, dtype=pl.Int64)
    if isinstance(value, float):
        return pl.lit(value, dtype=pl.Float64)
    return pl.lit(str(value), dtype=pl.String)


def compile_flow(
    flow: AttributeFlow, rule: str, schema: Mapping[str, pl.DataType], params: Mapping[str, ParamValue] | None
) -> CompiledFlow:
    """The flow's expressions over a frame of ``schema``; compiled once per (flow, rule, schema,
    parameters) and kept across runs (expressions are immutable values)."""
    if flow.type is not FlowType.EXPRESSION:
        return _compile_flow(flow, rule, schema, params)
    try:
        key_schema = tuple(schema.items())
        key_params = tuple(sorted(params.items())) if params is not None else None
        hash((flow, rule, key_schema, key_params))
    except TypeError:  # an unhashable dtype or parameter: compile without the cache
        return _compile_flow(flow, rule, schema, params)
    return _cached_flow(flow, rule, key_schema, key_params)


@functools.lru_cache(maxsize=4096)
def _cached_flow(
    flow: AttributeFlow,
    rule: str,
    schema: tuple[tuple[str, pl.DataType], ...],
    params: tuple[tuple[str, ParamValue], ...] | None,
) -> CompiledFlow:
    return _compile_flow(flow, rule, dict(schema), dict(params) if params is not None else None)


def _compile_flow(
    flow: AttributeFlow, rule: str, schema: Mapping[str, pl.DataType], params: Mapping[str, ParamValue] | None
) -> CompiledFlow:
    if flow.type is FlowType.DIRECT:
        source = flow.sources[0]
        value = pl.col(source) if source in schema else pl.lit(None, dtype=pl.String)
        return CompiledFlow(flow, value, None, None)
    if flow.type is FlowType.CONSTANT:
        return CompiledFlow(flow, _constant(flow.constant), None, None)
    compiled = _compile_expression(flow, params, schema, rule)
    return CompiledFlow(flow, compiled.value, compiled.flag, compiled.error)


def resolve(
    frame: pl.DataFrame,
    key: str,
    rules: Sequence[tuple[BoundRule, str]],
    *,
    params_by_connector: Mapping[str, Mapping[str, ParamValue]],
    new_column: str | None = None,
    only: frozenset[str] | None = None,
) -> Resolution:
    """Evaluate every flow of ``rules`` (bound rule, scope column) over ``frame`` and resolve precedence.

    ``new_column`` names a Boolean column marking objects being created (apply-once flows contribute
    only there). ``only`` restricts the destinations computed. The expressions depend only on the
    rules, the frame's schema and the parameters; they are built once per such combination and kept
    across runs.
    """
    ordered = tuple(sorted(rules, key=lambda r: r[0].rank))
    connectors = sorted({b.connector for b, _ in ordered})
    params = tuple((c, tuple(sorted(params_by_connector.get(c, {}).items()))) for c in connectors)
    schema = tuple(frame.schema.items())
    try:
        hash((ordered, params, schema))
        first = _stage1_cached(ordered, schema, params, new_column, only)
    except TypeError:  # something unhashable: build without the cache
        first = _stage1(ordered, dict(schema), params, new_column, only)
    stage1, error_columns, contributions, merge_types = first
    evaluated = frame.select(pl.col(key), *stage1) if stage1 else frame.select(pl.col(key))
    errors = _errors(evaluated, key, error_columns)
    schema1 = tuple(evaluated.schema.items())
    try:
        kinds, stage3, stage4 = _stages_cached(first, schema1, key)
    except TypeError:
        kinds, stage3, stage4 = _stages(first, schema1, key)
    evaluated = evaluated.with_columns(kinds) if kinds else evaluated
    coded = evaluated.select(stage3)
    resolved = coded.select(
        pl.col(key), *stage4, *[pl.col(c) for c in coded.columns if c.endswith((CODE, RANKS))]
    )
    return Resolution(resolved, tuple(contributions), merge_types, errors)


_Contributions = dict[str, list[tuple[BoundRule, str, AttributeFlow]]]
_Stage1 = tuple[list[pl.Expr], list[tuple[BoundRule, str]], _Contributions, dict[str, MergeType]]


def _stage1(
    ordered: tuple[tuple[BoundRule, str], ...],
    schema: Mapping[str, pl.DataType],
    params_key: tuple[tuple[str, tuple[tuple[str, ParamValue], ...]], ...],
    new_column: str | None,
    only: frozenset[str] | None,
) -> _Stage1:
    """Stage 1 expressions: value, flag and error per contribution."""
    params_by_connector = {c: dict(p) for c, p in params_key}
    contributions: _Contributions = {}
    stage1: list[pl.Expr] = []
    error_columns: list[tuple[BoundRule, str]] = []
    merge_types: dict[str, MergeType] = {}
    n = 0
    for bound, scope_column in ordered:
        params = {"Connector.ID": bound.connector, **params_by_connector.get(bound.connector, {})}
        for flow in bound.rule.flows:
            if only is not None and flow.destination not in only:
                continue
            compiled = compile_flow(flow, bound.name, schema, params)
            prefix = f"\x00c{n}"
            n += 1
            in_scope = pl.col(scope_column)
            value = compiled.value
            flag = compiled.flag if compiled.flag is not None else pl.lit(0, dtype=pl.UInt8)
            if flow.apply_once:
                is_new = pl.col(new_column) if new_column is not None else pl.lit(False)
                value = pl.when(is_new).then(value)
                flag = pl.when(is_new).then(flag).otherwise(pl.lit(KIND_IGNORE - 1, dtype=pl.UInt8))
            stage1.append(pl.when(in_scope).then(value).alias(prefix + "v"))
            stage1.append(pl.when(in_scope).then(flag.cast(pl.UInt8)).alias(prefix + "f"))
            if compiled.error is not None:
                stage1.append(pl.when(in_scope).then(compiled.error).alias(prefix + "e"))
                error_columns.append((bound, prefix + "e"))
            contributions.setdefault(flow.destination, []).append((bound, prefix, flow))
            previous = merge_types.setdefault(flow.destination, flow.merge_type)
            if previous is not flow.merge_type:
                raise SyncRuleError(
                    f"{flow.position}: attribute {flow.destination!r} mixes merge types {previous.value} and "
                    f"{flow.merge_type.value}"
                )
    return stage1, error_columns, contributions, merge_types


@functools.lru_cache(maxsize=512)
def _stage1_cached(
    ordered: tuple[tuple[BoundRule, str], ...],
    schema: tuple[tuple[str, pl.DataType], ...],
    params_key: tuple[tuple[str, tuple[tuple[str, ParamValue], ...]], ...],
    new_column: str | None,
    only: frozenset[str] | None,
) -> _Stage1:
    return _stage1(ordered, dict(schema), params_key, new_column, only)


def _stages(
    first: _Stage1, schema1_key: tuple[tuple[str, pl.DataType], ...], key: str
) -> tuple[list[pl.Expr], list[pl.Expr], list[pl.Expr]]:
    """Stage 2 (what each contribution says: value, AuthoritativeNull, IgnoreThisFlow, nothing, as
    columns, so that the precedence chains stay small), stage 3 (the deciding code per attribute and
    merged values) and stage 4 (the winning values)."""
    _, _, contributions, merge_types = first
    schema1 = dict(schema1_key)
    kinds = [
        _kind(prefix, schema1[prefix + "v"]).alias(prefix + "k")
        for parts in contributions.values()
        for _, prefix, _ in parts
    ]
    stage3: list[pl.Expr] = [pl.col(key)]
    stage4: list[pl.Expr] = []
    for attribute, parts in contributions.items():
        codes, values = _chain(attribute, parts, schema1, merge_types[attribute])
        stage3.extend(codes)
        stage4.extend(values)
    stage3.extend(pl.col(f"{p}v") for parts in contributions.values() for _, p, _ in parts)
    return kinds, stage3, stage4


_STAGES: dict[tuple[int, tuple[tuple[str, pl.DataType], ...], str], tuple[_Stage1, Any]] = {}


def _stages_cached(
    first: _Stage1, schema1_key: tuple[tuple[str, pl.DataType], ...], key: str
) -> tuple[list[pl.Expr], list[pl.Expr], list[pl.Expr]]:
    # Keyed by the identity of the (cached, hence long-lived) stage-1 plan; the plan is kept in the
    # entry so that its id cannot be reused while the entry exists.
    entry_key = (id(first), schema1_key, key)
    entry = _STAGES.get(entry_key)
    if entry is not None and entry[0] is first:
        return entry[1]  # type: ignore[no-any-return]
    stages = _stages(first, schema1_key, key)
    if len(_STAGES) >= 512:
        _STAGES.clear()
    _STAGES[entry_key] = (first, stages)
    return stages


def _errors(evaluated: pl.DataFrame, key: str, columns: Sequence[tuple[BoundRule, str]]) -> pl.DataFrame:
    frames = [
        evaluated.select(
            pl.col(key), pl.lit(b.name).alias("rule"), pl.col(c).cast(pl.String).alias("message")
        ).drop_nulls("message")
        for b, c in columns
    ]
    if not frames:
        return pl.DataFrame(schema={key: evaluated.schema[key], "rule": pl.String(), "message": pl.String()})
    return pl.concat(frames)


def common_dtype(dtypes: Sequence[PolarsDataType]) -> pl.DataType:
    try:
        return _common_dtype(tuple(dtypes))
    except TypeError:  # unhashable
        return _common_dtype.__wrapped__(tuple(dtypes))


@functools.lru_cache(maxsize=1024)
def _common_dtype(dtypes: tuple[PolarsDataType, ...]) -> pl.DataType:
    real = [d for d in dtypes if d != pl.Null]
    if not real:
        return pl.String()
    if any(isinstance(d, pl.List) for d in real):
        lists = [d for d in real if isinstance(d, pl.List)]
        return lists[0]
    first = real[0]
    return first() if isinstance(first, type) else first


def _kind(prefix: str, dtype: PolarsDataType) -> pl.Expr:
    value = pl.col(prefix + "v")
    flag = pl.col(prefix + "f")
    present = value.is_not_null()
    if isinstance(dtype, pl.List):
        present = present & (value.list.len() > 0)
    return (
        pl.when(flag == 1)
        .then(pl.lit(KIND_AUTHORITATIVE_NULL, dtype=pl.Int64))
        .when(present)
        .then(pl.lit(KIND_VALUE, dtype=pl.Int64))
        .when(flag == 2)
        .then(pl.lit(KIND_IGNORE, dtype=pl.Int64))
    )


def _chain(
    attribute: str,
    parts: Sequence[tuple[BoundRule, str, AttributeFlow]],
    schema: Mapping[str, PolarsDataType],
    merge: MergeType,
) -> tuple[list[pl.Expr], list[pl.Expr]]:
    """(code and merged-value expressions over kind columns, winning-value expressions over codes)."""
    dtypes = [schema[p + "v"] for _, p, _ in parts]
    target = common_dtype(dtypes)
    if merge is not MergeType.UPDATE:
        return _merge_chain(attribute, parts, dtypes, target, merge), [pl.col(attribute)]
    kinds = [(b.rank, pl.col(p + "k"), p) for b, p, _ in parts]
    decided = [
        pl.when(k.is_in([KIND_VALUE, KIND_AUTHORITATIVE_NULL])).then(k + rank * 4) for rank, k, _ in kinds
    ]
    ignored = [pl.when(k == KIND_IGNORE).then(k + rank * 4 + IGNORE_OFFSET) for rank, k, _ in kinds]
    code = pl.coalesce([*decided, *ignored, pl.lit(None, dtype=pl.Int64)])
    coded = pl.col(attribute + CODE)
    value: Any = pl
    for rank, _, p in kinds:
        cast = pl.col(p + "v") if schema[p + "v"] == target else pl.col(p + "v").cast(target, strict=False)
        value = value.when(coded == rank * 4 + KIND_VALUE).then(cast)
    return (
        [code.cast(pl.Int64).alias(attribute + CODE)],
        [value.otherwise(pl.lit(None, dtype=target)).alias(attribute)],
    )


def _merge_chain(
    attribute: str,
    parts: Sequence[tuple[BoundRule, str, AttributeFlow]],
    dtypes: Sequence[PolarsDataType],
    target: PolarsDataType,
    merge: MergeType,
) -> list[pl.Expr]:
    list_type = target if isinstance(target, pl.List) else pl.List(target)
    empty = pl.lit(pl.Series([[]], dtype=list_type))
    blocked: pl.Expr = pl.lit(False)
    items: list[pl.Expr] = []
    ranks: list[pl.Expr] = []
    codes: list[pl.Expr] = []
    for (bound, prefix, _), dtype in zip(parts, dtypes, strict=True):
        kind = pl.col(prefix + "k")
        include = (kind == KIND_VALUE) & ~blocked
        value = pl.col(prefix + "v")
        as_list = value if isinstance(dtype, pl.List) else pl.concat_list(value)
        if as_list is not value or dtype != list_type:
            as_list = as_list.cast(list_type, strict=False)
        items.append(pl.when(include).then(as_list).otherwise(empty))
        ranks.append(pl.when(include).then(pl.lit(bound.rank, dtype=pl.Int64)))
        codes.append(pl.when(include).then(pl.lit(bound.rank * 4 + KIND_VALUE, dtype=pl.Int64)))
        codes.append(
            pl.when((kind == KIND_AUTHORITATIVE_NULL) & ~blocked).then(
                pl.lit(bound.rank * 4 + KIND_AUTHORITATIVE_NULL, dtype=pl.Int64)
            )
        )
        blocked = blocked | (kind == KIND_AUTHORITATIVE_NULL).fill_null(False)
    merged = dedupe(pl.concat_list(items), merge, list_type)
    return [
        pl.when(merged.list.len() > 0).then(merged).alias(attribute),
        pl.min_horizontal(codes).alias(attribute + CODE),
        pl.concat_list(ranks).list.drop_nulls().alias(attribute + RANKS),
    ]


def dedupe(values: pl.Expr, merge: MergeType, list_type: pl.DataType) -> pl.Expr:
    """Union semantics: exact duplicates removed (Merge), or duplicates up to case (MergeCaseInsensitive)."""
    inner = list_type.inner if isinstance(list_type, pl.List) else pl.String()
    if merge is MergeType.MERGE_CASE_INSENSITIVE and inner == pl.String:
        return values.list.eval(
            pl.element().filter(pl.element().str.to_lowercase().is_first_distinct()).sort()
        )
    return values.list.unique().list.sort()
