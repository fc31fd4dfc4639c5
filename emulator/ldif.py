"""A fast LDIF (RFC 2849) writer for frames in the forest shape (``dn``, ``objectClass``, attributes).

Text is built column-wise with Polars: one line per value, ``attr:: <base64>`` for binary columns and
for values that are not SAFE-STRINGs (non-ASCII, control characters, a leading space, colon or
less-than, a trailing space), lines folded at ``fold_width`` only when they are longer. Entries are
written in frame order, columns in frame order, so the same frames give byte-identical files.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import IO, Final, cast

import polars as pl

from emulator.forest import Forest

# RFC 2849 SAFE-STRING: SAFE-INIT-CHAR excludes NUL, LF, CR, SPACE, ':' and '<'; SAFE-CHAR excludes
# NUL, LF and CR; both are ASCII only. A trailing space is legal but must survive, so we base64 it too.
_SAFE_STRING: Final = (
    r"^(?:[\x01-\x09\x0B\x0C\x0E-\x1F\x21-\x39\x3B\x3D-\x7F]"
    r"(?:[\x01-\x09\x0B\x0C\x0E-\x7F]*[\x01-\x09\x0B\x0C\x0E-\x1F\x21-\x7F])?)?$"
)
DEFAULT_FOLD_WIDTH: Final = 76


def _value_line(name: str, value: pl.Expr, dtype: pl.DataType, all_safe: bool = False) -> pl.Expr:
    """``name: value`` or ``name:: base64`` for one value (no line terminator).

    ``all_safe`` says the column holds SAFE-STRINGs only: Polars evaluates both branches of a
    when/then, so a column known to be safe skips the base64 encoding of every value.
    """
    if dtype == pl.Binary:
        return pl.lit(name + ":: ") + value.bin.encode("base64")
    if dtype == pl.Boolean:
        return pl.lit(name + ": ") + pl.when(value).then(pl.lit("TRUE")).when(~value).then(pl.lit("FALSE"))
    if dtype.is_integer():
        return pl.lit(name + ": ") + value.cast(pl.String)
    text = value.cast(pl.String)
    if all_safe:
        return pl.lit(name + ": ") + text
    return (
        pl.when(text.str.contains(_SAFE_STRING))
        .then(pl.lit(name + ": ") + text)
        .otherwise(pl.lit(name + ":: ") + text.str.encode("base64"))
    )


def _fold(line: pl.Expr, width: int) -> pl.Expr:
    """Fold one (ASCII) line: ``width`` characters, then continuation lines of a space + width-1."""
    rest = line.str.slice(width).str.extract_all(f"(?s).{{1,{width - 1}}}").list.join("\n ")
    return (
        pl.when(line.str.len_bytes() > width)
        .then(line.str.slice(0, width) + pl.lit("\n ") + rest)
        .otherwise(line)
    )


def _lines_expr(name: str, dtype: pl.DataType, all_safe: bool) -> pl.Expr:
    """The unterminated line(s) of one column: a string, or a list of strings for multi-valued ones."""
    if isinstance(dtype, pl.List):
        inner = cast(pl.DataType, dtype.inner)
        return pl.col(name).list.eval(_value_line(name, pl.element(), inner, all_safe)).alias(name)
    return _value_line(name, pl.col(name), dtype, all_safe).alias(name)


def _is_text(dtype: pl.DataType) -> bool:
    return dtype == pl.String or (isinstance(dtype, pl.List) and dtype.inner == pl.String)


def _all_safe_expr(name: str, dtype: pl.DataType) -> pl.Expr:
    if isinstance(dtype, pl.List):
        return pl.col(name).list.eval(pl.element().str.contains(_SAFE_STRING)).list.all().all().alias(name)
    return pl.col(name).str.contains(_SAFE_STRING).all().alias(name)


def _longest_expr(name: str, dtype: pl.DataType) -> pl.Expr:
    if isinstance(dtype, pl.List):
        return pl.col(name).list.eval(pl.element().str.len_bytes()).list.max().max().alias(name)
    return pl.col(name).str.len_bytes().max().alias(name)


def _terminated_expr(name: str, dtype: pl.DataType) -> pl.Expr:
    """Lines joined and newline-terminated; "" where the attribute is absent."""
    if isinstance(dtype, pl.List):
        # A multi-valued attribute without values is absent from the entry, as in the directory.
        joined = pl.col(name).list.join("\n") + pl.lit("\n")
        return pl.when(pl.col(name).list.len() > 0).then(joined).otherwise(pl.lit(""))
    return (pl.col(name) + pl.lit("\n")).fill_null("")


def entry_texts(frame: pl.DataFrame, fold_width: int | None = DEFAULT_FOLD_WIDTH) -> pl.Series:
    """One LDIF record per row (``dn`` first, then the other columns), each ending in a newline.

    Each step is one ``select`` over all columns, so Polars builds the columns' lines in parallel.
    """
    if "dn" not in frame.columns:
        raise ValueError("an LDIF frame needs a 'dn' column")
    names = ["dn", *(c for c in frame.columns if c != "dn")]
    texts = [n for n in names if _is_text(frame.schema[n])]
    safe = dict(
        zip(texts, frame.select(_all_safe_expr(n, frame.schema[n]) for n in texts).row(0), strict=True)
    )
    lines = frame.select(_lines_expr(n, frame.schema[n], bool(safe.get(n, False))) for n in names)
    if fold_width is not None:
        longest = lines.select(_longest_expr(n, lines.schema[n]) for n in names).row(0)
        long_columns = [n for n, m in zip(names, longest, strict=True) if m is not None and m > fold_width]
        if long_columns:
            folded = [
                pl.col(n).list.eval(_fold(pl.element(), fold_width))
                if isinstance(lines.schema[n], pl.List)
                else _fold(pl.col(n), fold_width).alias(n)
                for n in long_columns
            ]
            lines = lines.with_columns(folded)
    return lines.select(
        pl.concat_str([_terminated_expr(n, lines.schema[n]) for n in names]).alias("entry")
    ).to_series()


def _frames_of(source: Forest | Mapping[str, pl.DataFrame]) -> Mapping[str, pl.DataFrame]:
    return source.frames() if isinstance(source, Forest) else source


def write_ldif_to(
    fh: IO[bytes],
    source: Forest | Mapping[str, pl.DataFrame],
    *,
    fold_width: int | None = DEFAULT_FOLD_WIDTH,
    comment: str | None = None,
) -> int:
    """Write ``version: 1`` and every entry of ``source`` to a binary stream; return the entry count."""
    head = "".join(f"# {line}\n" for line in comment.splitlines()) if comment else ""
    fh.write((head + "version: 1\n\n").encode())
    count = 0
    for frame in _frames_of(source).values():
        if frame.height == 0:
            continue
        # Each record ends in a newline and the CSV row terminator adds the blank separator line.
        entry_texts(frame, fold_width).to_frame().write_csv(
            fh, include_header=False, quote_style="never", line_terminator="\n"
        )
        count += frame.height
    return count


def write_ldif(
    source: Forest | Mapping[str, pl.DataFrame],
    path: str | Path,
    *,
    fold_width: int | None = DEFAULT_FOLD_WIDTH,
    comment: str | None = None,
) -> int:
    """Write an LDIF content file; return the number of entries written."""
    with Path(path).open("wb") as fh:
        return write_ldif_to(fh, source, fold_width=fold_width, comment=comment)


def to_ldif(
    source: Forest | Mapping[str, pl.DataFrame], *, fold_width: int | None = DEFAULT_FOLD_WIDTH
) -> bytes:
    """The LDIF text of ``source`` in memory (tests and small forests)."""
    import io

    buf = io.BytesIO()
    write_ldif_to(buf, source, fold_width=fold_width)
    return buf.getvalue()
