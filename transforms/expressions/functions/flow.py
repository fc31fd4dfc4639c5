"""Program-flow functions (spec 4.8) and the attribute-name functions of the default rules (4.10).

They control evaluation order (IIF evaluates only the chosen branch, Switch evaluates every condition)
or bind variables, so each back end implements them directly; the catalogue only declares signatures.
"""

from __future__ import annotations

from transforms.expressions.functions.registry import FunctionSpec, p, register

FAMILY = "flow"

register(
    FunctionSpec(
        "IIF",
        FAMILY,
        (p("condition", "bool"), p("valueIfTrue", "var"), p("valueIfFalse", "var")),
        "var",
        special=True,
    )
)
register(
    FunctionSpec(
        "Switch", FAMILY, (p("condition", "bool"), p("value", "var")), "var", pairs=True, special=True
    )
)
register(FunctionSpec("Error", FAMILY, (p("message", "str"),), "void", special=True))
register(
    FunctionSpec(
        "Select",
        FAMILY,
        (p("item", "variable"), p("source", "var"), p("function", "lazy")),
        "mvattr",
        special=True,
    )
)
register(
    FunctionSpec(
        "Where",
        FAMILY,
        (p("item", "variable"), p("source", "var"), p("condition", "lazy")),
        "mvattr",
        special=True,
    )
)
register(
    FunctionSpec(
        "With",
        FAMILY,
        (p("variable", "variable"), p("subExpression", "var"), p("complexExpression", "lazy")),
        "var",
        special=True,
    )
)
register(FunctionSpec("ImportedValue", FAMILY, (p("attributeName", "name"),), "var", special=True))
register(FunctionSpec("ValueCount", FAMILY, (p("attributeName", "name"),), "num", special=True))
