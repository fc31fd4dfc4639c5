"""Date/time functions (spec 4.3). Dates are UTC; FILETIME is 100-ns ticks since 1601-01-01 UTC."""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, timedelta

import polars as pl

from transforms.expressions.context import CompileContext, EvalContext
from transforms.expressions.errors import ExpressionRuntimeError, NotVectorizableError
from transforms.expressions.functions.registry import FunctionSpec, p, register
from transforms.expressions.lowered import DTYPES, Lowered, error_when
from transforms.expressions.values import EPOCH, FILETIME_EPOCH_OFFSET

FAMILY = "datetime"
_CODE = "expression-evaluation-error"
_MAX_DT = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
MAX_TICKS = FILETIME_EPOCH_OFFSET + int((_MAX_DT - EPOCH) / timedelta(microseconds=1)) * 10 + 9
_INTERVALS = ("yyyy", "q", "m", "y", "d", "w", "ww", "h", "n", "s")


def _add_months(value: datetime, months: int) -> datetime:
    total = value.year * 12 + value.month - 1 + months
    year, month = divmod(total, 12)
    if not 1 <= year <= 9999:
        raise ExpressionRuntimeError("DateAdd result is out of range", _CODE)
    day = min(value.day, calendar.monthrange(year, month + 1)[1])
    return value.replace(year=year, month=month + 1, day=day)


def dateadd_ref(
    ctx: EvalContext, interval: str | None, n: int | None, value: datetime | None
) -> datetime | None:
    if interval is None or n is None or value is None:
        return None
    try:
        if interval == "yyyy":
            return _add_months(value, 12 * n)
        if interval == "q":
            return _add_months(value, 3 * n)
        if interval == "m":
            return _add_months(value, n)
        unit = {
            "y": "days",
            "d": "days",
            "w": "days",
            "ww": "weeks",
            "h": "hours",
            "n": "minutes",
            "s": "seconds",
        }.get(interval)
        if unit is None:
            raise ExpressionRuntimeError(
                f"DateAdd interval {interval!r} is not one of {', '.join(_INTERVALS)}", _CODE
            )
        return value + timedelta(**{unit: n})
    except OverflowError as exc:
        raise ExpressionRuntimeError("DateAdd result is out of range", _CODE) from exc


def dateadd_lower(ctx: CompileContext, interval: Lowered, n: Lowered, value: Lowered) -> Lowered:
    if not interval.is_const:
        raise NotVectorizableError("DateAdd needs a constant interval to be vectorized")
    unit = str(interval.const)
    factor, suffix = {
        "yyyy": (12, "mo"),
        "q": (3, "mo"),
        "m": (1, "mo"),
        "y": (1, "d"),
        "d": (1, "d"),
        "w": (1, "d"),
        "ww": (1, "w"),
        "h": (1, "h"),
        "n": (1, "m"),
        "s": (1, "s"),
    }.get(unit, (0, ""))
    if not suffix:
        return Lowered(
            pl.lit(None, dtype=DTYPES["dt"]),
            "dt",
            error=error_when(
                pl.lit(True), f"DateAdd interval {unit!r} is not one of {', '.join(_INTERVALS)}"
            ),
        )
    offset = pl.concat_str([(n.expr * factor).cast(pl.Utf8), pl.lit(suffix)])
    return Lowered(value.expr.dt.offset_by(offset), "dt")


