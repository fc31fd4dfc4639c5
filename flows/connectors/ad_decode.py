"""Raw LDAP entries -> Polars frames, with the attribute-type table of Active Directory.

ldap3 hands back one dict per entry (``raw_attributes``: attribute -> list of bytes). The only Python
per entry is moving those lists into per-attribute columns; every conversion (UTF-8 text, integers,
booleans, single- vs multi-valued, the Base64 anchor, the object type) is then one Polars operation per
column.

Range retrieval: a value list the server cut short comes back under ``member;range=0-1499``; the rows
and where to continue are reported in :attr:`DecodedPage.ranged` for the caller to fetch the rest.
DirSync with incremental values sends member changes as ``member;range=1-1`` (values added) and
``member;range=0-0`` (values removed); they become the List(String) columns ``member@add`` and
``member@remove``, which the store applies to the stored list.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import polars as pl
import pyarrow as pa

from flows.connectors.attribute_types import ATTRIBUTE_TYPES, AttributeSyntax
from transforms.schema import ANCHOR, DN, OBJECT_TYPE

RawEntry = dict[str, Any]  # {"dn": str, "raw_attributes": {attribute: [bytes, ...]}}

Kind = Literal["string", "binary", "int", "bool"]


@dataclass(frozen=True)
class AttributeType:
    kind: Kind = "string"
    multi: bool = False

    @property
    def dtype(self) -> pl.DataType:
        scalar: pl.DataType = {
            "string": pl.String(),
            "binary": pl.Binary(),
            "int": pl.Int64(),
            "bool": pl.Boolean(),
        }[self.kind]
        return pl.List(scalar) if self.multi else scalar


_KIND: Final[dict[AttributeSyntax, Kind]] = {
    AttributeSyntax.STRING: "string",
    AttributeSyntax.BINARY: "binary",
    AttributeSyntax.INTEGER: "int",
    AttributeSyntax.BOOLEAN: "bool",
}

# The table shared with the LDIF connector (flows.connectors.attribute_types), plus what the delta
# import reads for itself. Attributes in neither are typed from the DC's schema when the connector
# opens (AdSettings.discover_schema), or are single-valued strings.
AD_ATTRIBUTE_TYPES: Final[dict[str, AttributeType]] = {
    t.name: AttributeType(_KIND[t.syntax], t.multi_valued) for t in ATTRIBUTE_TYPES.values()
} | {
    "parentGUID": AttributeType("binary"),
    "isRecycled": AttributeType("bool"),
}

# Attribute syntaxes of the AD schema (attributeSchema.attributeSyntax) -> kind.
_SYNTAX_KIND: Final[dict[str, Kind]] = {
    "2.5.5.8": "bool",
    "2.5.5.9": "int",
    "2.5.5.16": "int",
    "2.5.5.10": "binary",
    "2.5.5.17": "binary",
    "2.5.5.15": "binary",  # NT security descriptor
}

OBJECT_TYPES: Final[tuple[str, ...]] = (
    "user",
    "inetOrgPerson",
    "contact",
    "group",
    "computer",
    "foreignSecurityPrincipal",
    "organizationalUnit",
)

INCREMENTAL_ADD: Final = "@add"
INCREMENTAL_REMOVE: Final = "@remove"


class AttributeTypes:
    """Case-insensitive attribute name -> (schema casing, type)."""

    def __init__(self, overrides: Mapping[str, AttributeType] | None = None) -> None:
        self._types: dict[str, tuple[str, AttributeType]] = {
            name.lower(): (name, t) for name, t in AD_ATTRIBUTE_TYPES.items()
        }
        for name, t in (overrides or {}).items():
            self._types[name.lower()] = (name, t)

    def get(self, name: str) -> AttributeType:
        hit = self._types.get(name.lower())
        return hit[1] if hit else AttributeType("string")

    def known(self, name: str) -> bool:
        return name.lower() in self._types

    def canonical(self, name: str) -> str:
        hit = self._types.get(name.lower())
        return hit[0] if hit else name

    def learn(self, name: str, syntax: str, single_valued: bool) -> None:
        self._types[name.lower()] = (
            name,
            AttributeType(_SYNTAX_KIND.get(syntax, "string"), not single_valued),
        )


@dataclass(frozen=True)
class RangedValue:
    """A value list the server cut short: ``attribute`` of row ``row`` continues at ``next_start``."""

    row: int
    dn: str
    attribute: str
    next_start: int


@dataclass
class DecodedPage:
    frame: pl.DataFrame
    ranged: list[RangedValue] = field(default_factory=list)


def _parse_range(key: str) -> tuple[str, int, int | None] | None:
    """``member;range=0-1499`` -> ("member", 0, 1499); ``member;range=1500-*`` -> (.., 1500, None)."""
    base, _, option = key.partition(";")
    if not option.lower().startswith("range="):
        return None
    low, _, high = option[6:].partition("-")
    return base, int(low), None if high == "*" else int(high)


def _arrow(values: list[Any], atype: AttributeType) -> pa.Array:
    # pyarrow converts the Python lists in C++ (tens of times faster than pl.Series(values) with a
    # nested dtype); UTF-8 validation is an Arrow cast.
    raw = pa.array(values, type=pa.large_list(pa.large_binary()))
    if atype.kind == "binary":
        return raw
    try:
        return raw.cast(pa.large_list(pa.large_string()))
    except pa.ArrowInvalid:
        # A directory should only send UTF-8 for text syntaxes; keep what is readable rather than fail.
        return pa.array(
            [None if v is None else [x.decode("utf-8", "replace") for x in v] for v in values],
            type=pa.large_list(pa.large_string()),
        )


def _typed(name: str, atype: AttributeType) -> pl.Expr:
    """From the List(Binary|String) column as read to the column's type."""
    column = pl.col(name)
    if not atype.multi:
        column = column.list.first()
    if atype.kind == "int":
        return column.cast(atype.dtype).alias(name)
    if atype.kind == "bool":
        return (column.str.to_uppercase() == "TRUE" if not atype.multi else column.cast(atype.dtype)).alias(
            name
        )
    return column.alias(name)


