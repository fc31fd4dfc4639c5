"""Directory functions (spec 4.4): RDN values are returned as written in the DN, escapes kept."""

from __future__ import annotations

import polars as pl

from transforms.expressions.context import CompileContext, EvalContext
from transforms.expressions.functions.registry import FunctionSpec, p, register
from transforms.expressions.lowered import Lowered

FAMILY = "directory"
_ESC_BACKSLASH = "\x01"
_ESC_COMMA = "\x02"


def split_dn(dn: str) -> list[str]:
    """Components split on unescaped commas; ``\\,`` and ``\\\\`` do not split."""
    parts: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(dn):
        ch = dn[i]
        if ch == "\\" and i + 1 < len(dn):
            current.append(dn[i : i + 2])
            i += 2
            continue
        if ch == ",":
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    return parts


def _value(component: str) -> str:
    _, sep, value = component.partition("=")
    return value.strip(" ") if sep else component.strip(" ")


def _kind(component: str) -> str:
    return component.partition("=")[0].strip(" ").lower()


def dncomponent_ref(ctx: EvalContext, dn: str | None, n: int | None) -> str | None:
    if dn is None or n is None:
        return None
    parts = split_dn(dn)
    return _value(parts[n - 1]) if 1 <= n <= len(parts) else None


def dncomponentrev_ref(
    ctx: EvalContext, dn: str | None, n: int | None, option: str | None = None
) -> str | None:
    if dn is None or n is None:
        return None
    parts = split_dn(dn)
    if option == "DC":
        parts = [c for c in parts if _kind(c) != "dc"]
    return _value(parts[len(parts) - n]) if 1 <= n <= len(parts) else None


def _components(dn: pl.Expr) -> pl.Expr:
    protected = dn.str.replace_all("\\\\", _ESC_BACKSLASH, literal=True).str.replace_all(
        "\\,", _ESC_COMMA, literal=True
    )
    return protected.str.split(",")


def _restore_value(component: pl.Expr) -> pl.Expr:
    has_eq = component.str.contains("=", literal=True)
    value = pl.when(has_eq).then(component.str.splitn("=", 2).struct.field("field_1")).otherwise(component)
    value = value.str.strip_chars(" ")
    return value.str.replace_all(_ESC_COMMA, r"\,", literal=True).str.replace_all(
        _ESC_BACKSLASH, r"\\", literal=True
    )


# One component: any run of characters other than an unescaped comma.
_COMPONENT = r"(?:[^,\\]|\\.)*"


def _component_value(component: pl.Expr) -> pl.Expr:
    has_eq = component.str.contains("=", literal=True)
    value = pl.when(has_eq).then(component.str.splitn("=", 2).struct.field("field_1")).otherwise(component)
    return value.str.strip_chars(" ")


def _value_of(component: pl.Expr) -> pl.Expr:
    return component.str.replace(r"^[^=]*=", "").str.strip_chars(" ")


def _split_escapes(dn: pl.Expr) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """(has escapes, DN for rows without backslashes, DN for rows with them); the other rows are null,
    so the slow path costs nothing on the usual DN without escapes."""
    has_escape = dn.str.contains("\\", literal=True)
    return has_escape, pl.when(~has_escape).then(dn), pl.when(has_escape).then(dn)


def dncomponent_lower(ctx: CompileContext, dn: Lowered, n: Lowered) -> Lowered:
    if n.is_const and isinstance(n.const, int) and 1 <= n.const <= 64:
        k = n.const - 1
        has_escape, plain, escaped = _split_escapes(dn.expr)
        fast = _value_of(plain.str.splitn(",", k + 2).struct.field(f"field_{k}"))
        pattern = rf"^(?:{_COMPONENT},){{{k}}}({_COMPONENT})"
        slow = _component_value(escaped.str.extract(pattern, 1))
        return Lowered(pl.when(has_escape).then(slow).otherwise(fast), "str")
    parts = _components(dn.expr)
    picked = pl.when(n.expr >= 1).then(parts.list.get(n.expr - 1, null_on_oob=True))
    return Lowered(_restore_value(picked), "str")


def _list_rev(dn: pl.Expr, n: pl.Expr, dc: bool) -> pl.Expr:
    parts = _components(dn)
    if dc:
        e = pl.element()
        parts = parts.list.eval(
            e.filter(
                e.str.splitn("=", 2).struct.field("field_0").str.strip_chars(" ").str.to_lowercase() != "dc"
            )
        )
    picked = pl.when(n >= 1).then(parts.list.get(-n, null_on_oob=True))
    return _restore_value(picked)


def dncomponentrev_lower(
    ctx: CompileContext, dn: Lowered, n: Lowered, option: Lowered | None = None
) -> Lowered:
    dc = option is not None and option.const == "DC"
    if not (n.is_const and isinstance(n.const, int) and 1 <= n.const <= 64):
        return Lowered(_list_rev(dn.expr, n.expr, dc), "str")
    has_escape, plain, escaped = _split_escapes(dn.expr)
    if dc:
        plain = plain.str.replace_all(r"(?i)(?:^|,)\s*dc\s*=[^,]*", "").str.strip_chars_start(",")
    fast = _value_of(plain.str.extract(rf"([^,]*)(?:,[^,]*){{{n.const - 1}}}$", 1))
    slow = _list_rev(escaped, n.expr, dc)
    return Lowered(pl.when(has_escape).then(slow).otherwise(fast), "str")


_SPECIALS = ',+"\\<>;'


def escape_value(value: str) -> str:
    out = "".join("\\" + ch if ch in _SPECIALS else ch for ch in value)
    if out[:1] in ("#", " "):
        out = "\\" + out
    if out.endswith(" ") and not out.endswith("\\ "):
        out = out[:-1] + "\\ "
    return out


def escapedn_ref(ctx: EvalContext, text: str | None) -> str | None:
    if text is None:
        return None
    kind, sep, value = text.partition("=")
    return f"{kind}={escape_value(value)}" if sep else escape_value(text)


def _escape_expr(value: pl.Expr) -> pl.Expr:
    out = value.str.replace_all(r'([,+"\\<>;])', r"\$1")
    out = out.str.replace(r"^([# ])", r"\$1")
    return (
        pl.when(out.str.ends_with(" ") & ~out.str.ends_with("\\ "))
        .then(out.str.slice(0, out.str.len_chars() - 1) + pl.lit("\\ "))
        .otherwise(out)
    )


def escapedn_lower(ctx: CompileContext, text: Lowered) -> Lowered:
    t = text.expr
    split = t.str.splitn("=", 2)
    has_eq = t.str.contains("=", literal=True)
    value = (
        pl.when(has_eq)
        .then(split.struct.field("field_0") + pl.lit("=") + _escape_expr(split.struct.field("field_1")))
        .otherwise(_escape_expr(t))
    )
    return Lowered(value, "str")


register(
    FunctionSpec(
        "DNComponent",
        FAMILY,
        (p("dn", "str"), p("ComponentNumber", "num")),
        "str",
        dncomponent_ref,
        dncomponent_lower,
    )
)
register(
    FunctionSpec(
        "DNComponentRev",
        FAMILY,
        (p("dn", "str"), p("ComponentNumber", "num"), p("options", "enum", True, ("DC",))),
        "str",
        dncomponentrev_ref,
        dncomponentrev_lower,
    )
)
register(FunctionSpec("EscapeDNComponent", FAMILY, (p("value", "str"),), "str", escapedn_ref, escapedn_lower))
