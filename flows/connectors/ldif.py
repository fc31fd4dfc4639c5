"""The LDIF connector: full import of an RFC 2849 content file into connector-space frames.

LDIF is a snapshot, so the connector only does full imports: the import stage compares the frames with
the stored connector space to find adds, updates and deletes (:mod:`transforms.sync.staging`).

The parser is column-wise over the file's lines (a million users is ~30 million lines): the file is read
by Polars' CSV reader as one string column, continuation lines are joined, comments dropped, each line
split at its first colon, base64 values decoded in bulk, and the values of each (object type, attribute)
pivoted into a wide frame. The whole file is parsed and checked before anything is returned, so a bad
file never reaches the store: the connector space keeps its previous state.
"""

from __future__ import annotations

import io
import mmap
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import polars as pl
import pyarrow as pa

from flows.connectors.attribute_types import ATTRIBUTE_TYPES, AttributeSyntax, attribute_type
from flows.connectors.base import ImportBatch, ImportResult
from transforms.errors import InputError, TerminalError
from transforms.schema import ANCHOR, DN, OBJECT_TYPE

# Most specific structural class first: a computer is also a user, an inetOrgPerson also a user.
OBJECT_TYPE_PRECEDENCE: Final[tuple[str, ...]] = (
    "computer",
    "inetOrgPerson",
    "user",
    "contact",
    "group",
    "foreignSecurityPrincipal",
    "organizationalUnit",
    "container",
    "builtinDomain",
    "domainDNS",
)
DEFAULT_OBJECT_TYPES: Final[tuple[str, ...]] = (
    "user",
    "inetOrgPerson",
    "contact",
    "group",
    "computer",
    "organizationalUnit",
)
_CHANGE_TYPES: Final = ("delete", "modify", "modrdn", "moddn")
_ATTRIBUTE_DESCRIPTION: Final = r"^(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)*)(?:;[A-Za-z0-9-]+)*$"
_MAX_REPORTED: Final = 50


@dataclass(frozen=True)
class LdifProblem:
    line: int
    column: int | None
    message: str

    def render(self, source: str) -> str:
        where = f"{source}:{self.line}" + (f":{self.column}" if self.column is not None else "")
        return f"{where}: {self.message}"


class LdifSyntaxError(InputError):
    """The file is not valid LDIF (or uses LDIF features a snapshot import cannot take).

    ``line`` and ``column`` locate the first problem; ``problems`` lists up to 50 of them in file order.
    """

    def __init__(self, source: str, problems: Sequence[LdifProblem]) -> None:
        self.source = source
        self.problems = tuple(problems)
        first = self.problems[0]
        self.line = first.line
        self.column = first.column
        more = len(self.problems) - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        super().__init__(first.render(source) + suffix)


class SnapshotOnlyError(TerminalError):
    """The LDIF connector has no change tracking and no write path: only full imports."""


# --------------------------------------------------------------------------------------------------
# Reading lines


def _lines_from_text(text: str) -> pl.DataFrame:
    parts = text.split("\n")
    if parts and parts[-1] == "":
        parts.pop()
    lines = pl.Series("t", parts, dtype=pl.String).str.strip_suffix("\r")
    return lines.to_frame().with_row_index("n", offset=1)


def _utf8_problem(data: bytes, source: str) -> LdifSyntaxError | None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        return LdifSyntaxError(source, [LdifProblem(line, column, "not valid UTF-8")])
    return None


