"""Conversion functions (spec 4.2), plus CBin from the default rules (spec 4.10)."""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from functools import lru_cache

import polars as pl

from transforms.expressions.context import CompileContext, EvalContext
from transforms.expressions.errors import ExpressionRuntimeError
from transforms.expressions.functions.registry import FunctionSpec, p, register
from transforms.expressions.lowered import Lowered, error_when
from transforms.expressions.values import GUID_RE, format_scalar_as_text

FAMILY = "conversion"
_ENCODINGS = ("Unicode", "ASCII", "UTF8")
_CODE = "expression-evaluation-error"

# Hex of valid UTF-8 (uppercase or lowercase), used to refuse invalid bytes before a Binary->Utf8 cast.
UTF8_HEX_RE = (
    r"(?i)^(?:[0-7][0-9A-F]|(?:C[2-9A-F]|D[0-9A-F])[89AB][0-9A-F]|E0[AB][0-9A-F][89AB][0-9A-F]"
    r"|(?:E[1-9A-CEF])[89AB][0-9A-F][89AB][0-9A-F]|ED[89][0-9A-F][89AB][0-9A-F]"
    r"|F0[9AB][0-9A-F](?:[89AB][0-9A-F]){2}|F[1-3](?:[89AB][0-9A-F]){3}|F48[0-9A-F](?:[89AB][0-9A-F]){2})*$"
)


def _err(message: str) -> ExpressionRuntimeError:
    return ExpressionRuntimeError(message, _CODE)


# --- UTF-16LE without per-row Python -----------------------------------------------------------------
# Polars has no UTF-16 codec. Both directions go through replace_many tables in which *every* unit is a
# pattern, so the leftmost-first matcher never loses alignment. Limitation (documented): characters
# outside the BMP become U+FFFD in the vectorized back end; the reference evaluator encodes them exactly.


@lru_cache(maxsize=1)
def _utf16_encode_table() -> tuple[list[str], list[str]]:
    chars = [chr(c) for c in range(0x10000) if not 0xD800 <= c <= 0xDFFF]
    return chars, [ch.encode("utf-16-le").hex() for ch in chars]


@lru_cache(maxsize=1)
def _utf16_decode_table() -> tuple[list[str], list[str]]:
    units = [f"{c & 0xFF:02x}{c >> 8:02x}" for c in range(0x10000)]
    targets = ["efbfbd" if 0xD800 <= c <= 0xDFFF else chr(c).encode("utf-8").hex() for c in range(0x10000)]
    return units, targets


@lru_cache(maxsize=1)
def _ascii_table() -> tuple[list[str], list[str]]:
    pairs = [f"{b:02x}" for b in range(256)]
    return pairs, [pair if b < 0x80 else "3f" for b, pair in enumerate(pairs)]


def utf16le_hex(text: pl.Expr) -> pl.Expr:
    """Hex of the UTF-16LE bytes of a string (astral characters map to U+FFFD)."""
    sources, targets = _utf16_encode_table()
    hexed = text.str.replace_many(sources, targets)
    return hexed.str.replace_all(r"[^0-9a-f]", "fdff")


