"""The function catalogue: one :class:`FunctionSpec` per function, declared by the family modules.

Modelled on jmespath's registry: each function declares its signature, which the parser uses for arity
errors and the back ends use for coercion and per-value application of multi-valued arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

# Parameter kinds. Scalar kinds (str, num, bool, bin, dt, binstr) are applied per value when given a
# multi-valued argument; "var" takes anything as is; "mv" wants multi-valued input (a single value is
# treated as a one-value list); "enum" and "name" are compile-time constants; "variable" is a $name;
# "lazy" is an expression evaluated per element by Where/Select.
Kind = Literal["str", "num", "bool", "bin", "dt", "binstr", "var", "mv", "enum", "name", "variable", "lazy"]
SCALAR_KINDS = frozenset({"str", "num", "bool", "bin", "dt", "binstr"})


@dataclass(frozen=True)
class Param:
    name: str
    kind: Kind
    optional: bool = False
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    family: str
    params: tuple[Param, ...]
    returns: str
    reference: Callable[..., Any] | None = None
    lower: Callable[..., Any] | None = None
    pairs: bool = False
    special: bool = False
    # Why a function is lowered element by element instead of natively (house rule 2).
    waiver: str | None = None
    deterministic: bool = True
    doc: str = ""
    min_args: int = field(init=False)
    max_args: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "min_args", sum(1 for p in self.params if not p.optional))
        object.__setattr__(self, "max_args", len(self.params))

    def signature(self) -> str:
        parts = [f"[{p.kind} {p.name}]" if p.optional else f"{p.kind} {p.name}" for p in self.params]
        if self.pairs:
            parts = ["exp e1", "var v1", "[exp e2, var v2, ...]"]
        return f"{self.returns} {self.name}({', '.join(parts)})"


REGISTRY: dict[str, FunctionSpec] = {}


def register(spec: FunctionSpec) -> FunctionSpec:
    if spec.name in REGISTRY:
        raise ValueError(f"function {spec.name} registered twice")
    REGISTRY[spec.name] = spec
    return spec


def p(name: str, kind: Kind, optional: bool = False, choices: tuple[str, ...] = ()) -> Param:
    return Param(name, kind, optional, choices)