def read_lines(source: Path | bytes, name: str | None = None) -> pl.DataFrame:
    """The physical lines of an LDIF file as ``n`` (1-based line number) and ``t`` (text, null if empty)."""
    label = name or (str(source) if isinstance(source, Path) else "<ldif>")
    if isinstance(source, Path):
        with source.open("rb") as fh:
            try:
                mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
            except ValueError:  # an empty file cannot be mapped
                return pl.DataFrame(schema={"n": pl.UInt32, "t": pl.String})
            with mm:
                has_unit_separator = mm.find(b"\x1f") >= 0
    else:
        has_unit_separator = b"\x1f" in source
        if not source:
            return pl.DataFrame(schema={"n": pl.UInt32, "t": pl.String})
    if has_unit_separator:
        # The CSV reader needs a byte that never occurs; \x1f is legal (if odd) in LDIF, so take the slow path.
        data = source.read_bytes() if isinstance(source, Path) else source
        err = _utf8_problem(data, label)
        if err is not None:
            raise err
        return _lines_from_text(data.decode("utf-8"))
    try:
        frame = pl.read_csv(
            source if isinstance(source, Path) else io.BytesIO(source),
            has_header=False,
            separator="\x1f",
            quote_char=None,
            new_columns=["t"],
            infer_schema=False,
            encoding="utf8",
        )
    except pl.exceptions.ComputeError:
        data = source.read_bytes() if isinstance(source, Path) else source
        err = _utf8_problem(data, label)
        if err is not None:
            raise err from None
        raise
    return frame.with_row_index("n", offset=1)


# --------------------------------------------------------------------------------------------------
# Parsing


def _problems(
    frame: pl.DataFrame, message: pl.Expr | str, column: pl.Expr | int | None = None
) -> pl.DataFrame:
    msg = pl.lit(message) if isinstance(message, str) else message
    col = pl.lit(column) if not isinstance(column, pl.Expr) else column
    return frame.head(_MAX_REPORTED).select(
        pl.col("n").cast(pl.Int64).alias("line"),
        col.cast(pl.Int64).alias("column"),
        msg.cast(pl.String).alias("message"),
    )


class _Checks:
    def __init__(self, source: str) -> None:
        self.source = source
        self.found: list[pl.DataFrame] = []

    def add(self, frame: pl.DataFrame, message: pl.Expr | str, column: pl.Expr | int | None = None) -> None:
        if frame.height:
            self.found.append(_problems(frame, message, column))

    def raise_if_any(self) -> None:
        if not self.found:
            return
        allp = pl.concat(self.found).sort("line", "column", nulls_last=False).head(_MAX_REPORTED)
        raise LdifSyntaxError(
            self.source,
            [LdifProblem(int(r["line"]), r["column"], str(r["message"])) for r in allp.iter_rows(named=True)],
        )


def _logical_lines(lines: pl.DataFrame, checks: _Checks) -> pl.DataFrame:
    """Join continuation lines (a leading space) to the line they continue.

    Each round folds the last continuation line of every run into the line before it, so the work is
    proportional to the continuation lines and the rounds to the longest run.
    """
    blank = pl.col("t").is_null() | (pl.col("t") == "")
    cont = pl.col("t").str.starts_with(" ").fill_null(False)
    orphan = cont & blank.shift(1, fill_value=True)
    df = lines.with_columns(cont=cont, orphan=orphan)
    orphans = df.filter(pl.col("orphan"))
    if orphans.height:
        checks.add(orphans, "continuation line (starting with a space) with no line to continue", 1)
        df = df.filter(~pl.col("orphan"))
    df = df.drop("orphan")
    while bool(df["cont"].any()):
        is_cont = df["cont"]
        last = is_cont & ~is_cont.shift(-1, fill_value=False)
        target = last.shift(-1, fill_value=False).arg_true()
        t = df["t"]
        merged = t.gather(target) + t.gather(target + 1).str.slice(1)
        df = df.with_columns(t.scatter(target, merged)).filter(~last)
    return df.select("n", "t")


_SPLIT_CHUNK: Final = 2_000_000  # lines per chunk: bounds the string temporaries of the split


