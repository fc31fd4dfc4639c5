"""Text functions (spec 4.9)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import polars as pl

from transforms.expressions.context import CompileContext, EvalContext
from transforms.expressions.errors import ExpressionRuntimeError
from transforms.expressions.functions.registry import FunctionSpec, p, register
from transforms.expressions.lowered import Lowered, error_when
from transforms.expressions.values import WHITESPACE

FAMILY = "text"
_COMPARE = ("vbTextCompare", "vbBinaryCompare")
_NULL_STR = pl.lit(None, dtype=pl.Utf8)
_NULL_NUM = pl.lit(None, dtype=pl.Int64)


def _str(expr: pl.Expr) -> Lowered:
    return Lowered(expr, "str")


def _num(expr: pl.Expr) -> Lowered:
    return Lowered(expr, "num")


def char_find(hay: pl.Expr, needle: pl.Expr) -> pl.Expr:
    """0-based character index of the first occurrence (``str.find`` counts bytes), or null."""
    # Byte and character offsets agree on ASCII text; only the other rows pay for the conversion
    # (the slow branch sees null for ASCII rows, so both branches stay cheap when evaluated).
    ascii_only = hay.str.len_bytes() == hay.str.len_chars()
    offset = hay.str.find(needle, literal=True).cast(pl.Int64)
    other = pl.when(~ascii_only).then(hay)
    other_offset = other.str.find(needle, literal=True)
    chars = (
        other.cast(pl.Binary)
        .bin.slice(0, other_offset.fill_null(0))
        .cast(pl.Utf8)
        .str.len_chars()
        .cast(pl.Int64)
    )
    return pl.when(ascii_only).then(offset).otherwise(pl.when(other_offset.is_not_null()).then(chars))


# --- Guid -----------------------------------------------------------------------------------------


def guid_ref(ctx: EvalContext) -> str:
    return str(uuid.UUID(int=ctx.rng.getrandbits(128), version=4))


def guid_lower(ctx: CompileContext) -> Lowered:
    row = pl.int_range(pl.len(), dtype=pl.UInt64)
    hexes = [(row.hash(ctx.next_seed()) % 4294967296) for _ in range(4)]
    parts = [_hex8(h) for h in hexes]
    text = pl.concat_str(parts)
    version = pl.concat_str(
        [
            text.str.slice(0, 8),
            pl.lit("-"),
            text.str.slice(8, 4),
            pl.lit("-4"),
            text.str.slice(13, 3),
            pl.lit("-"),
            pl.lit("8"),
            text.str.slice(17, 3),
            pl.lit("-"),
            text.str.slice(20, 12),
        ]
    )
    return _str(version)


HEX_BYTES = [f"{i:02x}" for i in range(256)]


def hex_byte(expr: pl.Expr) -> pl.Expr:
    """Lowercase two-digit hex of an integer 0..255."""
    return expr.cast(pl.Int64).replace_strict(list(range(256)), HEX_BYTES, return_dtype=pl.Utf8)


def _hex8(u32: pl.Expr) -> pl.Expr:
    value = u32.cast(pl.Int64)
    return pl.concat_str([hex_byte((value // (256**k)) % 256) for k in (3, 2, 1, 0)])


# --- InStr / InStrRev -------------------------------------------------------------------------------


def instr_ref(
    ctx: EvalContext, s: str | None, find: str | None, start: int | None = 1, compare: str | None = None
) -> int | None:
    if s is None or find is None or start is None:
        return None
    start = max(start, 1)
    hay, needle = (s.lower(), find.lower()) if compare == "vbTextCompare" else (s, find)
    return hay.find(needle, start - 1) + 1


def instr_lower(
    ctx: CompileContext,
    s: Lowered,
    find: Lowered,
    start: Lowered | None = None,
    compare: Lowered | None = None,
) -> Lowered:
    hay, needle = s.expr, find.expr
    if compare is not None and compare.const == "vbTextCompare":
        hay, needle = hay.str.to_lowercase(), needle.str.to_lowercase()
    if (
        (start is None or (start.is_const and start.const == 1))
        and find.is_const
        and find.const
        and not hay.meta.is_column()
    ):
        # A computed haystack would be evaluated once per reference (no shared subexpressions under
        # when/then); splitn reads it once.
        parts = hay.str.splitn(
            str(find.const).lower()
            if compare is not None and compare.const == "vbTextCompare"
            else str(find.const),
            2,
        )
        position = parts.struct.field("field_0").str.len_chars().cast(pl.Int64) + 1
        return _num(
            pl.when(parts.struct.field("field_1").is_not_null())
            .then(position)
            .otherwise(pl.when(hay.is_not_null()).then(pl.lit(0, dtype=pl.Int64)))
        )
    if start is None or (start.is_const and start.const == 1):
        found = char_find(hay, needle)
        value = pl.when(needle == "").then(pl.lit(1, dtype=pl.Int64)).otherwise((found + 1).fill_null(0))
        return _num(pl.when(hay.is_null() | needle.is_null()).then(_NULL_NUM).otherwise(value))
    begin = pl.max_horizontal(start.expr, pl.lit(1))
    rest = hay.str.slice(begin - 1)
    found = char_find(rest, needle)
    length = hay.str.len_chars().cast(pl.Int64)
    empty = pl.when(begin <= length + 1).then(begin).otherwise(0)
    value = (
        pl.when(needle == "")
        .then(empty)
        .when(begin > length + 1)
        .then(pl.lit(0, dtype=pl.Int64))
        .otherwise((found + begin).fill_null(0))
    )
    nulls = [hay.is_null(), needle.is_null(), start.expr.is_null()]
    return _num(pl.when(pl.any_horizontal(nulls)).then(_NULL_NUM).otherwise(value))


def instrrev_ref(
    ctx: EvalContext, s: str | None, find: str | None, start: int | None = -1, compare: str | None = None
) -> int | None:
    if s is None or find is None or start is None:
        return None
    if start != -1 and start < 1:
        return 0
    end = len(s) if start == -1 else min(start, len(s))
    hay, needle = (s.lower(), find.lower()) if compare == "vbTextCompare" else (s, find)
    return hay.rfind(needle, 0, end) + 1


def instrrev_lower(
    ctx: CompileContext,
    s: Lowered,
    find: Lowered,
    start: Lowered | None = None,
    compare: Lowered | None = None,
) -> Lowered:
    hay, needle = s.expr, find.expr
    if compare is not None and compare.const == "vbTextCompare":
        hay, needle = hay.str.to_lowercase(), needle.str.to_lowercase()
    length = hay.str.len_chars().cast(pl.Int64)
    first = start.expr if start is not None else pl.lit(-1, dtype=pl.Int64)
    end = pl.when(first == -1).then(length).otherwise(pl.min_horizontal(first, length))
    window = hay.str.slice(0, pl.max_horizontal(end, pl.lit(0)))
    found = char_find(window.str.reverse(), needle.str.reverse())
    position = end - found - needle.str.len_chars().cast(pl.Int64) + 1
    value = (
        pl.when((first != -1) & (first < 1))
        .then(pl.lit(0, dtype=pl.Int64))
        .when(needle == "")
        .then(end + 1)
        .otherwise(position.fill_null(0))
    )
    nulls = [hay.is_null(), needle.is_null(), first.is_null()]
    return _num(pl.when(pl.any_horizontal(nulls)).then(_NULL_NUM).otherwise(value))


# --- case, trim, length -------------------------------------------------------------------------------


def _nullsafe(fn: Callable[[str], object]) -> Callable[[EvalContext, str | None], object]:
    def wrapper(ctx: EvalContext, s: str | None) -> object:
        return None if s is None else fn(s)

    return wrapper


def pcase_text(s: str) -> str:
    return " ".join(w[:1].upper() + w[1:].lower() for w in s.split(" "))


def pcase_lower(ctx: CompileContext, s: Lowered) -> Lowered:
    e = pl.element()
    words = s.expr.str.split(" ").list.eval(
        e.str.head(1).str.to_uppercase() + e.str.slice(1).str.to_lowercase()
    )
    return _str(words.list.join(" "))


# --- Left / Right / Mid ---------------------------------------------------------------------------------


def left_ref(ctx: EvalContext, s: str | None, n: int | None) -> str | None:
    if n is None:
        return None
    s = s or ""
    return s if n < 0 else s[:n]


def left_lower(ctx: CompileContext, s: Lowered, n: Lowered) -> Lowered:
    text = s.expr.fill_null("")
    return _str(
        pl.when(n.expr.is_null()).then(_NULL_STR).when(n.expr < 0).then(text).otherwise(text.str.head(n.expr))
    )


def right_ref(ctx: EvalContext, s: str | None, n: int | None) -> str | None:
    if n is None:
        return None
    s = s or ""
    return s if n < 0 else (s[-n:] if n else "")


def right_lower(ctx: CompileContext, s: Lowered, n: Lowered) -> Lowered:
    text = s.expr.fill_null("")
    value = pl.when(n.expr == 0).then(pl.lit("")).otherwise(text.str.tail(n.expr))
    return _str(pl.when(n.expr.is_null()).then(_NULL_STR).when(n.expr < 0).then(text).otherwise(value))


_ABSENT: Any = object()


def mid_ref(ctx: EvalContext, s: str | None, start: int | None, n: Any = _ABSENT) -> str | None:
    if start is None or n is None:
        return None
    s = s or ""
    if n == 0:
        return ""
    if (n is not _ABSENT and n < 0) or start <= 0 or start > len(s):
        return s
    return s[start - 1 :] if n is _ABSENT else s[start - 1 : start - 1 + n]


def mid_lower(ctx: CompileContext, s: Lowered, start: Lowered, n: Lowered | None = None) -> Lowered:
    text = s.expr.fill_null("")
    if (
        start.is_const
        and isinstance(start.const, int)
        and 1 <= start.const <= 64
        and (n is None or (n.is_const and isinstance(n.const, int) and 1 <= n.const <= 64))
    ):
        # One regular expression reads the text once (a computed text is not re-evaluated per use);
        # with fewer than ``start`` characters it does not match and the text stays as it is.
        # Counts stay small because the regex engine unrolls counted repetitions.
        count = f"{{1,{n.const}}}" if n is not None else "+"
        return _str(text.str.replace(rf"(?s)^.{{{start.const - 1}}}(.{count}).*$", "${1}"))
    return _mid_general(text, start, n)


def _mid_general(text: pl.Expr, start: Lowered, n: Lowered | None) -> Lowered:
    begin = start.expr
    length = text.str.len_chars().cast(pl.Int64)
    chain: Any = pl.when(begin.is_null()).then(_NULL_STR)
    if n is not None:
        chain = (
            chain.when(n.expr.is_null())
            .then(_NULL_STR)
            .when(n.expr == 0)
            .then(pl.lit(""))
            .when(n.expr < 0)
            .then(text)
        )
    # Polars evaluates every branch, so the slice must accept the arguments the guards reject.
    length_arg = pl.max_horizontal(n.expr, pl.lit(0)) if n is not None else None
    sliced = text.str.slice(pl.max_horizontal(begin - 1, pl.lit(0)), length_arg)
    return _str(chain.when((begin <= 0) | (begin > length)).then(text).otherwise(sliced))


# --- PadLeft / PadRight ----------------------------------------------------------------------------------


def _pad_check(pad: str | None) -> str:
    if pad is None or len(pad) != 1:
        raise ExpressionRuntimeError(
            "the padding must be exactly one character", "expression-evaluation-error"
        )
    return pad


def padleft_ref(ctx: EvalContext, s: str | None, n: int | None, pad: str | None) -> str | None:
    pad = _pad_check(pad)
    if s is None:
        return ""
    return s if n is None else s.rjust(n, pad)


def padright_ref(ctx: EvalContext, s: str | None, n: int | None, pad: str | None) -> str | None:
    pad = _pad_check(pad)
    if s is None:
        return ""
    return s if n is None else s.ljust(n, pad)


def _pad_lower(s: Lowered, n: Lowered, pad: Lowered, start: bool) -> Lowered:
    text = s.expr
    width = pl.max_horizontal(n.expr, pl.lit(0)).fill_null(0)
    if pad.is_const and isinstance(pad.const, str) and len(pad.const) == 1:
        padded = text.str.pad_start(width, pad.const) if start else text.str.pad_end(width, pad.const)
        error = None
    else:
        fill = (
            (pad.expr.fill_null("").str.head(1))
            .repeat_by(pl.max_horizontal(width - text.str.len_chars().cast(pl.Int64), pl.lit(0)))
            .list.join("")
        )
        padded = pl.concat_str([fill, text]) if start else pl.concat_str([text, fill])
        error = error_when(
            pad.expr.is_null() | (pad.expr.str.len_chars() != 1), "the padding must be exactly one character"
        )
    value = pl.when(text.is_null()).then(pl.lit("")).otherwise(padded)
    return Lowered(value, "str", error=error)


def padleft_lower(ctx: CompileContext, s: Lowered, n: Lowered, pad: Lowered) -> Lowered:
    return _pad_lower(s, n, pad, True)


def padright_lower(ctx: CompileContext, s: Lowered, n: Lowered, pad: Lowered) -> Lowered:
    return _pad_lower(s, n, pad, False)


# --- Replace / ReplaceChars --------------------------------------------------------------------------------


def replace_ref(ctx: EvalContext, s: str | None, old: str | None, new: str | None) -> str | None:
    if s is None:
        return None
    if not old:
        return s
    return s.replace(old, new or "")


def replace_lower(ctx: CompileContext, s: Lowered, old: Lowered, new: Lowered) -> Lowered:
    replacement = new.expr.fill_null("")
    if old.is_const and new.is_const and isinstance(old.const, str) and old.const:
        value = s.expr.str.replace_all(old.const, str(new.const or ""), literal=True)
    else:
        value = s.expr.str.split(old.expr).list.join(replacement)
    return _str(pl.when(old.expr.is_null() | (old.expr == "")).then(s.expr).otherwise(value))


def parse_replace_pattern(pattern: str) -> dict[str, str]:
    """``src:target,src:target``; whitespace is ignored, a source is exactly one character."""
    compact = "".join(ch for ch in pattern if ch not in WHITESPACE)
    mapping: dict[str, str] = {}
    if not compact:
        return mapping
    for pair in compact.split(","):
        source, sep, target = pair.partition(":")
        if not sep or len(source) != 1:
            raise ExpressionRuntimeError(
                f"ReplaceChars pattern entry {pair!r} is not of the form source:target with a one-character source",
                "expression-evaluation-error",
            )
        mapping.setdefault(source, target)
    return mapping


def replacechars_ref(ctx: EvalContext, s: str | None, pattern: str | None) -> str | None:
    if s is None:
        return None
    mapping = parse_replace_pattern(pattern or "")
    return "".join(mapping.get(ch, ch) for ch in s)


def replacechars_lower(ctx: CompileContext, s: Lowered, pattern: Lowered) -> Lowered:
    from transforms.expressions.errors import NotVectorizableError

    if not pattern.is_const:
        raise NotVectorizableError(
            "ReplaceChars needs a constant pattern (a string or a %parameter%) to be vectorized"
        )
    try:
        mapping = parse_replace_pattern(str(pattern.const or ""))
    except ExpressionRuntimeError as exc:
        return Lowered(s.expr.cast(pl.Utf8), "str", error=error_when(s.expr.is_not_null(), exc.message))
    if not mapping:
        return s
    return _str(s.expr.str.replace_many(list(mapping), list(mapping.values())))


# --- Word -----------------------------------------------------------------------------------------------------


def word_ref(ctx: EvalContext, s: str | None, n: int | None, delimiters: str | None) -> str | None:
    if s is None or n is None or n < 1:
        return ""
    words = (
        [w for w in re.split("[" + re.escape(delimiters) + "]", s) if w] if delimiters else ([s] if s else [])
    )
    return words[n - 1] if n <= len(words) else ""


def word_lower(ctx: CompileContext, s: Lowered, n: Lowered, delimiters: Lowered) -> Lowered:
    from transforms.expressions.errors import NotVectorizableError

    if not delimiters.is_const:
        raise NotVectorizableError("Word needs constant delimiters to be vectorized")
    text = s.expr
    delims = str(delimiters.const or "")
    if delims:
        parts = text.str.replace_all("[" + re.escape(delims) + "]", "\x00").str.split("\x00")
    else:
        parts = pl.concat_list([text])
    words = parts.list.eval(pl.element().filter(pl.element() != ""))
    picked = words.list.get(n.expr - 1, null_on_oob=True).fill_null("")
    return _str(pl.when(text.is_null() | n.expr.is_null() | (n.expr < 1)).then(pl.lit("")).otherwise(picked))


def _simple(name: str, params: tuple[object, ...], returns: str, ref: object, lower: object) -> None:
    register(FunctionSpec(name, FAMILY, params, returns, ref, lower))  # type: ignore[arg-type]


def _unary_lower(fn: Callable[[pl.Expr], Lowered]) -> Callable[[CompileContext, Lowered], Lowered]:
    def lower(ctx: CompileContext, s: Lowered) -> Lowered:
        return fn(s.expr)

    return lower


register(FunctionSpec("Guid", FAMILY, (), "str", guid_ref, guid_lower, deterministic=False))
register(FunctionSpec("GUID", FAMILY, (), "str", guid_ref, guid_lower, deterministic=False))
_FIND_PARAMS = (p("string", "str"), p("find", "str"))
register(
    FunctionSpec(
        "InStr",
        FAMILY,
        (*_FIND_PARAMS, p("start", "num", True), p("compare", "enum", True, _COMPARE)),
        "num",
        instr_ref,
        instr_lower,
    )
)
register(
    FunctionSpec(
        "InStrRev",
        FAMILY,
        (*_FIND_PARAMS, p("start", "num", True), p("compare", "enum", True, _COMPARE)),
        "num",
        instrrev_ref,
        instrrev_lower,
    )
)
register(
    FunctionSpec(
        "LCase",
        FAMILY,
        (p("string", "str"),),
        "str",
        _nullsafe(str.lower),
        _unary_lower(lambda e: _str(e.str.to_lowercase())),
    )
)
register(
    FunctionSpec(
        "UCase",
        FAMILY,
        (p("string", "str"),),
        "str",
        _nullsafe(str.upper),
        _unary_lower(lambda e: _str(e.str.to_uppercase())),
    )
)
register(
    FunctionSpec(
        "Trim",
        FAMILY,
        (p("string", "str"),),
        "str",
        _nullsafe(lambda s: s.strip(WHITESPACE)),
        _unary_lower(lambda e: _str(e.str.strip_chars(WHITESPACE))),
    )
)
register(
    FunctionSpec(
        "LTrim",
        FAMILY,
        (p("string", "str"),),
        "str",
        _nullsafe(lambda s: s.lstrip(WHITESPACE)),
        _unary_lower(lambda e: _str(e.str.strip_chars_start(WHITESPACE))),
    )
)
register(
    FunctionSpec(
        "RTrim",
        FAMILY,
        (p("string", "str"),),
        "str",
        _nullsafe(lambda s: s.rstrip(WHITESPACE)),
        _unary_lower(lambda e: _str(e.str.strip_chars_end(WHITESPACE))),
    )
)
register(
    FunctionSpec(
        "Len",
        FAMILY,
        (p("string", "str"),),
        "num",
        _nullsafe(len),
        _unary_lower(lambda e: _num(e.str.len_chars().cast(pl.Int64))),
    )
)
register(FunctionSpec("PCase", FAMILY, (p("string", "str"),), "str", _nullsafe(pcase_text), pcase_lower))
register(
    FunctionSpec("Left", FAMILY, (p("string", "str"), p("numChars", "num")), "str", left_ref, left_lower)
)
register(
    FunctionSpec("Right", FAMILY, (p("string", "str"), p("numChars", "num")), "str", right_ref, right_lower)
)
register(
    FunctionSpec(
        "Mid",
        FAMILY,
        (p("string", "str"), p("start", "num"), p("numChars", "num", True)),
        "str",
        mid_ref,
        mid_lower,
    )
)
register(
    FunctionSpec(
        "PadLeft",
        FAMILY,
        (p("string", "str"), p("length", "num"), p("padCharacter", "str")),
        "str",
        padleft_ref,
        padleft_lower,
    )
)
register(
    FunctionSpec(
        "PadRight",
        FAMILY,
        (p("string", "str"), p("length", "num"), p("padCharacter", "str")),
        "str",
        padright_ref,
        padright_lower,
    )
)
register(
    FunctionSpec(
        "Replace",
        FAMILY,
        (p("string", "str"), p("oldValue", "str"), p("replacementValue", "str")),
        "str",
        replace_ref,
        replace_lower,
    )
)
register(
    FunctionSpec(
        "ReplaceChars",
        FAMILY,
        (p("string", "str"), p("replacePattern", "str")),
        "str",
        replacechars_ref,
        replacechars_lower,
    )
)
register(
    FunctionSpec(
        "Word",
        FAMILY,
        (p("string", "str"), p("number", "num"), p("delimiters", "str")),
        "str",
        word_ref,
        word_lower,
    )
)
