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


def _value_line(name: str, value: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """``name: value`` or ``name:: base64`` for one value (no line terminator)."""
    if dtype == pl.Binary:
        return pl.lit(name + ":: ") + value.bin.encode("base64")
    if dtype == pl.Boolean:
        return pl.lit(name + ": ") + pl.when(value).then(pl.lit("TRUE")).when(~value).then(pl.lit("FALSE"))
    if dtype.is_integer():
        return pl.lit(name + ": ") + value.cast(pl.String)
    text = value.cast(pl.String)
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


def _column_text(frame: pl.DataFrame, name: str, fold_width: int | None) -> pl.Series:
    """The lines of one column for every entry, each line ending in a newline; "" where absent."""
    dtype = frame.schema[name]
    col = pl.col(name)
    if isinstance(dtype, pl.List):
        inner = cast(pl.DataType, dtype.inner)
        lines = frame.select(col.list.eval(_value_line(name, pl.element(), inner))).to_series()
        if fold_width is not None:
            longest = lines.list.eval(pl.element().str.len_bytes()).list.max().max()
            if longest is not None and int(longest) > fold_width:  # type: ignore[arg-type]
                lines = lines.list.eval(_fold(pl.element(), fold_width))
        out = lines.list.join("\n") + "\n"
        # A multi-valued attribute without values is absent from the entry, as in the directory.
        return pl.select(pl.when(lines.list.len() > 0).then(out).otherwise(pl.lit(""))).to_series()
    lines = frame.select(_value_line(name, col, dtype)).to_series()
    if fold_width is not None:
        longest = lines.str.len_bytes().max()
        if longest is not None and int(longest) > fold_width:  # type: ignore[arg-type]
            lines = pl.select(_fold(pl.lit(lines), fold_width)).to_series()
    return (lines + "\n").fill_null("")


def entry_texts(frame: pl.DataFrame, fold_width: int | None = DEFAULT_FOLD_WIDTH) -> pl.Series:
    """One LDIF record per row (``dn`` first, then the other columns), each ending in a newline."""
    if "dn" not in frame.columns:
        raise ValueError("an LDIF frame needs a 'dn' column")
    names = ["dn", *(c for c in frame.columns if c != "dn")]
    parts = pl.DataFrame({f"c{i}": _column_text(frame, n, fold_width) for i, n in enumerate(names)})
    return parts.select(pl.concat_str(parts.columns).alias("entry")).to_series()


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
