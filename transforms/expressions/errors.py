"""Errors of the expression language, each carrying the position of the offending span.

The layout follows sqlglot's ``ParseError``: the message, then the expression line with the bad span
underlined with ``^^^``, so a rule author sees where the problem is without counting characters.
"""

from __future__ import annotations

from collections.abc import Iterable
from difflib import get_close_matches

from transforms.errors import InputError, TerminalError


def _line_col(source: str, offset: int) -> tuple[int, int]:
    before = source[:offset]
    line = before.count("\n") + 1
    column = offset - (before.rfind("\n") + 1) + 1
    return line, column


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """The closest known name, preferring one that differs only by case (names are case-sensitive)."""
    pool = list(candidates)
    for candidate in pool:
        if candidate.lower() == name.lower():
            return candidate
    matches = get_close_matches(name, pool, n=1, cutoff=0.6)
    return matches[0] if matches else None


class ExpressionError(InputError):
    """An expression that cannot be parsed or compiled; ``line``/``column`` are 1-based."""

    kind = "error"

    def __init__(self, message: str, source: str = "", start: int = 0, end: int | None = None) -> None:
        self.message = message
        self.source = source
        self.start = max(0, min(start, len(source)))
        self.end = max(self.start + 1, end if end is not None else self.start + 1)
        self.line, self.column = _line_col(source, self.start)
        super().__init__(message)

    def __str__(self) -> str:
        if not self.source:
            return self.message
        lines = self.source.split("\n")
        text = lines[self.line - 1]
        line_start = self.start - (self.column - 1)
        width = max(1, min(self.end, line_start + len(text)) - self.start)
        marker = " " * (self.column - 1) + "^" * width
        return f"{self.message} (line {self.line}, column {self.column})\n  {text}\n  {marker}"


class ExpressionSyntaxError(ExpressionError):
    """The text is not a well-formed expression."""

    kind = "syntax"


class UnknownFunctionError(ExpressionError):
    """A call names no function of the catalogue; ``suggestion`` holds the closest known name."""

    kind = "unknown_function"

    def __init__(
        self, name: str, candidates: Iterable[str], source: str = "", start: int = 0, end: int | None = None
    ) -> None:
        self.name = name
        self.suggestion = did_you_mean(name, candidates)
        hint = f"; did you mean {self.suggestion}?" if self.suggestion else ""
        super().__init__(f"unknown function {name}{hint}", source, start, end)


class ArityError(ExpressionError):
    """A call passes too few or too many arguments."""

    kind = "arity"


class ExpressionTypeError(ExpressionError):
    """An argument has a type the function does not accept (the language is strongly typed)."""

    kind = "type"


class UnknownParameterError(ExpressionError):
    """A ``%Parameter%`` that the connector or the administrator does not define."""

    kind = "unknown_parameter"


class UnboundVariableError(ExpressionError):
    """A ``$variable`` used outside the Where/Select/With that binds it."""

    kind = "unbound_variable"


class NotVectorizableError(ExpressionError):
    """The expression uses a construct that has no lowering to Polars (house rule: vectorize or refuse)."""

    kind = "not_vectorizable"


class ExpressionRuntimeError(TerminalError):
    """Evaluation failed for one object: ``Error("...")`` or an invalid value (e.g. Item out of range).

    ``code`` follows the product's run-history naming.
    """

    kind = "runtime"

    def __init__(self, message: str, code: str = "sync-rule-error-function-triggered") -> None:
        self.message = message
        self.code = code
        super().__init__(message)
