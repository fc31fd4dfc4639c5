"""Recursive-descent parser following the spec's grammar (section 3).

Three binary levels, each left-associative: ``&&``/``||`` below comparisons below arithmetic and
concatenation (``+ - * &`` share one level, so ``3+2*5`` is 25 as the product documents).
"""

from __future__ import annotations

from transforms.expressions import nodes as n
from transforms.expressions.errors import (
    ArityError,
    ExpressionSyntaxError,
    ExpressionTypeError,
    UnknownFunctionError,
)
from transforms.expressions.functions import REGISTRY, FunctionSpec
from transforms.expressions.tokenizer import Token, TokenType, tokenize

_KEYWORDS = sorted(n.CONSTANTS | n.ENUM_WORDS | {"True", "False"})


class Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = tokenize(source)
        self.pos = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.pos]

    def at_end(self) -> bool:
        return self.current.type is TokenType.EOF

    def advance(self) -> Token:
        token = self.tokens[self.pos]
        if token.type is not TokenType.EOF:
            self.pos += 1
        return token

    def error(self, message: str, token: Token) -> ExpressionSyntaxError:
        return ExpressionSyntaxError(message, self.source, token.start, max(token.end, token.start + 1))

    def expect(self, kind: TokenType, what: str) -> Token:
        token = self.current
        if token.type is not kind:
            found = token.text or token.type.value
            raise self.error(f"expected {what}, found {found!r}", token)
        return self.advance()

    def parse(self) -> n.Node:
        if self.current.type is TokenType.EOF:
            raise self.error("empty expression", self.current)
        node = self.logic()
        if not self.at_end():
            raise self.error(f"unexpected {self.current.text!r} after a complete expression", self.current)
        return node

    def _binary(self, ops: tuple[str, ...], operand: str) -> n.Node:
        step = getattr(self, operand)
        left: n.Node = step()
        while self.current.type is TokenType.OPERATOR and self.current.text in ops:
            op = self.advance().text
            right: n.Node = step()
            left = n.BinaryOp(op, left, right, start=left.start, end=right.end)
        return left

    def logic(self) -> n.Node:
        return self._binary(n.LOGICAL, "compare")

    def compare(self) -> n.Node:
        return self._binary(n.COMPARISON, "arith")

    def arith(self) -> n.Node:
        return self._binary(n.ARITHMETIC, "term")

    def term(self) -> n.Node:
        token = self.current
        kind = token.type
        if kind is TokenType.OPERATOR and token.text == "-":
            self.advance()
            operand = self.term()
            if isinstance(operand, n.Number) and operand.value >= 0 and self._was_literal(operand):
                return n.Number(-operand.value, operand.hex, start=token.start, end=operand.end)
            return n.Negate(operand, start=token.start, end=operand.end)
        if kind is TokenType.STRING:
            self.advance()
            return n.String(str(token.value), start=token.start, end=token.end)
        if kind is TokenType.NUMBER:
            self.advance()
            assert isinstance(token.value, int)
            return n.Number(token.value, token.hex, start=token.start, end=token.end)
        if kind is TokenType.ATTRIBUTE:
            self.advance()
            return n.Attribute(str(token.value), start=token.start, end=token.end)
        if kind is TokenType.PARAMETER:
            self.advance()
            return n.Parameter(str(token.value), start=token.start, end=token.end)
        if kind is TokenType.VARIABLE:
            self.advance()
            return n.Variable(str(token.value), start=token.start, end=token.end)
        if kind is TokenType.LPAREN:
            self.advance()
            inner = self.logic()
            self.expect(TokenType.RPAREN, "')'")
            return inner
        if kind is TokenType.IDENT:
            self.advance()
            name = token.text
            if self.current.type is TokenType.LPAREN:
                return self.call(token)
            if name in ("True", "False"):
                return n.Boolean(name == "True", start=token.start, end=token.end)
            if name in n.CONSTANTS:
                return n.Constant(name, start=token.start, end=token.end)
            if name in n.ENUM_WORDS:
                return n.EnumWord(name, start=token.start, end=token.end)
            if name in REGISTRY:
                raise self.error(f"function {name} must be called with parentheses", token)
            from transforms.expressions.errors import did_you_mean

            hint = did_you_mean(name, _KEYWORDS)
            suffix = f"; did you mean {hint}?" if hint else ""
            raise self.error(f"unknown name {name}{suffix}", token)
        found = token.text or token.type.value
        raise self.error(f"expected a value, found {found!r}", token)

    def _was_literal(self, operand: n.Number) -> bool:
        # "-5" is the literal -5, while "-(5)" stays a negation.
        previous = self.tokens[self.pos - 1]
        return previous.type is TokenType.NUMBER and previous.start == operand.start

    def call(self, name_token: Token) -> n.Node:
        name = name_token.text
        spec = REGISTRY.get(name)
        if spec is None:
            raise UnknownFunctionError(name, REGISTRY, self.source, name_token.start, name_token.end)
        self.expect(TokenType.LPAREN, "'('")
        args: list[n.Node] = []
        if self.current.type is not TokenType.RPAREN:
            args.append(self.logic())
            while self.current.type is TokenType.COMMA:
                self.advance()
                args.append(self.logic())
        close = self.expect(TokenType.RPAREN, "',' or ')'")
        node = n.Call(name, tuple(args), start=name_token.start, end=close.end)
        check_call(node, spec, self.source)
        return node


def check_call(node: n.Call, spec: FunctionSpec, source: str) -> None:
    """Arity and the argument forms a parser can see (variables, quoted names, enum words)."""
    count = len(node.args)
    if spec.pairs:
        if count < 2 or count % 2:
            raise ArityError(
                f"{spec.name} takes condition/value pairs, got {count} argument(s)",
                source,
                node.start,
                node.end,
            )
    elif not spec.min_args <= count <= spec.max_args:
        expected = (
            str(spec.min_args) if spec.min_args == spec.max_args else f"{spec.min_args} to {spec.max_args}"
        )
        raise ArityError(
            f"{spec.name} takes {expected} argument(s), got {count}: {spec.signature()}",
            source,
            node.start,
            node.end,
        )
    for param, arg in zip(spec.params, node.args, strict=False):
        if param.kind == "variable" and not isinstance(arg, n.Variable):
            raise ExpressionTypeError(
                f"argument {param.name} of {spec.name} must be a $variable", source, arg.start, arg.end
            )
        if param.kind == "name" and not isinstance(arg, n.String):
            raise ExpressionTypeError(
                f"argument {param.name} of {spec.name} must be an attribute name in quotes",
                source,
                arg.start,
                arg.end,
            )
        if param.kind == "enum":
            value = (
                arg.name if isinstance(arg, n.EnumWord) else arg.value if isinstance(arg, n.String) else None
            )
            if value is None or (param.choices and value not in param.choices):
                choices = ", ".join(param.choices)
                raise ExpressionTypeError(
                    f"argument {param.name} of {spec.name} must be one of {choices}",
                    source,
                    arg.start,
                    arg.end,
                )
    for param, arg in zip(spec.params, node.args, strict=False):
        if isinstance(arg, n.EnumWord) and param.kind != "enum":
            raise ExpressionTypeError(
                f"{arg.name} is not a valid value for argument {param.name} of {spec.name}",
                source,
                arg.start,
                arg.end,
            )


def parse(text: str) -> n.Node:
    """Parse one expression; raises an :class:`ExpressionError` subclass with the position."""
    return Parser(text).parse()