def _split_lines(logical: pl.DataFrame, checks: _Checks) -> tuple[pl.DataFrame, list[str], dict[str, str]]:
    """Entries and ``attr: value`` pairs: columns n, first, e (entry index), kc, b64, value, bv.

    ``kc`` indexes the returned key list (lowercased attribute names without options); the dict maps
    each key to its first spelling in the file. Attribute names are few, so they are resolved once per
    distinct spelling (an Enum cast), not per line. The text is split in chunks of lines so that its
    temporaries stay small (a million users is ~30M lines), and dropped as soon as it is split.
    """
    blank = pl.col("t").is_null() | (pl.col("t") == "")
    comment = pl.col("t").str.starts_with("#").fill_null(False)
    df = logical.with_columns(blank=blank, comment=comment)
    # version-spec: only as the first line of the file (comments aside); it separates like a blank line.
    real = ~df["blank"] & ~df["comment"]
    if bool(real.any()):
        first_real = df.slice(int(real.arg_max() or 0), 1)
        if str(first_real["t"][0]).lower().startswith("version:"):
            version = str(first_real["t"][0]).split(":", 1)[1].strip()
            if version != "1":
                checks.add(first_real, f"unsupported LDIF version {version!r} (only version 1 exists)", 9)
            df = df.with_columns(blank=pl.col("blank") | (pl.col("n") == first_real["n"][0]))
    df = df.with_columns(grp=pl.col("blank").cum_sum()).filter(~pl.col("blank") & ~pl.col("comment"))
    df = df.with_columns(first=(pl.col("grp") != pl.col("grp").shift(1)).fill_null(True))
    df = df.with_columns(e=pl.col("first").cum_sum().cast(pl.Int64) - 1).drop("grp", "blank", "comment")

    spelling_list: list[str] = []
    known: set[str] = set()
    chunks: list[pl.DataFrame] = []
    for start in range(0, df.height, _SPLIT_CHUNK):
        chunk = df.slice(start, _SPLIT_CHUNK).with_columns(s=pl.col("t").str.splitn(":", 2)).unnest("s")
        chunk = chunk.rename({"field_0": "attr", "field_1": "rest"})
        checks.add(
            chunk.filter(pl.col("rest").is_null()), "expected 'attribute: value' (no colon on this line)", 1
        )
        seen = chunk.select(pl.col("attr").filter(pl.col("rest").is_not_null()).unique(maintain_order=True))
        for sp in seen.to_series().to_list():
            if sp not in known:
                known.add(sp)
                spelling_list.append(str(sp))
        chunk = chunk.with_columns(
            # An Enum's physical code is the position in a list that only grows: stable across chunks.
            sc=pl.when(pl.col("rest").is_not_null()).then(
                pl.col("attr").cast(pl.Enum(spelling_list or ["-"]), strict=False).to_physical()
            ),
            b64=pl.col("rest").str.starts_with(":").fill_null(False),
            url=pl.col("rest").str.starts_with("<").fill_null(False),
            # FILL is spaces; a SAFE-STRING never starts with ':' so stripping "::"+spaces is exact.
            value=pl.col("rest").str.strip_chars_start(": "),
        )
        checks.add(chunk.filter(pl.col("url")), "URL values ('attribute:< url') are not supported", None)
        b64_rows = chunk["b64"].arg_true()
        decoded = chunk["value"].gather(b64_rows).str.decode("base64", strict=False)
        chunk = chunk.with_columns(
            bv=pl.repeat(None, chunk.height, dtype=pl.Binary, eager=True).scatter(b64_rows, decoded)
        )
        if decoded.null_count():
            bad_b64 = chunk.filter(pl.col("b64") & pl.col("bv").is_null())
            column = pl.col("t").str.len_chars() - pl.col("value").str.len_chars() + 1
            checks.add(bad_b64, "invalid base64 value", column)
        chunks.append(chunk.select("n", "first", "e", "sc", "b64", "value", "bv"))
    del df
    lines = (
        pl.concat(chunks, rechunk=False)
        if chunks
        else pl.DataFrame(
            schema={
                "n": pl.UInt32,
                "first": pl.Boolean,
                "e": pl.Int64,
                "sc": pl.UInt32,
                "b64": pl.Boolean,
                "value": pl.String,
                "bv": pl.Binary,
            }
        )
    )
    chunks.clear()

    key_names = sorted({_key_of(s) for s in spelling_list})
    key_index = {k: i for i, k in enumerate(key_names)}
    code_of_spelling = pl.Series([key_index[_key_of(s)] for s in spelling_list], dtype=pl.Int64)
    lines = (
        lines.with_columns(kc=code_of_spelling.gather(lines["sc"]))
        if spelling_list
        else lines.with_columns(kc=pl.lit(None, pl.Int64))
    )
    spelling_of = pl.Series(spelling_list, dtype=pl.String)
    bad = [i for i, s in enumerate(spelling_list) if re.fullmatch(_ATTRIBUTE_DESCRIPTION, s) is None]
    if bad:
        bad_attr = lines.filter(pl.col("sc").is_in(bad))
        bad_attr = bad_attr.with_columns(spelling=spelling_of.gather(bad_attr["sc"]))
        checks.add(bad_attr, pl.lit("invalid attribute description '") + pl.col("spelling") + pl.lit("'"), 1)
    dn, version_code = key_index.get("dn", -1), key_index.get("version", -1)
    version_inside = pl.col("first") & (pl.col("kc") == version_code)
    checks.add(lines.filter(version_inside), "'version:' is only allowed at the start of the file", 1)
    not_dn = lines.filter(
        pl.col("first") & pl.col("sc").is_not_null() & (pl.col("kc") != dn) & ~version_inside
    )
    if not_dn.height:
        not_dn = not_dn.with_columns(spelling=spelling_of.gather(not_dn["sc"]))
        message = pl.lit("an entry must start with 'dn:' (found '") + pl.col("spelling") + pl.lit(":')")
        checks.add(not_dn, message, 1)
    checks.add(
        lines.filter(~pl.col("first") & (pl.col("kc") == dn)),
        "'dn:' inside an entry (is the blank line before it missing?)",
        1,
    )
    spelling: dict[str, str] = {}
    for sp in spelling_list:
        spelling.setdefault(_key_of(sp), sp)
    return lines.select("n", "first", "e", "kc", "b64", "value", "bv"), key_names, spelling


