"""JSON form of expression values, shared by the CLI and the compliance cases.

Multi-valued = array, binary = ``{"base64": ...}`` (input also accepts ``{"hex": ...}``), date = ISO-8601
UTC text on output (input: ``{"datetime": "..."}``), NULL = null, special literals
``{"special": "AuthoritativeNull"}``. Frames built from JSON rows use the house column types.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from transforms.errors import InputError
from transforms.expressions.values import AUTHORITATIVE_NULL, IGNORE_THIS_FLOW, Special

if TYPE_CHECKING:
    import polars as pl

SPECIALS = {"AuthoritativeNull": AUTHORITATIVE_NULL, "IgnoreThisFlow": IGNORE_THIS_FLOW}
TYPE_NAMES = ("str", "num", "bool", "bin", "dt", "mvstr", "mvbin", "mvnum")


def format_datetime(value: datetime) -> str:
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}"
    return text + "Z"


def parse_datetime(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def decode(obj: object) -> object:
    if isinstance(obj, dict):
        if "base64" in obj:
            return base64.b64decode(str(obj["base64"]))
        if "hex" in obj:
            return bytes.fromhex(str(obj["hex"]))
        if "datetime" in obj:
            return parse_datetime(str(obj["datetime"]))
        if "special" in obj and obj["special"] in SPECIALS:
            return SPECIALS[str(obj["special"])]
        raise InputError(f"unsupported JSON value {obj!r}")
    if isinstance(obj, list):
        return [decode(item) for item in obj]
    if isinstance(obj, float):
        if obj.is_integer():
            return int(obj)
        raise InputError(f"numbers are 64-bit integers; got {obj}")
    return obj


def encode(value: object) -> object:
    if isinstance(value, Special):
        return {"special": value.name}
    if isinstance(value, bytes):
        return {"base64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, list):
        return [encode(item) for item in value]
    return value


def _dtype(name: str) -> pl.DataType:
    import polars as pl

    base = {
        "str": pl.Utf8(),
        "num": pl.Int64(),
        "bool": pl.Boolean(),
        "bin": pl.Binary(),
        "dt": pl.Datetime("us", "UTC"),
    }
    if name.startswith("mv"):
        return pl.List(base[name[2:]])
    return base[name]


def _infer(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "num"
    if isinstance(value, str):
        return "str"
    if isinstance(value, bytes):
        return "bin"
    if isinstance(value, datetime):
        return "dt"
    if isinstance(value, list):
        inner = sorted(kind for kind in (_infer(v) for v in value) if kind is not None)
        return "mv" + (inner[0] if len(set(inner)) == 1 else "str")
    raise InputError(f"unsupported value {value!r}")


def infer_schema(
    rows: Iterable[Mapping[str, object]], declared: Mapping[str, str] | None = None
) -> dict[str, pl.DataType]:
    """Column types for rows of decoded values; ``declared`` (name -> type name) wins."""
    names: dict[str, str | None] = {}
    for row in rows:
        for key, value in row.items():
            kind = _infer(value)
            if names.get(key) is None:
                names[key] = kind
    for key, kind in (declared or {}).items():
        names[key] = kind
    return {key: _dtype(kind or "str") for key, kind in names.items()}


def frame(rows: list[Mapping[str, object]], schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    import polars as pl

    columns = {name: [row.get(name) for row in rows] for name in schema}
    return pl.DataFrame(columns, schema=dict(schema))