def decode_entries(
    entries: Sequence[Mapping[str, Any]],
    attributes: Iterable[str],
    types: AttributeTypes,
    *,
    incremental: bool = False,
) -> DecodedPage:
    """Decode raw entries into one frame: ``_dn``, ``_anchor`` (when objectGUID was read) and one column
    per requested attribute, typed by ``types``. With ``incremental`` (DirSync), ``member;range=1-1`` and
    ``member;range=0-0`` become ``member@add`` / ``member@remove``; otherwise a ranged key marks a value
    list to complete (see :class:`DecodedPage`).
    """
    wanted = [types.canonical(a) for a in attributes]
    by_lower = {a.lower(): a for a in wanted}
    n = len(entries)
    columns: dict[str, list[Any]] = {a: [None] * n for a in wanted}
    dns: list[str] = [""] * n
    ranged: list[RangedValue] = []
    key_cache: dict[str, str | None] = {}
    for i, entry in enumerate(entries):
        dns[i] = entry["dn"]
        for key, values in entry["raw_attributes"].items():
            column = key_cache.get(key, "")
            if column == "":
                column = by_lower.get(key.lower())
                key_cache[key] = column
            if column is not None:
                if values:
                    columns[column][i] = values
                continue
            parsed = _parse_range(key)
            if parsed is None:
                continue
            base, low, high = parsed
            base = by_lower.get(base.lower(), base)
            if incremental and (low, high) in ((1, 1), (0, 0)):
                target = base + (INCREMENTAL_ADD if low == 1 else INCREMENTAL_REMOVE)
                columns.setdefault(target, [None] * n)[i] = values or []
            elif base in columns:
                columns[base][i] = values
                if high is not None:
                    ranged.append(RangedValue(i, entry["dn"], base, high + 1))
    arrays: dict[str, pa.Array] = {DN: pa.array(dns, type=pa.large_string())}
    exprs: list[pl.Expr] = [pl.col(DN)]
    for name, values in columns.items():
        atype = (
            AttributeType("string", multi=True)
            if name.endswith((INCREMENTAL_ADD, INCREMENTAL_REMOVE))
            else types.get(name)
        )
        arrays[name] = _arrow(values, atype)
        exprs.append(_typed(name, atype))
    if "objectGUID" in columns:
        exprs.append(pl.col("objectGUID").list.first().bin.encode("base64").alias(ANCHOR))
    if "objectClass" in columns:
        exprs.append(pl.col("objectClass").list.last().cast(pl.String()).alias(OBJECT_TYPE))
    # One select: every conversion runs in a single Polars query instead of one per column.
    frame = pl.DataFrame(pa.table(arrays)).select(exprs)
    return DecodedPage(frame, ranged)


def object_type_expr() -> pl.Expr:
    """The object type is the most specific class: AD lists objectClass from ``top`` to the structural
    class (``top, person, organizationalPerson, user, computer``)."""
    return pl.col("objectClass").list.last()


def system_columns_first(frame: pl.DataFrame) -> pl.DataFrame:
    system: list[str] = [c for c in (ANCHOR, DN, OBJECT_TYPE) if c in frame.columns]
    return frame.select(system + sorted(c for c in frame.columns if c not in system))


def empty_frame(attributes: Iterable[str], types: AttributeTypes) -> pl.DataFrame:
    schema: dict[str, pl.DataType] = {ANCHOR: pl.String(), DN: pl.String(), OBJECT_TYPE: pl.String()}
    for a in attributes:
        schema[types.canonical(a)] = types.get(a).dtype
    return pl.DataFrame(schema=schema)
