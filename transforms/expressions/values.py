"""Runtime values shared by both back ends: special literals, whitespace, and text parsing rules.

Python representation used by the reference evaluator: ``None`` (NULL), ``str`` (str and ref), ``int``
(num), ``bool``, ``bytes`` (bin), timezone-aware UTC ``datetime`` (dt), ``list`` (multi-valued).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final


class Special:
    """A special literal that the sync engine resolves by precedence (spec 2.6)."""

    def __init__(self, name: str, flag: int) -> None:
        self.name = name
        self.flag = flag

    def __repr__(self) -> str:
        return self.name


@dataclass(frozen=True)
class ColumnParameter:
    """A ``%Parameter%`` whose value differs per object: read from column ``column`` of the frame.

    The sync engine passes ``Domain.*`` this way (each object's own partition); the compiler reads the
    column (Utf8), the reference evaluator reads ``row[column]``.
    """

    column: str


ParamValue = str | ColumnParameter

AUTHORITATIVE_NULL: Final = Special("AuthoritativeNull", 1)
IGNORE_THIS_FLOW: Final = Special("IgnoreThisFlow", 2)
FLAG_NONE: Final = 0
FLAG_AUTHORITATIVE_NULL: Final = 1
FLAG_IGNORE_THIS_FLOW: Final = 2

# .NET Char.IsWhiteSpace, which Trim/LTrim/RTrim strip; both back ends use this exact set.
WHITESPACE: Final = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)

FILETIME_EPOCH_OFFSET: Final = 116444736000000000  # 100-ns ticks from 1601-01-01 to 1970-01-01
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
INTEGER_RE: Final = r"^[+-]?[0-9]+$"
GUID_RE: Final = r"^(\{[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\}|[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})$"
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1

# CDate accepts these layouts (then an optional zone offset such as "-8", "+05:30" or "Z").
# The compiler tries the same list with Polars' strptime, so both back ends accept the same texts.
DATE_FORMATS: Final = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %I:%M %p",
    "%Y-%m-%d %I:%M:%S %p",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y %I:%M:%S %p",
)
DATE_ONLY_FORMATS: Final = ("%Y-%m-%d", "%m/%d/%Y")
OFFSET_RE: Final = r"^(.*?)\s*(?:(Z)|([+-])(\d{1,2})(?::?(\d{2}))?)$"
DATE_BODY_RE: Final = r"^\d{1,4}[-/]\d{1,2}[-/]\d{1,4}"


def parse_date(text: str) -> datetime | None:
    """CDate's parser: a date, an optional time and an optional UTC offset; the result is UTC."""
    body = text.strip()
    offset = timedelta(0)
    match = re.match(OFFSET_RE, body)
    if match and re.match(DATE_BODY_RE, match.group(1)) and match.group(1) != body:
        head = match.group(1)
        if not (match.group(3) and re.search(r"\d{4}-\d{1,2}$", head) and not re.search(r"\s", head)):
            body = head
            if match.group(3):
                minutes = int(match.group(4)) * 60 + int(match.group(5) or 0)
                offset = timedelta(minutes=minutes if match.group(3) == "+" else -minutes)
    for fmt in DATE_FORMATS + DATE_ONLY_FORMATS:
        try:
            parsed = datetime.strptime(body, fmt)
        except ValueError:
            continue
        return (parsed - offset).replace(tzinfo=UTC)
    return None


def parse_integer(text: str) -> int | None:
    body = text.strip(WHITESPACE)
    if not re.match(INTEGER_RE, body):
        return None
    value = int(body)
    return value if INT64_MIN <= value <= INT64_MAX else None


def parse_boolean(text: str) -> bool | None:
    lowered = text.strip(WHITESPACE).lower()
    return True if lowered == "true" else False if lowered == "false" else None


def type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "num"
    if isinstance(value, str):
        return "str"
    if isinstance(value, bytes):
        return "bin"
    if isinstance(value, datetime):
        return "dt"
    if isinstance(value, list):
        return "mv"
    return type(value).__name__


def format_general_date(value: datetime) -> str:
    """CStr of a date: the invariant culture's general format."""
    return value.strftime("%m/%d/%Y %H:%M:%S")


def format_scalar_as_text(value: object) -> str:
    """How ``&`` and CStr turn a scalar into text."""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, datetime):
        return format_general_date(value)
    return str(value)


CRLF_TEXT: Final = "\r\n"
