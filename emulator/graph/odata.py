"""The OData query options the emulator understands: ``$select``, ``$top`` and a ``$filter`` subset.

The subset is what Graph v1.0 supports on directory objects without ``ConsistencyLevel: eventual``:
``eq`` on indexed string properties, ``in (...)``, ``startswith(...)``, the lambda
``proxyAddresses/any(p:p eq '...')``, combined with ``and``/``or``/``not`` and parentheses. Anything
else is refused the way the service refuses it (``Request_UnsupportedQuery``), so a client that works
against the emulator does not depend on a filter the real service rejects.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from emulator.graph.errors import GraphError

MAX_PAGE_SIZE = 999
DEFAULT_PAGE_SIZE = 100

Predicate = Callable[[Mapping[str, Any]], bool]

# Properties Graph lets clients filter on (per object kind) and whether the comparison ignores case.
FILTERABLE: dict[str, bool] = {
    "id": False,
    "onPremisesImmutableId": False,
    "userPrincipalName": True,
    "mail": True,
    "mailNickname": True,
    "displayName": True,
    "onPremisesSecurityIdentifier": True,
    "onPremisesSamAccountName": True,
    "accountEnabled": False,
    "securityEnabled": False,
    "mailEnabled": False,
    "deviceId": True,
    "givenName": True,
    "surname": True,
    "employeeId": True,
    "onPremisesSyncEnabled": False,
}
LAMBDA_COLLECTIONS = {"proxyAddresses", "groupTypes"}

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<punct>[(),:/])|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))"
)


def _unsupported(detail: str) -> GraphError:
    return GraphError(400, "Request_UnsupportedQuery", f"Unsupported Query. {detail}".strip())


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str


def _tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise GraphError(
                400, "BadRequest", f"Invalid filter clause: syntax error at position {pos} in '{text}'."
            )
        kind = match.lastgroup or ""
        tokens.append(_Tok(kind, match.group(kind)))
        pos = match.end()
    return tokens


def _literal_value(tok: _Tok) -> Any:
    if tok.kind == "str":
        return tok.text[1:-1].replace("''", "'")
    if tok.kind == "num":
        return float(tok.text) if "." in tok.text else int(tok.text)
    if tok.kind == "word" and tok.text in ("true", "false"):
        return tok.text == "true"
    if tok.kind == "word" and tok.text == "null":
        return None
    raise GraphError(400, "BadRequest", f"Invalid filter clause: expected a literal, found '{tok.text}'.")


def _norm(value: Any, fold: bool) -> Any:
    return value.lower() if fold and isinstance(value, str) else value


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0

    def peek(self, offset: int = 0) -> _Tok | None:
        j = self.i + offset
        return self.toks[j] if j < len(self.toks) else None

    def take(self) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise GraphError(400, "BadRequest", f"Invalid filter clause: unexpected end of '{self.text}'.")
        self.i += 1
        return tok

    def expect(self, text: str) -> None:
        tok = self.take()
        if tok.text != text:
            raise GraphError(
                400, "BadRequest", f"Invalid filter clause: expected '{text}', found '{tok.text}'."
            )

    def parse(self) -> Predicate:
        pred = self.or_expr()
        if self.peek() is not None:
            raise GraphError(400, "BadRequest", f"Invalid filter clause: unexpected '{self.take().text}'.")
        return pred

    def or_expr(self) -> Predicate:
        left = self.and_expr()
        while (tok := self.peek()) is not None and tok.text == "or":
            self.take()
            right = self.and_expr()
            left = (lambda a, b: lambda o: a(o) or b(o))(left, right)
        return left

    def and_expr(self) -> Predicate:
        left = self.unary()
        while (tok := self.peek()) is not None and tok.text == "and":
            self.take()
            right = self.unary()
            left = (lambda a, b: lambda o: a(o) and b(o))(left, right)
        return left

    def unary(self) -> Predicate:
        tok = self.peek()
        if tok is not None and tok.text == "not":
            self.take()
            inner = self.unary()
            return lambda o: not inner(o)
        if tok is not None and tok.text == "(":
            self.take()
            inner = self.or_expr()
            self.expect(")")
            return inner
        return self.comparison()

    def comparison(self) -> Predicate:
        tok = self.take()
        if tok.kind != "word":
            raise GraphError(400, "BadRequest", f"Invalid filter clause: unexpected '{tok.text}'.")
        if tok.text == "startswith":
            self.expect("(")
            prop = self.property_name()
            self.expect(",")
            prefix = _literal_value(self.take())
            self.expect(")")
            if not isinstance(prefix, str):
                raise GraphError(400, "BadRequest", "Invalid filter clause: startswith needs a string.")
            fold = FILTERABLE[prop]
            want = _norm(prefix, fold)
            return lambda o: isinstance(o.get(prop), str) and _norm(o[prop], fold).startswith(want)
        nxt = self.peek()
        if tok.text in LAMBDA_COLLECTIONS and nxt is not None and nxt.text == "/":
            return self.lambda_any(tok.text)
        self.i -= 1
        prop = self.property_name()
        op = self.take().text
        if op == "in":
            self.expect("(")
            values = [_literal_value(self.take())]
            while (p := self.peek()) is not None and p.text == ",":
                self.take()
                values.append(_literal_value(self.take()))
            self.expect(")")
            fold = FILTERABLE[prop]
            wanted = {_norm(v, fold) for v in values}
            return lambda o: _norm(o.get(prop), fold) in wanted
        if op in ("eq", "ne"):
            value = _literal_value(self.take())
            fold = FILTERABLE[prop]
            want = _norm(value, fold)
            if op == "eq":
                return lambda o: _norm(o.get(prop), fold) == want
            return lambda o: _norm(o.get(prop), fold) != want
        raise _unsupported(f"Operator '{op}' is not supported on '{prop}'.")

    def property_name(self) -> str:
        tok = self.take()
        if tok.kind != "word":
            raise GraphError(
                400, "BadRequest", f"Invalid filter clause: expected a property, found '{tok.text}'."
            )
        if tok.text not in FILTERABLE and not tok.text.startswith("extension_"):
            raise _unsupported(f"Filtering on property '{tok.text}' is not supported.")
        if tok.text.startswith("extension_"):
            FILTERABLE.setdefault(tok.text, False)
        return tok.text

    def lambda_any(self, collection: str) -> Predicate:
        self.expect("/")
        if self.take().text != "any":
            raise _unsupported(f"Only 'any' lambdas are supported on '{collection}'.")
        self.expect("(")
        var = self.take().text
        self.expect(":")
        if self.take().text != var:
            raise GraphError(400, "BadRequest", f"Invalid filter clause: lambda variable '{var}' expected.")
        op = self.take().text
        if op != "eq":
            raise _unsupported(f"Operator '{op}' is not supported in a lambda on '{collection}'.")
        value = _literal_value(self.take())
        self.expect(")")
        want = _norm(value, True)
        return lambda o: any(_norm(v, True) == want for v in (o.get(collection) or []))


def parse_filter(text: str | None) -> Predicate | None:
    """Compile a ``$filter`` expression into a predicate over an object's properties."""
    if text is None or text.strip() == "":
        return None
    return _Parser(text).parse()


def parse_select(text: str | None) -> list[str] | None:
    if text is None or text.strip() == "":
        return None
    names = [part.strip() for part in text.split(",") if part.strip()]
    for name in names:
        if not re.fullmatch(r"[A-Za-z_@][A-Za-z0-9_.@]*", name):
            raise GraphError(
                400, "BadRequest", f"Parsing OData Select and Expand failed: Term '{name}' is not valid."
            )
    return names


def parse_top(text: str | None) -> int:
    if text is None:
        return DEFAULT_PAGE_SIZE
    try:
        top = int(text)
    except ValueError:
        raise GraphError(400, "BadRequest", f"Invalid page size specified: '{text}'.") from None
    if top < 1 or top > MAX_PAGE_SIZE:
        raise GraphError(
            400,
            "Request_BadRequest",
            f"Invalid page size specified: '{top}'. Must be between 1 and {MAX_PAGE_SIZE} inclusive.",
        )
    return top
