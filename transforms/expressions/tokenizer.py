"""Tokenizer: text to positioned tokens (whitespace and line breaks between tokens are ignored)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from transforms.expressions.errors import ExpressionSyntaxError


class TokenType(Enum):
    STRING = "string"
    NUMBER = "number"
    IDENT = "identifier"
    ATTRIBUTE = "attribute"
    PARAMETER = "parameter"
    VARIABLE = "variable"
    OPERATOR = "operator"
    LPAREN = "("
    RPAREN = ")"
    COMMA = ","
    EOF = "end of expression"


@dataclass(frozen=True)
class Token:
    type: TokenType
    text: str
    start: int
    end: int
    value: object = None
    hex: bool = False


_ESCAPES = {"\\": "\\", '"': '"', "n": "\n", "r": "\r", "t": "\t"}
_SMART_QUOTES = "\u201c\u201d\u201e\u2033"
_HEX = set("0123456789abcdefABCDEF")
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_PARAM_CHARS = _NAME_CHARS | {".", "-"}
_OPERATORS = ("&&", "||", "<=", ">=", "<>", "=", "<", ">", "+", "-", "*", "&")


def _is_name_start(char: str) -> bool:
    return char.isalpha() or char == "_"


def _is_name_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def tokenize(source: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    n = len(source)
    while i < n:
        char = source[i]
        if char.isspace():
            i += 1
            continue
        start = i
        if char == '"':
            i += 1
            parts: list[str] = []
            while True:
                if i >= n:
                    raise ExpressionSyntaxError("unterminated string literal", source, start, n)
                c = source[i]
                if c == '"':
                    i += 1
                    break
                if c == "\\" and i + 1 < n:
                    nxt = source[i + 1]
                    # Unknown sequences keep their backslash: DN escapes such as "\0A" pass through.
                    parts.append(_ESCAPES.get(nxt, "\\" + nxt))
                    i += 2
                    continue
                parts.append(c)
                i += 1
            tokens.append(Token(TokenType.STRING, source[start:i], start, i, "".join(parts)))
        elif char in _SMART_QUOTES:
            raise ExpressionSyntaxError(
                "typographic quotes are not string delimiters; use straight double quotes", source, i, i + 1
            )
        elif char.isdigit():
            while i < n and source[i].isdigit():
                i += 1
            if i < n and _is_name_char(source[i]):
                raise ExpressionSyntaxError("invalid number", source, start, i + 1)
            tokens.append(Token(TokenType.NUMBER, source[start:i], start, i, int(source[start:i])))
        elif (
            char == "&"
            and i + 2 < n + 1
            and source[i + 1 : i + 2] in ("H", "h")
            and _hex_follows(source, i + 2)
        ):
            j = i + 2
            while j < n and source[j] in _HEX:
                j += 1
            tokens.append(
                Token(TokenType.NUMBER, source[start:j], start, j, int(source[i + 2 : j], 16), True)
            )
            i = j
        elif char == "[":
            j = source.find("]", i + 1)
            if j < 0:
                raise ExpressionSyntaxError("unterminated attribute reference", source, start, n)
            name = source[i + 1 : j]
            if not name.strip() or name != name.strip():
                raise ExpressionSyntaxError("invalid attribute name", source, start, j + 1)
            i = j + 1
            tokens.append(Token(TokenType.ATTRIBUTE, source[start:i], start, i, name))
        elif char == "%":
            j = i + 1
            while j < n and (source[j] in _PARAM_CHARS or source[j].isalnum()):
                j += 1
            if j >= n or source[j] != "%" or j == i + 1:
                raise ExpressionSyntaxError(
                    "invalid parameter reference; expected %Name%", source, start, j + 1
                )
            i = j + 1
            tokens.append(Token(TokenType.PARAMETER, source[start:i], start, i, source[start + 1 : j]))
        elif char == "$":
            j = i + 1
            while j < n and _is_name_char(source[j]):
                j += 1
            if j == i + 1 or not _is_name_start(source[i + 1]):
                raise ExpressionSyntaxError("invalid variable name", source, start, j + 1)
            i = j
            tokens.append(Token(TokenType.VARIABLE, source[start:i], start, i, source[start + 1 : i]))
        elif _is_name_start(char):
            while i < n and _is_name_char(source[i]):
                i += 1
            tokens.append(Token(TokenType.IDENT, source[start:i], start, i, source[start:i]))
        elif char == "(":
            i += 1
            tokens.append(Token(TokenType.LPAREN, "(", start, i))
        elif char == ")":
            i += 1
            tokens.append(Token(TokenType.RPAREN, ")", start, i))
        elif char == ",":
            i += 1
            tokens.append(Token(TokenType.COMMA, ",", start, i))
        else:
            for op in _OPERATORS:
                if source.startswith(op, i):
                    i += len(op)
                    tokens.append(Token(TokenType.OPERATOR, op, start, i))
                    break
            else:
                raise ExpressionSyntaxError(f"unexpected character {char!r}", source, i, i + 1)
    tokens.append(Token(TokenType.EOF, "", n, n))
    return tokens


def _hex_follows(source: str, i: int) -> bool:
    """``&H`` starts a hex number only when hex digits follow and no name continues after them."""
    j = i
    while j < len(source) and source[j] in _HEX:
        j += 1
    return j > i and not (j < len(source) and _is_name_char(source[j]))
