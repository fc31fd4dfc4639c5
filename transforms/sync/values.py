"""Column helpers: JSON text of values (pending exports, export memory) and reference mapping."""

from __future__ import annotations

import polars as pl

# An outbound reference to an object provisioned in the same sync (no anchor yet) is carried as the text
# PLACEHOLDER_PREFIX + _mv_id through the value columns, and as ``{"_mv_id": "..."}`` in the JSON of
# pending exports: the Entra connector creates objects first and resolves these to the ids it got.
PLACEHOLDER_PREFIX = "\x00mv:"
_MARKER_JSON = r'"\\u0000mv:((?:[^"\\]|\\.)*)"'
_PLACEHOLDER_JSON = r'\{"_mv_id":"((?:[^"\\]|\\.)*)"\}'


def placeholder_marker(mv_id: pl.Expr) -> pl.Expr:
    """The in-frame reference value for an object that has no anchor yet."""
    return pl.concat_str(pl.lit(PLACEHOLDER_PREFIX), mv_id)


def markers_to_placeholders(text: pl.Expr) -> pl.Expr:
    """JSON text of reference values: each marker becomes ``{"_mv_id": "..."}``."""
    return text.str.replace_all(_MARKER_JSON, '{"_mv_id":"${1}"}')


def placeholders_to_markers(text: pl.Expr) -> pl.Expr:
    """The inverse of :func:`markers_to_placeholders` (JSON text that decodes to marker strings)."""
    return text.str.replace_all(_PLACEHOLDER_JSON, '"\\u0000mv:${1}"')


def json_expr(column: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """JSON text of a value, null for no value (null or empty list).

    Multi-valued values are sorted first so that equal sets compare equal as text; binary values are
    ``{"base64": ...}`` objects, date-times ISO 8601 strings in UTC.
    """
    if isinstance(dtype, pl.List):
        inner = dtype.inner
        sorted_values = column.list.sort()
        if inner == pl.Binary:
            items = sorted_values.list.eval(_binary_json(pl.element()))
            text = pl.concat_str(pl.lit("["), items.list.join(","), pl.lit("]"))
        elif isinstance(inner, pl.Datetime):
            items = sorted_values.list.eval(pl.element().dt.to_string("%Y-%m-%dT%H:%M:%S%.fZ"))
            text = _wrapped_json(items)
        else:
            text = _wrapped_json(sorted_values)
        return pl.when(column.list.len() > 0).then(text)
    if dtype == pl.Binary:
        return _binary_json(column)
    if isinstance(dtype, pl.Datetime):
        return _wrapped_json(column.dt.to_string("%Y-%m-%dT%H:%M:%S%.fZ"))
    if dtype == pl.Null:
        return pl.lit(None, dtype=pl.String)
    return pl.when(column.is_not_null()).then(_wrapped_json(column))


def _binary_json(column: pl.Expr) -> pl.Expr:
    return pl.concat_str(pl.lit('{"base64":"'), column.bin.encode("base64"), pl.lit('"}'))


def _wrapped_json(column: pl.Expr) -> pl.Expr:
    # Polars encodes structs, not bare values: wrap in {"v": ...} and cut the wrapper off.
    encoded = pl.struct(column.alias("v")).struct.json_encode()
    return encoded.str.strip_prefix('{"v":').str.strip_suffix("}")


def map_references(frame: pl.DataFrame, column: str, mapping: pl.DataFrame, *, lower: bool) -> pl.DataFrame:
    """Replace reference values in ``column`` by ``mapping`` (``key`` -> ``value``); drop unresolved.

    ``lower`` makes keys (DNs) compare case-insensitively: values are first matched as they are (AD
    writes linked values in the referenced object's own casing, so nearly all match) and only the
    misses are lower-cased and matched again. Single-valued columns become null when unresolved;
    multi-valued ones keep the resolved values in source order.
    """
    dtype = frame.schema[column]
    idx = "__row"
    values = frame.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias(idx), pl.col(column).cast(dtype))
    if isinstance(dtype, pl.List):
        values = values.explode(column)
    values = values.drop_nulls(column).with_columns(pl.col(column).cast(pl.String))
    raw = mapping.select(pl.col("key"), pl.col("value"))  # keys are unique (the caller's promise)
    matched = values.join(raw, left_on=column, right_on="key", how="left", maintain_order="left")
    if lower:
        missing = matched.filter(pl.col("value").is_null())
        if missing.height:
            folded = raw.select(pl.col("key").str.to_lowercase(), pl.col("value")).unique(
                "key", keep="first", maintain_order=True
            )
            retried = (
                missing.drop("value")
                .with_columns(pl.col(column).str.to_lowercase().alias("__key"))
                .join(folded, left_on="__key", right_on="key", how="left", maintain_order="left")
                .drop("__key")
            )
            matched = pl.concat([matched.filter(pl.col("value").is_not_null()), retried])
    matched = matched.drop_nulls("value")
    if isinstance(dtype, pl.List):
        # Values keep the order of the source list (deterministic); duplicates are dropped in order.
        resolved = matched.group_by(idx, maintain_order=True).agg(
            pl.col("value").unique(maintain_order=True).alias(column)
        )
        out = (
            frame.drop(column)
            .with_row_index(idx)
            .join(resolved, on=idx, how="left", maintain_order="left")
            .drop(idx)
            .with_columns(pl.col(column).fill_null(pl.lit([], dtype=pl.List(pl.String))))
        )
    else:
        resolved = matched.unique(idx, keep="first", maintain_order=True).select(
            idx, pl.col("value").alias(column)
        )
        out = (
            frame.drop(column)
            .with_row_index(idx)
            .join(resolved, on=idx, how="left", maintain_order="left")
            .drop(idx)
        )
    return out.select(frame.columns)


def decode_json_expr(text: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """The inverse of :func:`json_expr`: JSON text back to a value of ``dtype`` (null stays null)."""
    wrapped = pl.concat_str(pl.lit('{"v":'), text, pl.lit("}"))
    if dtype == pl.Binary:
        inner = wrapped.str.json_decode(pl.Struct({"v": pl.Struct({"base64": pl.String()})}))
        return inner.struct.field("v").struct.field("base64").str.decode("base64")
    if isinstance(dtype, pl.List) and dtype.inner == pl.Binary:
        inner = wrapped.str.json_decode(pl.Struct({"v": pl.List(pl.Struct({"base64": pl.String()}))}))
        return inner.struct.field("v").list.eval(pl.element().struct.field("base64").str.decode("base64"))
    if isinstance(dtype, pl.Datetime) or (
        isinstance(dtype, pl.List) and isinstance(dtype.inner, pl.Datetime)
    ):
        as_text = pl.List(pl.String()) if isinstance(dtype, pl.List) else pl.String()
        value = wrapped.str.json_decode(pl.Struct({"v": as_text})).struct.field("v")
        return value.cast(dtype, strict=False)
    return wrapped.str.json_decode(pl.Struct({"v": dtype})).struct.field("v")