def _key_of(spelling: str) -> str:
    return spelling.split(";", 1)[0].lower()


def _change_types(df: pl.DataFrame, key_names: list[str], checks: _Checks) -> pl.DataFrame:
    """``changetype: add`` is a content record; other change records cannot be a snapshot."""
    if "changetype" not in key_names:
        return df
    code = key_names.index("changetype")
    ct = df.with_columns(after_dn=pl.col("first").shift(1).fill_null(False)).filter(pl.col("kc") == code)
    ct = ct.with_columns(ctv=_text(ct, checks).str.strip_chars().str.to_lowercase())
    checks.add(ct.filter(~pl.col("after_dn")), "'changetype:' must directly follow the entry's 'dn:'", 1)
    checks.add(
        ct.filter(pl.col("ctv").is_in(list(_CHANGE_TYPES))),
        pl.lit("change records (changetype: ")
        + pl.col("ctv")
        + pl.lit(") are not supported: the LDIF connector imports content records only"),
        1,
    )
    checks.add(
        ct.filter(~pl.col("ctv").is_in([*_CHANGE_TYPES, "add"])),
        pl.lit("unknown changetype '") + pl.col("ctv") + pl.lit("'"),
        1,
    )
    return df.filter(pl.col("kc") != code)


def _text(df: pl.DataFrame, checks: _Checks) -> pl.Expr:
    """String values of ``df``'s lines, base64 ones decoded as UTF-8 (a failure is a problem on its line)."""
    b = df.filter(pl.col("b64"))
    if b.height == 0:
        return pl.col("value")
    try:
        b["bv"].cast(pl.String)
    except pl.exceptions.ComputeError:
        for n, value in b.select("n", "bv").iter_rows():  # error path only: find the offending lines
            try:
                value.decode("utf-8")
            except UnicodeDecodeError:
                checks.add(pl.DataFrame({"n": [n]}), "base64 value is not valid UTF-8 text", None)
        return pl.when(~pl.col("b64")).then(pl.col("value"))
    return pl.when(pl.col("b64")).then(pl.col("bv").cast(pl.String)).otherwise(pl.col("value"))