def decode_utf16le(hexed: pl.Expr) -> pl.Expr:
    units, targets = _utf16_decode_table()
    even = hexed.str.slice(0, (hexed.str.len_bytes() // 4) * 4)
    odd_tail = pl.when(hexed.str.len_bytes() % 4 != 0).then(pl.lit("efbfbd")).otherwise(pl.lit(""))
    return (
        pl.concat_str([even.str.replace_many(units, targets), odd_tail])
        .str.decode("hex", strict=False)
        .cast(pl.Utf8)
    )


# --- CBool / CDate / CNum / CRef / CStr --------------------------------------------------------------


def identity_ref(ctx: EvalContext, value: object) -> object:
    return value


def identity_lower(ctx: CompileContext, value: Lowered) -> Lowered:
    return value


def cstr_ref(ctx: EvalContext, value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        raise _err("CStr cannot convert binary data")
    return format_scalar_as_text(value)


def cstr_lower(ctx: CompileContext, value: Lowered) -> Lowered:
    from transforms.expressions.coerce import to_text

    if value.type == "bin":
        # A runtime error, not a type error: the default sourceAnchor rule guards CStr with IsString.
        return Lowered(
            pl.lit(None, dtype=pl.Utf8),
            "str",
            error=error_when(value.expr.is_not_null(), "CStr cannot convert binary data"),
        )
    return to_text(value)


# --- GUIDs -------------------------------------------------------------------------------------------


def cguid_ref(ctx: EvalContext, text: str | None) -> bytes | None:
    if text is None:
        return None
    if not re.match(GUID_RE, text):
        raise _err(f"{text!r} is not a GUID")
    return uuid.UUID(text.strip("{}")).bytes_le


def cguid_lower(ctx: CompileContext, text: Lowered) -> Lowered:
    h = text.expr.str.replace_all(r"[{}\-]", "").str.to_lowercase()

    def b(i: int) -> pl.Expr:
        return h.str.slice(2 * i, 2)

    order = [3, 2, 1, 0, 5, 4, 7, 6, *range(8, 16)]
    value = pl.concat_str([b(i) for i in order]).str.decode("hex", strict=False)
    valid = text.expr.str.contains(GUID_RE)
    error = error_when(
        text.expr.is_not_null() & ~valid, pl.concat_str([pl.lit("'"), text.expr, pl.lit("' is not a GUID")])
    )
    return Lowered(pl.when(valid).then(value), "bin", error=error)


def string_from_guid_ref(ctx: EvalContext, data: bytes | None) -> str | None:
    if data is None:
        return None
    if len(data) != 16:
        raise _err("StringFromGuid needs 16 bytes")
    return str(uuid.UUID(bytes_le=data))


def string_from_guid_lower(ctx: CompileContext, data: Lowered) -> Lowered:
    h = data.expr.bin.encode("hex")

    def b(i: int) -> pl.Expr:
        return h.str.slice(2 * i, 2)

    groups = [[3, 2, 1, 0], [5, 4], [7, 6], [8, 9], list(range(10, 16))]
    parts: list[pl.Expr] = []
    for index, group in enumerate(groups):
        if index:
            parts.append(pl.lit("-"))
        parts.extend(b(i) for i in group)
    ok = data.expr.bin.size() == 16
    error = error_when(data.expr.is_not_null() & ~ok, "StringFromGuid needs 16 bytes")
    return Lowered(pl.when(ok).then(pl.concat_str(parts)), "str", error=error)


def string_from_sid_ref(ctx: EvalContext, data: bytes | None) -> str | None:
    if data is None:
        return None
    if len(data) < 8 or data[0] != 1 or len(data) != 8 + 4 * data[1]:
        raise _err("StringFromSid needs a binary security identifier")
    authority = int.from_bytes(data[2:8], "big")
    subs = [int.from_bytes(data[8 + 4 * i : 12 + 4 * i], "little") for i in range(data[1])]
    return "-".join(["S", str(data[0]), str(authority), *map(str, subs)])


def string_from_sid_lower(ctx: CompileContext, data: Lowered) -> Lowered:
    d = data.expr

    def byte(i: int) -> pl.Expr:
        return d.bin.get(i, null_on_oob=True).cast(pl.Int64)

    count = byte(1)
    authority = sum((byte(2 + k) * (256 ** (5 - k)) for k in range(6)), pl.lit(0, dtype=pl.Int64))
    parts = [pl.lit("S-"), byte(0).cast(pl.Utf8), pl.lit("-"), authority.cast(pl.Utf8)]
    for j in range(15):
        base = 8 + 4 * j
        sub = d.bin.slice(base, 4).bin.reinterpret(dtype=pl.UInt32, endianness="little").cast(pl.Int64)
        parts.append(pl.when(count > j).then(pl.lit("-") + sub.cast(pl.Utf8)).otherwise(pl.lit("")))
    ok = (d.bin.size() >= 8) & (byte(0) == 1) & (d.bin.size() == 8 + 4 * count)
    ok = ok.fill_null(False)
    error = error_when(d.is_not_null() & ~ok, "StringFromSid needs a binary security identifier")
    return Lowered(pl.when(ok).then(pl.concat_str(parts)), "str", error=error)


# --- Base64 and UTF-8 hex ----------------------------------------------------------------------------------


def to_base64_ref(ctx: EvalContext, value: str | bytes | None) -> str | None:
    if value is None:
        return None
    data = value if isinstance(value, bytes) else value.encode("utf-16-le")
    return base64.b64encode(data).decode("ascii")


def to_base64_lower(ctx: CompileContext, value: Lowered) -> Lowered:
    if value.type == "bin":
        return Lowered(value.expr.bin.encode("base64"), "str")
    return Lowered(utf16le_hex(value.expr).str.decode("hex", strict=False).bin.encode("base64"), "str")


def from_base64_ref(ctx: EvalContext, text: str | None, encoding: str | None = "Unicode") -> str | None:
    if text is None:
        return None
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _err(f"{text!r} is not valid Base64") from exc
    if encoding == "UTF8":
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _err("the decoded bytes are not valid UTF-8") from exc
    if encoding == "ASCII":
        return "".join(chr(b) if b < 0x80 else "?" for b in data)
    return data.decode("utf-16-le", errors="replace")


_BASE64_RE = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"


def from_base64_lower(ctx: CompileContext, text: Lowered, encoding: Lowered | None = None) -> Lowered:
    mode = encoding.const if encoding is not None else "Unicode"
    valid = text.expr.str.contains(_BASE64_RE)
    hexed = text.expr.str.decode("base64", strict=False).bin.encode("hex")
    error = error_when(
        text.expr.is_not_null() & ~valid,
        pl.concat_str([pl.lit("'"), text.expr, pl.lit("' is not valid Base64")]),
    )
    if mode == "UTF8":
        utf8_ok = hexed.str.contains(UTF8_HEX_RE)
        value = pl.when(valid & utf8_ok).then(
            pl.when(valid & utf8_ok)
            .then(hexed)
            .otherwise(pl.lit(""))
            .str.decode("hex", strict=False)
            .cast(pl.Utf8)
        )
        error = pl.coalesce(
            [error, error_when(valid & ~utf8_ok.fill_null(True), "the decoded bytes are not valid UTF-8")]
        )
    elif mode == "ASCII":
        pairs, targets = _ascii_table()
        value = pl.when(valid).then(
            pl.when(valid)
            .then(hexed)
            .otherwise(pl.lit(""))
            .str.replace_many(pairs, targets)
            .str.decode("hex", strict=False)
            .cast(pl.Utf8)
        )
    else:
        value = pl.when(valid).then(decode_utf16le(pl.when(valid).then(hexed).otherwise(pl.lit(""))))
    return Lowered(value, "str", error=error)


def to_utf8hex_ref(ctx: EvalContext, text: str | None) -> str | None:
    return None if text is None else text.encode("utf-8").hex().upper()


def to_utf8hex_lower(ctx: CompileContext, text: Lowered) -> Lowered:
    return Lowered(text.expr.cast(pl.Binary).bin.encode("hex").str.to_uppercase(), "str")


def from_utf8hex_ref(ctx: EvalContext, text: str | None) -> str | None:
    if text is None:
        return None
    if len(text) % 2 or not re.match(UTF8_HEX_RE, text):
        raise _err(f"{text!r} is not UTF-8 encoded as hex")
    return bytes.fromhex(text).decode("utf-8")


def from_utf8hex_lower(ctx: CompileContext, text: Lowered) -> Lowered:
    ok = text.expr.str.contains(UTF8_HEX_RE)
    safe = pl.when(ok).then(text.expr).otherwise(pl.lit(""))
    value = pl.when(ok).then(safe.str.decode("hex", strict=False).cast(pl.Utf8))
    error = error_when(
        text.expr.is_not_null() & ~ok,
        pl.concat_str([pl.lit("'"), text.expr, pl.lit("' is not UTF-8 encoded as hex")]),
    )
    return Lowered(value, "str", error=error)


# --- CBin ------------------------------------------------------------------------------------------------------


def cbin_ref(ctx: EvalContext, value: int | None, width: int | None) -> bytes | None:
    if value is None or width is None:
        return None
    if not 1 <= width <= 8:
        raise _err("CBin width must be 1 to 8 bytes")
    return (value & ((1 << (8 * width)) - 1)).to_bytes(width, "little")


def cbin_lower(ctx: CompileContext, value: Lowered, width: Lowered) -> Lowered:
    from transforms.expressions.functions.text import hex_byte

    v = value.expr
    parts = []
    for k in range(8):
        shifted = pl.when(pl.lit(k) < width.expr).then(hex_byte(_shift_byte(v, k))).otherwise(pl.lit(""))
        parts.append(shifted)
    ok = (width.expr >= 1) & (width.expr <= 8)
    error = error_when(width.expr.is_not_null() & ~ok, "CBin width must be 1 to 8 bytes")
    result = pl.when(ok & v.is_not_null()).then(
        pl.when(ok).then(pl.concat_str(parts)).otherwise(pl.lit("")).str.decode("hex", strict=False)
    )
    return Lowered(result, "bin", error=error)


def _shift_byte(v: pl.Expr, k: int) -> pl.Expr:
    # Arithmetic right shift of a two's-complement Int64, then the low byte.
    if k == 0:
        return v & 0xFF
    return (v // (1 << (8 * k))) & 0xFF


register(FunctionSpec("CBool", FAMILY, (p("expression", "bool"),), "bool", identity_ref, identity_lower))
register(FunctionSpec("CDate", FAMILY, (p("value", "dt"),), "dt", identity_ref, identity_lower))
register(FunctionSpec("CNum", FAMILY, (p("value", "num"),), "num", identity_ref, identity_lower))
register(FunctionSpec("CRef", FAMILY, (p("value", "str"),), "str", identity_ref, identity_lower))
register(FunctionSpec("CStr", FAMILY, (p("value", "var"),), "str", cstr_ref, cstr_lower))
register(FunctionSpec("CGuid", FAMILY, (p("value", "str"),), "bin", cguid_ref, cguid_lower))
register(
    FunctionSpec(
        "StringFromGuid", FAMILY, (p("value", "bin"),), "str", string_from_guid_ref, string_from_guid_lower
    )
)
register(
    FunctionSpec(
        "StringFromSid", FAMILY, (p("value", "bin"),), "str", string_from_sid_ref, string_from_sid_lower
    )
)
register(
    FunctionSpec("ConvertToBase64", FAMILY, (p("source", "binstr"),), "str", to_base64_ref, to_base64_lower)
)
register(
    FunctionSpec(
        "ConvertFromBase64",
        FAMILY,
        (p("source", "str"), p("encoding", "enum", True, _ENCODINGS)),
        "str",
        from_base64_ref,
        from_base64_lower,
    )
)
register(
    FunctionSpec("ConvertToUTF8Hex", FAMILY, (p("source", "str"),), "str", to_utf8hex_ref, to_utf8hex_lower)
)
register(
    FunctionSpec(
        "ConvertFromUTF8Hex", FAMILY, (p("source", "str"),), "str", from_utf8hex_ref, from_utf8hex_lower
    )
)
register(FunctionSpec("CBin", FAMILY, (p("value", "num"), p("bytes", "num")), "bin", cbin_ref, cbin_lower))