def datefromnum_ref(ctx: EvalContext, ticks: int | None) -> datetime | None:
    if ticks is None:
        return None
    if not 0 <= ticks <= MAX_TICKS:
        raise ExpressionRuntimeError(f"{ticks} is not a date this engine can represent", _CODE)
    return EPOCH + timedelta(microseconds=(ticks - FILETIME_EPOCH_OFFSET) // 10)


def datefromnum_lower(ctx: CompileContext, ticks: Lowered) -> Lowered:
    t = ticks.expr
    ok = (t >= 0) & (t <= MAX_TICKS)
    value = pl.when(ok).then(((t - FILETIME_EPOCH_OFFSET) // 10).cast(DTYPES["dt"]))
    message = pl.concat_str([t.cast(pl.Utf8), pl.lit(" is not a date this engine can represent")])
    return Lowered(value, "dt", error=error_when(t.is_not_null() & ~ok, message), error_nulls_value=True)


def numfromdate_ref(ctx: EvalContext, value: datetime | None) -> int | None:
    if value is None:
        return None
    return (value - EPOCH) // timedelta(microseconds=1) * 10 + FILETIME_EPOCH_OFFSET


def numfromdate_lower(ctx: CompileContext, value: Lowered) -> Lowered:
    return Lowered(value.expr.dt.epoch("us") * 10 + FILETIME_EPOCH_OFFSET, "num")


def now_ref(ctx: EvalContext) -> datetime:
    return ctx.now


def now_lower(ctx: CompileContext) -> Lowered:
    return Lowered(pl.lit(ctx.now, dtype=DTYPES["dt"]), "dt")


# --- FormatDateTime: .NET custom format strings ----------------------------------------------------------
_TOKEN_RE = re.compile(
    r"yyyy|yy|y|MMMM|MMM|MM|M|dddd|ddd|dd|d|HH|H|hh|h|mm|m|ss|s|fffffff|ffffff|fff|ff|f|tt|t|zzz|K|'[^']*'|\"[^\"]*\"|\\.|.",
    re.S,
)
_STRFTIME = {
    "yyyy": "%Y",
    "yy": "%y",
    "y": "%-y",
    "MMMM": "%B",
    "MMM": "%b",
    "MM": "%m",
    "M": "%-m",
    "dddd": "%A",
    "ddd": "%a",
    "dd": "%d",
    "d": "%-d",
    "HH": "%H",
    "H": "%-H",
    "hh": "%I",
    "h": "%-I",
    "mm": "%M",
    "m": "%-M",
    "ss": "%S",
    "s": "%-S",
    "fffffff": "%6f0",
    "ffffff": "%6f",
    "fff": "%3f",
    "tt": "%p",
    "zzz": "+00:00",
    "K": "Z",
}
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def _literal(token: str) -> str | None:
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "'\"":
        return token[1:-1]
    if token.startswith("\\") and len(token) == 2:
        return token[1]
    return None


def format_token(value: datetime, token: str) -> str:
    fields = {
        "yyyy": f"{value.year:04d}",
        "yy": f"{value.year % 100:02d}",
        "y": str(value.year % 100),
        "MMMM": _MONTHS[value.month - 1],
        "MMM": _MONTHS[value.month - 1][:3],
        "MM": f"{value.month:02d}",
        "M": str(value.month),
        "dddd": _DAYS[value.weekday()],
        "ddd": _DAYS[value.weekday()][:3],
        "dd": f"{value.day:02d}",
        "d": str(value.day),
        "HH": f"{value.hour:02d}",
        "H": str(value.hour),
        "hh": f"{(value.hour % 12) or 12:02d}",
        "h": str((value.hour % 12) or 12),
        "mm": f"{value.minute:02d}",
        "m": str(value.minute),
        "ss": f"{value.second:02d}",
        "s": str(value.second),
        "fffffff": f"{value.microsecond:06d}0",
        "ffffff": f"{value.microsecond:06d}",
        "fff": f"{value.microsecond // 1000:03d}",
        "tt": "AM" if value.hour < 12 else "PM",
        "zzz": "+00:00",
        "K": "Z",
    }
    if token in fields:
        return fields[token]
    literal = _literal(token)
    return literal if literal is not None else token


def formatdatetime_ref(ctx: EvalContext, value: datetime | None, fmt: str | None) -> str | None:
    if value is None or fmt is None:
        return None
    return "".join(format_token(value, t) for t in _TOKEN_RE.findall(fmt))


def to_strftime(fmt: str) -> str:
    out = []
    for token in _TOKEN_RE.findall(fmt):
        if token in _STRFTIME:
            out.append(_STRFTIME[token])
        else:
            literal = _literal(token)
            text = literal if literal is not None else token
            out.append(text.replace("%", "%%"))
    return "".join(out)


def formatdatetime_lower(ctx: CompileContext, value: Lowered, fmt: Lowered) -> Lowered:
    if not fmt.is_const:
        raise NotVectorizableError("FormatDateTime needs a constant format to be vectorized")
    if fmt.const is None:
        return Lowered(pl.lit(None, dtype=pl.Utf8), "str")
    pattern = to_strftime(str(fmt.const))
    if not pattern:
        return Lowered(pl.when(value.expr.is_not_null()).then(pl.lit("")), "str")
    return Lowered(value.expr.dt.strftime(pattern), "str")


register(
    FunctionSpec(
        "DateAdd",
        FAMILY,
        (p("interval", "str"), p("number", "num"), p("date", "dt")),
        "dt",
        dateadd_ref,
        dateadd_lower,
    )
)
register(FunctionSpec("DateFromNum", FAMILY, (p("value", "num"),), "dt", datefromnum_ref, datefromnum_lower))
register(FunctionSpec("NumFromDate", FAMILY, (p("value", "dt"),), "num", numfromdate_ref, numfromdate_lower))
register(FunctionSpec("Now", FAMILY, (), "dt", now_ref, now_lower, deterministic=False))
register(
    FunctionSpec(
        "FormatDateTime",
        FAMILY,
        (p("value", "dt"), p("format", "str")),
        "str",
        formatdatetime_ref,
        formatdatetime_lower,
    )
)