def _typed_values(part: pl.DataFrame, name: str, checks: _Checks) -> pl.Series:
    syntax = attribute_type(name).syntax
    if syntax is AttributeSyntax.BINARY:
        expr = pl.when(pl.col("b64")).then(pl.col("bv")).otherwise(pl.col("value").cast(pl.Binary))
        return part.select(expr.alias(name)).to_series()
    text = part.select(_text(part, checks).alias(name)).to_series()
    if syntax is AttributeSyntax.INTEGER:
        ints = text.str.strip_chars().str.to_integer(strict=False)
        bad = part.filter((ints.is_null() & text.is_not_null()).alias("bad"))
        checks.add(bad, f"{name}: not an integer", None)
        return ints.alias(name)
    if syntax is AttributeSyntax.BOOLEAN:
        up = text.str.strip_chars().str.to_uppercase()
        checks.add(part.filter(~up.is_in(["TRUE", "FALSE"])), f"{name}: not a boolean (TRUE or FALSE)", None)
        return (up == "TRUE").alias(name)
    return text


def _object_types(oc: pl.DataFrame, entries: pl.DataFrame, checks: _Checks) -> pl.DataFrame:
    oc = oc.with_columns(_text(oc, checks).alias("v"))
    rank = {t.lower(): i for i, t in enumerate(OBJECT_TYPE_PRECEDENCE)}
    oc = oc.with_columns(
        r=pl.col("v").str.to_lowercase().replace_strict(rank, default=None, return_dtype=pl.Int64)
    )
    per_entry = oc.group_by("e").agg(pl.col("r").min(), pl.col("v").last().alias("_last"))
    names = pl.Series(OBJECT_TYPE_PRECEDENCE, dtype=pl.String)
    per_entry = per_entry.select(
        "e", pl.coalesce(names.gather(per_entry["r"]), per_entry["_last"]).alias("type")
    )
    out = entries.join(per_entry, on="e", how="left", maintain_order="left")
    checks.add(out.filter(pl.col("type").is_null()), "entry has no objectClass", None)
    return out


@dataclass(frozen=True)
class ParsedLdif:
    """Connector-space frames by object type (``_anchor``, ``_dn``, ``_object_type``, attributes)."""

    frames: dict[str, pl.DataFrame]
    entries: int


