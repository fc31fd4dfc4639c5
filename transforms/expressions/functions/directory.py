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


def dncomponent_lower(ctx: CompileContext, dn: Lowered, n: Lowered) -> Lowered:
    if n.is_const and isinstance(n.const, int) and 1 <= n.const <= 64:
        # A regular expression is several times cheaper than splitting every DN into a list.
        pattern = rf"^(?:{_COMPONENT},){{{n.const - 1}}}({_COMPONENT})"
        return Lowered(_component_value(dn.expr.str.extract(pattern, 1)), "str")
    parts = _components(dn.expr)
    picked = pl.when(n.expr >= 1).then(parts.list.get(n.expr - 1, null_on_oob=True))
    return Lowered(_restore_value(picked), "str")


def dncomponentrev_lower(
    ctx: CompileContext, dn: Lowered, n: Lowered, option: Lowered | None = None
) -> Lowered:
    if (
        (option is None or option.const != "DC")
        and n.is_const
        and isinstance(n.const, int)
        and 1 <= n.const <= 64
    ):
        pattern = rf"({_COMPONENT})(?:,{_COMPONENT}){{{n.const - 1}}}$"
        # The component must start the DN or follow an unescaped comma.
        anchored = rf"^(?:{_COMPONENT},)*?" + pattern
        return Lowered(_component_value(dn.expr.str.extract(anchored, 1)), "str")
    parts = _components(dn.expr)
    if option is not None and option.const == "DC":
        e = pl.element()
        parts = parts.list.eval(
            e.filter(
                e.str.splitn("=", 2).struct.field("field_0").str.strip_chars(" ").str.to_lowercase() != "dc"
            )
        )
    picked = pl.when(n.expr >= 1).then(parts.list.get(-n.expr, null_on_oob=True))
    return Lowered(_restore_value(picked), "str")


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