def parse_ldif(
    source: Path | str | bytes, *, name: str | None = None, anchor_attribute: str = "objectGUID"
) -> ParsedLdif:
    """Parse a whole LDIF content file into connector-space frames, or raise :class:`LdifSyntaxError`.

    ``_anchor`` is the base64 text of ``anchor_attribute`` (objectGUID: its 16 bytes in .NET order, as
    stored). Attribute columns are typed by :mod:`flows.connectors.attribute_types` and named in schema
    casing (the first spelling seen for attributes the table does not know), sorted case-insensitively;
    rows keep file order. An attribute the table does not know becomes a list column when some entry
    has several values of it.
    """
    src: Path | bytes = Path(source) if isinstance(source, str) else source
    label = name or (str(src) if isinstance(src, Path) else "<ldif>")
    checks = _Checks(label)
    logical = _logical_lines(read_lines(src, label), checks)
    df, key_names, spelling = _split_lines(logical, checks)
    del logical
    df = _change_types(df, key_names, checks)
    checks.raise_if_any()

    dn_rows = df.filter(pl.col("first"))
    entries = dn_rows.select("e", "n", _text(dn_rows, checks).alias("dn"))
    checks.raise_if_any()
    if entries.height == 0:
        return ParsedLdif({}, 0)
    dn_key = pl.col("dn").str.to_lowercase()
    dup = entries.filter(dn_key.is_duplicated() & ~dn_key.is_first_distinct())
    checks.add(dup, pl.lit("duplicate entry '") + pl.col("dn") + pl.lit("'"), None)
    oc_code = key_names.index("objectclass") if "objectclass" in key_names else -1
    entries = _object_types(df.filter(pl.col("kc") == oc_code), entries, checks)
    checks.raise_if_any()

    frames = _wide_frames(entries, df, key_names, spelling, anchor_attribute, checks)
    checks.raise_if_any()
    if frames:
        all_anchors = pl.concat([f.select(ANCHOR, "_n") for f in frames.values()])
        dup_anchor = all_anchors.filter(pl.col(ANCHOR).is_duplicated() & ~pl.col(ANCHOR).is_first_distinct())
        checks.add(dup_anchor.rename({"_n": "n"}), pl.lit("duplicate anchor ") + pl.col(ANCHOR), None)
        checks.raise_if_any()
    ordered = sorted(frames, key=_type_order)
    return ParsedLdif({t: frames[t].drop("_n") for t in ordered}, entries.height)


def _list_column(name: str, part: pl.DataFrame, vals: pl.Series, height: int) -> pl.Series:
    """A list column from values sorted by ``pos``: offsets from the run lengths, no group-by."""
    runs = part["pos"].rle()
    counts = pl.zeros(height, dtype=pl.Int64, eager=True).scatter(
        runs.struct.field("value"), runs.struct.field("len").cast(pl.Int64)
    )
    offsets = pl.concat([pl.Series([0], dtype=pl.Int64), counts.cum_sum()])
    arr = pa.LargeListArray.from_arrays(offsets.to_arrow(), vals.to_arrow(), mask=(counts == 0).to_arrow())
    return pl.Series(name, arr)


def _wide_frames(
    entries: pl.DataFrame,
    lines: pl.DataFrame,
    key_names: list[str],
    spelling: dict[str, str],
    anchor_attribute: str,
    checks: _Checks,
) -> dict[str, pl.DataFrame]:
    """One wide frame per object type: the values of each (type, attribute) pivoted by entry position.

    One stable sort groups the value lines by (object type, attribute); each run is then a zero-copy
    slice whose rows are in entry order.
    """
    type_names = entries["type"].unique().sort().to_list()
    n_keys = max(len(key_names), 1)
    entries = entries.with_columns(
        tc=pl.col("type").replace_strict(type_names, list(range(len(type_names))), return_dtype=pl.Int64),
        pos=pl.int_range(pl.len()).over("type").cast(pl.Int64),
    )
    code = entries["tc"].gather(lines["e"]) * n_keys + lines["kc"]
    # dn lines sort first (code -1) and are skipped: the entries frame already holds the DNs.
    values = (
        lines.select("n", "b64", "value", "bv")
        .with_columns(
            code=pl.when(lines["first"]).then(pl.lit(-1, dtype=pl.Int64)).otherwise(code),
            pos=entries["pos"].gather(lines["e"]),
        )
        .sort("code", maintain_order=True)
    )
    by_type = {str(k[0]): f for k, f in entries.partition_by("type", as_dict=True).items()}
    built: dict[str, dict[str, pl.Series]] = {t: {} for t in type_names}
    offset = 0
    for length, code_value in values["code"].rle().struct.unnest().iter_rows():
        part = values.slice(offset, length)
        offset += length
        if code_value < 0:
            continue
        type_, key = type_names[code_value // n_keys], key_names[code_value % n_keys]
        at = attribute_type(spelling.get(key, key))
        col_name = at.name if at.name.lower() == key else spelling.get(key, key)
        height = by_type[type_].height
        vals = _typed_values(part, col_name, checks)
        multi = at.multi_valued
        if not multi:
            # Rows of a part are in entry order: a repeated position is a second value of one entry.
            dups = part.filter(part["pos"] == part["pos"].shift(1))
            if dups.height and key in ATTRIBUTE_TYPES:
                checks.add(dups, f"{col_name} is single-valued but has several values in this entry", 1)
                continue
            multi = dups.height > 0
        if multi:
            built[type_][col_name] = _list_column(col_name, part, vals, height)
        else:
            col = pl.repeat(None, height, dtype=vals.dtype, eager=True).scatter(part["pos"], vals)
            built[type_][col_name] = col.alias(col_name)

    frames: dict[str, pl.DataFrame] = {}
    anchor_key = anchor_attribute.lower()
    for type_, cols in built.items():
        ents = by_type[type_]
        anchor_col = next((s for n, s in cols.items() if n.lower() == anchor_key), None)
        if anchor_col is None or anchor_col.null_count():
            missing = ents if anchor_col is None else ents.filter(anchor_col.is_null())
            checks.add(missing, f"entry has no {anchor_attribute} (the anchor)", None)
            continue
        anchor = (
            anchor_col.bin.encode("base64") if anchor_col.dtype == pl.Binary else anchor_col.cast(pl.String)
        )
        system = pl.DataFrame({ANCHOR: anchor, DN: ents["dn"], OBJECT_TYPE: ents["type"], "_n": ents["n"]})
        attrs = pl.DataFrame([cols[c] for c in sorted(cols, key=lambda c: (c.lower(), c))])
        frames[type_] = pl.concat([system, attrs], how="horizontal")
    return frames


def _type_order(t: str) -> tuple[int, str]:
    return (
        OBJECT_TYPE_PRECEDENCE.index(t) if t in OBJECT_TYPE_PRECEDENCE else len(OBJECT_TYPE_PRECEDENCE),
        t,
    )


def empty_frame(object_type: str) -> pl.DataFrame:
    """A connector-space frame with no objects (a type the file does not contain)."""
    del object_type
    return pl.DataFrame(schema={ANCHOR: pl.String, DN: pl.String, OBJECT_TYPE: pl.String})


# --------------------------------------------------------------------------------------------------
# The connector


class LdifConnector:
    """Full import of one LDIF content file (a snapshot of a forest).

    ``object_types`` selects the object types to import (default :data:`DEFAULT_OBJECT_TYPES`); every
    selected type gets a batch, empty when the file has none, so the import stage obsoletes objects that
    disappeared. Entries of other types (containers, domain heads) are read and skipped.
    """

    def __init__(
        self,
        name: str,
        path: str | Path,
        *,
        object_types: Sequence[str] | None = None,
        anchor_attribute: str = "objectGUID",
    ) -> None:
        self.name = name
        self.path = Path(path)
        self._types = list(object_types) if object_types is not None else list(DEFAULT_OBJECT_TYPES)
        self.anchor_attribute = anchor_attribute

    def object_types(self) -> list[str]:
        return list(self._types)

    def full_import(self) -> ImportResult:
        parsed = parse_ldif(self.path, anchor_attribute=self.anchor_attribute)
        batches = [ImportBatch(t, parsed.frames.get(t, empty_frame(t))) for t in self._types]
        return ImportResult(batches=batches, full=True)

    def delta_import(self, watermarks: dict[str, str]) -> ImportResult:
        raise SnapshotOnlyError(
            f"connector {self.name!r}: an LDIF file is a snapshot and has no change tracking; run a full import"
        )

    def export(self, plan: pl.DataFrame) -> pl.DataFrame:
        raise SnapshotOnlyError(f"connector {self.name!r}: the LDIF connector is import-only")
